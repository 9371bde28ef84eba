// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/loaded_object.h"
#include "opens/opens_session.h"

#include "calibration/model/error.h"

#include "bpf/runtime/libbpf_object.h"

#include "opens.h"
#include "opens.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace offsetprobe {

std::optional<uint32_t> tracepoint_field_offset(const std::string &format_text,
                                                const std::string &field) {
  std::istringstream in(format_text);
  std::string line;
  while (std::getline(in, line)) {
    auto f = line.find("field:");
    auto semi = line.find(';', f);
    if (f == std::string::npos || semi == std::string::npos)
      continue;
    // "field:long ret" -> the last word is the name.
    std::string decl = line.substr(f + 6, semi - f - 6);
    auto sp = decl.find_last_of(" \t*");
    if (decl.substr(sp == std::string::npos ? 0 : sp + 1) != field)
      continue;
    auto o = line.find("offset:", semi);
    if (o == std::string::npos)
      return std::nullopt;
    try {
      return static_cast<uint32_t>(std::stoul(line.substr(o + 7)));
    } catch (const std::exception &) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {

std::string read_text(const std::string &path) {
  std::ifstream f(path);
  if (!f)
    return "";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The format file of syscalls:sys_exit_<name>, or "" where tracefs lacks it.
std::string exit_format(const std::string &name) {
  for (const char *root :
       {"/sys/kernel/tracing/events/syscalls/", "/sys/kernel/debug/tracing/events/syscalls/"}) {
    std::string t = read_text(std::string(root) + "sys_exit_" + name + "/format");
    if (!t.empty())
      return t;
  }
  return "";
}

int on_sample(void *ctx, void *data, size_t size) {
  (*static_cast<OpensSession::EventFn *>(ctx))(data, size);
  return 0;
}

} // namespace

struct OpensSession::Impl {
  EventFn on_event;
  std::unique_ptr<LoadedObject> obj;
  ring_buffer *rb = nullptr;
  std::vector<std::string> attached;
};

OpensSession::OpensSession(const OpensConfig &cfg, EventFn on_event)
    : impl_(std::make_unique<Impl>()) {
  impl_->on_event = std::move(on_event);
  // The tracepoints there are, and where their records hold the syscall
  // number and the return value: one program serves all, so all must agree.
  std::vector<std::string> tps;
  std::optional<uint32_t> nr_off, ret_off;
  for (const auto &name : cfg.syscalls) {
    std::string fmt = exit_format(name);
    if (fmt.empty())
      continue;
    auto nr = tracepoint_field_offset(fmt, "__syscall_nr");
    auto ret = tracepoint_field_offset(fmt, "ret");
    if (!nr || !ret)
      throw Error(ErrorKind::tracing, "opens: the format of syscalls:sys_exit_" + name +
                                          " has no __syscall_nr or ret field");
    if ((nr_off && *nr_off != *nr) || (ret_off && *ret_off != *ret))
      throw Error(ErrorKind::tracing,
                  "opens: the exit tracepoints of the open syscalls disagree on "
                  "where the return value is");
    nr_off = nr;
    ret_off = ret;
    tps.push_back("syscalls:sys_exit_" + name);
  }
  if (tps.empty())
    throw Error(ErrorKind::tracing,
                "opens: tracefs has no syscalls/sys_exit_openat (is tracefs mounted "
                "at /sys/kernel/tracing? is CONFIG_FTRACE_SYSCALLS on?)");

  ProgramSpec spec("the opens probe");
  add_file_walk_constants(spec, cfg.files);
  spec.constant({"tp_nr_off", 4, {*nr_off}, {}})
      .constant({"tp_ret_off", 4, {*ret_off}, {}})
      .constant({"off_group_leader", 4, {cfg.off_group_leader}, {}})
      .constant({"off_start_boottime", 4, {cfg.off_start_boottime}, {}})
      .constant({"tick_ns", 8, {cfg.tick_ns}, {}})
      .constant({"boot_offset_ns", 8, {static_cast<uint64_t>(cfg.boot_offset_ns)}, {}})
      .constant({"filter_tgid", 4, {cfg.filter_tgid}, {}})
      .constant({"self_tgid", 4, {cfg.self_tgid}, {}})
      .constant({"use_pidns", 4, {cfg.pidns ? 1u : 0u}, {}})
      .constant({"pidns_dev", 8, {cfg.pidns ? cfg.pidns->first : 0}, {}})
      .constant({"pidns_ino", 8, {cfg.pidns ? cfg.pidns->second : 0}, {}})
      .constant({"walk_exe", 4, {cfg.walk_exe ? 1u : 0u}, {}})
      .load("opens_exit");
  LibbpfElf elf{"op_opens", nullptr, 0};
  elf.bytes = op_opens__elf_bytes(&elf.size);
  impl_->obj = load_libbpf(spec, elf);

  impl_->rb = ring_buffer__new(impl_->obj->map_fd("events"), on_sample, &impl_->on_event, nullptr);
  if (!impl_->rb)
    throw Error(ErrorKind::bpf, "opens: ring buffer: " + errno_text(errno));
  for (const auto &tp : tps) {
    auto e = impl_->obj->attach({HookKind::tracepoint, "opens_exit", tp});
    if (!e) {
      impl_->attached.push_back(tp);
      continue;
    }
    std::string msg = "opens: attaching tracepoint " + tp + ": " + e->message;
    if (e->err == EPERM || e->err == EACCES)
      throw Error(ErrorKind::permission, msg + ": run as root with CAP_BPF and CAP_PERFMON");
    throw Error(ErrorKind::tracing, msg);
  }
}

OpensSession::~OpensSession() {
  if (impl_ && impl_->rb)
    ring_buffer__free(impl_->rb);
}

int OpensSession::poll(int timeout_ms) {
  return ring_buffer__poll(impl_->rb, timeout_ms);
}

void OpensSession::drain() {
  ring_buffer__consume(impl_->rb);
}

void OpensSession::detach() {
  impl_->obj->detach();
}

const std::vector<std::string> &OpensSession::attached() const {
  return impl_->attached;
}

OpensDrops OpensSession::drops() const {
  OpensDrops d;
  // A slot that cannot be read counts 0, as it did before percpu_sum.
  auto sum = [&](uint32_t slot) {
    return percpu_sum(impl_->obj->map_fd("drops"), slot).value_or(0);
  };
  d.ringbuf = sum(OP_OPENS_DROP_RINGBUF);
  d.other_ns = sum(OP_OPENS_DROP_OTHER_NS);
  return d;
}

} // namespace offsetprobe
