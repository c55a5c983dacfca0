// The daemon on the real DAHDI driver, as the systemd service: stages this build's
// `cmake --install` tree, boots the qemu VM with systemd and two loc span pairs
// (tests/vm/run-vm.sh --pairs 2 --systemd), where tap_setup.sh installs it as docs/install.md
// says, udev starts trunkwatch.service on the B spans, and tap_test.sh has tw_dahdi_feed play
// tap_scenario.toml onto the A spans in real time; then compares the daemon's records with the
// simulator's truth field by field, and checks the lifecycle (status, calls, systemctl reload
// good and bad, systemctl stop with a call up) and alarm outcomes (peers destroyed and
// recreated, a tapped span unassigned and reopened, SIGKILL and the restart) from the files the
// guest wrote. docs/vm-tests.md, "The tap test".
//
// Skipped (GTEST_SKIP) when run-vm.sh exits 77: not root, no qemu, no image and no way to
// build one. Environment:
//   TW_VM_TAP_REUSE=DIR  do not boot the VM: check the results an earlier run left in DIR
//   TW_VM_TAP_WORKDIR    the share directory (default: the build tree's tests/vm/tap/vm_tap)
//   TW_VM_TIMEOUT        run-vm.sh --timeout (default 600 s)
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "trunkwatch/hal/types.hpp"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Pairs 1 and 2 of run-vm.sh --pairs 2: the daemon taps span 2 (PBX) + span 4 (carrier).
constexpr int kPbxSpan = 2;
constexpr double kTimeTolerance = 0.5;  // s, times relative to the first call

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<Json> json_lines(const fs::path& p) {
  std::vector<Json> out;
  std::istringstream in(slurp(p));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

Json json_file(const fs::path& p) {
  const std::string text = slurp(p);
  if (text.empty()) return Json();
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    ADD_FAILURE() << p << ": not JSON: " << e.what();
    return Json();
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::optional<double> seconds_of(const Json& v) {
  if (!v.is_string()) return std::nullopt;
  const auto t = tw::hal::parse_time(v.get<std::string>());
  if (!t) return std::nullopt;
  return std::chrono::duration<double>(t->time_since_epoch()).count();
}

std::string str(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// Boots the VM (or reuses an earlier share); the share directory with the guest's results.
struct VmRun {
  fs::path share;
  int status = -1;
  double seconds = 0;
  std::string skip;  // non-empty: skipped, with run-vm.sh's reason
};

VmRun run_vm() {
  VmRun r;
  if (const char* reuse = std::getenv("TW_VM_TAP_REUSE"); reuse && *reuse) {
    r.share = reuse;
    const std::string status = slurp(r.share / ".vm-status");
    r.status = status.empty() ? -1 : std::atoi(status.c_str());
    std::cout << "[ vm_tap  ] checking the results in " << r.share << " (TW_VM_TAP_REUSE)\n";
    return r;
  }
  const char* workdir = std::getenv("TW_VM_TAP_WORKDIR");
  r.share = workdir && *workdir ? fs::path(workdir) : fs::path(TW_TAP_WORKDIR);
  fs::remove_all(r.share);
  fs::create_directories(r.share / "tap");
  const fs::path src = fs::path(TW_SOURCE_DIR) / "tests" / "vm";
  const auto exec = fs::copy_options::overwrite_existing;
  // What an administrator installs (binary, unit, udev rule, sysusers, tmpfiles, data), staged
  // under root/ for tap_setup.sh to copy into the guest's /.
  const fs::path install_log = r.share / "install.log";
  const std::string install = "DESTDIR=" + shell_quote((r.share / "root").string()) + " " +
                              shell_quote(TW_CMAKE) + " --install " + shell_quote(TW_BINARY_DIR) +
                              " >" + shell_quote(install_log.string()) + " 2>&1";
  if (std::system(install.c_str()) != 0) {
    ADD_FAILURE() << install << " failed:\n" << slurp(install_log);
    return r;
  }
  fs::copy_file(TW_DAHDI_FEED, r.share / "tw_dahdi_feed", exec);
  for (const char* f : {"tap_setup.sh", "tap_test.sh", "tap_common.sh", "tap_scenario.toml"})
    fs::copy_file(src / "tap" / f, r.share / "tap" / f, exec);
  for (const char* f : {"tw_dahdi_feed", "tap/tap_test.sh"})
    fs::permissions(r.share / f, fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
  const char* timeout = std::getenv("TW_VM_TIMEOUT");
  const fs::path log = r.share / "run-vm.log";
  const std::string cmd =
      shell_quote((src / "run-vm.sh").string()) + " --share " + shell_quote(r.share.string()) +
      // The image vm_smoke uses (its fixed library list covers what trunkwatch links):
      // one image build on a fresh machine, not two; --check-binary fails on a missing one.
      // The carrier side's D-channel (span 4, tap_common.sh) comes as raw bits, deframed by
      // the daemon; the PBX side's (span 2) in the driver's HDLC mode.
      " --guest-script tap/tap_test.sh --pairs 2 --raw-dchan 4 --systemd"
      " --setup-script tap/tap_setup.sh"
      " --check-binary root/usr/local/bin/trunkwatch --check-binary tw_dahdi_feed --timeout " +
      std::string(timeout && *timeout ? timeout : "600") + " --quiet >" +
      shell_quote(log.string()) + " 2>&1 </dev/null";
  std::cout << "[ vm_tap  ] " << cmd << "\n" << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  const std::string out = slurp(log);
  std::cout << out << "[ vm_tap  ] run-vm.sh exited with " << r.status << " after " << r.seconds
            << " s\n";
  if (r.status == 77) {
    const auto pos = out.find("SKIP: ");
    r.skip = pos == std::string::npos ? "run-vm.sh exited 77"
                                      : out.substr(pos, out.find('\n', pos) - pos);
  }
  return r;
}

class VmTap : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { vm_ = new VmRun(run_vm()); }
  static void TearDownTestSuite() {
    delete vm_;
    vm_ = nullptr;
  }
  void SetUp() override {
    if (!vm_->skip.empty()) GTEST_SKIP() << vm_->skip;
    out_ = vm_->share / "out";
  }
  fs::path out_;
  static VmRun* vm_;
};
VmRun* VmTap::vm_ = nullptr;

// ---- the guest ran, and its own checks passed --------------------------------------------

TEST_F(VmTap, GuestScriptPassed) {
  std::string fails;
  std::istringstream checks(slurp(out_ / "checks.txt"));
  int passed = 0;
  for (std::string line; std::getline(checks, line);) {
    if (line.starts_with("FAIL")) fails += line + "\n";
    passed += line.starts_with("PASS");
  }
  EXPECT_EQ(vm_->status, 0) << "guest failures:\n"
                            << fails << "steps:\n"
                            << slurp(out_ / "steps.txt") << "see " << vm_->share / "console.log";
  EXPECT_EQ(fails, "");
  EXPECT_GE(passed, 20) << slurp(out_ / "checks.txt");
  std::cout << "[ vm_tap  ] guest steps:\n" << slurp(out_ / "steps.txt");
}

// ---- the records against the truth -------------------------------------------------------

TEST_F(VmTap, RecordsMatchTruth) {
  const std::vector<Json> truth = json_lines(out_ / "truth.jsonl");
  const std::vector<Json> records = json_lines(out_ / "calls.jsonl");
  ASSERT_GE(truth.size(), 10u) << "no truth from the feeder: " << slurp(out_ / "feed.log");
  EXPECT_EQ(records.size(), truth.size()) << "records vs simulated calls";
  // Calls are told apart by (direction, calling, called): unique in tap_scenario.toml.
  auto key = [](const Json& j) {
    return str(j, "direction") + " " + str(j, "calling") + " -> " + str(j, "called");
  };
  std::map<std::string, const Json*> by_key;
  for (const Json& r : records) {
    EXPECT_TRUE(by_key.emplace(key(r), &r).second) << "two records for " << key(r);
  }
  const Json& first_truth = truth.front();
  ASSERT_TRUE(by_key.count(key(first_truth))) << "no record of the first call " << key(first_truth);
  const Json& first_record = *by_key[key(first_truth)];
  const double t0_truth = seconds_of(first_truth["start"]).value();
  const double t0_record = seconds_of(first_record["start"]).value();
  for (const Json& r : records) {
    EXPECT_GE(seconds_of(r["start"]).value_or(0), t0_record)
        << key(r) << " starts before the first call's record";
  }
  // Relative time of a truth/record field, or nullopt when the call has none.
  auto rel = [](const Json& j, const char* field, double t0) -> std::optional<double> {
    const auto s = seconds_of(j[field]);
    return s ? std::optional<double>(*s - t0) : std::nullopt;
  };

  std::size_t matched = 0, shutdown = 0, answered = 0, with_digits = 0;
  double worst = 0;
  for (const Json& t : truth) {
    SCOPED_TRACE("truth: " + t.dump());
    const auto it = by_key.find(key(t));
    if (it == by_key.end()) {
      ADD_FAILURE() << "no record for " << key(t);
      continue;
    }
    const Json& r = *it->second;
    SCOPED_TRACE("record: " + r.dump());
    const bool is_shutdown = str(r, "end_reason") == "shutdown";
    EXPECT_EQ(r["span"], kPbxSpan);
    EXPECT_EQ(r["channel"], t["channel"]);
    EXPECT_EQ(r["direction"], t["direction"]);
    EXPECT_EQ(r["calling"], t["calling"]);
    EXPECT_EQ(r["called"], t["called"]);
    EXPECT_EQ(r["partial"], false);
    EXPECT_EQ(r["answer"].is_null(), t["answer"].is_null()) << "answered or not";
    EXPECT_EQ(str(r, "keypad"), str(t, "keypad"));
    EXPECT_EQ(r["digits_in"], t["digits_in"]) << "DTMF keyed from the carrier side";
    EXPECT_EQ(r["digits_out"], t["digits_out"]) << "DTMF keyed on the PBX side";
    EXPECT_EQ(r["second_dial_tone"].is_null(), !t["second_dial_tone"].get<bool>());
    for (const char* field : {"start", "answer", "end"}) {
      if (is_shutdown && std::string(field) == "end") continue;
      const auto tr = rel(t, field, t0_truth), rr = rel(r, field, t0_record);
      ASSERT_EQ(tr.has_value(), rr.has_value()) << field;
      if (!tr) continue;
      EXPECT_NEAR(*rr, *tr, kTimeTolerance) << field << " relative to the first call";
      worst = std::max(worst, std::abs(*rr - *tr));
    }
    if (is_shutdown) {
      // SIGTERM came while it was up: closed at the stop, before its real end.
      ++shutdown;
      EXPECT_TRUE(r["cause"].is_null());
      EXPECT_LT(*rel(r, "end", t0_record), *rel(t, "end", t0_truth));
      EXPECT_GT(*rel(r, "end", t0_record), *rel(t, "answer", t0_truth));
    } else {
      EXPECT_EQ(r["end_reason"], "released");
      EXPECT_EQ(r["cause"], t["cause"]);
      EXPECT_NEAR(r["duration_s"].get<double>(), t["duration_s"].get<double>(), kTimeTolerance);
    }
    answered += !t["answer"].is_null();
    with_digits += !str(t, "digits_in").empty() || !str(t, "digits_out").empty();
    ++matched;
  }
  EXPECT_EQ(shutdown, 1u) << "exactly one call was up at SIGTERM";
  EXPECT_GE(with_digits, 2u);
  std::cout << "[ vm_tap  ] " << matched << " of " << truth.size() << " calls matched (" << answered
            << " answered, " << with_digits << " with in-band digits, " << shutdown
            << " closed by the shutdown); worst time difference " << worst * 1000 << " ms\n";

  // The attack: the DISA leg and the outbound leg to the keyed number are flagged.
  for (const Json& r : records) {
    if (str(r, "called") == "2125550199") {
      EXPECT_EQ(str(r, "digits_in"), "4711#0112526123456#") << "unmasked (mask_digits = false)";
      EXPECT_FALSE(r["second_dial_tone"].is_null()) << "the DISA's second dial tone";
    }
    if (str(r, "called") == "0112526123456") {
      const std::string alerts = r["alerts"].dump();
      EXPECT_NE(alerts, "[]") << "the through-dialled leg raised no notice";
      std::cout << "[ vm_tap  ] alerts on the through-dialled leg: " << alerts << "\n";
    }
  }
}

// ---- lifecycle ------------------------------------------------------------------------------

TEST_F(VmTap, StatusCallsReloadAndShutdown) {
  const Json start = json_file(out_ / "status-start.json");
  ASSERT_TRUE(start.is_object()) << "no status at start";
  ASSERT_EQ(start["spans"].size(), 1u);
  EXPECT_EQ(start["spans"][0]["span"], kPbxSpan);
  EXPECT_EQ(start["spans"][0]["type"], "t1");
  EXPECT_EQ(start["spans"][0]["alarms"], "ok");
  EXPECT_EQ(start["reloads"], 0);

  const Json during = json_file(out_ / "status-during.json");
  ASSERT_TRUE(during.is_object());
  EXPECT_GE(during["calls_up"].get<int>(), 2) << during.dump();
  const Json& span = during["spans"][0];
  EXPECT_EQ(span["d_channel"], "up");
  EXPECT_GT(span["frames"].get<int>(), 20);
  EXPECT_GT(span["messages"].get<int>(), 10);
  EXPECT_EQ(span["malformed"], 0);
  EXPECT_EQ(span["bad_fcs"], 0);
  EXPECT_GT(span["audio_chunks"].get<long>(), 1000);
  // DAHDI_SPANSTAT on the real driver: a loc span has no framing or line code, and no line
  // errors (the counters are read every second).
  EXPECT_EQ(span["line"], "");
  EXPECT_EQ(span["line_errors"], (Json{{"bpv", 0}, {"crc", 0}, {"ebit", 0}, {"fas", 0}}));
  // `calls` ran a moment after `status`: a call may have started or ended in between.
  const Json calls = json_file(out_ / "calls-during.json");
  ASSERT_TRUE(calls.is_object());
  EXPECT_GE(calls["calls"].size(), 2u) << calls.dump();
  std::set<std::string> scenario_calls;
  for (const Json& t : json_lines(out_ / "truth.jsonl"))
    scenario_calls.insert(str(t, "calling") + " -> " + str(t, "called"));
  for (const Json& c : calls["calls"]) {
    EXPECT_EQ(c["span"], kPbxSpan);
    EXPECT_TRUE(scenario_calls.count(str(c, "calling") + " -> " + str(c, "called"))) << c.dump();
  }
  std::cout << "[ vm_tap  ] while calls were up (" << during["uptime_s"]
            << " s in): " << during["calls_up"] << " up, " << span["frames"] << " frames, "
            << span["audio_chunks"] << " audio chunks, " << span["overruns"] << " overruns\n";

  const Json good = json_file(out_ / "status-reload-good.json");
  EXPECT_EQ(good["reloads"], 1) << good.dump();
  EXPECT_EQ(good["pid"], start["pid"]);
  const Json bad = json_file(out_ / "status-reload-bad.json");
  EXPECT_EQ(bad["reloads"], 1) << "a refused reload must not count";
  EXPECT_EQ(bad["pid"], start["pid"]) << "the daemon kept running";
  const std::string log = slurp(out_ / "daemon1.log");
  EXPECT_TRUE(
      std::regex_search(log, std::regex("/etc/trunkwatch/trunkwatch\\.toml:[0-9]+:[0-9]+: ")))
      << log;
  EXPECT_NE(log.find("stays in force"), std::string::npos) << log;
  EXPECT_NE(log.find("configuration reloaded"), std::string::npos) << log;

  const Json up = json_file(out_ / "calls-before-term.json");
  ASSERT_TRUE(up.is_object());
  ASSERT_EQ(up["calls"].size(), 1u) << up.dump();
  EXPECT_EQ(up["calls"][0]["calling"], "2065550177");
  EXPECT_EQ(slurp(out_ / "daemon1.exit"), "0\n");
  std::size_t shutdown = 0;
  for (const Json& r : json_lines(out_ / "calls.jsonl"))
    if (str(r, "end_reason") == "shutdown") {
      ++shutdown;
      EXPECT_EQ(r["calling"], "2065550177");
    }
  EXPECT_EQ(shutdown, 1u);
  EXPECT_NE(log.find("stopping"), std::string::npos);

  const Json stats = json_file(out_ / "feed-stats.json");
  ASSERT_TRUE(stats.is_object()) << slurp(out_ / "feed.log");
  EXPECT_EQ(stats["errors"], 0);
  EXPECT_EQ(stats["dropped"], 0);
  EXPECT_EQ(stats["error"], "");
  std::cout << "[ vm_tap  ] feeder: " << stats.dump() << "\n";
}

// ---- alarms ---------------------------------------------------------------------------------

TEST_F(VmTap, AlarmsAndAVanishedSpan) {
  auto alarms = [&](const char* name) {
    const Json s = json_file(out_ / (std::string("status-") + name + ".json"));
    if (!s.is_object() || !s.contains("spans") || s["spans"].empty()) return std::string("?");
    return s["spans"][0].value("alarms", std::string("?"));
  };
  EXPECT_EQ(alarms("alarm-start"), "ok");
  EXPECT_EQ(alarms("alarm-red").rfind("red", 0), 0u) << alarms("alarm-red");
  EXPECT_EQ(alarms("alarm-half").rfind("red", 0), 0u)
      << "one side of the tap still in alarm: " << alarms("alarm-half");
  EXPECT_EQ(alarms("alarm-clear"), "ok");
  EXPECT_EQ(alarms("gone"), "red,los");
  EXPECT_EQ(alarms("back"), "ok");
  const std::string log = slurp(out_ / "daemon2.log");
  EXPECT_NE(log.find("the span is gone; retrying every 5 s"), std::string::npos) << log;
  EXPECT_NE(log.find("card span " + std::to_string(kPbxSpan) + " is back"), std::string::npos)
      << log;

  // The reopened span decodes: the call fed after the alarms is there, as truth says.
  const std::vector<Json> truth = json_lines(out_ / "truth-after.jsonl");
  const std::vector<Json> records = json_lines(out_ / "calls-after.jsonl");
  ASSERT_EQ(truth.size(), 1u);
  ASSERT_EQ(records.size(), 1u) << slurp(out_ / "daemon2.log");
  for (const char* f : {"channel", "direction", "calling", "called", "cause"})
    EXPECT_EQ(records[0][f], truth[0][f]) << f;
  EXPECT_FALSE(records[0]["answer"].is_null());
  EXPECT_EQ(records[0]["end_reason"], "released");
  const Json after = json_file(out_ / "status-after.json");
  EXPECT_EQ(after["spans"][0]["alarms"], "ok");
  EXPECT_EQ(after["spans"][0]["malformed"], 0);

  // SIGKILL: systemd restarted the daemon, the stored record stayed, the new one stops cleanly.
  const std::string restarted = slurp(out_ / "unit-restarted.txt");
  EXPECT_NE(restarted.find("NRestarts=1\n"), std::string::npos) << restarted;
  EXPECT_NE(restarted.find("ActiveState=active\n"), std::string::npos) << restarted;
  const std::vector<Json> final_records = json_lines(out_ / "calls-final.jsonl");
  ASSERT_EQ(final_records.size(), 1u);
  EXPECT_EQ(final_records[0], records[0]);
  EXPECT_EQ(slurp(out_ / "daemon3.exit"), "0\n");
}

}  // namespace
