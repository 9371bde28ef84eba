// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/bcc_object.h"

#include "calibration/model/error.h"
#include "bpf/runtime/stderr_capture.h"

#include <bcc/BPF.h>

#include <cerrno>
#include <filesystem>
#include <mutex>

#include <link.h>

namespace offsetprobe {

namespace {

// The ELF virtual address of `fn` in the running binary: its runtime address
// minus the main program's load bias. BCC turns it into the file offset the
// uprobe needs; the symbol table is not needed (a stripped install works).
uint64_t elf_vaddr(const void *fn) {
  uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) {
        *static_cast<uintptr_t *>(data) = info->dlpi_addr;
        return 1; // the first entry is the main program
      },
      &bias);
  return reinterpret_cast<uintptr_t>(fn) - bias;
}

std::string self_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "/proc/self/exe" : p.string();
}

class BccObject : public LoadedObject {
public:
  // Takes `bpf`, its source compiled.
  BccObject(std::unique_ptr<ebpf::BPF> bpf, bool verbose)
      : bpf_(std::move(bpf)), verbose_(verbose) {}

  ~BccObject() override {
    detach();
    // BPF's destructor closes the maps and programs; keep its chatter quiet.
    StderrCapture quiet(verbose_);
    bpf_.reset();
  }

  const char *backend() const override { return "BCC"; }

  std::optional<AttachError> attach(const Hook &hook) override {
    // Programs load here, at their first attach: BCC's chatter (two lines
    // per load on kernels without AF_ALG) is kept for the error message.
    StderrCapture quiet(verbose_);
    errno = 0;
    ebpf::StatusTuple st(0);
    switch (hook.kind) {
    case HookKind::tracepoint:
      st = bpf_->attach_tracepoint(hook.target, hook.program);
      break;
    case HookKind::raw_tracepoint:
      st = bpf_->attach_raw_tracepoint(hook.target, hook.program);
      break;
    case HookKind::uprobe:
      st = bpf_->attach_uprobe(self_path(), "", hook.program, elf_vaddr(hook.uprobe_fn));
      break;
    }
    int err = errno;
    std::string chatter = quiet.finish();
    if (!st.ok())
      return AttachError{err, st.msg() + (chatter.empty() ? "" : " [" + chatter + "]")};
    attached_.push_back(hook);
    return std::nullopt;
  }

  void detach() override {
    StderrCapture quiet(verbose_);
    for (auto it = attached_.rbegin(); it != attached_.rend(); ++it) {
      switch (it->kind) {
      case HookKind::tracepoint:
        bpf_->detach_tracepoint(it->target);
        break;
      case HookKind::raw_tracepoint:
        bpf_->detach_raw_tracepoint(it->target);
        break;
      case HookKind::uprobe:
        bpf_->detach_uprobe(self_path(), "", elf_vaddr(it->uprobe_fn));
        break;
      }
    }
    attached_.clear();
  }

  int map_fd(const std::string &name) const override {
    int fd = bpf_->get_table(name).get_fd();
    if (fd < 0)
      throw Error(ErrorKind::bpf, "the BCC program has no map " + name);
    return fd;
  }

  bool loads_at_attach() const override { return true; }

private:
  std::unique_ptr<ebpf::BPF> bpf_;
  bool verbose_;
  std::vector<Hook> attached_;
};

} // namespace

Expected<std::unique_ptr<LoadedObject>> load_bcc(const ProgramSpec &spec, const char *source,
                                                 const BccCompileOptions &opts) {
  // One compile at a time: libbcc's clang/LLVM front end is not safe to run
  // from two threads at once (the bundle's validation loads the reader and
  // the socket scanner in parallel threads: concurrent compiles crashed).
  static std::mutex compile;
  std::lock_guard<std::mutex> one(compile);
  auto bpf = std::make_unique<ebpf::BPF>();
  auto st = bpf->init(source, spec.bcc_cflags());
  if (!st.ok())
    return Failure{ErrorKind::bpf, "compiling " + spec.what() + " with BCC (kernel headers: " +
                                       opts.headers_origin + "): " + st.msg()};
  return std::unique_ptr<LoadedObject>(std::make_unique<BccObject>(std::move(bpf), opts.verbose));
}

} // namespace offsetprobe
