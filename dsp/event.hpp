// What the detector bank reports: digits (DTMF, MF) and named tones.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tw::dsp {

enum class EventKind : std::uint8_t { dtmf, mf, tone };

// The names are part of the CLI/JSON contract; to_string() gives them.
enum class ToneName : std::uint8_t {
  none,
  fax_cng,          // 1100 Hz fax calling tone
  ans,              // 2100 Hz answer tone (also fax CED)
  ans_pr,           // 2100 Hz with phase reversals (V.25 echo-canceller disable)
  ansam,            // 2100 Hz amplitude-modulated at 15 Hz (V.8)
  ansam_pr,         // ANSam with phase reversals
  bell_ans,         // 2225 Hz Bell answer tone
  calling_tone,     // 1300 Hz modem calling tone (V.25)
  v21_preamble,     // V.21 channel 2 HDLC flags: a T.30 fax talking
  v21_carrier,      // V.21 FSK carrier (channel 1 or 2)
  bell103_carrier,  // Bell 103 FSK carrier (originate or answer)
  dial,
  ringback,
  busy,
  reorder,  // reorder / congestion
  sit,      // special information tones
};

std::string_view to_string(EventKind kind);
std::string_view to_string(ToneName tone);
std::optional<ToneName> parse_tone_name(std::string_view text);

struct Event {
  EventKind kind = EventKind::tone;
  char digit = 0;                  // dtmf/mf: '0'-'9', '*', '#', 'A'-'D' (MF: KP='*', ST='#')
  ToneName tone = ToneName::none;  // kind == tone
  // Seconds from the stream start. Digits: the tone's start. Tones: when the detector
  // recognised the tone (reported then: ~0.13-1.35 s into it, docs/dsp.md).
  double t_s = 0.0;
  float level_dbm0 = 0.0F;   // digits: total power of the tone pair; tones: as reported
  float duration_ms = 0.0F;  // digits: measured on-time; tones: 0 (reported before it ends)
  // When the signal began, seconds from the stream start. Digits: t_s. Tones: estimated from
  // the screen's record of the tone (docs/dsp.md, "Onsets"), <= t_s.
  double onset_s = 0.0;

  bool operator==(const Event&) const = default;
};

// One JSON-friendly line for logs and tests, e.g. `dtmf 5 @1.234s -7.0dBm0 52ms`.
std::string describe(const Event& e);

// Called on the thread that feeds the bank, from inside rx(): keep it short and non-blocking.
using EventSink = std::function<void(const Event&)>;

}  // namespace tw::dsp
