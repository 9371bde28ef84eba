// SPDX-License-Identifier: GPL-2.0-only
// The on-disk store: round trip, careful reading, atomic saving, locking.
#include "cache_fixtures.h"
#include "calibration/model/result_json.h"
#include "tests/ci_skip.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

namespace offsetprobe::test {

using nlohmann::json;
using reader::ErrorCode;

namespace {

std::vector<std::string> dir_names(const std::string &dir) {
  std::vector<std::string> out;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

json sample_json() {
  return to_json(sample_entry());
}

// Writes `text` as the entry of the sample kernel and loads it with both the
// store and the header-only reader; both must refuse it with `code`, with a
// message containing `needle`. Returns the store's message.
std::string expect_rejected(const std::string &text, ErrorCode code, const std::string &needle) {
  TempDir d;
  KernelId k = sample_kernel();
  d.write(k.build_id + ".json", text);
  auto r = CacheStore(d.path()).load(k);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK_MESSAGE(r.error().message.find(needle) != std::string::npos, r.error().message);
  auto rr = reader::load_offsets_for(d.path(), k);
  REQUIRE_FALSE(rr);
  CHECK(rr.error().code == code);
  CHECK_MESSAGE(rr.error().message.find(needle) != std::string::npos, rr.error().message);
  return r.error().message;
}

std::string expect_rejected(const std::function<void(json &)> &mutate, ErrorCode code,
                            const std::string &needle) {
  json j = sample_json();
  mutate(j);
  return expect_rejected(j.dump(2), code, needle);
}

json &field(json &j, const std::string &member) {
  for (auto &f : j["calibration"]["fields"])
    if (f["member"] == member)
      return f;
  throw std::runtime_error("no field " + member);
}

} // namespace

TEST_CASE("store: save then load gives the same entry") {
  TempDir d;
  CacheStore store(d.path());
  auto e = sample_entry();
  auto saved = store.save(e);
  REQUIRE_MESSAGE(saved, saved.error().message);
  CHECK(saved.value() == d.file(e.kernel.build_id + ".json"));
  auto back = store.load(e.kernel);
  REQUIRE_MESSAGE(back, back.error().message);
  CHECK(to_json(back.value()) == to_json(e));
  CHECK(back.value().calibrated_at == "2025-01-31T12:34:56Z");
  CHECK(back.value().calibration.find("task_struct.parent")->candidates.size() == 2);
  struct stat st {};
  REQUIRE(::stat(saved.value().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(dir_names(d.path()) == std::vector<std::string>{e.kernel.build_id + ".json"});
}

TEST_CASE("store: save fills calibrated_at, creates the dir 0755, ignores the umask") {
  TempDir d;
  std::string dir = d.file("a/b");
  mode_t old = ::umask(077);
  auto e = sample_entry();
  e.calibrated_at.clear();
  auto saved = CacheStore(dir).save(e);
  ::umask(old);
  REQUIRE_MESSAGE(saved, saved.error().message);
  CHECK(reader::valid_timestamp(e.calibrated_at));
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::stat(saved.value().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
}

TEST_CASE("store: save refuses what a reader would refuse") {
  TempDir d;
  CacheStore store(d.path());
  auto e = sample_entry(sample_kernel("../../etc/passwd"));
  CHECK_FALSE(store.save(e));
  e = sample_entry();
  e.calibration.fields[0].offset = 70000;
  auto r = store.save(e);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("refusing to save") != std::string::npos);
  CHECK(dir_names(d.path()).empty());
}

TEST_CASE("store: atomic saves replace a corrupt entry and leave no temp files") {
  TempDir d;
  CacheStore store(d.path());
  auto e = sample_entry();
  d.write(e.kernel.build_id + ".json", "{\"schema\": \"offsetprobe/v1\", \"kern");
  CHECK(store.load(e.kernel).error().code == ErrorCode::truncated);
  for (int i = 0; i < 20; ++i) {
    e.calibration.trials = static_cast<uint32_t>(3 + i);
    REQUIRE(store.save(e));
  }
  auto back = store.load(e.kernel);
  REQUIRE(back);
  CHECK(back.value().calibration.trials == 22);
  CHECK(dir_names(d.path()) == std::vector<std::string>{e.kernel.build_id + ".json"});
}

TEST_CASE("store: a save removes the temp file of a writer that died, keeps a live one's") {
  // A writer SIGKILLed between naming its temp file and the rename leaves the
  // file; the next save under the same name removes it, but only when its
  // owner is gone.
  TempDir d;
  CacheStore store(d.path());
  auto e = sample_entry();
  REQUIRE(store.save(e));
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0)
    ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  std::string name = e.kernel.build_id + ".json";
  std::string dead = "." + name + ".tmp-" + std::to_string(child) + "-0-1";
  std::string live = "." + name + ".tmp-" + std::to_string(::getpid()) + "-9-1";
  std::string other = ".other.json.tmp-" + std::to_string(child) + "-0-1";
  d.write(dead, "{");
  d.write(live, "{");
  d.write(other, "{");
  REQUIRE(store.save(e));
  auto names = dir_names(d.path());
  CHECK(std::count(names.begin(), names.end(), dead) == 0);
  CHECK(std::count(names.begin(), names.end(), live) == 1);
  CHECK(std::count(names.begin(), names.end(), other) == 1);
  CHECK(store.load(e.kernel));
}

TEST_CASE("store: no entry, no dir") {
  TempDir d;
  auto r = CacheStore(d.path()).load(sample_kernel());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK(r.error().message.find("not calibrated") != std::string::npos);
  auto r2 = CacheStore(d.file("missing")).load(sample_kernel());
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == ErrorCode::not_found);
}

TEST_CASE("rejected: corrupt, truncated, future schema, wrong build id each with its own message") {
  std::string text = sample_json().dump(2);
  std::set<std::string> messages;
  messages.insert(expect_rejected("this is not JSON at all", ErrorCode::corrupt, "not valid JSON"));
  messages.insert(
      expect_rejected(text.substr(0, text.size() / 2), ErrorCode::truncated, "truncated"));
  messages.insert(expect_rejected("", ErrorCode::truncated, "empty"));
  messages.insert(expect_rejected("  \n", ErrorCode::truncated, "no JSON"));
  messages.insert(expect_rejected([](json &j) { j["schema"] = "offsetprobe/v2"; },
                                  ErrorCode::future_schema, "written by a newer offsetprobe"));
  messages.insert(expect_rejected([](json &j) { j["schema"] = "offsetprobe/v17"; },
                                  ErrorCode::future_schema, "newer offsetprobe"));
  messages.insert(expect_rejected([](json &j) { j["schema"] = "offsetprobe/v0"; },
                                  ErrorCode::schema_invalid, "unknown schema"));
  messages.insert(expect_rejected([](json &j) { j["schema"] = "otherprobe/v1"; },
                                  ErrorCode::schema_invalid, "unknown schema"));
  messages.insert(expect_rejected(
      [](json &j) { j["kernel"]["build_id"] = "ffffffffffffffffffffffffffffffffffffffff"; },
      ErrorCode::wrong_build_id, "refusing to use offsets of another build"));
  CHECK(messages.size() == 9);
}

TEST_CASE("rejected: wrong types") {
  expect_rejected("[1, 2, 3]", ErrorCode::schema_invalid, "not a JSON object");
  expect_rejected([](json &j) { j.erase("schema"); }, ErrorCode::schema_invalid, "\"schema\"");
  expect_rejected([](json &j) { j["schema"] = 1; }, ErrorCode::schema_invalid, "\"schema\"");
  expect_rejected([](json &j) { j["kernel"]["build_id"] = 42; }, ErrorCode::schema_invalid,
                  "kernel.build_id");
  expect_rejected([](json &j) { j["kernel"]["build_id_source"] = "proc-version-digest"; },
                  ErrorCode::schema_invalid, "does not match");
  expect_rejected([](json &j) { j["kernel"]["release"] = nullptr; }, ErrorCode::schema_invalid,
                  "kernel.release");
  expect_rejected([](json &j) { j["tool"] = "offsetprobe"; }, ErrorCode::schema_invalid, "tool");
  expect_rejected([](json &j) { j["calibrated_at"] = "yesterday"; }, ErrorCode::schema_invalid,
                  "calibrated_at");
  expect_rejected([](json &j) { j["calibration"] = json::array(); }, ErrorCode::schema_invalid,
                  "\"calibration\"");
  expect_rejected([](json &j) { j["calibration"]["fields"] = json::object(); },
                  ErrorCode::schema_invalid, "calibration.fields");
  expect_rejected([](json &j) { j["calibration"]["fields"].push_back(7); },
                  ErrorCode::schema_invalid, "not an object");
  expect_rejected([](json &j) { field(j, "pid")["offset"] = "2456"; }, ErrorCode::schema_invalid,
                  "not a non-negative integer");
  expect_rejected([](json &j) { field(j, "pid")["size"] = "4"; }, ErrorCode::schema_invalid,
                  "\"size\"");
  expect_rejected([](json &j) { field(j, "pid")["status"] = "guessed"; }, ErrorCode::schema_invalid,
                  "\"status\"");
  expect_rejected([](json &j) { field(j, "pid")["validation"] = true; }, ErrorCode::schema_invalid,
                  "\"validation\"");
  expect_rejected([](json &j) { field(j, "pid")["name"] = "task_struct.pid\n#define X 1"; },
                  ErrorCode::schema_invalid, "identifier");
  expect_rejected([](json &j) { field(j, "start_boottime")["aliases"] = "real_start_time"; },
                  ErrorCode::schema_invalid, "aliases");
}

TEST_CASE("rejected: negative, float, huge offsets") {
  expect_rejected([](json &j) { field(j, "pid")["offset"] = -8; }, ErrorCode::schema_invalid,
                  "not a non-negative integer");
  expect_rejected([](json &j) { field(j, "pid")["offset"] = 8.0; }, ErrorCode::schema_invalid,
                  "not a non-negative integer");
  expect_rejected([](json &j) { field(j, "pid")["offset"] = 1e300; }, ErrorCode::schema_invalid,
                  "not a non-negative integer");
  expect_rejected([](json &j) { field(j, "pid")["offset"] = 65536; }, ErrorCode::schema_invalid,
                  "is not below 65536");
  // Below 65536 but past the task_struct the calibration itself measured.
  expect_rejected([](json &j) { field(j, "pid")["offset"] = 60000; }, ErrorCode::schema_invalid,
                  "is past task_struct_size");
  expect_rejected([](json &j) { field(j, "pid")["offset"] = 18446744073709551615ull; },
                  ErrorCode::schema_invalid, "is not below 65536");
  // Beyond uint64: nlohmann reads it as a float.
  std::string text = sample_json().dump();
  auto p = text.find("\"offset\":2456");
  REQUIRE(p != std::string::npos);
  text.replace(p + 9, 4, "184467440737095516160");
  expect_rejected(text, ErrorCode::schema_invalid, "not a non-negative integer");
  expect_rejected([](json &j) { field(j, "pid")["offset"] = nullptr; }, ErrorCode::schema_invalid,
                  "calibrated but");
  expect_rejected([](json &j) { field(j, "parent")["offset"] = 2472; }, ErrorCode::schema_invalid,
                  "has an offset but is ambiguous");
}

TEST_CASE("rejected: deeply nested JSON before parsing it") {
  expect_rejected(std::string(100000, '['), ErrorCode::corrupt, "nested more than");
  expect_rejected(std::string(100000, '[') + std::string(100000, ']'), ErrorCode::corrupt,
                  "nested more than");
  // Brackets inside strings do not count.
  json j = sample_json();
  j["tool"]["version"] = std::string(1000, '[');
  TempDir d;
  d.write(sample_kernel().build_id + ".json", j.dump());
  CHECK(CacheStore(d.path()).load(sample_kernel()));
}

TEST_CASE("rejected: unsafe files") {
  KernelId k = sample_kernel();
  std::string name = k.build_id + ".json";
  std::string text = sample_json().dump(2);

  SUBCASE("symlink") {
    TempDir d, elsewhere;
    elsewhere.write(name, text);
    REQUIRE(::symlink(elsewhere.file(name).c_str(), d.file(name).c_str()) == 0);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unsafe);
    CHECK(r.error().message.find("is a symlink") != std::string::npos);
    CHECK_FALSE(reader::load_offsets_for(d.path(), k));
  }
  SUBCASE("hard link") {
    TempDir d;
    d.write("other", text);
    REQUIRE(::link(d.file("other").c_str(), d.file(name).c_str()) == 0);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unsafe);
    CHECK(r.error().message.find("2 hard links") != std::string::npos);
  }
  SUBCASE("not a regular file (a FIFO must not hang the reader)") {
    TempDir d;
    REQUIRE(::mkfifo(d.file(name).c_str(), 0644) == 0);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unsafe);
    CHECK(r.error().message.find("not a regular file") != std::string::npos);
  }
  SUBCASE("huge (sparse 1 GiB), refused by size before reading") {
    TempDir d;
    int fd = ::open(d.file(name).c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, off_t(1) << 30) == 0);
    ::close(fd);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::too_large);
    CHECK(r.error().message.find("over the 1048576-byte limit") != std::string::npos);
  }
  if (::geteuid() != 0) {
    test::skip_or_fail("owner and mode checks apply only when running as root");
    return;
  }
  SUBCASE("world-writable file") {
    TempDir d;
    d.write(name, text);
    REQUIRE(::chmod(d.file(name).c_str(), 0666) == 0);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unsafe);
    CHECK(r.error().message.find("group- or world-writable (mode 0666)") != std::string::npos);
    CHECK(reader::load_offsets_for(d.path(), k).error().code == ErrorCode::unsafe);
  }
  SUBCASE("group-writable file") {
    TempDir d;
    d.write(name, text);
    REQUIRE(::chmod(d.file(name).c_str(), 0664) == 0);
    CHECK(CacheStore(d.path()).load(k).error().code == ErrorCode::unsafe);
  }
  SUBCASE("file owned by another user") {
    TempDir d;
    d.write(name, text);
    REQUIRE(::chown(d.file(name).c_str(), 65534, 65534) == 0);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("owned by uid 65534") != std::string::npos);
  }
  SUBCASE("world-writable dir") {
    TempDir d;
    d.write(name, text);
    REQUIRE(::chmod(d.path().c_str(), 0777) == 0);
    auto r = CacheStore(d.path()).load(k);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unsafe);
    CHECK(r.error().message.find("cache directory") != std::string::npos);
    // Nor is anything written there, nor locked.
    auto e = sample_entry();
    CHECK(CacheStore(d.path()).save(e).error().code == ErrorCode::unsafe);
    CHECK(CacheStore(d.path()).lock().error().code == ErrorCode::unsafe);
  }
  SUBCASE("symlinked dir") {
    TempDir d;
    d.write(name, text);
    std::string link = d.path() + ".link";
    REQUIRE(::symlink(d.path().c_str(), link.c_str()) == 0);
    auto r = CacheStore(link).load(k);
    ::unlink(link.c_str());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unsafe);
    CHECK(r.error().message.find("is a symlink; refusing it while running as root") !=
          std::string::npos);
  }
  SUBCASE("the same file is fine when the checks do not apply (not root)") {
    TempDir d;
    d.write(name, text);
    REQUIRE(::chmod(d.file(name).c_str(), 0666) == 0);
    reader::Safety lax;
    lax.owner_checks = false;
    CHECK(CacheStore(d.path(), lax).load(k));
  }
}

TEST_CASE("store: list and remove") {
  TempDir d;
  CacheStore store(d.path());
  auto a = sample_entry();
  auto b = sample_entry(sample_kernel("abcdef0123456789"));
  REQUIRE(store.save(a));
  REQUIRE(store.save(b));
  d.write("deadbeef.json", "{");
  d.write("notes.txt", "ignored");
  auto l = store.list();
  REQUIRE(l);
  REQUIRE(l.value().size() == 3);
  CHECK(l.value()[0].build_id == a.kernel.build_id);
  CHECK(l.value()[0].entry);
  CHECK(l.value()[1].build_id == "abcdef0123456789");
  CHECK(l.value()[2].build_id == "deadbeef");
  REQUIRE(l.value()[2].error);
  CHECK(l.value()[2].error->code == ErrorCode::truncated);
  REQUIRE(store.remove("abcdef0123456789"));
  CHECK(store.remove("abcdef0123456789").error().code == ErrorCode::not_found);
  CHECK(store.remove("../notes.txt").error().code == ErrorCode::schema_invalid);
  CHECK(store.list().value().size() == 2);
}

TEST_CASE("store: cache dir resolution") {
  ::unsetenv(reader::kCacheDirEnv);
  CHECK(CacheStore::resolve_dir("").value() == "/var/cache/offsetprobe");
  CHECK(CacheStore::resolve_dir("/x").value() == "/x");
  ::setenv(reader::kCacheDirEnv, "/srv/op-cache", 1);
  CHECK(CacheStore::resolve_dir("").value() == "/srv/op-cache");
  CHECK(CacheStore::resolve_dir("/x").value() == "/x");
  ::setenv(reader::kCacheDirEnv, "relative/dir", 1);
  auto r = CacheStore::resolve_dir("");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_cache_dir);
  CHECK(r.error().message.find("not an absolute path") != std::string::npos);
  ::setenv(reader::kCacheDirEnv, "/etc/hostname", 1);
  r = CacheStore::resolve_dir("");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("not a directory") != std::string::npos);
  ::unsetenv(reader::kCacheDirEnv);
}

TEST_CASE("lock: N processes doing lock, check, save: exactly one writes") {
  TempDir d;
  const int n = 16;
  std::vector<pid_t> kids;
  for (int i = 0; i < n; ++i) {
    pid_t p = ::fork();
    REQUIRE(p >= 0);
    if (p == 0) {
      CacheStore store(d.path());
      auto lock = store.lock();
      if (!lock)
        ::_exit(1);
      auto k = sample_kernel();
      if (store.load(k))
        ::_exit(0);    // reused the fresh entry
      ::usleep(20000); // "calibrating": widen the window a missing lock would expose
      auto e = sample_entry(k);
      e.calibration.trials = static_cast<uint32_t>(100 + i);
      ::_exit(store.save(e) ? 10 : 2);
    }
    kids.push_back(p);
  }
  int wrote = 0, reused = 0;
  for (pid_t p : kids) {
    int st = 0;
    REQUIRE(::waitpid(p, &st, 0) == p);
    REQUIRE(WIFEXITED(st));
    wrote += WEXITSTATUS(st) == 10;
    reused += WEXITSTATUS(st) == 0;
  }
  CHECK(wrote == 1);
  CHECK(reused == n - 1);
  CHECK(CacheStore(d.path()).load(sample_kernel()));
  CHECK(dir_names(d.path()) ==
        std::vector<std::string>{".lock", sample_kernel().build_id + ".json"});
}

} // namespace offsetprobe::test
