// A strict, small JSON scanner for Falco's alert lines. It keeps every value's raw text, so a
// number goes back to the library exactly as it was written ("1.50e+10" stays "1.50e+10") and
// a nested object is passed on as written. Invalid UTF-8 inside strings is passed through
// untouched: the library repairs it to U+FFFD rather than the alert being lost.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace demo {

enum class JsonType { Object, Array, String, Number, Bool, Null };

struct JsonValue {
  JsonType type = JsonType::Null;
  std::string_view raw;  // the value's exact text, pointing into the scanned text
};

using JsonMember = std::pair<std::string, JsonValue>;  // decoded key, raw value

// `text` must be exactly one JSON object (whitespace around it allowed); every nested value is
// validated. On failure returns false and `error` says what and at which byte.
bool parse_object(std::string_view text, std::vector<JsonMember> &members, std::string &error);

// The same for an array's elements.
bool parse_array(std::string_view text, std::vector<JsonValue> &elements, std::string &error);

// Decodes a string value's raw token (quotes included) into its bytes.
std::string json_string_value(std::string_view raw);

const char *json_type_name(JsonType t);

}  // namespace demo
