// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/libbpf_object.h"

#include "calibration/model/error.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace offsetprobe {

std::string errno_text(int err) {
  err = err < 0 ? -err : err;
  const char *name = strerrorname_np(err);
  return std::string(name ? name : "E?") + " (" + std::strerror(err) + ")";
}

namespace {

// libbpf's messages go to stderr only with OFFSETPROBE_LIBBPF_DEBUG;
// otherwise our own error (with context) is what the user sees.
int libbpf_print(enum libbpf_print_level, const char *fmt, va_list args) {
  static const bool verbose = getenv("OFFSETPROBE_LIBBPF_DEBUG") != nullptr;
  return verbose ? vfprintf(stderr, fmt, args) : 0;
}

Failure load_failure(const ProgramSpec &spec, const std::string &step, int err) {
  err = err < 0 ? -err : err;
  std::string what = "loading " + spec.what() + (step.empty() ? "" : " (" + step + ")");
  if (err == EPERM || err == EACCES)
    return {ErrorKind::permission,
            what + ": " + errno_text(err) + ": run as root with CAP_BPF and CAP_PERFMON"};
  return {ErrorKind::bpf, what + ": " + errno_text(err)};
}

// File offset of `addr` (code of the running binary) in its file, for a uprobe.
std::pair<std::string, uint64_t> file_location(const void *fn) {
  auto addr = reinterpret_cast<uintptr_t>(fn);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    uint64_t off = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64 " %*s %*s%n", &lo, &hi,
                    perms, &off, &path_at) < 4)
      continue;
    if (addr < lo || addr >= hi)
      continue;
    std::string path = line.substr(static_cast<size_t>(path_at));
    path.erase(0, path.find_first_not_of(' '));
    return {path, addr - lo + off};
  }
  return {"", 0};
}

// Writes the spec's constants into the object's .rodata, found by name in
// the object's BTF (the datasec ".rodata" lists each variable's offset and
// size), as cilium/ebpf's RewriteConstants does.
std::optional<Failure> write_rodata(const ProgramSpec &spec, bpf_object *obj) {
  if (spec.constants().empty())
    return std::nullopt;
  bpf_map *rodata = nullptr;
  bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    std::string name = bpf_map__name(m);
    if (bpf_map__is_internal(m) && name.size() >= 7 && name.substr(name.size() - 7) == ".rodata")
      rodata = m;
  }
  const btf *b = bpf_object__btf(obj);
  int sec = b ? btf__find_by_name_kind(b, ".rodata", BTF_KIND_DATASEC) : -1;
  if (!rodata || sec < 0)
    return Failure{ErrorKind::bpf, "loading " + spec.what() + ": its object has no .rodata"};
  size_t size = 0;
  const void *init = bpf_map__initial_value(rodata, &size);
  std::vector<uint8_t> data(static_cast<const uint8_t *>(init),
                            static_cast<const uint8_t *>(init) + size);
  const btf_type *t = btf__type_by_id(b, static_cast<uint32_t>(sec));
  const btf_var_secinfo *vars = btf_var_secinfos(t);
  for (const auto &c : spec.constants()) {
    const btf_var_secinfo *v = nullptr;
    for (int i = 0; i < btf_vlen(t) && !v; i++)
      if (c.name == btf__name_by_offset(b, btf__type_by_id(b, vars[i].type)->name_off))
        v = &vars[i];
    if (!v || v->size % c.width != 0 || c.values.size() * c.width > v->size ||
        v->offset + v->size > data.size())
      return Failure{ErrorKind::bpf, "loading " + spec.what() + ": no constant " + c.name + " of " +
                                         std::to_string(c.values.size()) + " x " +
                                         std::to_string(c.width) + " bytes in its object"};
    for (size_t i = 0; i < c.values.size(); i++) {
      uint8_t *dst = data.data() + v->offset + i * c.width;
      if (c.width == 8) {
        std::memcpy(dst, &c.values[i], 8);
      } else {
        auto x = static_cast<uint32_t>(c.values[i]);
        std::memcpy(dst, &x, 4);
      }
    }
  }
  if (int err = bpf_map__set_initial_value(rodata, data.data(), data.size()))
    return load_failure(spec, "writing .rodata", err);
  return std::nullopt;
}

// Opens `elf` (nullptr on failure, errno set).
bpf_object *open_elf(const LibbpfElf &elf) {
  static const bool once = (libbpf_set_print(libbpf_print), true);
  (void)once;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = elf.object_name);
  return bpf_object__open_mem(elf.bytes, elf.size, &opts);
}

// Everything before the load: constants, map sizes, which programs load.
std::optional<Failure> prepare(const ProgramSpec &spec, bpf_object *obj) {
  if (auto f = write_rodata(spec, obj))
    return f;
  for (const auto &m : spec.map_sizes()) {
    bpf_map *map = bpf_object__find_map_by_name(obj, m.map.c_str());
    if (!map)
      return Failure{ErrorKind::bpf, "loading " + spec.what() + ": no map " + m.map};
    if (int err = bpf_map__set_max_entries(map, m.max_entries))
      return load_failure(spec, "sizing map " + m.map, err);
  }
  const auto &want = spec.programs();
  for (const auto &name : want)
    if (!bpf_object__find_program_by_name(obj, name.c_str()))
      return Failure{ErrorKind::bpf, "loading " + spec.what() + ": no program " + name};
  // With OFFSETPROBE_LIBBPF_DEBUG, each program's verifier statistics
  // (instructions processed, verification time) are printed after its load.
  static const bool stats = getenv("OFFSETPROBE_LIBBPF_DEBUG") != nullptr;
  bpf_program *p;
  bpf_object__for_each_program(p, obj) {
    bool load = std::find(want.begin(), want.end(), bpf_program__name(p)) != want.end();
    bpf_program__set_autoload(p, load);
    if (stats)
      bpf_program__set_log_level(p, 4);
  }
  return std::nullopt;
}

class LibbpfObject : public LoadedObject {
public:
  // Takes `obj`, opened, prepared and loaded.
  explicit LibbpfObject(bpf_object *obj) : obj_(obj) {}

  ~LibbpfObject() override {
    detach();
    bpf_object__close(obj_);
  }

  const char *backend() const override { return "libbpf"; }

  std::optional<AttachError> attach(const Hook &hook) override {
    bpf_program *p = bpf_object__find_program_by_name(obj_, hook.program.c_str());
    if (!p || bpf_program__fd(p) < 0)
      return AttachError{ENOENT, "program " + hook.program + " is not loaded"};
    bpf_link *link = nullptr;
    errno = 0;
    switch (hook.kind) {
    case HookKind::tracepoint: {
      auto colon = hook.target.find(':');
      std::string category = hook.target.substr(0, colon);
      std::string name = colon == std::string::npos ? "" : hook.target.substr(colon + 1);
      link = bpf_program__attach_tracepoint(p, category.c_str(), name.c_str());
      break;
    }
    case HookKind::raw_tracepoint:
      link = bpf_program__attach_raw_tracepoint(p, hook.target.c_str());
      break;
    case HookKind::uprobe: {
      auto [path, off] = file_location(hook.uprobe_fn);
      if (path.empty())
        return AttachError{ENOENT, "cannot find the uprobe's function in /proc/self/maps"};
      link = bpf_program__attach_uprobe(p, false, -1, path.c_str(), off);
      break;
    }
    }
    if (!link) {
      int err = errno ? errno : EINVAL;
      return AttachError{err, errno_text(err)};
    }
    links_.push_back(link);
    return std::nullopt;
  }

  void detach() override {
    for (auto it = links_.rbegin(); it != links_.rend(); ++it)
      bpf_link__destroy(*it);
    links_.clear();
  }

  int map_fd(const std::string &name) const override {
    bpf_map *m = bpf_object__find_map_by_name(obj_, name.c_str());
    int fd = m ? bpf_map__fd(m) : -1;
    if (fd < 0)
      throw Error(ErrorKind::bpf, "the BPF object has no map " + name);
    return fd;
  }

  bool loads_at_attach() const override { return false; }

private:
  bpf_object *obj_ = nullptr;
  std::vector<bpf_link *> links_;
};

} // namespace

Expected<std::unique_ptr<LoadedObject>> try_load_libbpf(const ProgramSpec &spec,
                                                        const LibbpfElf &elf) {
  bpf_object *obj = open_elf(elf);
  if (!obj)
    return load_failure(spec, "", errno);
  std::optional<Failure> f = prepare(spec, obj);
  if (!f)
    if (int err = bpf_object__load(obj))
      f = load_failure(spec, "", err);
  if (f) {
    bpf_object__close(obj);
    return *f;
  }
  return std::unique_ptr<LoadedObject>(std::make_unique<LibbpfObject>(obj));
}

std::unique_ptr<LoadedObject> load_libbpf(const ProgramSpec &spec, const LibbpfElf &elf) {
  return try_load_libbpf(spec, elf).take();
}

std::string libbpf_spec_mismatch(const ProgramSpec &spec, const LibbpfElf &elf) {
  bpf_object *obj = open_elf(elf);
  if (!obj)
    return "opening " + spec.what() + ": " + errno_text(errno);
  std::optional<Failure> f = prepare(spec, obj);
  bpf_object__close(obj);
  return f ? f->message : "";
}

} // namespace offsetprobe
