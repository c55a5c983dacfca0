#include "rules/detectors.hpp"

#include "rules/detectors/common.hpp"

namespace tw::rules::detail {

CallKey key_of(const calls::CallRecord& r) {
  return CallKey{r.span, r.direction, r.call_ref,
                 r.start ? r.start->time_since_epoch().count() : 0};
}

std::string describe_call(const calls::CallRecord& r) {
  std::string s = r.calling.empty() ? std::string("(no number)") : r.calling;
  if (!r.calling_name.empty()) s += " \"" + r.calling_name + "\"";
  return s + " on " + span_text(r);
}

std::string keyed_digits(const CallState& c) {
  return c.record.digits_in + c.record.keypad;
}

std::string shown_digits(const CallState& c, const Config& config) {
  const std::string d = keyed_digits(c);
  return c.remote_access && config.notices.mask_digits ? mask_digits(d) : d;
}

std::vector<std::unique_ptr<Detector>> make_detectors() {
  std::vector<std::unique_ptr<Detector>> out;
  out.push_back(make_destination_detector());
  out.push_back(make_concurrency_detector());
  out.push_back(make_call_rate_detector());
  out.push_back(make_minutes_detector());
  out.push_back(make_remote_access_detector());
  out.push_back(make_redial_detector());
  out.push_back(make_call_forward_detector());
  out.push_back(make_wangiri_detector());
  out.push_back(make_fax_modem_detector());
  out.push_back(make_span_down_detector());
  out.push_back(make_decode_anomaly_detector());
  return out;
}

}  // namespace tw::rules::detail
