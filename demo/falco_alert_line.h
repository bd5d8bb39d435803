// One line of Falco's JSON output (json_output: true) turned back into what the engine had
// before formatting: time, priority, rule, source, bare message, typed fields, tags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "falco_outputs.h"

namespace demo {

struct ParsedField {
  std::string name;
  std::string value;  // the literal text for numbers, booleans and JSON; decoded for strings
  int32_t kind = FALCO_FIELD_STRING;
};

struct ParsedAlert {
  uint64_t time_ns = 0;
  int32_t priority = FALCO_PRIORITY_DEBUG;
  std::string rule;
  bool has_source = false;
  std::string source;
  std::string message;
  bool message_recovered = true;  // false: `output` had no "<time>: <Priority> " prefix
  std::vector<ParsedField> fields;
  std::vector<std::string> tags;
  bool internal = false;  // source "internal": a falco_outputs_emit_msg message
};

// Parses one line. False with `error` (naming the key at fault) when the line is malformed.
bool parse_alert_line(std::string_view line, ParsedAlert &out, std::string &error);

// "2017-10-09T23:31:56.746609046Z" (or with a +hh:mm offset) -> ns since the epoch.
bool parse_rfc3339_ns(std::string_view text, uint64_t &ns);

// "Warning" -> FALCO_PRIORITY_WARNING (case-insensitive; "info" too); -1 when unknown.
int32_t priority_from_name(std::string_view name);
const char *priority_name(int32_t priority);

// The message inside a Falco output line: "<time>: <Priority> <message>" -> "<message>".
// False when the prefix is not there.
bool strip_output_prefix(std::string_view output, std::string_view priority, std::string &message);

}  // namespace demo
