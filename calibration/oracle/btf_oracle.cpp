// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/oracle/btf_oracle.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace offsetprobe {

namespace {

// Embedded structs nest a few levels deep at most; the limit only guards
// against malformed (cyclic) BTF.
constexpr int kMaxDepth = 32;

// libbpf's own codes (LIBBPF_ERRNO__FORMAT for a file that is not BTF, ...)
// are beyond strerror()'s range; libbpf_strerror() knows both.
std::string errno_text(int err) {
  char buf[128];
  if (libbpf_strerror(err, buf, sizeof(buf)) == 0)
    return buf;
  return std::strerror(err);
}

// Looks through typedefs and const/volatile/restrict/type_tag. Returns the id
// of the underlying type, or -1 if the chain is broken or too long.
int skip_mods_and_typedefs(const struct btf *btf, uint32_t id) {
  for (int i = 0; i < kMaxDepth; i++) {
    const struct btf_type *t = btf__type_by_id(btf, id);
    if (!t)
      return -1;
    if (!btf_is_mod(t) && !btf_is_typedef(t))
      return static_cast<int>(id);
    id = t->type;
  }
  return -1;
}

struct Found {
  uint64_t bit_offset = 0; // from the start of the composite searched
  uint32_t type_id = 0;    // the member's type, as declared
  uint32_t bitfield_bits = 0;
};

// Finds a member called `name` in composite type `t`, directly or inside an
// anonymous struct/union member (adding that member's offset). Direct
// members first: C forbids a clash, so the order only matters for bad BTF.
bool find_member(const struct btf *btf, const struct btf_type *t, const std::string &name,
                 Found &out, int depth) {
  if (depth > kMaxDepth)
    return false;
  const struct btf_member *m = btf_members(t);
  const uint16_t n = btf_vlen(t);
  for (uint16_t i = 0; i < n; i++) {
    if (m[i].name_off == 0)
      continue;
    const char *mname = btf__name_by_offset(btf, m[i].name_off);
    if (mname && name == mname) {
      out.bit_offset = btf_member_bit_offset(t, i);
      out.type_id = m[i].type;
      out.bitfield_bits = btf_member_bitfield_size(t, i);
      return true;
    }
  }
  for (uint16_t i = 0; i < n; i++) {
    if (m[i].name_off != 0)
      continue;
    int id = skip_mods_and_typedefs(btf, m[i].type);
    const struct btf_type *inner = id < 0 ? nullptr : btf__type_by_id(btf, id);
    if (!inner || !btf_is_composite(inner))
      continue;
    if (find_member(btf, inner, name, out, depth + 1)) {
      out.bit_offset += btf_member_bit_offset(t, i);
      return true;
    }
  }
  return false;
}

std::string strip_prefix(const std::string &s, const std::string &prefix) {
  return s.compare(0, prefix.size(), prefix) == 0 ? s.substr(prefix.size()) : s;
}

bool split_path(const std::string &path, std::vector<std::string> &parts) {
  parts.clear();
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty())
      return false;
    parts.push_back(std::move(part));
    if (dot == std::string::npos)
      return true;
    start = dot + 1;
  }
}

const char *kind_word(const struct btf_type *t) {
  if (btf_is_ptr(t))
    return "a pointer";
  if (btf_is_array(t))
    return "an array";
  if (btf_is_int(t))
    return "an integer";
  if (btf_is_enum(t) || btf_is_enum64(t))
    return "an enum";
  return "not a struct or union";
}

} // namespace

BtfOracle::BtfOracle(std::optional<std::string> path) {
  const bool running_kernel = !path;
  source_ = path.value_or(kVmlinuxPath);
  // libbpf logs its own complaint about a bad file on stderr; the caller
  // gets ours, with the path, as a value instead.
  libbpf_print_fn_t previous = libbpf_set_print(nullptr);
  errno = 0;
  btf_ = btf__parse(source_.c_str(), nullptr);
  const int err = errno ? errno : EINVAL;
  libbpf_set_print(previous);
  if (btf_)
    return;
  if (running_kernel && err == ENOENT)
    load_error_ = "no BTF at " + source_ +
                  ": this kernel was built without CONFIG_DEBUG_INFO_BTF (pass --btf FILE)";
  else if (err == ENOENT)
    load_error_ = "no BTF at " + source_ + ": no such file";
  else if (err == LIBBPF_ERRNO__FORMAT)
    load_error_ =
        "cannot load BTF from " + source_ + ": neither raw BTF nor an ELF file with a .BTF section";
  else
    load_error_ = "cannot load BTF from " + source_ + ": " + errno_text(err);
}

BtfOracle::BtfOracle(struct btf *btf, std::string source) : btf_(btf), source_(std::move(source)) {
  if (!btf_)
    load_error_ = "no BTF object for " + source_;
}

BtfOracle::~BtfOracle() {
  btf__free(btf_);
}

BtfOracle::BtfOracle(BtfOracle &&other) noexcept
    : btf_(std::exchange(other.btf_, nullptr)), source_(std::move(other.source_)),
      load_error_(std::move(other.load_error_)) {}

BtfOracle &BtfOracle::operator=(BtfOracle &&other) noexcept {
  if (this != &other) {
    btf__free(btf_);
    btf_ = std::exchange(other.btf_, nullptr);
    source_ = std::move(other.source_);
    load_error_ = std::move(other.load_error_);
  }
  return *this;
}

std::optional<MemberInfo> BtfOracle::member(const std::string &struct_name,
                                            const std::string &member_path, std::string &error,
                                            LookupFailure *failure) const {
  auto fail = [&](LookupFailure why, std::string msg) -> std::optional<MemberInfo> {
    if (failure)
      *failure = why;
    error = std::move(msg);
    return std::nullopt;
  };
  if (!btf_)
    return fail(LookupFailure::not_loaded, load_error_);

  // Accept "struct task_struct" as well as "task_struct".
  std::string sname = strip_prefix(strip_prefix(struct_name, "struct "), "union ");
  int32_t id = btf__find_by_name_kind(btf_, sname.c_str(), BTF_KIND_STRUCT);
  if (id < 0)
    id = btf__find_by_name_kind(btf_, sname.c_str(), BTF_KIND_UNION);
  if (id < 0)
    return fail(LookupFailure::no_struct, "no struct " + sname + " in BTF " + source_);

  std::vector<std::string> parts;
  if (!split_path(member_path, parts))
    return fail(LookupFailure::no_member, "bad member path \"" + member_path + "\"");

  const struct btf_type *t = btf__type_by_id(btf_, static_cast<uint32_t>(id));
  uint64_t bits = 0;
  uint32_t member_type = 0;
  std::string walked = sname;
  for (size_t i = 0; i < parts.size(); i++) {
    Found f;
    if (!find_member(btf_, t, parts[i], f, 0))
      return fail(LookupFailure::no_member, "struct " + walked + " has no member " + parts[i]);
    walked += "." + parts[i];
    // With kflag set the struct records bitfield sizes in the member; without
    // it a bitfield shows up as an int type narrower than its storage.
    if (f.bitfield_bits != 0)
      return fail(LookupFailure::unsupported, walked + " is a bitfield (" +
                                                  std::to_string(f.bitfield_bits) +
                                                  " bits): it has no byte offset");
    bits += f.bit_offset;
    member_type = f.type_id;
    int rid = skip_mods_and_typedefs(btf_, member_type);
    const struct btf_type *rt = rid < 0 ? nullptr : btf__type_by_id(btf_, rid);
    if (!rt)
      return fail(LookupFailure::unsupported, walked + " has a broken type chain in BTF");
    if (btf_is_int(rt) && (btf_int_bits(rt) != rt->size * 8 || btf_int_offset(rt) != 0))
      return fail(LookupFailure::unsupported, walked + " is a bitfield (" +
                                                  std::to_string(btf_int_bits(rt)) +
                                                  " bits): it has no byte offset");
    if (i + 1 < parts.size()) {
      if (!btf_is_composite(rt))
        return fail(LookupFailure::unsupported,
                    walked + " is " + kind_word(rt) +
                        ": a dotted path only descends into embedded structs and unions");
      t = rt;
    }
  }
  if (bits % 8 != 0)
    return fail(LookupFailure::unsupported,
                walked + " is not byte-aligned (bit offset " + std::to_string(bits) + ")");
  const int64_t size = btf__resolve_size(btf_, member_type);
  if (size < 0)
    return fail(LookupFailure::unsupported, "cannot resolve the size of " + walked + ": " +
                                                errno_text(static_cast<int>(-size)));
  if (bits / 8 > UINT32_MAX || size > UINT32_MAX)
    return fail(LookupFailure::unsupported, walked + " lies beyond any sane offset");
  MemberInfo info;
  info.offset = static_cast<uint32_t>(bits / 8);
  info.size = static_cast<uint32_t>(size);
  info.found_as = member_path;
  return info;
}

std::optional<MemberInfo> BtfOracle::member(const std::string &struct_name,
                                            const std::string &member_path,
                                            const std::vector<std::string> &aliases,
                                            std::string &error, LookupFailure *failure) const {
  LookupFailure why = LookupFailure::no_member;
  auto info = member(struct_name, member_path, error, &why);
  if (!info && why == LookupFailure::no_member && !aliases.empty()) {
    std::string tried = member_path;
    const std::string bare = strip_prefix(struct_name, "struct ");
    for (const auto &alias : aliases) {
      const std::string path = strip_prefix(alias, bare + ".");
      std::string alias_error;
      LookupFailure alias_why = LookupFailure::no_member;
      info = member(struct_name, path, alias_error, &alias_why);
      if (info)
        break;
      tried += ", " + path;
      // A real problem with an alias (say, it is a bitfield) is worth more
      // than "not found".
      if (alias_why != LookupFailure::no_member) {
        why = alias_why;
        error = alias_error;
        break;
      }
    }
    if (!info && why == LookupFailure::no_member)
      error = "struct " + bare + " has none of the members " + tried;
  }
  if (!info && failure)
    *failure = why;
  return info;
}

} // namespace offsetprobe
