#include "monitor/store/json_store.hpp"

#include <cerrno>
#include <cstring>

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
      case calls::InbandEvent::Kind::Dtmf:
        j["type"] = "dtmf";
        break;
      case calls::InbandEvent::Kind::Mf:
        j["type"] = "mf";
        break;
      case calls::InbandEvent::Kind::Tone:
        j["type"] = "tone";
        break;
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

std::string LineWriter::write(std::string_view line) {
  errno = 0;
  out_ << line << '\n';
  out_.flush();
  // errno holds what write(2) said: nothing else ran since it was cleared.
  const int error = errno;
  if (out_) {
    ++written_;
    return "";
  }
  ++failed_;
  last_error_ = error != 0 ? std::strerror(error) : "write failed";
  out_.clear();
  return last_error_;
}

std::string JsonLinesStore::write(const calls::CallRecord& record) {
  return out_.write(to_json_line(to_json(record)));
}

void JsonLinesStore::on_call_event(const calls::CallEvent& event) {
  if (event.type != calls::CallEventType::Ended) return;
  if (auto err = write(*event.call);
      !err.empty() && failure_log_.allow(std::chrono::steady_clock::now())) {
    TW_LOG(error) << "call record not written to " << name_ << ": " << err;
    if (const auto held = failure_log_.suppressed())
      TW_LOG(error) << held << " more such message(s) suppressed";
  }
}

namespace {

std::string text(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::optional<int> opt_int(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int>();
}
std::optional<calls::Timestamp> opt_time(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return calls::parse_time(it->get<std::string>());
}
std::optional<hal::Side> side(const std::string& s) {
  if (s == hal::to_string(hal::Side::Pbx)) return hal::Side::Pbx;
  if (s == hal::to_string(hal::Side::Carrier)) return hal::Side::Carrier;
  return std::nullopt;
}

}  // namespace

std::optional<calls::CallRecord> record_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("span") || !j["span"].is_number_integer()) return std::nullopt;
  calls::CallRecord r;
  r.span = j["span"].get<int>();
  r.channel = opt_int(j, "channel");
  r.direction =
      text(j, "direction") == "inbound" ? calls::Direction::Inbound : calls::Direction::Outbound;
  r.calling = text(j, "calling");
  r.called = text(j, "called");
  r.start = opt_time(j, "start");
  r.answer = opt_time(j, "answer");
  r.end = opt_time(j, "end");
  if (const auto it = j.find("duration_s"); it != j.end() && it->is_number())
    r.duration_s = it->get<double>();
  r.cause = opt_int(j, "cause");
  r.partial = j.value("partial", false);
  r.digits = text(j, "digits");
  r.call_type = text(j, "call_type");
  if (const auto it = j.find("alerts"); it != j.end() && it->is_array())
    for (const auto& a : *it)
      if (a.is_string()) r.alerts.push_back(a.get<std::string>());
  const std::string reason = text(j, "end_reason");
  for (auto e :
       {calls::EndReason::Released, calls::EndReason::Restart, calls::EndReason::ChannelReused,
        calls::EndReason::Timeout, calls::EndReason::CaptureEnd, calls::EndReason::Shutdown})
    if (calls::to_string(e) == reason) r.end_reason = e;
  r.cleared_by = side(text(j, "cleared_by"));
  r.cause_location = opt_int(j, "cause_location");
  r.call_ref = static_cast<std::uint16_t>(opt_int(j, "call_ref").value_or(0));
  r.calling_name = text(j, "calling_name");
  r.calling_presentation = opt_int(j, "calling_presentation");
  r.redirecting = text(j, "redirecting");
  r.connected = text(j, "connected");
  r.bearer = text(j, "bearer");
  r.keypad = text(j, "keypad");
  r.switch_type = text(j, "switchtype");
  r.digits_in = text(j, "digits_in");
  r.digits_out = text(j, "digits_out");
  r.second_dial_tone = opt_time(j, "second_dial_tone");
  if (const auto it = j.find("inband"); it != j.end() && it->is_array()) {
    for (const auto& o : *it) {
      if (!o.is_object()) continue;
      calls::InbandEvent e;
      e.time = opt_time(o, "time").value_or(calls::Timestamp{});
      e.from = side(text(o, "from")).value_or(hal::Side::Carrier);
      const std::string type = text(o, "type");
      e.kind = type == "tone" ? calls::InbandEvent::Kind::Tone
               : type == "mf" ? calls::InbandEvent::Kind::Mf
                              : calls::InbandEvent::Kind::Dtmf;
      if (e.kind == calls::InbandEvent::Kind::Tone) {
        e.tone = text(o, "tone");
        e.onset = opt_time(o, "onset").value_or(e.time);
      } else {
        const std::string d = text(o, "digit");
        e.digit = d.empty() ? '\0' : d.front();
        e.onset = e.time;
        e.level_dbm0 = o.value("level_dbm0", 0.0f);
        e.duration_ms = o.value("duration_ms", 0.0f);
      }
      r.inband.push_back(std::move(e));
    }
  }
  return r;
}

}  // namespace tw::store
