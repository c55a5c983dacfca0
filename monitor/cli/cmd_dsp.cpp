// `trunkwatch dsp FILE.wav`: the detector bank over one recording, one JSON event per line.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dsp/call_type.hpp"
#include "dsp/country.hpp"
#include "dsp/detector_bank.hpp"
#include "dsp/wav_reader.hpp"
#include "monitor/cli/commands.hpp"

namespace tw::cli {

namespace {

struct DspOptions {
  std::string file;
  std::string law = "ulaw";
  std::string country = "us";
  std::string mf;
  bool no_gating = false;
  bool call_type = false;
};

// Rounded to `decimals` places; dividing by 10^n (not multiplying by 10^-n) keeps 0.7 as 0.7.
double round_to(double v, int decimals) {
  const double k = std::pow(10.0, decimals);
  return std::round(v * k) / k;
}

// Keys in the order of the examples: t, type, then digit or tone. `t` is when the
// signal began, for tones too (their onset); `reported` says when the detector knew.
nlohmann::ordered_json to_json(const dsp::Event& e) {
  nlohmann::ordered_json j;
  j["t"] = round_to(e.onset_s, 3);
  j["type"] = std::string(dsp::to_string(e.kind));
  if (e.kind == dsp::EventKind::tone) {
    j["tone"] = std::string(dsp::to_string(e.tone));
    j["reported"] = round_to(e.t_s, 3);
  } else {
    j["digit"] = std::string(1, e.digit);
    j["level_dbm0"] = round_to(e.level_dbm0, 1);
    j["duration_ms"] = std::lround(e.duration_ms);
  }
  return j;
}

int run_dsp(const DspOptions& o) {
  dsp::WavAudio audio;
  try {
    audio = dsp::read_wav(o.file);
  } catch (const dsp::WavError& e) {
    std::cerr << "trunkwatch dsp: " << e.what() << "\n";
    return kExitBadInput;
  }
  dsp::BankConfig cfg;
  // A G.711 file says its law; 16-bit PCM goes through --law as the trunk would carry it.
  cfg.law = audio.law().value_or(dsp::parse_law(o.law).value_or(dsp::Law::ulaw));
  cfg.country = o.country;
  cfg.bell_mf = o.mf == "bell";
  cfg.r2_mf = o.mf == "r2" || o.mf == "r2-backward";
  cfg.r2_forward = o.mf != "r2-backward";
  cfg.gating.enabled = !o.no_gating;
  std::vector<dsp::Event> events;
  dsp::ChannelDetectorBank bank(cfg, [&events](const dsp::Event& e) { events.push_back(e); });

  std::vector<std::uint8_t> coded = audio.coded;
  if (audio.encoding == dsp::WavAudio::Encoding::pcm16) {
    coded.resize(audio.linear.size());
    for (std::size_t i = 0; i < coded.size(); ++i)
      coded[i] = dsp::g711_encode(cfg.law, audio.linear[i]);
  }
  constexpr std::size_t kChunk = 160;  // 20 ms, as a TDM driver delivers it
  for (std::size_t i = 0; i < coded.size(); i += kChunk)
    bank.rx_g711(std::span(coded).subspan(i, std::min(kChunk, coded.size() - i)));
  bank.flush();

  std::stable_sort(events.begin(), events.end(),
                   [](const dsp::Event& a, const dsp::Event& b) { return a.onset_s < b.onset_s; });
  for (const dsp::Event& e : events) std::cout << to_json(e).dump() << "\n";
  if (o.call_type) {
    dsp::CallEvidence ev;
    ev.voice_s = bank.stats().voice_s();
    nlohmann::ordered_json j;
    j["call_type"] = std::string(dsp::to_string(dsp::classify_call(events, ev)));
    j["voice_s"] = round_to(ev.voice_s, 2);
    std::cout << j.dump() << "\n";
  }
  std::cout.flush();
  return std::cout ? kExitOk : kExitFailure;
}

}  // namespace

void add_dsp_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<DspOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dsp",
      "Run the DSP detector bank (DTMF, MF, fax/modem tones, call progress) on a WAV "
      "recording and print one JSON object per event, in time order. \"t\" is where the "
      "digit or tone began; a tone also says when it was recognised (\"reported\")");
  cmd->add_option("file", opts->file, "8 kHz mono WAV: 16-bit PCM, mu-law or A-law")->required();
  cmd->add_option("--law", opts->law,
                  "G.711 law a 16-bit PCM file is carried in, as the trunk would (default ulaw); "
                  "G.711 files use the law in their header")
      ->check(CLI::IsMember({"ulaw", "alaw"}));
  std::vector<std::string> countries;
  for (auto c : dsp::country_names()) countries.emplace_back(c);
  cmd->add_option("--country", opts->country, "call-progress tone plan (default us)")
      ->check(CLI::IsMember(countries));
  cmd->add_option("--mf", opts->mf,
                  "also detect MF digits: bell (R1), r2 (forward signals), r2-backward")
      ->check(CLI::IsMember({"bell", "r2", "r2-backward"}));
  cmd->add_flag("--no-gating", opts->no_gating,
                "run every detector on every sample (slower; same events)");
  cmd->add_flag("--call-type", opts->call_type,
                "end with {\"call_type\": ...} classified from the events (docs/dsp.md)");
  cmd->callback([opts, &exit_code] { exit_code = run_dsp(*opts); });
}

}  // namespace tw::cli
