#include "dsp/units/fsk_carrier.hpp"

#include <algorithm>
#include <stdexcept>

#include "dsp/state_pool.hpp"

namespace tw::dsp::detail {

namespace {

constexpr float kCarrierShare = 0.5F;       // FSK carrier: the band holds the block ...
constexpr float kCarrierPairShare = 0.4F;   // ... and mark + space hold this on average
constexpr int kCarrierRun = 15;             // 150 ms of blocks
constexpr float kCarrierModulation = 0.1F;  // mark and space each hold >= 10 % of the band
constexpr float kCarrierSwing = 0.1F;       // std. dev. of the mark share across blocks
constexpr float kCarrierLead = 2.F;         // V.21 ch1 980 Hz vs Bell 103 originate 1270 Hz

}  // namespace

void Carrier::clear() {
  band_run = 0;
  minor_at = kNever;
  run = 0;
  acc_a = acc_b = acc_excl = acc_sib_excl = acc_f = acc_f2 = 0.F;
  last_ok = kNever;
  qualified_at = -1;
  reported = false;
}

// fsk_rx's carrier detect comes up on speech: a carrier also needs its band busy for
// 150 ms, its own two frequencies holding more of it than the neighbouring modem's, both of
// them (modulated), and their split moving from block to block (a steady dual tone, e.g. R2,
// holds still).
void Carrier::qualify(const ScreenResult& r, bool loud) {
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

void FskCarrierUnit::reset() {
  onsets_.clear();
  carrier_.clear();
}

bool FskCarrierUnit::acquire() {
  if (state_) return false;
  if (!StatePool::local().take(state_)) {
    state_.reset(fsk_rx_init(nullptr, &preset_fsk_specs[carrier_.spec], FSK_FRAME_MODE_SYNC,
                             &fsk_bit, this));
    if (!state_) throw std::runtime_error("fsk_rx_init failed");
  }
  return true;
}

void FskCarrierUnit::restart(std::int64_t /*start*/) {
  if (state_)
    fsk_rx_init(state_.get(), &preset_fsk_specs[carrier_.spec], FSK_FRAME_MODE_SYNC, &fsk_bit,
                this);
  carrier_up_ = false;
}

void FskCarrierUnit::feed(std::span<const std::int16_t> x, std::int64_t start) {
  fsk_rx(state_.get(), x.data(), static_cast<int>(x.size()));
  check(start + static_cast<std::int64_t>(x.size()));
}

void FskCarrierUnit::park() {
  if (state_) StatePool::local().put(state_);
}

void FskCarrierUnit::fsk_bit(void* user, int bit) {
  if (bit >= 0) return;  // data bits: only the carrier matters here
  auto& u = *static_cast<FskCarrierUnit*>(user);
  if (bit == SIG_STATUS_CARRIER_UP) u.carrier_up_ = true;
  if (bit == SIG_STATUS_CARRIER_DOWN) u.carrier_up_ = false;
}

// Reports a qualified carrier once fsk_rx also hears one: at the qualification if it
// already did, else at the 10 ms mark where it came up.
void FskCarrierUnit::check(std::int64_t piece_end) {
  Carrier& c = carrier_;
  if (c.qualified_at < 0 || piece_end < c.qualified_at) return;
  if (carrier_up_) {
    const std::int64_t piece_mark = ceil_to(piece_end, kPiece);
    report(c.name, 0.F, std::max(c.qualified_at, piece_mark - kPiece));
    c.reported = true;
    c.qualified_at = -1;
  } else if (c.run == 0 && piece_end >= host_.ring.end()) {
    c.qualified_at = -1;  // the screen let go before fsk_rx saw a carrier
  }
}

}  // namespace tw::dsp::detail
