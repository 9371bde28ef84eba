// SPDX-License-Identifier: GPL-2.0-only
// A JSON text checked for syntax only, nothing built: the grammar of RFC 8259
// as nlohmann's lexer and parser take it (a UTF-8 byte order mark at the
// start, UTF-8 checked inside strings, \u escapes with their surrogate
// pairs, nesting limited). On the way it notes where the members of the
// top-level object lie, and those of its object members `inner` names, as
// byte spans: a caller parses only the spans it needs (lookup_bundle: one
// build and one layout of a bundle of a hundred).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

namespace offsetprobe {

struct JsonMember {
  std::string_view key;   // as written, between its quotes (escapes not decoded)
  std::string_view value; // the value's text
  // Members of `value` (an object whose key `inner` named), in text order.
  std::vector<JsonMember> members;
};

struct JsonSyntax {
  bool ok = false;
  bool too_deep = false; // nested deeper than max_depth (then ok is false)
  // Where the text stopped being JSON, 1-based like nlohmann's parse_error:
  // at least the text's size when it ended early.
  std::size_t error_byte = 0;
  bool top_is_object = false;
  // The top-level object's members, in text order (duplicates kept).
  std::vector<JsonMember> members;
};

// `inner`: the top-level keys whose object values have their members noted
// too. A key is compared as written, so an escaped spelling never matches.
JsonSyntax scan_json(std::string_view text, std::size_t max_depth,
                     std::initializer_list<std::string_view> inner = {});

} // namespace offsetprobe
