// One call as trunkwatch reports it, and the events the call tracker emits about calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/decode_anomaly.hpp"
#include "trunkwatch/hal/types.hpp"

namespace tw::calls {

using hal::Timestamp;

enum class Direction : std::uint8_t { Outbound, Inbound };
std::string_view to_string(Direction d);

// Why the tracker closed a call.
enum class EndReason : std::uint8_t {
  Released,       // RELEASE COMPLETE seen (the normal end)
  Restart,        // a RESTART named the call's channel or the whole interface
  ChannelReused,  // a new call took the channel: the end was missed
  Timeout,        // no message for longer than the state allows
  CaptureEnd,     // the capture or simulation ended with the call still up
  Shutdown,       // the daemon stopped with the call still up
};
std::string_view to_string(EndReason r);

// Something the B-channel detectors heard on a call (the in-band analyzer fills these in).
struct InbandEvent {
  enum class Kind : std::uint8_t { Dtmf, Mf, Tone };
  Timestamp time{};
  hal::Side from = hal::Side::Carrier;  // which direction of the call carried it
  Kind kind = Kind::Dtmf;
  char digit = 0;    // Dtmf, Mf
  std::string tone;  // Tone: "dial", "busy", "ans", "fax-cng", ... (docs/dsp.md)
  float level_dbm0 = 0;
  float duration_ms = 0;
  // When the signal began. Digits: `time` (already their start). Tones: `time` is when the
  // detector recognised the tone, this its estimated start (docs/dsp.md, "Onsets").
  Timestamp onset{};
};

struct CallRecord {
  // The fields named by the record format (docs/records.md).
  int span = 0;
  std::optional<int> channel;
  Direction direction = Direction::Outbound;
  std::string calling;
  std::string called;  // without the '#' that ended dialing
  // The caller said the called number is complete: a Sending Complete IE (SETUP or
  // INFORMATION), or a '#' ending it (Q.931 5.1.1, 5.1.3: the end-of-dialing character).
  bool dialing_complete = false;
  std::optional<Timestamp> start;  // SETUP; for partial calls: the first message seen
  std::optional<Timestamp> answer;
  std::optional<Timestamp> end;  // first clearing message (or when the tracker gave up)
  double duration_s = 0;         // end - answer, 0 if unanswered
  std::optional<int> cause;
  bool partial = false;
  // In-band digits: "in:<digits>" heard arriving from the carrier, " out:<digits>" heard
  // leaving the PBX, each part present only when non-empty ("in:4711#0114420794600#").
  std::string digits;
  std::string call_type = "voice";
  std::vector<std::string> alerts;

  // Further fields.
  std::uint16_t call_ref = 0;
  EndReason end_reason = EndReason::Released;
  std::optional<hal::Side> cleared_by;
  std::optional<int> cause_location;
  std::string calling_name;  // display IE of the SETUP
  std::optional<int> calling_presentation;
  std::string redirecting;
  std::string connected;
  std::string bearer;  // "speech", "3.1khz-audio", "digital", "" if unknown
  std::string keypad;  // keypad facility digits after answer
  std::string switch_type;
  // The same digits, by direction of transmission (in = from the carrier side).
  std::string digits_in;
  std::string digits_out;
  // A dial tone heard from the PBX side after an inbound call was answered: the PBX handed
  // the outside caller a line ("second dial tone", a through-dialing sign).
  std::optional<Timestamp> second_dial_tone;
  std::vector<InbandEvent> inband;  // every detection, in time order
  // A number IE (calling, called, redirecting, connected) held more digits than the decoder
  // keeps (q931::kMaxDigits): the number above is its first digits only.
  bool numbers_truncated = false;
};

// Makes bytes from the wire safe to store and print: printable ASCII is kept, a backslash
// becomes "\\" and every other byte "\xNN", so nothing from a span can forge a line, a
// terminal escape or invalid UTF-8.
std::string sanitize_wire_text(std::string_view bytes);

using hal::format_time;
using hal::parse_time;

// Started at the SETUP (or first message of a partial call), Answered at the CONNECT,
// Inband when a detector heard something on the call, Ended when the record is final.
enum class CallEventType : std::uint8_t { Started, Answered, Inband, Ended };

struct CallEvent {
  CallEventType type = CallEventType::Started;
  Timestamp time{};
  const CallRecord* call = nullptr;  // valid during the callback only
};

// Where call events go: the stores, the live table and the rules engine.
class CallEventSink {
 public:
  virtual ~CallEventSink() = default;
  virtual void on_call_event(const CallEvent& event) = 0;
  // Something the decoder found wrong on a span's D-channel; the rules engine watches them,
  // other sinks need not.
  virtual void on_decode_anomaly(const DecodeAnomaly&) {}
};

}  // namespace tw::calls
