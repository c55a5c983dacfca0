#include "monitor/store/json_store.hpp"

namespace tw::store {

namespace {
template <typename T>
nlohmann::ordered_json or_null(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}
nlohmann::ordered_json time_or_null(const std::optional<calls::Timestamp>& t) {
  return t ? nlohmann::ordered_json(calls::format_time(*t)) : nlohmann::ordered_json(nullptr);
}
}  // namespace

nlohmann::ordered_json inband_to_json(const std::vector<calls::InbandEvent>& events) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& e : events) {
    nlohmann::ordered_json j;
    j["time"] = calls::format_time(e.time);
    j["from"] = hal::to_string(e.from);
    switch (e.kind) {
      case calls::InbandEvent::Kind::Dtmf: j["type"] = "dtmf"; break;
      case calls::InbandEvent::Kind::Mf: j["type"] = "mf"; break;
      case calls::InbandEvent::Kind::Tone: j["type"] = "tone"; break;
    }
    if (e.kind == calls::InbandEvent::Kind::Tone) {
      j["tone"] = e.tone;
      j["onset"] = calls::format_time(e.onset);  // `time` is when it was recognised
    } else {
      j["digit"] = std::string(1, e.digit);
      j["level_dbm0"] = std::round(e.level_dbm0 * 10) / 10;
      j["duration_ms"] = std::round(e.duration_ms);
    }
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::ordered_json to_json(const calls::CallRecord& r) {
  nlohmann::ordered_json j;
  j["span"] = r.span;
  j["channel"] = or_null(r.channel);
  j["direction"] = calls::to_string(r.direction);
  j["calling"] = r.calling;
  j["called"] = r.called;
  j["dialing_complete"] = r.dialing_complete;
  j["start"] = time_or_null(r.start);
  j["answer"] = time_or_null(r.answer);
  j["end"] = time_or_null(r.end);
  j["duration_s"] = std::round(r.duration_s * 1000) / 1000;
  j["cause"] = or_null(r.cause);
  j["partial"] = r.partial;
  j["digits"] = r.digits;
  j["call_type"] = r.call_type;
  j["alerts"] = r.alerts;
  j["end_reason"] = calls::to_string(r.end_reason);
  j["cleared_by"] = r.cleared_by ? nlohmann::ordered_json(hal::to_string(*r.cleared_by))
                                 : nlohmann::ordered_json(nullptr);
  j["cause_location"] = or_null(r.cause_location);
  j["call_ref"] = r.call_ref;
  j["calling_name"] = r.calling_name;
  j["calling_presentation"] = or_null(r.calling_presentation);
  j["redirecting"] = r.redirecting;
  j["connected"] = r.connected;
  j["bearer"] = r.bearer;
  j["keypad"] = r.keypad;
  j["switchtype"] = r.switch_type;
  j["digits_in"] = r.digits_in;
  j["digits_out"] = r.digits_out;
  j["second_dial_tone"] = time_or_null(r.second_dial_tone);
  j["inband"] = inband_to_json(r.inband);
  j["numbers_truncated"] = r.numbers_truncated;
  return j;
}

std::string to_json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void JsonLinesStore::on_call_event(const calls::CallEvent& event) {
  if (event.type != calls::CallEventType::Ended) return;
  out_ << to_json_line(to_json(*event.call)) << '\n';
  out_.flush();
}

}  // namespace tw::store
