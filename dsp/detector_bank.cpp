// The detector bank as a scheduler over detector units (docs/dsp.md, "Detector units"): the
// tone screen runs on every sample, its wake rules decide which units are awake, awake
// units are fed the audio from the ring (a woken one first replays its pre-roll), and a
// unit asleep long enough has its SpanDSP state parked in the thread's pool. The units
// themselves are in dsp/units/.
#include "dsp/detector_bank.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <stdexcept>

#include "dsp/spandsp_ptr.hpp"
#include "dsp/state_pool.hpp"
#include "dsp/units/call_progress.hpp"
#include "dsp/units/dtmf.hpp"
#include "dsp/units/fsk_carrier.hpp"
#include "dsp/units/mf.hpp"
#include "dsp/units/modem_tones.hpp"
#include "dsp/units/onsets.hpp"
#include "dsp/units/unit.hpp"

namespace tw::dsp {

using detail::AudioRing;
using detail::Carrier;
using detail::ceil_to;
using detail::floor_to;
using detail::Gate;
using detail::kCarrierShare;  // an FSK carrier's band holds the block: its onset
using detail::kDtmfBlock;
using detail::kMaxChunk;
using detail::kMaxPreroll;
using detail::kPiece;
using detail::kScreenBlock;
using detail::ScreenResult;
using detail::Unit;

namespace {

// Index of each unit in BankStats::kUnitNames.
enum UnitId : int {
  kDtmf,
  kCng,
  kAns,
  kBellAns,
  kCalling,
  kPreamble,
  kV21Ch1,
  kV21Ch2,
  kB103Ch1,
  kB103Ch2,
  kCallProgress,
  kUnitCount
};
static_assert(kUnitCount == BankStats::kUnits);

// ANS/ANS_PR timing counts "cycles" from the last quiet moment, up to 450 + 100 ms back.
constexpr int kAnsPreroll = 4800;

// Screen thresholds (shares of a 10 ms block's power; 1.0 = pure tone on the bin). They
// are deliberately loose: a detector woken for nothing costs a little CPU, a detector
// left asleep misses an event. The gated == ungated test holds them to that.
constexpr float kToneShare = 0.3F;  // single tones: CNG, ANS, 2225, 1300
constexpr float kBandShare = 0.4F;  // FSK mark + space ...
constexpr int kBandRun = 3;         // ... for 30 ms, with both of them
constexpr float kFskMinor = 0.05F;
constexpr float kDtmfShare = 0.3F;     // best row + best column
constexpr float kDtmfMinTone = 0.02F;  // weaker tone (10 dB twist, 2.5 % off)
constexpr float kDtmfMinToneDbm0 = -48.F;
constexpr float kVoiceDbm0 = -45.F;
constexpr float kPureShare = 0.6F;  // a block this tonal is not voice

// The screen's bins the wake rules read, added before the call-progress unit adds the
// country's.
struct ScreenBins {
  std::array<int, 4> row{}, col{};
  int cng = -1, calling = -1, ans = -1, bell_ans = -1;
  int b980 = -1, b1070 = -1, b1180 = -1, b1270 = -1, b1650 = -1, b1750 = -1, b1850 = -1, b2025 = -1;

  explicit ScreenBins(detail::ToneScreen& screen) {
    static constexpr double kRow[4] = {697, 770, 852, 941};
    static constexpr double kCol[4] = {1209, 1336, 1477, 1633};
    for (int i = 0; i < 4; ++i) {
      row[static_cast<std::size_t>(i)] = screen.add_bin(kRow[i]);
      col[static_cast<std::size_t>(i)] = screen.add_bin(kCol[i]);
    }
    cng = screen.add_bin(1100);
    calling = screen.add_bin(1300);
    ans = screen.add_bin(2100);
    bell_ans = screen.add_bin(2225);
    b980 = screen.add_bin(980);
    b1180 = screen.add_bin(1180);
    b1650 = screen.add_bin(1650);
    b1750 = screen.add_bin(1750);
    b1850 = screen.add_bin(1850);
    b1070 = screen.add_bin(1070);
    b1270 = screen.add_bin(1270);
    b2025 = screen.add_bin(2025);
  }

  // The FSK units' carriers, in unit order. V.21 ch1 (980/1180) and Bell 103 originate
  // (1070/1270) share a band: the pair holding more of it wins, and each one's bins sit
  // between the other's. Bell 103 answer mark is the 2225 Hz Bell answer tone. SpanDSP names
  // the Bell 103 answer frequencies (2025/2225) "ch 1" and the originate ones (1070/1270)
  // "ch 2"; our units are named by the side that sends.
  Carrier carrier(int unit) const {
    switch (unit) {
      case kV21Ch1:
        return Carrier{FSK_V21CH1, ToneName::v21_carrier, b980, b1180, b1070, b1070, b1270, b980,
                       b1270};
      case kV21Ch2:
        return Carrier{FSK_V21CH2, ToneName::v21_carrier, b1650, b1850, b1750, -1, -1};
      case kB103Ch1:
        return Carrier{FSK_BELL103CH2,
                       ToneName::bell103_carrier,
                       b1070,
                       b1270,
                       b1180,
                       b980,
                       b1180,
                       b1270,
                       b980};
      default:
        return Carrier{FSK_BELL103CH1, ToneName::bell103_carrier, b2025, bell_ans, ans, -1, -1};
    }
  }
};

}  // namespace

struct ChannelDetectorBank::Impl {
  BankConfig cfg;
  EventSink sink;
  const G711Decoder& g711;
  AudioRing ring;
  detail::ToneScreen screen;
  BankStats stats;
  detail::UnitHost host{ring, sink};
  ScreenBins bins{screen};
  detail::DtmfUnit dtmf{kDtmf, cfg.dtmf_cfg, host};
  detail::ModemToneUnit cng{kCng, MODEM_CONNECT_TONES_FAX_CNG, host};
  detail::ModemToneUnit ans{kAns, MODEM_CONNECT_TONES_ANS, host};
  detail::ModemToneUnit bell_ans{kBellAns, MODEM_CONNECT_TONES_BELL_ANS, host};
  detail::ModemToneUnit calling{kCalling, MODEM_CONNECT_TONES_CALLING_TONE, host};
  detail::ModemToneUnit preamble{kPreamble, MODEM_CONNECT_TONES_FAX_PREAMBLE, host};
  std::array<detail::FskCarrierUnit, 4> fsk{
      detail::FskCarrierUnit{kV21Ch1, bins.carrier(kV21Ch1), host},
      detail::FskCarrierUnit{kV21Ch2, bins.carrier(kV21Ch2), host},
      detail::FskCarrierUnit{kB103Ch1, bins.carrier(kB103Ch1), host},
      detail::FskCarrierUnit{kB103Ch2, bins.carrier(kB103Ch2), host}};
  detail::CallProgressUnit cp{kCallProgress, cfg.country, screen, host};
  std::optional<detail::MfUnit> mf;  // not gated: fed every sample when enabled
  // In BankStats order: the scheduler's loops walk this.
  std::array<Unit*, kUnitCount> units{&dtmf,   &cng,    &ans,    &bell_ans, &calling, &preamble,
                                      &fsk[0], &fsk[1], &fsk[2], &fsk[3],   &cp};

  Impl(const BankConfig& c, EventSink s)
      : cfg(c), sink(std::move(s)), g711(G711Decoder::shared(c.law)), ring(c.law) {
    ans.add_short_tone(bins.ans, 2100.0);
    bell_ans.add_short_tone(bins.bell_ans, 2225.0);
    if (cfg.bell_mf || cfg.r2_mf) mf.emplace(cfg, host);
    build_gates();
    // The fax/modem tone and FSK states are taken when a unit first wakes; one of each is
    // taken here (from this thread's pool, else built) so that a SpanDSP failure shows at
    // once.
    cng.acquire();
    fsk.front().acquire();
    reset();
    detail::StatePool::live_banks().fetch_add(1, std::memory_order_relaxed);
  }
  // The single-tone units and the screen bin that wakes each.
  std::array<std::pair<detail::ModemToneUnit*, int>, 4> singles() {
    return {
        {{&cng, bins.cng}, {&calling, bins.calling}, {&ans, bins.ans}, {&bell_ans, bins.bell_ans}}};
  }
  ~Impl() { detail::StatePool::live_banks().fetch_sub(1, std::memory_order_relaxed); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void build_gates() {
    const int preroll = std::clamp(cfg.gating.preroll_ms * 8, 0, kMaxPreroll);
    for (Unit* u : units) {
      Gate& g = u->gate();
      g.preroll = preroll;
      g.hold = cfg.gating.tone_hold_ms * 8;
      g.enabled = cfg.fax_modem;
    }
    dtmf.gate().enabled = cfg.dtmf;
    cp.gate().enabled = cfg.call_progress;
    ans.gate().preroll = std::max(preroll, kAnsPreroll);
    dtmf.gate().preroll = detail::kDtmfPreroll;
    dtmf.gate().hold = cfg.gating.dtmf_hold_ms * 8;
    // Call progress: the end of each steady tone extends this to what a cadence starting
    // with that tone still needs (CallProgressUnit::screen).
    cp.gate().hold = detail::kCpBaseHoldMs * 8;
  }

  // ---- per-stream state ---------------------------------------------------------------------
  void reset() {
    ring.clear();
    screen.reset();
    stats = BankStats{};
    for (Unit* u : units) {
      u->reset();
      Gate& g = u->gate();
      g.fed = 0;
      g.awake_until = detail::kNever;
      g.awake = !cfg.gating.enabled && g.enabled;
      if (g.awake) {
        u->acquire();  // ungated: never parked
        g.parked = false;
      }
      u->restart(0);
    }
    if (mf) {
      mf->reset();
      mf->restart(0);
      mf->gate().fed = 0;
    }
  }

  // ---- the per-chunk path -----------------------------------------------------------------
  // `codes`: the same samples as G.711 codes when the caller has them, else empty.
  void process(std::span<const std::int16_t> x, std::span<const std::uint8_t> codes) {
    const std::int64_t start = ring.end();
    if (codes.empty())
      ring.push(x);
    else
      ring.push(codes, x);
    stats.samples += static_cast<std::int64_t>(x.size());
    screen.process(x, start, [this](const ScreenResult& r) { on_screen(r); });
    const std::int64_t end = ring.end();
    for (Unit* u : units) {
      Gate& g = u->gate();
      if (!g.awake) {
        // Its last sample has left the ring: it starts afresh when it wakes (trigger).
        if (!g.parked && g.fed < ring.oldest()) {
          u->park();
          g.parked = true;
        }
        continue;
      }
      feed(*u, end, stats.run_samples[static_cast<std::size_t>(u->id())]);
      if (cfg.gating.enabled && end > g.awake_until && !u->busy()) g.awake = false;
    }
    ans.report_short_tone(end);
    bell_ans.report_short_tone(end);
    if (mf) {
      std::int64_t fed = 0;
      feed(*mf, end, fed);
      mf->run_checks();
    }
  }

  // Feeds unit `u` the ring's samples from where it stopped up to `end`.
  void feed(Unit& u, std::int64_t end, std::int64_t& run_samples) {
    Gate& g = u.gate();
    std::array<std::int16_t, std::max(kPiece, kDtmfBlock)> piece;
    if (u.whole_blocks()) {
      const auto n = static_cast<std::size_t>(g.align);
      while (g.fed + g.align <= end) {
        const std::span<std::int16_t> blk(piece.data(), n);
        ring.copy(g.fed, blk);
        u.feed(blk, g.fed);
        g.fed += g.align;
        run_samples += g.align;
      }
      return;
    }
    while (g.fed < end) {
      const std::int64_t piece_end = std::min(end, floor_to(g.fed, kPiece) + kPiece);
      const std::span<std::int16_t> p(piece.data(), static_cast<std::size_t>(piece_end - g.fed));
      ring.copy(g.fed, p);
      u.feed(p, g.fed);
      g.fed = piece_end;
      run_samples += static_cast<std::int64_t>(p.size());
    }
  }

  void trigger(Unit& u, std::int64_t pos) {
    Gate& g = u.gate();
    if (!g.enabled) return;
    g.awake_until = std::max(g.awake_until, pos + g.hold);
    if (g.awake) return;
    // Replay the pre-roll, aligned to the detector's block so that its blocks fall where
    // they would have fallen had it run all along. If the pre-roll reaches back to where the
    // detector stopped, it simply goes on from there with its state: as if never asleep.
    std::int64_t want =
        floor_to(std::max<std::int64_t>(0, pos - kScreenBlock - g.preroll), g.align);
    want = std::max(want, ceil_to(ring.oldest(), g.align));
    const bool fresh = u.acquire();
    g.parked = false;
    if (fresh || want > g.fed || g.fed < ring.oldest()) {
      u.restart(want);
      g.fed = want;
    }
    g.awake = true;
    ++stats.wakes[static_cast<std::size_t>(u.id())];
  }

  // The wake rules, on every 10 ms block of the screen.
  void on_screen(const ScreenResult& r) {
    const auto& s = r.share;
    auto sh = [&](int bin) { return s[static_cast<std::size_t>(bin)]; };
    const bool loud = r.dbm0 >= cfg.gating.floor_dbm0;
    float purest = 0.F;  // for the voice statistic
    if (loud) {
      // DTMF: a row and a column both present.
      int br = bins.row[0], bc = bins.col[0];
      for (int i = 1; i < 4; ++i) {
        if (sh(bins.row[static_cast<std::size_t>(i)]) > sh(br))
          br = bins.row[static_cast<std::size_t>(i)];
        if (sh(bins.col[static_cast<std::size_t>(i)]) > sh(bc))
          bc = bins.col[static_cast<std::size_t>(i)];
      }
      purest = std::max(purest, sh(br) + sh(bc));
      if (sh(br) + sh(bc) >= kDtmfShare && std::min(sh(br), sh(bc)) >= kDtmfMinTone &&
          std::min(r.bin_dbm0(br), r.bin_dbm0(bc)) >= kDtmfMinToneDbm0)
        trigger(dtmf, r.end);
      // Fax and modem tones.
      for (auto [u, bin] : singles()) {
        purest = std::max(purest, sh(bin));
        if (sh(bin) >= kToneShare) trigger(*u, r.end);
      }
      for (detail::FskCarrierUnit& f : fsk) {
        Carrier& c = f.carrier();
        const float band = c.band(r), pair = sh(c.bin_a) + sh(c.bin_b);
        purest = std::max(purest, pair);
        // A lone mark or space (2225 Hz is also Bell's answer tone) is not modulation: the
        // other frequency must show up within the run (HDLC flags put a 0 in every 8 bits).
        if (pair >= kBandShare / 2 && std::min(sh(c.bin_a), sh(c.bin_b)) >= kFskMinor * pair)
          c.minor_at = r.end;
        c.band_run = band >= kBandShare ? c.band_run + 1 : 0;
        if (c.band_run >= kBandRun && r.end - c.minor_at < kBandRun * kScreenBlock) {
          trigger(f, r.end);
          if (&f == &fsk[1]) trigger(preamble, r.end);  // V.21 ch2: a fax's HDLC flags
        }
      }
      if (cp.screen(r, true)) trigger(cp, r.end);
      if (cp.in_tone()) purest = 1.F;
    } else {
      if (cp.screen(r, false)) trigger(cp, r.end);
      for (detail::FskCarrierUnit& f : fsk) f.carrier().band_run = 0;
    }
    for (detail::FskCarrierUnit& f : fsk) f.carrier().qualify(r, loud);
    track_onsets(r, loud);
    if (ans.gate().enabled) ans.screen_short_tone(r, loud);
    if (bell_ans.gate().enabled) bell_ans.screen_short_tone(r, loud);
    if (r.dbm0 >= kVoiceDbm0 && purest < kPureShare) stats.voice_samples += kScreenBlock;
  }

  // Every block, gated or not: the runs the fax/modem tones' onsets are read from. The
  // thresholds are the wake rules' (a tone that wakes its detector starts a run).
  void track_onsets(const ScreenResult& r, bool loud) {
    auto sh = [&](int bin) { return r.share[static_cast<std::size_t>(bin)]; };
    for (auto [u, bin] : singles())
      u->onsets().block(loud && sh(bin) >= kToneShare, sh(bin), r.end);
    for (detail::FskCarrierUnit& f : fsk) {
      const float band = f.carrier().band(r);
      f.onsets().block(loud && band >= kCarrierShare, band, r.end);
    }
    const float v21 = fsk[1].carrier().band(r);  // channel 2: the fax's HDLC flags
    preamble.onsets().block(loud && v21 >= kBandShare, v21, r.end);
  }

  void flush() {
    dtmf.flush();
    if (mf) mf->flush();
    // A short answer tone still on, or ended within the settling time, when the stream stops.
    ans.flush();
    bell_ans.flush();
  }
};

ChannelDetectorBank::ChannelDetectorBank(const BankConfig& cfg, EventSink sink)
    : impl_(std::make_unique<Impl>(cfg, std::move(sink))) {}
ChannelDetectorBank::~ChannelDetectorBank() = default;
ChannelDetectorBank::ChannelDetectorBank(ChannelDetectorBank&&) noexcept = default;
ChannelDetectorBank& ChannelDetectorBank::operator=(ChannelDetectorBank&&) noexcept = default;

void ChannelDetectorBank::rx(std::span<const std::int16_t> linear) {
  rx(linear, {});
}

void ChannelDetectorBank::rx_g711(std::span<const std::uint8_t> coded) {
  while (!coded.empty()) {
    std::size_t n = std::min<std::size_t>(coded.size(), kMaxChunk);
    thread_local std::array<std::int16_t, kMaxChunk> decoded;
    std::span<std::int16_t> out(decoded.data(), n);
    impl_->g711.decode(coded.first(n), out);
    impl_->process(out, coded.first(n));
    coded = coded.subspan(n);
  }
}

void ChannelDetectorBank::rx(std::span<const std::int16_t> linear,
                             std::span<const std::uint8_t> coded) {
  if (coded.size() != linear.size()) coded = {};  // linear alone: encoded in the ring
  while (!linear.empty()) {
    std::size_t n = std::min<std::size_t>(linear.size(), kMaxChunk);
    impl_->process(linear.first(n), coded.empty() ? coded : coded.first(n));
    linear = linear.subspan(n);
    if (!coded.empty()) coded = coded.subspan(n);
  }
}

void ChannelDetectorBank::flush() {
  impl_->flush();
}
void ChannelDetectorBank::reset() {
  impl_->reset();
}
double ChannelDetectorBank::time_s() const {
  return static_cast<double>(impl_->ring.end()) / kSampleRate;
}
const BankStats& ChannelDetectorBank::stats() const {
  return impl_->stats;
}
const BankConfig& ChannelDetectorBank::config() const {
  return impl_->cfg;
}

std::size_t ChannelDetectorBank::live_banks() {
  return detail::StatePool::live_banks().load(std::memory_order_relaxed);
}
std::size_t ChannelDetectorBank::parked_states() {
  return detail::StatePool::parked_total();
}

void ChannelDetectorBank::prepare() {
  // The first init of these fills static tables; doing it here, once, before any worker
  // thread exists makes later inits read-only on those tables.
  detail::DtmfRxPtr d(dtmf_rx_init(nullptr, nullptr, nullptr));
  detail::BellMfRxPtr b(bell_mf_rx_init(nullptr, nullptr, nullptr));
  detail::R2MfRxPtr f(r2_mf_rx_init(nullptr, 1, nullptr, nullptr));
  detail::R2MfRxPtr r(r2_mf_rx_init(nullptr, 0, nullptr, nullptr));
  detail::DtmfTxPtr dt(dtmf_tx_init(nullptr));
  detail::BellMfTxPtr bt(bell_mf_tx_init(nullptr));
  detail::R2MfTxPtr rt(r2_mf_tx_init(nullptr, 1));
  detail::R2MfTxPtr rb(r2_mf_tx_init(nullptr, 0));
}

}  // namespace tw::dsp
