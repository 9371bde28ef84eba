// SPDX-License-Identifier: GPL-2.0-only
// A plain left-aligned text table for human output.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace offsetprobe {

class Table {
public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(FILE *out) const {
    std::vector<size_t> width;
    for (const auto &r : rows_)
      for (size_t i = 0; i < r.size(); i++) {
        width.resize(std::max(width.size(), r.size()));
        width[i] = std::max(width[i], r[i].size());
      }
    for (const auto &r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); i++) {
        line += r[i];
        if (i + 1 < r.size())
          line += std::string(width[i] - r[i].size() + 2, ' ');
      }
      std::fprintf(out, "%s\n", line.c_str());
    }
  }

private:
  std::vector<std::vector<std::string>> rows_;
};

} // namespace offsetprobe
