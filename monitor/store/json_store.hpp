// Call records as JSON lines: one object per call, written when the call ends.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "monitor/calls/call_record.hpp"

namespace tw::store {

nlohmann::ordered_json to_json(const calls::CallRecord& record);
// The call's in-band detections: [{"time", "from", "type", "digit"|"tone", ...}].
nlohmann::ordered_json inband_to_json(const std::vector<calls::InbandEvent>& events);
// One line of JSON. Never throws on bytes from the wire: records hold sanitized text, and
// anything else that is not UTF-8 is replaced rather than refused.
std::string to_json_line(const nlohmann::ordered_json& j);

class JsonLinesStore final : public calls::CallEventSink {
 public:
  explicit JsonLinesStore(std::ostream& out) : out_(out) {}
  void on_call_event(const calls::CallEvent& event) override;

 private:
  std::ostream& out_;
};

}  // namespace tw::store
