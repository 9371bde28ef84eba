// SPDX-License-Identifier: GPL-2.0-only
#include "connwatch/conn_record.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace offsetprobe::conn {

namespace {

// "field:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;" -> {"saddr", 32, 4}.
bool parse_field_line(std::string_view line, std::string &name, RecordField &f) {
  auto p = line.find("field:");
  if (p == std::string_view::npos)
    return false;
  auto semi = line.find(';', p);
  if (semi == std::string_view::npos)
    return false;
  std::string_view decl = line.substr(p + 6, semi - p - 6);
  if (auto br = decl.find('['); br != std::string_view::npos)
    decl = decl.substr(0, br);
  auto sp = decl.find_last_of(" *");
  name = std::string(sp == std::string_view::npos ? decl : decl.substr(sp + 1));
  auto number = [&](const char *key) -> std::optional<uint32_t> {
    auto k = line.find(key);
    if (k == std::string_view::npos)
      return std::nullopt;
    k += std::strlen(key);
    uint32_t v = 0;
    size_t digits = 0;
    while (k < line.size() && line[k] >= '0' && line[k] <= '9' && digits < 9) {
      v = v * 10 + uint32_t(line[k++] - '0');
      digits++;
    }
    if (!digits)
      return std::nullopt;
    return v;
  };
  auto off = number("offset:"), size = number("size:");
  if (!off || !size)
    return false;
  f = {*off, *size};
  return true;
}

template <typename T> T load(const unsigned char *p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

std::string v4_text(uint32_t be) {
  char buf[INET_ADDRSTRLEN] = {};
  in_addr a{};
  a.s_addr = be;
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::string v6_text(const unsigned char *p) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, p, buf, sizeof(buf));
  return buf;
}

} // namespace

std::optional<RecordLayout> parse_record_format(std::string_view text, std::string &error) {
  std::map<std::string, RecordField> fields;
  std::istringstream in{std::string(text)};
  std::string line, name;
  RecordField f;
  while (std::getline(in, line))
    if (parse_field_line(line, name, f))
      fields[name] = f;
  RecordLayout l;
  // The sizes are those of include/trace/events/sock.h since 4.16; a record
  // that disagrees is not one this decoder knows: refuse rather than misread.
  auto need = [&](const char *n, uint32_t size, RecordField &out) {
    auto it = fields.find(n);
    if (it == fields.end()) {
      error += std::string(error.empty() ? "" : "; ") + "no field " + n;
      return;
    }
    if (it->second.size != size) {
      error += std::string(error.empty() ? "" : "; ") + "field " + n + " has size " +
               std::to_string(it->second.size) + ", want " + std::to_string(size);
      return;
    }
    out = it->second;
    l.size = std::max(l.size, out.offset + out.size);
  };
  need("skaddr", 8, l.skaddr);
  need("oldstate", 4, l.oldstate);
  need("newstate", 4, l.newstate);
  need("sport", 2, l.sport);
  need("dport", 2, l.dport);
  need("family", 2, l.family);
  need("protocol", 2, l.protocol);
  need("saddr", 4, l.saddr);
  need("daddr", 4, l.daddr);
  for (auto [n, out] : {std::pair{"saddr_v6", &l.saddr_v6}, std::pair{"daddr_v6", &l.daddr_v6}})
    if (auto it = fields.find(n); it != fields.end() && it->second.size == 16) {
      *out = it->second;
      l.size = std::max(l.size, it->second.offset + 16);
    }
  if (!error.empty())
    return std::nullopt;
  if (l.size > OP_CONN_REC_MAX) {
    error = "the record is " + std::to_string(l.size) + " bytes, more than the " +
            std::to_string(OP_CONN_REC_MAX) + " the probe copies";
    return std::nullopt;
  }
  return l;
}

std::optional<RecordLayout> read_record_layout(std::string &error) {
  for (const char *root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::ifstream f(std::string(root) + "/events/sock/inet_sock_set_state/format");
    if (!f)
      continue;
    std::stringstream ss;
    ss << f.rdbuf();
    std::string why;
    auto l = parse_record_format(ss.str(), why);
    if (!l)
      error = std::string(root) + "/events/sock/inet_sock_set_state/format: " + why;
    return l;
  }
  error = "no events/sock/inet_sock_set_state/format under /sys/kernel/tracing or "
          "/sys/kernel/debug/tracing (is tracefs mounted? the event needs 4.16+)";
  return std::nullopt;
}

const char *tcp_state_name(int s) {
  static const char *const names[] = {
      "?",     "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
      "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
  return s > 0 && s < int(sizeof(names) / sizeof(names[0])) ? names[s] : "?";
}

std::string endpoint(const std::string &addr, uint16_t family, uint16_t port) {
  if (addr.empty())
    return "?:" + std::to_string(port);
  return (family == AF_INET6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

ConnRecord decode(const op_conn_event &e, const RecordLayout &l, const Known &known) {
  ConnRecord r;
  r.kind = e.kind;
  r.sk = e.sk;
  r.time_ns = e.time_ns;
  if (e.ok & OP_OK_STATE) {
    r.duration_ns = e.time_ns - e.st.start_ns;
    r.owner.how = e.st.owner;
    r.owner.tgid = e.st.tgid;
    r.owner.tid = e.st.tid;
    r.owner.start_ticks = e.st.start_ticks;
    r.owner.comm = std::string(e.st.comm, strnlen(e.st.comm, sizeof(e.st.comm)));
  }
  const unsigned char *rec = e.rec;
  r.oldstate = load<int32_t>(rec + l.oldstate.offset);
  r.newstate = load<int32_t>(rec + l.newstate.offset);
  r.family = e.family;
  r.lport = ntohs(e.sport);
  r.rport = ntohs(e.dport);
  auto mismatch = [&](const char *what, const std::string &read, const std::string &kernel) {
    r.compared++;
    if (read != kernel)
      r.mismatches.push_back(std::string(what) + ": read " + read + ", record " + kernel);
  };
  auto unread = [&](bool offset_known, uint32_t bit, const char *what) {
    if (offset_known && !(e.ok & bit))
      r.mismatches.push_back(std::string(what) + ": the read through its offset faulted");
    return offset_known && (e.ok & bit);
  };
  uint16_t rec_family = load<uint16_t>(rec + l.family.offset);
  if (unread(known.family, OP_OK_FAMILY, "family"))
    mismatch("family", std::to_string(e.family), std::to_string(rec_family));
  if (unread(known.sport, OP_OK_SPORT, "sport"))
    mismatch("sport", std::to_string(r.lport),
             std::to_string(load<uint16_t>(rec + l.sport.offset)));
  if (unread(known.dport, OP_OK_DPORT, "dport"))
    mismatch("dport", std::to_string(r.rport),
             std::to_string(load<uint16_t>(rec + l.dport.offset)));
  if (e.family == AF_INET) {
    if (unread(known.rcv_saddr, OP_OK_RCV_SADDR, "saddr")) {
      r.local = v4_text(e.rcv_saddr);
      mismatch("saddr", r.local, v4_text(load<uint32_t>(rec + l.saddr.offset)));
    }
    if (unread(known.daddr, OP_OK_DADDR, "daddr")) {
      r.remote = v4_text(e.daddr);
      mismatch("daddr", r.remote, v4_text(load<uint32_t>(rec + l.daddr.offset)));
    }
  } else if (e.family == AF_INET6) {
    if (unread(known.v6_rcv_saddr, OP_OK_V6_RCV_SADDR, "saddr_v6")) {
      r.local = v6_text(e.v6_rcv_saddr);
      if (l.saddr_v6)
        mismatch("saddr_v6", r.local, v6_text(rec + l.saddr_v6->offset));
    }
    if (unread(known.v6_daddr, OP_OK_V6_DADDR, "daddr_v6")) {
      r.remote = v6_text(e.v6_daddr);
      if (l.daddr_v6)
        mismatch("daddr_v6", r.remote, v6_text(rec + l.daddr_v6->offset));
    }
  }
  if (e.ok & OP_OK_NETNS)
    r.netns = e.netns;
  if (e.ok & OP_OK_BYTES_RECEIVED)
    r.bytes_received = e.bytes_received;
  if (e.ok & OP_OK_BYTES_ACKED)
    r.bytes_acked = e.bytes_acked;
  if (e.ok & OP_OK_SEGS_IN)
    r.segs_in = e.segs_in;
  if (e.ok & OP_OK_SEGS_OUT)
    r.segs_out = e.segs_out;
  if (e.ok & OP_OK_TOTAL_RETRANS)
    r.total_retrans = e.total_retrans;
  if (e.ok & OP_OK_SRTT)
    r.srtt_us = e.srtt_us;
  return r;
}

} // namespace offsetprobe::conn
