// The FSK carrier units, one family on SpanDSP's fsk_rx: V.21 channel 1 and 2, Bell 103
// originate and answer. fsk_rx's carrier detect is a power meter and comes up on speech, so
// a carrier is reported only when the screen also qualified it (Carrier::qualify): its band
// busy for 150 ms, its own two frequencies holding more of it than the neighbouring modem's,
// both of them present, and their split moving from block to block. Internal: includes
// <spandsp.h>.
#pragma once

#include <algorithm>

#include "dsp/spandsp_ptr.hpp"
#include "dsp/units/onsets.hpp"

namespace tw::dsp::detail {

// One FSK modem's frequencies on the screen and what the screen made of them.
struct Carrier {
  int spec = 0;  // preset_fsk_specs index
  ToneName name = ToneName::none;
  int bin_a = -1, bin_b = -1;      // the two FSK frequencies
  int bin_mid = -1;                // between them: a bit transition inside a block lands here
  int sib_a = -1, sib_b = -1;      // the other modem on nearly the same band
  int excl = -1, sib_excl = -1;    // the outer frequency only this one / only the other has
  int band_run = 0;                // blocks in a row with the band busy: wakes fsk_rx ...
  std::int64_t minor_at = kNever;  // ... if the weaker frequency showed up lately
  int run = 0;                     // blocks in a row with the band busy, for qualification
  float acc_a = 0.F, acc_b = 0.F, acc_excl = 0.F, acc_sib_excl = 0.F;
  float acc_f = 0.F, acc_f2 = 0.F;  // mark fraction per block, and its square
  std::int64_t last_ok = kNever;
  std::int64_t qualified_at = -1;  // screen says: FSK here since this sample
  bool reported = false;

  float band(const ScreenResult& r) const {
    const auto& s = r.share;
    float v = s[static_cast<std::size_t>(bin_a)] + s[static_cast<std::size_t>(bin_b)] +
              s[static_cast<std::size_t>(bin_mid)];
    if (sib_a >= 0 && sib_b != bin_mid) v += s[static_cast<std::size_t>(sib_b)];
    if (sib_a >= 0 && sib_a != bin_mid) v += s[static_cast<std::size_t>(sib_a)];
    return v;
  }
  // New stream: what the screen made of the band forgotten.
  void clear();
  // Every screen block, gated or not (inline: it runs for every block of every channel).
  void qualify(const ScreenResult& r, bool loud);
};

inline constexpr float kCarrierShare = 0.5F;       // FSK carrier: the band holds the block ...
inline constexpr float kCarrierPairShare = 0.4F;   // ... and mark + space hold this on average
inline constexpr int kCarrierRun = 15;             // 150 ms of blocks
inline constexpr float kCarrierModulation = 0.1F;  // mark and space each hold >= 10 % of the band
inline constexpr float kCarrierSwing = 0.1F;       // std. dev. of the mark share across blocks
inline constexpr float kCarrierLead = 2.F;         // V.21 ch1 980 Hz vs Bell 103 originate 1270 Hz

// fsk_rx's carrier detect comes up on speech: a carrier also needs its band busy for
// 150 ms, its own two frequencies holding more of it than the neighbouring modem's, both of
// them (modulated), and their split moving from block to block (a steady dual tone, e.g. R2,
// holds still).
inline void Carrier::qualify(const ScreenResult& r, bool loud) {
  const auto& s = r.share;
  const bool ok = loud && band(r) >= kCarrierShare;
  if (!ok) {
    run = 0;
    acc_a = acc_b = acc_excl = acc_sib_excl = acc_f = acc_f2 = 0.F;
    if (r.end - last_ok >= 8000) reported = false;  // a new carrier after 1 s quiet
    return;
  }
  const float sa = s[static_cast<std::size_t>(bin_a)], sb = s[static_cast<std::size_t>(bin_b)];
  ++run;
  acc_a += sa;
  acc_b += sb;
  if (excl >= 0) {
    acc_excl += s[static_cast<std::size_t>(excl)];
    acc_sib_excl += s[static_cast<std::size_t>(sib_excl)];
  }
  const float f = sa + sb > 0.F ? sa / (sa + sb) : 0.5F;
  acc_f += f;
  acc_f2 += f * f;
  last_ok = r.end;
  if (reported || qualified_at >= 0 || run < kCarrierRun) return;
  const float n = static_cast<float>(run);
  const float var = acc_f2 / n - (acc_f / n) * (acc_f / n);
  // Siblings share a band and their inner frequencies (and bit transitions land there):
  // the outer frequency that only one of them uses decides, with a clear lead.
  if (excl >= 0 && acc_excl < kCarrierLead * acc_sib_excl) return;
  if ((acc_a + acc_b) / n >= kCarrierPairShare &&
      std::min(acc_a, acc_b) >= kCarrierModulation * (acc_a + acc_b) &&
      var >= kCarrierSwing * kCarrierSwing)
    qualified_at = r.end;
}

class FskCarrierUnit final : public FaxModemUnit {
 public:
  FskCarrierUnit(int id, const Carrier& carrier, const UnitHost& host)
      : FaxModemUnit(id, host), carrier_(carrier) {}
  Carrier& carrier() { return carrier_; }
  const Carrier& carrier() const { return carrier_; }

  void reset() override;
  bool acquire() override;
  void restart(std::int64_t start) override;
  void feed(std::span<const std::int16_t> x, std::int64_t start) override;
  bool busy() const override { return carrier_.run > 0 || carrier_.qualified_at >= 0; }
  void park() override;

 private:
  static void fsk_bit(void* user, int bit);
  void check(std::int64_t piece_end);

  Carrier carrier_;
  FskRxPtr state_;
  bool carrier_up_ = false;  // fsk_rx's carrier detect
};

}  // namespace tw::dsp::detail
