// Alerts from the commands a user runs: --alerts-json on simulate and replay, the demo
// catching its attack and mailing it, config errors refused before anything runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "hal/sim/scenario.hpp"
#include "tests/support/cli_harness.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;
using test::lines_of;
using test::Result;
using test::slurp;

fs::path temp_dir() {
  static const fs::path dir = test::temp_dir("alerts-cli");
  return dir;
}

Result run(const std::string& args) {
  return test::run_trunkwatch(args, temp_dir());
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const std::string& l : lines_of(text)) out.push_back(nlohmann::json::parse(l));
  return out;
}

std::multiset<std::string> categories(const std::vector<nlohmann::json>& notices) {
  std::multiset<std::string> out;
  for (const auto& n : notices) out.insert(n.at("category").get<std::string>());
  return out;
}

const std::string kDisa = std::string("--set site.remote_access=") + sim::kDemoDisaNumber;

TEST(AlertsCli, SimulateWritesEachNoticeAsAJsonLine) {
  const Result r = run("simulate demo --alerts-json - " + kDisa);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto notices = json_lines(r.out);
  // The demo's attack without audio (no keyed digits, no dial tone heard): an outbound call
  // to a risky destination while the DISA call is up is a warning at once, and becomes
  // critical when the two legs clear together.
  ASSERT_EQ(notices.size(), 3u) << r.out;
  EXPECT_EQ(notices[0].at("category"), "high_risk_destination");
  EXPECT_EQ(notices[0].at("severity"), "critical");
  EXPECT_EQ(notices[1].at("category"), "through_dial");
  EXPECT_EQ(notices[1].at("severity"), "warning");
  EXPECT_EQ(notices[2].at("category"), "through_dial");
  EXPECT_EQ(notices[2].at("severity"), "critical");
  EXPECT_NE(notices[2].at("message").get<std::string>().find("ended together"), std::string::npos);
  for (const auto& n : notices) {
    for (const char* field : {"time", "category", "severity", "rule", "actions", "message",
                              "identifier", "span", "channel", "start", "calling", "called"})
      EXPECT_TRUE(n.contains(field)) << field << " in " << n.dump();
    EXPECT_TRUE(n.at("actions").is_array());
    EXPECT_EQ(n.at("called"), sim::kDemoFraudDestination);
    EXPECT_EQ(n.at("span"), 1);
  }
  EXPECT_NE(r.err.find("notices 3 (high_risk_destination 1, through_dial 2)"), std::string::npos)
      << r.err;
  // Notices reach the log too (standard error here), with the category.
  EXPECT_NE(r.err.find("notice "), std::string::npos) << r.err;
}

TEST(AlertsCli, ReplayOfTheCaptureRaisesTheSameNotices) {
  const auto pcap = temp_dir() / "demo.pcap", sim_alerts = temp_dir() / "sim.jsonl",
             replay_alerts = temp_dir() / "replay.jsonl", records = temp_dir() / "calls.jsonl";
  ASSERT_EQ(run("simulate demo --pcap " + pcap.string() + " --alerts-json " + sim_alerts.string() +
                " " + kDisa)
                .code,
            0);
  const Result r = run("replay " + pcap.string() + " --alerts-json " + replay_alerts.string() +
                       " --cdr-json " + records.string() + " " + kDisa);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = json_lines(slurp(sim_alerts)), b = json_lines(slurp(replay_alerts));
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (const char* field : {"time", "category", "identifier", "calling", "called", "channel"})
      EXPECT_EQ(a[i].at(field), b[i].at(field)) << field;
  }
  // The records carry what was raised on them; the PIN keyed on the DISA never shows.
  std::size_t flagged = 0;
  for (const auto& rec : json_lines(slurp(records))) {
    if (rec.at("alerts").empty()) continue;
    ++flagged;
    const auto alerts = rec.at("alerts").get<std::vector<std::string>>();
    EXPECT_TRUE(std::find(alerts.begin(), alerts.end(), "through_dial") != alerts.end());
  }
  EXPECT_EQ(flagged, 2u) << "the inbound and the outbound leg";
  // With the default policy and no remote-access number, the same capture is still caught.
  const Result plain = run("replay " + pcap.string() + " --alerts-json -");
  ASSERT_EQ(plain.code, 0) << plain.err;
  const auto cats = categories(json_lines(plain.out));
  EXPECT_TRUE(cats.count("high_risk_destination")) << plain.out;
}

TEST(AlertsCli, BadConfigIsRefusedWithFileLineColumnBeforeAnythingRuns) {
  const auto bad = temp_dir() / "bad.toml", alerts = temp_dir() / "never.jsonl";
  test::write_file(bad, "[site]\ntimezone = \"Mars/Olympus\"\n");
  const Result r =
      run("simulate demo --config " + bad.string() + " --alerts-json " + alerts.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(bad.string() + ":2:"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(alerts));
  const Result s = run("replay x.pcap --set site.nonsense=1");
  EXPECT_EQ(s.code, 3);
  EXPECT_NE(s.err.find("nonsense"), std::string::npos) << s.err;
}

TEST(AlertsCli, DemoCatchesTheAttackAndShowsTheMailItSent) {
  const auto db = temp_dir() / "demo.sqlite", mail = temp_dir() / "mail",
             alerts = temp_dir() / "demo-alerts.jsonl";
  const Result r = run("demo --no-live --speed 100000 --db " + db.string() + " --mail-dir " +
                       mail.string() + " --alerts-json " + alerts.string());
  ASSERT_EQ(r.code, 0) << r.err;
  // With audio the keyed number is the evidence, and the DISA's second dial tone.
  const auto notices = json_lines(slurp(alerts));
  ASSERT_EQ(categories(notices),
            (std::multiset<std::string>{"high_risk_destination", "through_dial"}));
  for (const auto& n : notices) {
    if (n.at("category") != "through_dial") continue;
    const std::string m = n.at("message");
    EXPECT_NE(m.find("the number was keyed on the inbound leg"), std::string::npos) << m;
    EXPECT_NE(m.find("a dial tone was heard"), std::string::npos) << m;
    EXPECT_EQ(m.find("4711"), std::string::npos) << "the PIN is masked: " << m;
  }
  EXPECT_NE(r.out.find("ALERT "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Alert mail: 2 delivered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Subject: [trunkwatch] CRITICAL"), std::string::npos) << r.out;
  std::size_t mails = 0;
  for (const auto& e : fs::directory_iterator(mail / "new")) {
    ++mails;
    const std::string text = slurp(e.path());
    EXPECT_NE(text.find("To: pbx-admins@example.com"), std::string::npos);
    EXPECT_NE(text.find(sim::kDemoFraudDestination), std::string::npos);
  }
  EXPECT_EQ(mails, 2u);
  EXPECT_TRUE(fs::is_empty(mail / "tmp"));
}

// Thirty premium calls in a few minutes, mailed with email.max_per_window = 5: five mails,
// then one summary naming the count; every notice is still in the JSON lines and the log.
TEST(AlertsCli, AFloodOfAlertsIsMailedAsFiveMailsAndOneSummary) {
  const auto dir = temp_dir() / "flood";
  fs::create_directories(dir);
  std::string scenario =
      "[scenario]\nname = \"premium-run\"\nstart = \"2027-01-05T10:00:00Z\"\n"
      "[[span]]\nid = 1\ntype = \"t1\"\n[[span]]\nid = 2\ntype = \"t1\"\n";
  for (int i = 0; i < 30; ++i)
    scenario += "[[call]]\nat = " + std::to_string(i * 15) +
                "\nspan = 1\ndirection = \"outbound\"\ncalling = \"21255501" +
                std::to_string(10 + i) + "\"\ncalled = \"1900" + std::to_string(200 + i) +
                "1234\"\nanswer_after = 2\ntalk = 3\n";
  test::write_file(dir / "run.toml", scenario);
  test::write_file(dir / "site.toml",
                   "[email]\nto = \"pbx@example.com\"\ntransport = \"maildir\"\n"
                   "maildir = \"" +
                       (dir / "Maildir").string() + "\"\nspool_dir = \"" +
                       (dir / "spool").string() + "\"\nmax_per_window = 5\nwindow_s = 600\n");
  const auto alerts = dir / "alerts.jsonl";
  const Result r = run("simulate " + (dir / "run.toml").string() + " --act --config " +
                       (dir / "site.toml").string() + " --alerts-json " + alerts.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto notices = json_lines(slurp(alerts));
  ASSERT_EQ(notices.size(), 30u) << slurp(alerts);
  for (const auto& n : notices) EXPECT_EQ(n.at("category"), "premium");
  std::size_t logged = 0;
  for (const std::string& l : lines_of(r.err))
    if (l.find("notice ") != std::string::npos && l.find(" premium ") != std::string::npos)
      ++logged;
  EXPECT_EQ(logged, 30u) << r.err;
  std::size_t single = 0;
  std::vector<std::string> summaries;
  for (const auto& e : fs::directory_iterator(dir / "Maildir" / "new")) {
    const std::string text = slurp(e.path());
    if (text.find("X-Trunkwatch-Category: summary\n") != std::string::npos)
      summaries.push_back(text);
    else
      ++single;
  }
  EXPECT_EQ(single, 5u);
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_NE(summaries[0].find("Subject: [trunkwatch] CRITICAL 30 notices in 10 minutes, 25 not "
                              "mailed one by one\n"),
            std::string::npos)
      << summaries[0];
  EXPECT_NE(summaries[0].find("premium: 30"), std::string::npos) << summaries[0];
  EXPECT_NE(r.err.find("alert mail delivered 6"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tw
