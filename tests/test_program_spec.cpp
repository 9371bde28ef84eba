// SPDX-License-Identifier: GPL-2.0-only
// NAME   program_spec
// RUN    the loaders' specs against the BPF objects as built (opened, never
//        loaded: no root), and ProgramSpec's -D flags
// EXPECT every constant, map and program a spec names is in its object, with
//        the spec's size (so a loader and its one-source program cannot drift
//        apart); a constant the object lacks, or of another size, is caught;
//        BCC gets each value as the program's compat.bpf.h expects it
#include "bpf/runtime/libbpf_object.h"
#include "bpf/runtime/program_spec.h"
#include "calibration/experiment/capture.h"
#include "calibration/experiment/net/sockscan_session.h"
#include "calibration/experiment/trigger.h"
#include "connwatch/conn_session.h"
#include "counting/counter_session.h"

#include "chainscan.skel.h"
#include "connwatch.skel.h"
#include "counter.skel.h"
#include "reader.h"
#include "reader.skel.h"
#include "scanner.skel.h"
#include "sockscan.skel.h"

#include <doctest/doctest.h>

#include <algorithm>

using namespace offsetprobe;

namespace {

LibbpfElf scanner_elf() {
  LibbpfElf e{"op_scanner", nullptr, 0};
  e.bytes = op_scanner__elf_bytes(&e.size);
  return e;
}
LibbpfElf chainscan_elf() {
  LibbpfElf e{"op_chainscan", nullptr, 0};
  e.bytes = op_chainscan__elf_bytes(&e.size);
  return e;
}
LibbpfElf reader_elf() {
  LibbpfElf e{"op_reader", nullptr, 0};
  e.bytes = op_reader__elf_bytes(&e.size);
  return e;
}
LibbpfElf counter_elf() {
  LibbpfElf e{"op_counter", nullptr, 0};
  e.bytes = op_counter__elf_bytes(&e.size);
  return e;
}

bool has(const std::vector<std::string> &v, const std::string &s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const TriggerMode kModes[] = {TriggerMode::tracepoint, TriggerMode::raw_tracepoint,
                              TriggerMode::uprobe};

} // namespace

TEST_CASE("the calibration's specs match their objects, in every trigger mode") {
  ChainPlan plan;
  plan.ptr_offsets = {1368, 1376, 2000};
  plan.nested_of = {1};
  ReadPlan rp;
  rp.add({std::nullopt, 1000, 4, kAtTrigger, "task_struct.pid"});
  uint32_t ns = rp.add({std::nullopt, 1400, 8, kAtTrigger | kAtExit, "task_struct.nsproxy"});
  rp.add({ns, 8, 8, kAtTrigger, "nsproxy.uts_ns"});
  for (TriggerMode m : kModes) {
    CAPTURE(to_string(m));
    CHECK(libbpf_spec_mismatch(with_trigger(scanner_spec(45), m, kScannerHooks, false),
                               scanner_elf()) == "");
    CHECK(libbpf_spec_mismatch(with_trigger(chainscan_spec(plan, 9), m, kChainscanHooks, false),
                               chainscan_elf()) == "");
    CHECK(libbpf_spec_mismatch(with_trigger(reader_spec(rp), m, kReaderHooks, false),
                               reader_elf()) == "");
  }
}

TEST_CASE("the reader's spec: rodata steps for libbpf, export names for BCC") {
  ReadPlan rp;
  rp.add({std::nullopt, 1000, 4, kAtTrigger, "task_struct.pid"});
  uint32_t ns = rp.add({std::nullopt, 1400, 8, kAtTrigger | kAtExit, "task_struct.nsproxy"});
  rp.add({ns, 8, 8, kAtTrigger, "nsproxy.uts_ns"});
  rp.add({std::nullopt, 1000, 4, kAtTrigger, "task_struct.pid"}); // the same field again
  ProgramSpec spec = reader_spec(rp);
  auto f = spec.bcc_cflags();
  // Each offset once, under the export name a BCC consumer compiles with.
  CHECK(std::count(f.begin(), f.end(), "-DOFFSETPROBE_TASK_STRUCT_PID=1000U") == 1);
  CHECK(has(f, "-DOFFSETPROBE_TASK_STRUCT_NSPROXY=1400U"));
  CHECK(has(f, "-DOFFSETPROBE_NSPROXY_UTS_NS=8U"));
  CHECK(has(f, "-DOP_PLAN=OP_STEP(0, 0, OFFSETPROBE_TASK_STRUCT_PID, 4, 1) "
               "OP_STEP(1, 0, OFFSETPROBE_TASK_STRUCT_NSPROXY, 8, 3) "
               "OP_STEP(2, 2, OFFSETPROBE_NSPROXY_UTS_NS, 8, 1) "
               "OP_STEP(3, 0, OFFSETPROBE_TASK_STRUCT_PID, 4, 1) "));
  // libbpf: the same steps as words of struct op_read_step.
  auto constant = [&spec](const char *name) -> const ProgramConstant * {
    for (const auto &c : spec.constants())
      if (c.name == name)
        return &c;
    return nullptr;
  };
  const ProgramConstant *steps = constant("steps");
  REQUIRE(steps);
  CHECK(steps->values ==
        std::vector<uint64_t>{0, 1000, 4, 1, 0, 1400, 8, 3, 2, 8, 8, 1, 0, 1000, 4, 1});
  REQUIRE(constant("nr_steps"));
  CHECK(constant("nr_steps")->values == std::vector<uint64_t>{4});
  REQUIRE(constant("nr_exit_steps")); // up to the last step read at exit
  CHECK(constant("nr_exit_steps")->values == std::vector<uint64_t>{2});
  // One field with two offsets is a broken plan.
  ReadPlan bad;
  bad.add({std::nullopt, 1000, 4, kAtTrigger, "task_struct.pid"});
  bad.add({std::nullopt, 1004, 4, kAtTrigger, "task_struct.pid"});
  CHECK_THROWS(reader_spec(bad));
  // The exit program unrolls fewer steps than the trigger program: a plan
  // whose exit steps go past its bound is refused, not half read at exit.
  ReadPlan late;
  for (uint32_t i = 0; i < OP_MAX_EXIT_STEPS; i++)
    late.add({std::nullopt, 8 * i, 8, kAtTrigger, ""});
  CHECK_NOTHROW(reader_spec(late));
  late.add({std::nullopt, 2000, 4, kAtTrigger | kAtExit, "task_struct.exit_code"});
  CHECK_THROWS(reader_spec(late));
}

TEST_CASE("the counting probe's spec matches its object, on both hooks") {
  CounterConfig c;
  c.syscall_nrs = {0, 39, 469};
  c.syscall_names = {"read", "getpid", "clone3"};
  c.pidns = PidNamespace{4, 4026532000};
  for (CountHook h : {CountHook::raw_tracepoint, CountHook::tracepoint}) {
    c.hook = h;
    CHECK(libbpf_spec_mismatch(counter_spec(c), counter_elf()) == "");
  }
}

TEST_CASE("the socket scanner's spec matches its object, both modes") {
  LibbpfElf elf{"op_sockscan", nullptr, 0};
  elf.bytes = op_sockscan__elf_bytes(&elf.size);
  for (bool readback_only : {false, true}) {
    CHECK(libbpf_spec_mismatch(net::sockscan_spec(1440, readback_only), elf) == "");
    CHECK(libbpf_spec_mismatch(net::sockscan_spec(std::nullopt, readback_only), elf) == "");
  }
  // BCC gets every constant as the program's OP_CONST names it.
  auto flags = net::sockscan_spec(1440, true).bcc_cflags();
  for (const char *want : {"-DOP_SK_INUM_OFFSET=1440U", "-DOP_SK_READBACK_ONLY=1"})
    CHECK(std::find(flags.begin(), flags.end(), want) != flags.end());
}

TEST_CASE("the connection probe's spec matches its object, offsets known or not") {
  LibbpfElf elf{"op_connwatch", nullptr, 0};
  elf.bytes = op_connwatch__elf_bytes(&elf.size);
  conn::ConnConfig none;
  conn::ConnConfig all;
  auto &s = all.sock;
  s.family = 16;
  s.sport = 796;
  s.dport = 12;
  s.rcv_saddr = 4;
  s.daddr = 0;
  s.v6_rcv_saddr = 72;
  s.v6_daddr = 56;
  s.net = 48;
  s.inum = 160;
  s.bytes_received = 1560;
  s.srtt = 1720;
  all.off_group_leader = 1328;
  CHECK(libbpf_spec_mismatch(conn::conn_spec(none), elf) == "");
  CHECK(libbpf_spec_mismatch(conn::conn_spec(all), elf) == "");
  // BCC gets the offsets it is given as `export --format bcc-cflags` names
  // them, and no macro for the others (the program defaults them to none).
  auto flags = conn::conn_spec(all).bcc_cflags();
  for (const char *want :
       {"-DOFFSETPROBE_SOCK_COMMON_SKC_FAMILY=16", "-DOFFSETPROBE_INET_SOCK_INET_SPORT=796",
        "-DOFFSETPROBE_SOCK_COMMON_SKC_DADDR=0", "-DOFFSETPROBE_SOCK_COMMON_SKC_V6_DADDR=56",
        "-DOFFSETPROBE_SOCK_COMMON_SKC_NET=48", "-DOFFSETPROBE_NET_NS_INUM=160",
        "-DOFFSETPROBE_TCP_SOCK_BYTES_RECEIVED=1560", "-DOFFSETPROBE_TCP_SOCK_SRTT_US=1720",
        "-DOFFSETPROBE_TASK_STRUCT_GROUP_LEADER=1328", "-DOP_CONN_ENTRIES=65536"})
    CHECK_MESSAGE(has(flags, want), want);
  for (const auto &f : flags)
    CHECK_MESSAGE(f.find("BYTES_ACKED") == std::string::npos, f);
  auto bare = conn::conn_spec(none).bcc_cflags();
  CHECK(std::none_of(bare.begin(), bare.end(),
                     [](const std::string &f) { return f.starts_with("-DOFFSETPROBE_SOCK"); }));
  // skc_net without net.ns.inum is not followed: neither is given.
  all.sock.inum.reset();
  flags = conn::conn_spec(all).bcc_cflags();
  CHECK_FALSE(has(flags, "-DOFFSETPROBE_SOCK_COMMON_SKC_NET=48"));
}

TEST_CASE("a spec the object does not fit is caught") {
  // Negative controls: the checks above can fail.
  ProgramSpec unknown("the scanner");
  unknown.u32("no_such_constant", "OP_X", 1);
  CHECK(libbpf_spec_mismatch(unknown, scanner_elf()).find("no_such_constant") != std::string::npos);
  ProgramSpec wide("the scanner");
  wide.u64("nr_chunks", "OP_NR_CHUNKS", 1); // a __u32 in the program
  CHECK(libbpf_spec_mismatch(wide, scanner_elf()).find("nr_chunks") != std::string::npos);
  ProgramSpec too_many("the chain scanner");
  too_many.u32_array("nested_of", "OP_NESTED_OF", {1, 2, 3}); // 2 in the program
  CHECK(libbpf_spec_mismatch(too_many, chainscan_elf()).find("nested_of") != std::string::npos);
  ProgramSpec no_map("the counting probe");
  no_map.map_size("no_such_map", "OP_Y", 8);
  CHECK(libbpf_spec_mismatch(no_map, counter_elf()).find("no_such_map") != std::string::npos);
  ProgramSpec no_prog("the scanner");
  no_prog.load("no_such_program");
  CHECK(libbpf_spec_mismatch(no_prog, scanner_elf()).find("no_such_program") != std::string::npos);
}

TEST_CASE("ProgramSpec: BCC gets each value as compat.bpf.h expects it") {
  ProgramSpec s("a program");
  s.u32("a", "OP_A", 7)
      .u64("b", "OP_B", 1ull << 40)
      .s64("c", "OP_C", -42)
      .offset("d", "OFFSETPROBE_TASK_STRUCT_PID", 1328)
      .flag("e", "OP_E", true)
      .u32_array("f", "OP_F", {1368, 1376})
      .u32_array("g", "OP_G", {})
      .u64_words("h", "OP_H_W", {0x8000000000000001ull, 0})
      .map_size("m1", "OP_ENTRIES", 1024)
      .map_size("m2", "OP_ENTRIES", 1024)
      .bcc_define("OP_WANT_RAW");
  auto f = s.bcc_cflags();
  CHECK(has(f, "-DOP_A=7U"));
  CHECK(has(f, "-DOP_B=1099511627776ULL"));
  CHECK(has(f, "-DOP_C=(-42LL)"));
  CHECK(has(f, "-DOFFSETPROBE_TASK_STRUCT_PID=1328")); // as `export` prints it
  CHECK(has(f, "-DOP_E=1"));
  CHECK(has(f, "-DOP_F=1368U,1376U"));
  CHECK(has(f, "-DOP_G="));
  CHECK(has(f, "-DOP_H_W0=0x8000000000000001ULL"));
  CHECK(has(f, "-DOP_H_W1=0x0ULL"));
  CHECK(has(f, "-DOP_WANT_RAW"));
  // Two maps sized alike share their macro: one definition.
  CHECK(std::count(f.begin(), f.end(), "-DOP_ENTRIES=1024") == 1);
  // What libbpf writes: the same values, at the variable's width.
  REQUIRE(s.constants().size() == 8);
  CHECK(s.constants()[2].values == std::vector<uint64_t>{static_cast<uint64_t>(-42ll)});
  CHECK(s.constants()[2].width == 8);
  CHECK(s.constants()[5].values == std::vector<uint64_t>{1368, 1376});
  CHECK(s.constants()[5].width == 4);
}
