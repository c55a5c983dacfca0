// A D-channel that arrives as raw bits: a clear 64 kbit/s channel (what many tap ports and
// cards without hardware HDLC give). SpanDSP's HDLC receiver finds the flags, removes the bit
// stuffing, checks the FCS (CRC-16) and counts bad frames and aborts; good frames come out
// without their FCS, as DAHDI's HDLC-FCS mode gives them after the two FCS bytes are cut.
//
// Bit order: DAHDI's own soft HDLC takes the first line bit from the most significant bit of
// each channel byte (fasthdlc.h, and seen on the real driver: docs/vm-tests.md), and so does
// SpanDSP's receiver; tests/unit/test_soft_hdlc.cpp checks this against an encoder written
// from the HDLC rules, not SpanDSP's.
//
// The card source (dahdi_source.cpp) feeds a D-channel through it when system.conf configures
// that channel `bchan=`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

struct hdlc_rx_state_s;

namespace tw::hal::dahdi {

class SoftHdlcReceiver {
 public:
  using FrameHandler = std::function<void(std::span<const std::uint8_t> frame)>;

  struct Counters {
    std::uint64_t frames = 0;         // good frames handed on
    std::uint64_t bad_fcs = 0;        // frames whose FCS did not match
    std::uint64_t length_errors = 0;  // too short or too long
    std::uint64_t aborts = 0;         // seven or more ones inside a frame
  };

  explicit SoftHdlcReceiver(FrameHandler on_frame);
  ~SoftHdlcReceiver();
  SoftHdlcReceiver(const SoftHdlcReceiver&) = delete;
  SoftHdlcReceiver& operator=(const SoftHdlcReceiver&) = delete;

  // Channel bytes as read from the card, in order.
  void put(std::span<const std::uint8_t> bytes);
  Counters counters() const;

 private:
  static void on_hdlc(void* user, const std::uint8_t* pkt, int len, int ok);
  struct Free {
    void operator()(hdlc_rx_state_s* s) const noexcept;
  };

  FrameHandler on_frame_;
  std::uint64_t frames_ = 0;
  std::unique_ptr<hdlc_rx_state_s, Free> rx_;
};

}  // namespace tw::hal::dahdi
