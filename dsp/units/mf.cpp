#include "dsp/units/mf.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tw::dsp::detail {

namespace {

// Bell MF: SpanDSP's table (KP = '*', ST = '#', ST' = 'A', ST'' = 'B', ST''' = 'C').
constexpr char kBellMfPositions[] = "1247C-358A--69*---0B----#";
constexpr double kBellMfHz[6] = {700, 900, 1100, 1300, 1500, 1700};
constexpr char kR2MfPositions[] = "1247B-358C--69D---0E----F";
constexpr double kR2FwdHz[6] = {1380, 1500, 1620, 1740, 1860, 1980};
constexpr double kR2BackHz[6] = {1140, 1020, 900, 780, 660, 540};

bool mf_pair(const char* positions, const double* hz, char digit, double& lo, double& hi) {
  for (int i = 0; i < 5; ++i)
    for (int j = i + 1; j < 6; ++j)
      if (positions[i * 5 + j - 1] == digit) {
        lo = std::min(hz[i], hz[j]);
        hi = std::max(hz[i], hz[j]);
        return true;
      }
  return false;
}

}  // namespace

MfUnit::MfUnit(const BankConfig& cfg, const UnitHost& host)
    : Unit(-1), host_(host), r2_forward_(cfg.r2_forward) {
  if (cfg.bell_mf) {
    bell_.reset(bell_mf_rx_init(nullptr, &bell_cb, this));
    if (!bell_) throw std::runtime_error("bell_mf_rx_init failed");
    limits_ = PairLimits{
        0.04, 0.025, 8.0, 8.0, -32.0, 0.6, (cfg.mf_hold_ms > 0 ? cfg.mf_hold_ms : 50) * 8.0};
  } else {
    r2_.reset(r2_mf_rx_init(nullptr, r2_forward_ ? 1 : 0, &r2_cb, this));
    if (!r2_) throw std::runtime_error("r2_mf_rx_init failed");
    limits_ = PairLimits{
        0.03, 0.02, 8.0, 8.0, -38.0, 0.6, (cfg.mf_hold_ms > 0 ? cfg.mf_hold_ms : 70) * 8.0};
  }
}

void MfUnit::reset() {
  n_checks_ = 0;
  last_digit_ = 0;
  last_end_ = kNever;
  event_pos_ = 0;
}

void MfUnit::restart(std::int64_t /*start*/) {
  if (bell_) bell_mf_rx_init(bell_.get(), &bell_cb, this);
  if (r2_) r2_mf_rx_init(r2_.get(), r2_forward_ ? 1 : 0, &r2_cb, this);
}

void MfUnit::feed(std::span<const std::int16_t> x, std::int64_t start) {
  const std::int16_t* samples = x.data();
  const int n = static_cast<int>(x.size());
  event_pos_ = ceil_to(start + n, kPiece);
  if (bell_) bell_mf_rx(bell_.get(), samples, n);
  if (r2_) r2_mf_rx(r2_.get(), samples, n);
}

void MfUnit::bell_cb(void* user, const char* digits, int len) {
  auto* u = static_cast<MfUnit*>(user);
  for (int i = 0; i < len; ++i) u->report(digits[i]);
}

void MfUnit::r2_cb(void* user, int code, int /*level*/, int /*delay*/) {
  if (code > 0) static_cast<MfUnit*>(user)->report(static_cast<char>(code));
}

void MfUnit::report(char digit) {
  if (digit == last_digit_ && event_pos_ <= last_end_ + 400) return;  // same tone
  for (int i = 0; i < n_checks_; ++i)
    if (checks_[static_cast<std::size_t>(i)].digit == digit) return;
  if (n_checks_ == static_cast<int>(checks_.size())) return;
  // Measure once the hold time and some margin have passed, so the on-time is known.
  checks_[static_cast<std::size_t>(n_checks_++)] = Check{
      digit, event_pos_, event_pos_ + static_cast<std::int64_t>(limits_.min_on_samples) + 800};
}

void MfUnit::run_checks(bool force) {
  int j = 0;
  for (int i = 0; i < n_checks_; ++i) {
    const Check& c = checks_[static_cast<std::size_t>(i)];
    if (!force && c.due > host_.ring.end()) {
      checks_[static_cast<std::size_t>(j++)] = c;
      continue;
    }
    check(c);
  }
  n_checks_ = j;
}

void MfUnit::check(const Check& c) {
  const AudioRing& ring = host_.ring;
  double lo = 0, hi = 0;
  bool known = bell_ ? mf_pair(kBellMfPositions, kBellMfHz, c.digit, lo, hi)
                     : mf_pair(kR2MfPositions, r2_forward_ ? kR2FwdHz : kR2BackHz, c.digit, lo, hi);
  if (!known) return;
  std::int64_t from = std::max(c.report - 2400, ring.oldest());
  std::int64_t to = ring.end();
  std::span<std::int16_t> buf(scratch().data(), static_cast<std::size_t>(to - from));
  ring.copy(from, buf);
  // SpanDSP reports an MF digit a block or two into it; the tone goes on for an unknown time.
  const PairWindow where{std::max(from, c.report - 160), c.report, c.report - 1600, to};
  PairMeasurement m = measure_pair(buf, from, where, lo, hi, limits_);
  if (!m.ok) return;
  Event e;
  e.kind = EventKind::mf;
  e.digit = c.digit;
  e.t_s = m.start / kSampleRate;
  e.onset_s = e.t_s;
  e.duration_ms = static_cast<float>(m.on_samples / 8.0);
  e.level_dbm0 = static_cast<float>(
      10.0 * std::log10(std::pow(10.0, m.low_dbm0 / 10.0) + std::pow(10.0, m.high_dbm0 / 10.0)));
  last_digit_ = c.digit;
  last_end_ = static_cast<std::int64_t>(m.start + m.on_samples);
  host_.sink(e);
}

}  // namespace tw::dsp::detail
