// Call records as JSON lines: one object per call, written when the call ends.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
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
// Appends the record's line, without the newline, to `out`: byte for byte
// to_json_line(to_json(record)), written directly instead of through a JSON object (the
// record writer's hot path: a replay writes hundreds of thousands).
void append_json_line(std::string& out, const calls::CallRecord& record);

// The record back from its JSON object (to_json's inverse: the daemon's spill file of
// records waiting for the store); nullopt when `j` is not a record.
std::optional<calls::CallRecord> record_from_json(const nlohmann::json& j);

// Writes lines to a stream and counts those that did not get there, so that a command can say
// how many were lost and exit non-zero. Each line reaches the stream in one write with its
// newline. EachLine hands every line over and flushes it at once (the daemon, notices,
// standard output); Batch holds lines in a buffer and writes them together when it is full
// or flush() is called (a replay's records: one write(2) per kBatchBytes instead of per
// record). On a stream whose writes report how much got there (a file opened by
// app::OutputStream, which is unbuffered for this), the lines that were written whole count as
// written and the rest as lost, exactly as when each was written alone.
class LineWriter {
 public:
  enum class Mode { EachLine, Batch };
  static constexpr std::size_t kBatchBytes = 64 * 1024;

  explicit LineWriter(std::ostream& out, Mode mode = Mode::EachLine) : out_(out), mode_(mode) {}
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;
  // Writes what is still held, uncounted: owners call flush() first to learn the outcome.
  ~LineWriter() { flush(); }

  // "" when the line got there or is held for the next write, else why not ("No space left
  // on device"). A failed stream is made usable again, so the next line is tried rather than
  // dropped.
  std::string write(std::string_view line);
  // The same for a line that `append(std::string&)` appends to the buffer (no newline).
  template <typename Append>
  std::string write_with(Append&& append) {
    append(buffer_);
    return line_added();
  }
  // Writes the lines held; "" or why some did not get there.
  std::string flush();
  // The lines that did not get there, counted by the last write that failed: a caller that
  // logs each lost line reads this after write() or flush() returned an error.
  std::uint64_t last_failed() const { return last_failed_; }
  std::uint64_t written() const { return written_; }
  std::uint64_t failed() const { return failed_; }
  std::uint64_t held() const { return held_; }
  const std::string& last_error() const { return last_error_; }

 private:
  std::string line_added();

  std::ostream& out_;
  Mode mode_;
  std::string buffer_;      // lines not yet handed to the stream, each with its newline
  std::uint64_t held_ = 0;  // lines in buffer_
  std::uint64_t written_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t last_failed_ = 0;
  std::string last_error_;
};

class JsonLinesStore final : public calls::CallEventSink {
 public:
  // `name` says where the lines go in log messages (a path, "standard output").
  // `mode`: LineWriter's; with Batch, flush() must be called before the stream goes away
  // and at least as often as a reader needs the records (the daemon: every tick).
  explicit JsonLinesStore(std::ostream& out, std::string name = "",
                          LineWriter::Mode mode = LineWriter::Mode::EachLine)
      : out_(out, mode), name_(std::move(name)) {}
  void on_call_event(const calls::CallEvent& event) override;
  // Writes one record; "" or why it (or records held before it) was not written.
  std::string write(const calls::CallRecord& record);
  // Writes the records held (Batch); "" or why some were not written.
  std::string flush();
  const LineWriter& lines() const { return out_; }

 private:
  // Logs the records the last write lost, rate-limited.
  void log_lost(const std::string& error);

  LineWriter out_;
  std::string name_;
  log::RateLimiter failure_log_{5, std::chrono::seconds(60)};
};

}  // namespace tw::store
