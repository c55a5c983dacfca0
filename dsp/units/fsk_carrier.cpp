#include "dsp/units/fsk_carrier.hpp"

#include <algorithm>
#include <stdexcept>

#include "dsp/state_pool.hpp"

namespace tw::dsp::detail {

void Carrier::clear() {
  band_run = 0;
  minor_at = kNever;
  run = 0;
  acc_a = acc_b = acc_excl = acc_sib_excl = acc_f = acc_f2 = 0.F;
  last_ok = kNever;
  qualified_at = -1;
  reported = false;
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
