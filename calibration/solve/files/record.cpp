// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/files/record.h"

#include <cstdio>
#include <stdexcept>
#include <unistd.h>
#include <zlib.h>

namespace offsetprobe::files {

using nlohmann::json;

namespace {

std::string to_hex(const std::vector<uint8_t> &b) {
  static const char *d = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

std::vector<uint8_t> from_hex(const std::string &s) {
  if (s.size() % 2)
    throw std::runtime_error("files capture: odd hex length");
  auto v = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9')
      return uint8_t(c - '0');
    if (c >= 'a' && c <= 'f')
      return uint8_t(c - 'a' + 10);
    throw std::runtime_error("files capture: bad hex digit");
  };
  std::vector<uint8_t> b(s.size() / 2);
  for (size_t i = 0; i < b.size(); i++)
    b[i] = uint8_t(v(s[2 * i]) << 4 | v(s[2 * i + 1]));
  return b;
}

json response_json(const WalkResponse &r) {
  // Each chunk's bytes that were read, as hex: unreadable ones are zeros
  // and left out to keep records small ("" for a chunk that was not read, a
  // shorter string for one read up to a page that faulted).
  json chunks = json::array();
  for (size_t c = 0; c * kChunk < r.bytes.size(); c++) {
    size_t n = c < r.chunk_read.size() ? r.chunk_read[c] : 0;
    auto from = r.bytes.begin() + c * kChunk;
    std::vector<uint8_t> part(from, from + std::min(n, r.bytes.size() - c * kChunk));
    chunks.push_back(to_hex(part));
  }
  return {{"task", r.task}, {"ptrs", r.ptrs}, {"done", r.done}, {"chunks", chunks}};
}

WalkResponse response_from_json(const json &j) {
  WalkResponse r;
  r.task = j.at("task").get<uint64_t>();
  r.ptrs = j.at("ptrs").get<std::vector<uint64_t>>();
  r.done = j.at("done").get<bool>();
  size_t c = 0;
  for (const auto &ch : j.at("chunks")) {
    auto b = from_hex(ch.get<std::string>());
    if (b.size() > kChunk)
      throw std::runtime_error("files capture: a chunk of " + std::to_string(b.size()) + " bytes");
    r.chunk_read.push_back(static_cast<uint32_t>(b.size()));
    b.resize(kChunk);
    r.bytes.insert(r.bytes.end(), b.begin(), b.end());
    c++;
  }
  return r;
}

json fd_json(const FdKnown &f) {
  return {{"fd", f.fd},         {"kind", int(f.kind)},
          {"name", f.name},     {"parent_fd", f.parent_fd},
          {"mount", f.mount},   {"opath", f.opath},
          {"acc", f.acc},       {"ino", f.ino},
          {"size", f.size},     {"mode", f.mode},
          {"uid", f.uid},       {"gid", f.gid},
          {"kdev", f.kdev},     {"magic", f.magic},
          {"pos", f.pos},       {"flags", f.flags},
          {"mnt_id", f.mnt_id}, {"eventfd_count", f.eventfd_count}};
}

FdKnown fd_from_json(const json &j) {
  FdKnown f;
  f.fd = j.at("fd");
  f.kind = FdKnown::Kind(j.at("kind").get<int>());
  f.name = j.at("name");
  f.parent_fd = j.at("parent_fd");
  f.mount = j.at("mount");
  f.opath = j.at("opath");
  f.acc = j.at("acc");
  f.ino = j.at("ino");
  f.size = j.at("size");
  f.mode = j.at("mode");
  f.uid = j.at("uid");
  f.gid = j.at("gid");
  f.kdev = j.at("kdev");
  f.magic = j.at("magic");
  f.pos = j.at("pos");
  f.flags = j.at("flags");
  f.mnt_id = j.at("mnt_id");
  f.eventfd_count = j.at("eventfd_count");
  return f;
}

json subject_json(const SubjectKnown &s) {
  json fds = json::array(), mounts = json::array();
  for (const auto &f : s.fds)
    fds.push_back(fd_json(f));
  for (const auto &m : s.mounts)
    mounts.push_back({{"id", m.id},
                      {"root_fd", m.root_fd},
                      {"mountpoint_fd", m.mountpoint_fd},
                      {"parent_id", m.parent_id},
                      {"bind", m.bind}});
  return {{"role", s.role},          {"pid", s.pid},           {"fds", fds},
          {"mounts", mounts},        {"open_fds", s.open_fds}, {"max_fds", s.max_fds},
          {"root_fd", s.root_fd},    {"pwd_fd", s.pwd_fd},     {"exe_fd", s.exe_fd},
          {"mm_layout", s.mm_layout}};
}

SubjectKnown subject_from_json(const json &j) {
  SubjectKnown s;
  s.role = j.at("role");
  s.pid = j.at("pid");
  for (const auto &f : j.at("fds"))
    s.fds.push_back(fd_from_json(f));
  for (const auto &m : j.at("mounts")) {
    MountKnown k;
    k.id = m.at("id");
    k.root_fd = m.at("root_fd");
    k.mountpoint_fd = m.at("mountpoint_fd");
    k.parent_id = m.at("parent_id");
    k.bind = m.at("bind");
    s.mounts.push_back(k);
  }
  s.open_fds = j.at("open_fds").get<std::vector<int>>();
  s.max_fds = j.at("max_fds");
  s.root_fd = j.at("root_fd");
  s.pwd_fd = j.at("pwd_fd");
  s.exe_fd = j.at("exe_fd");
  s.mm_layout = j.at("mm_layout").get<std::vector<uint64_t>>();
  return s;
}

} // namespace

json to_json(const TrialKnown &t) {
  return {{"files", subject_json(t.files)}, {"chroot", subject_json(t.chroot)}};
}

TrialKnown trial_from_json(const json &j) {
  return {subject_from_json(j.at("files")), subject_from_json(j.at("chroot"))};
}

std::vector<WalkResponse> RecordingMemory::walk(int subject, const std::vector<WalkRequest> &reqs) {
  auto got = inner_.walk(subject, reqs);
  for (size_t i = 0; i < reqs.size() && i < got.size(); i++)
    seen_[subject][reqs[i].key()] = got[i];
  return got;
}

json RecordingMemory::to_json() const {
  json out = json::object();
  for (const auto &[s, m] : seen_) {
    json sub = json::object();
    for (const auto &[k, r] : m)
      sub[k] = response_json(r);
    out[std::to_string(s)] = sub;
  }
  return out;
}

ReplayMemory::ReplayMemory(const json &record) {
  for (const auto &[s, m] : record.items())
    for (const auto &[k, r] : m.items())
      seen_[std::stoi(s)][k] = response_from_json(r);
}

std::vector<WalkResponse> ReplayMemory::walk(int subject, const std::vector<WalkRequest> &reqs) {
  std::vector<WalkResponse> out;
  for (const auto &q : reqs) {
    auto s = seen_.find(subject);
    auto it = s == seen_.end() ? decltype(s->second.end()){} : s->second.find(q.key());
    if (s == seen_.end() || it == s->second.end()) {
      misses_++;
      WalkResponse r;
      r.bytes.assign(q.len, 0);
      out.push_back(r);
    } else {
      out.push_back(it->second);
    }
  }
  return out;
}

json to_json(const FilesCapture &c) {
  json trials = json::array();
  for (const auto &t : c.trials)
    trials.push_back(to_json(t));
  json config = {{"task_bytes", c.config.task_bytes}, {"vfsmount_size", c.config.vfsmount_size}};
  if (c.config.mm_bytes)
    config["mm_bytes"] = *c.config.mm_bytes;
  return {{"config", config},
          {"trials", trials},
          {"validation", c.validation ? to_json(*c.validation) : json(nullptr)},
          {"memory", c.memory}};
}

FilesCapture capture_from_json(const json &j) {
  FilesCapture c;
  c.config.task_bytes = j.at("config").at("task_bytes");
  c.config.vfsmount_size = j.at("config").at("vfsmount_size");
  // Recordings made before the mm_struct bound have none (4 KiB searched).
  if (j.at("config").contains("mm_bytes"))
    c.config.mm_bytes = j.at("config").at("mm_bytes").get<uint32_t>();
  for (const auto &t : j.at("trials"))
    c.trials.push_back(trial_from_json(t));
  if (!j.at("validation").is_null())
    c.validation = trial_from_json(j.at("validation"));
  c.memory = j.at("memory");
  return c;
}

void write_capture(const std::string &path, const FilesCapture &c) {
  std::string text = to_json(c).dump();
  // Written whole to a temporary name, then renamed: never half a file.
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  gzFile f = gzopen(tmp.c_str(), "wb9");
  if (!f)
    throw std::runtime_error("cannot write " + tmp);
  bool ok = gzwrite(f, text.data(), static_cast<unsigned>(text.size())) == int(text.size());
  ok = gzclose(f) == Z_OK && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot write " + path);
  }
}

FilesCapture read_capture(const std::string &path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("cannot read " + path);
  std::string text;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return capture_from_json(nlohmann::json::parse(text));
}

} // namespace offsetprobe::files
