#include "hal/dahdi/soft_hdlc.hpp"

extern "C" {
#include <spandsp.h>
}

namespace tw::hal::dahdi {

namespace {
// Q.921 frames are at most 260 octets of information plus address and control (N201).
constexpr std::size_t kMaxFrame = 264;
}  // namespace

void SoftHdlcReceiver::Free::operator()(hdlc_rx_state_s* s) const noexcept {
  if (s != nullptr) hdlc_rx_free(s);
}

SoftHdlcReceiver::SoftHdlcReceiver(FrameHandler on_frame) : on_frame_(std::move(on_frame)) {
  // CRC-16, bad frames reported (and counted here), framing OK after one flag.
  rx_.reset(hdlc_rx_init(nullptr, 0, 1, 1, &SoftHdlcReceiver::on_hdlc, this));
  if (rx_) hdlc_rx_set_max_frame_len(rx_.get(), kMaxFrame);
}

SoftHdlcReceiver::~SoftHdlcReceiver() = default;

void SoftHdlcReceiver::put(std::span<const std::uint8_t> bytes) {
  if (!rx_ || bytes.empty()) return;
  hdlc_rx_put(rx_.get(), bytes.data(), static_cast<int>(bytes.size()));
}

SoftHdlcReceiver::Counters SoftHdlcReceiver::counters() const {
  Counters c;
  c.frames = frames_;
  if (!rx_) return c;
  hdlc_rx_stats_t s{};
  hdlc_rx_get_stats(rx_.get(), &s);
  c.bad_fcs = s.crc_errors;
  c.length_errors = s.length_errors;
  c.aborts = s.aborts;
  return c;
}

void SoftHdlcReceiver::on_hdlc(void* user, const std::uint8_t* pkt, int len, int ok) {
  auto* self = static_cast<SoftHdlcReceiver*>(user);
  // len < 0: a status report (framing found or lost, carrier), nothing to hand on.
  if (len < 0 || !ok || pkt == nullptr) return;
  ++self->frames_;
  self->on_frame_(std::span<const std::uint8_t>(pkt, static_cast<std::size_t>(len)));
}

}  // namespace tw::hal::dahdi
