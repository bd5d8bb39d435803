#include "falco_alert_line.h"

#include <cctype>

#include "json_scan.h"

namespace demo {
namespace {

constexpr const char *kPriorityNames[] = {"Emergency", "Alert",         "Critical", "Error",
                                          "Warning",   "Notice", "Informational", "Debug"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(std::string_view s, size_t at, size_t n, int64_t &v) {
  if (at + n > s.size()) return false;
  v = 0;
  for (size_t k = at; k < at + n; k++) {
    if (s[k] < '0' || s[k] > '9') return false;
    v = v * 10 + (s[k] - '0');
  }
  return true;
}

// A non-negative integer literal that fits in 64 bits (evt.time's nanoseconds).
bool parse_u64(std::string_view s, uint64_t &v) {
  if (s.empty() || s.size() > 20) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  return true;
}

bool fail(std::string &error, std::string what) {
  error = std::move(what);
  return false;
}

std::string quoted(std::string_view key) { return "\"" + std::string(key) + "\""; }

bool want_string(const JsonValue &v, std::string_view key, std::string &out, std::string &error) {
  if (v.type != JsonType::String) {
    error = quoted(key) + " is " + json_type_name(v.type) + ", not a string";
    return false;
  }
  out = v.text;
  return true;
}

bool time_from_field(const JsonValue &v, std::string_view key, uint64_t &ns, std::string &error) {
  if (v.type == JsonType::Number && parse_u64(v.text, ns)) return true;
  if (v.type == JsonType::String && parse_rfc3339_ns(v.text, ns)) return true;
  error = "output_fields." + quoted(key) + ": " + json_text(v) +
          " is neither nanoseconds since the epoch nor an RFC 3339 time";
  return false;
}

}  // namespace

int32_t priority_from_name(std::string_view name) {
  for (int32_t p = 0; p < 8; p++) {
    if (iequals(name, kPriorityNames[p])) return p;
  }
  if (iequals(name, "info")) return FALCO_PRIORITY_INFORMATIONAL;
  if (iequals(name, "warn")) return FALCO_PRIORITY_WARNING;
  if (iequals(name, "crit")) return FALCO_PRIORITY_CRITICAL;
  if (iequals(name, "emerg")) return FALCO_PRIORITY_EMERGENCY;
  return -1;
}

const char *priority_name(int32_t priority) {
  return priority >= 0 && priority < 8 ? kPriorityNames[priority] : "?";
}

bool parse_rfc3339_ns(std::string_view t, uint64_t &ns) {
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+hh:mm|-hh:mm|+hhmm|-hhmm)
  int64_t y, mo, d, h, mi, s;
  if (!digits(t, 0, 4, y) || t.size() < 20 || t[4] != '-' || !digits(t, 5, 2, mo) ||
      t[7] != '-' || !digits(t, 8, 2, d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !digits(t, 11, 2, h) || t[13] != ':' || !digits(t, 14, 2, mi) || t[16] != ':' ||
      !digits(t, 17, 2, s))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  size_t i = 19;
  int64_t frac = 0;
  if (i < t.size() && t[i] == '.') {
    i++;
    size_t n = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      if (n >= 9) return false;  // finer than a nanosecond would be silently cut
      frac = frac * 10 + (t[i] - '0');
      n++;
      i++;
    }
    if (n == 0) return false;
    for (; n < 9; n++) frac *= 10;
  }
  int64_t offset = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    i++;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int64_t oh, om;
    bool colon = i + 3 < t.size() && t[i + 3] == ':';
    if (!digits(t, i + 1, 2, oh) || !digits(t, i + (colon ? 4 : 3), 2, om)) return false;
    offset = (oh * 3600 + om * 60) * (t[i] == '-' ? -1 : 1);
    i += colon ? 6 : 5;
  } else {
    return false;
  }
  if (i != t.size()) return false;
  int64_t secs = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                 h * 3600 + mi * 60 + s - offset;
  if (secs < 0) return false;
  ns = static_cast<uint64_t>(secs) * 1000000000u + static_cast<uint64_t>(frac);
  return true;
}

bool strip_output_prefix(std::string_view output, std::string_view priority, std::string &message) {
  // "<time>: " where <time> is "HH:MM:SS.nnnnnnnnn" or "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+hhmm".
  size_t colon = output.find(": ");
  if (colon == std::string_view::npos || colon == 0) return false;
  for (char c : output.substr(0, colon)) {
    if (!((c >= '0' && c <= '9') || c == ':' || c == '.' || c == '-' || c == '+' || c == 'T'))
      return false;
  }
  std::string_view rest = output.substr(colon + 2);
  size_t sp = rest.find(' ');
  std::string_view word = rest.substr(0, sp);
  if (!iequals(word, priority) && priority_from_name(word) < 0) return false;
  message = sp == std::string_view::npos ? std::string() : std::string(rest.substr(sp + 1));
  return true;
}

bool parse_alert_line(std::string_view line, ParsedAlert &out, std::string &error) {
  JsonValue root;
  if (!parse_json(line, root, error)) {
    error = "invalid JSON: " + error;
    return false;
  }
  if (root.type != JsonType::Object)
    return fail(error, std::string("invalid JSON: an object expected, ") +
                           json_type_name(root.type) + " found");
  const JsonValue *time = nullptr, *rule = nullptr, *priority = nullptr, *source = nullptr,
                  *message = nullptr, *output = nullptr, *fields = nullptr, *tags = nullptr;
  for (const auto &[key, value] : root.members) {
    // A later duplicate wins, as in the std::map a C++ reader would fill.
    if (key == "time") time = &value;
    else if (key == "rule") rule = &value;
    else if (key == "priority") priority = &value;
    else if (key == "source") source = &value;
    else if (key == "message") message = &value;
    else if (key == "output") output = &value;
    else if (key == "output_fields") fields = &value;
    else if (key == "tags") tags = &value;
  }

  if (!rule) return fail(error, "missing \"rule\"");
  if (!want_string(*rule, "rule", out.rule, error)) return false;
  if (!priority) return fail(error, "missing \"priority\"");
  std::string prio;
  if (!want_string(*priority, "priority", prio, error)) return false;
  out.priority = priority_from_name(prio);
  if (out.priority < 0) return fail(error, "\"priority\": unknown priority \"" + prio + "\"");
  if (source && source->type != JsonType::Null) {
    if (!want_string(*source, "source", out.source, error)) return false;
    out.has_source = true;
  }
  out.internal = out.has_source && out.source == "internal";

  static const std::vector<std::pair<std::string, JsonValue>> kNoFields;
  const auto *fmembers = &kNoFields;
  if (fields && fields->type != JsonType::Null) {
    if (fields->type != JsonType::Object)
      return fail(error, std::string("\"output_fields\" is ") + json_type_name(fields->type) +
                             ", not an object");
    fmembers = &fields->members;
  }

  bool have_time = false;
  if (time && time->type != JsonType::Null) {
    std::string t;
    if (!want_string(*time, "time", t, error)) return false;
    if (!parse_rfc3339_ns(t, out.time_ns))
      return fail(error, "\"time\": \"" + t + "\" is not an RFC 3339 time");
    have_time = true;
  }
  for (const auto &[key, value] : *fmembers) {
    bool time_key = key == "evt.time" || key == "evt.time.iso8601";
    if (time_key && !out.internal) {
      // The library adds the time field itself, from the alert's time.
      if (!have_time) {
        if (!time_from_field(value, key, out.time_ns, error)) return false;
        have_time = true;
      }
      continue;
    }
    ParsedField f;
    f.name = key;
    switch (value.type) {
      case JsonType::String: f.kind = FALCO_FIELD_STRING; f.value = value.text; break;
      case JsonType::Number: f.kind = FALCO_FIELD_NUMBER; f.value = value.text; break;
      case JsonType::Bool: f.kind = FALCO_FIELD_BOOL; f.value = value.text; break;
      case JsonType::Null: f.kind = FALCO_FIELD_NULL; break;
      case JsonType::Object:
      case JsonType::Array: f.kind = FALCO_FIELD_JSON; f.value = json_text(value); break;
    }
    out.fields.push_back(std::move(f));
  }
  if (!have_time)
    return fail(error, "no time: neither \"time\" nor output_fields' \"evt.time\"");

  if (message && message->type != JsonType::Null) {
    if (!want_string(*message, "message", out.message, error)) return false;
  } else if (output && output->type != JsonType::Null) {
    std::string text;
    if (!want_string(*output, "output", text, error)) return false;
    if (out.internal) {
      out.message = std::move(text);  // messages carry no "<time>: <Priority> " prefix
    } else if (!strip_output_prefix(text, prio, out.message)) {
      out.message = std::move(text);
      out.message_recovered = false;
    }
  } else {
    return fail(error, "neither \"message\" nor \"output\"");
  }

  if (tags && tags->type != JsonType::Null) {
    if (tags->type != JsonType::Array)
      return fail(error,
                  std::string("\"tags\" is ") + json_type_name(tags->type) + ", not an array");
    for (const auto &item : tags->elements) {
      std::string tag;
      if (!want_string(item, "tags[]", tag, error)) return false;
      out.tags.push_back(std::move(tag));
    }
  }
  return true;
}

}  // namespace demo
