// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/program_spec.h"

#include <algorithm>
#include <cstdio>

namespace offsetprobe {

namespace {

// "-DNAME=VALUE". Appended piecewise: GCC 12 warns (-Wrestrict, a false
// positive) about "-D" + std::string.
std::string define(const std::string &name, const std::string &value) {
  std::string s("-D");
  s += name;
  s += '=';
  s += value;
  return s;
}

} // namespace

ProgramSpec &ProgramSpec::u32(const std::string &name, const std::string &macro, uint32_t v) {
  constants_.push_back({name, 4, {v}, {define(macro, std::to_string(v) + "U")}});
  return *this;
}

ProgramSpec &ProgramSpec::u64(const std::string &name, const std::string &macro, uint64_t v) {
  constants_.push_back({name, 8, {v}, {define(macro, std::to_string(v) + "ULL")}});
  return *this;
}

ProgramSpec &ProgramSpec::s64(const std::string &name, const std::string &macro, int64_t v) {
  // Parenthesized: a negative value stays one operand wherever it lands.
  // Built by appending: `"(" + std::to_string(v)` made GCC 12 warn
  // (-Wrestrict) inside libstdc++.
  std::string value("(");
  value += std::to_string(v);
  value += "LL)";
  constants_.push_back({name, 8, {static_cast<uint64_t>(v)}, {define(macro, value)}});
  return *this;
}

ProgramSpec &ProgramSpec::offset(const std::string &name, const std::string &macro, uint32_t v) {
  constants_.push_back({name, 4, {v}, {define(macro, std::to_string(v))}});
  return *this;
}

ProgramSpec &ProgramSpec::flag(const std::string &name, const std::string &macro, bool v) {
  constants_.push_back({name, 4, {v ? 1u : 0u}, {define(macro, v ? "1" : "0")}});
  return *this;
}

ProgramSpec &ProgramSpec::u32_array(const std::string &name, const std::string &macro,
                                    const std::vector<uint32_t> &v) {
  std::string list;
  for (uint32_t x : v) {
    if (!list.empty())
      list += ',';
    list += std::to_string(x);
    list += 'U';
  }
  constants_.push_back({name, 4, {v.begin(), v.end()}, {define(macro, list)}});
  return *this;
}

ProgramSpec &ProgramSpec::u64_words(const std::string &name, const std::string &macro_prefix,
                                    const std::vector<uint64_t> &words) {
  ProgramConstant c{name, 8, words, {}};
  for (size_t i = 0; i < words.size(); i++) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "0x%llxULL", static_cast<unsigned long long>(words[i]));
    c.bcc_defines.push_back(define(macro_prefix + std::to_string(i), hex));
  }
  constants_.push_back(std::move(c));
  return *this;
}

ProgramSpec &ProgramSpec::constant(ProgramConstant c) {
  constants_.push_back(std::move(c));
  return *this;
}

ProgramSpec &ProgramSpec::bcc_flags(const std::vector<std::string> &flags) {
  bcc_defines_.insert(bcc_defines_.end(), flags.begin(), flags.end());
  return *this;
}

ProgramSpec &ProgramSpec::map_size(const std::string &map, const std::string &macro,
                                   uint32_t max_entries) {
  map_sizes_.push_back({map, macro, max_entries});
  return *this;
}

ProgramSpec &ProgramSpec::load(const std::string &program) {
  programs_.push_back(program);
  return *this;
}

ProgramSpec &ProgramSpec::bcc_define(const std::string &macro) {
  std::string d("-D");
  d += macro;
  bcc_defines_.push_back(d);
  return *this;
}

std::vector<std::string> ProgramSpec::bcc_cflags() const {
  std::vector<std::string> out;
  for (const auto &c : constants_)
    out.insert(out.end(), c.bcc_defines.begin(), c.bcc_defines.end());
  for (const auto &m : map_sizes_) {
    // Maps sized alike may share a macro: one definition.
    std::string d = define(m.macro, std::to_string(m.max_entries));
    if (std::find(out.begin(), out.end(), d) == out.end())
      out.push_back(d);
  }
  out.insert(out.end(), bcc_defines_.begin(), bcc_defines_.end());
  return out;
}

} // namespace offsetprobe
