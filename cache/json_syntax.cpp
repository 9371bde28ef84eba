// SPDX-License-Identifier: GPL-2.0-only
#include "cache/json_syntax.h"

#include <array>
#include <cstdint>

namespace offsetprobe {

namespace {

// Bytes a string's fast loop stops at: the quote, the backslash, control
// characters (refused in a string) and every non-ASCII byte (checked as
// UTF-8).
constexpr std::array<bool, 256> kStringStop = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; c++)
    t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
  return t;
}();

int hex_digit(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

class Scanner {
public:
  Scanner(std::string_view text, std::size_t max_depth,
          std::initializer_list<std::string_view> inner)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()),
        max_depth_(max_depth), inner_(inner) {}

  JsonSyntax run() {
    // nlohmann skips a UTF-8 byte order mark, and refuses a broken one.
    bool bom = p_ < end_ && static_cast<unsigned char>(*p_) == 0xEF;
    if (bom && (end_ - p_ < 3 || static_cast<unsigned char>(p_[1]) != 0xBB ||
                static_cast<unsigned char>(p_[2]) != 0xBF)) {
      fail(p_ + 1);
      return std::move(out_);
    }
    p_ += bom ? 3 : 0;
    ws();
    out_.top_is_object = p_ < end_ && *p_ == '{';
    if (value(&out_.members, true)) {
      ws();
      if (p_ == end_)
        out_.ok = true;
      else
        fail(p_);
    }
    return std::move(out_);
  }

private:
  bool fail(const char *at) {
    if (out_.error_byte == 0)
      out_.error_byte = at >= end_ ? static_cast<std::size_t>(end_ - begin_) + 1
                                   : static_cast<std::size_t>(at - begin_) + 1;
    return false;
  }

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }

  bool is_inner(std::string_view key) const {
    for (auto k : inner_)
      if (k == key)
        return true;
    return false;
  }

  bool open() {
    if (++depth_ > max_depth_) {
      out_.too_deep = true;
      return fail(p_);
    }
    ++p_;
    ws();
    return true;
  }

  // A value at p_ (whitespace skipped). `note`: where an object's members
  // are noted; `inner`: its members named in inner_ note theirs too.
  bool value(std::vector<JsonMember> *note, bool inner) {
    if (p_ >= end_)
      return fail(p_);
    switch (*p_) {
    case '{':
      return object(note, inner);
    case '[':
      return array();
    case '"':
      return string();
    case 't':
      return literal("true");
    case 'f':
      return literal("false");
    case 'n':
      return literal("null");
    default:
      return number();
    }
  }

  // An empty container's closing character, consumed.
  bool closes_at_once(char close) {
    if (p_ >= end_ || *p_ != close)
      return false;
    ++p_;
    --depth_;
    return true;
  }

  // After a container's element: a comma (more follow) or its closing
  // character; anything else fails.
  enum class Next { more, closed, failed };
  Next next(char close) {
    ws();
    if (p_ < end_ && *p_ == ',') {
      ++p_;
      ws();
      return Next::more;
    }
    if (closes_at_once(close))
      return Next::closed;
    fail(p_);
    return Next::failed;
  }

  bool object(std::vector<JsonMember> *note, bool inner) {
    if (!open())
      return false;
    if (closes_at_once('}'))
      return true;
    for (;;) {
      if (p_ >= end_ || *p_ != '"')
        return fail(p_);
      const char *key = p_ + 1;
      if (!string())
        return false;
      std::string_view k(key, static_cast<std::size_t>(p_ - 1 - key));
      ws();
      if (p_ >= end_ || *p_ != ':')
        return fail(p_);
      ++p_;
      ws();
      const char *v = p_;
      std::vector<JsonMember> *sub = nullptr;
      if (note) {
        note->push_back({k, {}, {}});
        if (inner && is_inner(k))
          sub = &note->back().members;
      }
      if (!value(sub, false))
        return false;
      if (note)
        note->back().value = std::string_view(v, static_cast<std::size_t>(p_ - v));
      if (Next n = next('}'); n != Next::more)
        return n == Next::closed;
    }
  }

  bool array() {
    if (!open())
      return false;
    if (closes_at_once(']'))
      return true;
    for (;;) {
      if (!value(nullptr, false))
        return false;
      if (Next n = next(']'); n != Next::more)
        return n == Next::closed;
    }
  }

  bool literal(std::string_view word) {
    for (char c : word) {
      if (p_ >= end_ || *p_ != c)
        return fail(p_);
      ++p_;
    }
    return true;
  }

  bool digits() {
    if (p_ >= end_ || *p_ < '0' || *p_ > '9')
      return fail(p_);
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
      ++p_;
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number() {
    if (*p_ == '-')
      ++p_;
    if (p_ < end_ && *p_ == '0')
      ++p_;
    else if (!digits())
      return false;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits())
        return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (!digits())
        return false;
    }
    return true;
  }

  // Four hex digits after "\u"; -1 if they are not.
  int32_t hex4() {
    if (end_ - p_ < 4) {
      fail(end_);
      return -1;
    }
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
      int d = hex_digit(static_cast<unsigned char>(p_[i]));
      if (d < 0) {
        fail(p_ + i);
        return -1;
      }
      v = v << 4 | d;
    }
    p_ += 4;
    return v;
  }

  bool escape() { // at the backslash
    ++p_;
    if (p_ >= end_)
      return fail(p_);
    switch (*p_++) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return true;
    case 'u': {
      int32_t cp = hex4();
      if (cp < 0)
        return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(p_ - 1); // a low surrogate first
      if (cp < 0xD800 || cp > 0xDBFF)
        return true;
      // A high surrogate: a low one must follow, escaped.
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
        return fail(p_ + (end_ - p_ < 2 ? end_ - p_ : 0));
      p_ += 2;
      int32_t lo = hex4();
      if (lo < 0)
        return false;
      if (lo < 0xDC00 || lo > 0xDFFF)
        return fail(p_ - 1);
      return true;
    }
    default:
      return fail(p_ - 1);
    }
  }

  // One UTF-8 sequence at p_ (its first byte >= 0x80): the ranges of RFC
  // 3629 that nlohmann's lexer accepts (no overlong forms, no surrogates,
  // nothing past U+10FFFF).
  bool utf8() {
    auto byte = [this](std::ptrdiff_t i) -> unsigned {
      return p_ + i < end_ ? static_cast<unsigned char>(p_[i]) : 0x100;
    };
    unsigned c = byte(0);
    unsigned lo = 0x80, hi = 0xBF;
    int n = 0;
    if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if (c == 0xE0)
      n = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
      n = 2;
    else if (c == 0xED)
      n = 2, hi = 0x9F;
    else if (c == 0xF0)
      n = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      n = 3;
    else if (c == 0xF4)
      n = 3, hi = 0x8F;
    else
      return fail(p_);
    for (int i = 1; i <= n; i++) {
      unsigned b = byte(i);
      // The first continuation byte has the narrower range.
      if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF))
        return fail(p_ + i);
    }
    p_ += n + 1;
    return true;
  }

  bool string() { // at the opening quote; ends past the closing one
    ++p_;
    for (;;) {
      while (p_ < end_ && !kStringStop[static_cast<unsigned char>(*p_)])
        ++p_;
      if (p_ >= end_)
        return fail(p_);
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!escape())
          return false;
      } else if (c >= 0x80) {
        if (!utf8())
          return false;
      } else {
        return fail(p_); // a control character
      }
    }
  }

  const char *begin_, *p_, *end_;
  std::size_t depth_ = 0, max_depth_;
  std::initializer_list<std::string_view> inner_;
  JsonSyntax out_;
};

} // namespace

JsonSyntax scan_json(std::string_view text, std::size_t max_depth,
                     std::initializer_list<std::string_view> inner) {
  return Scanner(text, max_depth, inner).run();
}

} // namespace offsetprobe
