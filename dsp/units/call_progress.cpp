#include "dsp/units/call_progress.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <optional>
#include <stdexcept>

namespace tw::dsp::detail {

namespace {

// Screen: the country's bins hold 60 % of a 40 ms DFT (four blocks added coherently), the
// strongest of them stays on the same tone and the level (averaged over 40 ms: 440+480 Hz
// beats at 40 Hz) within 3 dB, for 150 ms. Every cadence super_tone_rx matches starts with
// >= 200 ms of steady tone.
constexpr float kCpShare = 0.6F;
constexpr int kCpRun = 15;
constexpr float kCpLevelSpreadDb = 3.F;
constexpr float kCpSameToneHz = 160.F;  // 440/480 Hz trade the top bin as they beat
constexpr int kCpTolerated = 2;         // blocks of a run that may fail (clicks, noise)
// Verification: Hann windows of 32 ms every 16 ms over the recent audio; the tone's own
// frequencies must hold 75 % of the power for 150 ms.
constexpr int kCpWin = 256;
constexpr int kCpHop = 128;
constexpr float kCpVerifyShare = 0.75F;
constexpr int kCpVerifySamples = 1200;

// The verifier's 32 ms Hann window: the same for every bank.
const std::array<float, kCpWin>& hann_window() {
  static const std::array<float, kCpWin> window = [] {
    std::array<float, kCpWin> w{};
    for (int i = 0; i < kCpWin; ++i)
      w[static_cast<std::size_t>(i)] =
          static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * (i + 0.5) / kCpWin));
    return w;
  }();
  return window;
}

}  // namespace

const CountryPlan& country_plan(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<const CountryPlan>, std::less<>> plans;
  const std::lock_guard lock(mutex);
  if (auto it = plans.find(name); it != plans.end()) return *it->second;
  auto prof = country_profile(name);
  if (!prof) throw std::invalid_argument("unknown call-progress country: " + name);
  auto plan = std::make_unique<CountryPlan>();
  plan->profile = std::move(*prof);
  plan->desc.reset(super_tone_rx_make_descriptor(nullptr));
  if (!plan->desc) throw std::runtime_error("super_tone_rx_make_descriptor failed");
  for (const ToneCadence& t : plan->profile.tones) {
    int id = super_tone_rx_add_tone(plan->desc.get());
    for (const CadenceElement& e : t.elements)
      super_tone_rx_add_element(plan->desc.get(), id, e.f1, e.f2, e.min_ms, e.max_ms);
    plan->names.push_back(t.name);
  }
  return *plans.emplace(name, std::move(plan)).first->second;
}

CallProgressUnit::CallProgressUnit(int id, const std::string& country, ToneScreen& screen,
                                   const UnitHost& host)
    : Unit(id), host_(host), plan_(country_plan(country)), screen_(screen) {
  for (double hz : plan_.profile.screen_hz) {
    bins_.push_back(screen.add_bin(hz));
    if (bins_.back() >= 0)
      turn_[static_cast<std::size_t>(bins_.back())] = screen.block_turn(bins_.back());
  }
  if (screen.bins() > kScreenMaxBins || bins_.back() < 0)
    throw std::runtime_error("tone screen: too many bins");
  state_.reset(super_tone_rx_init(nullptr, plan_.desc.get(), &cp_cb, this));
  if (!state_) throw std::runtime_error("super_tone_rx_init failed");
  gate().align = kCpAlign;
}

void CallProgressUnit::reset() {
  run_ = 0;
  bad_ = 0;
  lvl_ = {};
  dft_ = {};
  runs_.clear();
}

void CallProgressUnit::restart(std::int64_t /*start*/) {
  super_tone_rx_init(state_.get(), plan_.desc.get(), &cp_cb, this);
  active_ = -1;
}

void CallProgressUnit::feed(std::span<const std::int16_t> x, std::int64_t start) {
  const int n = static_cast<int>(x.size());
  event_pos_ = ceil_to(start + n, kPiece);
  verify_pos_ = start + n;
  super_tone_rx(state_.get(), x.data(), n);
}

bool CallProgressUnit::screen(const ScreenResult& r, bool loud) {
  // The last four blocks added coherently: a 40 ms DFT, +-25 Hz main lobe, sharp enough
  // that a voice harmonic seldom sits on a call-progress frequency for long.
  std::rotate(lvl_.begin(), lvl_.begin() + 1, lvl_.end());
  lvl_.back() = r.mean_square;
  std::rotate(dft_.begin(), dft_.begin() + 1, dft_.end());
  dft_.back() = r.dft;
  const float lvl40 = (lvl_[0] + lvl_[1] + lvl_[2] + lvl_[3]) / 4.F;
  constexpr float kN = 4 * kScreenBlock;
  const float norm = lvl40 > 0.F ? 1.F / (lvl40 * kN * kN / 2.F) : 0.F;
  float cps = 0.F, top = -1.F;
  int top_bin = -1;
  for (int bin : bins_) {
    const auto b = static_cast<std::size_t>(bin);
    const std::complex<float> t = turn_[b];
    const float v =
        std::norm(((dft_[3][b] * t + dft_[2][b]) * t + dft_[1][b]) * t + dft_[0][b]) * norm;
    cps += v;
    if (v > top) {
      top = v;
      top_bin = bin;
    }
  }
  const bool tonal = loud && cps >= kCpShare;
  const double hz = tonal ? screen_.bin_hz(top_bin) : 0.0;
  const bool next_tone = run_ > 0 && tonal && std::fabs(hz - hz_) > kCpSameToneHz;
  if (next_tone) end_run();
  if (run_ == 0) {
    if (!tonal) return false;
    hz_ = hz;
    start_ = r.end - kScreenBlock;
    ref_ = 0.F;
    bad_ = 0;
    // A tone filling the last fraction f of the 40 ms DFT holds a share f of it: it began
    // f x 40 ms before the block's end. Right after another tone that share is not its own.
    const std::int64_t onset =
        next_tone ? start_
                  : r.end - std::lround(std::min(cps, 1.F) * static_cast<float>(4 * kScreenBlock));
    CpRun run;
    run.start = onset;
    run.first_end = run.last_end = r.end;
    run.hz = hz;
    runs_.begin(run);
  }
  bool good = tonal;
  if (good && run_ >= 4 && ref_ > 0.F)
    good = std::fabs(10.F * std::log10(std::max(lvl40, 1e-3F) / ref_)) <= kCpLevelSpreadDb;
  if (!good) {
    if (++bad_ > kCpTolerated) end_run();
    return false;
  }
  ++run_;
  bad_ = 0;
  last_good_ = r.end;
  runs_.extend(r.end);
  if (run_ == 4) ref_ = lvl40;  // the first full 40 ms of the run
  return run_ >= kCpRun;
}

// A steady tone ended: keep call progress awake as long as a cadence that starts with a
// tone of this frequency and length still needs to be watched (its remaining elements at
// their longest), with generous margins on the match.
void CallProgressUnit::end_run() {
  if (run_ >= kCpRun) {
    const double len_ms = static_cast<double>(last_good_ - start_) / 8.0;
    int need_ms = kCpBaseHoldMs;
    for (const ToneCadence& t : plan_.profile.tones)
      for (std::size_t i = 0; i < t.elements.size(); ++i) {
        const CadenceElement& e = t.elements[i];
        if (e.f1 == 0) continue;
        const bool freq = std::fabs(e.f1 - hz_) <= kCpSameToneHz ||
                          (e.f2 != 0 && std::fabs(e.f2 - hz_) <= kCpSameToneHz);
        const bool len =
            len_ms >= 0.7 * e.min_ms - 40.0 && (e.max_ms == 0 || len_ms <= 1.3 * e.max_ms + 100.0);
        if (!freq || !len) continue;
        int rest = 0;
        for (std::size_t j = i + 1; j < t.elements.size(); ++j)
          rest += t.elements[j].max_ms > 0 ? t.elements[j].max_ms : t.elements[j].min_ms;
        need_ms = std::max(need_ms, rest + kCpBaseHoldMs);
      }
    Gate& g = gate();
    g.awake_until = std::max(g.awake_until, last_good_ + need_ms * 8);
  }
  run_ = 0;
  bad_ = 0;
}

void CallProgressUnit::cp_cb(void* user, int code, int /*level*/, int /*delay*/) {
  auto& u = *static_cast<CallProgressUnit*>(user);
  u.active_ = code;
  if (code >= 0 && code < static_cast<int>(u.plan_.names.size()) && u.verify(code))
    u.host_.emit_tone(u.plan_.names[static_cast<std::size_t>(code)], 0.F, u.event_pos_,
                      u.onset(u.plan_.profile.tones[static_cast<std::size_t>(code)]));
}

// A cadence is reported after a full cycle, dial tone after its minimum, SIT after its
// third note: the onset is the start of the first tone of what led there. Walk back over
// the steady tones that fit one of the cadence's tones (frequency, and length up to its
// longest with the verifier's margins) while the gaps between them fit its longest silence
// (100 ms for tones back to back). Lengths count only up to the report, so gated and
// ungated banks agree.
std::int64_t CallProgressUnit::onset(const ToneCadence& t) const {
  int off_ms = 0, cycle_ms = 0;
  for (const CadenceElement& e : t.elements) {
    if (e.f1 == 0) off_ms = std::max(off_ms, e.max_ms);
    cycle_ms += e.min_ms;
  }
  const std::int64_t gap = (off_ms * 13 / 10 + 100) * 8;
  const std::int64_t at = event_pos_ - kScreenBlock;
  auto fits = [&t, at](const CpRun& r) {
    const std::int64_t len = std::min(r.last_end, at) - r.start;
    for (const CadenceElement& e : t.elements) {
      const bool freq = (e.f1 != 0 && std::fabs(e.f1 - r.hz) <= 30.0) ||
                        (e.f2 != 0 && std::fabs(e.f2 - r.hz) <= 30.0);
      if (freq && (e.max_ms == 0 || len <= (e.max_ms * 13 / 10 + 100) * 8)) return true;
    }
    return false;
  };
  std::optional<std::int64_t> onset;
  std::int64_t reach = at - std::max(gap, kOnsetMaxGap);  // the last tone held since
  for (int i = 0; i < runs_.size(); ++i) {
    const CpRun& r = runs_.newest(i);
    if (r.first_end > at || !fits(r)) continue;
    if (r.last_end < reach) break;
    onset = r.start;
    reach = r.start - gap;
  }
  return onset ? *onset : event_pos_ - static_cast<std::int64_t>(cycle_ms) * 8;
}

// super_tone_rx takes any two strong bins among its few for a tone, and music with a
// sustained 350+440 Hz chord passes for dial tone. Check on the recent audio that the
// tone's own frequencies held nearly all the power for 150 ms. Ringback's tone is 3.5 s
// before its report, beyond the ring; a false ringback needs 2 s of tone then 4 s of
// silence, which speech and music do not produce.
bool CallProgressUnit::verify(int code) const {
  const ToneCadence& t = plan_.profile.tones[static_cast<std::size_t>(code)];
  if (t.name == ToneName::ringback) return true;
  const CadenceElement* el = nullptr;
  for (const CadenceElement& e : t.elements)
    if (e.f1 != 0 && (el == nullptr || t.name == ToneName::sit)) el = &e;
  if (el == nullptr) return true;
  const AudioRing& ring = host_.ring;
  const int back_ms = t.name == ToneName::dial ? 400 : t.name == ToneName::sit ? 300 : 1000;
  const std::int64_t to = verify_pos_;
  const std::int64_t from = std::max(ring.oldest(), to - back_ms * 8);
  if (to - from < kCpWin) return false;
  const double c1 = 2.0 * std::cos(2.0 * std::numbers::pi * el->f1 / kSampleRate);
  const double c2 = 2.0 * std::cos(2.0 * std::numbers::pi * el->f2 / kSampleRate);
  const std::array<float, kCpWin>& hann = hann_window();
  double sum_w = 0.0;
  for (float w : hann) sum_w += w;
  int run = 0, best = 0;
  std::array<std::int16_t, kCpWin> x;
  for (std::int64_t at = from; at + kCpWin <= to; at += kCpHop) {
    ring.copy(at, x);
    double a1 = 0, b1 = 0, a2 = 0, b2 = 0, ms = 0;
    for (int i = 0; i < kCpWin; ++i) {
      const double v = x[static_cast<std::size_t>(i)];
      const double wv = v * hann[static_cast<std::size_t>(i)];
      ms += v * v;
      double s0 = wv + c1 * a1 - b1;
      b1 = a1;
      a1 = s0;
      s0 = wv + c2 * a2 - b2;
      b2 = a2;
      a2 = s0;
    }
    ms /= kCpWin;
    // Mean square of a tone from its windowed Goertzel power: 2 |X|^2 / (sum w)^2.
    const double p1 = 2.0 * (a1 * a1 + b1 * b1 - c1 * a1 * b1) / (sum_w * sum_w);
    const double p2 =
        el->f2 != 0 ? 2.0 * (a2 * a2 + b2 * b2 - c2 * a2 * b2) / (sum_w * sum_w) : 0.0;
    bool ok = ms > 0.0 && p1 + p2 >= kCpVerifyShare * ms;
    if (el->f2 != 0) ok = ok && std::min(p1, p2) >= 0.15 * ms;  // both tones of a pair
    run = ok ? run + 1 : 0;
    best = std::max(best, run);
  }
  return (best - 1) * kCpHop + kCpWin >= kCpVerifySamples;
}

}  // namespace tw::dsp::detail
