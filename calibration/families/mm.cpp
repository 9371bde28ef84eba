// SPDX-License-Identifier: GPL-2.0-only
// mm_struct's memory-layout fields, through task_struct.mm and active_mm
// (stage 2). The chain rule is in calibration/chains.cpp.
#include "calibration/families/families.h"
#include "calibration/readback_check.h"

namespace offsetprobe::families {

namespace {

// mm -> layout fields in L and C; active_mm the same for a live task.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread), &C = c.seen(Role::creds),
                   &E = c.seen(Role::exiter);
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  const std::string mm = "task_struct.mm", active_mm = "task_struct.active_mm";
  bool all_mm = true, all_active = true;
  for (size_t k = 0; k < kMmFields.size(); k++) {
    std::string field = std::string("mm_struct.") + kMmFields[k];
    Step of_mm = c.step({mm, field}), of_active = c.step({active_mm, field});
    bool ok = t.leader.mm.has_value(), active = ok;
    std::string got;
    for (auto [rb, s] : {std::pair{&L, &t.leader}, std::pair{&C, &t.creds}}) {
      if (!s->mm)
        continue;
      ok = ok && rb->has(of_mm) && u64(*rb, of_mm) == (*s->mm)[k];
      active = active && rb->has(of_active) && u64(*rb, of_active) == (*s->mm)[k];
      got += std::to_string(u64(*rb, of_mm)) + " ";
    }
    c.check(field, c.offset("mm") ? ok : active,
            std::string(kMmFields[k]) + " read back as " + got + "(L, C)");
    if (c.offset(field)) {
      all_mm = all_mm && ok;
      all_active = all_active && active;
    }
  }
  // At exit the kernel may have cleared mm already (exit_mm() before the
  // tracepoint); it never clears active_mm there.
  Step m = c.step({mm}), a = c.step({active_mm});
  bool exit_ok = !E.captured || u64(E, a) != 0;
  c.check("mm", all_mm && u64(T, m) == u64(L, m) && u64(L, m) != u64(C, m) && exit_ok,
          "mm does not lead to /proc/<pid>/stat's values");
  c.check("active_mm", all_active && u64(T, a) == u64(L, a) && exit_ok,
          "active_mm does not lead to /proc/<pid>/stat's values");
  bool any_field = false;
  for (size_t k = 0; k < kMmFields.size(); k++)
    any_field = any_field || c.offset(std::string("mm_struct.") + kMmFields[k]).has_value();
  c.check_pair("mm", "active_mm",
               any_field && all_mm && all_active && u64(T, m) == u64(L, m) &&
                   u64(L, m) != u64(C, m),
               "the mm_struct fields do not read back through the pair's pointer");
}

} // namespace

Family mm() {
  Family f;
  f.name = "mm";
  f.summary = "task_struct.mm and active_mm, and mm_struct's layout fields from /proc/<pid>/stat";
  add_task_pointer_pair(f, "mm", "active_mm");
  for (const char *m : kMmFields) {
    FieldDef d;
    d.struct_name = "mm_struct";
    d.member = m;
    d.size = 8;
    d.align = 8;
    d.via = {"task_struct.mm", "task_struct.active_mm"};
    d.known = "/proc/<pid>/stat's memory-layout fields of L and C";
    f.fields.push_back(d);
  }
  f.roles = {{Role::creds, "C: a second process with its own mm (its layout differs from L's)"}};
  f.rule = "The pointer is the candidate whose pointee holds every layout value of L and C. "
           "ELF loading sets arg_end == env_start: the adjacent pair is split by declaration "
           "order (arg_end first). Without PR_SET_MM_MAP env_end has a twin in saved_auxv: the "
           "candidate 8 bytes after env_start is env_end (declaration order).";
  f.readback.push_back({{"task_struct.mm"}});
  // active_mm is also read at exit: the kernel may clear mm before the
  // tracepoint (exit_mm()), never active_mm.
  f.readback.push_back({{"task_struct.active_mm"}, kAtTrigger | kAtExit});
  for (const char *p : {"task_struct.mm", "task_struct.active_mm"})
    for (const char *m : kMmFields)
      f.readback.push_back({{p, std::string("mm_struct.") + m}});
  f.verify = verify;
  return f;
}

} // namespace offsetprobe::families
