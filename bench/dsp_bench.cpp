// `trunkwatch bench dsp`: N channels of mixed trunk audio through the detector bank on one
// core, next to the same audio through every raw SpanDSP detector on every chunk.
#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_commands.hpp"
#include "bench/process_stats.hpp"
#include "dsp/country.hpp"
#include "dsp/detector_bank.hpp"
#include "dsp/g711.hpp"
#include "dsp/spandsp_ptr.hpp"
#include "dsp/synth.hpp"
#include "dsp/wav_reader.hpp"
#include "monitor/cli/commands.hpp"

namespace tw::cli {

namespace {

using bench::thread_cpu_seconds;

namespace d = tw::dsp::detail;

struct BenchOptions {
  int channels = 64;
  double seconds = 60.0;
  std::string country = "us";
  bool dense = false;    // the tone-dense test mix instead of trunk traffic
  bool all_raw = false;  // also every raw detector the bank owns
};

constexpr std::size_t kChunk = 160;  // 20 ms

// Every SpanDSP detector on every chunk: the cost of full coverage without gating.
class RawSpanDsp {
 public:
  // `brief`: the set a PRI tap needs (decode, dtmf_rx, CNG, CED_OR_PREAMBLE, ANS, call progress,
  // Bell MF, one fsk_rx); otherwise also every other detector the bank owns (2225, 1300,
  // V.21 preamble, all four FSK carriers).
  RawSpanDsp(bool brief, super_tone_rx_descriptor_t* cp_desc) {
    dtmf_.reset(dtmf_rx_init(nullptr, &digits, nullptr));
    int types[] = {MODEM_CONNECT_TONES_FAX_CNG,      MODEM_CONNECT_TONES_FAX_CED_OR_PREAMBLE,
                   MODEM_CONNECT_TONES_ANS,          MODEM_CONNECT_TONES_BELL_ANS,
                   MODEM_CONNECT_TONES_CALLING_TONE, MODEM_CONNECT_TONES_FAX_PREAMBLE};
    for (int i = 0; i < (brief ? 3 : 6); ++i)
      tones_.emplace_back(modem_connect_tones_rx_init(nullptr, types[i], &tone, nullptr));
    int specs[] = {FSK_V21CH1, FSK_V21CH2, FSK_BELL103CH1, FSK_BELL103CH2};
    for (int i = 0; i < (brief ? 1 : 4); ++i)
      fsk_.emplace_back(
          fsk_rx_init(nullptr, &preset_fsk_specs[specs[i]], FSK_FRAME_MODE_SYNC, &bit, nullptr));
    cp_.reset(super_tone_rx_init(nullptr, cp_desc, &tone, nullptr));
    bell_.reset(bell_mf_rx_init(nullptr, &digits, nullptr));
  }
  void rx_g711(const std::uint8_t* in, int n) {
    std::int16_t amp[kChunk];
    for (int i = 0; i < n; ++i) amp[i] = ulaw_to_linear(in[i]);
    dtmf_rx(dtmf_.get(), amp, n);
    for (auto& t : tones_) modem_connect_tones_rx(t.get(), amp, n);
    for (auto& f : fsk_) fsk_rx(f.get(), amp, n);
    super_tone_rx(cp_.get(), amp, n);
    bell_mf_rx(bell_.get(), amp, n);
  }

 private:
  static void digits(void*, const char*, int) {}
  static void tone(void*, int, int, int) {}
  static void bit(void*, int) {}
  d::DtmfRxPtr dtmf_;
  std::vector<d::ModemTonesRxPtr> tones_;
  std::vector<d::FskRxPtr> fsk_;
  d::SuperToneRxPtr cp_;
  d::BellMfRxPtr bell_;
};

struct Run {
  std::string name;
  double cpu_s = 0.0;
  double channels_per_core = 0.0;
};

// Interleaves the channels chunk by chunk, as a span loop does.
template <class Rx>
double timed(const std::vector<std::vector<std::uint8_t>>& audio, Rx&& rx) {
  const std::size_t len = audio.front().size();
  double t0 = thread_cpu_seconds();
  for (std::size_t at = 0; at < len; at += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, len - at));
    for (std::size_t ch = 0; ch < audio.size(); ++ch) rx(ch, audio[ch].data() + at, n);
  }
  return thread_cpu_seconds() - t0;
}

int run_bench(const BenchOptions& o) {
  dsp::ChannelDetectorBank::prepare();
  auto country = dsp::country_profile(o.country);
  if (!country || o.channels < 1 || o.seconds <= 0.0) {
    std::fprintf(stderr, "trunkwatch bench dsp: bad arguments\n");
    return kExitUsage;
  }
  const double t_build = thread_cpu_seconds();
  // Speech and music: the Asterisk prompts and music on hold, as a trunk carries them.
  std::vector<std::vector<std::int16_t>> corpus;
  for (const auto& f : dsp::synth::asterisk_corpus()) {
    try {
      dsp::WavAudio a = dsp::read_wav(f);
      if (a.encoding == dsp::WavAudio::Encoding::pcm16 && a.linear.size() > 16000)
        corpus.push_back(std::move(a.linear));
    } catch (const dsp::WavError&) {
    }
  }
  if (corpus.empty())
    std::fprintf(stderr, "warning: no Asterisk sounds found; speech is left out of the mix\n");
  std::vector<std::vector<std::uint8_t>> audio(static_cast<std::size_t>(o.channels));
  for (int ch = 0; ch < o.channels; ++ch) {
    auto lin = o.dense ? dsp::synth::mixed_channel(1000U + static_cast<std::uint32_t>(ch),
                                                   o.seconds, corpus, *country)
                       : dsp::synth::trunk_channel(1000U + static_cast<std::uint32_t>(ch),
                                                   o.seconds, corpus, *country);
    auto& out = audio[static_cast<std::size_t>(ch)];
    out.resize(lin.size());
    for (std::size_t i = 0; i < lin.size(); ++i) out[i] = dsp::g711_encode(dsp::Law::ulaw, lin[i]);
  }
  corpus.clear();
  const double audio_s = o.seconds * o.channels;
  std::printf(
      "trunkwatch bench dsp: %d channels x %.0f s of %s (speech and music from the "
      "Asterisk sounds, silence, DTMF, fax, modem and call-progress tones), mu-law, "
      "20 ms chunks, one thread; audio built in %.1f s\n",
      o.channels, o.seconds, o.dense ? "tone-dense test audio" : "trunk traffic",
      thread_cpu_seconds() - t_build);

  std::vector<Run> runs;
  auto report = [&](const std::string& name, double cpu) {
    runs.push_back(Run{name, cpu, audio_s / cpu});
    std::printf("  %-58s %9.0f channels/core  (%.2f s cpu)\n", name.c_str(), audio_s / cpu, cpu);
    std::fflush(stdout);
  };

  d::SuperToneDescPtr desc(super_tone_rx_make_descriptor(nullptr));
  for (const auto& t : country->tones) {
    int id = super_tone_rx_add_tone(desc.get());
    for (const auto& e : t.elements)
      super_tone_rx_add_element(desc.get(), id, e.f1, e.f2, e.min_ms, e.max_ms);
  }
  for (bool brief : {true, false}) {
    if (!brief && !o.all_raw) break;
    std::vector<std::unique_ptr<RawSpanDsp>> raw;
    for (int ch = 0; ch < o.channels; ++ch)
      raw.push_back(std::make_unique<RawSpanDsp>(brief, desc.get()));
    double cpu =
        timed(audio, [&](std::size_t ch, const std::uint8_t* p, int n) { raw[ch]->rx_g711(p, n); });
    report(brief ? "raw SpanDSP, issue's set (dtmf CNG CED/pre ANS cp BellMF fsk)"
                 : "raw SpanDSP, every detector the bank owns + Bell MF",
           cpu);
  }

  // The bank, gated and not: same events expected (the gating proof), and the cost of each.
  // Fed codes (rx_g711), or as a source that expanded its codes feeds it: the samples with
  // the codes (the card source), or the samples alone (encoded back in the bank).
  enum class Feed { codes, samples_and_codes, samples };
  auto run_bank = [&](const std::string& name, bool gating, bool bell_mf,
                      std::vector<std::vector<dsp::Event>>* events, dsp::BankStats* total,
                      Feed feed = Feed::codes) {
    dsp::BankConfig cfg;
    cfg.country = o.country;
    cfg.gating.enabled = gating;
    cfg.bell_mf = bell_mf;
    std::vector<std::vector<dsp::Event>> ev(static_cast<std::size_t>(o.channels));
    std::vector<dsp::ChannelDetectorBank> banks;
    banks.reserve(static_cast<std::size_t>(o.channels));
    for (int ch = 0; ch < o.channels; ++ch)
      banks.emplace_back(
          cfg, [&ev, ch](const dsp::Event& e) { ev[static_cast<std::size_t>(ch)].push_back(e); });
    const dsp::G711Decoder& expand = dsp::G711Decoder::shared(dsp::Law::ulaw);
    std::array<std::int16_t, kChunk> linear{};
    double cpu = timed(audio, [&](std::size_t ch, const std::uint8_t* p, int n) {
      const std::span<const std::uint8_t> codes(p, static_cast<std::size_t>(n));
      if (feed == Feed::codes) return banks[ch].rx_g711(codes);
      for (std::size_t i = 0; i < codes.size(); ++i) linear[i] = expand(codes[i]);
      const std::span<const std::int16_t> samples(linear.data(), codes.size());
      if (feed == Feed::samples_and_codes)
        banks[ch].rx(samples, codes);
      else
        banks[ch].rx(samples);
    });
    for (auto& b : banks) b.flush();
    report(name, cpu);
    if (total)
      for (auto& b : banks) {
        const auto& s = b.stats();
        total->samples += s.samples;
        for (int u = 0; u < dsp::BankStats::kUnits; ++u) {
          total->run_samples[static_cast<std::size_t>(u)] +=
              s.run_samples[static_cast<std::size_t>(u)];
          total->wakes[static_cast<std::size_t>(u)] += s.wakes[static_cast<std::size_t>(u)];
        }
      }
    if (events) *events = std::move(ev);
    return cpu;
  };
  std::vector<std::vector<dsp::Event>> ungated, gated;
  run_bank("trunkwatch bank, gating off (every detector, every chunk)", false, false, &ungated,
           nullptr);
  run_bank("trunkwatch bank + Bell MF", true, true, nullptr, nullptr);
  dsp::BankStats duty;
  double cpu = run_bank("trunkwatch bank (DTMF, call progress, fax/modem: full coverage)", true,
                        false, &gated, &duty);
  run_bank("the same, fed expanded samples with their codes (the card)", true, false, nullptr,
           nullptr, Feed::samples_and_codes);
  run_bank("the same, fed expanded samples only (encoded back)", true, false, nullptr, nullptr,
           Feed::samples);

  std::size_t n_gated = 0, n_ungated = 0, same = 0;
  for (int ch = 0; ch < o.channels; ++ch) {
    n_gated += gated[static_cast<std::size_t>(ch)].size();
    n_ungated += ungated[static_cast<std::size_t>(ch)].size();
    same += gated[static_cast<std::size_t>(ch)] == ungated[static_cast<std::size_t>(ch)] ? 1 : 0;
  }
  std::printf("events: gated %zu, ungated %zu; channels with identical event lists: %zu of %d\n",
              n_gated, n_ungated, same, o.channels);
  std::printf("share of the audio each gated detector ran on (with replay):");
  for (int u = 0; u < dsp::BankStats::kUnits; ++u)
    std::printf(" %s %.1f%%",
                std::string(dsp::BankStats::kUnitNames[static_cast<std::size_t>(u)]).c_str(),
                100.0 * static_cast<double>(duty.run_samples[static_cast<std::size_t>(u)]) /
                    static_cast<double>(std::max<std::int64_t>(1, duty.samples)));
  std::printf("\n");
  const double ours = audio_s / cpu;
  std::printf("trunkwatch bank vs raw SpanDSP (issue's set): %.1fx\n",
              ours / runs[0].channels_per_core);
  std::printf("channels_realtime_per_core=%.0f\n", ours);
  return same == static_cast<std::size_t>(o.channels) ? kExitOk : kExitFailure;
}

}  // namespace

void add_bench_dsp_command(CLI::App& bench_cmd, int& exit_code) {
  CLI::App* bench = &bench_cmd;
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* dsp_cmd = bench->add_subcommand(
      "dsp",
      "Channels of mixed audio processed in real time per core: the detector bank next "
      "to every raw SpanDSP detector on every chunk; last line channels_realtime_per_core=N");
  dsp_cmd->add_option("--channels", opts->channels, "channels, each with its own bank (default 64)")
      ->check(CLI::Range(1, 4096));
  dsp_cmd->add_option("--seconds", opts->seconds, "seconds of audio per channel (default 60)")
      ->check(CLI::Range(1.0, 3600.0));
  dsp_cmd->add_option("--country", opts->country, "call-progress plan (default us)");
  dsp_cmd->add_flag("--dense", opts->dense,
                    "tone-dense test audio (tones back to back) instead of trunk traffic");
  dsp_cmd->add_flag("--all-raw", opts->all_raw,
                    "also time every raw SpanDSP detector the bank owns (adds ~10 s)");
  dsp_cmd->callback([opts, &exit_code] { exit_code = run_bench(*opts); });
}

}  // namespace tw::cli
