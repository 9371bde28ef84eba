// SPDX-License-Identifier: GPL-2.0-only
// The cache key: GNU build id from ELF notes, else a /proc/version digest.
#include "cache/kernel_id.h"
#include "tests/ci_skip.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace offsetprobe::test {

namespace {

// note: one Elf64_Nhdr note, name and desc each padded to 4 bytes.
std::string note(uint32_t type, const std::string &name_with_nul, const std::string &desc) {
  std::string out;
  auto word = [&](uint32_t v) { out.append(reinterpret_cast<const char *>(&v), 4); };
  word(static_cast<uint32_t>(name_with_nul.size()));
  word(static_cast<uint32_t>(desc.size()));
  word(type);
  out += name_with_nul;
  out.append((4 - name_with_nul.size() % 4) % 4, '\0');
  out += desc;
  out.append((4 - desc.size() % 4) % 4, '\0');
  return out;
}

const std::string kGnu("GNU\0", 4);
const std::string kLinux("Linux\0", 6);
const std::string kXen("Xen\0", 4);

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v)
    s.push_back(static_cast<char>(b));
  return s;
}

std::optional<std::string> parse(const std::string &blob) {
  return parse_gnu_build_id(blob.data(), blob.size());
}

} // namespace

TEST_CASE("build id: a single NT_GNU_BUILD_ID note") {
  std::string id = bytes({0x4a, 0x5a, 0x9b, 0x0a, 0xff, 0xb6, 0x6c, 0x43, 0x7a, 0xbc,
                          0xd4, 0x55, 0xd2, 0x73, 0x8a, 0xf8, 0x79, 0x98, 0x5f, 0xa9});
  CHECK(parse(note(3, kGnu, id)) == "4a5a9b0affb66c437abcd455d2738af879985fa9");
}

TEST_CASE("build id: found after several other notes with odd name and desc sizes") {
  // As in a real Xen guest kernel: Linux notes (name 6 -> padded 8), Xen
  // notes with 5- and 12-byte descs, then the build id (a 16-byte md5 style).
  std::string blob = note(6, kLinux, std::string("6.1.102\0", 8)) + note(0x13, kXen, "Xen\0\0") +
                     note(0x101, kLinux, bytes({1, 1})) +
                     note(0x12, kXen, bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})) +
                     note(3, kGnu, bytes({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})) +
                     note(6, kLinux, "x");
  CHECK(parse(blob) == "000102030405060708090a0b0c0d0e0f");
}

TEST_CASE("build id: none in the notes") {
  CHECK_FALSE(parse(""));
  CHECK_FALSE(parse(note(6, kLinux, "6.18") + note(0x12, kXen, "abc")));
  // Type 3 under another name, and a GNU note of another type (ABI tag).
  CHECK_FALSE(parse(note(3, kLinux, "abcd") + note(1, kGnu, bytes({0, 0, 0, 0}))));
  // An empty GNU build id is no build id.
  CHECK_FALSE(parse(note(3, kGnu, "")));
}

TEST_CASE("build id: malformed blobs are not misread") {
  std::string good = note(3, kGnu, bytes({0xaa, 0xbb, 0xcc, 0xdd}));
  // Cut inside the desc: the note runs past the end.
  CHECK_FALSE(parse(good.substr(0, good.size() - 1)));
  // Shorter than one header.
  CHECK_FALSE(parse(good.substr(0, 11)));
  // Sizes near 2^32 must not wrap the offset arithmetic.
  std::string huge;
  uint32_t hdr[3] = {0xffffffffu, 0xfffffffcu, 3};
  huge.append(reinterpret_cast<const char *>(hdr), sizeof hdr);
  CHECK_FALSE(parse(huge + good));
  // A note before the build id that claims more bytes than there are.
  uint32_t liar[3] = {4, 1000, 6};
  std::string blob(reinterpret_cast<const char *>(liar), sizeof liar);
  CHECK_FALSE(parse(blob + kGnu + good));
}

TEST_CASE("build id: the running kernel's /sys/kernel/notes") {
  auto blob = reader::read_small_file("/sys/kernel/notes");
  if (!blob) {
    test::skip_or_fail("/sys/kernel/notes is not readable here");
    return;
  }
  auto id = parse(*blob);
  REQUIRE(id);
  CHECK(id->size() >= 16);
  CHECK(valid_build_id(*id));
  auto k = read_kernel_id();
  REQUIRE(k);
  CHECK(k.value().strong);
  CHECK(k.value().build_id == *id);
  CHECK(std::string(k.value().source()) == "gnu-build-id");
  CHECK_FALSE(k.value().release.empty());
  CHECK_FALSE(k.value().machine.empty());
}

TEST_CASE("sha256: FIPS 180-4 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("fallback key: a /proc/version digest, marked weak") {
  std::string pv = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP "
                   "PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n";
  auto a = make_kernel_id(std::nullopt, pv, "6.1.0-18-amd64",
                          "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", "x86_64");
  CHECK_FALSE(a.strong);
  CHECK(std::string(a.source()) == "proc-version-digest");
  CHECK(a.build_id.rfind("procversion-", 0) == 0);
  CHECK(valid_build_id(a.build_id));
  // Notes without a build id fall back the same way.
  auto b = make_kernel_id(note(6, kLinux, "6.1"), pv, a.release, a.version, a.machine);
  CHECK(b.build_id == a.build_id);
  // Same `uname -r`, another build (a rebuilt package): another key.
  std::string pv2 = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP "
                    "PREEMPT_DYNAMIC Debian 6.1.76-1+b1 (2024-02-09)\n";
  auto c = make_kernel_id(std::nullopt, pv2, a.release,
                          "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1+b1 (2024-02-09)", a.machine);
  CHECK(c.build_id != a.build_id);
  // A build id wins over the digest.
  auto d = make_kernel_id(note(3, kGnu, "\x12\x34"), pv, a.release, a.version, a.machine);
  CHECK(d.strong);
  CHECK(d.build_id == "1234");
}

TEST_CASE("valid_build_id keeps keys usable as file names") {
  CHECK(valid_build_id("4a5a9b0affb66c437abcd455d2738af879985fa9"));
  CHECK_FALSE(valid_build_id(""));
  CHECK_FALSE(valid_build_id("4A5A"));
  CHECK_FALSE(valid_build_id("abc"));
  CHECK_FALSE(valid_build_id("../../etc/passwd"));
  CHECK_FALSE(valid_build_id("procversion-abc"));
  CHECK_FALSE(valid_build_id(std::string(130, 'a')));
}

} // namespace offsetprobe::test
