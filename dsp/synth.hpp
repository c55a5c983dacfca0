// Test and benchmark audio: plain sine sums written here (independent of the detectors under
// test), SpanDSP's own generators where a modem signal is easier to take from it (FSK, the
// V.8 answer tones), and the Asterisk prompt/music corpus Debian ships.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dsp/country.hpp"
#include "dsp/g711.hpp"

namespace tw::dsp::synth {

// A float signal being put together at 8 kHz; samples are in 16-bit linear units.
class Signal {
 public:
  std::size_t size() const { return x_.size(); }
  double seconds() const { return static_cast<double>(x_.size()) / 8000.0; }
  std::vector<float>& samples() { return x_; }

  Signal& silence(double ms);
  // Sum of sines (0 Hz entries skipped) for `ms`, each at its own dBm0 level.
  Signal& tones(std::span<const double> hz, std::span<const double> dbm0, double ms,
                double phase = 0.0);
  Signal& tone(double hz, double dbm0, double ms) {
    double f[] = {hz}, l[] = {dbm0};
    return tones(f, l, ms);
  }
  // 2100 Hz with phase reversals every 450 ms and/or 15 Hz 20 % AM (V.25 / V.8 answer tones).
  Signal& answer_tone(double hz, double dbm0, double ms, bool phase_reversals, bool am);
  Signal& append(std::span<const std::int16_t> linear, double gain_db = 0.0);
  // Adds white noise at `dbm0` over [from, size()).
  Signal& noise(double dbm0, std::uint32_t seed, std::size_t from = 0);
  // Mixes `other` into this signal starting at sample `at` (extends as needed).
  Signal& mix(std::span<const std::int16_t> other, std::size_t at, double gain_db = 0.0);

  std::vector<std::int16_t> linear() const;  // clipped to int16
  std::vector<std::uint8_t> g711(Law law) const;
  // Through the trunk: encoded and decoded with `law`.
  std::vector<std::int16_t> through(Law law) const;

 private:
  std::vector<float> x_;
};

struct DtmfKeying {
  double on_ms = 50, off_ms = 50;
  double low_dbm0 = -10, high_dbm0 = -10;  // per tone
  double low_dev = 0, high_dev = 0;        // relative frequency error, e.g. 0.015
};
// Appends `digits` keyed as plain sine pairs (random start phases from `rng`).
void key_dtmf(Signal& s, std::string_view digits, const DtmfKeying& k, std::mt19937& rng);

// Bell MF (R1) digits: 68 ms tones (KP 100 ms), 68 ms gaps, -7 dBm0 per tone.
void key_bell_mf(Signal& s, std::string_view digits, double dbm0 = -7.0);
// R2 MFC signals (forward or backward set), each held `on_ms`.
void key_r2_mf(Signal& s, std::string_view digits, bool forward, double on_ms = 150.0,
               double off_ms = 100.0, double dbm0 = -8.0);

// One cycle of each cadenced call-progress tone of `country`, `cycles` times.
void call_progress(Signal& s, const CountryProfile& country, ToneName tone, int cycles,
                   double dbm0 = -16.0);

// V.21 channel 1 980/1180 Hz (caller), channel 2 1650/1850 Hz (answerer); Bell 103
// originate 1070/1270 Hz, answer 2025/2225 Hz.
enum class Fsk { v21ch1, v21ch2, bell103ch1, bell103ch2 };
// FSK from SpanDSP's fsk_tx: HDLC flags when `flags` (a V.21 fax preamble), else random bits.
std::vector<std::int16_t> fsk(Fsk which, double seconds, bool flags, std::uint32_t seed,
                              double dbm0 = -12.0);
// SpanDSP's modem_connect_tones_tx for a MODEM_CONNECT_TONES_* type, `seconds` long.
enum class ConnectTone { fax_cng, ans, ans_pr, ansam, ansam_pr, bell_ans, calling_tone };
std::vector<std::int16_t> spandsp_connect_tone(ConnectTone t, double seconds);
// SpanDSP's tone_gen: one steady tone of `hz` at `dbm0` (whole Hz and dB), `ms` long.
std::vector<std::int16_t> spandsp_tone(int hz, int dbm0, int ms);

// The WAV files of asterisk-core-sounds-en-wav and asterisk-moh-opsound-wav, sorted.
std::vector<std::filesystem::path> asterisk_corpus();

// Dense test audio for one channel (many more tones than real traffic): speech and music from
// `corpus`, silence, keyed DTMF at -7..-20 dBm0, fax (CNG, CED, V.21 preamble) and modem (ANS,
// ANSam/PR, 2225, 1300, Bell 103) tones and call progress, in random order. `corpus_audio` holds
// decoded corpus files; the result is `seconds` long. Deterministic for a seed.
std::vector<std::int16_t> mixed_channel(std::uint32_t seed, double seconds,
                                        const std::vector<std::vector<std::int16_t>>& corpus_audio,
                                        const CountryProfile& country);

// Trunk traffic as a span carries it, one channel: calls separated by idle gaps. Most calls
// are voice (ringback, then speech with pauses, music on hold, sometimes keyed digits), some
// fail (busy, reorder, SIT), ~8 % are fax (CNG, CED, V.21, then page data) and ~8 % modem
// (answer tones, FSK, then data). High-speed data is stood in for by band noise.
std::vector<std::int16_t> trunk_channel(std::uint32_t seed, double seconds,
                                        const std::vector<std::vector<std::int16_t>>& corpus_audio,
                                        const CountryProfile& country);

}  // namespace tw::dsp::synth
