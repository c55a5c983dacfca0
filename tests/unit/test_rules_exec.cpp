// The exec action with hostile caller names: a real /bin/sh hook writes the argv and the
// environment it received; shell syntax in a name must arrive as literal text and never run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "monitor/calls/call_record.hpp"
#include "rules/engine.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw::rules {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Notices final : NoticeSink {
  std::vector<Notice> got;
  void on_notice(const Notice& n) override { got.push_back(n); }
};

class RulesExec : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir(std::string("rules-exec-") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    hook_ = (dir_ / "hook.sh").string();
    std::ofstream(hook_) << "#!/bin/sh\n"
                            "out=\"$1\"; shift\n"
                            "for a in \"$@\"; do printf 'ARG[%s]\\n' \"$a\"; done > \"$out.tmp\"\n"
                            "printf 'ENV[%s]\\n' \"$TW_CALLING_NAME\" >> \"$out.tmp\"\n"
                            "printf 'ENV[%s]\\n' \"$TW_CATEGORY\" >> \"$out.tmp\"\n"
                            "mv \"$out.tmp\" \"$out\"\n";
    fs::permissions(hook_, fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::shared_ptr<const Config> config(const std::string& extra_argv, double timeout = 30) {
    const std::string toml =
        "[notices]\nexec_timeout_s = " + std::to_string(timeout) +
        "\n[[policy]]\ncategory = \"premium\"\naction = [\"alert\", \"exec\"]\n"
        "exec = [\"" +
        hook_ + "\", \"" + (dir_ / "out").string() + "\"" + extra_argv + "]\n";
    ConfigOptions o;
    o.high_risk_search = {};
    ConfigResult r = parse_config(toml, "exec.toml", o);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    return r.config;
  }

  // One premium call from `name`, through the engine.
  std::vector<Notice> run(const std::shared_ptr<const Config>& cfg, const std::string& name,
                          EngineOptions o = {}) {
    Notices notices;
    Engine engine(cfg, notices, nullptr, std::move(o));
    calls::CallRecord r;
    r.span = 1;
    r.channel = 2;
    r.direction = calls::Direction::Outbound;
    r.calling = "2125550100";
    r.called = "19005551234";
    r.calling_name = name;
    r.start = *hal::parse_time("2027-01-05T10:00:00Z");
    r.call_ref = 7;
    calls::CallEvent e{calls::CallEventType::Started, *r.start, &r};
    engine.on_call_event(e);
    r.answer = *r.start + 2s;
    e = {calls::CallEventType::Answered, *r.answer, &r};
    engine.on_call_event(e);
    EXPECT_TRUE(engine.wait_for_hooks(10s));
    stats_ = engine.stats();
    return notices.got;
  }

  std::string output() {
    std::ifstream in(dir_ / "out");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
  std::string hook_;
  EngineStats stats_;
};

TEST_F(RulesExec, HostileNamesArriveAsLiteralArguments) {
  const std::string pwned = (dir_ / "pwned").string();
  // As the call tracker stores it: printable ASCII survives sanitizing, control bytes do not.
  const std::string name =
      calls::sanitize_wire_text("x$(touch " + pwned + ")`touch " + pwned + "`'; touch " + pwned +
                                "; echo '\n\x1b[2J{called}");
  ASSERT_EQ(name.find('\n'), std::string::npos);
  const auto notices = run(
      config(", \"{calling_name}\", \"name={calling_name}\", \"{called}\", \"{category}\""), name);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].actions, (std::vector<std::string>{"alert", "exec"}));
  EXPECT_EQ(stats_.hooks, 1u);
  EXPECT_EQ(output(), "ARG[" + name + "]\nARG[name=" + name +
                          "]\nARG[19005551234]\nARG[premium]\nENV[" + name + "]\nENV[premium]\n");
  // The placeholder inside the name stayed text, and nothing ran.
  EXPECT_NE(name.find("{called}"), std::string::npos);
  EXPECT_FALSE(fs::exists(pwned));
}

TEST_F(RulesExec, ArgvAndEnvironmentBuilders) {
  Notice n;
  n.category = Category::WangiriCallback;
  n.severity = Severity::Critical;
  n.identifier = "wangiri_callback:18765551234";
  n.rule = "wangiri-callback";
  n.message = "say $(id)";
  n.call.span = 2;
  n.call.channel = 9;
  n.call.calling = "2125550100";
  n.call.called = "18765551234";
  n.call.calling_name = "{message}";
  n.call.direction = calls::Direction::Outbound;
  EXPECT_EQ(
      hook_argv({"/bin/x", "{span}/{channel}", "{calling_name}", "{message}", "{nope}", "{"}, n),
      (std::vector<std::string>{"/bin/x", "2/9", "{message}", "say $(id)", "{nope}", "{"}));
  const auto env = hook_env(n);
  EXPECT_EQ(env[0].substr(0, 5), "PATH=");
  EXPECT_NE(std::find(env.begin(), env.end(), "TW_MESSAGE=say $(id)"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "TW_DIRECTION=outbound"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "TW_CHANNEL=9"), env.end());
  EXPECT_TRUE(env.back().starts_with("TW_NOTICE_JSON={\"time\":"));
}

TEST_F(RulesExec, FailuresAreReportedNotFatal) {
  // A hook that cannot start.
  {
    ConfigOptions o;
    o.high_risk_search = {};
    const auto r = parse_config(
        "[[policy]]\ncategory = \"premium\"\naction = [\"alert\", \"exec\"]\nexec = [\"" +
            (dir_ / "missing.sh").string() + "\"]\n",
        "exec.toml", o);
    ASSERT_TRUE(r.ok());
    const auto notices = run(r.config, "A");
    ASSERT_EQ(notices.size(), 1u);
    EXPECT_EQ(notices[0].actions, (std::vector<std::string>{"alert", "exec_failed"}));
    EXPECT_EQ(stats_.hook_failures, 1u);
  }
  // A hook that hangs is killed after the timeout.
  {
    std::ofstream(hook_) << "#!/bin/sh\nsleep 30\n";
    const auto start = std::chrono::steady_clock::now();
    HookRunner runner(200ms);
    ASSERT_EQ(runner.spawn({hook_}, {}), "");
    EXPECT_EQ(runner.running(), 1u);
    std::size_t failed = 0;
    while (runner.running() && std::chrono::steady_clock::now() - start < 5s) {
      failed += runner.reap();
      std::this_thread::sleep_for(20ms);
    }
    failed += runner.reap();  // the supervisor thread may have reaped it after the last call
    EXPECT_EQ(runner.running(), 0u);
    EXPECT_EQ(failed, 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  }
  EXPECT_NE(HookRunner().spawn({"relative/hook"}, {}), "");
}

// A flood of notices with an exec rule: at most notices.exec_max_running hooks at once, the
// rest wait in order and all run; beyond notices.exec_max_queued a hook is refused, counted
// and marked "exec_failed" on its notice, never dropped silently.
class RulesExecFlood : public RulesExec {
 protected:
  // Each hook marks itself running, counts how many are running, and leaves its count in
  // seen/NAME once it ends.
  void SetUp() override {
    RulesExec::SetUp();
    fs::create_directories(dir_ / "running");
    fs::create_directories(dir_ / "seen");
  }
  std::shared_ptr<const Config> flood_config(int max_running, int max_queued,
                                             const std::string& pause = "0.05") {
    std::ofstream(hook_) << "#!/bin/sh\n"
                            "touch \"$1/running/$2\"\n"
                            "sleep "
                         << pause
                         << "\n"
                            "n=$(ls \"$1/running\" | wc -l)\n"
                            "sleep "
                         << pause
                         << "\n"
                            "rm \"$1/running/$2\"\n"
                            "echo $n > \"$1/seen/$2\"\n";
    const std::string toml =
        "[notices]\nexec_max_running = " + std::to_string(max_running) +
        "\nexec_max_queued = " + std::to_string(max_queued) +
        // Only the destination notices: calls up at once and per-prefix
        // rates would add notices of their own.
        "\n[detectors.concurrency]\nenabled = false\n"
        "[detectors.call_rate]\nenabled = false\n" +
        "\n[[policy]]\ncategory = \"premium\"\naction = [\"alert\", \"exec\"]\n"
        "exec = [\"" +
        hook_ + "\", \"" + dir_.string() + "\", \"{called}\"]\n";
    ConfigOptions o;
    o.high_risk_search = {};
    ConfigResult r = parse_config(toml, "exec.toml", o);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    return r.config;
  }
  // `calls` premium calls to distinct numbers, one second apart, through one engine.
  std::vector<Notice> flood(const std::shared_ptr<const Config>& cfg, int calls) {
    Notices notices;
    Engine engine(cfg, notices);
    for (int i = 0; i < calls; ++i) {
      calls::CallRecord r;
      r.span = 1;
      r.channel = 1 + i % 23;
      r.direction = calls::Direction::Outbound;
      r.calling = "2125550100";
      r.called = "1900555" + std::to_string(1000 + i);
      r.start = *hal::parse_time("2027-01-05T10:00:00Z") + std::chrono::seconds(i);
      r.call_ref = static_cast<std::uint16_t>(100 + i);
      calls::CallEvent e{calls::CallEventType::Started, *r.start, &r};
      engine.on_call_event(e);
      r.answer = *r.start + 1s;
      e = {calls::CallEventType::Answered, *r.answer, &r};
      engine.on_call_event(e);
    }
    EXPECT_TRUE(engine.wait_for_hooks(60s));
    stats_ = engine.stats();
    return notices.got;
  }
  std::vector<int> seen() {
    std::vector<int> out;
    for (const auto& e : fs::directory_iterator(dir_ / "seen"))
      out.push_back(std::stoi(slurp_file(e.path())));
    return out;
  }
  static std::string slurp_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(RulesExecFlood, HooksRunWithBoundedConcurrencyAndAllRun) {
  const auto notices = flood(flood_config(3, 1000), 50);
  ASSERT_EQ(notices.size(), 50u);
  for (const auto& n : notices)
    EXPECT_EQ(n.actions, (std::vector<std::string>{"alert", "exec"})) << n.identifier;
  EXPECT_EQ(stats_.hooks, 50u);
  EXPECT_EQ(stats_.hook_failures, 0u);
  const auto counts = seen();
  EXPECT_EQ(counts.size(), 50u) << "every hook ran to its end";
  EXPECT_LE(*std::max_element(counts.begin(), counts.end()), 3);
  EXPECT_TRUE(fs::is_empty(dir_ / "running"));
}

TEST_F(RulesExecFlood, AFullQueueRefusesHooksVisibly) {
  // One running, five waiting: of twenty, six run and fourteen are refused.
  // The hooks take a second each: the twenty notices are all in before the first ends.
  const auto notices = flood(flood_config(1, 5, "0.5"), 20);
  ASSERT_EQ(notices.size(), 20u);
  std::size_t ran = 0, refused = 0;
  for (const auto& n : notices) {
    if (n.actions == std::vector<std::string>{"alert", "exec"}) ++ran;
    if (n.actions == std::vector<std::string>{"alert", "exec_failed"}) ++refused;
  }
  EXPECT_EQ(ran, 6u);
  EXPECT_EQ(refused, 14u);
  EXPECT_EQ(stats_.hooks, 6u);
  EXPECT_EQ(stats_.hook_failures, 14u);
  const auto counts = seen();
  EXPECT_EQ(counts.size(), 6u);
  EXPECT_EQ(*std::max_element(counts.begin(), counts.end()), 1);
}

TEST_F(RulesExec, BacktestModeRunsNothing) {
  EngineOptions o;
  o.run_hooks = false;
  const auto notices = run(config(", \"{calling}\""), "A", o);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].actions, (std::vector<std::string>{"alert", "would_exec"}));
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

}  // namespace
}  // namespace tw::rules
