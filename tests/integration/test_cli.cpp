// The trunkwatch binary as a user runs it: help, exit codes, bad input, the commands chained.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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

  r = run("replay " + (temp_dir() / "missing.pcap").string());
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(lines(r.err), 1u) << r.err;

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

}  // namespace
}  // namespace tw
