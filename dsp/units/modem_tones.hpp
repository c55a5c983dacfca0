// The fax/modem connect-tone units, one family on SpanDSP's modem_connect_tones_rx: fax CNG
// (1100 Hz), ANS/ANSam with or without phase reversals (2100 Hz), the Bell answer tone
// (2225 Hz), the V.25 calling tone (1300 Hz) and the V.21 preamble (a fax's HDLC flags).
// One unit per tone, each with its own SpanDSP state, parked in the thread's pool while the
// unit sleeps. The ANS and Bell ANS units also report answer tones too short for SpanDSP
// (dsp/units/short_answer_tone.hpp). Internal: includes <spandsp.h>.
#pragma once

#include <optional>

#include "dsp/spandsp_ptr.hpp"
#include "dsp/units/onsets.hpp"
#include "dsp/units/short_answer_tone.hpp"

namespace tw::dsp::detail {

class ModemToneUnit final : public FaxModemUnit {
 public:
  // `type`: SpanDSP's MODEM_CONNECT_TONES_* to detect.
  ModemToneUnit(int id, int type, const UnitHost& host) : FaxModemUnit(id, host), type_(type) {}
  // The unit also reports short answer tones held on the screen's `bin` at `hz`.
  void add_short_tone(int bin, double hz) {
    short_.emplace(bin, hz, type_ == MODEM_CONNECT_TONES_BELL_ANS);
  }

  void reset() override;
  bool acquire() override;
  void restart(std::int64_t start) override;
  void feed(std::span<const std::int16_t> x, std::int64_t start) override;
  bool busy() const override { return present_ > 0; }
  void park() override;

  // Short answer tones, when the unit has them: every screen block ...
  void screen_short_tone(const ScreenResult& r, bool loud) {
    if (short_) short_->block(r, loud, host_.ring);
  }
  // ... after each chunk: the ones due by `end` ...
  void report_short_tone(std::int64_t end);
  // ... and at the end of the stream.
  void flush();

 private:
  static void tone_cb(void* user, int code, int level, int delay);

  int type_;
  ModemTonesRxPtr state_;
  int present_ = 0;             // the tone SpanDSP reported last
  std::int64_t event_pos_ = 0;  // time stamp for tones SpanDSP reports inside feed()
  std::optional<ShortAnswerTone> short_;
};

}  // namespace tw::dsp::detail
