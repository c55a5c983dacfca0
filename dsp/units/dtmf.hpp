// The DTMF unit: the two-stage DTMF detector of dsp/dtmf.hpp (dtmf_rx plus our tolerant
// block detector, every digit verified) behind the unit interface. Fed whole 12.75 ms
// blocks; a digit's time is its start. Internal.
#pragma once

#include "dsp/dtmf.hpp"
#include "dsp/units/unit.hpp"

namespace tw::dsp::detail {

inline constexpr int kDtmfPreroll = 4 * kDtmfBlock;  // dtmf_rx remembers two blocks

class DtmfUnit final : public Unit {
 public:
  DtmfUnit(int id, const DtmfConfig& cfg, const UnitHost& host);

  void reset() override {}
  void restart(std::int64_t start) override { detector_.reset(start); }
  void feed(std::span<const std::int16_t> x, std::int64_t start) override {
    detector_.process_block(x.data(), start);
  }
  bool busy() const override { return detector_.busy(); }
  // End of stream: reports digits still pending.
  void flush() { detector_.flush(); }

 private:
  static void emit(void* user, const Event& e);

  const UnitHost& host_;
  DtmfDetector detector_;
};

}  // namespace tw::dsp::detail
