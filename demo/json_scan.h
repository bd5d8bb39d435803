// Reads one JSON text (a Falco alert line) with nlohmann-json's SAX parser into a small tree
// that keeps what the round trip needs and nlohmann's DOM would lose: every number as its
// literal text ("1.50e+10" stays "1.50e+10", "-0" stays "-0"), and members in their order,
// duplicates included.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace demo {

enum class JsonType { Object, Array, String, Number, Bool, Null };

struct JsonValue {
  JsonType type = JsonType::Null;
  // String: the decoded UTF-8 text. Number: the literal as written. Bool: "true" or "false".
  std::string text;
  std::vector<std::pair<std::string, JsonValue>> members;  // Object: decoded keys, in order
  std::vector<JsonValue> elements;                         // Array
};

// Parses exactly one JSON value (whitespace around it allowed). Invalid UTF-8 is first
// repaired to U+FFFD as the library would repair it, so that the alert is not lost. On
// failure returns false and `error` says what and at which byte.
bool parse_json(std::string_view text, JsonValue &out, std::string &error);

// The value as compact JSON, numbers as written (for FALCO_FIELD_JSON).
std::string json_text(const JsonValue &value);

const char *json_type_name(JsonType t);

}  // namespace demo
