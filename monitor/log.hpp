// Logging goes through Boost.Log. TW_LOG(severity) << ...; severities: trace, debug, info,
// warning, error, fatal.
#pragma once

#include <boost/log/trivial.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#define TW_LOG(severity) BOOST_LOG_TRIVIAL(severity)

namespace tw::log {

// Stderr: the terminal. Syslog: syslog(3) to the local daemon, facility daemon, or RFC 3164
// datagrams to `syslog_server` (HOST:PORT) when one is given. Journal: the systemd journal
// with every structured field as its own journal field.
enum class Target { Stderr, Syslog, Journal };
struct Options {
  Target target = Target::Stderr;
  std::string min_level = "warning";
  std::string syslog_server;  // Syslog only: "127.0.0.1:514"; empty = the local syslog(3)
};

// Sets up the sink and the minimum severity ("debug", "info", "warning", "error").
// Unknown level names fall back to "warning". Returns an error message or "" (a bad
// syslog_server address).
std::string init(const Options& options);
inline void init(Target target, const char* min_level) {
  init(Options{.target = target, .min_level = min_level, .syslog_server = {}});
}
// stderr is connected to the journal (systemd sets JOURNAL_STREAM for a service).
bool stderr_is_journal();

// Key/value pairs that travel with a log record (notices carry category, severity,
// identifier, span, channel...). The syslog sink writes them as RFC 5424 structured data in
// front of the message, the journal as TRUNKWATCH_<NAME> fields, the terminal not at all.
// Names: lowercase letters, digits and '_'. Values: any bytes (escaped where needed).
using Fields = std::vector<std::pair<std::string, std::string>>;
void write(boost::log::trivial::severity_level severity, std::string_view message,
           const Fields& fields);

// The pieces the sinks build from fields; exposed for tests.
// `[trunkwatch@32473 category="through_dial" span="1"]` ('"', '\\' and ']' escaped, RFC 5424).
std::string structured_data(const Fields& fields);
// "TRUNKWATCH_CATEGORY=through_dial", ... in order.
std::vector<std::string> journal_fields(const Fields& fields);

// Lets through at most `burst` messages per `window`, then counts the rest; used for data
// from the wire (malformed frames) so a broken or hostile link cannot flood the log.
class RateLimiter {
 public:
  RateLimiter(std::uint32_t burst, std::chrono::seconds window) : burst_(burst), window_(window) {}
  // `now` is source time. Returns true when the caller may log; `suppressed()` then says how
  // many were held back since the last message that got through.
  template <typename TimePoint>
  bool allow(TimePoint now) {
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    if (t - window_start_ >= window_) {
      window_start_ = t;
      used_ = 0;
    }
    if (used_ < burst_) {
      ++used_;
      last_suppressed_ = suppressed_;
      suppressed_ = 0;
      return true;
    }
    ++suppressed_;
    return false;
  }
  std::uint64_t suppressed() const { return last_suppressed_; }

 private:
  std::uint32_t burst_;
  std::chrono::seconds window_;
  std::chrono::seconds window_start_{};
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0;
  std::uint64_t last_suppressed_ = 0;
};

}  // namespace tw::log
