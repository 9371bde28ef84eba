// SPDX-License-Identifier: GPL-2.0-only
// BtfOracle: the kernel's own answer to "where is this member?", read from BTF.
//
// Used only as the oracle of `offsetprobe verify` and of the tests, never by
// calibration itself: calibration must work on kernels without BTF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct btf; // libbpf

namespace offsetprobe {

// Where a member sits, according to BTF.
struct MemberInfo {
  uint32_t offset = 0;  // bytes from the start of the outermost struct
  uint32_t size = 0;    // bytes (0 for a flexible array member)
  std::string found_as; // the member path that matched: the name or an alias
};

// Why a lookup gave no answer. Only `no_member` lets an alias be tried.
enum class LookupFailure {
  not_loaded,  // the BTF itself could not be loaded: see BtfOracle::load_error()
  no_struct,   // no struct or union of that name
  no_member,   // the struct has no member of that path
  unsupported, // the member exists but has no byte offset we can compare
               // (bitfield, not byte-aligned, or the path crosses a pointer)
};

class BtfOracle {
public:
  // The running kernel's BTF. Its absence means CONFIG_DEBUG_INFO_BTF is off.
  static constexpr const char *kVmlinuxPath = "/sys/kernel/btf/vmlinux";

  // Loads BTF from `path` (raw BTF or an ELF file with a .BTF section), or
  // the running kernel's when no path is given. Never throws: a failure is
  // reported by loaded() == false and load_error().
  explicit BtfOracle(std::optional<std::string> path = std::nullopt);
  // Adopts an already built BTF object (e.g. from btf__new_empty() in tests);
  // `source` names it in messages. A null `btf` gives an unloaded oracle.
  BtfOracle(struct btf *btf, std::string source);
  ~BtfOracle();
  BtfOracle(const BtfOracle &) = delete;
  BtfOracle &operator=(const BtfOracle &) = delete;
  BtfOracle(BtfOracle &&other) noexcept;
  BtfOracle &operator=(BtfOracle &&other) noexcept;

  bool loaded() const { return btf_ != nullptr; }
  // E.g. "no BTF at /sys/kernel/btf/vmlinux: this kernel was built without
  // CONFIG_DEBUG_INFO_BTF". Empty when loaded.
  const std::string &load_error() const { return load_error_; }
  // The file the BTF came from (or the adopted object's source name).
  const std::string &source() const { return source_; }

  // member finds `member_path` in struct (or union) `struct_name`.
  //
  // The path may be dotted to descend into embedded structs ("ns.inum" in
  // uts_namespace); members of anonymous structs and unions are found as if
  // they were direct members (task_struct wraps most fields in one under
  // CONFIG_RANDSTRUCT). Typedefs and const/volatile/restrict are looked
  // through; pointers are not crossed. Bitfields are refused.
  //
  // Returns nothing and sets `error` (and `*failure` when given) on failure.
  std::optional<MemberInfo> member(const std::string &struct_name, const std::string &member_path,
                                   std::string &error, LookupFailure *failure = nullptr) const;

  // As above, but when the struct has no member `member_path`, each alias is
  // tried in turn (start_boottime was real_start_time before Linux 5.5). An
  // alias may also be written "struct.member" with the same struct. The
  // error, if all fail, names every path tried.
  std::optional<MemberInfo> member(const std::string &struct_name, const std::string &member_path,
                                   const std::vector<std::string> &aliases, std::string &error,
                                   LookupFailure *failure = nullptr) const;

private:
  struct btf *btf_ = nullptr;
  std::string source_;
  std::string load_error_;
};

} // namespace offsetprobe
