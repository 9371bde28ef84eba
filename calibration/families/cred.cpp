// SPDX-License-Identifier: GPL-2.0-only
// struct cred's ids, through task_struct.real_cred and task_struct.cred
// (stage 2). The chain rule is in calibration/chains.cpp.
#include "calibration/families/families.h"
#include "calibration/readback_check.h"

namespace offsetprobe::families {

namespace {

// C's and L's ids through real_cred and cred; threads share their creds.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread), &C = c.seen(Role::creds);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  auto id_step = [&](const char *ptr, size_t k) {
    return c.step({std::string("task_struct.") + ptr, std::string("cred.") + kCredIds[k]});
  };
  for (size_t k = 0; k < kCredIds.size(); k++) {
    bool ok = t.creds_error.empty() && t.creds.cred_ids && t.leader.cred_ids;
    std::string got;
    for (auto [rb, s] : {std::pair{&C, &t.creds}, std::pair{&L, &t.leader}}) {
      if (!ok)
        break;
      uint32_t want = (*s->cred_ids)[k];
      Step real = id_step("real_cred", k), eff = id_step("cred", k);
      if (c.via("real_cred"))
        ok = ok && rb->has(real) && u32(*rb, real) == want;
      if (c.via("cred"))
        ok = ok && rb->has(eff) && u32(*rb, eff) == want;
      got += std::to_string(u32(*rb, real)) + "/" + std::to_string(u32(*rb, eff)) + " ";
    }
    c.check(std::string("cred.") + kCredIds[k], ok && (c.via("real_cred") || c.via("cred")),
            std::string(kCredIds[k]) + " read back as " + got + "(real_cred/cred of C, L)");
  }
  bool pair_ok = false;
  for (size_t k = 0; k < kCredIds.size(); k++)
    pair_ok = pair_ok || c.offset(std::string("cred.") + kCredIds[k]).has_value();
  for (const char *p : {"real_cred", "cred"}) {
    bool ok = t.creds.cred_ids && t.leader.cred_ids;
    for (auto [rb, s] : {std::pair{&C, &t.creds}, std::pair{&L, &t.leader}})
      for (size_t k = 0; ok && k < kCredIds.size(); k++)
        if (c.offset(std::string("cred.") + kCredIds[k]))
          ok = rb->has(id_step(p, k)) && u32(*rb, id_step(p, k)) == (*s->cred_ids)[k];
    // Threads share their creds.
    Step ptr = c.step({std::string("task_struct.") + p});
    ok = ok && u64(T, ptr) == u64(L, ptr);
    c.check(p, ok, std::string(p) + "->ids do not read back as C's and L's ids");
    pair_ok = pair_ok && ok;
  }
  c.check_pair("real_cred", "cred", pair_ok,
               "the ids do not read back as C's and L's through the pair's pointer");
}

} // namespace

void add_task_pointer_pair(Family &f, const char *a, const char *b) {
  for (const char *p : {a, b}) {
    FieldDef d;
    d.struct_name = "task_struct";
    d.member = p;
    d.size = 8;
    d.align = 8;
    d.known = "a private pointer: shared by L and T, different in every forked child";
    f.fields.push_back(d);
  }
}

Family cred() {
  Family f;
  f.name = "cred";
  f.summary = "task_struct.real_cred and cred, and struct cred's uid/gid/suid/sgid/euid/egid/"
              "fsuid/fsgid";
  add_task_pointer_pair(f, "real_cred", "cred");
  for (const char *id : kCredIds) {
    FieldDef d;
    d.struct_name = "cred";
    d.member = id;
    d.size = 4;
    d.align = 4;
    d.via = {"task_struct.real_cred", "task_struct.cred"};
    d.known = "/proc/<pid>/status Uid:/Gid: lines of L (root) and C (distinct ids)";
    f.fields.push_back(d);
  }
  f.roles = {{Role::creds, "C: forked by L, sets eight distinct ids with setresuid/setresgid "
                           "and setfsuid/setfsgid"}};
  f.rule = "The pointer is the candidate whose pointee holds every id of C and of L. struct "
           "cred declares uid, gid, suid, sgid, euid, egid, fsuid, fsgid one after the other "
           "(since 2.6.29): a stale cred in the slab neighbours can repeat some of C's ids, so "
           "when at least four ids sit at base + 4 k for one base, an ambiguous id whose "
           "candidates include its own place takes it (split_cred_ids_by_order).";
  for (const char *p : {"task_struct.real_cred", "task_struct.cred"}) {
    f.readback.push_back({{p}});
    for (const char *id : kCredIds)
      f.readback.push_back({{p, std::string("cred.") + id}});
  }
  f.verify = verify;
  return f;
}

} // namespace offsetprobe::families
