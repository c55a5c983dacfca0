#include "dsp/detector_bank.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <vector>

#include "dsp/answer_tone.hpp"
#include "dsp/country.hpp"
#include "dsp/levels.hpp"
#include "dsp/screen.hpp"
#include "dsp/spandsp_ptr.hpp"
#include "dsp/state_pool.hpp"
#include "dsp/tone_pair.hpp"
#include "dsp/units/mf.hpp"
#include "dsp/units/unit.hpp"

namespace tw::dsp {

using detail::AudioRing;
using detail::ceil_to;
using detail::floor_to;
using detail::kCpAlign;
using detail::kDtmfBlock;
using detail::kMaxChunk;
using detail::kMaxPreroll;
using detail::kNever;
using detail::kPiece;
using detail::kScreenBlock;
using detail::scratch;
using detail::ScreenResult;

namespace {

enum Unit : int {
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

constexpr bool is_tone_unit(int u) {
  return u >= kCng && u <= kPreamble;
}
constexpr bool is_fsk_unit(int u) {
  return u >= kV21Ch1 && u <= kB103Ch2;
}

constexpr int kDtmfPreroll = 4 * kDtmfBlock;  // dtmf_rx remembers two blocks
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
// Call progress: the country's bins hold 60 % of a 40 ms DFT (four blocks added coherently),
// the strongest of them stays on the same tone and the level (averaged over 40 ms: 440+480 Hz
// beats at 40 Hz) within 3 dB, for 150 ms. Every cadence super_tone_rx matches starts with
// >= 200 ms of steady tone.
constexpr float kCpShare = 0.6F;
constexpr int kCpRun = 15;
constexpr float kCpLevelSpreadDb = 3.F;
constexpr float kCpSameToneHz = 160.F;  // 440/480 Hz trade the top bin as they beat
constexpr int kCpTolerated = 2;         // blocks of a run that may fail (clicks, noise)
constexpr int kCpBaseHoldMs = 300;
constexpr float kCarrierShare = 0.5F;       // FSK carrier: the band holds the block ...
constexpr float kCarrierPairShare = 0.4F;   // ... and mark + space hold this on average
constexpr int kCarrierRun = 15;             // 150 ms of blocks
constexpr float kCarrierModulation = 0.1F;  // mark and space each hold >= 10 % of the band
constexpr float kCarrierSwing = 0.1F;       // std. dev. of the mark share across blocks
constexpr float kCarrierLead = 2.F;         // V.21 ch1 980 Hz vs Bell 103 originate 1270 Hz
// Short answer tones (docs/dsp.md): SpanDSP's ANS and 2225 Hz detectors need 550 ms of tone.
// A stretch of blocks in which the tone's bin holds >= 80 % of the power (one block may
// miss: a phase reversal), 250-800 ms long, is measured on the ring once it ends, and
// reported once the unit's detector has heard it all and did not report it itself.
constexpr float kShortPure = 0.8F;
constexpr int kShortMissed = 1;
constexpr std::int64_t kShortMin = 2000;
constexpr std::int64_t kShortMax = 6400;
constexpr std::int64_t kShortSettle = 2 * kScreenBlock;  // SpanDSP's filters see the end
constexpr float kVoiceDbm0 = -45.F;
constexpr float kPureShare = 0.6F;  // a block this tonal is not voice
// Call-progress verification: Hann windows of 32 ms every 16 ms over the recent audio; the
// tone's own frequencies must hold 75 % of the power for 150 ms.
constexpr int kCpWin = 256;
constexpr int kCpHop = 128;
constexpr float kCpVerifyShare = 0.75F;
constexpr int kCpVerifySamples = 1200;

// Onsets (docs/dsp.md, "Onsets"): runs of screen blocks in which a tone held its bin(s).
constexpr int kOnsetTolerated = 3;  // blocks a run may miss: a phase reversal, a click
// A run counts for an event when it was still on this long before the report.
constexpr std::int64_t kOnsetMaxGap = 2000;  // 250 ms
// Steady call-progress tones kept: cp_onset() walks back over a whole cadence.
constexpr int kCpOnsetRuns = 32;
// Runs kept per fax/modem tone. onset() returns the newest run that began by the report,
// and a detector reports at most kMaxDetectorLag samples behind the screen: a wake replays at
// most kMaxPreroll plus the detector's alignment and a block before the block that woke it,
// in a chunk of at most kMaxChunk, and a report is stamped at most one more block back. A run
// starts at the earliest 5 blocks after the previous one did (it closes after
// kOnsetTolerated + 1 blocks without the tone), so at most kMaxDetectorLag / (5 blocks) + 1
// runs are newer than the report: keeping more than that gives the onsets that keeping every
// run would.
constexpr int kMaxDetectorLag = kMaxChunk + kMaxPreroll + kCpAlign + 3 * kScreenBlock;
constexpr int kToneOnsetRuns = 20;
static_assert(kToneOnsetRuns >= kMaxDetectorLag / ((kOnsetTolerated + 2) * kScreenBlock) + 2);

// One run of blocks that held a tone: where the tone began (sample), where its first and
// last held blocks end.
struct ToneRun {
  std::int64_t start = 0, first_end = 0, last_end = 0;
};
// A steady call-progress tone also keeps the frequency on top.
struct CpRun : ToneRun {
  double hz = 0.0;
};

// The runs of one tone, newest last, in a fixed ring (no allocation on the per-chunk path).
// Fed by the screen on every block, gated or not, so an onset does not depend on when a
// detector was woken or how the audio was chunked.
template <int kRuns, class Run>
class RunHistory {
 public:
  void clear() {
    count_ = 0;
    head_ = 0;
    open_ = false;
    bad_ = 0;
    prev_share_ = 0.F;
  }
  int size() const { return count_; }
  // i = 0 is the newest run.
  const Run& newest(int i) const {
    return runs_[static_cast<std::size_t>((head_ - 1 - i + 2 * kRuns) % kRuns)];
  }
  void begin(const Run& r) {
    runs_[static_cast<std::size_t>(head_)] = r;
    head_ = (head_ + 1) % kRuns;
    count_ = std::min(count_ + 1, kRuns);
    open_ = true;
    bad_ = 0;
  }
  void extend(std::int64_t block_end) {
    runs_[static_cast<std::size_t>((head_ - 1 + kRuns) % kRuns)].last_end = block_end;
    bad_ = 0;
  }

  // One 10 ms block of a single tone or band: `share` of the block's power is the tone's.
  void block(bool held, float share, std::int64_t block_end) {
    const float f = std::clamp(share, 0.F, 1.F);
    if (held && !open_) {
      // A tone on the bin filling the last fraction f of a block has share f (the screen's
      // normalisation), so it began f blocks before the end. A full first block means it
      // began in the one before, which held a fraction of it too small to count.
      std::int64_t start = block_end - std::lround(f * kScreenBlock);
      if (f > 0.9F) start -= std::lround(prev_share_ * kScreenBlock);
      Run r;
      r.start = start;
      r.first_end = r.last_end = block_end;
      begin(r);
    } else if (held) {
      extend(block_end);
    } else if (open_ && ++bad_ > kOnsetTolerated) {
      open_ = false;
    }
    prev_share_ = f;
  }

  // Start of the newest run whose first block ended by `at` (the screen has seen it whenever
  // a detector reports at `at`) and that held within `max_gap` before it.
  std::optional<std::int64_t> onset(std::int64_t at, std::int64_t max_gap) const {
    for (int i = 0; i < count_; ++i) {
      const Run& r = newest(i);
      if (r.first_end > at) continue;
      if (r.last_end + max_gap < at) return std::nullopt;
      return r.start;
    }
    return std::nullopt;
  }

 private:
  std::array<Run, kRuns> runs_{};
  int count_ = 0, head_ = 0;
  bool open_ = false;
  int bad_ = 0;
  float prev_share_ = 0.F;
};

struct Gate {
  bool awake = false;
  std::int64_t fed = 0;               // next sample to feed
  std::int64_t awake_until = kNever;  // screen's last word plus the hold
  int align = kPiece;
  int preroll = 0;
  int hold = 0;
};

struct Carrier {
  int unit = 0;
  int spec = 0;  // preset_fsk_specs index
  ToneName name = ToneName::none;
  int bin_a = -1, bin_b = -1;      // the two FSK frequencies
  int bin_mid = -1;                // between them: a bit transition inside a block lands here
  int sib_a = -1, sib_b = -1;      // the other modem on nearly the same band
  int excl = -1, sib_excl = -1;    // the outer frequency only this one / only the other has
  int band_run = 0;                // blocks in a row with the band busy: wakes fsk_rx ...
  std::int64_t minor_at = kNever;  // ... if the weaker frequency showed up lately
  int run = 0;                     // blocks in a row with the band busy, for qualification
  float acc_a = 0.F, acc_b = 0.F, acc_excl = 0.F, acc_sib_excl = 0.F;
  float acc_f = 0.F, acc_f2 = 0.F;  // mark fraction per block, and its square
  std::int64_t last_ok = kNever;
  std::int64_t qualified_at = -1;  // screen says: FSK here since this sample
  bool reported = false;
  bool carrier_up = false;  // fsk_rx's carrier detect

  float band(const ScreenResult& r) const {
    const auto& s = r.share;
    float v = s[static_cast<std::size_t>(bin_a)] + s[static_cast<std::size_t>(bin_b)] +
              s[static_cast<std::size_t>(bin_mid)];
    if (sib_a >= 0 && sib_b != bin_mid) v += s[static_cast<std::size_t>(sib_b)];
    if (sib_a >= 0 && sib_a != bin_mid) v += s[static_cast<std::size_t>(sib_a)];
    return v;
  }
};

ToneName tone_code_name(int code) {
  switch (code) {
    case MODEM_CONNECT_TONES_FAX_CNG:
      return ToneName::fax_cng;
    case MODEM_CONNECT_TONES_ANS:
      return ToneName::ans;
    case MODEM_CONNECT_TONES_ANS_PR:
      return ToneName::ans_pr;
    case MODEM_CONNECT_TONES_ANSAM:
      return ToneName::ansam;
    case MODEM_CONNECT_TONES_ANSAM_PR:
      return ToneName::ansam_pr;
    case MODEM_CONNECT_TONES_FAX_PREAMBLE:
      return ToneName::v21_preamble;
    case MODEM_CONNECT_TONES_BELL_ANS:
      return ToneName::bell_ans;
    case MODEM_CONNECT_TONES_CALLING_TONE:
      return ToneName::calling_tone;
    default:
      return ToneName::none;
  }
}

int tone_unit_type(int u) {
  switch (u) {
    case kCng:
      return MODEM_CONNECT_TONES_FAX_CNG;
    case kAns:
      return MODEM_CONNECT_TONES_ANS;
    case kBellAns:
      return MODEM_CONNECT_TONES_BELL_ANS;
    case kCalling:
      return MODEM_CONNECT_TONES_CALLING_TONE;
    default:
      return MODEM_CONNECT_TONES_FAX_PREAMBLE;
  }
}

// A steady answer tone too short for SpanDSP: its stretch on the screen, and a measured one
// waiting for the unit's own detector to have heard all of it.
struct ShortTone {
  int unit = 0;
  int bin = -1;
  double hz = 0.0;
  std::int64_t start = -1, last = 0;  // the stretch: first pure block's start, last one's end
  int missed = 0;
  std::int64_t spandsp_at = kNever;  // the unit's detector last reported its tone here
  bool pending = false;
  std::int64_t from = 0, due = 0;
  ToneName name = ToneName::none;
  float level = 0.F;

  void clear() {
    start = -1;
    missed = 0;
    spandsp_at = kNever;
    pending = false;
  }
};

// The call-progress verifier's 32 ms Hann window: the same for every bank.
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

// A country's call-progress plan with its super_tone_rx descriptor, built once per process
// and shared by every bank: super_tone_rx only reads its descriptor once it is built.
struct CountryPlan {
  CountryProfile profile;
  detail::SuperToneDescPtr desc;
  std::vector<ToneName> names;  // super_tone_rx's tone ids
};

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

}  // namespace

struct ChannelDetectorBank::Impl {
  // What a SpanDSP callback gets as user data: the bank and which detector is calling.
  struct UnitCtx {
    Impl* bank = nullptr;
    int unit = 0;
  };

  BankConfig cfg;
  EventSink sink;
  const CountryPlan& plan;
  const CountryProfile& country;
  const G711Decoder& g711;
  AudioRing ring;
  detail::ToneScreen screen;
  BankStats stats;
  std::array<Gate, kUnitCount> gates{};
  std::array<bool, kUnitCount> enabled{};
  std::array<UnitCtx, kUnitCount> ctx{};
  detail::DtmfDetector dtmf;
  std::array<detail::ModemTonesRxPtr, kUnitCount> tones{};
  std::array<int, kUnitCount> tone_present{};
  std::array<detail::FskRxPtr, kUnitCount> fsk{};
  std::array<Carrier, 4> carriers{};
  std::array<ShortTone, 2> short_tones{};
  detail::SuperToneRxPtr cp;
  int cp_active = -1;
  int cp_run = 0;      // blocks in the current steady call-progress tone
  int cp_bad = 0;      // of which failed in a row at the end
  double cp_hz = 0.0;  // the run's strongest call-progress frequency
  std::int64_t cp_start = 0, cp_last_good = 0;
  std::array<float, 4> cp_lvl{};  // last four block levels (mean square)
  std::array<std::array<std::complex<float>, detail::kScreenMaxBins>, 4> cp_dft{};  // ... DFTs
  std::array<std::complex<float>, detail::kScreenMaxBins> cp_turn{};  // e^{-jwN} per bin
  float cp_ref = 0.F;  // the run's 40 ms level at its start
  std::array<int, 4> row_bin{}, col_bin{};
  int bin_cng = -1, bin_calling = -1, bin_ans = -1, bin_bell_ans = -1;
  std::vector<int> cp_bins;
  detail::UnitHost host{ring, sink};
  std::optional<detail::MfUnit> mf;  // not gated: fed every sample when enabled
  // Per fax/modem unit (kCng.. kB103Ch2): where its tone began.
  std::array<RunHistory<kToneOnsetRuns, ToneRun>, kB103Ch2 - kCng + 1> onsets{};
  RunHistory<kCpOnsetRuns, CpRun> cp_runs;  // steady call-progress tones, any frequency
  std::int64_t event_pos = 0;   // time stamp for events reported from inside SpanDSP calls
  std::int64_t verify_pos = 0;  // audio fed to the detector that is reporting
  std::array<std::int16_t, kPiece> piece{};

  Impl(const BankConfig& c, EventSink s)
      : cfg(c),
        sink(std::move(s)),
        plan(country_plan(c.country)),
        country(plan.profile),
        g711(G711Decoder::shared(c.law)),
        ring(c.law),
        dtmf(c.dtmf_cfg, ring, &Impl::emit_dtmf, this) {
    for (int u = 0; u < kUnitCount; ++u) ctx[static_cast<std::size_t>(u)] = UnitCtx{this, u};
    build_screen();
    build_detectors();
    build_gates();
    reset();
    detail::StatePool::live_banks().fetch_add(1, std::memory_order_relaxed);
  }
  ~Impl() { detail::StatePool::live_banks().fetch_sub(1, std::memory_order_relaxed); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  RunHistory<kToneOnsetRuns, ToneRun>& onset_runs(int unit) {
    return onsets[static_cast<std::size_t>(unit - kCng)];
  }
  const RunHistory<kToneOnsetRuns, ToneRun>& onset_runs(int unit) const {
    return onsets[static_cast<std::size_t>(unit - kCng)];
  }

  // ---- construction -------------------------------------------------------------------
  void build_screen() {
    static constexpr double kRow[4] = {697, 770, 852, 941};
    static constexpr double kCol[4] = {1209, 1336, 1477, 1633};
    for (int i = 0; i < 4; ++i) {
      row_bin[static_cast<std::size_t>(i)] = screen.add_bin(kRow[i]);
      col_bin[static_cast<std::size_t>(i)] = screen.add_bin(kCol[i]);
    }
    bin_cng = screen.add_bin(1100);
    bin_calling = screen.add_bin(1300);
    bin_ans = screen.add_bin(2100);
    bin_bell_ans = screen.add_bin(2225);
    int b980 = screen.add_bin(980), b1180 = screen.add_bin(1180);
    int b1650 = screen.add_bin(1650), b1750 = screen.add_bin(1750), b1850 = screen.add_bin(1850);
    int b1070 = screen.add_bin(1070), b1270 = screen.add_bin(1270);
    int b2025 = screen.add_bin(2025);
    // V.21 ch1 (980/1180) and Bell 103 originate (1070/1270) share a band: the pair holding
    // more of it wins, and each one's bins sit between the other's. Bell 103 answer mark is
    // the 2225 Hz Bell answer tone.
    carriers[0] = Carrier{
        kV21Ch1, FSK_V21CH1, ToneName::v21_carrier, b980, b1180, b1070, b1070, b1270, b980, b1270};
    carriers[1] = Carrier{kV21Ch2, FSK_V21CH2, ToneName::v21_carrier, b1650, b1850, b1750, -1, -1};
    // SpanDSP names the Bell 103 answer frequencies (2025/2225) "ch 1" and the originate
    // ones (1070/1270) "ch 2"; our units are named by the side that sends.
    carriers[2] = Carrier{kB103Ch1, FSK_BELL103CH2, ToneName::bell103_carrier,
                          b1070,    b1270,          b1180,
                          b980,     b1180,          b1270,
                          b980};
    carriers[3] = Carrier{
        kB103Ch2, FSK_BELL103CH1, ToneName::bell103_carrier, b2025, bin_bell_ans, bin_ans, -1, -1};
    short_tones[0].unit = kAns;
    short_tones[0].bin = bin_ans;
    short_tones[0].hz = 2100.0;
    short_tones[1].unit = kBellAns;
    short_tones[1].bin = bin_bell_ans;
    short_tones[1].hz = 2225.0;
    for (double hz : country.screen_hz) {
      cp_bins.push_back(screen.add_bin(hz));
      if (cp_bins.back() >= 0)
        cp_turn[static_cast<std::size_t>(cp_bins.back())] = screen.block_turn(cp_bins.back());
    }
    if (screen.bins() > detail::kScreenMaxBins || cp_bins.back() < 0)
      throw std::runtime_error("tone screen: too many bins");
  }

  void build_detectors() {
    enabled[kDtmf] = cfg.dtmf;
    for (int u = kCng; u <= kB103Ch2; ++u) enabled[static_cast<std::size_t>(u)] = cfg.fax_modem;
    enabled[kCallProgress] = cfg.call_progress;
    // The fax/modem tone and FSK states are taken when a detector first wakes
    // (acquire_state); one of each is taken here (from this thread's pool, else built) so
    // that a SpanDSP failure shows at once.
    acquire_state(kCng);
    if (!carriers.empty()) acquire_state(carriers.front().unit);
    cp.reset(super_tone_rx_init(nullptr, plan.desc.get(), &cp_cb, &ctx[kCallProgress]));
    if (!cp) throw std::runtime_error("super_tone_rx_init failed");
    if (cfg.bell_mf || cfg.r2_mf) mf.emplace(cfg, host);
  }

  void build_gates() {
    const int preroll = std::clamp(cfg.gating.preroll_ms * 8, 0, kMaxPreroll);
    for (int u = 0; u < kUnitCount; ++u) {
      Gate& g = gates[static_cast<std::size_t>(u)];
      g.preroll = preroll;
      g.hold = cfg.gating.tone_hold_ms * 8;
    }
    gates[kAns].preroll = std::max(preroll, kAnsPreroll);
    gates[kDtmf].align = kDtmfBlock;
    gates[kDtmf].preroll = kDtmfPreroll;
    gates[kDtmf].hold = cfg.gating.dtmf_hold_ms * 8;
    // Call progress: the end of each steady tone extends this to what a cadence starting
    // with that tone still needs (screen_call_progress).
    gates[kCallProgress].align = kCpAlign;
    gates[kCallProgress].hold = kCpBaseHoldMs * 8;
  }

  // ---- SpanDSP callbacks ----------------------------------------------------------------
  static void emit_dtmf(void* user, const Event& e) {
    Event out = e;
    out.onset_s = e.t_s;  // a digit's time is already its start
    static_cast<Impl*>(user)->sink(out);
  }

  // A tone recognised at event_pos, which began at `onset` (a sample index).
  void emit_tone(ToneName name, float level, std::int64_t onset) {
    Event e;
    e.kind = EventKind::tone;
    e.tone = name;
    e.t_s = static_cast<double>(event_pos) / kSampleRate;
    e.onset_s = static_cast<double>(std::clamp<std::int64_t>(onset, 0, event_pos)) / kSampleRate;
    e.level_dbm0 = level;
    sink(e);
  }

  // How long a detector takes to recognise its tone, typically (docs/dsp.md): the onset
  // when the screen kept no run for the tone (it began before a reset, or below the floor).
  static int recognition_ms(ToneName name) {
    switch (name) {
      case ToneName::fax_cng:
        return 420;
      case ToneName::ans_pr:
      case ToneName::ansam_pr:
        return 1350;
      case ToneName::v21_preamble:
        return 130;
      case ToneName::v21_carrier:
      case ToneName::bell103_carrier:
        return 150;
      default:
        return 550;  // ANS, ANSam, 2225 Hz, 1300 Hz
    }
  }

  // Where the tone a fax/modem unit reports at event_pos began: the start of the screen's
  // run of blocks holding the tone's bin (the carrier's band) that was on at the report.
  std::int64_t tone_onset(int unit, ToneName name) const {
    // Blocks ending by event_pos - one block are on the screen however the audio was chunked.
    const auto o = onset_runs(unit).onset(event_pos - kScreenBlock, kOnsetMaxGap);
    return o ? *o : event_pos - recognition_ms(name) * 8;
  }

  // A cadence is reported after a full cycle, dial tone after its minimum, SIT after its
  // third note: the onset is the start of the first tone of what led there. Walk back over
  // the steady tones that fit one of the cadence's tones (frequency, and length up to its
  // longest with the verifier's margins) while the gaps between them fit its longest silence
  // (100 ms for tones back to back). Lengths count only up to the report, so gated and
  // ungated banks agree.
  std::int64_t cp_onset(const ToneCadence& t) const {
    int off_ms = 0, cycle_ms = 0;
    for (const CadenceElement& e : t.elements) {
      if (e.f1 == 0) off_ms = std::max(off_ms, e.max_ms);
      cycle_ms += e.min_ms;
    }
    const std::int64_t gap = (off_ms * 13 / 10 + 100) * 8;
    const std::int64_t at = event_pos - kScreenBlock;
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
    for (int i = 0; i < cp_runs.size(); ++i) {
      const CpRun& r = cp_runs.newest(i);
      if (r.first_end > at || !fits(r)) continue;
      if (r.last_end < reach) break;
      onset = r.start;
      reach = r.start - gap;
    }
    return onset ? *onset : event_pos - static_cast<std::int64_t>(cycle_ms) * 8;
  }

  static void tone_cb(void* user, int code, int level, int /*delay*/) {
    auto* c = static_cast<UnitCtx*>(user);
    Impl& b = *c->bank;
    int& present = b.tone_present[static_cast<std::size_t>(c->unit)];
    if (code == present) return;
    present = code;
    ToneName name = tone_code_name(code);
    if (name == ToneName::none) return;
    for (ShortTone& t : b.short_tones)
      if (t.unit == c->unit) t.spandsp_at = b.event_pos;
    b.emit_tone(name, static_cast<float>(level), b.tone_onset(c->unit, name));
  }

  static void fsk_bit(void* user, int bit) {
    if (bit >= 0) return;  // data bits: only the carrier matters here
    auto* c = static_cast<UnitCtx*>(user);
    for (Carrier& car : c->bank->carriers) {
      if (car.unit != c->unit) continue;
      if (bit == SIG_STATUS_CARRIER_UP) car.carrier_up = true;
      if (bit == SIG_STATUS_CARRIER_DOWN) car.carrier_up = false;
    }
  }

  static void cp_cb(void* user, int code, int /*level*/, int /*delay*/) {
    auto* c = static_cast<UnitCtx*>(user);
    Impl& b = *c->bank;
    b.cp_active = code;
    if (code >= 0 && code < static_cast<int>(b.plan.names.size()) && b.verify_cp(code))
      b.emit_tone(b.plan.names[static_cast<std::size_t>(code)], 0.F,
                  b.cp_onset(b.country.tones[static_cast<std::size_t>(code)]));
  }

  // super_tone_rx takes any two strong bins among its few for a tone, and music with a
  // sustained 350+440 Hz chord passes for dial tone. Check on the recent audio that the
  // tone's own frequencies held nearly all the power for 150 ms. Ringback's tone is 3.5 s
  // before its report, beyond the ring; a false ringback needs 2 s of tone then 4 s of
  // silence, which speech and music do not produce.
  bool verify_cp(int code) {
    const ToneCadence& t = country.tones[static_cast<std::size_t>(code)];
    if (t.name == ToneName::ringback) return true;
    const CadenceElement* el = nullptr;
    for (const CadenceElement& e : t.elements)
      if (e.f1 != 0 && (el == nullptr || t.name == ToneName::sit)) el = &e;
    if (el == nullptr) return true;
    const int back_ms = t.name == ToneName::dial ? 400 : t.name == ToneName::sit ? 300 : 1000;
    const std::int64_t to = verify_pos;
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

  // ---- per-stream state ---------------------------------------------------------------------
  void init_unit(int u, std::int64_t start) {
    auto su = static_cast<std::size_t>(u);
    if (u == kDtmf) {
      dtmf.reset(start);
    } else if (is_tone_unit(u)) {
      if (tones[su])
        modem_connect_tones_rx_init(tones[su].get(), tone_unit_type(u), &tone_cb, &ctx[su]);
      tone_present[su] = 0;
    } else if (is_fsk_unit(u)) {
      for (Carrier& c : carriers)
        if (c.unit == u) {
          if (fsk[su])
            fsk_rx_init(fsk[su].get(), &preset_fsk_specs[c.spec], FSK_FRAME_MODE_SYNC, &fsk_bit,
                        &ctx[su]);
          c.carrier_up = false;
        }
    } else if (u == kCallProgress) {
      super_tone_rx_init(cp.get(), plan.desc.get(), &cp_cb, &ctx[su]);
      cp_active = -1;
    }
  }

  void reset() {
    ring.clear();
    screen.reset();
    stats = BankStats{};
    cp_run = 0;
    cp_bad = 0;
    cp_lvl = {};
    cp_dft = {};
    for (auto& h : onsets) h.clear();
    cp_runs.clear();
    for (ShortTone& t : short_tones) t.clear();
    for (Carrier& c : carriers) {
      c.band_run = 0;
      c.minor_at = kNever;
      c.run = 0;
      c.acc_a = c.acc_b = c.acc_excl = c.acc_sib_excl = c.acc_f = c.acc_f2 = 0.F;
      c.last_ok = kNever;
      c.qualified_at = -1;
      c.reported = false;
    }
    for (int u = 0; u < kUnitCount; ++u) {
      Gate& g = gates[static_cast<std::size_t>(u)];
      g.fed = 0;
      g.awake_until = kNever;
      g.awake = !cfg.gating.enabled && enabled[static_cast<std::size_t>(u)];
      if (g.awake) acquire_state(u);  // ungated: never parked
      init_unit(u, 0);
    }
    if (mf) {
      mf->reset();
      mf->restart(0);
      mf->gate().fed = 0;
    }
    event_pos = 0;
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
    for (int u = 0; u < kUnitCount; ++u) {
      Gate& g = gates[static_cast<std::size_t>(u)];
      if (!g.awake) {
        park_state(u, g);
        continue;
      }
      feed(u, end);
      if (cfg.gating.enabled && end > g.awake_until && !busy(u)) g.awake = false;
    }
    for (ShortTone& t : short_tones)
      if (t.pending && end >= t.due) report_short_tone(t, t.due);
    if (mf) feed_mf(end);
  }

  // ---- short answer tones -----------------------------------------------------------------
  // Every block, gated or not: the stretch of blocks the tone held nearly alone.
  void track_short_tones(const ScreenResult& r, bool loud) {
    for (ShortTone& t : short_tones) {
      if (!enabled[static_cast<std::size_t>(t.unit)]) continue;
      if (loud && r.share[static_cast<std::size_t>(t.bin)] >= kShortPure) {
        if (t.start < 0) t.start = r.end - kScreenBlock;
        t.last = r.end;
        t.missed = 0;
      } else if (t.start >= 0 && ++t.missed > kShortMissed) {
        end_short_tone(t, r.end);
      }
    }
  }

  // The stretch ended at `at`: if it was an answer tone, it is reported at `at` plus the
  // settling time, unless the unit's detector has reported it by then.
  void end_short_tone(ShortTone& t, std::int64_t at) {
    const std::int64_t from = t.start, to = t.last;
    t.start = -1;
    t.missed = 0;
    if (t.pending || to - from < kShortMin || to - from > kShortMax || from < ring.oldest()) return;
    std::span<std::int16_t> x(scratch().data(), static_cast<std::size_t>(to - from));
    ring.copy(from, x);
    const detail::AnswerToneMeasurement m = detail::measure_answer_tone(x, t.hz);
    if (!m.ok) return;
    t.pending = true;
    t.from = from;
    t.due = at + kShortSettle;
    t.name = t.unit == kBellAns ? ToneName::bell_ans : m.am ? ToneName::ansam : ToneName::ans;
    t.level = static_cast<float>(std::round(m.dbm0 * 10.0) / 10.0);
  }

  void report_short_tone(ShortTone& t, std::int64_t at) {
    t.pending = false;
    if (t.spandsp_at >= t.from) return;  // SpanDSP's detector heard it: reported already
    const std::int64_t saved = event_pos;
    event_pos = at;
    emit_tone(t.name, t.level, tone_onset(t.unit, t.name));
    event_pos = saved;
  }

  // Gives unit `u` a SpanDSP state if it has none (from the thread's parked ones, else a new
  // one); true when it had to, so the caller initialises it.
  bool acquire_state(int u) {
    auto su = static_cast<std::size_t>(u);
    if (is_tone_unit(u) && !tones[su]) {
      if (!detail::StatePool::local().take(tones[su])) {
        tones[su].reset(
            modem_connect_tones_rx_init(nullptr, tone_unit_type(u), &tone_cb, &ctx[su]));
        if (!tones[su]) throw std::runtime_error("modem_connect_tones_rx_init failed");
      }
      return true;
    }
    if (is_fsk_unit(u) && !fsk[su]) {
      if (!detail::StatePool::local().take(fsk[su])) {
        for (const Carrier& c : carriers)
          if (c.unit == u)
            fsk[su].reset(fsk_rx_init(nullptr, &preset_fsk_specs[c.spec], FSK_FRAME_MODE_SYNC,
                                      &fsk_bit, &ctx[su]));
        if (!fsk[su]) throw std::runtime_error("fsk_rx_init failed");
      }
      return true;
    }
    return false;
  }

  // A sleeping detector whose last sample has left the ring will be initialised afresh when
  // it wakes (trigger): its state is of no use until then, so it goes back to the pool.
  void park_state(int u, const Gate& g) {
    if (g.fed >= ring.oldest()) return;
    auto su = static_cast<std::size_t>(u);
    if (is_tone_unit(u) && tones[su]) detail::StatePool::local().put(tones[su]);
    if (is_fsk_unit(u) && fsk[su]) detail::StatePool::local().put(fsk[su]);
  }

  void trigger(int u, std::int64_t pos) {
    auto su = static_cast<std::size_t>(u);
    if (!enabled[su]) return;
    Gate& g = gates[su];
    g.awake_until = std::max(g.awake_until, pos + g.hold);
    if (g.awake) return;
    // Replay the pre-roll, aligned to the detector's block so that its blocks fall where
    // they would have fallen had it run all along. If the pre-roll reaches back to where the
    // detector stopped, it simply goes on from there with its state: as if never asleep.
    std::int64_t want =
        floor_to(std::max<std::int64_t>(0, pos - kScreenBlock - g.preroll), g.align);
    want = std::max(want, ceil_to(ring.oldest(), g.align));
    const bool fresh = acquire_state(u);
    if (fresh || want > g.fed || g.fed < ring.oldest()) {
      init_unit(u, want);
      g.fed = want;
    }
    g.awake = true;
    ++stats.wakes[su];
  }

  bool busy(int u) const {
    auto su = static_cast<std::size_t>(u);
    if (u == kDtmf) return dtmf.busy();
    if (is_tone_unit(u)) return tone_present[su] > 0;
    if (u == kCallProgress) return cp_active >= 0;
    for (const Carrier& c : carriers)
      if (c.unit == u) return c.run > 0 || c.qualified_at >= 0;
    return false;
  }

  void on_screen(const ScreenResult& r) {
    const auto& s = r.share;
    auto sh = [&](int bin) { return s[static_cast<std::size_t>(bin)]; };
    const bool loud = r.dbm0 >= cfg.gating.floor_dbm0;
    float purest = 0.F;  // for the voice statistic
    if (loud) {
      // DTMF: a row and a column both present.
      int br = row_bin[0], bc = col_bin[0];
      for (int i = 1; i < 4; ++i) {
        if (sh(row_bin[static_cast<std::size_t>(i)]) > sh(br))
          br = row_bin[static_cast<std::size_t>(i)];
        if (sh(col_bin[static_cast<std::size_t>(i)]) > sh(bc))
          bc = col_bin[static_cast<std::size_t>(i)];
      }
      purest = std::max(purest, sh(br) + sh(bc));
      if (sh(br) + sh(bc) >= kDtmfShare && std::min(sh(br), sh(bc)) >= kDtmfMinTone &&
          std::min(r.bin_dbm0(br), r.bin_dbm0(bc)) >= kDtmfMinToneDbm0)
        trigger(kDtmf, r.end);
      // Fax and modem tones.
      const std::pair<int, int> singles[] = {
          {kCng, bin_cng}, {kCalling, bin_calling}, {kAns, bin_ans}, {kBellAns, bin_bell_ans}};
      for (auto [u, bin] : singles) {
        purest = std::max(purest, sh(bin));
        if (sh(bin) >= kToneShare) trigger(u, r.end);
      }
      for (Carrier& c : carriers) {
        const float band = c.band(r), pair = sh(c.bin_a) + sh(c.bin_b);
        purest = std::max(purest, pair);
        // A lone mark or space (2225 Hz is also Bell's answer tone) is not modulation: the
        // other frequency must show up within the run (HDLC flags put a 0 in every 8 bits).
        if (pair >= kBandShare / 2 && std::min(sh(c.bin_a), sh(c.bin_b)) >= kFskMinor * pair)
          c.minor_at = r.end;
        c.band_run = band >= kBandShare ? c.band_run + 1 : 0;
        if (c.band_run >= kBandRun && r.end - c.minor_at < kBandRun * kScreenBlock) {
          trigger(c.unit, r.end);
          if (c.unit == kV21Ch2) trigger(kPreamble, r.end);
        }
      }
      screen_call_progress(r, true);
      if (cp_run > 0) purest = 1.F;
    } else {
      screen_call_progress(r, false);
      for (Carrier& c : carriers) c.band_run = 0;
    }
    for (Carrier& c : carriers) qualify(c, r, loud);
    track_onsets(r, loud);
    track_short_tones(r, loud);
    if (r.dbm0 >= kVoiceDbm0 && purest < kPureShare) stats.voice_samples += kScreenBlock;
  }

  // Every block, gated or not: the runs the fax/modem tones' onsets are read from. The
  // thresholds are the wake rules' (a tone that wakes its detector starts a run).
  void track_onsets(const ScreenResult& r, bool loud) {
    auto sh = [&](int bin) { return r.share[static_cast<std::size_t>(bin)]; };
    const std::pair<int, int> singles[] = {
        {kCng, bin_cng}, {kCalling, bin_calling}, {kAns, bin_ans}, {kBellAns, bin_bell_ans}};
    for (auto [u, bin] : singles)
      onset_runs(u).block(loud && sh(bin) >= kToneShare, sh(bin), r.end);
    for (const Carrier& c : carriers) {
      const float band = c.band(r);
      onset_runs(c.unit).block(loud && band >= kCarrierShare, band, r.end);
    }
    const float v21 = carriers[1].band(r);  // channel 2: the fax's HDLC flags
    onset_runs(kPreamble).block(loud && v21 >= kBandShare, v21, r.end);
  }

  void screen_call_progress(const ScreenResult& r, bool loud) {
    // The last four blocks added coherently: a 40 ms DFT, +-25 Hz main lobe, sharp enough
    // that a voice harmonic seldom sits on a call-progress frequency for long.
    std::rotate(cp_lvl.begin(), cp_lvl.begin() + 1, cp_lvl.end());
    cp_lvl.back() = r.mean_square;
    std::rotate(cp_dft.begin(), cp_dft.begin() + 1, cp_dft.end());
    cp_dft.back() = r.dft;
    const float lvl40 = (cp_lvl[0] + cp_lvl[1] + cp_lvl[2] + cp_lvl[3]) / 4.F;
    constexpr float kN = 4 * kScreenBlock;
    const float norm = lvl40 > 0.F ? 1.F / (lvl40 * kN * kN / 2.F) : 0.F;
    float cps = 0.F, top = -1.F;
    int top_bin = -1;
    for (int bin : cp_bins) {
      const auto b = static_cast<std::size_t>(bin);
      const std::complex<float> t = cp_turn[b];
      const float v =
          std::norm(((cp_dft[3][b] * t + cp_dft[2][b]) * t + cp_dft[1][b]) * t + cp_dft[0][b]) *
          norm;
      cps += v;
      if (v > top) {
        top = v;
        top_bin = bin;
      }
    }
    const bool tonal = loud && cps >= kCpShare;
    const double hz = tonal ? screen.bin_hz(top_bin) : 0.0;
    const bool next_tone = cp_run > 0 && tonal && std::fabs(hz - cp_hz) > kCpSameToneHz;
    if (next_tone) end_cp_run();
    if (cp_run == 0) {
      if (!tonal) return;
      cp_hz = hz;
      cp_start = r.end - kScreenBlock;
      cp_ref = 0.F;
      cp_bad = 0;
      // A tone filling the last fraction f of the 40 ms DFT holds a share f of it: it began
      // f x 40 ms before the block's end. Right after another tone that share is not its own.
      const std::int64_t onset =
          next_tone
              ? cp_start
              : r.end - std::lround(std::min(cps, 1.F) * static_cast<float>(4 * kScreenBlock));
      CpRun run;
      run.start = onset;
      run.first_end = run.last_end = r.end;
      run.hz = hz;
      cp_runs.begin(run);
    }
    bool good = tonal;
    if (good && cp_run >= 4 && cp_ref > 0.F)
      good = std::fabs(10.F * std::log10(std::max(lvl40, 1e-3F) / cp_ref)) <= kCpLevelSpreadDb;
    if (!good) {
      if (++cp_bad > kCpTolerated) end_cp_run();
      return;
    }
    ++cp_run;
    cp_bad = 0;
    cp_last_good = r.end;
    cp_runs.extend(r.end);
    if (cp_run == 4) cp_ref = lvl40;  // the first full 40 ms of the run
    if (cp_run >= kCpRun) trigger(kCallProgress, r.end);
  }

  // A steady tone ended: keep call progress awake as long as a cadence that starts with a
  // tone of this frequency and length still needs to be watched (its remaining elements at
  // their longest), with generous margins on the match.
  void end_cp_run() {
    if (cp_run >= kCpRun) {
      const double len_ms = static_cast<double>(cp_last_good - cp_start) / 8.0;
      int need_ms = kCpBaseHoldMs;
      for (const ToneCadence& t : country.tones)
        for (std::size_t i = 0; i < t.elements.size(); ++i) {
          const CadenceElement& e = t.elements[i];
          if (e.f1 == 0) continue;
          const bool freq = std::fabs(e.f1 - cp_hz) <= kCpSameToneHz ||
                            (e.f2 != 0 && std::fabs(e.f2 - cp_hz) <= kCpSameToneHz);
          const bool len = len_ms >= 0.7 * e.min_ms - 40.0 &&
                           (e.max_ms == 0 || len_ms <= 1.3 * e.max_ms + 100.0);
          if (!freq || !len) continue;
          int rest = 0;
          for (std::size_t j = i + 1; j < t.elements.size(); ++j)
            rest += t.elements[j].max_ms > 0 ? t.elements[j].max_ms : t.elements[j].min_ms;
          need_ms = std::max(need_ms, rest + kCpBaseHoldMs);
        }
      Gate& g = gates[kCallProgress];
      g.awake_until = std::max(g.awake_until, cp_last_good + need_ms * 8);
    }
    cp_run = 0;
    cp_bad = 0;
  }

  // FSK carrier qualification on the screen: fsk_rx's carrier detect is a power meter and
  // comes up on speech, so a carrier also needs its band busy for 150 ms, its own two
  // frequencies holding more of it than the neighbouring modem's, both of them (modulated),
  // and their split moving from block to block (a steady dual tone, e.g. R2, holds still).
  void qualify(Carrier& c, const ScreenResult& r, bool loud) {
    const auto& s = r.share;
    const bool ok = loud && c.band(r) >= kCarrierShare;
    if (!ok) {
      c.run = 0;
      c.acc_a = c.acc_b = c.acc_excl = c.acc_sib_excl = c.acc_f = c.acc_f2 = 0.F;
      if (r.end - c.last_ok >= 8000) c.reported = false;  // a new carrier after 1 s quiet
      return;
    }
    const float sa = s[static_cast<std::size_t>(c.bin_a)],
                sb = s[static_cast<std::size_t>(c.bin_b)];
    ++c.run;
    c.acc_a += sa;
    c.acc_b += sb;
    if (c.excl >= 0) {
      c.acc_excl += s[static_cast<std::size_t>(c.excl)];
      c.acc_sib_excl += s[static_cast<std::size_t>(c.sib_excl)];
    }
    const float f = sa + sb > 0.F ? sa / (sa + sb) : 0.5F;
    c.acc_f += f;
    c.acc_f2 += f * f;
    c.last_ok = r.end;
    if (c.reported || c.qualified_at >= 0 || c.run < kCarrierRun) return;
    const float n = static_cast<float>(c.run);
    const float var = c.acc_f2 / n - (c.acc_f / n) * (c.acc_f / n);
    // Siblings share a band and their inner frequencies (and bit transitions land there):
    // the outer frequency that only one of them uses decides, with a clear lead.
    if (c.excl >= 0 && c.acc_excl < kCarrierLead * c.acc_sib_excl) return;
    if ((c.acc_a + c.acc_b) / n >= kCarrierPairShare &&
        std::min(c.acc_a, c.acc_b) >= kCarrierModulation * (c.acc_a + c.acc_b) &&
        var >= kCarrierSwing * kCarrierSwing)
      c.qualified_at = r.end;
  }

  void feed(int u, std::int64_t end) {
    auto su = static_cast<std::size_t>(u);
    Gate& g = gates[su];
    if (u == kDtmf) {
      std::array<std::int16_t, kDtmfBlock> blk;
      while (g.fed + kDtmfBlock <= end) {
        ring.copy(g.fed, blk);
        dtmf.process_block(blk.data(), g.fed);
        g.fed += kDtmfBlock;
        stats.run_samples[su] += kDtmfBlock;
      }
      return;
    }
    while (g.fed < end) {
      const std::int64_t piece_end = std::min(end, floor_to(g.fed, kPiece) + kPiece);
      const int n = static_cast<int>(piece_end - g.fed);
      ring.copy(g.fed, std::span<std::int16_t>(piece.data(), static_cast<std::size_t>(n)));
      event_pos = ceil_to(piece_end, kPiece);
      verify_pos = piece_end;
      if (is_tone_unit(u)) {
        modem_connect_tones_rx(tones[su].get(), piece.data(), n);
      } else if (is_fsk_unit(u)) {
        fsk_rx(fsk[su].get(), piece.data(), n);
        for (Carrier& c : carriers)
          if (c.unit == u) carrier_check(c, piece_end);
      } else if (u == kCallProgress) {
        super_tone_rx(cp.get(), piece.data(), n);
      }
      g.fed = piece_end;
      stats.run_samples[su] += n;
    }
  }

  // Reports a qualified carrier once fsk_rx also hears one: at the qualification if it
  // already did, else at the 10 ms mark where it came up.
  void carrier_check(Carrier& c, std::int64_t piece_end) {
    if (c.qualified_at < 0 || piece_end < c.qualified_at) return;
    if (c.carrier_up) {
      const std::int64_t piece_mark = ceil_to(piece_end, kPiece);
      event_pos = std::max(c.qualified_at, piece_mark - kPiece);
      emit_tone(c.name, 0.F, tone_onset(c.unit, c.name));
      event_pos = piece_mark;
      c.reported = true;
      c.qualified_at = -1;
    } else if (c.run == 0 && piece_end >= ring.end()) {
      c.qualified_at = -1;  // the screen let go before fsk_rx saw a carrier
    }
  }

  // ---- MF (not gated: enabled only where MF signaling is expected) ---------------------
  void feed_mf(std::int64_t end) {
    detail::Gate& g = mf->gate();
    while (g.fed < end) {
      const std::int64_t piece_end = std::min(end, floor_to(g.fed, kPiece) + kPiece);
      const int n = static_cast<int>(piece_end - g.fed);
      ring.copy(g.fed, std::span<std::int16_t>(piece.data(), static_cast<std::size_t>(n)));
      mf->feed(std::span<const std::int16_t>(piece.data(), static_cast<std::size_t>(n)), g.fed);
      g.fed = piece_end;
    }
    mf->run_checks();
  }

  void flush() {
    dtmf.flush();
    if (mf) mf->flush();
    // A tone still on, or ended within the settling time, when the stream stops.
    for (ShortTone& t : short_tones) {
      if (t.start >= 0) end_short_tone(t, ring.end());
      if (t.pending) report_short_tone(t, std::min(t.due, ring.end()));
    }
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
