// `trunkwatch check-config` and `trunkwatch backtest` as an admin runs them: the real binary,
// real files, a call database written by `trunkwatch simulate`.
#include <gtest/gtest.h>

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
  static const fs::path dir = test::temp_dir("rules-cli");
  return dir;
}

Result run(const std::string& args) {
  return test::run_trunkwatch(args, temp_dir());
}

std::vector<std::string> lines(const std::string& s) {
  return test::lines_of(s);
}

std::string write(const std::string& name, const std::string& text) {
  const auto p = temp_dir() / name;
  std::ofstream(p) << text;
  return p.string();
}

TEST(RulesCli, CommandsAreListed) {
  const Result top = run("--help");
  EXPECT_NE(top.out.find("check-config"), std::string::npos);
  EXPECT_NE(top.out.find("backtest"), std::string::npos);
  EXPECT_EQ(run("check-config --help").code, 0);
  EXPECT_EQ(run("backtest --help").code, 0);
}

TEST(RulesCli, CheckConfigAcceptsTheShippedExample) {
  const std::string example = std::string(TW_SOURCE_DIR) + "/examples/trunkwatch.toml";
  const Result r = run("check-config " + example);
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(lines(r.out)[0], example + ": OK");
  EXPECT_NE(r.out.find("time zone America/New_York"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("profiles: lobby sales default"), std::string::npos) << r.out;
}

TEST(RulesCli, CheckConfigReportsEveryErrorWithItsPosition) {
  const std::string bad = write("bad.toml",
                                "[site]\n"
                                "timezone = \"Europe/Atlantis\"\n"
                                "business_hours = \"Mon-Fri 09:00-17:00; Sun 18:00-08:00\"\n"
                                "[detectors.brute_force]\n"
                                "warnings = 3\n");
  const Result r = run("check-config " + bad);
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(r.out.empty()) << r.out;
  const auto e = lines(r.err);
  ASSERT_EQ(e.size(), 4u) << r.err;
  EXPECT_EQ(e[0], bad +
                      ":2:12: site.timezone: unknown time zone 'Europe/Atlantis' (an IANA name "
                      "such as \"America/New_York\")");
  EXPECT_EQ(e[1], bad +
                      ":3:44: site.business_hours: bad time range '18:00-08:00': the end must "
                      "be after the start (split hours that pass midnight into two ranges)");
  EXPECT_TRUE(e[2].starts_with(bad + ":5:1: unknown key 'warnings' in [detectors.brute_force]"))
      << e[2];
  EXPECT_EQ(e[3], bad + ": 3 error(s)");
  // A file that is not there, and one that is not TOML.
  EXPECT_EQ(run("check-config " + (temp_dir() / "missing.toml").string()).code, 3);
  const Result garbage = run("check-config " + write("garbage.toml", "[site\nx = 1\n"));
  EXPECT_EQ(garbage.code, 3);
  EXPECT_NE(garbage.err.find("garbage.toml:1:"), std::string::npos) << garbage.err;
}

// Valid files that will not do what the site meant: warnings on standard error, still OK.
TEST(RulesCli, CheckConfigWarnsAboutHooksThatCannotRunAndOverlappingHours) {
  const std::string not_executable = write("hook-not-executable.sh", "#!/bin/sh\n");
  fs::permissions(not_executable, fs::perms::owner_read | fs::perms::owner_write);
  const std::string missing = (temp_dir() / "no-such-hook").string();
  const std::string file =
      write("warnings.toml",
            "[site]\n"
            "business_hours = \"Mon-Fri 08:00-18:00; Fri 12:00-20:00, 07:00-09:00\"\n"
            "[[profile]]\n"
            "name = \"night\"\n"
            "numbers = [\"21255501*\"]\n"
            "hours = \"Sat 10:00-14:00,13:00-15:00\"\n"
            "[[policy]]\n"
            "category = \"premium\"\n"
            "action = [\"alert\", \"exec\"]\n"
            "exec = [\"" +
                missing +
                "\", \"{called}\"]\n"
                "[[policy]]\n"
                "category = \"international\"\n"
                "action = [\"exec\"]\n"
                "exec = [\"" +
                not_executable + "\"]\n");
  const Result r = run("check-config " + file);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines(r.out).at(0), file + ": OK");
  const auto w = lines(r.err);
  ASSERT_EQ(w.size(), 4u) << r.err;
  EXPECT_EQ(w[0], "warning: " + file +
                      ":2:18: site.business_hours: overlapping time ranges (Fri 07:00-09:00 and "
                      "08:00-18:00): each day and time should be listed once; check the days "
                      "and times");
  EXPECT_EQ(w[1], "warning: " + file +
                      ":6:9: profile night: hours: overlapping time ranges (Sat 10:00-14:00 and "
                      "13:00-15:00): each day and time should be listed once; check the days "
                      "and times");
  EXPECT_EQ(w[2], "warning: " + file + ":10:8: exec: the program '" + missing +
                      "' does not exist (No such file or directory)");
  EXPECT_EQ(w[3], "warning: " + file + ":14:8: exec: the program '" + not_executable +
                      "' is not executable (Permission denied)");
  // Hours that only touch are fine.
  const Result ok = run("check-config " + write("touching.toml",
                                                "[site]\nbusiness_hours = \"Mon-Fri "
                                                "08:00-12:00,12:00-18:00; Sat 09:00-12:00\"\n"));
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.err, "");
}

// The summary names the transport the file sets up, and the mail limit.
TEST(RulesCli, CheckConfigNamesTheMailTransport) {
  const std::string box = (temp_dir() / "Maildir").string();
  const std::string spool = (temp_dir() / "spool").string();
  const std::string base = "[email]\nto = \"pbx@example.com\"\nspool_dir = \"" + spool + "\"\n";
  auto email_line = [&](const std::string& name, const std::string& extra) {
    const Result r = run("check-config " + write(name, base + extra));
    EXPECT_EQ(r.code, 0) << r.err;
    for (const std::string& l : lines(r.out))
      if (l.starts_with("  email: ")) return l;
    return std::string("(no email line in: ") + r.out + ")";
  };
  EXPECT_EQ(email_line("maildir.toml", "transport = \"maildir\"\nmaildir = \"" + box + "\"\n"),
            "  email: 1 recipient(s) by Maildir " + box + ", spool " + spool +
                ", at most 20 per 600 s (then one summary)");
  EXPECT_EQ(email_line("smtp.toml",
                       "transport = \"smtp\"\nsmtp_url = \"smtp://mail.example.com:587\"\n"
                       "starttls = \"required\"\nmax_per_window = 0\n"),
            "  email: 1 recipient(s) by SMTP smtp://mail.example.com:587 (STARTTLS required), "
            "spool " +
                spool + ", no mail limit");
  EXPECT_EQ(email_line("sendmail.toml", "max_per_window = 5\nwindow_s = 3600\n"),
            "  email: 1 recipient(s) by sendmail /usr/sbin/sendmail, spool " + spool +
                ", at most 5 per 3600 s (then one summary)");
}

TEST(RulesCli, CheckConfigWithOverrides) {
  const std::string good = write("good.toml", "[site]\ntimezone = \"Europe/Paris\"\n");
  Result r = run("check-config " + good +
                 " --set site.timezone=America/Chicago --set site.remote_access=2125550199");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("time zone America/Chicago"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 remote-access number(s)"), std::string::npos) << r.out;
  // A bad override alone is a bad command line.
  r = run("check-config " + good + " --set site.timezone=Nowhere");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(lines(r.err).at(0),
            "--set site.timezone=Nowhere: site.timezone: unknown time zone 'Nowhere' (an IANA "
            "name such as \"America/New_York\")");
  r = run("check-config --keys");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("site.remote_access (list of strings: numbers)"), std::string::npos);
  EXPECT_NE(r.out.find("\ndaemon.block_ms (integer: 8 or 20), default 20: B-channel audio block"),
            std::string::npos)
      << r.out;
  // The key tables of docs/config.md, one per section.
  r = run("check-config --keys --format markdown");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(
      r.out.starts_with("<!-- generated by `trunkwatch check-config --keys --format "
                        "markdown` from rules/config_schema.cpp: section site -->\n"
                        "| key | type | default | meaning |\n"))
      << r.out;
  EXPECT_NE(r.out.find("| `log_level` | `\"debug\"`, `\"info\"`, `\"warning\"`, `\"error\"` | "
                       "`\"info\"` | least severe messages logged |\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(run("check-config --keys --format html").code, 2);
}

// A small site's evening: a premium call, an international call, a guessing run on the DISA
// number and ordinary calls; stored by `simulate`, judged by `backtest`.
TEST(RulesCli, BacktestOverAStoredDay) {
  std::string scenario = R"([scenario]
start = "2027-01-05T21:30:00Z"
[[span]]
id = 1
[[call]]
at = 0
calling = "2125550100"
called = "19005551234"
answer_after = 2
talk = 30
[[call]]
at = 10
calling = "2125550101"
called = "011442079460000"
answer_after = 5
talk = 60
[[call]]
at = 100
calling = "2125550102"
called = "2125557777"
answer_after = 3
talk = 20
)";
  for (int i = 0; i < 5; ++i)
    scenario += "[[call]]\nat = " + std::to_string(200 + 15 * i) +
                "\ndirection = \"inbound\"\ncalling = \"3125550000\"\ncalled = \"2125550199\"\n"
                "answer_after = 1\ntalk = 8\nkeypad = \"47" +
                std::to_string(10 + i) + "#\"\n";
  const std::string sc = write("evening.toml", scenario);
  const std::string db = (temp_dir() / "evening.sqlite").string();
  fs::remove(db);
  ASSERT_EQ(run("simulate " + sc + " --cdr-db " + db).code, 0);

  const std::string hook_marker = (temp_dir() / "hook-ran").string();
  const std::string cfg = write("site.toml",
                                "[[policy]]\ncategory = \"premium\"\n"
                                "action = [\"alert\", \"exec\"]\n"
                                "exec = [\"/usr/bin/touch\", \"" +
                                    hook_marker + "\"]\n");
  const std::string json = (temp_dir() / "alerts.jsonl").string();
  Result r = run("backtest --config " + cfg + " --db " + db +
                 " --set site.remote_access=2125550199 --alerts-json " + json);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 7u) << r.out;
  EXPECT_NE(out[0].find(" critical premium [rule-1] alert,would_exec span 1/"), std::string::npos)
      << out[0];
  // After hours an international call is at least a warning (the default policy raises it).
  EXPECT_NE(out[1].find(" warning international [international-after-hours] alert "),
            std::string::npos)
      << out[1];
  EXPECT_NE(out[2].find(" warning brute_force [remote-access-abuse] alert "), std::string::npos)
      << out[2];
  EXPECT_NE(out[2].find("keyed \"****#\""), std::string::npos) << out[2];
  EXPECT_EQ(r.out.find("4714"), std::string::npos);  // the codes stay masked
  EXPECT_EQ(out[3], "backtest: 8 calls, 3 notice(s), 0 digest(s); config " + cfg);
  EXPECT_EQ(out[4], "  international: 1");
  EXPECT_EQ(out[5], "  premium: 1");
  EXPECT_EQ(out[6], "  brute_force: 1");
  EXPECT_FALSE(fs::exists(hook_marker)) << "a backtest never runs hooks";

  const auto js = lines(slurp(json));
  ASSERT_EQ(js.size(), 3u);
  const auto j = nlohmann::json::parse(js[0]);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  for (const char* k : {"time", "category", "severity", "rule", "actions", "message", "identifier",
                        "span", "channel", "start", "calling", "called"})
    EXPECT_NE(std::find(keys.begin(), keys.end(), k), keys.end()) << k;
  EXPECT_EQ(j["category"], "premium");
  EXPECT_EQ(j["actions"], nlohmann::json::parse(R"(["alert","would_exec"])"));
  EXPECT_EQ(j["calling"], "2125550100");
  EXPECT_EQ(j["called"], "19005551234");
  EXPECT_EQ(j["start"], "2027-01-05T21:30:00.000Z");
  EXPECT_TRUE(j["channel"].is_number());

  // JSON on standard output: the human lines move to standard error.
  r = run("backtest --config " + cfg + " --db " + db + " --alerts-json -");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(lines(r.out).size(), 2u) << r.out;  // premium and international (no DISA number)
  for (const auto& l : lines(r.out)) EXPECT_TRUE(nlohmann::json::accept(l)) << l;
  EXPECT_NE(r.err.find("backtest: 8 calls, 2 notice(s)"), std::string::npos) << r.err;

  // Tuning: a looser policy shows what would no longer fire.
  r = run("backtest --config " + cfg + " --db " + db + " --set site.timezone=America/Los_Angeles");
  ASSERT_EQ(r.code, 0) << r.err;  // 13:30 in Los Angeles: the international call is ordinary
  EXPECT_NE(r.out.find("1 notice(s)"), std::string::npos) << r.out;
  r = run("backtest --config " + cfg + " --db " + db + " --set site.business_hours=always");
  EXPECT_NE(r.out.find("1 notice(s)"), std::string::npos) << r.out;
}

TEST(RulesCli, BacktestRefusesBadInput) {
  const std::string bad = write("bad2.toml", "[site]\ntimezone = 3\n");
  Result r = run("backtest --config " + bad + " --db /nonexistent.sqlite");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(lines(r.err).at(0), bad + ":2:12: 'timezone' must be a string");
  r = run("backtest --config " + write("ok.toml", "") + " --db " +
          (temp_dir() / "none.sqlite").string());
  EXPECT_EQ(r.code, 3) << r.err;
  r = run("backtest --config " + write("ok2.toml", "") + " --db " +
          write("notadb.sqlite", "hello"));
  EXPECT_EQ(r.code, 3) << r.err;
}

}  // namespace
}  // namespace tw
