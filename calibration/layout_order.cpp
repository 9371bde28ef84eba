// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/layout_order.h"

#include <fstream>
#include <map>
#include <sstream>
#include <sys/utsname.h>
#include <zlib.h>

namespace offsetprobe {

namespace {

// Members of one struct that every unshuffled kernel declares in this order
// (checked against the BTF of every Debian kernel in tests/fixtures/ by
// test_layout_order). Each chain is a subsequence of the declaration, so any
// two of its members, not only neighbours, must keep the order. Only fields a
// calibration finds by value alone are listed: a field placed by a layout
// rule proves nothing about the layout.
struct OrderedChain {
  const char *struct_name;
  std::vector<const char *> members;
  const char *why;
};

const std::vector<OrderedChain> &chains() {
  static const std::vector<OrderedChain> c = {
      // exit_state/exit_code/exit_signal, then pid, tgid, then the process
      // relationships (real_parent, parent, children, sibling, group_leader),
      // then the times, the credentials, comm, fs/files, nsproxy, and the
      // audit block (loginuid, sessionid) far below: the order of
      // include/linux/sched.h from 2.6.x through 6.18, with randstruct's
      // randomized_struct_fields_start/end around all of them.
      {"task_struct",
       {"exit_code", "pid", "tgid", "real_parent", "parent", "group_leader", "comm", "nsproxy",
        "loginuid", "sessionid"},
       "sched.h declares exit_code, pid, tgid, real_parent, parent, group_leader, comm, nsproxy, "
       "loginuid, sessionid in this order (2.6 to 6.18)"},
      // `kuid_t uid, gid, suid, sgid, euid, egid, fsuid, fsgid` (one
      // declaration per pair) since 2.6.29 (struct cred's introduction).
      {"cred",
       {"uid", "gid", "suid", "sgid", "euid", "egid", "fsuid", "fsgid"},
       "cred.h declares uid, gid, suid, sgid, euid, egid, fsuid, fsgid in this order (2.6.29 on)"},
      // `unsigned long start_code, end_code, start_data, end_data; unsigned
      // long start_brk, brk, start_stack; unsigned long arg_start, arg_end,
      // env_start, env_end;` since 2.6 (brk is not calibrated).
      {"mm_struct",
       {"start_code", "end_code", "start_data", "end_data", "start_brk", "start_stack", "arg_start",
        "arg_end", "env_start", "env_end"},
       "mm_types.h declares start_code ... env_end in /proc/<pid>/stat's order (2.6 on)"},
  };
  return c;
}

} // namespace

const std::vector<OrderedPair> &ordered_pairs() {
  static const std::vector<OrderedPair> pairs = [] {
    std::vector<OrderedPair> out;
    for (const auto &c : chains())
      for (size_t i = 0; i + 1 < c.members.size(); i++)
        out.push_back({c.struct_name, c.members[i], c.members[i + 1], c.why});
    return out;
  }();
  return pairs;
}

LayoutOrder detect_layout_order(const std::vector<FieldResult> &fields, const LayoutOrder &known) {
  if (known.randomized)
    return known;
  std::map<std::string, uint32_t> at;
  for (const auto &f : fields)
    if (f.status == FieldStatus::calibrated && f.offset)
      at[f.name] = *f.offset;
  for (const auto &c : chains()) {
    // The calibrated members in declaration order: every later one must sit
    // at a higher offset than every earlier one, i.e. than the last seen.
    const char *prev = nullptr;
    uint32_t prev_off = 0;
    for (const char *m : c.members) {
      auto it = at.find(std::string(c.struct_name) + "." + m);
      if (it == at.end())
        continue;
      if (prev && it->second <= prev_off) {
        LayoutOrder l;
        l.randomized = true;
        l.evidence = std::string(c.struct_name) + "." + m + " (" + std::to_string(it->second) +
                     ") is not after ." + prev + " (" + std::to_string(prev_off) + "); " + c.why;
        return l;
      }
      prev = m;
      prev_off = it->second;
    }
  }
  return known;
}

std::string randstruct_in_config(const std::string &config_text) {
  std::istringstream in(config_text);
  std::string line;
  for (const char *opt : {"CONFIG_RANDSTRUCT_FULL=y", "CONFIG_RANDSTRUCT_PERFORMANCE=y",
                          "CONFIG_GCC_PLUGIN_RANDSTRUCT=y"}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line))
      if (line == opt)
        return line;
  }
  return "";
}

std::optional<std::string> read_kernel_config(std::string *source) {
  if (gzFile gz = gzopen("/proc/config.gz", "rb")) {
    std::string text;
    char buf[65536];
    int n;
    while ((n = gzread(gz, buf, sizeof buf)) > 0)
      text.append(buf, static_cast<size_t>(n));
    bool ok = n == 0;
    gzclose(gz);
    if (ok && !text.empty()) {
      if (source)
        *source = "/proc/config.gz";
      return text;
    }
  }
  struct utsname u {};
  if (uname(&u) == 0) {
    std::string path = std::string("/boot/config-") + u.release;
    std::ifstream f(path);
    if (f) {
      std::ostringstream os;
      os << f.rdbuf();
      if (source)
        *source = path;
      return os.str();
    }
  }
  return std::nullopt;
}

std::optional<LayoutOrder> layout_from_kernel_config() {
  std::string source;
  auto text = read_kernel_config(&source);
  if (!text)
    return std::nullopt;
  LayoutOrder l;
  std::string opt = randstruct_in_config(*text);
  if (!opt.empty()) {
    l.randomized = true;
    l.evidence = source + " has " + opt;
  }
  return l;
}

} // namespace offsetprobe
