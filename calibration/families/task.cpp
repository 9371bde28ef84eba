// SPDX-License-Identifier: GPL-2.0-only
// task_struct's own fields: found in the raw bytes of the subjects' tasks
// (stage 1) by the predicates below, which solve() (calibration/solve/solver.h)
// runs on every aligned offset of every trial.
#include "calibration/families/families.h"
#include "calibration/model/predicate.h"
#include "calibration/solve/readback_check.h"
#include "calibration/solve/value_order.h"

#include <algorithm>
#include <stdexcept>

namespace offsetprobe::families {

namespace {

std::string ts(const char *member) {
  return std::string("task_struct.") + member;
}

std::function<bool(uint64_t)> in_window(const std::optional<Window> &w) {
  return [w](uint64_t v) { return w && w->contains(v); };
}

// What do_group_exit() stores in task->exit_code before sched_process_exit
// fires: the status E passed to exit() as wait(2) will report it,
// (status & 0xff) << 8.
std::optional<int32_t> exit_code_of(const Subject &e) {
  return e.wait_status;
}

FieldDef &field_at(Family &f, const char *member) {
  for (auto &d : f.fields)
    if (d.member == member)
      return d;
  throw std::logic_error(std::string("the task family declares no ") + member);
}

const CannotTest kNeedLTG = need_captured({Role::leader, Role::thread, Role::grandchild});

// The ids: pid, tgid, comm.
void add_id_predicates(Family &f) {
  // pid: every task's own tid. The thread separates it from tgid.
  field_at(f, "pid").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    c.need(check<int32_t>(t.leader, o, equals<int32_t>(t.leader.snap.tid)));
    c.need(check<int32_t>(t.thread, o, equals<int32_t>(t.thread.snap.tid)));
    c.need(check<int32_t>(t.grandchild, o, equals<int32_t>(t.grandchild.snap.tid)));
    c.optional(t.exiter, check<int32_t>(t.exiter, o, equals<int32_t>(t.exiter.snap.tid)));
    return c.v;
  };
  // tgid: the thread's is its leader's, not its own tid.
  field_at(f, "tgid").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    c.need(check<int32_t>(t.leader, o, equals<int32_t>(t.leader.snap.tgid)));
    c.need(check<int32_t>(t.thread, o, equals<int32_t>(t.leader.snap.tgid)));
    c.need(check<int32_t>(t.grandchild, o, equals<int32_t>(t.grandchild.snap.tgid)));
    return c.v;
  };
  // comm: the cookie, NUL-padded to 16 bytes. Any byte offset is tried.
  field_at(f, "comm").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    auto comm_is = [o](const Subject &s) {
      if (!s.snap.readable_range(o, 16))
        return Verdict::unknown;
      char want[16] = {};
      s.comm.copy(want, 15);
      return std::equal(want, want + 16, s.snap.bytes.begin() + o) ? Verdict::match
                                                                   : Verdict::mismatch;
    };
    c.need(comm_is(t.leader));
    c.need(comm_is(t.thread));
    c.need(comm_is(t.grandchild));
    c.optional(t.exiter, comm_is(t.exiter));
    return c.v;
  };
}

// L's parent pointer (real_parent or parent) at `o`: neither 0 nor L itself,
// and T's is the same (both were created by the calibrator's side).
void leader_parent(Checks &c, const Trial &t, uint32_t o) {
  auto l = t.leader.snap.task_addr;
  if (!t.leader.snap.readable_range(o, 8)) {
    c.need(Verdict::unknown);
    return;
  }
  auto lp = t.leader.snap.load<uint64_t>(o);
  c.need(lp != 0 && lp != l ? Verdict::match : Verdict::mismatch);
  c.need(check<uint64_t>(t.thread, o, equals<uint64_t>(lp)));
}

// The task pointers: group_leader, real_parent, parent.
void add_pointer_predicates(Family &f) {
  // group_leader: the thread's and the leader's point to the leader; a
  // process's own (G, E) to itself. Requiring T -> L rules out saved-register
  // copies of the current task (Pixie's false match in cpu_context on arm64).
  field_at(f, "group_leader").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    auto l = t.leader.snap.task_addr;
    c.need(check<uint64_t>(t.leader, o, equals<uint64_t>(l)));
    c.need(check<uint64_t>(t.thread, o, equals<uint64_t>(l)));
    c.need(check<uint64_t>(t.grandchild, o, equals<uint64_t>(t.grandchild.snap.task_addr)));
    c.optional(t.exiter, check<uint64_t>(t.exiter, o, equals<uint64_t>(t.exiter.snap.task_addr)));
    return c.v;
  };
  // real_parent: G's (ptraced by T) and E's point to L; T shares L's.
  field_at(f, "real_parent").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    auto l = t.leader.snap.task_addr;
    c.need(check<uint64_t>(t.grandchild, o, equals<uint64_t>(l)));
    c.optional(t.exiter, check<uint64_t>(t.exiter, o, equals<uint64_t>(l)));
    leader_parent(c, t, o);
    return c.v;
  };
  // parent: differs from real_parent only while ptraced: G's points to T.
  field_at(f, "parent").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    if (!t.traced)
      return Verdict::unknown;
    Checks c;
    c.need(check<uint64_t>(t.grandchild, o, equals<uint64_t>(t.thread.snap.task_addr)));
    c.optional(t.exiter, check<uint64_t>(t.exiter, o, equals<uint64_t>(t.leader.snap.task_addr)));
    leader_parent(c, t, o);
    return c.v;
  };
  field_at(f, "parent").cannot_test = [](const Trial &t) {
    if (!t.traced)
      return "ptrace not permitted (" + t.trace_error +
             "): parent equals real_parent unless a task is ptraced";
    return kNeedLTG(t);
  };
}

// The times and the exit code.
void add_time_predicates(Family &f) {
  // start_time: CLOCK_MONOTONIC ns at fork, inside the window around it.
  field_at(f, "start_time").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    Checks c;
    for (const Subject *s : {&t.leader, &t.thread, &t.grandchild})
      c.need(check<uint64_t>(*s, o, in_window(s->mono)));
    c.optional(t.exiter, check<uint64_t>(t.exiter, o, in_window(t.exiter.mono)));
    return c.v;
  };
  // start_boottime: CLOCK_BOOTTIME ns at fork, inside the window, and equal
  // to /proc/<pid>/stat field 22 once truncated to USER_HZ ticks (after the
  // time namespace's boottime offset, which /proc adds).
  field_at(f, "start_boottime").predicate = [](const Trial &t, uint32_t o,
                                               const SolveOptions &opt) {
    Checks c;
    auto ok = [&opt](const Subject &s) {
      return [&opt, &s](uint64_t v) {
        if (!s.boot || !s.boot->contains(v))
          return false;
        if (!s.start_ticks)
          return true;
        auto ns = static_cast<int64_t>(v) + opt.boot_offset_ns;
        return ns >= 0 && uint64_t(ns) / opt.tick_ns == *s.start_ticks;
      };
    };
    for (const Subject *s : {&t.leader, &t.thread, &t.grandchild})
      c.need(check<uint64_t>(*s, o, ok(*s)));
    c.optional(t.exiter, check<uint64_t>(t.exiter, o, ok(t.exiter)));
    return c.v;
  };
  // exit_code: E's status as do_group_exit() stores it, at
  // sched_process_exit; live tasks hold 0 there.
  field_at(f, "exit_code").predicate = [](const Trial &t, uint32_t o, const SolveOptions &) {
    auto want = exit_code_of(t.exiter);
    if (!want)
      return Verdict::unknown;
    Checks c;
    c.need(check<int32_t>(t.exiter, o, equals<int32_t>(*want)));
    c.need(check<int32_t>(t.leader, o, equals<int32_t>(0)));
    c.need(check<int32_t>(t.thread, o, equals<int32_t>(0)));
    c.need(check<int32_t>(t.grandchild, o, equals<int32_t>(0)));
    return c.v;
  };
  field_at(f, "exit_code").cannot_test =
      need_captured({Role::leader, Role::thread, Role::grandchild, Role::exiter});
  for (auto &d : f.fields)
    if (!d.cannot_test)
      d.cannot_test = kNeedLTG;
}

// The start_time / start_boottime trap: on a machine never suspended,
// CLOCK_BOOTTIME == CLOCK_MONOTONIC, so both fields fall into both windows
// and both candidate sets are the same pair (Pixie hit this). The order of
// their values tells them apart wherever they sit (value_order.h); only when
// the values are equal in every task does the declaration order decide, and
// only on a layout that is the declared one.
void settle(std::vector<FieldResult> &out, const std::vector<Trial> &trials,
            const LayoutOrder &layout) {
  FieldResult *st = nullptr, *bt = nullptr;
  for (auto &r : out) {
    if (r.name == ts("start_time"))
      st = &r;
    if (r.name == ts("start_boottime"))
      bt = &r;
  }
  if (st && bt)
    split_by_value_order(*st, *bt, trials, layout);
}

// L, T, G at their trigger and E at exit, read through the offsets.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread),
                   &G = c.seen(Role::grandchild), &E = c.seen(Role::exiter);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto i32 = [](const ReadValues &r, Step k) { return r.value_or_zero<int32_t>(k); };
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  Step pid = c.step({ts("pid")}), tgid = c.step({ts("tgid")}), comm = c.step({ts("comm")}),
       start = c.step({ts("start_time")}), boot = c.step({ts("start_boottime")}),
       leader = c.step({ts("group_leader")}), real_parent = c.step({ts("real_parent")}),
       parent = c.step({ts("parent")}), exit_code = c.step({ts("exit_code")}),
       leader_boot = c.step({ts("group_leader"), ts("start_boottime")}),
       leader_pid = c.step({ts("group_leader"), ts("pid")}),
       real_parent_tgid = c.step({ts("real_parent"), ts("tgid")}),
       parent_pid = c.step({ts("parent"), ts("pid")});

  c.check("pid",
          L.has(pid) && T.has(pid) && G.has(pid) && u32(L, pid) == L.tid && u32(T, pid) == T.tid &&
              u32(G, pid) == G.tid,
          "pid read back as " + std::to_string(i32(L, pid)) + "/" + std::to_string(i32(T, pid)) +
              ", want " + std::to_string(L.tid) + "/" + std::to_string(T.tid));
  c.check("tgid", L.has(tgid) && T.has(tgid) && u32(L, tgid) == L.tgid && u32(T, tgid) == L.tgid,
          "tgid read back as " + std::to_string(i32(T, tgid)) + ", want " + std::to_string(L.tgid));
  c.check("comm",
          L.has(comm) && T.has(comm) && G.has(comm) && L.text(comm) == t.leader.comm &&
              T.text(comm) == t.thread.comm && G.text(comm) == t.grandchild.comm,
          "comm read back as \"" + L.text(comm) + "\", want \"" + t.leader.comm + "\"");
  c.check("start_time",
          L.has(start) && T.has(start) && t.leader.mono->contains(u64(L, start)) &&
              t.thread.mono->contains(u64(T, start)),
          "start_time " + std::to_string(u64(L, start)) + " outside its window");
  uint64_t l_boot = u64(L, boot), t_boot = u64(T, boot);
  c.check("start_boottime",
          L.has(boot) && T.has(boot) && T.has(leader_boot) && t.leader.boot->contains(l_boot) &&
              c.ticks_ok(l_boot, t.leader.start_ticks) && t.thread.boot->contains(t_boot) &&
              c.ticks_ok(t_boot, t.thread.start_ticks) && u64(T, leader_boot) == l_boot,
          "start_boottime " + std::to_string(l_boot) + " (group_leader->start_boottime " +
              std::to_string(u64(T, leader_boot)) +
              ") disagrees with the window or /proc/<pid>/stat");
  c.check("group_leader",
          L.has(leader) && T.has(leader) && G.has(leader) && u64(L, leader) == L.task_addr &&
              u64(T, leader) == L.task_addr && u64(G, leader) == G.task_addr &&
              (!pid || (T.has(leader_pid) && u32(T, leader_pid) == L.tid)),
          "group_leader does not lead to the leader");
  c.check("real_parent",
          G.has(real_parent) && u64(G, real_parent) == L.task_addr &&
              (!tgid || (G.has(real_parent_tgid) && u32(G, real_parent_tgid) == L.tgid)),
          "real_parent->tgid read back as " + std::to_string(i32(G, real_parent_tgid)) + ", want " +
              std::to_string(L.tgid));
  if (t.traced)
    c.check("parent",
            G.has(parent) && u64(G, parent) == T.task_addr &&
                (!pid || (G.has(parent_pid) && u32(G, parent_pid) == T.tid)),
            "parent->pid read back as " + std::to_string(i32(G, parent_pid)) +
                ", want the tracer " + std::to_string(T.tid));
  auto want_exit = exit_code_of(t.exiter);
  c.check("exit_code", E.has(exit_code) && want_exit && i32(E, exit_code) == *want_exit,
          "exit_code read back as " + std::to_string(i32(E, exit_code)) + ", want " +
              std::to_string(want_exit.value_or(-1)));
}

} // namespace

Family task() {
  Family f;
  f.name = "task";
  f.summary = "task_struct's own fields (ids, comm, parents, start times, exit code)";
  auto field = [](const char *member, uint32_t size, uint32_t align, const char *known) {
    FieldDef d;
    d.struct_name = "task_struct";
    d.member = member;
    d.size = size;
    d.align = align;
    d.known = known;
    return d;
  };
  f.fields = {
      field("pid", 4, 4, "each subject's global tid (bpf_get_current_pid_tgid)"),
      field("tgid", 4, 4, "the leader's global tgid; the thread's is its leader's"),
      field("comm", 16, 1, "the random 15-character cookie each subject set (PR_SET_NAME)"),
      field("group_leader", 8, 8, "the leader's task address (L and T), a process's own (G, E)"),
      field("real_parent", 8, 8, "G's and E's point to L; T shares L's"),
      field("parent", 8, 8, "G's points to T while T ptraces it"),
      field("start_time", 8, 8, "CLOCK_MONOTONIC window around each subject's start"),
      field("start_boottime", 8, 8,
            "CLOCK_BOOTTIME window around each start, and /proc/<pid>/stat field 22"),
      field("exit_code", 4, 4, "E's chosen exit code << 8 at sched_process_exit; 0 in the living"),
  };
  // Before 5.5 the boottime field was called real_start_time: one logical
  // field, two names.
  f.fields[7].aliases = {"real_start_time"};
  // Pixie's names for the two offsets its BCC programs take.
  f.fields[3].export_aliases = {"GROUP_LEADER_OFFSET_OVERRIDE"};
  f.fields[7].export_aliases = {"START_BOOTTIME_OFFSET_OVERRIDE"};
  // exit_state/exit_code/exit_signal, then pid, tgid, then the process
  // relationships (real_parent, parent, children, sibling, group_leader),
  // then the times, the credentials, comm, fs/files, the namespaces, and the audit
  // block (loginuid, sessionid) far below: the order of include/linux/sched.h
  // from 2.6.x through 6.18, with randstruct's
  // randomized_struct_fields_start/end around all of them. Ranks 1..7 are
  // ours; the ns family ranks its pointer 8, the audit family its fields 9
  // and 10. The start times are not ranked: start_time and start_boottime
  // are told apart by their values, not by their order.
  const std::pair<const char *, uint32_t> ranks[] = {
      {"exit_code", 1}, {"pid", 2},          {"tgid", 3}, {"real_parent", 4},
      {"parent", 5},    {"group_leader", 6}, {"comm", 7}};
  for (auto [member, rank] : ranks)
    for (auto &d : f.fields)
      if (d.member == member)
        d.order = rank;
  f.declared_order = {{"task_struct", "sched.h declares %s in this order (2.6 to 6.18)"}};
  f.roles = {
      {Role::leader, "L: the main thread of a child process; a known tgid, cookie and start"},
      {Role::thread, "T: a second thread of L: tid != tgid, group_leader == &L; ptraces G"},
      {Role::grandchild, "G: forked by L: real_parent == &L, parent == &T while traced"},
      {Role::exiter, "E: forked by L, exits with a chosen code, captured at exit"},
  };
  f.rule = "A predicate per field over aligned offsets, on every subject of every trial; the "
           "candidates are intersected across at least three trials. start_time and "
           "start_boottime are nearly equal on a machine never suspended: start_boottime "
           "must also agree with /proc/<pid>/stat in USER_HZ ticks. parent differs from "
           "real_parent only while ptraced: without ptrace it is unresolved, never guessed.";
  f.readback = {
      {{"task_struct.pid"}},
      {{"task_struct.tgid"}},
      {{"task_struct.comm"}},
      {{"task_struct.start_time"}},
      {{"task_struct.start_boottime"}},
      {{"task_struct.group_leader"}},
      {{"task_struct.real_parent"}},
      {{"task_struct.parent"}},
      // At exit only the exiter's exit_code (and mm's active_mm) are read:
      // reading no more keeps the exit program small and quick to verify.
      {{"task_struct.exit_code"}, kAtExit},
      // One pointer further: the chains the counting probe and agents use.
      {{"task_struct.group_leader", "task_struct.start_boottime"}},
      {{"task_struct.group_leader", "task_struct.pid"}},
      {{"task_struct.real_parent", "task_struct.tgid"}},
      {{"task_struct.parent", "task_struct.pid"}},
  };
  add_id_predicates(f);
  add_pointer_predicates(f);
  add_time_predicates(f);
  f.settle = settle;
  f.verify = verify;
  return f;
}

} // namespace offsetprobe::families
