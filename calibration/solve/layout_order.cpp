// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/layout_order.h"

#include "calibration/model/catalogue.h"

#include <algorithm>

#include <map>
#include <string_view>

namespace offsetprobe {

namespace {

// Members of one struct that every unshuffled kernel declares in this order
// (checked against the BTF of every Debian kernel in tests/fixtures/ by
// test_layout_order). Each chain is a subsequence of the declaration, so any
// two of its members, not only neighbours, must keep the order. Only fields a
// calibration finds by value alone take part: a field placed by a layout
// rule proves nothing about the layout. The families declare them
// (Family::declared_order, FieldDef::order): the struct's owner says why,
// each field its rank.
struct OrderedChain {
  std::string struct_name;
  std::vector<std::string> members;
  std::string why;
};

const std::vector<OrderedChain> &chains() {
  static const std::vector<OrderedChain> c = [] {
    std::vector<OrderedChain> out;
    for (const auto &owner : catalogue())
      for (const auto &d : owner.declared_order) {
        std::vector<std::pair<uint32_t, std::string>> ranked;
        for (const auto &fam : catalogue())
          for (const auto &f : fam.fields)
            if (f.struct_name == d.struct_name && f.order)
              ranked.emplace_back(f.order, f.member);
        std::sort(ranked.begin(), ranked.end());
        OrderedChain ch{d.struct_name, {}, d.why};
        std::string list;
        for (const auto &[rank, member] : ranked) {
          ch.members.push_back(member);
          list += (list.empty() ? "" : ", ") + member;
        }
        if (auto at = ch.why.find("%s"); at != std::string::npos)
          ch.why.replace(at, 2, list);
        out.push_back(std::move(ch));
      }
    return out;
  }();
  return c;
}

} // namespace

const std::vector<OrderedPair> &ordered_pairs() {
  static const std::vector<OrderedPair> pairs = [] {
    std::vector<OrderedPair> out;
    for (const auto &c : chains())
      for (size_t i = 0; i + 1 < c.members.size(); i++)
        out.push_back(
            {c.struct_name.c_str(), c.members[i].c_str(), c.members[i + 1].c_str(), c.why.c_str()});
    return out;
  }();
  return pairs;
}

LayoutOrder detect_layout_order(const std::vector<FieldResult> &fields, const LayoutOrder &known) {
  if (known.randomized)
    return known;
  std::map<std::string, uint32_t> at;
  for (const auto &f : fields)
    if (f.status == FieldStatus::calibrated && f.offset)
      at[f.name] = *f.offset;
  for (const auto &c : chains()) {
    // The calibrated members in declaration order: every later one must sit
    // at a higher offset than every earlier one, i.e. than the last seen.
    const std::string *prev = nullptr;
    uint32_t prev_off = 0;
    for (const auto &m : c.members) {
      auto it = at.find(c.struct_name + "." + m);
      if (it == at.end())
        continue;
      if (prev && it->second <= prev_off) {
        LayoutOrder l;
        l.randomized = true;
        l.evidence = c.struct_name + "." + m + " (" + std::to_string(it->second) +
                     ") is not after ." + *prev + " (" + std::to_string(prev_off) + "); " + c.why;
        return l;
      }
      prev = &m;
      prev_off = it->second;
    }
  }
  return known;
}

std::string randstruct_in_config(const std::string &config_text) {
  // A line equal to the option, found with find() rather than a line-by-line
  // pass per option: three passes over a ~200 KB config with getline cost
  // ~1 ms at the start of every calibration.
  for (std::string_view opt : {"CONFIG_RANDSTRUCT_FULL=y", "CONFIG_RANDSTRUCT_PERFORMANCE=y",
                               "CONFIG_GCC_PLUGIN_RANDSTRUCT=y"}) {
    for (size_t at = config_text.find(opt); at != std::string::npos;
         at = config_text.find(opt, at + 1)) {
      size_t end = at + opt.size();
      if ((at == 0 || config_text[at - 1] == '\n') &&
          (end == config_text.size() || config_text[end] == '\n'))
        return std::string(opt);
    }
  }
  return "";
}

} // namespace offsetprobe
