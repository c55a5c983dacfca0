// MF digits (docs/dsp.md, "MF"): SpanDSP's Bell MF (R1) or R2 MF receiver, each digit it
// reports verified on its own samples (both frequencies, twist, on-time) and reported at its
// measured start. Not gated: enabled only on spans where MF signaling is expected, it hears
// every sample. Internal: includes <spandsp.h>.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "dsp/detector_bank.hpp"
#include "dsp/spandsp_ptr.hpp"
#include "dsp/tone_pair.hpp"
#include "dsp/units/unit.hpp"

namespace tw::dsp::detail {

class MfUnit final : public Unit {
 public:
  // Bell MF when cfg.bell_mf, else R2 MF (cfg.r2_mf, cfg.r2_forward).
  MfUnit(const BankConfig& cfg, const UnitHost& host);

  void reset() override;
  void restart(std::int64_t start) override;
  void feed(std::span<const std::int16_t> x, std::int64_t start) override;
  bool busy() const override { return n_checks_ > 0; }
  // After a chunk: measures the digits whose hold time has passed.
  void run_checks() { run_checks(false); }
  // End of stream: measures the digits still waiting.
  void flush() { run_checks(true); }

 private:
  struct Check {
    char digit = 0;
    std::int64_t report = 0;  // where SpanDSP reported it
    std::int64_t due = 0;     // measure once the ring holds this far
  };

  static void bell_cb(void* user, const char* digits, int len);
  static void r2_cb(void* user, int code, int level, int delay);
  void report(char digit);
  void run_checks(bool force);
  void check(const Check& c);

  const UnitHost& host_;
  bool r2_forward_;
  BellMfRxPtr bell_;
  R2MfRxPtr r2_;
  PairLimits limits_;
  std::array<Check, 8> checks_{};
  int n_checks_ = 0;
  char last_digit_ = 0;
  std::int64_t last_end_ = kNever;
  std::int64_t event_pos_ = 0;  // time stamp for digits SpanDSP reports inside feed()
};

}  // namespace tw::dsp::detail
