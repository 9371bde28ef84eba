// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe conn` without root: the tracefs record layout, the decoding
// of an event and its check against the kernel's own record (a value read
// through a wrong offset must be flagged), the owner check against /proc,
// the per-process totals, and the loader's spec against the BPF object as
// built.
#include "bpf/runtime/libbpf_object.h"
#include "connwatch/conn_record.h"
#include "connwatch/conn_session.h"
#include "connwatch/conn_tracker.h"

#include "connwatch.skel.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <map>

namespace offsetprobe::test {

namespace {

using namespace conn;

// The format of 6.18 (tracefs), as the kernel prints it.
const char *kFormat618 = R"(name: inet_sock_set_state
ID: 2287
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:const void * skaddr;	offset:8;	size:8;	signed:0;
	field:int oldstate;	offset:16;	size:4;	signed:1;
	field:int newstate;	offset:20;	size:4;	signed:1;
	field:__u16 sport;	offset:24;	size:2;	signed:0;
	field:__u16 dport;	offset:26;	size:2;	signed:0;
	field:__u16 family;	offset:28;	size:2;	signed:0;
	field:__u16 protocol;	offset:30;	size:2;	signed:0;
	field:__u8 saddr[4];	offset:32;	size:4;	signed:0;
	field:__u8 daddr[4];	offset:36;	size:4;	signed:0;
	field:__u8 saddr_v6[16];	offset:40;	size:16;	signed:0;
	field:__u8 daddr_v6[16];	offset:56;	size:16;	signed:0;

print fmt: "family=%s ..."
)";

RecordLayout layout618() {
  std::string err;
  auto l = parse_record_format(kFormat618, err);
  REQUIRE_MESSAGE(l, err);
  return *l;
}

Known all_known() {
  return {true, true, true, true, true, true, true};
}

template <typename T> void put(op_conn_event &e, uint32_t off, T v) {
  std::memcpy(e.rec + off, &v, sizeof(v));
}

// A closed v4 connection 127.1.2.3:40000 -> 127.4.5.6:8080, read and
// recorded alike.
op_conn_event v4_event(const RecordLayout &l) {
  op_conn_event e{};
  e.sk = 0xffff888012345600ull;
  e.kind = OP_CONN_CLOSE;
  e.time_ns = 5'000'000'000ull;
  e.st.start_ns = 3'500'000'000ull;
  e.st.owner = OP_OWNER_CONNECT;
  e.st.tgid = 4242;
  e.st.tid = 4243;
  e.st.start_ticks = 777;
  std::strcpy(e.st.comm, "curl");
  e.ok = OP_OK_STATE | OP_OK_FAMILY | OP_OK_SPORT | OP_OK_DPORT | OP_OK_RCV_SADDR | OP_OK_DADDR |
         OP_OK_NETNS | OP_OK_BYTES_RECEIVED | OP_OK_SRTT;
  e.family = AF_INET;
  e.sport = htons(40000);
  e.dport = htons(8080);
  inet_pton(AF_INET, "127.1.2.3", &e.rcv_saddr);
  inet_pton(AF_INET, "127.4.5.6", &e.daddr);
  e.netns = 4026532177u;
  e.bytes_received = 1001;
  e.srtt_us = 80;
  put<uint64_t>(e, l.skaddr.offset, e.sk);
  put<int32_t>(e, l.oldstate.offset, 5);
  put<int32_t>(e, l.newstate.offset, 7);
  put<uint16_t>(e, l.sport.offset, 40000);
  put<uint16_t>(e, l.dport.offset, 8080);
  put<uint16_t>(e, l.family.offset, AF_INET);
  put<uint16_t>(e, l.protocol.offset, IPPROTO_TCP);
  std::memcpy(e.rec + l.saddr.offset, &e.rcv_saddr, 4);
  std::memcpy(e.rec + l.daddr.offset, &e.daddr, 4);
  return e;
}

struct FakeProc : ProcSource {
  std::map<uint32_t, ProcStat> procs;
  std::optional<ProcStat> stat(uint32_t tgid) override {
    auto it = procs.find(tgid);
    if (it == procs.end())
      return std::nullopt;
    return it->second;
  }
};

} // namespace

TEST_CASE("conn record format: the 6.18 layout, and refusals") {
  RecordLayout l = layout618();
  CHECK(l.skaddr.offset == 8);
  CHECK(l.newstate.offset == 20);
  CHECK(l.protocol.offset == 30);
  REQUIRE(l.daddr_v6);
  CHECK(l.daddr_v6->offset == 56);
  CHECK(l.size == 72);

  std::string err;
  std::string no_sport = kFormat618;
  no_sport.replace(no_sport.find("sport;"), 6, "spurt;");
  CHECK_FALSE(parse_record_format(no_sport, err));
  CHECK(err.find("no field sport") != std::string::npos);

  // A size this decoder does not know is refused, not misread.
  err.clear();
  std::string wide = kFormat618;
  wide.replace(wide.find("offset:24;\tsize:2;"), 18, "offset:24;\tsize:4;");
  CHECK_FALSE(parse_record_format(wide, err));
  CHECK(err.find("sport has size 4") != std::string::npos);

  // A record longer than the probe copies.
  err.clear();
  std::string longer = kFormat618;
  longer.replace(longer.find("offset:56;"), 10, "offset:156;");
  CHECK_FALSE(parse_record_format(longer, err));
  CHECK(err.find("more than the 128") != std::string::npos);

  // No IPv6 fields (a kernel without IPv6): v4 still works.
  err.clear();
  std::string v4only = kFormat618;
  for (const char *n : {"\tfield:__u8 saddr_v6[16];", "\tfield:__u8 daddr_v6[16];"}) {
    auto p = v4only.find(n);
    v4only.erase(p, v4only.find('\n', p) - p + 1);
  }
  auto l4 = parse_record_format(v4only, err);
  REQUIRE_MESSAGE(l4, err);
  CHECK_FALSE(l4->saddr_v6);
  CHECK(l4->size == 40);
}

TEST_CASE("conn decode: a v4 record that agrees with the kernel's") {
  RecordLayout l = layout618();
  ConnRecord r = decode(v4_event(l), l, all_known());
  CHECK(r.ok());
  CHECK(r.compared == 5); // family, sport, dport, saddr, daddr
  CHECK(r.local == "127.1.2.3");
  CHECK(r.remote == "127.4.5.6");
  CHECK(r.lport == 40000);
  CHECK(r.rport == 8080);
  CHECK(r.oldstate == 5);
  CHECK(r.newstate == 7);
  CHECK(r.owner.known());
  CHECK(r.owner.comm == "curl");
  REQUIRE(r.duration_ns);
  CHECK(*r.duration_ns == 1'500'000'000ull);
  CHECK(r.netns == 4026532177u);
  CHECK(r.bytes_received == 1001u);
  CHECK_FALSE(r.bytes_acked); // not read: reported as unknown, not 0
  CHECK_FALSE(r.segs_in);
  CHECK(endpoint(r.local, r.family, r.lport) == "127.1.2.3:40000");
}

TEST_CASE("conn decode: values read through a wrong offset are flagged") {
  RecordLayout l = layout618();
  // Decoy: the local port read from a word that holds the remote port (a
  // port-sized value at another offset): the record says otherwise.
  op_conn_event e = v4_event(l);
  e.sport = htons(8080);
  ConnRecord r = decode(e, l, all_known());
  CHECK_FALSE(r.ok());
  REQUIRE(r.mismatches.size() == 1);
  CHECK(r.mismatches[0] == "sport: read 8080, record 40000");

  // Decoy: address bytes equal to a port pair (daddr read from the ports).
  e = v4_event(l);
  uint32_t ports = (uint32_t(htons(40000)) << 16) | htons(8080);
  e.daddr = ports;
  r = decode(e, l, all_known());
  CHECK_FALSE(r.ok());
  CHECK(r.mismatches.size() == 1);
  CHECK(r.mismatches[0].starts_with("daddr: read "));

  // The family read from elsewhere.
  e = v4_event(l);
  e.family = 0;
  r = decode(e, l, all_known());
  CHECK_FALSE(r.ok());

  // A read that faulted is flagged, not silently shown.
  e = v4_event(l);
  e.ok &= ~OP_OK_DADDR;
  r = decode(e, l, all_known());
  CHECK_FALSE(r.ok());
  CHECK(r.mismatches[0] == "daddr: the read through its offset faulted");
  CHECK(r.remote.empty());

  // An offset that was not given is neither read nor checked.
  Known k = all_known();
  k.daddr = false;
  r = decode(e, l, k);
  CHECK(r.ok());
  CHECK(r.compared == 4);
}

TEST_CASE("conn decode: v6, checked against the record's v6 addresses") {
  RecordLayout l = layout618();
  op_conn_event e = v4_event(l);
  e.family = AF_INET6;
  put<uint16_t>(e, l.family.offset, AF_INET6);
  e.ok |= OP_OK_V6_RCV_SADDR | OP_OK_V6_DADDR;
  inet_pton(AF_INET6, "fd12:3456::1", e.v6_rcv_saddr);
  inet_pton(AF_INET6, "fd12:3456::2", e.v6_daddr);
  std::memcpy(e.rec + l.saddr_v6->offset, e.v6_rcv_saddr, 16);
  std::memcpy(e.rec + l.daddr_v6->offset, e.v6_daddr, 16);
  // A v6 socket's v4 fields (0 or 127.0.0.6) are not compared.
  e.rcv_saddr = 0x12345678;
  ConnRecord r = decode(e, l, all_known());
  CHECK(r.ok());
  CHECK(r.compared == 5);
  CHECK(r.local == "fd12:3456::1");
  CHECK(endpoint(r.remote, r.family, r.rport) == "[fd12:3456::2]:8080");
  // One byte off in the remote address.
  e.v6_daddr[15] = 3;
  r = decode(e, l, all_known());
  CHECK_FALSE(r.ok());
  CHECK(r.mismatches[0] == "daddr_v6: read fd12:3456::3, record fd12:3456::2");
}

TEST_CASE("conn owner: checked against /proc, unknown when not seen") {
  RecordLayout l = layout618();
  FakeProc proc;
  ConnRecord r = decode(v4_event(l), l, all_known());
  CHECK(check_owner(r.owner, proc) == OwnerCheck::exited);
  proc.procs[4242] = {777, "curl"};
  CHECK(check_owner(r.owner, proc) == OwnerCheck::ok);
  proc.procs[4242] = {778, "curl"}; // another process with the same pid
  CHECK(check_owner(r.owner, proc) == OwnerCheck::mismatch);
  op_conn_event e = v4_event(l);
  e.ok &= ~OP_OK_STATE; // began before the probe was attached
  r = decode(e, l, all_known());
  CHECK_FALSE(r.owner.known());
  CHECK_FALSE(r.duration_ns);
  CHECK(check_owner(r.owner, proc) == OwnerCheck::unknown);
}

TEST_CASE("conn tracker: totals per (tgid, start ticks)") {
  RecordLayout l = layout618();
  ConnTracker t;
  op_conn_event e = v4_event(l);
  t.add(decode(e, l, all_known()));
  t.add(decode(e, l, all_known()));
  e.st.start_ticks = 900; // the same pid, a later process
  e.sport = htons(1);     // and a record that disagrees
  t.add(decode(e, l, all_known()));
  e.ok &= ~OP_OK_STATE;
  t.add(decode(e, l, all_known()));
  auto p = t.processes();
  REQUIRE(p.size() == 3);
  CHECK(p[0].tgid == 4242);
  CHECK(p[0].start_ticks == 777);
  CHECK(p[0].connections == 2);
  CHECK(p[0].bytes_received == 2002);
  CHECK(t.closed() == 4);
  CHECK(t.mismatches() == 2);
}

TEST_CASE("conn spec: every constant, map and program is in connwatch.bpf.o") {
  ConnConfig cfg;
  cfg.layout = layout618();
  cfg.sock.family = 16;
  LibbpfElf elf{"op_connwatch", nullptr, 0};
  elf.bytes = op_connwatch__elf_bytes(&elf.size);
  CHECK(libbpf_spec_mismatch(conn_spec(cfg), elf) == "");
  Known k = known_of(cfg);
  CHECK(k.family);
  CHECK_FALSE(k.daddr);
}

} // namespace offsetprobe::test
