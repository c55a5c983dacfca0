// End to end for B-channel audio: the simulator keys DTMF in both directions, plays
// recorded speech, silence, fax and modem signals and a DISA second dial tone on its calls; the
// pipeline's detectors must put them on the right call records (digits, digits_in/out,
// call_type, second_dial_tone), live and again from the pcap + WAV capture it wrote. Plus the
// capture format's checks on untrusted manifests.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hal/replay/audio_capture.hpp"
#include "hal/replay/replay_source.hpp"
#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/pipeline.hpp"
#include "tests/support/cli_harness.hpp"
#include "tests/support/sim_harness.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string& kBinary = test::kTrunkwatch;
using test::slurp;
using test::write_file;

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::remove_all(test::temp_dir("audio-e2e"));
    return test::temp_dir("audio-e2e");
  }();
  return dir;
}

using test::ms;
using test::scenario;

// One T1 (mu-law, North American tones) and one E1 (A-law, ETSI tones); every kind of audio.
const char* const kSite = R"(
[scenario]
name = "audio-e2e"
seed = 7

[audio]
enabled = true

[[span]]
id = 1
type = "t1"

[[span]]
id = 2
type = "e1"

# A PBX user keys a conference PIN into a carrier-side IVR.
[[call]]
at = 0
span = 1
calling = "2125550101"
called = "18005551234"
answer_after = 3
talk = 10
dtmf_out = "4321#"

# DISA on the T1: answer, second dial tone (350+440 Hz), access code and an international number.
[[call]]
at = 1
span = 1
direction = "inbound"
calling = "3125550199"
called = "2125550150"
answer_after = 2
talk = 12
dial_tone_after_answer = true
dtmf_in = "4711#0114420794600#"

# DISA on the E1 (425 Hz dial tone).
[[call]]
at = 1
span = 2
direction = "inbound"
calling = "0891234567"
called = "3012345650"
answer_after = 2
talk = 12
dial_tone_after_answer = true
dtmf_in = "1234#00441632960000#"

# Digits both ways on a silent line: the caller keys, then the PBX side.
[[call]]
at = 2
span = 2
direction = "inbound"
calling = "0891234599"
called = "3012345652"
answer_after = 3
talk = 8
audio = "silence"
dtmf_in = "*71"
dtmf_out = "5A5#"

[[call]]
at = 2
span = 1
calling = "2125550102"
called = "12125559876"
answer_after = 4
talk = 9
audio = "fax"

[[call]]
at = 2
span = 2
direction = "inbound"
calling = "0891234500"
called = "3012345651"
answer_after = 4
talk = 9
audio = "fax"

[[call]]
at = 3
span = 1
calling = "2125550103"
called = "12125559877"
answer_after = 3
talk = 8
audio = "modem"
modem = "bell103"

[[call]]
at = 3
span = 2
calling = "3012345603"
called = "0301234567"
answer_after = 3
talk = 8
audio = "modem"
modem = "v21"

[[call]]
at = 4
span = 1
direction = "inbound"
calling = "3125550111"
called = "2125550160"
answer_after = 2
talk = 6
audio = "silence"

# Talk time only, recorded speech and music both ways: no digit may come out of it.
[[call]]
at = 5
span = 1
calling = "2125550104"
called = "12125551111"
answer_after = 3
talk = 45

[[call]]
at = 5
span = 2
direction = "inbound"
calling = "0891234598"
called = "3012345653"
answer_after = 3
talk = 35

# Rings out: ringback only, never answered.
[[call]]
at = 6
span = 1
calling = "2125550105"
called = "12125552222"
ring = 1
talk = 8
cause = 19
)";

using test::decode;

std::string key(int span, std::optional<int> channel, std::optional<hal::Timestamp> start) {
  return std::to_string(span) + "/" + std::to_string(channel.value_or(0)) + "/" + ms(start);
}

std::map<std::string, const calls::CallRecord*> by_key(const std::vector<calls::CallRecord>& rs) {
  std::map<std::string, const calls::CallRecord*> out;
  for (const auto& r : rs) out[key(r.span, r.channel, r.start)] = &r;
  return out;
}

std::string dtmf_of(const calls::CallRecord& r) {
  std::string s;
  for (const auto& e : r.inband)
    if (e.kind == calls::InbandEvent::Kind::Dtmf) s += e.digit;
  return s;
}

// Every answered truth call's in-band fields against its record.
void compare(const std::vector<sim::TruthCall>& truth, const std::vector<calls::CallRecord>& got) {
  ASSERT_EQ(got.size(), truth.size());
  const auto records = by_key(got);
  for (const sim::TruthCall& t : truth) {
    SCOPED_TRACE("call on span " + std::to_string(t.span) + " channel " +
                 std::to_string(t.channel.value_or(0)) + " " + t.direction + " to " + t.called);
    ASSERT_TRUE(t.audio);
    const auto it = records.find(key(t.span, t.channel, t.start));
    ASSERT_NE(it, records.end());
    const calls::CallRecord& r = *it->second;
    EXPECT_EQ(r.digits, t.digits);
    EXPECT_EQ(r.digits_in, t.digits_in);
    EXPECT_EQ(r.digits_out, t.digits_out);
    EXPECT_EQ(r.second_dial_tone.has_value(), t.second_dial_tone);
    if (r.second_dial_tone) {
      EXPECT_GT(*r.second_dial_tone, *r.answer);
      EXPECT_LT(*r.second_dial_tone, *r.answer + 4s);
    }
    if (t.answer) {
      EXPECT_EQ(r.call_type, t.call_type);
    }
  }
}

std::string join_inband(const calls::CallRecord& r) {
  std::ostringstream s;
  for (const auto& e : r.inband)
    s << hal::format_time(e.time) << ' ' << hal::to_string(e.from) << ' '
      << static_cast<int>(e.kind) << ' ' << (e.digit ? e.digit : '-') << ' ' << e.tone << ' '
      << e.level_dbm0 << ' ' << e.duration_ms << '\n';
  return s.str();
}

// ---- live and replayed against the truth ---------------------------------------------

TEST(AudioE2E, LiveAndReplayedCaptureMatchTruth) {
  const fs::path pcap = temp_dir() / "site.pcap";
  const sim::Scenario s = scenario(kSite);
  sim::Simulator simulator(s, sim::SimOptions{.speed = 0, .pcap_path = pcap.string()});
  const auto spans = simulator.spans();
  SpanStats live_totals;
  const auto live = decode(simulator, spans, &live_totals);
  const auto& truth = simulator.truth();
  ASSERT_EQ(truth.size(), 12u);

  // The truth itself says what the scenario scripted (a test that can fail on the simulator).
  std::map<std::string, const sim::TruthCall*> t_by_called;
  for (const auto& t : truth) t_by_called[t.called] = &t;
  EXPECT_EQ(t_by_called["18005551234"]->digits, "out:4321#");
  EXPECT_EQ(t_by_called["2125550150"]->digits_in, "4711#0114420794600#");
  EXPECT_TRUE(t_by_called["2125550150"]->second_dial_tone);
  EXPECT_EQ(t_by_called["3012345650"]->digits, "in:1234#00441632960000#");
  EXPECT_TRUE(t_by_called["3012345650"]->second_dial_tone);
  EXPECT_EQ(t_by_called["3012345652"]->digits, "in:*71 out:5A5#");
  EXPECT_EQ(t_by_called["3012345652"]->call_type, "voice");  // digits on a silent line
  EXPECT_EQ(t_by_called["12125559876"]->call_type, "fax");
  EXPECT_EQ(t_by_called["3012345651"]->call_type, "fax");
  EXPECT_EQ(t_by_called["12125559877"]->call_type, "modem");
  EXPECT_EQ(t_by_called["0301234567"]->call_type, "modem");
  EXPECT_EQ(t_by_called["2125550160"]->call_type, "unknown");
  EXPECT_EQ(t_by_called["12125551111"]->call_type, "voice");
  EXPECT_EQ(t_by_called["12125552222"]->call_type, "unknown");
  EXPECT_GT(live_totals.audio_chunks, 15000u);

  {
    SCOPED_TRACE("live");
    compare(truth, live);
  }
  const auto live_by_key = by_key(live);
  // Talk time only: no digit, no tone but ringback, out of ~80 s of recorded speech and music.
  for (const char* called : {"12125551111", "3012345653"}) {
    const sim::TruthCall& t = *t_by_called[called];
    const calls::CallRecord& r = *live_by_key.at(key(t.span, t.channel, t.start));
    EXPECT_EQ(r.digits, "") << called;
    EXPECT_EQ(dtmf_of(r), "") << called;
    for (const auto& e : r.inband) EXPECT_EQ(e.tone, "ringback") << called;
    EXPECT_EQ(r.call_type, "voice") << called;
  }
  // The modems were the ones asked for.
  {
    const sim::TruthCall& bell = *t_by_called["12125559877"];
    const std::string events =
        join_inband(*live_by_key.at(key(bell.span, bell.channel, bell.start)));
    EXPECT_NE(events.find("bell103-carrier"), std::string::npos) << events;
    const sim::TruthCall& v21 = *t_by_called["0301234567"];
    const std::string v21_events =
        join_inband(*live_by_key.at(key(v21.span, v21.channel, v21.start)));
    EXPECT_NE(v21_events.find("ansam"), std::string::npos) << v21_events;
    EXPECT_NE(v21_events.find("v21-carrier"), std::string::npos) << v21_events;
  }

  // The capture: pcap, one WAV per call and direction, and the manifest next to it.
  ASSERT_TRUE(fs::exists(hal::audio_manifest_path(pcap)));
  std::string error;
  const auto manifest = hal::read_audio_manifest(hal::audio_manifest_path(pcap), error);
  ASSERT_TRUE(manifest) << error;
  // 11 answered calls x 2 directions, plus the ringback of the call that rang out.
  EXPECT_EQ(manifest->files.size(), 23u);
  for (const auto& f : manifest->files) {
    EXPECT_EQ(f.encoding, f.span == 1 ? hal::AudioEncoding::Ulaw : hal::AudioEncoding::Alaw);
    EXPECT_TRUE(f.file.starts_with("site-audio/s")) << f.file;
  }

  hal::ReplaySource replay(
      hal::ReplayOptions{.path = pcap.string(), .realtime = false, .pbx_role = {}});
  ASSERT_EQ(replay.open(), "");
  EXPECT_EQ(replay.audio_manifest(), hal::audio_manifest_path(pcap).string());
  SpanStats replay_totals;
  const auto replayed = decode(replay, spans, &replay_totals);
  EXPECT_EQ(replay_totals.audio_chunks, live_totals.audio_chunks);
  EXPECT_EQ(replay.stats().audio_chunks, live_totals.audio_chunks);
  {
    SCOPED_TRACE("replayed");
    compare(truth, replayed);
  }
  // G.711 in the WAVs is exactly what went over the "wire": every event is the same.
  const auto replayed_by_key = by_key(replayed);
  for (const auto& [k, r] : live_by_key) {
    ASSERT_TRUE(replayed_by_key.count(k)) << k;
    EXPECT_EQ(join_inband(*replayed_by_key.at(k)), join_inband(*r)) << k;
    EXPECT_EQ(replayed_by_key.at(k)->call_type, r->call_type) << k;
  }
}

// ---- a digit still pending when its call's audio stops ---------------------------------

// Call A keys "4711" and is cleared 1.37 s after the answer, while the last "1" is still
// sounding (cut off by the DISCONNECT): the detector has no end for it, so only the flush of
// its bank reports it. Call B takes the same channel a few seconds later. With `busy`, a third
// call on another channel carries audio all along (a trunk with other calls up).
std::string pending_digit_site(bool busy) {
  std::string toml = R"(
[scenario]
name = "pending-digit"
seed = 3
[audio]
enabled = true
[[span]]
id = 1
type = "t1"
[[call]]
at = 0
span = 1
channel = 5
direction = "inbound"
calling = "3125550199"
called = "2125550150"
answer_after = 1
talk = 1.37
audio = "silence"
dtmf_in = "4711"
[[call]]
at = 6
span = 1
channel = 5
calling = "2125550101"
called = "2125550777"
answer_after = 2
talk = 3
audio = "silence"
)";
  if (busy)
    toml += R"(
[[call]]
at = 0
span = 1
channel = 10
calling = "2125550102"
called = "2125550888"
answer_after = 1
talk = 15
audio = "silence"
)";
  return toml;
}

const calls::CallRecord& record_to(const std::vector<calls::CallRecord>& rs,
                                   const std::string& called) {
  const auto it =
      std::find_if(rs.begin(), rs.end(), [&](const auto& r) { return r.called == called; });
  EXPECT_NE(it, rs.end()) << called;
  return it == rs.end() ? rs.front() : *it;
}

// The digit was heard on A, so it belongs on A's record (inline banks, banks on worker
// threads, and the replayed capture alike), never on B's.
TEST(AudioE2E, DigitPendingWhenTheAudioStopsStaysWithItsCall) {
  const fs::path pcap = temp_dir() / "pending.pcap";
  sim::Simulator simulator(scenario(pending_digit_site(true)),
                           sim::SimOptions{.speed = 0, .pcap_path = pcap.string()});
  const auto inline_and_pooled = test::run_with_dsp_threads(simulator, {0, 2});
  // The simulator's truth counts only digits with 200 ms of audio after them: neither "1"
  // has that (the second is cut off), the detector reports both.
  const auto truth_a = std::find_if(simulator.truth().begin(), simulator.truth().end(),
                                    [](const auto& t) { return t.called == "2125550150"; });
  ASSERT_NE(truth_a, simulator.truth().end());
  EXPECT_EQ(truth_a->digits_in, "47");

  hal::ReplaySource replay(
      hal::ReplayOptions{.path = pcap.string(), .realtime = false, .pbx_role = {}});
  ASSERT_EQ(replay.open(), "");
  const auto replayed = decode(replay, simulator.spans());

  const std::pair<const char*, const std::vector<calls::CallRecord>*> runs[] = {
      {"inline", &inline_and_pooled[0]}, {"pool", &inline_and_pooled[1]}, {"replayed", &replayed}};
  for (const auto& [name, calls] : runs) {
    SCOPED_TRACE(name);
    ASSERT_EQ(calls->size(), 3u);
    const calls::CallRecord& a = record_to(*calls, "2125550150");
    const calls::CallRecord& b = record_to(*calls, "2125550777");
    EXPECT_EQ(a.digits, "in:4711");
    EXPECT_EQ(dtmf_of(a), "4711");
    for (const auto& e : a.inband) EXPECT_LE(e.time, *a.end) << join_inband(a);
    EXPECT_EQ(b.digits, "");
    EXPECT_EQ(dtmf_of(b), "") << join_inband(b);
  }
}

// No other audio on the trunk: only the source's ticks move the detectors' clock past the end
// of A's audio. The flush they make still reports the digit while A can take it (inline banks
// and banks on worker threads alike); it never goes to B.
TEST(AudioE2E, DigitPendingOnAQuietTrunkStaysWithItsCall) {
  sim::Simulator simulator(scenario(pending_digit_site(false)));
  for (const auto& calls : test::run_with_dsp_threads(simulator, {0, 2})) {
    ASSERT_EQ(calls.size(), 2u);
    const calls::CallRecord& a = record_to(calls, "2125550150");
    const calls::CallRecord& b = record_to(calls, "2125550777");
    EXPECT_EQ(a.digits, "in:4711");
    EXPECT_EQ(b.digits, "");
    EXPECT_EQ(dtmf_of(b), "") << join_inband(b);
  }
}

// ---- what the simulator hands over ---------------------------------------------------

struct Item {
  bool audio;
  int span, channel;
  hal::Side from;
  hal::Timestamp time;
  std::size_t samples;
  std::uint64_t hash;
};

struct Recorder : hal::SpanSink {
  std::vector<Item> items;
  std::vector<std::vector<std::uint8_t>> frames;
  void on_frame(const hal::DFrame& f) override {
    items.push_back({false, f.span, 0, f.from, f.time, 0, 0});
    frames.emplace_back(f.bytes.begin(), f.bytes.end());
  }
  void on_line_event(const hal::LineEvent&) override {}
  void on_audio(const hal::AudioChunk& c) override {
    std::uint64_t h = 1469598103934665603ull;
    for (const std::int16_t v : c.samples)
      h = (h ^ static_cast<std::uint16_t>(v)) * 1099511628211ull;
    items.push_back({true, c.span, c.channel, c.from, c.time, c.samples.size(), h});
  }
};

TEST(AudioE2E, ChunksAre20msOnAGridInTimeOrderWhileCallsAreUp) {
  const sim::Scenario s = scenario(kSite);
  Recorder rec;
  sim::Simulator simulator(s);
  ASSERT_FALSE(simulator.run(rec));
  ASSERT_FALSE(rec.items.empty());
  std::size_t chunks = 0;
  for (std::size_t i = 1; i < rec.items.size(); ++i)
    ASSERT_LE(rec.items[i - 1].time, rec.items[i].time) << "item " << i << " out of order";
  // Per channel direction: contiguous 20 ms chunks inside the call's [alerting, end] window.
  std::map<std::tuple<int, int, hal::Side>, std::vector<const Item*>> streams;
  for (const Item& it : rec.items) {
    if (!it.audio) continue;
    ++chunks;
    EXPECT_EQ(it.samples, 160u);
    EXPECT_EQ((it.time - s.start) % 20ms, 0us);
    streams[{it.span, it.channel, it.from}].push_back(&it);
  }
  EXPECT_EQ(chunks, simulator.audio_chunks());
  for (const sim::TruthCall& t : simulator.truth()) {
    SCOPED_TRACE(t.called);
    for (const hal::Side side : {hal::Side::Pbx, hal::Side::Carrier}) {
      const auto& st = streams[{t.span, *t.channel, side}];
      const bool called = (t.direction == "inbound") == (side == hal::Side::Pbx);
      if (!t.answer && !called) {
        EXPECT_TRUE(st.empty());  // before the answer only the called side plays (ringback)
        continue;
      }
      ASSERT_FALSE(st.empty());
      if (!called) {
        EXPECT_GE(st.front()->time, *t.answer);
        EXPECT_LE(st.front()->time, *t.answer + 20ms);
      }
      EXPECT_GT(st.back()->time + 20ms, *t.end - 20ms);
      EXPECT_LE(st.back()->time, *t.end);
      for (std::size_t i = 1; i < st.size(); ++i) EXPECT_EQ(st[i]->time - st[i - 1]->time, 20ms);
    }
  }

  // Same scenario, same audio; and audio changes no frame.
  Recorder again;
  sim::Simulator second(s);
  ASSERT_FALSE(second.run(again));
  ASSERT_EQ(again.items.size(), rec.items.size());
  for (std::size_t i = 0; i < rec.items.size(); ++i) {
    EXPECT_EQ(again.items[i].hash, rec.items[i].hash);
    EXPECT_EQ(again.items[i].time, rec.items[i].time);
  }
  sim::Scenario quiet = s;
  quiet.audio = false;
  Recorder without;
  sim::Simulator third(quiet);
  ASSERT_FALSE(third.run(without));
  EXPECT_EQ(without.frames, rec.frames);
  for (const Item& it : without.items) EXPECT_FALSE(it.audio);
  for (const auto& t : third.truth()) {
    EXPECT_FALSE(t.audio);
    EXPECT_EQ(t.digits, "");
  }
  std::ostringstream jsonl;
  sim::write_truth_jsonl(jsonl, third.truth());
  EXPECT_EQ(jsonl.str().find("call_type"), std::string::npos);
  std::ostringstream with_audio;
  sim::write_truth_jsonl(with_audio, simulator.truth());
  EXPECT_NE(with_audio.str().find(R"("digits_in":"4711#0114420794600#")"), std::string::npos);
  EXPECT_NE(with_audio.str().find(R"("second_dial_tone":true)"), std::string::npos);
}

TEST(AudioE2E, TrafficGeneratorSharesAddAudioWithoutChangingCalls) {
  const std::string base = R"(
[scenario]
seed = 11
[[span]]
type = "t1"
[[span]]
type = "e1"
[traffic]
calls = 200
duration_s = 1800
)";
  const sim::Scenario plain = scenario(base);
  const sim::Scenario mixed = scenario(base +
                                       "fax_share = 0.1\nmodem_share = 0.1\nsilence_share = 0.05\n"
                                       "dtmf_share = 0.3\ndisa_share = 0.3\n");
  ASSERT_EQ(plain.calls.size(), mixed.calls.size());
  std::map<sim::AudioContent, int> kinds;
  int keyed = 0, disa = 0;
  for (std::size_t i = 0; i < plain.calls.size(); ++i) {
    const auto &a = plain.calls[i], &b = mixed.calls[i];
    EXPECT_EQ(a.at_s, b.at_s);
    EXPECT_EQ(a.called, b.called);
    EXPECT_EQ(a.talk_s, b.talk_s);
    EXPECT_EQ(a.answer_after_s, b.answer_after_s);
    EXPECT_EQ(a.audio, sim::AudioContent::Speech);
    EXPECT_TRUE(a.dtmf_in.empty() && a.dtmf_out.empty() && !a.dial_tone_after_answer);
    if (!b.answer_after_s) {
      EXPECT_EQ(b.audio, sim::AudioContent::Speech);
      EXPECT_TRUE(b.dtmf_in.empty() && b.dtmf_out.empty());
      continue;
    }
    ++kinds[b.audio];
    if (!b.dtmf_in.empty() || !b.dtmf_out.empty()) ++keyed;
    if (b.dial_tone_after_answer) {
      ++disa;
      EXPECT_EQ(b.caller, hal::Side::Carrier);
      // An access code, '#', an international number (011... or 00...), '#'.
      EXPECT_EQ(b.dtmf_in[4], '#') << b.dtmf_in;
      EXPECT_TRUE(b.dtmf_in.substr(5).starts_with("0")) << b.dtmf_in;
      EXPECT_TRUE(b.dtmf_in.ends_with("#")) << b.dtmf_in;
    }
  }
  EXPECT_GT(kinds[sim::AudioContent::Fax], 5);
  EXPECT_GT(kinds[sim::AudioContent::Modem], 5);
  EXPECT_GT(kinds[sim::AudioContent::Silence], 1);
  EXPECT_GT(keyed, 20);
  EXPECT_GT(disa, 5);

  std::string error;
  EXPECT_FALSE(sim::parse_scenario(base + "fax_share = 0.6\nmodem_share = 0.6\n", "t", error));
  EXPECT_NE(error.find("more than 1"), std::string::npos) << error;
}

TEST(AudioE2E, ScenarioKeysAreChecked) {
  const std::string head = "[[span]]\ntype = \"t1\"\n[[call]]\nat = 0\ncalled = \"5551234\"\n";
  struct Case {
    std::string toml, message;
  };
  const Case cases[] = {
      {head + "dtmf_in = \"12x\"\n", "test:6:11: 'dtmf_in' may hold only 0-9, *, # and A-D"},
      {head + "dtmf_out = 1234\n", "test:6:12: 'dtmf_out' must be a string of DTMF digits"},
      {head + "audio = \"music\"\n",
       "test:6:9: 'audio' must be one of \"speech\", \"silence\", \"fax\", \"modem\""},
      {head + "modem = \"v34\"\n", "test:6:9: 'modem' must be one of \"v21\", \"bell103\""},
      {head + "dial_tone_after_answer = true\n",
       "test:6:26: 'dial_tone_after_answer' needs direction = \"inbound\" (the PBX answers an "
       "outside caller)"},
      {head + "[audio]\nenable = true\n", "test:7:1: unknown key 'enable' in [audio]"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(sim::parse_scenario(c.toml, "test", error)) << c.toml;
    EXPECT_EQ(error, c.message);
  }
  std::string error;
  const auto ok = sim::parse_scenario(
      head +
          "direction = \"inbound\"\ndtmf_in = \"0123456789*#ABCD\"\n"
          "dial_tone_after_answer = true\naudio = \"modem\"\nmodem = \"bell103\"\n"
          "[audio]\nenabled = true\n",
      "test", error);
  ASSERT_TRUE(ok) << error;
  EXPECT_TRUE(ok->audio);
  EXPECT_EQ(ok->calls[0].dtmf_in, "0123456789*#ABCD");
  EXPECT_EQ(ok->calls[0].modem, sim::ModemKind::Bell103);
}

// ---- the capture format: manifests are untrusted -----------------------------------

struct Capture {
  fs::path pcap, manifest;
  nlohmann::json json;
  std::string digits;  // what the live run decoded
};

// A small T1 capture with audio: one inbound call keying digits.
const Capture& small_capture() {
  static const Capture c = [] {
    Capture out;
    out.pcap = temp_dir() / "small.pcap";
    const sim::Scenario s = scenario(R"(
[audio]
enabled = true
[[span]]
type = "t1"
[[call]]
at = 0
direction = "inbound"
calling = "3125550199"
called = "2125550150"
answer_after = 1
talk = 4
dtmf_in = "90#"
)");
    sim::Simulator simulator(s, sim::SimOptions{.speed = 0, .pcap_path = out.pcap.string()});
    const auto records = decode(simulator, simulator.spans());
    EXPECT_EQ(records.size(), 1u);
    if (!records.empty()) out.digits = records[0].digits;
    out.manifest = hal::audio_manifest_path(out.pcap);
    out.json = nlohmann::json::parse(slurp(out.manifest));
    return out;
  }();
  return c;
}

std::string replay_error(const fs::path& pcap, const fs::path& manifest) {
  hal::ReplaySource r(hal::ReplayOptions{
      .path = pcap.string(), .realtime = false, .pbx_role = {}, .audio_manifest = manifest});
  return r.open();
}

void write_wav(const fs::path& p, int rate, int channels, int format, std::size_t frames) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  std::vector<short> zeros(frames * static_cast<std::size_t>(channels), 0);
  sf_writef_short(f, zeros.data(), static_cast<sf_count_t>(frames));
  sf_close(f);
}

TEST(AudioManifest, BadManifestsGetOneClearError) {
  const Capture& cap = small_capture();
  ASSERT_EQ(cap.digits, "in:90#");
  ASSERT_EQ(cap.json["files"].size(), 2u);
  const fs::path dir = temp_dir() / "bad";
  fs::create_directories(dir / "sub");
  // The capture's own WAV, copied where the bad manifests can name it.
  const fs::path wav = cap.manifest.parent_path() / cap.json["files"][0]["file"].get<std::string>();
  fs::copy_file(wav, dir / "sub" / "ok.wav", fs::copy_options::overwrite_existing);
  write_wav(dir / "sub" / "16k.wav", 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1600);
  write_wav(dir / "sub" / "stereo.wav", 8000, 2, SF_FORMAT_WAV | SF_FORMAT_ULAW, 1600);
  write_wav(dir / "sub" / "24bit.wav", 8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 1600);
  write_wav(dir / "sub" / "sun.au", 8000, 1, SF_FORMAT_AU | SF_FORMAT_ULAW, 1600);
  write_file(dir / "sub" / "text.wav", "not a wav file at all\n");
  write_file(temp_dir() / "outside.wav", "");
  fs::create_symlink(temp_dir() / "outside.wav", dir / "sub" / "link.wav");

  auto entry = [](const std::string& file) {
    return nlohmann::json{{"file", file},
                          {"span", 1},
                          {"channel", 5},
                          {"from", "carrier"},
                          {"start", "2027-01-05T09:00:01.020000Z"}};
  };
  auto with = [&](nlohmann::json e) { return nlohmann::json{{"files", {std::move(e)}}}.dump(); };
  auto changed = [&](const char* field, nlohmann::json v) {
    auto e = entry("sub/ok.wav");
    e[field] = std::move(v);
    return with(e);
  };
  auto two = [&](const char* second_start) {
    auto a = entry("sub/ok.wav"), b = entry("sub/ok.wav");
    b["start"] = second_start;
    return nlohmann::json{{"files", {a, b}}}.dump();
  };
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases = {
      {"{\"files\": [", "not valid JSON"},
      {"[1, 2]", "must be a JSON object"},
      {"{}", "'files' must be an array"},
      {R"({"format": "other", "files": []})", "'format' must be"},
      {R"({"version": 2, "files": []})", "unsupported 'version'"},
      {R"({"files": [1]})", "files[0]: each entry must be an object"},
      {with(entry("/etc/passwd")), "must be relative"},
      {with(entry("../outside.wav")), "must not contain '..'"},
      {with(entry("sub/../../outside.wav")), "must not contain '..'"},
      {with(entry("sub/link.wav")), "outside the manifest's directory"},
      {with(entry("")), "'file' is empty"},
      {with(entry("sub/bad\nname.wav")), "control character"},
      {with(entry("sub/missing.wav")), "files[0] (sub/missing.wav): no such file"},
      {with(entry("sub/16k.wav")), "sample rate 16000 Hz"},
      {with(entry("sub/stereo.wav")), "2 channels"},
      {with(entry("sub/24bit.wav")), "not a mu-law, A-law or 16-bit PCM WAV"},
      {with(entry("sub/sun.au")), "not a mu-law, A-law or 16-bit PCM WAV"},
      {with(entry("sub/text.wav")), "not a readable WAV file"},
      {changed("span", 0), "'span' must be an integer 1-255"},
      {changed("span", "1"), "'span' must be an integer 1-255"},
      {changed("channel", 32), "'channel' must be an integer 1-31"},
      {changed("from", "network"), "'from' must be \"pbx\" or \"carrier\""},
      {changed("start", "2027-01-05 09:00:01"), "'start' must be an RFC 3339 time"},
      {changed("start", 12), "'start' must be an RFC 3339 time"},
      {two("2027-01-05T09:00:01.500000Z"), "overlaps"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const fs::path m = dir / ("m" + std::to_string(n++) + ".json");
    write_file(m, c.text);
    const std::string err = replay_error(cap.pcap, m);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.text << "\n-> " << err;
    EXPECT_TRUE(err.starts_with(m.string() + ": ")) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  // A manifest that is fine: the same file twice, one after the other.
  write_file(dir / "good.json", two("2027-01-05T09:00:30Z"));
  EXPECT_EQ(replay_error(cap.pcap, dir / "good.json"), "");
  EXPECT_NE(replay_error(cap.pcap, dir / "none.json").find("no such audio manifest"),
            std::string::npos);
}

TEST(AudioManifest, CommandLineExitsWithBadInput) {
  const Capture& cap = small_capture();
  const fs::path bad = temp_dir() / "cli-bad.json";
  write_file(bad, R"({"files": [{"file": "../x.wav", "span": 1, "channel": 1, "from": "pbx",
              "start": "2027-01-05T09:00:00Z"}]})");
  const fs::path err = temp_dir() / "cli.err", out = temp_dir() / "cli.out";
  auto run = [&](const std::string& args) {
    const std::string cmd =
        kBinary + " " + args + " >" + out.string() + " 2>" + err.string() + " </dev/null";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
  EXPECT_EQ(run("replay " + cap.pcap.string() + " --audio " + bad.string()), 3);
  const std::string text = slurp(err);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("must not contain '..'"), std::string::npos) << text;
  EXPECT_EQ(run("replay " + cap.pcap.string() + " --audio " + (temp_dir() / "nope.json").string()),
            3);

  // The capture's own manifest is found next to it; the digits come back through the CLI.
  EXPECT_EQ(run("replay " + cap.pcap.string() + " --cdr-json -"), 0) << slurp(err);
  const auto record = nlohmann::json::parse(slurp(out));
  EXPECT_EQ(record["digits"], "in:90#");
}

TEST(AudioManifest, SixteenBitPcmAndAnExplicitManifest) {
  const Capture& cap = small_capture();
  // The same audio as 16-bit PCM, in a directory of its own with its own manifest.
  const fs::path dir = temp_dir() / "pcm";
  fs::create_directories(dir / "wav");
  nlohmann::json m = cap.json;
  for (auto& e : m["files"]) {
    const fs::path src = cap.manifest.parent_path() / e["file"].get<std::string>();
    SF_INFO in_info{};
    SNDFILE* in = sf_open(src.c_str(), SFM_READ, &in_info);
    ASSERT_NE(in, nullptr);
    std::vector<short> samples(static_cast<std::size_t>(in_info.frames));
    sf_readf_short(in, samples.data(), in_info.frames);
    sf_close(in);
    const std::string name = "wav/" + src.filename().string();
    SF_INFO out_info{};
    out_info.samplerate = 8000;
    out_info.channels = 1;
    out_info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* out = sf_open((dir / name).c_str(), SFM_WRITE, &out_info);
    ASSERT_NE(out, nullptr);
    sf_writef_short(out, samples.data(), in_info.frames);
    sf_close(out);
    e["file"] = name;
    e.erase("encoding");
    e.erase("samples");
  }
  write_file(dir / "pcm.json", m.dump());
  hal::ReplaySource replay(hal::ReplayOptions{.path = cap.pcap.string(),
                                              .realtime = false,
                                              .pbx_role = {},
                                              .audio_manifest = (dir / "pcm.json").string()});
  ASSERT_EQ(replay.open(), "");
  hal::SpanInfo t1;
  const auto records = decode(replay, {t1});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].digits, "in:90#");

  // find_audio = false: the frames alone, as before audio existed.
  hal::ReplaySource plain(hal::ReplayOptions{.path = cap.pcap.string(),
                                             .realtime = false,
                                             .pbx_role = {},
                                             .audio_manifest = {},
                                             .find_audio = false});
  ASSERT_EQ(plain.open(), "");
  SpanStats totals;
  const auto without = decode(plain, {t1}, &totals);
  ASSERT_EQ(without.size(), 1u);
  EXPECT_EQ(without[0].digits, "");
  EXPECT_EQ(totals.audio_chunks, 0u);
}

}  // namespace
}  // namespace tw
