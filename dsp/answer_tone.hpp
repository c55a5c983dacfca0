// Measuring a steady single tone on its own samples: a short modem answer tone (2100 Hz ANS
// or ANSam, 2225 Hz Bell) that ended before SpanDSP's detectors, which need 550 ms of it,
// could report it. The screen finds the stretch of blocks the tone held; this decides whether
// it was an answer tone: the right frequency, nearly all the power, steady, and whether it
// carries V.8's 15 Hz amplitude modulation.
#pragma once

#include <cstdint>
#include <span>

namespace tw::dsp::detail {

struct AnswerToneLimits {
  double max_off_hz = 20.0;       // V.25: 2100 +-15 Hz; Bell 2225 +-10 Hz; plus G.711 and drift
  double min_share = 0.9;         // of the power on the tone, over the whole stretch
  double min_window_share = 0.8;  // ... and in every 32 ms window but one per 400 ms
  double max_spread_db = 3.0;     // window levels within this of their median
  double min_dbm0 = -43.0;        // SpanDSP's connect-tone detectors stop about here
  double am_depth = 0.2;          // 15 Hz AM: ANSam's power swings +-40 %, a plain tone's not
};

struct AnswerToneMeasurement {
  bool ok = false;
  double hz = 0.0;
  double dbm0 = -99.0;
  double am_depth = 0.0;  // relative 15 Hz swing of the power
  bool am = false;        // am_depth >= limits.am_depth
  const char* why = "";   // reason for a rejection
};

// `x`: the tone's samples, at least 2,000 (250 ms); past 8,192 they are not looked at.
AnswerToneMeasurement measure_answer_tone(std::span<const std::int16_t> x, double nominal_hz,
                                          const AnswerToneLimits& lim = {});

}  // namespace tw::dsp::detail
