// The trunkwatch binary as a user runs it: help, exit codes, bad input, the commands chained.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "hal/replay/pcap_io.hpp"
#include "monitor/store/sqlite_store.hpp"
#include "tests/support/cli_harness.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;

using test::Result;
using test::slurp;

fs::path temp_dir() {
  static const fs::path dir = test::temp_dir("cli");
  return dir;
}

Result run(const std::string& args) {
  return test::run_trunkwatch(args, temp_dir());
}

std::size_t lines(const std::string& s) {
  return std::count(s.begin(), s.end(), '\n');
}

TEST(Cli, HelpOnEveryCommand) {
  const Result top = run("--help");
  EXPECT_EQ(top.code, 0);
  for (const char* cmd : {"replay", "simulate", "demo", "report", "dsp", "bench"}) {
    EXPECT_NE(top.out.find(cmd), std::string::npos) << cmd;
    const Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_GT(lines(r.out), 3u) << cmd;
  }
  EXPECT_NE(top.out.find("EXIT STATUS"), std::string::npos);
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("no-such-command").code, 2);
  EXPECT_EQ(run("replay --switchtype nonsense x.pcap").code, 2);
}

TEST(Cli, ReplayRefusesWhatIsNotADChannelCapture) {
  const auto text = temp_dir() / "not-a-capture.pcap";
  std::ofstream(text) << "this is not a pcap file\n";
  Result r = run("replay " + text.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(text.string()), std::string::npos);

  const auto missing = temp_dir() / "missing.pcap";
  r = run("replay " + missing.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "trunkwatch replay: " + missing.string() + ": No such file or directory\n")
      << "the path once";

  // A valid pcap of Ethernet frames: the wrong link type, said plainly.
  const auto eth = temp_dir() / "ethernet.pcap";
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, eth.c_str());
  ASSERT_NE(d, nullptr);
  pcap_pkthdr h{};
  std::uint8_t frame[60] = {};
  h.caplen = h.len = sizeof frame;
  pcap_dump(reinterpret_cast<u_char*>(d), &h, frame);
  pcap_dump_close(d);
  pcap_close(dead);
  r = run("replay " + eth.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("link type"), std::string::npos) << r.err;
}

TEST(Cli, SimulateThenReplayThenReport) {
  const auto pcap = temp_dir() / "demo.pcap", truth = temp_dir() / "truth.jsonl",
             json = temp_dir() / "replayed.jsonl", db = temp_dir() / "replayed.sqlite";
  Result r = run("simulate demo --pcap " + pcap.string() + " --truth " + truth.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::size_t truth_calls = lines(slurp(truth));
  ASSERT_GT(truth_calls, 30u);

  r = run("replay " + pcap.string() + " --cdr-json " + json.string() + " --cdr-db " + db.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("calls " + std::to_string(truth_calls)), std::string::npos) << r.err;
  EXPECT_EQ(lines(slurp(json)), truth_calls);
  std::istringstream records(slurp(json));
  for (std::string line; std::getline(records, line);) {
    const auto j = nlohmann::json::parse(line);
    for (const char* field :
         {"span", "channel", "direction", "calling", "called", "start", "answer", "end",
          "duration_s", "cause", "partial", "digits", "call_type", "alerts"})
      EXPECT_TRUE(j.contains(field)) << field;
  }

  r = run("replay " + pcap.string() + " --cdr-json -");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(lines(r.out), truth_calls);

  r = run("report --db " + db.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Call records: " + std::to_string(truth_calls) + " calls"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Top destinations"), std::string::npos);
  EXPECT_EQ(run("report --db " + pcap.string()).code, 3);
  EXPECT_EQ(run("report --db " + db.string() + " --since yesterday").code, 2);
}

TEST(Cli, TruncatedCaptureKeepsWhatWasReadAndFails) {
  const auto pcap = temp_dir() / "whole.pcap", cut = temp_dir() / "cut.pcap",
             json = temp_dir() / "cut.jsonl";
  ASSERT_EQ(run("simulate demo --pcap " + pcap.string()).code, 0);
  const std::string bytes = slurp(pcap);
  ASSERT_GT(bytes.size(), 10000u);
  std::ofstream(cut, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() * 2 / 3 + 7));
  const Result r = run("replay " + cut.string() + " --cdr-json " + json.string());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_GT(lines(slurp(json)), 10u);
}

TEST(Cli, BadScenarioIsReportedWithFileLineColumn) {
  const auto bad = temp_dir() / "bad.toml";
  std::ofstream(bad) << "[scenario]\nname = \"x\"\nstart = 12\n[[span]\n";
  const Result r = run("simulate " + bad.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(bad.string() + ":"), std::string::npos) << r.err;
}

TEST(Cli, DemoRunsAndStoresRecords) {
  const auto db = temp_dir() / "demo.sqlite", mail = temp_dir() / "demo-mail";
  const std::string cmd =
      "demo --no-live --speed 100000 --db " + db.string() + " --mail-dir " + mail.string();
  Result r = run(cmd);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Top destinations"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(db));
  EXPECT_TRUE(fs::exists(mail / ".trunkwatch-demo"));
  const Result report = run("report --db " + db.string());
  EXPECT_EQ(report.code, 0);
  EXPECT_NE(report.out.find("outbound"), std::string::npos);
  // Its own database and Maildir are replaced on the next run.
  r = run(cmd);
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(Cli, DemoRefusesToReplaceWhatItDidNotMake) {
  const auto notes = temp_dir() / "notes.txt", maildir = temp_dir() / "Maildir";
  test::write_file(notes, "my notes\n");
  fs::create_directories(maildir / "new");
  fs::create_directories(maildir / "cur");
  test::write_file(maildir / "new" / "1700000000.1.host", "Subject: hello\n\nmine\n");
  const std::string mail_dir = " --mail-dir " + maildir.string();
  Result r = run("demo --no-live --speed 100000 --db " + notes.string() + mail_dir);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(notes.string() +
                       ": exists and is not a trunkwatch call-record database (not an SQLite "
                       "database); not replacing it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(notes), "my notes\n");

  r = run("demo --no-live --speed 100000 --db " + (temp_dir() / "fresh.sqlite").string() +
          mail_dir);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(maildir.string() +
                       ": holds files the trunkwatch demo did not make (no .trunkwatch-demo in "
                       "it); not emptying it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(maildir / "new" / "1700000000.1.host"), "Subject: hello\n\nmine\n");
  EXPECT_FALSE(fs::exists(temp_dir() / "fresh.sqlite"));
}

TEST(Cli, ScenarioErrorsAreAllReported) {
  const auto bad = temp_dir() / "three-errors.toml";
  test::write_file(bad,
                   "[[span]]\n"
                   "type = \"t1\"\n"
                   "[[call]]\n"
                   "at = 1e12\n"
                   "called = \"5551234\"\n"
                   "[[call]]\n"
                   "at = 5\n"
                   "called = 5551234\n"
                   "[[restart]]\n"
                   "at = 1\n"
                   "channel = 24\n");
  const Result r = run("simulate " + bad.string());
  EXPECT_EQ(r.code, 3);
  const std::string f = bad.string();
  EXPECT_EQ(test::lines_of(r.err),
            (std::vector<std::string>{
                f + ":4:6: 'at' must be between 0 and 2678400 seconds (31 days, the longest a "
                    "scenario runs)",
                f + ":8:10: 'called' must be a string of digits (quote it: \"0114420...\")",
                f + ":11:11: span 1 has no B-channel 24"}))
      << r.err;
}

// A SETUP whose called number has 60 digits: the decoder keeps 40 and the record says so.
TEST(Cli, OverlongNumberIsFlaggedInTheRecord) {
  const auto pcap = temp_dir() / "long-number.pcap";
  {
    hal::PcapWriter w;
    ASSERT_EQ(w.open(pcap.string()), "");
    const auto t0 = *hal::make_time(2027, 1, 5, 9, 0, 0, 0, 0);
    std::uint8_t ns = 0;
    const auto setup = [&](std::uint8_t cref, const std::string& called, hal::Timestamp t) {
      // LAPD: SAPI 0 command from the user side, TEI 0, I-frame; Q.931 SETUP with bearer
      // (speech), channel 1 (exclusive) and the called number (type 4, plan 1).
      std::vector<std::uint8_t> f = {0x00,
                                     0x01,
                                     static_cast<std::uint8_t>(ns++ << 1),
                                     0x00,
                                     0x08,
                                     0x02,
                                     0x00,
                                     cref,
                                     0x05,
                                     0x04,
                                     0x03,
                                     0x80,
                                     0x90,
                                     0xa2,
                                     0x18,
                                     0x03,
                                     0xa1,
                                     0x83,
                                     static_cast<std::uint8_t>(0x80 + cref),
                                     0x70,
                                     static_cast<std::uint8_t>(called.size() + 1),
                                     0xc1};
      f.insert(f.end(), called.begin(), called.end());
      w.write(hal::DFrame{.span = 1, .from = hal::Side::Pbx, .time = t, .bytes = f},
              hal::Role::User);
    };
    setup(1, std::string(60, '7'), t0);
    setup(2, std::string(40, '5'), t0 + std::chrono::seconds(1));
  }
  const Result r = run("replay " + pcap.string() + " --cdr-json -");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto records = test::lines_of(r.out);
  ASSERT_EQ(records.size(), 2u) << r.out;
  auto first = nlohmann::json::parse(records[0]);
  auto second = nlohmann::json::parse(records[1]);
  if (first["call_ref"] != 1) std::swap(first, second);
  EXPECT_EQ(first["call_ref"], 1);
  EXPECT_EQ(first["called"], std::string(40, '7'));
  EXPECT_EQ(first["numbers_truncated"], true);
  EXPECT_EQ(second["called"], std::string(40, '5'));
  EXPECT_EQ(second["numbers_truncated"], false);
}

// Records as a store could hold them: text with terminal escapes (a tampered database, or one
// written before sanitizing), over two days and both sides of midnight in New York.
class ReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store::SqliteStore db;
    fs::remove(db_path());
    ASSERT_EQ(db.open(db_path().string()), "");
    const auto at = [](int day, int hour, int minute) {
      return *hal::make_time(2027, 1, day, hour, minute, 0, 0, 0);
    };
    const auto call = [&](calls::Direction dir, std::string calling, std::string called,
                          hal::Timestamp start, double talk_s, int cause) {
      calls::CallRecord r;
      r.span = 1;
      r.channel = 3;
      r.direction = dir;
      r.calling = std::move(calling);
      r.called = std::move(called);
      r.calling_name = "Evil\x1b]0;owned\x07 Corp";
      r.start = start;
      if (talk_s > 0) r.answer = start + std::chrono::seconds(5);
      r.end = start + std::chrono::seconds(5 + static_cast<int>(talk_s));
      r.duration_s = talk_s;
      r.cause = cause;
      ASSERT_EQ(db.insert(r), "");
    };
    using calls::Direction;
    // 09:30Z Tue = 04:30 EST: business hours in UTC, after hours in New York.
    call(Direction::Outbound, "2125550100\x1b[2J", "0114420794600\x1b[31m", at(5, 9, 30), 600, 16);
    // 21:00Z = 16:00 EST and 22:00Z = 17:00 EST: after hours in UTC, business in New York.
    call(Direction::Outbound, "2125550101", "5551234", at(5, 21, 0), 120, 16);
    call(Direction::Inbound, "3125550000", "2125550100", at(5, 22, 0), 0, 19);
    // 02:00Z Wed = 21:00 EST Tue: after hours in both, Jan 6 in UTC, Jan 5 in New York.
    call(Direction::Outbound, "2125550102", "5551234", at(6, 2, 0), 30, 16);
    // 15:00Z Thu = 10:00 EST: business hours in both.
    call(Direction::Outbound, "2125550103", "18005550000", at(7, 15, 0), 60, 16);
    test::write_file(config_path(),
                     "[site]\ntimezone = \"America/New_York\"\n"
                     "business_hours = \"Mon-Fri 08:00-18:00\"\n");
  }
  static fs::path db_path() { return temp_dir() / "report.sqlite"; }
  static fs::path config_path() { return temp_dir() / "new-york.toml"; }
  static Result report(const std::string& args) {
    return run("report --db " + db_path().string() + " " + args);
  }
};

TEST_F(ReportTest, NoTerminalControlBytesInAnyFormat) {
  for (const char* format : {"text", "csv", "json"}) {
    for (const std::string& config :
         std::vector<std::string>{"", " --config " + config_path().string()}) {
      const Result r = report(std::string("--format ") + format + config);
      ASSERT_EQ(r.code, 0) << format << config << ": " << r.err;
      EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << format << config;
      EXPECT_EQ(r.out.find('\x07'), std::string::npos) << format << config;
      // JSON writes the escape's backslash as "\\\\".
      const std::string escaped =
          std::string(format) == "json" ? "0114420794600\\\\x1B[31m" : "0114420794600\\x1B[31m";
      EXPECT_NE(r.out.find(escaped), std::string::npos) << format << r.out;
    }
  }
  const Result text = report("");
  EXPECT_NE(text.out.find("2125550100\\x1B[2J"), std::string::npos) << text.out;
}

TEST_F(ReportTest, AfterHoursAndLocalTimesFollowTheSiteConfig) {
  Result r = report("");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Call records: 5 calls (0 partial), starting 2027-01-05T09:30:00.000Z to "
                       "2027-01-07T15:00:00.000Z\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("After hours (outside Mon-Fri 8:00-18:00 UTC): 3 calls\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("International (outbound, dialed with 011/00/+): 1 calls, 0 of them after "
                       "hours\n"),
            std::string::npos)
      << r.out;

  r = report("--config " + config_path().string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("starting 2027-01-05 04:30 EST to 2027-01-07 10:00 EST\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("After hours (outside Mon-Fri 08:00-18:00 America/New_York): 2 calls\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 calls, 1 of them after hours\n"), std::string::npos) << r.out;

  const auto missing = temp_dir() / "no-such.toml";
  r = report("--config " + missing.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(missing.string()), std::string::npos) << r.err;
}

TEST_F(ReportTest, UntilBoundsTheCalls) {
  const auto count = [](const Result& r) {
    EXPECT_EQ(r.code, 0) << r.err;
    return nlohmann::json::parse(r.out)["calls"].get<int>();
  };
  // A time: calls that started before it (21:00:00 itself is out).
  EXPECT_EQ(count(report("--format json --until 2027-01-05T21:00:00Z")), 1);
  EXPECT_EQ(count(report("--format json --until 2027-01-05T21:00:00.001Z")), 2);
  // A date: through the end of that day; with --since the same date, that day alone.
  EXPECT_EQ(count(report("--format json --until 2027-01-05")), 3);
  EXPECT_EQ(count(report("--format json --since 2027-01-05 --until 2027-01-05")), 3);
  EXPECT_EQ(count(report("--format json --since 2027-01-06 --until 2027-01-06")), 1);
  EXPECT_EQ(count(report("--format json --since 2027-01-07")), 1);
  // In the site's zone the Wednesday 02:00Z call is Tuesday evening.
  EXPECT_EQ(count(report("--format json --since 2027-01-05 --until 2027-01-05 --config " +
                         config_path().string())),
            4);
  Result r = report("--until tomorrow");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--until: 'tomorrow'"), std::string::npos) << r.err;
  r = report("--since 2027-01-06 --until 2027-01-05");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(report("--format xml").code, 2);
}

// RFC 4180 as a spreadsheet reads it: quoted fields, doubled quotes, CRLF.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.emplace_back(1);
      ++i;
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

TEST_F(ReportTest, CsvAndJsonParse) {
  const Result csv = report("--format csv --config " + config_path().string());
  ASSERT_EQ(csv.code, 0) << csv.err;
  const auto rows = parse_csv(csv.out);
  ASSERT_GT(rows.size(), 10u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"section", "key", "field", "value"}));
  std::map<std::string, std::string> cells;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 4u) << csv.out;
    cells[row[0] + "/" + row[1] + "/" + row[2]] = row[3];
  }
  EXPECT_EQ(cells["summary//calls"], "5");
  EXPECT_EQ(cells["after_hours//calls"], "2");
  EXPECT_EQ(cells["direction/outbound/calls"], "4");
  EXPECT_EQ(cells["direction/inbound/answered"], "0");
  EXPECT_EQ(cells["destination/5551234/calls"], "2");
  EXPECT_EQ(cells["longest/1/calling"], "2125550100\\x1B[2J");
  EXPECT_EQ(cells["longest/1/start"], "2027-01-05T09:30:00.000Z");
  EXPECT_EQ(cells["longest/1/start_local"], "2027-01-05 04:30 EST");
  EXPECT_EQ(cells["cause/16/name"], "normal call clearing");
  // A value with a comma is quoted (the business hours of a site open in two ranges).
  const auto split = temp_dir() / "split-hours.toml";
  test::write_file(split, "[site]\nbusiness_hours = \"Mon-Fri 08:00-12:00,13:00-18:00\"\n");
  const Result quoted = report("--format csv --config " + split.string());
  ASSERT_EQ(quoted.code, 0) << quoted.err;
  EXPECT_NE(
      quoted.out.find("after_hours,,business_hours,\"Mon-Fri 08:00-12:00,13:00-18:00 UTC\"\r\n"),
      std::string::npos)
      << quoted.out;

  const Result json = report("--format json");
  ASSERT_EQ(json.code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["calls"], 5);
  EXPECT_EQ(j["partial"], 0);
  EXPECT_EQ(j["first_start"], "2027-01-05T09:30:00.000Z");
  EXPECT_EQ(j["directions"]["outbound"]["calls"], 4);
  EXPECT_EQ(j["directions"]["outbound"]["answered"], 4);
  EXPECT_EQ(j["directions"]["inbound"]["calls"], 1);
  EXPECT_EQ(j["international"]["calls"], 1);
  EXPECT_EQ(j["after_hours"]["calls"], 3);
  ASSERT_EQ(j["top_destinations"].size(), 3u);
  EXPECT_EQ(j["top_destinations"][0]["called"], "5551234");
  EXPECT_EQ(j["top_destinations"][0]["calls"], 2);
  ASSERT_EQ(j["longest_calls"].size(), 4u);
  EXPECT_EQ(j["longest_calls"][0]["called"], "0114420794600\\x1B[31m");
  EXPECT_EQ(j["longest_calls"][0]["minutes"], 10.0);
  EXPECT_EQ(j["longest_calls"][0]["channel"], 3);
  ASSERT_EQ(j["causes"].size(), 2u);
  EXPECT_EQ(j["causes"][0]["cause"], 16);
  EXPECT_EQ(j["causes"][0]["calls"], 4);
}

}  // namespace
}  // namespace tw
