#include "dsp/synth.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "dsp/levels.hpp"
#include "dsp/spandsp_ptr.hpp"

namespace tw::dsp::synth {

namespace {
constexpr double kTwoPi = 2.0 * std::numbers::pi;
std::size_t samples_of_ms(double ms) {
  return static_cast<std::size_t>(ms * 8.0 + 0.5);
}
}  // namespace

Signal& Signal::silence(double ms) {
  x_.insert(x_.end(), samples_of_ms(ms), 0.F);
  return *this;
}

Signal& Signal::tones(std::span<const double> hz, std::span<const double> dbm0, double ms,
                      double phase) {
  const std::size_t n = samples_of_ms(ms), at = x_.size();
  x_.resize(at + n, 0.F);
  for (std::size_t k = 0; k < hz.size(); ++k) {
    if (hz[k] <= 0.0) continue;
    const double a = sine_amplitude(dbm0[k]), w = kTwoPi * hz[k] / kSampleRate;
    for (std::size_t i = 0; i < n; ++i)
      x_[at + i] += static_cast<float>(a * std::sin(w * static_cast<double>(i) + phase + k));
  }
  return *this;
}

Signal& Signal::answer_tone(double hz, double dbm0, double ms, bool phase_reversals, bool am) {
  const std::size_t n = samples_of_ms(ms), at = x_.size();
  x_.resize(at + n, 0.F);
  const double a = sine_amplitude(dbm0), w = kTwoPi * hz / kSampleRate;
  const std::size_t reversal = samples_of_ms(450);
  for (std::size_t i = 0; i < n; ++i) {
    double ph = w * static_cast<double>(i);
    if (phase_reversals && (i / reversal) % 2 == 1) ph += std::numbers::pi;
    double env =
        am ? 1.0 + 0.2 * std::sin(kTwoPi * 15.0 * static_cast<double>(i) / kSampleRate) : 1.0;
    x_[at + i] += static_cast<float>(a * env * std::sin(ph));
  }
  return *this;
}

Signal& Signal::append(std::span<const std::int16_t> linear, double gain_db) {
  const double g = std::pow(10.0, gain_db / 20.0);
  for (std::int16_t v : linear) x_.push_back(static_cast<float>(v * g));
  return *this;
}

Signal& Signal::noise(double dbm0, std::uint32_t seed, std::size_t from) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(
      0.0, std::sqrt(dbm0_reference_power() * std::pow(10.0, dbm0 / 10.0)));
  for (std::size_t i = from; i < x_.size(); ++i) x_[i] += static_cast<float>(nd(rng));
  return *this;
}

Signal& Signal::mix(std::span<const std::int16_t> other, std::size_t at, double gain_db) {
  const double g = std::pow(10.0, gain_db / 20.0);
  if (x_.size() < at + other.size()) x_.resize(at + other.size(), 0.F);
  for (std::size_t i = 0; i < other.size(); ++i) x_[at + i] += static_cast<float>(other[i] * g);
  return *this;
}

std::vector<std::int16_t> Signal::linear() const {
  std::vector<std::int16_t> out(x_.size());
  for (std::size_t i = 0; i < x_.size(); ++i)
    out[i] = static_cast<std::int16_t>(std::clamp(std::nearbyint(x_[i]), -32768.F, 32767.F));
  return out;
}

std::vector<std::uint8_t> Signal::g711(Law law) const {
  std::vector<std::int16_t> lin = linear();
  std::vector<std::uint8_t> out(lin.size());
  for (std::size_t i = 0; i < lin.size(); ++i) out[i] = g711_encode(law, lin[i]);
  return out;
}

std::vector<std::int16_t> Signal::through(Law law) const {
  std::vector<std::int16_t> lin = linear();
  for (auto& v : lin) v = g711_decode(law, g711_encode(law, v));
  return lin;
}

void key_dtmf(Signal& s, std::string_view digits, const DtmfKeying& k, std::mt19937& rng) {
  static constexpr double kRow[4] = {697, 770, 852, 941};
  static constexpr double kCol[4] = {1209, 1336, 1477, 1633};
  static constexpr std::string_view kKeys = "123A456B789C*0#D";
  std::uniform_real_distribution<double> phase(0.0, kTwoPi);
  for (char d : digits) {
    auto i = kKeys.find(d);
    if (i == std::string_view::npos) continue;
    const std::size_t n = samples_of_ms(k.on_ms), at = s.size();
    s.samples().resize(at + n, 0.F);
    const double fl = kRow[i / 4] * (1.0 + k.low_dev), fh = kCol[i % 4] * (1.0 + k.high_dev);
    const double al = sine_amplitude(k.low_dbm0), ah = sine_amplitude(k.high_dbm0);
    const double pl = phase(rng), ph = phase(rng);
    for (std::size_t j = 0; j < n; ++j) {
      const double t = static_cast<double>(j) / kSampleRate;
      s.samples()[at + j] = static_cast<float>(al * std::sin(kTwoPi * fl * t + pl) +
                                               ah * std::sin(kTwoPi * fh * t + ph));
    }
    s.silence(k.off_ms);
  }
}

namespace {
void key_mf(Signal& s, std::string_view digits, const char* positions, const double* hz,
            double on_ms, double kp_ms, double off_ms, double dbm0) {
  for (char d : digits) {
    for (int i = 0; i < 5; ++i)
      for (int j = i + 1; j < 6; ++j)
        if (positions[i * 5 + j - 1] == d) {
          double f[] = {hz[i], hz[j]}, l[] = {dbm0, dbm0};
          s.tones(f, l, d == '*' ? kp_ms : on_ms).silence(off_ms);
        }
  }
}
}  // namespace

void key_bell_mf(Signal& s, std::string_view digits, double dbm0) {
  static constexpr double kHz[6] = {700, 900, 1100, 1300, 1500, 1700};
  key_mf(s, digits, "1247C-358A--69*---0B----#", kHz, 68, 100, 68, dbm0);
}

void key_r2_mf(Signal& s, std::string_view digits, bool forward, double on_ms, double off_ms,
               double dbm0) {
  static constexpr double kFwd[6] = {1380, 1500, 1620, 1740, 1860, 1980};
  static constexpr double kBack[6] = {1140, 1020, 900, 780, 660, 540};
  key_mf(s, digits, "1247B-358C--69D---0E----F", forward ? kFwd : kBack, on_ms, on_ms, off_ms,
         dbm0);
}

void call_progress(Signal& s, const CountryProfile& country, ToneName tone, int cycles,
                   double dbm0) {
  for (const ToneCadence& t : country.tones) {
    if (t.name != tone) continue;
    for (int c = 0; c < cycles; ++c)
      for (const CadenceElement& e : t.elements) {
        // The middle of the allowed range; a continuous tone lasts 3 s.
        double ms = e.max_ms > 0 ? (e.min_ms + e.max_ms) / 2.0 : 3000.0;
        double f[] = {static_cast<double>(e.f1), static_cast<double>(e.f2)}, l[] = {dbm0, dbm0};
        s.tones(f, l, ms);
      }
    return;  // the first variant (SIT has several)
  }
}

namespace {
struct BitSource {
  bool flags = false;
  int bit = 0;
  std::mt19937 rng;
  static int get(void* u) {
    auto* b = static_cast<BitSource*>(u);
    if (b->flags) {
      constexpr int kFlag = 0x7E;
      int v = (kFlag >> (b->bit % 8)) & 1;
      ++b->bit;
      return v;
    }
    return static_cast<int>(b->rng() & 1U);
  }
};
}  // namespace

std::vector<std::int16_t> fsk(Fsk which, double seconds, bool flags, std::uint32_t seed,
                              double dbm0) {
  // SpanDSP calls the Bell 103 answer frequencies "ch 1" and the originate ones "ch 2".
  int spec = which == Fsk::v21ch1       ? FSK_V21CH1
             : which == Fsk::v21ch2     ? FSK_V21CH2
             : which == Fsk::bell103ch1 ? FSK_BELL103CH2
                                        : FSK_BELL103CH1;
  BitSource src{flags, 0, std::mt19937(seed)};
  detail::FskTxPtr tx(fsk_tx_init(nullptr, &preset_fsk_specs[spec], &BitSource::get, &src));
  fsk_tx_power(tx.get(), static_cast<float>(dbm0));
  std::vector<std::int16_t> out(static_cast<std::size_t>(seconds * kSampleRate));
  fsk_tx(tx.get(), out.data(), static_cast<int>(out.size()));
  return out;
}

std::vector<std::int16_t> spandsp_connect_tone(ConnectTone t, double seconds) {
  int type = MODEM_CONNECT_TONES_FAX_CNG;
  switch (t) {
    case ConnectTone::fax_cng:
      type = MODEM_CONNECT_TONES_FAX_CNG;
      break;
    case ConnectTone::ans:
      type = MODEM_CONNECT_TONES_ANS;
      break;
    case ConnectTone::ans_pr:
      type = MODEM_CONNECT_TONES_ANS_PR;
      break;
    case ConnectTone::ansam:
      type = MODEM_CONNECT_TONES_ANSAM;
      break;
    case ConnectTone::ansam_pr:
      type = MODEM_CONNECT_TONES_ANSAM_PR;
      break;
    case ConnectTone::bell_ans:
      type = MODEM_CONNECT_TONES_BELL_ANS;
      break;
    case ConnectTone::calling_tone:
      type = MODEM_CONNECT_TONES_CALLING_TONE;
      break;
  }
  detail::ModemTonesTxPtr tx(modem_connect_tones_tx_init(nullptr, type));
  std::vector<std::int16_t> out(static_cast<std::size_t>(seconds * kSampleRate), 0);
  int done = 0;
  while (done < static_cast<int>(out.size())) {
    int n =
        modem_connect_tones_tx(tx.get(), out.data() + done, static_cast<int>(out.size()) - done);
    if (n <= 0) break;  // a finite tone ended: the rest stays silent
    done += n;
  }
  return out;
}

std::vector<std::int16_t> spandsp_tone(int hz, int dbm0, int ms) {
  detail::ToneGenDescPtr desc(tone_gen_descriptor_init(nullptr, hz, dbm0, 0, 0, ms, 0, 0, 0, 0));
  detail::ToneGenPtr gen(tone_gen_init(nullptr, desc.get()));
  std::vector<std::int16_t> out(static_cast<std::size_t>(ms) * 8, 0);
  int done = 0;
  while (gen && done < static_cast<int>(out.size())) {
    const int n = tone_gen(gen.get(), out.data() + done, static_cast<int>(out.size()) - done);
    if (n <= 0) break;
    done += n;
  }
  return out;
}

std::vector<std::filesystem::path> asterisk_corpus() {
  std::vector<std::filesystem::path> files;
  for (const char* root : {"/usr/share/asterisk/sounds", "/usr/share/asterisk/moh"}) {
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec)) continue;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root, ec))
      if (e.is_regular_file() && e.path().extension() == ".wav") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::int16_t> mixed_channel(std::uint32_t seed, double seconds,
                                        const std::vector<std::vector<std::int16_t>>& corpus_audio,
                                        const CountryProfile& country) {
  std::mt19937 rng(seed);
  Signal s;
  const std::size_t want = static_cast<std::size_t>(seconds * kSampleRate);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // A call usually starts with ringback, then mostly talk.
  call_progress(s, country, ToneName::ringback, 1);
  while (s.size() < want) {
    int what = pick(20);
    if (what < 10 && !corpus_audio.empty()) {  // speech or music, 2-8 s
      const auto& src =
          corpus_audio[static_cast<std::size_t>(pick(static_cast<int>(corpus_audio.size())))];
      std::size_t len = std::min(src.size(), static_cast<std::size_t>(uni(2.0, 8.0) * kSampleRate));
      std::size_t off = src.size() > len ? rng() % (src.size() - len) : 0;
      s.append(std::span(src).subspan(off, len), uni(-6.0, 3.0));
    } else if (what < 13) {  // silence with line noise
      std::size_t from = s.size();
      s.silence(uni(300, 2000));
      s.noise(-65.0, static_cast<std::uint32_t>(rng()), from);
    } else if (what < 16) {  // keyed digits
      DtmfKeying k;
      k.on_ms = uni(45, 120);
      k.off_ms = uni(45, 150);
      k.low_dbm0 = uni(-20, -7);
      k.high_dbm0 = k.low_dbm0 + uni(-3, 2);
      std::string digits;
      for (int i = 0, n = 3 + pick(10); i < n; ++i) digits += "0123456789*#"[pick(12)];
      key_dtmf(s, digits, k, rng);
    } else if (what == 16) {  // fax: CNG, then CED and V.21 preamble from the far end
      for (int i = 0; i < 2; ++i) s.tone(1100, -12, 500).silence(3000);
      s.tone(2100, -12, 2600).silence(75);
      s.append(fsk(Fsk::v21ch2, 1.5, true, static_cast<std::uint32_t>(rng())));
    } else if (what == 17) {  // modem answer tones
      s.answer_tone(2100, -12, 3300, pick(2) == 1, pick(2) == 1).silence(200);
    } else if (what == 18) {  // Bell 103 modem
      s.tone(2225, -12, 2000);
      s.append(fsk(Fsk::bell103ch2, 2.0, false, static_cast<std::uint32_t>(rng())));
    } else {  // call progress again (busy / reorder), or a calling modem
      if (pick(2) == 0)
        call_progress(s, country, pick(2) == 0 ? ToneName::busy : ToneName::reorder, 3);
      else
        s.tone(1300, -12, 600).silence(2000);
    }
  }
  s.samples().resize(want);
  return s.through(Law::ulaw);
}

std::vector<std::int16_t> trunk_channel(std::uint32_t seed, double seconds,
                                        const std::vector<std::vector<std::int16_t>>& corpus_audio,
                                        const CountryProfile& country) {
  std::mt19937 rng(seed);
  Signal s;
  const std::size_t want = static_cast<std::size_t>(seconds * kSampleRate);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto chance = [&](double p) { return uni(0.0, 1.0) < p; };
  auto quiet = [&](double ms) {
    std::size_t from = s.size();
    s.silence(ms);
    s.noise(-65.0, static_cast<std::uint32_t>(rng()), from);
  };
  auto data = [&](double ms) {  // a high-speed modem's spectrum, roughly
    std::size_t from = s.size();
    s.silence(ms);
    s.noise(-14.0, static_cast<std::uint32_t>(rng()), from);
  };
  auto speech = [&](double ms) {
    if (corpus_audio.empty()) return quiet(ms);
    const auto& src = corpus_audio[rng() % corpus_audio.size()];
    std::size_t len = std::min(src.size(), samples_of_ms(ms));
    std::size_t off = src.size() > len ? rng() % (src.size() - len) : 0;
    s.append(std::span(src).subspan(off, len), uni(-6.0, 3.0));
  };
  // Start somewhere inside a call, not always at its ringback.
  quiet(uni(0, 3000));
  while (s.size() < want) {
    if (chance(0.7)) call_progress(s, country, ToneName::ringback, chance(0.5) ? 1 : 2);
    const double fail = uni(0.0, 1.0);
    if (fail < 0.04) {
      call_progress(s, country, ToneName::busy, 6);
    } else if (fail < 0.07) {
      call_progress(s, country, ToneName::reorder, 10);
    } else if (fail < 0.09) {
      call_progress(s, country, ToneName::sit, 1);
      speech(4000);
    } else {
      const double kind = uni(0.0, 1.0);
      const std::size_t end = s.size() + samples_of_ms(uni(20000, 90000));
      if (kind < 0.84) {  // voice
        bool digits = chance(0.35);
        while (s.size() < end) {
          speech(uni(1500, 8000));
          quiet(uni(200, 1500));
          if (digits && chance(0.5)) {
            DtmfKeying k;
            k.on_ms = uni(50, 120);
            k.off_ms = uni(50, 150);
            k.low_dbm0 = uni(-20, -7);
            k.high_dbm0 = k.low_dbm0 + uni(-3, 2);
            std::string d;
            for (int i = 0, n = 4 + static_cast<int>(rng() % 9); i < n; ++i)
              d += "0123456789*#"[rng() % 12];
            key_dtmf(s, d, k, rng);
            digits = false;
          }
          if (chance(0.05)) speech(uni(5000, 15000));  // music on hold is in the corpus too
        }
      } else if (kind < 0.92) {  // fax
        for (int i = 0, n = 1 + static_cast<int>(rng() % 3); i < n; ++i)
          s.tone(1100, -12, 500).silence(3000);
        s.tone(2100, -12, 3000).silence(75);
        s.append(fsk(Fsk::v21ch2, 1.2, true, static_cast<std::uint32_t>(rng())));
        while (s.size() < end) {
          data(uni(5000, 15000));
          s.append(fsk(Fsk::v21ch2, 1.0, true, static_cast<std::uint32_t>(rng())));
        }
      } else {  // modem
        if (chance(0.5)) {
          s.answer_tone(2100, -12, 3300, chance(0.5), chance(0.5));
        } else {
          s.tone(2225, -12, 2000);
          s.append(fsk(Fsk::bell103ch2, uni(2.0, 5.0), false, static_cast<std::uint32_t>(rng())));
        }
        data(static_cast<double>(end > s.size() ? end - s.size() : 0) / 8.0);
      }
    }
    quiet(uni(1000, 5000));
  }
  s.samples().resize(want);
  return s.through(Law::ulaw);
}

}  // namespace tw::dsp::synth
