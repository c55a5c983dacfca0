#include "monitor/store/json_store.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
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

namespace {

// The pieces of to_json_line(to_json(r)), each as nlohmann's serializer writes it
// (dump(-1, ' ', false, replace)).

// A string: printable ASCII and control bytes are escaped here exactly as nlohmann does
// (its short escapes, else \u00xx); a string with any byte above 0x7F goes through nlohmann
// itself, which replaces invalid UTF-8 (records hold sanitized text: that never happens
// there, but the output must not depend on it).
void append_string(std::string& out, std::string_view s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) {
      out += to_json_line(nlohmann::ordered_json(std::string(s)));
      return;
    }
  out += '"';
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && c != '"' && c != '\\') {
      out += c;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[byte >> 4];
        out += kHex[byte & 0xF];
      }
    }
  }
  out += '"';
}

template <typename Int>
void append_int(std::string& out, Int v) {
  std::array<char, 24> buf;
  char* end = std::to_chars(buf.data(), buf.data() + buf.size(), v).ptr;
  out.append(buf.data(), end);
}

// nlohmann's own shortest-round-trip formatting (its "1.0" for whole numbers, its exponent
// form), so that a number reads the same as before; not finite: null.
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  std::array<char, 64> buf;
  char* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), end);
}

void append_bool(std::string& out, bool v) {
  out += v ? "true" : "false";
}

template <typename Int>
void append_int_or_null(std::string& out, const std::optional<Int>& v) {
  if (v)
    append_int(out, *v);
  else
    out += "null";
}

// calls::format_time's "YYYY-MM-DDTHH:MM:SS.mmmZ" written in place (no snprintf, no string);
// years it would not print as four digits go through it.
void append_time(std::string& out, calls::Timestamp t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::milliseconds> tod{ms - day};
  const int year = int(ymd.year());
  if (year < 0 || year > 9999) {
    append_string(out, calls::format_time(t));
    return;
  }
  char buf[] = "\"0000-00-00T00:00:00.000Z\"";
  auto put = [&buf](int at, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(1, static_cast<unsigned>(year), 4);
  put(6, unsigned(ymd.month()), 2);
  put(9, unsigned(ymd.day()), 2);
  put(12, static_cast<unsigned>(tod.hours().count()), 2);
  put(15, static_cast<unsigned>(tod.minutes().count()), 2);
  put(18, static_cast<unsigned>(tod.seconds().count()), 2);
  put(21, static_cast<unsigned>(tod.subseconds().count()), 3);
  out.append(buf, sizeof buf - 1);
}

void append_time_or_null(std::string& out, const std::optional<calls::Timestamp>& t) {
  if (t)
    append_time(out, *t);
  else
    out += "null";
}

void append_inband(std::string& out, const std::vector<calls::InbandEvent>& events) {
  out += '[';
  bool first = true;
  for (const auto& e : events) {
    out += first ? "{\"time\":" : ",{\"time\":";
    first = false;
    append_time(out, e.time);
    out += ",\"from\":";
    append_string(out, hal::to_string(e.from));
    switch (e.kind) {
      case calls::InbandEvent::Kind::Dtmf:
        out += ",\"type\":\"dtmf\"";
        break;
      case calls::InbandEvent::Kind::Mf:
        out += ",\"type\":\"mf\"";
        break;
      case calls::InbandEvent::Kind::Tone:
        out += ",\"type\":\"tone\"";
        break;
    }
    if (e.kind == calls::InbandEvent::Kind::Tone) {
      out += ",\"tone\":";
      append_string(out, e.tone);
      out += ",\"onset\":";
      append_time(out, e.onset);
    } else {
      out += ",\"digit\":";
      append_string(out, std::string_view(&e.digit, 1));
      // float arithmetic as inband_to_json does it, then widened as nlohmann stores it
      out += ",\"level_dbm0\":";
      append_double(out, static_cast<double>(std::round(e.level_dbm0 * 10) / 10));
      out += ",\"duration_ms\":";
      append_double(out, static_cast<double>(std::round(e.duration_ms)));
    }
    out += '}';
  }
  out += ']';
}

}  // namespace

void append_json_line(std::string& out, const calls::CallRecord& r) {
  out += "{\"span\":";
  append_int(out, r.span);
  out += ",\"channel\":";
  append_int_or_null(out, r.channel);
  out += ",\"direction\":";
  append_string(out, calls::to_string(r.direction));
  out += ",\"calling\":";
  append_string(out, r.calling);
  out += ",\"called\":";
  append_string(out, r.called);
  out += ",\"dialing_complete\":";
  append_bool(out, r.dialing_complete);
  out += ",\"start\":";
  append_time_or_null(out, r.start);
  out += ",\"answer\":";
  append_time_or_null(out, r.answer);
  out += ",\"end\":";
  append_time_or_null(out, r.end);
  out += ",\"duration_s\":";
  append_double(out, std::round(r.duration_s * 1000) / 1000);
  out += ",\"cause\":";
  append_int_or_null(out, r.cause);
  out += ",\"partial\":";
  append_bool(out, r.partial);
  out += ",\"digits\":";
  append_string(out, r.digits);
  out += ",\"call_type\":";
  append_string(out, r.call_type);
  out += ",\"alerts\":[";
  for (std::size_t i = 0; i < r.alerts.size(); ++i) {
    if (i) out += ',';
    append_string(out, r.alerts[i]);
  }
  out += "],\"end_reason\":";
  append_string(out, calls::to_string(r.end_reason));
  out += ",\"cleared_by\":";
  if (r.cleared_by)
    append_string(out, hal::to_string(*r.cleared_by));
  else
    out += "null";
  out += ",\"cause_location\":";
  append_int_or_null(out, r.cause_location);
  out += ",\"call_ref\":";
  append_int(out, r.call_ref);
  out += ",\"calling_name\":";
  append_string(out, r.calling_name);
  out += ",\"calling_presentation\":";
  append_int_or_null(out, r.calling_presentation);
  out += ",\"redirecting\":";
  append_string(out, r.redirecting);
  out += ",\"connected\":";
  append_string(out, r.connected);
  out += ",\"bearer\":";
  append_string(out, r.bearer);
  out += ",\"keypad\":";
  append_string(out, r.keypad);
  out += ",\"switchtype\":";
  append_string(out, r.switch_type);
  out += ",\"digits_in\":";
  append_string(out, r.digits_in);
  out += ",\"digits_out\":";
  append_string(out, r.digits_out);
  out += ",\"second_dial_tone\":";
  append_time_or_null(out, r.second_dial_tone);
  out += ",\"inband\":";
  append_inband(out, r.inband);
  out += ",\"numbers_truncated\":";
  append_bool(out, r.numbers_truncated);
  out += '}';
}

std::string LineWriter::write(std::string_view line) {
  buffer_ += line;
  return line_added();
}

std::string LineWriter::line_added() {
  buffer_ += '\n';
  ++held_;
  if (mode_ == Mode::EachLine || buffer_.size() >= kBatchBytes) return flush();
  return "";
}

std::string LineWriter::flush() {
  last_failed_ = 0;
  if (held_ == 0) return "";
  const auto size = static_cast<std::streamsize>(buffer_.size());
  errno = 0;
  // Straight to the stream buffer: on an unbuffered file it is one write(2) loop and says how
  // many bytes got there.
  const std::streamsize put = out_.rdbuf()->sputn(buffer_.data(), size);
  int error = errno;
  bool synced = true;
  if (put == size) {
    out_.flush();  // standard output: its C stream's buffer
    synced = static_cast<bool>(out_);
    if (!synced) error = errno;
  }
  if (put == size && synced) {
    written_ += held_;
  } else {
    // Whole lines before the first byte that did not get there were written; a line cut
    // short counts as lost. When the stream only failed at its flush, what reached the
    // device is unknown: every line counts as lost.
    const auto whole =
        synced ? static_cast<std::uint64_t>(std::count(
                     buffer_.data(), buffer_.data() + std::max<std::streamsize>(put, 0), '\n'))
               : 0;
    written_ += whole;
    last_failed_ = held_ - whole;
    failed_ += last_failed_;
    last_error_ = error != 0 ? std::strerror(error) : "write failed";
    out_.clear();
  }
  buffer_.clear();
  held_ = 0;
  return last_failed_ ? last_error_ : "";
}

std::string JsonLinesStore::write(const calls::CallRecord& record) {
  std::string err = out_.write_with([&record](std::string& b) { append_json_line(b, record); });
  if (!err.empty()) log_lost(err);
  return err;
}

std::string JsonLinesStore::flush() {
  std::string err = out_.flush();
  if (!err.empty()) log_lost(err);
  return err;
}

void JsonLinesStore::log_lost(const std::string& error) {
  // One message per lost record as when each was written alone, five a minute.
  for (std::uint64_t i = 0; i < out_.last_failed(); ++i)
    if (failure_log_.allow(std::chrono::steady_clock::now())) {
      TW_LOG(error) << "call record not written to " << name_ << ": " << error;
      if (const auto held = failure_log_.suppressed())
        TW_LOG(error) << held << " more such message(s) suppressed";
    }
}

void JsonLinesStore::on_call_event(const calls::CallEvent& event) {
  if (event.type != calls::CallEventType::Ended) return;
  write(*event.call);
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
