#include "dsp/call_type.hpp"

namespace tw::dsp {

std::string_view to_string(CallType t) {
  switch (t) {
    case CallType::voice:
      return "voice";
    case CallType::fax:
      return "fax";
    case CallType::modem:
      return "modem";
    case CallType::data:
      return "data";
    case CallType::unknown:
      break;
  }
  return "unknown";
}

CallType classify_call(std::span<const Event> events, const CallEvidence& evidence) {
  if (evidence.clear_channel) return CallType::data;
  bool fax = false, modem = false, digits = false;
  for (const Event& e : events) {
    if (e.kind == EventKind::dtmf) digits = true;
    if (e.kind != EventKind::tone) continue;
    switch (e.tone) {
      case ToneName::fax_cng:
      case ToneName::v21_preamble:
        fax = true;
        break;
      case ToneName::ans:
      case ToneName::ans_pr:
      case ToneName::ansam:
      case ToneName::ansam_pr:
      case ToneName::bell_ans:
      case ToneName::calling_tone:
      case ToneName::v21_carrier:
      case ToneName::bell103_carrier:
        modem = true;
        break;
      default:
        break;
    }
  }
  if (fax) return CallType::fax;
  if (modem) return CallType::modem;
  if (digits || evidence.voice_s >= evidence.min_voice_s) return CallType::voice;
  return CallType::unknown;
}

}  // namespace tw::dsp
