#include "json_scan.h"

#include <nlohmann/json.hpp>

namespace demo {
namespace {

using json = nlohmann::json;

// Deep enough for any real output field; bounded because the tree is printed and freed
// recursively.
constexpr size_t kMaxDepth = 256;

// What nlohmann's SAX interface cannot do, and how this file makes up for it (each shown by a
// test in tests/demo):
// - It reports integers by value, only floats with their text. A JSON integer literal is
//   canonical (no leading zero, no '+'), so its value written in decimal is its text, except
//   "-0": nlohmann reports it as number_integer(0), while "0" is number_unsigned(0)
//   (test_cli.py, "n.negzero").
// - It refuses invalid UTF-8 inside strings, which Falco passes through from the event (a file
//   name, a command line) and the library repairs: repair_utf8 makes the library's repair
//   first, so that the alert is not lost (test_roundtrip.py, invalid UTF-8).
// - It refuses a lone surrogate escape ("\ud800"); Falco (nlohmann's dump) never writes one.
class TreeBuilder : public json::json_sax_t {
 public:
  explicit TreeBuilder(JsonValue &root) : root_(root) {}
  const std::string &error() const { return error_; }

  bool null() override { return put(JsonType::Null, {}); }
  bool boolean(bool v) override { return put(JsonType::Bool, v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    return put(JsonType::Number, v == 0 ? "-0" : std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return put(JsonType::Number, std::to_string(v));
  }
  bool number_float(number_float_t, const string_t &literal) override {
    return put(JsonType::Number, literal);
  }
  bool string(string_t &s) override { return put(JsonType::String, std::move(s)); }
  bool binary(binary_t &) override { return fail("a binary value"); }  // not in JSON text
  bool key(string_t &k) override {
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override { return open(JsonType::Object); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(JsonType::Array); }
  bool end_array() override { return close(); }

  bool parse_error(std::size_t position, const std::string &,
                   const nlohmann::detail::exception &e) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 8: syntax error ..."
    std::string what = e.what();
    size_t column = what.find("column ");
    size_t colon = column == std::string::npos ? column : what.find(": ", column);
    if (colon != std::string::npos) what.erase(0, colon + 2);
    return fail(what + " (at byte " + std::to_string(position) + ")");
  }

 private:
  // Where the next value goes: the root, the open object's next member or the open array's
  // next element. Only the innermost open container grows, so the pointers on stack_ (its
  // ancestors) stay valid.
  JsonValue &next_slot() {
    if (stack_.empty()) return root_;
    JsonValue &parent = *stack_.back();
    if (parent.type == JsonType::Object) {
      parent.members.emplace_back(std::move(key_), JsonValue{});
      return parent.members.back().second;
    }
    parent.elements.emplace_back();
    return parent.elements.back();
  }
  bool put(JsonType type, std::string text) {
    JsonValue &v = next_slot();
    v.type = type;
    v.text = std::move(text);
    return true;
  }
  bool open(JsonType type) {
    if (stack_.size() >= kMaxDepth) return fail("nested deeper than " + std::to_string(kMaxDepth));
    JsonValue &v = next_slot();
    v.type = type;
    stack_.push_back(&v);
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }
  bool fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }

  JsonValue &root_;
  std::vector<JsonValue *> stack_;
  std::string key_;
  std::string error_;
};

// The length of the valid UTF-8 sequence at s[i], or 0; `bad` is then the length of the
// maximal invalid subpart to replace with one U+FFFD (Unicode's "best practice", which Rust's
// String::from_utf8_lossy, the library's repair, follows).
size_t utf8_sequence(std::string_view s, size_t i, size_t &bad) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  for (size_t k = 1; k < len; k++) {
    bool ok = i + k < s.size() && byte(i + k) >= (k == 1 ? lo : 0x80) &&
              byte(i + k) <= (k == 1 ? hi : 0xBF);
    if (!ok) {
      bad = k;
      return 0;
    }
  }
  return len;
}

// False when `s` is valid UTF-8; otherwise true, with `out` holding it repaired.
bool repair_utf8(std::string_view s, std::string &out) {
  size_t i = 0, bad = 0, len = 0;
  while (i < s.size() && (len = utf8_sequence(s, i, bad)) != 0) i += len;
  if (i == s.size()) return false;
  out.assign(s.substr(0, i));
  while (i < s.size()) {
    len = utf8_sequence(s, i, bad);
    if (len != 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      i += bad;
    }
  }
  return true;
}

void write_json(const JsonValue &v, std::string &out) {
  auto quoted = [&](const std::string &s) {
    out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  switch (v.type) {
    case JsonType::Null: out += "null"; break;
    case JsonType::Bool:
    case JsonType::Number: out += v.text; break;
    case JsonType::String: quoted(v.text); break;
    case JsonType::Object:
      out += '{';
      for (size_t k = 0; k < v.members.size(); k++) {
        if (k > 0) out += ',';
        quoted(v.members[k].first);
        out += ':';
        write_json(v.members[k].second, out);
      }
      out += '}';
      break;
    case JsonType::Array:
      out += '[';
      for (size_t k = 0; k < v.elements.size(); k++) {
        if (k > 0) out += ',';
        write_json(v.elements[k], out);
      }
      out += ']';
      break;
  }
}

}  // namespace

bool parse_json(std::string_view text, JsonValue &out, std::string &error) {
  std::string repaired;
  if (repair_utf8(text, repaired)) text = repaired;
  out = JsonValue{};
  TreeBuilder builder(out);
  if (json::sax_parse(text.begin(), text.end(), &builder)) return true;
  error = builder.error().empty() ? "not valid JSON" : builder.error();
  return false;
}

std::string json_text(const JsonValue &value) {
  std::string out;
  write_json(value, out);
  return out;
}

const char *json_type_name(JsonType t) {
  switch (t) {
    case JsonType::Object: return "an object";
    case JsonType::Array: return "an array";
    case JsonType::String: return "a string";
    case JsonType::Number: return "a number";
    case JsonType::Bool: return "a boolean";
    case JsonType::Null: return "null";
  }
  return "?";
}

}  // namespace demo
