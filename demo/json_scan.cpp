#include "json_scan.h"

#include <cstdint>

namespace demo {
namespace {

// Deep enough for any real output field; bounded so a hostile line cannot exhaust the stack.
constexpr int kMaxDepth = 256;

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  bool fail(const char *what) {
    if (error_.empty()) error_ = std::string(what) + " at byte " + std::to_string(i_ + 1);
    return false;
  }
  const std::string &error() const { return error_; }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) i_++;
  }
  bool at_end() {
    skip_ws();
    return i_ == s_.size();
  }
  bool peek(char c) {
    skip_ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool expect(char c, const char *what) {
    if (!peek(c)) return fail(what);
    i_++;
    return true;
  }

  bool value(JsonValue &out, int depth) {
    skip_ws();
    if (i_ >= s_.size()) return fail("value expected, end of line found");
    size_t start = i_;
    char c = s_[i_];
    bool ok;
    switch (c) {
      case '{': out.type = JsonType::Object; ok = container('{', depth); break;
      case '[': out.type = JsonType::Array; ok = container('[', depth); break;
      case '"': out.type = JsonType::String; ok = string_token(); break;
      case 't': out.type = JsonType::Bool; ok = literal("true"); break;
      case 'f': out.type = JsonType::Bool; ok = literal("false"); break;
      case 'n': out.type = JsonType::Null; ok = literal("null"); break;
      default: out.type = JsonType::Number; ok = number_token(); break;
    }
    if (!ok) return false;
    out.raw = s_.substr(start, i_ - start);
    return true;
  }

  // Starting on the opening quote; leaves i_ after the closing one.
  bool string_token() {
    i_++;
    while (i_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        i_++;
        return true;
      }
      if (c < 0x20) return fail("control character inside a string");
      if (c == '\\') {
        i_++;
        if (i_ >= s_.size()) break;
        char e = s_[i_];
        if (e == 'u') {
          for (int k = 1; k <= 4; k++) {
            if (i_ + k >= s_.size() || !is_hex(s_[i_ + k])) return fail("bad \\u escape");
          }
          i_ += 4;
        } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                   e != 'r' && e != 't') {
          return fail("bad escape in a string");
        }
      }
      i_++;
    }
    return fail("unterminated string");
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number_token() {
    size_t n = s_.size();
    if (i_ < n && s_[i_] == '-') i_++;
    if (i_ < n && s_[i_] == '0') {
      i_++;
    } else if (i_ < n && s_[i_] >= '1' && s_[i_] <= '9') {
      while (i_ < n && is_digit(s_[i_])) i_++;
    } else {
      return fail("invalid value");
    }
    if (i_ < n && s_[i_] == '.') {
      i_++;
      if (!(i_ < n && is_digit(s_[i_]))) return fail("digit expected after '.'");
      while (i_ < n && is_digit(s_[i_])) i_++;
    }
    if (i_ < n && (s_[i_] == 'e' || s_[i_] == 'E')) {
      i_++;
      if (i_ < n && (s_[i_] == '+' || s_[i_] == '-')) i_++;
      if (!(i_ < n && is_digit(s_[i_]))) return fail("digit expected in exponent");
      while (i_ < n && is_digit(s_[i_])) i_++;
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("invalid value");
    i_ += word.size();
    return true;
  }

  // Validates a whole object or array, skipping over it.
  bool container(char open, int depth) {
    if (depth >= kMaxDepth) return fail("nesting too deep");
    char close = open == '{' ? '}' : ']';
    i_++;
    if (peek(close)) {
      i_++;
      return true;
    }
    for (;;) {
      JsonValue v;
      if (open == '{') {
        if (!peek('"')) return fail("member name expected");
        if (!string_token()) return false;
        if (!expect(':', "':' expected")) return false;
      }
      if (!value(v, depth + 1)) return false;
      if (peek(',')) {
        i_++;
        continue;
      }
      return expect(close, open == '{' ? "',' or '}' expected" : "',' or ']' expected");
    }
  }

  // One level of an object: decoded keys, raw values.
  bool members(std::vector<JsonMember> &out) {
    if (!expect('{', "object expected")) return false;
    if (peek('}')) {
      i_++;
      return end();
    }
    for (;;) {
      if (!peek('"')) return fail("member name expected");
      size_t k = i_;
      if (!string_token()) return false;
      std::string key = json_string_value(s_.substr(k, i_ - k));
      if (!expect(':', "':' expected")) return false;
      JsonValue v;
      if (!value(v, 1)) return false;
      out.emplace_back(std::move(key), v);
      if (peek(',')) {
        i_++;
        continue;
      }
      if (!expect('}', "',' or '}' expected")) return false;
      return end();
    }
  }

  bool elements(std::vector<JsonValue> &out) {
    if (!expect('[', "array expected")) return false;
    if (peek(']')) {
      i_++;
      return end();
    }
    for (;;) {
      JsonValue v;
      if (!value(v, 1)) return false;
      out.push_back(v);
      if (peek(',')) {
        i_++;
        continue;
      }
      if (!expect(']', "',' or ']' expected")) return false;
      return end();
    }
  }

 private:
  bool end() { return at_end() || fail("unexpected text after the value"); }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string error_;
};

unsigned hex4(std::string_view s) {
  unsigned v = 0;
  for (char c : s.substr(0, 4)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
  }
  return v;
}

void put_utf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

bool parse_object(std::string_view text, std::vector<JsonMember> &members, std::string &error) {
  Scanner s(text);
  if (s.members(members)) return true;
  error = s.error();
  return false;
}

bool parse_array(std::string_view text, std::vector<JsonValue> &elements, std::string &error) {
  Scanner s(text);
  if (s.elements(elements)) return true;
  error = s.error();
  return false;
}

std::string json_string_value(std::string_view raw) {
  std::string out;
  if (raw.size() < 2) return out;
  std::string_view body = raw.substr(1, raw.size() - 2);
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); i++) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp = hex4(body.substr(i + 1));
        i += 4;
        // A surrogate pair makes one code point; a lone surrogate becomes U+FFFD.
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < body.size() && body[i + 1] == '\\' &&
            body[i + 2] == 'u') {
          uint32_t lo = hex4(body.substr(i + 3));
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        put_utf8(out, cp);
        break;
      }
      default: out += e; break;  // " \ /
    }
  }
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
