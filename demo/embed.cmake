# cmake -DIN=<file> -DOUT=<file.cpp> -P embed.cmake: writes IN's bytes as demo::kSampleAlerts.
file(READ "${IN}" _hex HEX)
string(LENGTH "${_hex}" _len)
math(EXPR _bytes "${_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," _arr "${_hex}")
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by embed.cmake; do not edit.\n"
  "#include \"sample_alerts.h\"\n"
  "namespace demo {\n"
  "const char kSampleAlerts[] = {${_arr} '\\0'};\n"
  "const size_t kSampleAlertsLen = ${_bytes};\n"
  "}  // namespace demo\n")
file(RENAME "${OUT}.tmp" "${OUT}")
