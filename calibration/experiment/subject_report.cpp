// SPDX-License-Identifier: GPL-2.0-only
// The subject's side of the protocol: the "ready" line a leader writes and
// the calibrator parses (subject.h), and how a leader's death is described.
#include "calibration/experiment/subject.h"

#include <cinttypes>
#include <cstdio>
#include <sstream>

#include <sys/wait.h>

namespace offsetprobe {

namespace {

void write_window(std::ostringstream &os, const char *name, const Window &w) {
  os << ' ' << name << '=' << w.lo << ':' << w.hi;
}

} // namespace

std::string describe_leader_status(int status) {
  if (WIFSIGNALED(status))
    return " (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
  int code = WEXITSTATUS(status);
  return " (exit code " + std::to_string(code) +
         (code == kLeaderLostGrandchild ? ": its grandchild died" : "") + ")";
}

std::string format_report(const SubjectReport &r) {
  std::ostringstream os;
  os << "ready thread_tid=" << r.thread_tid << " grandchild_pid=" << r.grandchild_pid
     << " exiter_pid=" << r.exiter_pid;
  write_window(os, "thread_mono", r.thread_mono);
  write_window(os, "thread_boot", r.thread_boot);
  write_window(os, "grandchild_mono", r.grandchild_mono);
  write_window(os, "grandchild_boot", r.grandchild_boot);
  write_window(os, "exiter_mono", r.exiter_mono);
  write_window(os, "exiter_boot", r.exiter_boot);
  os << " traced=" << (r.traced ? 1 : 0);
  if (!r.traced)
    os << " trace_error=" << r.trace_error;
  auto token = [](const std::string &e) { return e.empty() ? std::string("-") : e; };
  os << " creds_pid=" << r.creds_pid << " unshared_pid=" << r.unshared_pid
     << " creds_error=" << token(r.creds_error) << " loginuid_error=" << token(r.loginuid_error)
     << " unshare_error=" << token(r.unshare_error) << " proc_ids=" << r.proc_leader << ','
     << r.proc_thread << ',' << r.proc_grandchild << ',' << r.proc_creds << ',' << r.proc_unshared;
  return os.str();
}

std::optional<SubjectReport> parse_report(const std::string &line, std::string &error) {
  std::istringstream is(line);
  std::string word;
  if (!(is >> word) || word != "ready") {
    error = "subject said \"" + line.substr(0, 200) + "\" instead of ready";
    return std::nullopt;
  }
  SubjectReport r;
  unsigned seen = 0;
  auto window = [&](const std::string &v, Window &w) {
    return std::sscanf(v.c_str(), "%" SCNu64 ":%" SCNu64, &w.lo, &w.hi) == 2 && w.lo <= w.hi;
  };
  while (is >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos)
      continue;
    std::string k = word.substr(0, eq), v = word.substr(eq + 1);
    bool ok = true;
    if (k == "thread_tid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.thread_tid) == 1, seen |= 1;
    else if (k == "grandchild_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.grandchild_pid) == 1, seen |= 2;
    else if (k == "exiter_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.exiter_pid) == 1, seen |= 4;
    else if (k == "thread_mono")
      ok = window(v, r.thread_mono), seen |= 8;
    else if (k == "thread_boot")
      ok = window(v, r.thread_boot), seen |= 16;
    else if (k == "grandchild_mono")
      ok = window(v, r.grandchild_mono), seen |= 32;
    else if (k == "grandchild_boot")
      ok = window(v, r.grandchild_boot), seen |= 64;
    else if (k == "exiter_mono")
      ok = window(v, r.exiter_mono), seen |= 128;
    else if (k == "exiter_boot")
      ok = window(v, r.exiter_boot), seen |= 256;
    else if (k == "traced")
      r.traced = v == "1", seen |= 512;
    else if (k == "trace_error")
      r.trace_error = v;
    else if (k == "creds_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.creds_pid) == 1, seen |= 1024;
    else if (k == "unshared_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.unshared_pid) == 1, seen |= 2048;
    else if (k == "creds_error")
      r.creds_error = v == "-" ? "" : v, seen |= 4096;
    else if (k == "loginuid_error")
      r.loginuid_error = v == "-" ? "" : v, seen |= 8192;
    else if (k == "unshare_error")
      r.unshare_error = v == "-" ? "" : v, seen |= 16384;
    else if (k == "proc_ids")
      ok = std::sscanf(v.c_str(), "%" SCNd32 ",%" SCNd32 ",%" SCNd32 ",%" SCNd32 ",%" SCNd32,
                       &r.proc_leader, &r.proc_thread, &r.proc_grandchild, &r.proc_creds,
                       &r.proc_unshared) == 5,
      seen |= 32768;
    if (!ok) {
      error = "subject report has a bad value for " + k;
      return std::nullopt;
    }
  }
  if (seen != 65535) {
    error = "subject report is incomplete: \"" + line.substr(0, 200) + "\"";
    return std::nullopt;
  }
  return r;
}
} // namespace offsetprobe
