// SPDX-License-Identifier: GPL-2.0-only
// reader/json.hpp: depth-limited, non-throwing JSON parsing and the checks of
// names, timestamps and the schema string. Part of offsetprobe_reader.hpp.
#pragma once

#include "constants.hpp"
#include "errors.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace offsetprobe::reader {

// The error for a text that stopped being JSON at `byte` (1-based, as
// nlohmann counts): truncated when that is its end (the document stopped
// early), corrupt otherwise.
inline Error json_syntax_error(const std::string &what, std::size_t byte, std::size_t size) {
  if (byte >= size)
    return make_error(ErrorCode::truncated, what + " ends early after " + std::to_string(size) +
                                                " bytes (truncated JSON)");
  return make_error(ErrorCode::corrupt,
                    what + " is not valid JSON (byte " + std::to_string(byte) + ")");
}

// parse_json: depth-limited, non-throwing parse. Errors: corrupt, truncated.
inline Result<nlohmann::json> parse_json(std::string_view text, const std::string &what,
                                         std::size_t max_depth = kMaxJsonDepth) {
  std::size_t depth = 0;
  bool in_string = false, escape = false, any = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return make_error(ErrorCode::corrupt, what + " is nested more than " +
                                                  std::to_string(max_depth) +
                                                  " levels deep; refusing to parse it");
    } else if ((c == ']' || c == '}') && depth > 0)
      --depth;
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
      any = true;
  }
  if (!any)
    return make_error(ErrorCode::truncated, what + " holds no JSON (empty or truncated)");
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error &e) {
    return json_syntax_error(what, e.byte, text.size());
  } catch (const std::exception &) {
    return make_error(ErrorCode::corrupt, what + " is not valid JSON");
  }
}

// A field or struct name: an identifier path ("task_struct.signal.pids").
// Kept narrow so names can go into C macros and comments without escaping.
inline bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 128)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && (digit || c == '.'))))
      return false;
  }
  return s.back() != '.';
}

// valid_timestamp: "YYYY-MM-DDTHH:MM:SSZ" with optional fractional seconds.
inline bool valid_timestamp(std::string_view s) {
  static constexpr std::string_view pat = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < pat.size() + 1 || s.back() != 'Z')
    return false;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    bool d = s[i] >= '0' && s[i] <= '9';
    if (pat[i] == 'd' ? !d : s[i] != pat[i])
      return false;
  }
  std::string_view frac = s.substr(pat.size(), s.size() - pat.size() - 1);
  if (frac.empty())
    return true;
  if (frac[0] != '.' || frac.size() < 2 || frac.size() > 10)
    return false;
  for (char c : frac.substr(1))
    if (c < '0' || c > '9')
      return false;
  return true;
}

namespace detail {
inline const nlohmann::json *member(const nlohmann::json &j, const char *key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
inline std::optional<std::string> string_member(const nlohmann::json &j, const char *key) {
  const auto *v = member(j, key);
  if (!v || !v->is_string())
    return std::nullopt;
  return v->get<std::string>();
}
} // namespace detail

// check_schema: "offsetprobe/v1" or an error saying why not. A higher
// "offsetprobe/vN" is future_schema: a newer tool wrote it and its meaning may
// have changed, so it is refused rather than misread.
inline std::optional<Error> check_schema(const nlohmann::json &j, const std::string &what,
                                         const char *expected = kSchema) {
  if (!j.is_object())
    return make_error(ErrorCode::schema_invalid, what + ": top level is not a JSON object");
  auto schema = detail::string_member(j, "schema");
  if (!schema)
    return make_error(ErrorCode::schema_invalid, what + ": missing or non-string \"schema\"");
  if (*schema == expected)
    return std::nullopt;
  std::string_view exp = expected;
  std::string_view prefix = exp.substr(0, exp.rfind("/v") + 2);
  std::string_view got = *schema;
  if (got.substr(0, prefix.size()) == prefix) {
    std::string_view num = got.substr(prefix.size());
    bool digits = !num.empty() && num.size() < 9 &&
                  num.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits && std::stoi(std::string(num)) > std::stoi(std::string(exp.substr(prefix.size()))))
      return make_error(ErrorCode::future_schema,
                        what + ": schema \"" + *schema +
                            "\" was written by a newer offsetprobe; this reader understands \"" +
                            expected + "\" only (upgrade the reader or recalibrate)");
  }
  return make_error(ErrorCode::schema_invalid,
                    what + ": unknown schema \"" + *schema + "\" (expected \"" + expected + "\")");
}

} // namespace offsetprobe::reader
