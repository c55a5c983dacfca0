// Value types a span source hands to the rest of the pipeline. They model what a DAHDI card
// gives (spans, D-channel frames, B-channel audio, line events) and nothing more, so replay,
// simulator and card are interchangeable.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tw::hal {

// Frame and event times: UTC, microsecond resolution. From the capture or the simulator's
// clock when replaying or simulating, from the card's read time when live.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

enum class SpanType : std::uint8_t { T1, E1 };

// The two ends of a trunk as a tap sees them. A passive tap hears each direction separately,
// so every frame and every audio chunk says which end transmitted it.
enum class Side : std::uint8_t { Pbx, Carrier };

// RFC 3339 UTC with milliseconds, as every record and log line shows times:
// 2027-01-05T09:14:03.125Z.
std::string format_time(Timestamp t);
// Reads RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" ('T', 't' or ' ' between
// date and time); nullopt for anything else, a time without an offset included.
std::optional<Timestamp> parse_time(std::string_view text);
// A UTC time from calendar fields and an offset east of UTC; nullopt if the fields are invalid.
std::optional<Timestamp> make_time(int year, int month, int day, int hour, int minute, int second,
                                   long long microseconds, int offset_minutes);

constexpr Side other(Side s) {
  return s == Side::Pbx ? Side::Carrier : Side::Pbx;
}
constexpr std::string_view to_string(Side s) {
  return s == Side::Pbx ? "pbx" : "carrier";
}

// Q.921/Q.931 role of the PBX's end of the link.
enum class Role : std::uint8_t { User, Network };

// Q.931 variant spoken on a span.
enum class SwitchType : std::uint8_t { Ni2, Att4ess, Att5ess, Dms100, EuroIsdn, Qsig };

std::string_view to_string(SwitchType t);
// Accepts the names libpri and Asterisk use ("ni2", "4ess", "5ess", "dms100", "euroisdn",
// "qsig"); returns false for anything else.
bool parse_switch_type(std::string_view name, SwitchType& out);
std::string_view to_string(SpanType t);

// Alarm bits as DAHDI reports them (dahdi/user.h DAHDI_ALARM_*).
namespace alarm {
constexpr std::uint32_t kYellow = 1u << 2;
constexpr std::uint32_t kRed = 1u << 3;
constexpr std::uint32_t kBlue = 1u << 4;
constexpr std::uint32_t kLos = 1u << 8;
}  // namespace alarm

struct SpanInfo {
  int id = 1;
  SpanType type = SpanType::T1;
  // Framing and line code as the card is configured ("esf/b8zs", "ccs/hdb3/crc4"); "" when
  // the source does not know (a capture, a software span).
  std::string framing = "esf";
  std::string name;  // free text ("Digium TE420 span 1", "simulated", file name)
  SwitchType switch_type = SwitchType::Ni2;
  Role pbx_role = Role::User;
  std::uint32_t alarms = 0;
  // The B-channel numbers as Q.931 names them (T1: 1-23, E1: 1-15 and 17-31).
  int first_bchan() const { return 1; }
  int last_bchan() const { return type == SpanType::T1 ? 23 : 31; }
  int dchan() const { return type == SpanType::T1 ? 24 : 16; }
};

// One LAPD frame from a D-channel: address, control and information field, without FCS.
// `bytes` is a view valid only during the callback that hands the frame over.
struct DFrame {
  int span = 0;
  Side from = Side::Pbx;
  Timestamp time{};
  std::span<const std::uint8_t> bytes;
};

enum class LineEventType : std::uint8_t {
  Alarm,  // `alarms` holds the new alarm bits
  NoAlarm,
  BadFcs,   // a D-channel frame failed its FCS and was dropped by the card
  Overrun,  // the card or driver dropped data
  DChanUp,
  DChanDown,
  SourceEnd,   // the source has no more data (end of capture, simulator finished)
  LineErrors,  // the card counted line errors: `errors` holds the increase
};
std::string_view to_string(LineEventType t);

// A T1/E1 receiver's error counters (what dahdi_tool shows), or their increase.
struct LineErrors {
  std::uint64_t bpv = 0;   // bipolar violations: line code errors (cabling, level, AMI vs B8ZS)
  std::uint64_t crc = 0;   // CRC-6 (T1 ESF) or CRC-4 (E1) errors: corrupted frames
  std::uint64_t ebit = 0;  // E1 E-bits: the far end reports CRC-4 errors on what it receives
  std::uint64_t fas = 0;   // frame alignment signal errors
  bool any() const { return bpv || crc || ebit || fas; }
  LineErrors& operator+=(const LineErrors& o) {
    bpv += o.bpv;
    crc += o.crc;
    ebit += o.ebit;
    fas += o.fas;
    return *this;
  }
};

struct LineEvent {
  int span = 0;
  Timestamp time{};
  LineEventType type = LineEventType::Alarm;
  Side side = Side::Pbx;  // which receive direction, where it matters (tap pairs)
  std::uint32_t alarms = 0;
  LineErrors errors{};  // LineErrors: the increase since the last one
};

// 8 kHz linear audio from one direction of one B-channel (G.711 already expanded).
struct AudioChunk {
  int span = 0;
  int channel = 0;
  Side from = Side::Pbx;
  Timestamp time{};  // time of the first sample
  std::span<const std::int16_t> samples;
  // The G.711 codes (the span's law: mu-law on T1, A-law on E1) `samples` were expanded from,
  // when the source has them (the card): the detectors keep codes, and need not encode the
  // samples back. Empty otherwise; when set, as long as `samples`.
  std::span<const std::uint8_t> g711;
};

}  // namespace tw::hal
