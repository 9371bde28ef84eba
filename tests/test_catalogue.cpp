// SPDX-License-Identifier: GPL-2.0-only
// The field catalogue (calibration/model/catalogue.h) and the generic read-back
// plan: the catalogue is consistent with itself and with the solvers' field
// lists, --fields selects families and fields, and the read-back plan walks
// each field from the task through the pointers the catalogue declares.
#include "calibration/model/catalogue.h"
#include "calibration/solve/chains.h"
#include "calibration/solve/solver.h"

#include "reader.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

namespace offsetprobe::test {

namespace {

// Every catalogue field calibrated at a distinct made-up offset.
std::vector<FieldResult> all_calibrated() {
  std::vector<FieldResult> out = FieldSelection::all().results();
  uint32_t off = 16;
  for (auto &f : out) {
    f.status = FieldStatus::calibrated;
    f.offset = off;
    off += 16;
  }
  return out;
}

std::vector<std::string> names(const std::vector<FieldResult> &fs) {
  std::vector<std::string> out;
  for (const auto &f : fs)
    out.push_back(f.name);
  return out;
}

} // namespace

TEST_CASE("catalogue: every field once, and the solvers report them in its order") {
  std::vector<std::string> want = names(task_struct_fields());
  for (const auto &n : names(chain_fields()))
    want.push_back(n);
  CHECK(want.size() == 48);
  // A family with its own experiment reports its fields after the engine's.
  for (const auto &fam : catalogue())
    if (!fam.experiment.empty())
      for (const auto &f : fam.fields)
        want.push_back(f.name());
  CHECK(names(FieldSelection::all().results()) == want);
  size_t net = 0;
  for (const auto &f : catalogue().back().fields)
    net += f.struct_name != "";
  CHECK(catalogue().back().name == "net");
  CHECK(net == 38);
  std::set<std::string> seen;
  for (const auto &fam : catalogue())
    for (const auto &f : fam.fields) {
      CHECK_MESSAGE(seen.insert(f.name()).second, f.name());
      CHECK(find_field(f.name()) == &f);
      CHECK(family_of(f.name()) == &fam);
    }
  CHECK(find_field("task_struct.nope") == nullptr);
  CHECK(find_field("task_struct.start_boottime")->aliases ==
        std::vector<std::string>{"real_start_time"});
}

TEST_CASE("catalogue: each field is declared whole") {
  for (const auto &fam : catalogue()) {
    CHECK_MESSAGE(!fam.roles.empty(), fam.name);
    CHECK_MESSAGE(!fam.rule.empty(), fam.name);
    for (const auto &f : fam.fields) {
      INFO(f.name());
      CHECK(f.size > 0);
      // The generic reader reads at most OP_STEP_BYTES; a family with its
      // own read-back may declare an embedded struct (mount.mnt).
      CHECK((f.size <= OP_STEP_BYTES || !fam.experiment.empty()));
      CHECK(f.align > 0);
      CHECK(f.size % f.align == 0);
      CHECK(!f.known.empty());
      // Requires: a pointer field of the catalogue.
      for (const auto &r : f.via) {
        REQUIRE(find_field(r) != nullptr);
        CHECK(find_field(r)->size == 8);
      }
      // Uses: fields of other families.
      for (const auto &u : f.uses) {
        REQUIRE(find_field(u) != nullptr);
        CHECK(family_of(u) != &fam);
      }
      // A family with its own experiment reads itself back there.
      if (!fam.experiment.empty())
        continue;
      // The read-back reads it, through each pointer it is reached by.
      size_t read = 0;
      for (const auto &rb : fam.readback)
        if (rb.path.back() == f.name())
          read++;
      CHECK(read >= std::max<size_t>(1, f.via.size()));
    }
  }
}

TEST_CASE("catalogue: the stage plan of its Requires graph") {
  auto all = FieldSelection::all();
  auto plan = plan_stages(field_graph(&all));
  REQUIRE(plan.error.empty());
  REQUIRE(plan.stages.size() == 2);
  CHECK(std::count(plan.stages[0].begin(), plan.stages[0].end(), "task_struct.pid") == 1);
  CHECK(std::count(plan.stages[1].begin(), plan.stages[1].end(), "uts_namespace.ns.inum") == 1);
  auto task = FieldSelection::base();
  CHECK(plan_stages(field_graph(&task)).stages.size() == 1);
  std::string why;
  auto audit = FieldSelection::parse("audit", why);
  REQUIRE(audit);
  CHECK(plan_stages(field_graph(&*audit)).stages.size() == 1); // in task_struct's own bytes
}

TEST_CASE("--fields: families, fields and all") {
  std::string why;
  auto task = FieldSelection::parse("task", why);
  REQUIRE(task);
  CHECK(task->names() == FieldSelection::base().names());
  CHECK(task->names().size() == 9);
  CHECK_FALSE(task->beyond_task());
  auto all = FieldSelection::parse("all", why);
  REQUIRE(all);
  CHECK(all->names() == FieldSelection::all().names());
  CHECK(all->beyond_task());

  auto cred = FieldSelection::parse("task,cred", why);
  REQUIRE(cred);
  CHECK(cred->names().size() == 9 + 2 + 8);
  CHECK(cred->has("cred.fsgid"));
  CHECK_FALSE(cred->has("task_struct.nsproxy"));

  // A field brings what it is reached through, and the task family.
  auto uid = FieldSelection::parse("cred.uid", why);
  REQUIRE(uid);
  CHECK(uid->has("task_struct.real_cred"));
  CHECK(uid->has("task_struct.cred"));
  CHECK(uid->has("task_struct.pid"));
  CHECK_FALSE(uid->has("cred.gid"));
  auto inum = FieldSelection::parse("net.ns.inum", why);
  REQUIRE(inum);
  CHECK(inum->has("nsproxy.net_ns"));
  CHECK(inum->has("task_struct.nsproxy"));
  CHECK(names(inum->results()).back() == "net.ns.inum"); // report order

  // The net family brings the ns family's net.ns.inum (skc_net is found
  // through it) and what that is reached through; it takes no chain stage
  // of its own.
  auto net = FieldSelection::parse("sock_common.skc_net", why);
  REQUIRE(net);
  CHECK(net->has("net.ns.inum"));
  CHECK(net->has("nsproxy.net_ns"));
  CHECK(net->beyond_task());
  CHECK_FALSE(net->has("sock_common.skc_daddr"));
  auto plan = plan_stages(field_graph(&*net));
  REQUIRE(plan.error.empty());
  for (const auto &stage : plan.stages)
    CHECK(std::count(stage.begin(), stage.end(), "sock_common.skc_net") == 0);
  auto fam = FieldSelection::parse("net", why);
  REQUIRE(fam);
  CHECK(fam->has("sock.sk_mark"));
  CHECK(fam->has("net.ns.inum"));

  // A pointer selected alone brings the fields behind it: it is found only
  // by what it points at (each of these was "unresolved" alone before).
  auto mm = FieldSelection::parse("task_struct.mm", why);
  REQUIRE(mm);
  CHECK(mm->has("mm_struct.start_code"));
  CHECK(mm->has("mm_struct.env_end"));
  CHECK(mm->has("task_struct.active_mm"));
  auto ns = FieldSelection::parse("task_struct.nsproxy", why);
  REQUIRE(ns);
  CHECK(ns->has("nsproxy.uts_ns"));
  CHECK(ns->has("uts_namespace.ns.inum"));
  CHECK(ns->has("net.ns.inum"));
  auto uts = FieldSelection::parse("nsproxy.uts_ns", why);
  REQUIRE(uts);
  CHECK(uts->has("uts_namespace.ns.inum"));
  CHECK_FALSE(uts->has("nsproxy.ipc_ns")); // nsproxy has a field behind it: uts_ns
  auto real_cred = FieldSelection::parse("task_struct.real_cred", why);
  REQUIRE(real_cred);
  CHECK(real_cred->names().size() == 9 + 2 + 8);
  // ... and only when none is selected, whatever the order of the names.
  for (std::string text :
       {"task_struct.mm,mm_struct.start_brk", "mm_struct.start_brk,task_struct.mm"}) {
    auto one = FieldSelection::parse(text, why);
    REQUIRE(one);
    CHECK_MESSAGE(one->has("mm_struct.start_brk"), text);
    CHECK_MESSAGE(!one->has("mm_struct.start_code"), text);
  }

  for (std::string bad : {"", "bogus", "task,", ",task", "task,,cred", "cred.nope", "ALL"}) {
    why.clear();
    CHECK_MESSAGE(!FieldSelection::parse(bad, why), bad);
    CHECK(!why.empty());
  }
}

TEST_CASE("subject hooks: only the selected families' run in the subjects") {
  std::string why;
  auto parse = [&](const std::string &text) {
    auto sel = FieldSelection::parse(text, why);
    REQUIRE(sel);
    return subject_hooks_arg(*sel);
  };
  // sched is the one family with an in_subject hook today: its real-time
  // thread and negative nice values are set only when it is asked for.
  CHECK(parse("task") == "-");
  CHECK(parse("task,cred,ns,mm,audit") == "-");
  CHECK(parse("sched") == "sched");
  CHECK(parse("task_struct.policy") == "sched");
  CHECK(parse("all") == "sched");
}

TEST_CASE("read-back plan: every field, from the task or through its pointers") {
  auto fields = all_calibrated();
  ReadbackPlan rp = readback_plan(fields);
  const auto &steps = rp.plan.steps();
  REQUIRE(steps.size() <= OP_MAX_STEPS);
  // The steps read at exit come first, within the exit program's unroll.
  size_t exit_bound = 0;
  for (size_t i = 0; i < steps.size(); i++)
    if (steps[i].sites & kAtExit)
      exit_bound = i + 1;
  CHECK(exit_bound > 0);
  CHECK(exit_bound <= OP_MAX_EXIT_STEPS);
  auto off = [&](const std::string &n) {
    return *std::find_if(fields.begin(), fields.end(), [&](const FieldResult &f) {
              return f.name == n;
            })->offset;
  };

  auto pid = rp.at({"task_struct.pid"});
  REQUIRE(pid);
  CHECK_FALSE(steps[*pid].parent);
  CHECK(steps[*pid].offset == off("task_struct.pid"));
  CHECK(steps[*pid].size == 4);
  CHECK(steps[*pid].field == "task_struct.pid");

  // group_leader->pid: read through the group_leader step.
  auto gl = rp.at({"task_struct.group_leader"});
  auto gl_pid = rp.at({"task_struct.group_leader", "task_struct.pid"});
  REQUIRE(gl);
  REQUIRE(gl_pid);
  CHECK(steps[*gl_pid].parent == gl);
  CHECK(steps[*gl_pid].offset == off("task_struct.pid"));

  // Two pointers: nsproxy -> uts_ns -> ns.inum share their prefix steps.
  auto np = rp.at({"task_struct.nsproxy"});
  auto uts = rp.at({"task_struct.nsproxy", "nsproxy.uts_ns"});
  auto inum = rp.at({"task_struct.nsproxy", "nsproxy.uts_ns", "uts_namespace.ns.inum"});
  REQUIRE((np && uts && inum));
  CHECK(steps[*uts].parent == np);
  CHECK(steps[*inum].parent == uts);
  CHECK(steps[*inum].size == 4);

  // Hooks: exit_code only at exit, active_mm at both, its layout fields at
  // the trigger only.
  CHECK(steps[*rp.at({"task_struct.exit_code"})].sites == kAtExit);
  CHECK(steps[*rp.at({"task_struct.active_mm"})].sites == (kAtTrigger | kAtExit));
  CHECK(steps[*rp.at({"task_struct.active_mm", "mm_struct.env_end"})].sites == kAtTrigger);
  // What the calibrator marks as needing sched_process_exit when it could
  // not attach: only a field read back at exit alone.
  CHECK(read_only_at_exit("task_struct.exit_code"));
  CHECK_FALSE(read_only_at_exit("task_struct.active_mm"));
  CHECK_FALSE(read_only_at_exit("task_struct.pid"));
  CHECK_FALSE(read_only_at_exit("no_such.field"));

  // Every field is read at least once (a family with its own experiment
  // reads its fields back itself: it declares no read-back paths; sched,
  // solved outside the engine's solvers, is read through the plan).
  std::set<std::string> read;
  for (const auto &s : steps)
    read.insert(s.field);
  size_t own = 0;
  for (const auto &f : fields)
    own += family_of(f.name)->readback.empty();
  CHECK(read.size() == fields.size() - own);
}

TEST_CASE("read-back plan: nothing through a field that was not calibrated") {
  auto fields = all_calibrated();
  for (auto &f : fields)
    if (f.name == "task_struct.real_cred" || f.name == "cred.gid" ||
        f.name == "task_struct.parent") {
      f.status = FieldStatus::ambiguous;
      f.offset.reset();
    }
  ReadbackPlan rp = readback_plan(fields);
  CHECK_FALSE(rp.at({"task_struct.real_cred"}));
  CHECK_FALSE(rp.at({"task_struct.real_cred", "cred.uid"}));
  CHECK(rp.at({"task_struct.cred", "cred.uid"}));
  CHECK_FALSE(rp.at({"task_struct.cred", "cred.gid"}));
  CHECK_FALSE(rp.at({"task_struct.parent", "task_struct.pid"}));
  CHECK(rp.at({"task_struct.real_parent", "task_struct.tgid"}));
  CHECK(readback_plan({}).plan.empty());
}

TEST_CASE("read plan: the invariants the reader program relies on") {
  ReadPlan p;
  uint32_t ptr = p.add({std::nullopt, 8, 8, kAtTrigger, "a.p"});
  uint32_t word = p.add({std::nullopt, 16, 4, kAtTrigger | kAtExit, "a.w"});
  CHECK(p.add({ptr, 4, 4, kAtTrigger, "b.x"}) == 2);
  CHECK_THROWS(p.add({word, 0, 4, kAtTrigger, "b.y"}));         // parent is no pointer
  CHECK_THROWS(p.add({ptr, 0, 4, kAtExit, "b.y"}));             // parent not read at exit
  CHECK_THROWS(p.add({7u, 0, 4, kAtTrigger, "b.y"}));           // no such step
  CHECK_THROWS(p.add({std::nullopt, 0, 0, kAtTrigger, "b.y"})); // empty
  CHECK_THROWS(p.add({std::nullopt, 0, OP_STEP_BYTES + 1, kAtTrigger, "b.y"}));
  CHECK_THROWS(p.add({std::nullopt, 0, 4, 0, "b.y"}));
  ReadPlan full;
  for (uint32_t i = 0; i < OP_MAX_STEPS; i++)
    full.add({std::nullopt, i, 4, kAtTrigger, "x"});
  CHECK_THROWS(full.add({std::nullopt, 0, 4, kAtTrigger, "x"}));
}

TEST_CASE("read values: typed views of a step's bytes") {
  ReadValues v;
  v.captured = true;
  v.ok = {true, false, true};
  v.raw = {{0x78, 0x56, 0x34, 0x12}, {1, 2, 3, 4}, {'a', 'b', 0, 'z'}};
  CHECK(v.get<uint32_t>(0u) == 0x12345678u);
  CHECK(v.get<uint64_t>(0u) == 0x12345678ull);
  CHECK_FALSE(v.get<uint32_t>(1u)); // the read failed
  CHECK(v.value_or_zero<uint32_t>(1u) == 0);
  CHECK_FALSE(v.get<uint32_t>(std::nullopt));
  CHECK_FALSE(v.get<uint32_t>(9u));
  CHECK(v.text(2u) == "ab");
  v.captured = false;
  CHECK_FALSE(v.has(0u));
}

} // namespace offsetprobe::test
