#include "dsp/dtmf.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "dsp/levels.hpp"
#include "dsp/spandsp_ptr.hpp"
#include "dsp/tone_pair.hpp"

namespace tw::dsp::detail {

namespace {

constexpr std::array<double, 4> kRowHz{697.0, 770.0, 852.0, 941.0};
constexpr std::array<double, 4> kColHz{1209.0, 1336.0, 1477.0, 1633.0};
constexpr char kKeys[] = "123A456B789C*0#D";

// The tolerant detector's limits. dtmf_rx insists on 8 dB between the best and the second
// best Goertzel of a group and on 82 % of the block power in the pair; at the Q.24 edges
// (both tones 1.5 % off, twist 8 dB) leakage and the off-centre loss break those. The
// verifier re-checks frequency and power share precisely, so these only need to be tight
// enough to reject a tone that covers ~57 % of a block (a 20 ms tone's second block).
constexpr float kCloserRelPeak = 3.98F;  // 6 dB
constexpr float kCloserShare = 0.66F;
// The other group's tone leaks ~-20 dB into a 102-sample Goertzel and moves the apparent
// twist by up to ~2 dB; the verifier measures twist without that leakage.
constexpr float kCloserTwistMarginDb = 2.5F;

// The verifier's copy of a digit's samples: needed only inside report(), so one per thread
// rather than 16 KB in each of a big box's 1,920 banks.
std::array<std::int16_t, AudioRing::kCapacity>& scratch() {
  thread_local std::array<std::int16_t, AudioRing::kCapacity> buf;
  return buf;
}

int key_index(char digit) {
  for (int i = 0; i < 16; ++i)
    if (kKeys[i] == digit) return i;
  return -1;
}

struct Segment {
  char digit = 0;
  std::int64_t first = 0;  // block indices, inclusive
  std::int64_t last = 0;
  std::uint8_t sources = 0;  // 1: dtmf_rx, 2: tolerant detector
};

// The start/end rule of dtmf_rx applied to per-block hits: a digit starts on two agreeing
// blocks and ends on two that disagree.
struct Track {
  char last_hit = 0;
  char in_digit = 0;
  bool open = false;
  Segment seg;
};

}  // namespace

PairLimits dtmf_limits(const DtmfConfig& cfg) {
  PairLimits lim;
  lim.search = 0.05;
  lim.max_dev = cfg.max_freq_dev;
  lim.twist_db = cfg.twist_db;
  lim.reverse_twist_db = cfg.reverse_twist_db;
  lim.threshold_dbm0 = cfg.threshold_dbm0;
  lim.min_share = cfg.min_power_share;
  lim.min_on_samples = cfg.min_on_ms * kSampleRate / 1000.0;
  return lim;
}

PairMeasurement measure_dtmf(std::span<const std::int16_t> x, std::int64_t x_start,
                             std::int64_t seg_begin, std::int64_t seg_end, char digit,
                             const DtmfConfig& cfg) {
  int key = key_index(digit);
  if (key < 0) return PairMeasurement{};
  // The on-time may reach one block beyond where the block detectors saw the digit.
  const PairWindow where{seg_begin, seg_end, seg_begin - kDtmfBlock - 34,
                         seg_end + kDtmfBlock + 34};
  return measure_pair(x, x_start, where, kRowHz[static_cast<std::size_t>(key / 4)],
                      kColHz[static_cast<std::size_t>(key % 4)], dtmf_limits(cfg));
}

struct DtmfDetector::Impl {
  DtmfConfig cfg;
  const AudioRing& ring;
  Emit emit;
  void* user;
  DtmfRxPtr rx;
  int rx_code = -1;  // set by the realtime callback during dtmf_rx()
  std::array<Track, 2> tracks{};
  std::array<Segment, 16> pending{};
  int npending = 0;
  std::array<float, 8> coef{};
  float thr = 0.F, twist = 0.F, rtwist = 0.F;
  std::int64_t block = 0;  // index of the block being processed
  Stats* stats = nullptr;

  Impl(const DtmfConfig& c, const AudioRing& r, Emit e, void* u)
      : cfg(c), ring(r), emit(e), user(u) {
    rx.reset(dtmf_rx_init(nullptr, nullptr, nullptr));
    for (int i = 0; i < 4; ++i) {
      coef[static_cast<std::size_t>(i)] =
          static_cast<float>(2.0 * std::cos(2.0 * std::numbers::pi *
                                            kRowHz[static_cast<std::size_t>(i)] / kSampleRate));
      coef[static_cast<std::size_t>(i + 4)] =
          static_cast<float>(2.0 * std::cos(2.0 * std::numbers::pi *
                                            kColHz[static_cast<std::size_t>(i)] / kSampleRate));
    }
    double a = sine_amplitude(cfg.threshold_dbm0) * kDtmfBlock / 2.0;
    thr = static_cast<float>(a * a);
    twist = std::pow(10.F, (cfg.twist_db + kCloserTwistMarginDb) / 10.F);
    rtwist = std::pow(10.F, (cfg.reverse_twist_db + kCloserTwistMarginDb) / 10.F);
  }

  static void rt_callback(void* u, int code, int /*level*/, int /*delay*/) {
    static_cast<Impl*>(u)->rx_code = code;
  }

  void reset(std::int64_t block_start) {
    // In-place re-init: no allocation when a gated detector wakes.
    dtmf_rx_init(rx.get(), nullptr, nullptr);
    dtmf_rx_set_realtime_callback(rx.get(), &rt_callback, this);
    dtmf_rx_parms(rx.get(), 0, static_cast<int>(cfg.twist_db),
                  static_cast<int>(cfg.reverse_twist_db), static_cast<int>(cfg.threshold_dbm0));
    tracks = {};
    npending = 0;
    block = block_start / kDtmfBlock;
  }

  char closer_hit(const std::int16_t* x) {
    float s1[8] = {}, s2[8] = {};
    float energy = 0.F;
    for (int n = 0; n < kDtmfBlock; ++n) {
      float v = x[n];
      energy += v * v;
      for (int k = 0; k < 8; ++k) {
        float s0 = v + coef[static_cast<std::size_t>(k)] * s1[k] - s2[k];
        s2[k] = s1[k];
        s1[k] = s0;
      }
    }
    float p[8];
    for (int k = 0; k < 8; ++k)
      p[k] = s1[k] * s1[k] + s2[k] * s2[k] - coef[static_cast<std::size_t>(k)] * s1[k] * s2[k];
    int br = 0, bc = 4;
    for (int k = 1; k < 4; ++k) {
      if (p[k] > p[br]) br = k;
      if (p[k + 4] > p[bc]) bc = k + 4;
    }
    float r = p[br], c = p[bc];
    if (r < thr || c < thr) return 0;
    if (!(c < r * rtwist && c * twist > r)) return 0;
    for (int k = 0; k < 4; ++k) {
      if (k != br && p[k] * kCloserRelPeak > r) return 0;
      if (k + 4 != bc && p[k + 4] * kCloserRelPeak > c) return 0;
    }
    if (r + c < kCloserShare * energy * (kDtmfBlock / 2.F)) return 0;
    return kKeys[br * 4 + (bc - 4)];
  }

  // dtmf_rx's rule on the tolerant detector's hits.
  void update_track(int src, char hit) {
    Track& t = tracks[static_cast<std::size_t>(src)];
    if (hit != 0 && hit == t.in_digit) t.seg.last = block;
    if (hit != t.in_digit && t.last_hit != t.in_digit) {
      char now = (hit != 0 && hit == t.last_hit) ? hit : 0;
      if (t.in_digit != 0) end_segment(src, t.seg.last);
      if (now != 0) start_segment(src, now, block - 1);
      t.in_digit = now;
    }
    t.last_hit = hit;
  }

  void start_segment(int src, char d, std::int64_t first) {
    Track& t = tracks[static_cast<std::size_t>(src)];
    t.open = true;
    t.seg = Segment{d, first, first + 1, static_cast<std::uint8_t>(1 << src)};
  }

  void end_segment(int src, std::int64_t last) {
    Track& t = tracks[static_cast<std::size_t>(src)];
    if (!t.open) return;
    t.open = false;
    t.seg.last = std::max(last, t.seg.first);
    if (npending == static_cast<int>(pending.size())) finalize_first();  // never in practice
    pending[static_cast<std::size_t>(npending++)] = t.seg;
  }

  // Report the earliest cluster of overlapping same-digit segments once no source can still
  // add to it.
  void try_finalize(bool force) {
    while (npending > 0) {
      Segment cl;
      std::uint32_t members = 0;
      if (!cluster(cl, members)) break;
      bool waiting = false;
      for (const Track& t : tracks)
        if (t.open && t.seg.digit == cl.digit && t.seg.first <= cl.last + 1) waiting = true;
      if (waiting && !force) break;
      if (!force && block < cl.last + 2) break;
      report(cl);
      remove(members);
    }
  }

  bool cluster(Segment& cl, std::uint32_t& members) {
    int first = 0;
    for (int i = 1; i < npending; ++i)
      if (pending[static_cast<std::size_t>(i)].first <
          pending[static_cast<std::size_t>(first)].first)
        first = i;
    cl = pending[static_cast<std::size_t>(first)];
    members = 1U << first;
    bool grew = true;
    while (grew) {
      grew = false;
      for (int i = 0; i < npending; ++i) {
        const Segment& s = pending[static_cast<std::size_t>(i)];
        if ((members & (1U << i)) != 0 || s.digit != cl.digit) continue;
        if (s.first <= cl.last + 1 && s.last + 1 >= cl.first) {
          cl.first = std::min(cl.first, s.first);
          cl.last = std::max(cl.last, s.last);
          cl.sources |= s.sources;
          members |= 1U << i;
          grew = true;
        }
      }
    }
    return true;
  }

  void remove(std::uint32_t members) {
    int j = 0;
    for (int i = 0; i < npending; ++i)
      if ((members & (1U << i)) == 0)
        pending[static_cast<std::size_t>(j++)] = pending[static_cast<std::size_t>(i)];
    npending = j;
  }

  void finalize_first() {
    Segment cl;
    std::uint32_t members = 0;
    cluster(cl, members);
    report(cl);
    remove(members);
  }

  void report(const Segment& cl) {
    ++stats->candidates;
    std::int64_t seg_begin = cl.first * kDtmfBlock;
    std::int64_t seg_end = (cl.last + 1) * kDtmfBlock;
    Event e;
    e.kind = EventKind::dtmf;
    e.digit = cl.digit;
    if (cfg.verify) {
      std::int64_t to = std::min(seg_end + 2 * kDtmfBlock, ring.end());
      std::int64_t from = std::max(seg_begin - 2 * kDtmfBlock, ring.oldest());
      const bool clipped =
          from > std::max<std::int64_t>(0, seg_begin - 2 * kDtmfBlock);  // a digit held for > ~1 s
      if (to - from < kDtmfBlock) {
        ++stats->rejected;
        return;
      }
      std::span<std::int16_t> buf(scratch().data(), static_cast<std::size_t>(to - from));
      ring.copy(from, buf);
      PairMeasurement m =
          measure_dtmf(buf, from, std::max(seg_begin, from), seg_end, cl.digit, cfg);
      if (!m.ok) {
        ++stats->rejected;
        return;
      }
      e.t_s = (clipped ? static_cast<double>(seg_begin) : m.start) / kSampleRate;
      e.duration_ms =
          static_cast<float>((clipped ? static_cast<double>(seg_end - seg_begin) : m.on_samples) *
                             1000.0 / kSampleRate);
      double p = std::pow(10.0, m.low_dbm0 / 10.0) + std::pow(10.0, m.high_dbm0 / 10.0);
      e.level_dbm0 = static_cast<float>(10.0 * std::log10(p));
    } else {
      e.t_s = static_cast<double>(seg_begin) / kSampleRate;
      e.duration_ms = static_cast<float>((seg_end - seg_begin) * 1000.0 / kSampleRate);
    }
    if (cl.sources == 1) ++stats->spandsp_only;
    if (cl.sources == 2) ++stats->closer_only;
    emit(user, e);
  }

  void process_block(const std::int16_t* x, std::int64_t block_start) {
    block = block_start / kDtmfBlock;
    if (cfg.use_spandsp) {
      rx_code = -1;
      dtmf_rx(rx.get(), x, kDtmfBlock);
      if (rx_code >= 0) {
        // On: this and the previous block agreed. Off (or a change): this and the previous
        // block disagreed with the digit.
        if (tracks[0].open) end_segment(0, block - 2);
        if (rx_code != 0) start_segment(0, static_cast<char>(rx_code), block - 1);
      } else if (tracks[0].open) {
        tracks[0].seg.last = block;  // provisional: trimmed by the off report
      }
    }
    if (cfg.use_closer) update_track(1, closer_hit(x));
    try_finalize(false);
  }
};

DtmfDetector::DtmfDetector(const DtmfConfig& cfg, const AudioRing& ring, Emit emit, void* user)
    : impl_(std::make_unique<Impl>(cfg, ring, emit, user)) {
  impl_->stats = &stats_;
  impl_->reset(0);
}

DtmfDetector::~DtmfDetector() = default;

void DtmfDetector::reset(std::int64_t block_start) {
  impl_->reset(block_start);
}

void DtmfDetector::process_block(const std::int16_t* x, std::int64_t block_start) {
  ++stats_.blocks;
  impl_->process_block(x, block_start);
}

bool DtmfDetector::busy() const {
  return impl_->npending > 0 || impl_->tracks[0].open || impl_->tracks[1].open ||
         impl_->tracks[1].last_hit != 0 || dtmf_rx_status(impl_->rx.get()) != 0;
}

void DtmfDetector::flush() {
  for (int src = 0; src < 2; ++src)
    if (impl_->tracks[static_cast<std::size_t>(src)].open)
      impl_->end_segment(src, impl_->tracks[static_cast<std::size_t>(src)].seg.last);
  impl_->try_finalize(true);
}

}  // namespace tw::dsp::detail
