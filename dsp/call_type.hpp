// What kind of call a B-channel carried, from the events its detector banks reported.
//
// The rule, in order (first match wins):
//   data    the caller says the bearer is clear-channel (64 kbit/s unrestricted digital):
//           no audio to judge, the D-channel told us;
//   fax     fax-cng or v21-preamble heard (T.30 always starts with one of them);
//   modem   any other modem signal: ans, ans-pr, ansam, ansam-pr, bell-ans, calling-tone,
//           v21-carrier, bell103-carrier (ans alone is also fax CED, but without CNG or a
//           V.21 preamble the far end never spoke T.30);
//   voice   DTMF digits, or at least `min_voice_s` of audio that is neither silence nor a
//           tone (speech, music on hold);
//   unknown otherwise (silence, call progress only, or too short to say).
#pragma once

#include <span>
#include <string_view>

#include "dsp/event.hpp"

namespace tw::dsp {

enum class CallType : unsigned char { unknown, voice, fax, modem, data };

std::string_view to_string(CallType t);

struct CallEvidence {
  bool clear_channel = false;  // bearer capability says unrestricted digital information
  double voice_s = 0.0;        // BankStats::voice_s() summed over the call's banks
  double min_voice_s = 1.0;
};

CallType classify_call(std::span<const Event> events, const CallEvidence& evidence);

}  // namespace tw::dsp
