// Replaying a site that mixes T1 and E1 spans: the capture's manifest carries each span's type,
// switch type and PBX role (docs/capture-format.md), and `trunkwatch replay` decodes each span
// as it ran unless the command line says otherwise. Real binary, real libpri stacks, real
// SpanDSP detectors on the recorded audio.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "hal/replay/audio_capture.hpp"
#include "hal/replay/pcap_io.hpp"
#include "tests/support/cli_harness.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using test::lines_of;
using test::run_trunkwatch;
using test::slurp;
using test::write_file;

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::remove_all(test::temp_dir("replay-spans"));
    return test::temp_dir("replay-spans");
  }();
  return dir;
}

// Span 1: T1, NI-2 (mu-law, North American tones). Span 2: E1, EuroISDN (A-law, ETSI tones),
// the PBX on the network side. A DISA call on each (second dial tone: 350+440 Hz on the T1,
// 425 Hz on the E1, which only the ETSI plan hears), digits keyed both ways.
std::string site(bool audio) {
  return std::string(R"(
[scenario]
name = "mixed"
start = 2027-03-02T08:15:00Z
seed = 11
)") + (audio ? "[audio]\nenabled = true\n" : "") +
         R"(
[[span]]
id = 1
type = "t1"
switchtype = "ni2"

[[span]]
id = 2
type = "e1"
switchtype = "euroisdn"
pbx_side = "network"

[[call]]
at = 0.5
span = 1
direction = "inbound"
calling = "2125550100"
called = "3035550111"
ring = 1
answer_after = 2
talk = 12
dial_tone_after_answer = true
dtmf_in = "4711#"

[[call]]
at = 1
span = 2
direction = "inbound"
calling = "0401234567"
called = "3012345655"
ring = 1
answer_after = 2
talk = 12
dial_tone_after_answer = true
dtmf_in = "123*0#"

[[call]]
at = 2
span = 2
direction = "outbound"
calling = "3012345601"
called = "00442079460000"
ring = 1
answer_after = 3
talk = 10
dtmf_out = "9876"

[[call]]
at = 3
span = 1
direction = "outbound"
calling = "3035550112"
called = "12125559876"
ring = 1
answer_after = 2
talk = 8
dtmf_out = "55#"
)";
}

std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> out;
  for (const std::string& l : lines_of(text)) out.push_back(Json::parse(l));
  return out;
}

std::string key(const Json& call) {
  return std::to_string(call["span"].get<int>()) + "/" +
         std::to_string(call["channel"].get<int>()) + "/" + call["start"].get<std::string>();
}

std::map<std::string, Json> by_key(const std::vector<Json>& calls) {
  std::map<std::string, Json> out;
  for (const Json& c : calls) out[key(c)] = c;
  return out;
}

// What `trunkwatch simulate --pcap` wrote, and what the simulator says really happened.
struct Capture {
  fs::path pcap;
  std::vector<Json> truth;
  std::vector<std::string> live;  // the records of the live run, as JSON lines
};

Capture simulate(const std::string& name, bool audio) {
  const fs::path dir = temp_dir() / name;
  fs::create_directories(dir);
  Capture c;
  c.pcap = dir / "site.pcap";
  write_file(dir / "site.toml", site(audio));
  const auto r = run_trunkwatch("simulate " + (dir / "site.toml").string() + " --pcap " +
                                    c.pcap.string() + " --truth " + (dir / "truth.jsonl").string() +
                                    " --cdr-json " + (dir / "live.jsonl").string(),
                                dir);
  EXPECT_EQ(r.code, 0) << r.err;
  c.truth = json_lines(slurp(dir / "truth.jsonl"));
  c.live = lines_of(slurp(dir / "live.jsonl"));
  return c;
}

const Capture& with_audio() {
  static const Capture c = simulate("audio", true);
  return c;
}

std::vector<Json> replay(const Capture& c, const std::string& options = "") {
  const auto r =
      run_trunkwatch("replay " + c.pcap.string() + " --cdr-json - " + options, temp_dir());
  EXPECT_EQ(r.code, 0) << r.err;
  return json_lines(r.out);
}

const char* switch_of(int span) {
  return span == 1 ? "ni2" : "euroisdn";
}

TEST(ReplaySpans, ManifestListsEachSpanAndEncodesE1AsAlaw) {
  const Capture& c = with_audio();
  const Json m = Json::parse(slurp(hal::audio_manifest_path(c.pcap)));
  EXPECT_EQ(m["spans"], Json::parse(R"([
    {"span": 1, "type": "t1", "switchtype": "ni2", "pbx_role": "user"},
    {"span": 2, "type": "e1", "switchtype": "euroisdn", "pbx_role": "network"}])"));
  std::string error;
  const auto read = hal::read_audio_manifest(hal::audio_manifest_path(c.pcap), error);
  ASSERT_TRUE(read) << error;
  ASSERT_EQ(read->spans.size(), 2u);
  EXPECT_EQ(read->spans[0].type, hal::SpanType::T1);
  EXPECT_EQ(read->spans[0].switch_type, hal::SwitchType::Ni2);
  EXPECT_EQ(read->spans[0].pbx_role, hal::Role::User);
  EXPECT_EQ(read->spans[1].type, hal::SpanType::E1);
  EXPECT_EQ(read->spans[1].switch_type, hal::SwitchType::EuroIsdn);
  EXPECT_EQ(read->spans[1].pbx_role, hal::Role::Network);
  // 4 answered calls x 2 directions; the E1's audio is A-law, the T1's mu-law.
  ASSERT_EQ(read->files.size(), 8u);
  for (const auto& f : read->files)
    EXPECT_EQ(f.encoding, f.span == 2 ? hal::AudioEncoding::Alaw : hal::AudioEncoding::Ulaw)
        << f.file;
}

TEST(ReplaySpans, MixedSiteReplaysEachSpanAsItRan) {
  const Capture& c = with_audio();
  ASSERT_EQ(c.truth.size(), 4u);
  // The scenario as scripted (so that the comparisons below compare something).
  const auto truth = by_key(c.truth);
  std::set<std::string> digits;
  for (const auto& [k, t] : truth) digits.insert(t["digits"].get<std::string>());
  EXPECT_EQ(digits, (std::set<std::string>{"in:4711#", "in:123*0#", "out:9876", "out:55#"}));

  const std::vector<Json> replayed = replay(c);
  ASSERT_EQ(replayed.size(), truth.size());
  for (const Json& r : replayed) {
    SCOPED_TRACE(r.dump());
    const auto t = truth.find(key(r));
    ASSERT_NE(t, truth.end());
    const int span = r["span"].get<int>();
    EXPECT_EQ(r["switchtype"], switch_of(span));
    EXPECT_EQ(r["digits"], t->second["digits"]);
    EXPECT_EQ(r["digits_in"], t->second["digits_in"]);
    EXPECT_EQ(r["digits_out"], t->second["digits_out"]);
    // The E1's 425 Hz second dial tone is heard only with the ETSI plan, i.e. as an E1.
    EXPECT_EQ(!r["second_dial_tone"].is_null(), t->second["second_dial_tone"].get<bool>());
    EXPECT_EQ(r["call_type"], t->second["call_type"]);
  }
  for (const auto& [k, t] : truth) {
    if (t["direction"] == "inbound") {
      EXPECT_TRUE(t["second_dial_tone"].get<bool>()) << k;
    }
  }
  // And the replay is the live run again, record for record.
  std::vector<std::string> replayed_lines;
  for (const Json& r : replayed) replayed_lines.push_back(r.dump());
  std::multiset<std::string> live;
  for (const std::string& l : c.live) live.insert(Json::parse(l).dump());
  EXPECT_EQ(std::multiset<std::string>(replayed_lines.begin(), replayed_lines.end()), live);
}

TEST(ReplaySpans, ExplicitSpanTypeOverridesTheCapture) {
  const Capture& c = with_audio();
  const auto truth = by_key(c.truth);
  // Every span as a T1: the E1 DISA call's 425 Hz dial tone goes unheard (North American
  // plan); the switch type still comes from the capture, the digits from the WAVs.
  int e1_inbound = 0;
  for (const Json& r : replay(c, "--span-type t1")) {
    SCOPED_TRACE(r.dump());
    const Json& t = truth.at(key(r));
    const int span = r["span"].get<int>();
    EXPECT_EQ(r["switchtype"], switch_of(span));
    EXPECT_EQ(r["digits"], t["digits"]);
    if (span == 2 && t["direction"] == "inbound") {
      ++e1_inbound;
      EXPECT_TRUE(t["second_dial_tone"].get<bool>());
      EXPECT_TRUE(r["second_dial_tone"].is_null());
    } else {
      EXPECT_EQ(!r["second_dial_tone"].is_null(), t["second_dial_tone"].get<bool>());
    }
  }
  EXPECT_EQ(e1_inbound, 1);
  // --switchtype names every span's variant; the types stay the capture's.
  const std::vector<Json> qsig = replay(c, "--switchtype qsig");
  ASSERT_EQ(qsig.size(), truth.size());
  for (const Json& r : qsig) {
    SCOPED_TRACE(r.dump());
    EXPECT_EQ(r["switchtype"], "qsig");
    EXPECT_EQ(!r["second_dial_tone"].is_null(), truth.at(key(r))["second_dial_tone"].get<bool>());
  }
}

TEST(ReplaySpans, SignalingOnlyCaptureCarriesTheSpansToo) {
  const Capture c = simulate("signaling", false);
  ASSERT_EQ(c.truth.size(), 4u);
  const fs::path manifest = hal::audio_manifest_path(c.pcap);
  ASSERT_TRUE(fs::exists(manifest));
  EXPECT_FALSE(fs::exists(hal::audio_dir_path(c.pcap)));
  const Json m = Json::parse(slurp(manifest));
  EXPECT_EQ(m["files"], Json::array());
  EXPECT_EQ(m["spans"].size(), 2u);
  const std::vector<Json> replayed = replay(c);
  ASSERT_EQ(replayed.size(), 4u);
  for (const Json& r : replayed) EXPECT_EQ(r["switchtype"], switch_of(r["span"].get<int>()));
  // The frames alone do not say: without the manifest every span gets the defaults.
  fs::rename(manifest, manifest.string() + ".away");
  for (const Json& r : replay(c)) EXPECT_EQ(r["switchtype"], "ni2");
  fs::rename(manifest.string() + ".away", manifest);
}

TEST(ReplaySpans, SpanEntriesAreCheckedAndOptional) {
  const fs::path dir = temp_dir() / "manifests";
  fs::create_directories(dir);
  auto read = [&](const std::string& text, std::string& error) {
    write_file(dir / "m.audio.json", text);
    error.clear();
    return hal::read_audio_manifest(dir / "m.audio.json", error);
  };
  std::string error;
  // Older manifests have no spans: still read, no span facts.
  auto old = read(R"({"format": "trunkwatch-audio", "version": 1, "files": []})", error);
  ASSERT_TRUE(old) << error;
  EXPECT_TRUE(old->spans.empty());
  // Only span and type are required; the switch type follows the type.
  auto minimal = read(R"({"files": [], "spans": [{"span": 3, "type": "e1"},
                                                  {"span": 1, "type": "t1", "extra": true}]})",
                      error);
  ASSERT_TRUE(minimal) << error;
  ASSERT_EQ(minimal->spans.size(), 2u);
  EXPECT_EQ(minimal->spans[0].id, 1);
  EXPECT_EQ(minimal->spans[0].switch_type, hal::SwitchType::Ni2);
  EXPECT_EQ(minimal->spans[1].id, 3);
  EXPECT_EQ(minimal->spans[1].switch_type, hal::SwitchType::EuroIsdn);
  EXPECT_EQ(minimal->spans[1].pbx_role, hal::Role::User);

  const std::pair<const char*, const char*> bad[] = {
      {R"("spans": {})", "'spans' must be an array"},
      {R"("spans": [1])", "spans[0]: each entry must be an object"},
      {R"("spans": [{"type": "t1"}])", "spans[0]: 'span' must be an integer 1-255"},
      {R"("spans": [{"span": 256, "type": "t1"}])", "spans[0]: 'span' must be an integer 1-255"},
      {R"("spans": [{"span": 1, "type": "j1"}])", "spans[0]: 'type' must be \"t1\" or \"e1\""},
      {R"("spans": [{"span": 1, "type": "t1", "switchtype": "x25"}])",
       "spans[0]: 'switchtype' must be one of"},
      {R"("spans": [{"span": 1, "type": "t1", "pbx_role": "both"}])",
       "spans[0]: 'pbx_role' must be \"user\" or \"network\""},
      {R"("spans": [{"span": 1, "type": "t1"}, {"span": 1, "type": "e1"}])",
       "spans[1]: span 1 is listed twice"},
  };
  for (const auto& [spans, why] : bad) {
    SCOPED_TRACE(spans);
    EXPECT_FALSE(read(std::string(R"({"files": [], )") + spans + "}", error));
    EXPECT_NE(error.find(why), std::string::npos) << error;
  }
  // Through the binary: exit status 3 and the one line naming the entry.
  const Capture& c = with_audio();
  write_file(dir / "bad.audio.json", R"({"files": [], "spans": [{"span": 1, "type": "j1"}]})");
  const auto r = run_trunkwatch(
      "replay " + c.pcap.string() + " --audio " + (dir / "bad.audio.json").string(), dir);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("spans[0]: 'type' must be"), std::string::npos) << r.err;
}

// ---- times after 2038 -------------------------------------------------------------------------

// One T1 with an outbound call to a premium number (a critical notice) and an inbound call,
// from `start`.
std::string future_site(const std::string& start) {
  return R"(
[scenario]
name = "future"
start = ")" +
         start + R"("
seed = 5

[[span]]
id = 1
type = "t1"

[[call]]
at = 1
span = 1
direction = "outbound"
calling = "3035550112"
called = "19005551234"
ring = 1
answer_after = 2
talk = 5

[[call]]
at = 2
span = 1
direction = "inbound"
calling = "2125550100"
called = "3035550111"
ring = 1
answer_after = 1
talk = 3
)";
}

std::multiset<std::string> notice_times(const std::string& jsonl) {
  std::multiset<std::string> out;
  for (const Json& n : json_lines(jsonl))
    out.insert(n["time"].get<std::string>() + " " + n["category"].get<std::string>());
  return out;
}

TEST(ReplaySpans, CapturesAfter2038KeepTheirTimes) {
  struct Case {
    std::string start, format;
  };
  const Case cases[] = {{"2040-01-05T09:00:00Z", "pcap"},
                        {"2040-01-05T09:00:00Z", "pcapng"},
                        {"2105-06-01T09:00:00Z", "pcap"},
                        {"2107-06-01T09:00:00Z", "pcapng"}};
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.start + " " + c.format);
    const fs::path dir = temp_dir() / ("future" + std::to_string(++n));
    fs::create_directories(dir);
    write_file(dir / "site.toml", future_site(c.start));
    const fs::path pcap = dir / "site.pcap";
    auto r = run_trunkwatch("simulate " + (dir / "site.toml").string() + " --pcap " +
                                pcap.string() + " --pcap-format " + c.format + " --truth " +
                                (dir / "truth.jsonl").string() + " --alerts-json " +
                                (dir / "live-alerts.jsonl").string(),
                            dir);
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string year = c.start.substr(0, 5);  // "2040-"
    const auto truth = by_key(json_lines(slurp(dir / "truth.jsonl")));
    ASSERT_EQ(truth.size(), 2u);
    for (const auto& [k, t] : truth) EXPECT_EQ(t["start"].get<std::string>().substr(0, 5), year);

    r = run_trunkwatch("replay " + pcap.string() + " --cdr-json - --cdr-db " +
                           (dir / "calls.sqlite").string() + " --alerts-json " +
                           (dir / "alerts.jsonl").string(),
                       dir);
    ASSERT_EQ(r.code, 0) << r.err;
    const std::vector<Json> replayed = json_lines(r.out);
    ASSERT_EQ(replayed.size(), 2u);
    for (const Json& rec : replayed) {
      SCOPED_TRACE(rec.dump());
      ASSERT_TRUE(truth.contains(key(rec)));  // same span, channel and start to the millisecond
      EXPECT_EQ(rec["end"], truth.at(key(rec))["end"]);
    }
    // The notices carry the capture's times, as in the live run.
    const auto notices = notice_times(slurp(dir / "alerts.jsonl"));
    ASSERT_FALSE(notices.empty());
    for (const std::string& t : notices) EXPECT_EQ(t.substr(0, 5), year) << t;
    EXPECT_EQ(notices, notice_times(slurp(dir / "live-alerts.jsonl")));
    // And the database keeps them: the report's --since finds both calls from that day on.
    r = run_trunkwatch(
        "report --db " + (dir / "calls.sqlite").string() + " --since " + c.start.substr(0, 10),
        dir);
    ASSERT_EQ(r.code, 0) << r.err;
    std::set<std::string> starts;
    for (const auto& [k, t] : truth) starts.insert(t["start"].get<std::string>());
    EXPECT_NE(r.out.find("Call records: 2 calls (0 partial), starting " + *starts.begin() + " to " +
                         *starts.rbegin()),
              std::string::npos)
        << r.out;
  }

  // Classic pcap cannot hold 2107 (unsigned 32-bit seconds end in 2106): refused, plainly.
  const fs::path dir = temp_dir() / "future-classic";
  fs::create_directories(dir);
  write_file(dir / "site.toml", future_site("2107-06-01T09:00:00Z"));
  const auto r = run_trunkwatch("simulate " + (dir / "site.toml").string() + " --pcap " +
                                    (dir / "site.pcap").string() + " --pcap-format pcap",
                                dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find((dir / "site.pcap").string() +
                       ": a frame at 2107-06-01T08:59:59.500Z cannot be stored: pcap holds "
                       "times from 1970-01-01 to 2106-02-07T06:28:15.999Z (32-bit seconds); "
                       "write pcapng, which holds 64-bit times"),
            std::string::npos)
      << r.err;
}

// ---- re-saving in Wireshark --------------------------------------------------------------------

// Two busy T1s: enough I-frames on each link for their sequences to be told apart.
std::string two_spans() {
  return R"(
[scenario]
name = "two spans"
start = 2027-03-02T08:15:00Z
seed = 23

[[span]]
id = 1
type = "t1"

[[span]]
id = 2
type = "t1"

[traffic]
calls = 60
duration_s = 300
)";
}

bool have_editcap() {
  return std::system("command -v editcap >/dev/null 2>&1") == 0;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::multiset<std::string> records(const std::vector<Json>& calls) {
  std::multiset<std::string> out;
  for (const Json& c : calls) out.insert(c.dump());
  return out;
}

TEST(ReplaySpans, SpansSurviveWiresharkResavingAPcapng) {
  if (!have_editcap())
    GTEST_FAIL() << "editcap (wireshark-common) not installed: scripts/setup.sh installs it";
  const fs::path dir = temp_dir() / "resave";
  fs::create_directories(dir);
  write_file(dir / "site.toml", two_spans());
  Capture c;
  c.pcap = dir / "site.pcapng";
  auto r = run_trunkwatch("simulate " + (dir / "site.toml").string() + " --pcap " +
                              c.pcap.string() + " --cdr-json " + (dir / "live.jsonl").string(),
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Json> live = json_lines(slurp(dir / "live.jsonl"));
  ASSERT_GE(live.size(), 50u);
  std::set<int> spans;
  for (const Json& l : live) spans.insert(l["span"].get<int>());
  EXPECT_EQ(spans, (std::set<int>{1, 2}));

  // Re-saved as Wireshark saves (editcap is its file writer): the interfaces and the
  // direction flags survive, so every call is where it was.
  const fs::path resaved = dir / "resaved.pcapng";
  ASSERT_EQ(std::system(("editcap -F pcapng " + c.pcap.string() + " " + resaved.string()).c_str()),
            0);
  r = run_trunkwatch("replay " + resaved.string() + " --cdr-json -", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(records(json_lines(r.out)), records(live));
  EXPECT_EQ(r.err.find("several D-channels"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("malformed 0"), std::string::npos) << r.err;
}

TEST(ReplaySpans, ClassicPcapWithSpansMergedByResavingIsFlaggedOnce) {
  if (!have_editcap())
    GTEST_FAIL() << "editcap (wireshark-common) not installed: scripts/setup.sh installs it";
  const fs::path dir = temp_dir() / "resave-classic";
  fs::create_directories(dir);
  write_file(dir / "site.toml", two_spans());
  const fs::path pcap = dir / "site.pcap";
  auto r = run_trunkwatch("simulate " + (dir / "site.toml").string() + " --pcap " + pcap.string() +
                              " --pcap-format pcap --cdr-json " + (dir / "live.jsonl").string(),
                          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Json> live = json_lines(slurp(dir / "live.jsonl"));
  // The I-frames (SAPI 0) each side sent, both spans together: what the warning counts.
  std::map<hal::Side, int> i_frames;
  {
    hal::PcapReader reader;
    ASSERT_EQ(reader.open(pcap.string()), "");
    hal::CapturedFrame cf;
    while (reader.next(cf) == hal::ReadStatus::Frame)
      if (cf.bytes.size() >= 4 && (cf.bytes[0] >> 2) == 0 && (cf.bytes[2] & 1) == 0)
        ++i_frames[cf.from];
  }
  ASSERT_GT(i_frames[hal::Side::Pbx], 100);

  // The original classic capture keeps its spans (in the pseudo-header), and no warning.
  r = run_trunkwatch("replay " + pcap.string() + " --cdr-json -", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(records(json_lines(r.out)), records(live));
  EXPECT_EQ(r.err.find("several D-channels"), std::string::npos) << r.err;

  // Re-saved as classic pcap (and as pcapng from a classic file): span numbers zeroed, both
  // links read as span 1. The replay says so once, with the counts.
  for (const std::string format : {"pcap", "pcapng"}) {
    SCOPED_TRACE(format);
    const fs::path resaved = dir / ("resaved." + format);
    ASSERT_EQ(std::system(
                  ("editcap -F " + format + " " + pcap.string() + " " + resaved.string()).c_str()),
              0);
    // No manifest beside it: a re-saved file travels alone.
    r = run_trunkwatch("replay " + resaved.string() + " --cdr-json -", dir);
    ASSERT_EQ(r.code, 0) << r.err;
    for (const Json& rec : json_lines(r.out)) EXPECT_EQ(rec["span"], 1);
    EXPECT_EQ(count(r.err, "several D-channels"), 1u) << r.err;
    EXPECT_NE(r.err.find("trunkwatch: warning: " + resaved.string() +
                         ": several D-channels seem to be recorded under one span number (span "
                         "1: the PBX's I-frames (TEI 0) ran in 2 interleaved sequences, "),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(" alternations in " + std::to_string(i_frames[hal::Side::Pbx]) +
                         " I-frames; span 1: the carrier's I-frames (TEI 0) ran in 2 interleaved "
                         "sequences, "),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(" alternations in " + std::to_string(i_frames[hal::Side::Carrier]) +
                         " I-frames): their calls are mixed."),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
}  // namespace tw
