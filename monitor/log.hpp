// Logging goes through Boost.Log. TW_LOG(severity) << ...; severities: trace, debug, info,
// warning, error, fatal.
#pragma once

#include <boost/log/trivial.hpp>
#include <chrono>
#include <cstdint>

#define TW_LOG(severity) BOOST_LOG_TRIVIAL(severity)

namespace tw::log {

enum class Target { Stderr, Syslog };

// Sets up the sink and the minimum severity ("debug", "info", "warning", "error").
// Unknown level names fall back to "warning".
void init(Target target, const char* min_level);

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
