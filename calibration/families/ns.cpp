// SPDX-License-Identifier: GPL-2.0-only
// The namespaces: task_struct.nsproxy -> nsproxy.*_ns -> *_namespace.ns.inum
// (stage 2, two pointers in one load). The chain rule is in
// calibration/chains.cpp; kNsKinds (calibration/chains.h) lists the kinds.
#include "calibration/chains.h"
#include "calibration/families/families.h"
#include "calibration/readback_check.h"

namespace offsetprobe::families {

namespace {

// nsproxy -> *_ns -> ns.inum in L and N; T shares L's nsproxy.
void verify(ReadbackCheck &c) {
  const Trial &t = c.trial();
  const ReadValues &L = c.seen(Role::leader), &T = c.seen(Role::thread),
                   &N = c.seen(Role::unshared);
  auto u32 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint32_t>(k); };
  auto u64 = [](const ReadValues &r, Step k) { return r.value_or_zero<uint64_t>(k); };
  const std::string np = "task_struct.nsproxy";
  bool all_ns = true;
  for (const auto &kind : kNsKinds) {
    const char *proc = kind.proc;
    std::string ptr = std::string("nsproxy.") + kind.member;
    Step inum = c.step({np, ptr, std::string(kind.struct_name) + ".ns.inum"});
    bool ok = t.leader.ns_inum.count(proc) && t.unshared.ns_inum.count(proc);
    std::string got;
    for (auto [rb, s] : {std::pair{&L, &t.leader}, std::pair{&N, &t.unshared}}) {
      if (!ok)
        break;
      ok = rb->has(inum) && u32(*rb, inum) == s->ns_inum.at(proc);
      got += std::to_string(u32(*rb, inum)) + " ";
    }
    std::string detail =
        std::string(proc) + " inode read back as " + got + "(L, N), want " +
        (t.leader.ns_inum.count(proc)
             ? std::to_string(t.leader.ns_inum.at(proc)) + " " +
                   std::to_string(t.unshared.ns_inum.count(proc) ? t.unshared.ns_inum.at(proc) : 0)
             : "-");
    c.check(ptr, ok, detail);
    c.check(std::string(kind.struct_name) + ".ns.inum", ok, detail);
    if (c.offset(ptr))
      all_ns = all_ns && ok;
  }
  Step p = c.step({np});
  c.check(np, all_ns && L.has(p) && N.has(p) && u64(L, p) != u64(N, p) && u64(T, p) == u64(L, p),
          "nsproxy does not lead to L's and N's namespaces");
}

} // namespace

Family ns() {
  Family f;
  f.name = "ns";
  f.summary = "task_struct.nsproxy, its namespace pointers, and each namespace's ns.inum";
  FieldDef np;
  np.struct_name = "task_struct";
  np.member = "nsproxy";
  np.size = 8;
  np.align = 8;
  np.known = "shared by L, T, G and C; different in N, which unshared its namespaces";
  f.fields.push_back(np);
  for (const auto &k : kNsKinds) {
    FieldDef d;
    d.struct_name = "nsproxy";
    d.member = k.member;
    d.size = 8;
    d.align = 8;
    d.via = {"task_struct.nsproxy"};
    d.absent = std::string("kernels without a ") + k.proc + " namespace (no /proc/<pid>/ns/" +
               k.proc + ")";
    d.known = std::string("leads to the inode of /proc/<pid>/ns/") + k.proc + " of L and of N";
    f.fields.push_back(d);
  }
  for (const auto &k : kNsKinds) {
    FieldDef d;
    d.struct_name = k.struct_name;
    d.member = "ns.inum";
    d.size = 4;
    d.align = 4;
    d.via = {std::string("nsproxy.") + k.member};
    d.absent = std::string("kernels without a ") + k.proc + " namespace";
    d.known = std::string("the inode of /proc/<pid>/ns/") + k.proc + " of L and of N";
    f.fields.push_back(d);
  }
  f.roles = {{Role::unshared, "N: forked by L, unshares every namespace it can"}};
  f.rule = "The nsproxy candidate is the pointer shared by L, T, G and C but not N whose "
           "pointee holds, word by word, pointers to structs that hold L's and N's inode "
           "numbers of each kind; one candidate group must lead to every present kind.";
  f.readback.push_back({{"task_struct.nsproxy"}});
  for (const auto &k : kNsKinds) {
    std::string ptr = std::string("nsproxy.") + k.member;
    f.readback.push_back({{"task_struct.nsproxy", ptr}});
    f.readback.push_back({{"task_struct.nsproxy", ptr, std::string(k.struct_name) + ".ns.inum"}});
  }
  f.verify = verify;
  return f;
}

} // namespace offsetprobe::families
