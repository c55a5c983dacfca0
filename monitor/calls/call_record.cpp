#include "monitor/calls/call_record.hpp"

#include <cstdio>

namespace tw::calls {

std::string_view to_string(Direction d) {
  return d == Direction::Outbound ? "outbound" : "inbound";
}

std::string_view to_string(EndReason r) {
  switch (r) {
    case EndReason::Released:
      return "released";
    case EndReason::Restart:
      return "restart";
    case EndReason::ChannelReused:
      return "channel_reused";
    case EndReason::Timeout:
      return "timeout";
    case EndReason::CaptureEnd:
      return "capture_end";
    case EndReason::Shutdown:
      return "shutdown";
  }
  return "?";
}

std::string sanitize_wire_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    if (b == '\\') {
      out += "\\\\";
    } else if (b >= 0x20 && b < 0x7f) {
      out += c;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", b);
      out += hex;
    }
  }
  return out;
}

}  // namespace tw::calls
