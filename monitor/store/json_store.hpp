// Call records as JSON lines: one object per call, written when the call ends.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string_view>

#include "monitor/calls/call_record.hpp"
#include "monitor/log.hpp"

namespace tw::store {

nlohmann::ordered_json to_json(const calls::CallRecord& record);
// The call's in-band detections: [{"time", "from", "type", "digit"|"tone", ...}].
nlohmann::ordered_json inband_to_json(const std::vector<calls::InbandEvent>& events);
// One line of JSON. Never throws on bytes from the wire: records hold sanitized text, and
// anything else that is not UTF-8 is replaced rather than refused.
std::string to_json_line(const nlohmann::ordered_json& j);

// The record back from its JSON object (to_json's inverse: the daemon's spill file of
// records waiting for the store); nullopt when `j` is not a record.
std::optional<calls::CallRecord> record_from_json(const nlohmann::json& j);

// Writes lines to a stream, flushed one by one, and counts those that did not get there, so
// that a command can say how many were lost and exit non-zero.
class LineWriter {
 public:
  explicit LineWriter(std::ostream& out) : out_(out) {}
  // "" when the line got there, else why not ("No space left on device"). A failed stream is
  // made usable again, so the next line is tried rather than dropped.
  std::string write(std::string_view line);
  std::uint64_t written() const { return written_; }
  std::uint64_t failed() const { return failed_; }
  const std::string& last_error() const { return last_error_; }

 private:
  std::ostream& out_;
  std::uint64_t written_ = 0;
  std::uint64_t failed_ = 0;
  std::string last_error_;
};

class JsonLinesStore final : public calls::CallEventSink {
 public:
  // `name` says where the lines go in log messages (a path, "standard output").
  explicit JsonLinesStore(std::ostream& out, std::string name = "")
      : out_(out), name_(std::move(name)) {}
  void on_call_event(const calls::CallEvent& event) override;
  // Writes one record; "" or why it was not written.
  std::string write(const calls::CallRecord& record);
  const LineWriter& lines() const { return out_; }

 private:
  LineWriter out_;
  std::string name_;
  log::RateLimiter failure_log_{5, std::chrono::seconds(60)};
};

}  // namespace tw::store
