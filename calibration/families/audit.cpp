// SPDX-License-Identifier: GPL-2.0-only
// The audit fields in task_struct's own bytes: loginuid and sessionid
// (stage 1, solved with the chain experiment's subject C). The rule is
// solve_audit in calibration/chains.cpp.
#include "calibration/families/families.h"
#include "calibration/readback_check.h"

namespace offsetprobe::families {

namespace {

// loginuid/sessionid: C's own, L's inherited.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &C = c.seen(Role::creds);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto audit = [&](const char *name, std::optional<uint32_t> Subject::*known) {
    Step step = c.step({std::string("task_struct.") + name});
    bool ok = t.loginuid_error.empty() && (t.creds.*known) && (t.leader.*known) && C.has(step) &&
              L.has(step) && u32(C, step) == *(t.creds.*known) &&
              u32(L, step) == *(t.leader.*known);
    c.check(name, ok,
            std::string(name) + " read back as " + std::to_string(u32(C, step)) + " (C), want " +
                ((t.creds.*known) ? std::to_string(*(t.creds.*known)) : "-"));
  };
  audit("loginuid", &Subject::loginuid);
  audit("sessionid", &Subject::sessionid);
}

} // namespace

Family audit() {
  Family f;
  f.name = "audit";
  f.summary = "task_struct.loginuid and sessionid (CONFIG_AUDIT)";
  for (const char *m : {"loginuid", "sessionid"}) {
    FieldDef d;
    d.struct_name = "task_struct";
    d.member = m;
    d.size = 4;
    d.align = 4;
    d.absent = "kernels without CONFIG_AUDIT (no /proc/<pid>/loginuid): not_present";
    d.known = std::string("/proc/<pid>/") + m + " of C (its own, set through /proc) and L";
    f.fields.push_back(d);
  }
  f.roles = {{Role::creds, "C: writes its own /proc/self/loginuid, which starts a session"}};
  f.rule = "A 4-byte word that holds C's loginuid (sessionid) in C and L's in L and T, in "
           "every trial.";
  f.readback = {{{"task_struct.loginuid"}}, {{"task_struct.sessionid"}}};
  f.verify = verify;
  return f;
}

} // namespace offsetprobe::families
