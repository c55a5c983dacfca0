// The configuration file: defaults, every validation error with its position, --set.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "rules/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw::rules {
namespace {

const std::string kHighRisk = std::string(TW_SOURCE_DIR) + "/data/high-risk-destinations.toml";

ConfigOptions options(std::vector<std::string> overrides = {}) {
  ConfigOptions o;
  o.overrides = std::move(overrides);
  o.high_risk_search = {kHighRisk};
  return o;
}

ConfigResult parse(const std::string& text, std::vector<std::string> overrides = {}) {
  return parse_config(text, "t.toml", options(std::move(overrides)));
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += e + "\n";
  return s;
}

// Exactly one error, and it is `expected` (compared up to the end of `expected`).
void expect_error(const std::string& text, const std::string& expected,
                  std::vector<std::string> overrides = {}) {
  SCOPED_TRACE(text);
  const ConfigResult r = parse(text, std::move(overrides));
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << joined(r.errors);
  EXPECT_EQ(r.errors[0].substr(0, expected.size()), expected) << r.errors[0];
}

TEST(RulesConfig, NoFileMeansEveryDefault) {
  const ConfigResult r = load_config("", options());
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << joined(r.warnings);
  const Config& c = *r.config;
  EXPECT_EQ(c.site.timezone, "UTC");
  EXPECT_EQ(c.site.business_hours, "Mon-Fri 08:00-18:00");
  EXPECT_TRUE(c.site.holidays.empty());
  EXPECT_TRUE(c.site.remote_access.empty());
  EXPECT_EQ(c.high_risk_file, kHighRisk);
  EXPECT_GT(c.classifier.high_risk().entries.size(), 30u);
  ASSERT_EQ(c.profiles.size(), 1u);
  EXPECT_EQ(c.profiles[0].name, "default");
  EXPECT_FALSE(c.profiles[0].allowed_classes.has(NumberClass::Premium));
  EXPECT_TRUE(c.profiles[0].allowed_classes.has(NumberClass::International));
  EXPECT_EQ(c.site_rules, 0u);
  EXPECT_EQ(c.rules.size(), default_policy().size());
  EXPECT_EQ(c.rules.front().name, "high-risk-destination");
  EXPECT_EQ(c.rules.back().name, "log-the-rest");
  EXPECT_EQ(c.notices.suppress_s, 3600);
  EXPECT_TRUE(c.notices.mask_digits);
  EXPECT_EQ(c.detectors.brute_force.levels.warning, 5);
  EXPECT_EQ(c.detectors.brute_force.levels.critical, 10);
  EXPECT_EQ(c.detectors.brute_force.window_s, 180);
  EXPECT_EQ(c.detectors.sequential_short_calls.short_call_s, 30);
  EXPECT_EQ(c.detectors.span_down.after_s, 60);
  ASSERT_NE(c.detectors.concurrency.classes.find(NumberClass::International), nullptr);
  EXPECT_EQ(c.detectors.concurrency.classes.find(NumberClass::International)->warning, 4);
  EXPECT_EQ(c.detectors.minutes_cap.classes.find(NumberClass::International)->critical, 240);
  // A business-hours instant and an evening one in UTC.
  EXPECT_EQ(c.calendar.window(*hal::parse_time("2027-01-05T10:00:00Z")), TimeWindow::BusinessHours);
  EXPECT_EQ(c.calendar.window(*hal::parse_time("2027-01-05T18:00:00Z")), TimeWindow::AfterHours);
}

TEST(RulesConfig, MissingHighRiskFileIsAWarningNotAnError) {
  ConfigOptions o;
  o.high_risk_search = {"/nonexistent/high-risk.toml"};
  const ConfigResult r = parse_config("", "t.toml", o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("no high-risk destination file"), std::string::npos);
  EXPECT_TRUE(r.config->classifier.high_risk().entries.empty());
}

TEST(RulesConfig, ShippedExampleIsValidAndMeansWhatItSays) {
  const ConfigResult r =
      load_config(std::string(TW_SOURCE_DIR) + "/examples/trunkwatch.toml", options());
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << joined(r.warnings);
  const Config& c = *r.config;
  EXPECT_EQ(c.site.timezone, "America/New_York");
  EXPECT_FALSE(c.site.remote_access.empty());
  EXPECT_GT(c.profiles.size(), 1u);
  EXPECT_GT(c.site_rules, 0u);
  EXPECT_EQ(c.rules.size(), c.site_rules + default_policy().size());
}

TEST(RulesConfig, FullFileIsRead) {
  const ConfigResult r = parse(R"(
[site]
name = "HQ"
timezone = "Europe/Paris"
business_hours = "Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-12:00"
holidays = [2027-12-25, "01-01"]
remote_access = ["0145678900", "01456789*"]

[numbers]
country_code = "33"
international_prefixes = ["00"]
premium = ["08", "3617"]
high_risk = ["999"]

[lines]
voice_only = ["1", "2:1-12,15"]

[notices]
suppress_s = 600
digest_s = 900
mask_digits = false

[detectors.concurrency]
classes = { international = { warning = 2, critical = 3 }, toll_free = { critical = 9 } }
per_span = { warning = 20, critical = 30 }

[detectors.call_rate.per_prefix]
window_s = 1800
digits = 5
classes = ["international"]

[detectors.wangiri_callback]
enabled = false

[[profile]]
name = "lobby"
numbers = ["0145678910-0145678919"]
allowed_classes = ["local", "national", "emergency"]
hours = "business_hours"
daily_minutes = { warning = 30, critical = 60 }

[[profile]]
name = "default"
allowed_classes = ["local", "national", "international", "toll_free", "emergency"]

[[policy]]
name = "lobby-intl"
category = "international"
profile = "lobby"
direction = "outbound"
window = ["after_hours", "holiday"]
call_type = ["voice"]
min_severity = "warning"
action = ["alert", "hangup", "exec"]
exec = ["/usr/local/bin/page-admin", "{category}"]
)");
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.site.name, "HQ");
  EXPECT_EQ(c.site.holidays, (std::vector<std::string>{"2027-12-25", "01-01"}));
  EXPECT_TRUE(c.is_remote_access("0145678900"));
  EXPECT_TRUE(c.is_remote_access("0145678955"));
  EXPECT_TRUE(c.is_remote_access("78900"));  // a short DNIS of the same number
  EXPECT_FALSE(c.is_remote_access("0145670000"));
  EXPECT_TRUE(c.voice_only_line(1, 23));
  EXPECT_TRUE(c.voice_only_line(2, 15));
  EXPECT_FALSE(c.voice_only_line(2, 13));
  EXPECT_FALSE(c.voice_only_line(3, 1));
  EXPECT_EQ(c.notices.suppress_s, 600);
  EXPECT_FALSE(c.notices.mask_digits);
  EXPECT_EQ(c.detectors.concurrency.classes.find(NumberClass::International)->critical, 3);
  EXPECT_EQ(c.detectors.concurrency.classes.find(NumberClass::TollFree)->critical, 9);
  // Classes the file does not name keep their defaults.
  EXPECT_EQ(c.detectors.concurrency.classes.find(NumberClass::Premium)->warning, 2);
  EXPECT_EQ(c.detectors.concurrency.per_span.critical, 30);
  EXPECT_EQ(c.detectors.call_rate.prefix_digits, 5);
  EXPECT_EQ(c.detectors.call_rate.prefix_classes, ClassSet::of({NumberClass::International}));
  EXPECT_FALSE(c.detectors.wangiri_callback.enabled);
  ASSERT_EQ(c.profiles.size(), 2u);
  EXPECT_EQ(c.profile_for("0145678915").name, "lobby");
  EXPECT_EQ(c.profile_for("0145678920").name, "default");
  EXPECT_FALSE(c.profiles[1].allowed_classes.has(NumberClass::Unknown));
  EXPECT_EQ(c.profiles[0].daily_minutes.critical, 60);
  ASSERT_EQ(c.site_rules, 1u);
  const PolicyRule& rule = c.rules[0];
  EXPECT_EQ(rule.name, "lobby-intl");
  EXPECT_EQ(rule.categories, std::vector<Category>{Category::International});
  EXPECT_EQ(rule.profiles, std::vector<std::string>{"lobby"});
  EXPECT_EQ(rule.direction, calls::Direction::Outbound);
  EXPECT_EQ(rule.min_severity, Severity::Warning);
  EXPECT_EQ(rule.actions, (std::vector<Action>{Action::Alert, Action::Hangup, Action::Exec}));
  EXPECT_EQ(rule.exec, (std::vector<std::string>{"/usr/local/bin/page-admin", "{category}"}));
  // Paris: 12:30 local on a Monday is the lunch break; 09:30 on Saturday is open.
  EXPECT_EQ(c.calendar.window(*hal::parse_time("2027-01-04T11:30:00Z")), TimeWindow::AfterHours);
  EXPECT_EQ(c.calendar.window(*hal::parse_time("2027-01-09T08:30:00Z")), TimeWindow::BusinessHours);
  EXPECT_EQ(c.calendar.window(*hal::parse_time("2027-01-01T10:00:00Z")), TimeWindow::Holiday);
  // National numbers get the site's country code; the site's high-risk prefix applies.
  const NumberInfo n = c.classifier.classify("0836123456");
  EXPECT_EQ(n.primary, NumberClass::Premium);
  EXPECT_EQ(n.e164, "33836123456");
  EXPECT_TRUE(c.classifier.classify("00999123").is(NumberClass::HighRisk));
}

// Every kind of mistake, each pointing at the offending key or value.
TEST(RulesConfig, EveryErrorHasItsPosition) {
  expect_error("bogus = 1\n", "t.toml:1:1: unknown key 'bogus' in the top level");
  expect_error("[site]\ntimezon = \"UTC\"\n", "t.toml:2:1: unknown key 'timezon' in [site]");
  expect_error("[site]\ntimezone = 5\n", "t.toml:2:12: 'timezone' must be a string");
  expect_error("[site]\ntimezone = \"Mars/Olympus_Mons\"\n",
               "t.toml:2:12: site.timezone: unknown time zone 'Mars/Olympus_Mons'");
  // Positions inside the business-hours string point at the bad part.
  expect_error("[site]\nbusiness_hours = \"Mon-Fry 08:00-18:00\"\n",
               "t.toml:2:23: site.business_hours: unknown day 'Fry'");
  expect_error("[site]\nbusiness_hours = \"Mon-Fri 08:00-18:00; Sat 12:00-09:00\"\n",
               "t.toml:2:44: site.business_hours: bad time range '12:00-09:00'");
  expect_error("[site]\nbusiness_hours = \"Mon-Fri 08:00-25:00\"\n",
               "t.toml:2:33: site.business_hours: bad time '25:00'");
  expect_error("[site]\nbusiness_hours = \"Mon-Fri 8-18\"\n",
               "t.toml:2:27: site.business_hours: expected a time HH:MM");
  expect_error("[site]\nholidays = [\"2027-12-25\", \"12-32\"]\n",
               "t.toml:2:27: holiday '12-32' is not a date");
  expect_error("[site]\nremote_access = [\"21255501x9\"]\n",
               "t.toml:2:18: site.remote_access: a number must be digits");
  expect_error("[numbers]\ncountry_code = 1\n",
               "t.toml:2:16: 'country_code' must be 1-3 digits as a string");
  expect_error("[numbers]\nnanp_international = [\"809\", \"8091\"]\n",
               "t.toml:2:30: 'nanp_international' entries are 3-digit codes");
  expect_error("[numbers]\npremium = [900]\n",
               "t.toml:2:12: each entry of 'premium' must be a string");
  expect_error("[numbers]\nhigh_risk_file = \"/nonexistent/hr.toml\"\n",
               "t.toml:2:18: numbers.high_risk_file: cannot read '/nonexistent/hr.toml'");
  expect_error("[lines]\nvoice_only = [\"1:0-40\"]\n",
               "t.toml:2:15: lines.voice_only: '1:0-40' is not SPAN or SPAN:CHANNELS");
  expect_error("[notices]\nsuppress_s = -1\n", "t.toml:2:14: 'suppress_s' must be between 0");
  expect_error("[notices]\nmask_digits = \"no\"\n",
               "t.toml:2:15: 'mask_digits' must be true or false");
  expect_error("[detectors]\nbrute_forse = {}\n",
               "t.toml:2:1: unknown key 'brute_forse' in [detectors]");
  expect_error("[detectors.brute_force]\nwarning = 11\n",
               "t.toml:1:1: 'detectors.brute_force': warning (11) must not be above critical (10)");
  expect_error("[detectors.brute_force]\nwarning = 2.5\n",
               "t.toml:2:11: 'warning' must be an integer");
  expect_error("[detectors.concurrency.classes]\nintl = { warning = 1 }\n",
               "t.toml:2:1: unknown class 'intl' in detectors.concurrency.classes");
  expect_error("[detectors.concurrency.classes]\npremium = { warning = 1, critcal = 2 }\n",
               "t.toml:2:26: unknown key 'critcal' in detectors.concurrency.classes.premium");
  expect_error("[detectors.call_rate.per_prefix]\nclasses = [\"international\", \"satellite\"]\n",
               "t.toml:2:29: unknown class 'satellite'");
  expect_error("[detectors.span_down]\nafter_s = \"60\"\n",
               "t.toml:2:11: 'after_s' must be a number");
  expect_error("[[profile]]\nnumbers = [\"1*\"]\n", "t.toml:1:1: a profile needs a 'name'");
  expect_error(
      "[[profile]]\nname = \"a\"\nnumbers = [\"1*\"]\n[[profile]]\nname = \"a\"\nnumbers = "
      "[\"2*\"]\n",
      "t.toml:5:8: there is already a profile named 'a'");
  expect_error("[[profile]]\nname = \"a\"\nnumbers = [\"1*\"]\nallowed_classes = [\"intl\"]\n",
               "t.toml:4:20: unknown class 'intl'");
  expect_error("[[profile]]\nname = \"a\"\nnumbers = [\"1*\"]\nhours = \"Mon-Fri 09:00\"\n",
               "t.toml:4:23: hours: expected '-' between the start and end of a time range");
  expect_error("[[profile]]\nname = \"default\"\nnumbers = [\"1*\"]\n",
               "t.toml:3:11: the default profile takes every number");
  expect_error("[[policy]]\ncategory = \"toll_fraud\"\naction = \"alert\"\n",
               "t.toml:2:12: unknown category 'toll_fraud'");
  expect_error("[[policy]]\naction = [\"alert\", \"email\"]\n",
               "t.toml:2:20: unknown action 'email'");
  expect_error("[[policy]]\nprofile = \"vip\"\naction = \"log\"\n",
               "t.toml:2:11: unknown profile 'vip'");
  expect_error("[[policy]]\nwindow = \"night\"\naction = \"log\"\n",
               "t.toml:2:10: unknown window 'night'");
  expect_error("[[policy]]\ncall_type = \"video\"\naction = \"log\"\n",
               "t.toml:2:13: unknown call_type 'video'");
  expect_error("[[policy]]\ndirection = \"out\"\naction = \"log\"\n",
               "t.toml:2:13: 'direction' must be \"outbound\", \"inbound\" or \"any\"");
  expect_error("[[policy]]\nmin_severity = \"high\"\naction = \"log\"\n",
               "t.toml:2:16: 'min_severity' must be \"info\", \"warning\" or \"critical\"");
  expect_error("[[policy]]\ncategory = \"premium\"\n",
               "t.toml:1:1: policy rule 'rule-1' needs an 'action'");
  expect_error("[[policy]]\naction = [\"allow\", \"log\"]\n",
               "t.toml:2:10: 'allow' cannot be combined with other actions");
  expect_error("[[policy]]\naction = \"exec\"\nexec = [\"notify-admin\"]\n",
               "t.toml:3:8: 'exec' must start with the absolute path");
  expect_error("[[policy]]\naction = \"alert\"\nexec = [\"/bin/true\"]\n",
               "t.toml:3:8: 'exec' is set but 'action' has no \"exec\"");
  expect_error("[[policy]]\naction = \"exec\"\n", "t.toml:2:10: action \"exec\" needs 'exec'");
  expect_error("[[policy]]\nactoin = \"log\"\naction = \"log\"\n",
               "t.toml:2:1: unknown key 'actoin' in [[policy]]");
  expect_error("policy = 3\n", "t.toml:1:10: 'policy' must be an array of tables");
  // TOML syntax errors come from the parser, with its position.
  expect_error("[site]\ntimezone = \"UTC\n", "t.toml:2:");
}

TEST(RulesConfig, AllErrorsAreReportedInFileOrder) {
  const ConfigResult r = parse(R"([site]
timezone = "Nowhere/Special"
colour = "blue"
[detectors.brute_force]
window_s = 0
[[policy]]
action = "explode"
)");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 4u) << joined(r.errors);
  EXPECT_TRUE(r.errors[0].starts_with("t.toml:2:12: site.timezone: unknown time zone"))
      << r.errors[0];
  EXPECT_TRUE(r.errors[1].starts_with("t.toml:3:1: unknown key 'colour'")) << r.errors[1];
  EXPECT_TRUE(r.errors[2].starts_with("t.toml:5:12: 'window_s' must be between 1")) << r.errors[2];
  EXPECT_TRUE(r.errors[3].starts_with("t.toml:7:10: unknown action 'explode'")) << r.errors[3];
}

TEST(RulesConfig, HighRiskFileErrorsPointIntoThatFile) {
  const auto dir = test::temp_dir("rules-cfg");
  std::ofstream(dir / "hr.toml") << "[[destination]]\nname = \"X\"\nprefixes = [\"+53\"]\n"
                                    "[[destination]]\nname = \"Y\"\nranges = [\"4490-449\"]\n";
  std::ofstream(dir / "site.toml") << "[numbers]\nhigh_risk_file = \"hr.toml\"\n";
  // A relative path is relative to the config file.
  const ConfigResult r = load_config((dir / "site.toml").string(), options());
  ASSERT_EQ(r.errors.size(), 2u) << joined(r.errors);
  EXPECT_EQ(r.errors[0],
            (dir / "hr.toml").string() +
                ":3:13: a prefix must be a string of digits (E.164 without '+', \"53\")");
  EXPECT_TRUE(r.errors[1].starts_with((dir / "hr.toml").string() + ":6:11: a range must be"))
      << r.errors[1];
  std::filesystem::remove_all(dir);
}

TEST(RulesConfig, SetOverridesAnyKeyTypedByTheSchema) {
  const std::string file = R"([site]
timezone = "Europe/Paris"
[[policy]]
name = "mine"
category = "premium"
action = "alert"
)";
  const ConfigResult r = parse(
      file, {"site.timezone=America/New_York", "site.remote_access=2125550199",
             "site.holidays=2027-12-25", "detectors.brute_force.warning=3",
             "notices.mask_digits=false", "detectors.concurrency.classes.international.critical=5",
             "detectors.call_rate.per_source.window_s=90.5", "policy.0.action=log",
             "site.name=a \"quoted\" \\ name", "numbers.premium=[\"0900\", \"0906\"]"});
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.site.timezone, "America/New_York");  // the override wins over the file
  EXPECT_EQ(c.site.remote_access, std::vector<std::string>{"2125550199"});  // one-element list
  EXPECT_EQ(c.site.holidays, std::vector<std::string>{"2027-12-25"});
  EXPECT_EQ(c.detectors.brute_force.levels.warning, 3);
  EXPECT_FALSE(c.notices.mask_digits);
  EXPECT_EQ(c.detectors.concurrency.classes.find(NumberClass::International)->critical, 5);
  EXPECT_EQ(c.detectors.concurrency.classes.find(NumberClass::International)->warning, 4);
  EXPECT_DOUBLE_EQ(c.detectors.call_rate.per_source.window_s, 90.5);
  EXPECT_EQ(c.rules[0].actions, std::vector<Action>{Action::Log});
  EXPECT_EQ(c.site.name, "a \"quoted\" \\ name");
  EXPECT_EQ(c.classifier.plan().extra_premium, (std::vector<std::string>{"0900", "0906"}));

  const ConfigResult two = parse("", {"site.remote_access=[\"2125550199\", \"2125550198\"]"});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two.config->site.remote_access.size(), 2u);
}

TEST(RulesConfig, SetErrorsNameTheOverride) {
  expect_error("", "--set site.tz=UTC: unknown key 'site.tz'", {"site.tz=UTC"});
  expect_error("", "--set site.timezone: expected KEY=VALUE", {"site.timezone"});
  expect_error("", "--set detectors.brute_force.warning=abc: 'abc' is not a valid value",
               {"detectors.brute_force.warning=abc"});
  expect_error("", "--set notices.mask_digits=3: 'mask_digits' must be true or false",
               {"notices.mask_digits=3"});
  expect_error("", "--set site.timezone=Mars: site.timezone: unknown time zone 'Mars'",
               {"site.timezone=Mars"});
  expect_error("", "--set policy.0.action=log: there is no [[policy]] entry 0",
               {"policy.0.action=log"});
  expect_error("[[policy]]\naction = \"log\"\n",
               "--set policy.3.action=log: there is no [[policy]] entry 3 (1 in the file",
               {"policy.3.action=log"});
  expect_error("", "--set detectors.warp_drive.enabled=true: unknown key",
               {"detectors.warp_drive.enabled=true"});
  expect_error("",
               "--set site.business_hours=Mon-Fri 18:00-08:00: site.business_hours: bad time range",
               {"site.business_hours=Mon-Fri 18:00-08:00"});
}

TEST(RulesConfig, KeysListCoversTheSchema) {
  const auto keys = config_keys();
  auto has = [&](const std::string& k) {
    return std::any_of(keys.begin(), keys.end(),
                       [&](const std::string& s) { return s.starts_with(k + " "); });
  };
  for (const char* k :
       {"site.timezone", "site.business_hours", "site.holidays", "site.remote_access",
        "numbers.high_risk_file", "lines.voice_only", "notices.suppress_s",
        "detectors.brute_force.enabled", "detectors.span_down.enabled", "profile.#.hours",
        "policy.#.action", "span.#.switchtype"})
    EXPECT_TRUE(has(k)) << k;
  // Each key with its type, default, range or words, and help, the default read from the
  // settings structs.
  auto line = [&](const std::string& k) {
    const auto it = std::find_if(keys.begin(), keys.end(),
                                 [&](const std::string& s) { return s.starts_with(k + " "); });
    return it == keys.end() ? std::string() : *it;
  };
  EXPECT_EQ(line("notices.exec_max_running"),
            "notices.exec_max_running (integer: hooks), default 4, 1-256: exec hooks running at "
            "once; the next ones wait in order and start as running ones end (a flood of notices "
            "never forks hundreds of processes at once)");
  EXPECT_EQ(line("email.starttls"),
            "email.starttls (string), default \"try\", one of \"try\", \"required\", \"none\": "
            "STARTTLS on `smtp://`: use it when offered, insist on it, or never");
  EXPECT_EQ(line("email.retry_min_s"),
            "email.retry_min_s (number: seconds), default 30, 0.01-86400: the first wait between "
            "delivery attempts; it doubles up to `retry_max_s`");
  EXPECT_EQ(line("detectors.concurrency.classes.*.critical"),
            "detectors.concurrency.classes.*.critical (integer: calls), default international 8, "
            "premium 4, high_risk 3, 0-1000000: the critical level (0 = off)");
  EXPECT_EQ(line("numbers.premium_npa"),
            "numbers.premium_npa (list of strings: area codes), default [\"900\", \"976\"]: "
            "premium-rate area codes");
  EXPECT_EQ(line("profile.#.name"),
            "profile.#.name (string: name), default required: letters, digits, `_ - .`; unique");
}

// A choice of words is read into its enum; a word outside it names the allowed ones.
TEST(RulesConfig, WordsBecomeEnums) {
  const ConfigResult r = parse(
      "[email]\ntransport = \"maildir\"\nstarttls = \"none\"\n[daemon]\nlog_target = "
      "\"syslog\"\n",
      {"daemon.log_level=debug"});
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  EXPECT_EQ(r.config->email.transport, EmailTransport::Maildir);
  EXPECT_EQ(r.config->email.starttls, StartTls::None);
  EXPECT_EQ(r.config->daemon.log_target, LogTarget::Syslog);
  EXPECT_EQ(r.config->daemon.log_level, LogLevel::Debug);
  EXPECT_EQ(to_string(LogLevel::Warning), "warning");
  EXPECT_EQ(parse_enum<StartTls>("required"), StartTls::Required);
  EXPECT_EQ(parse_enum<StartTls>("always"), std::nullopt);
  expect_error("[email]\ntransport = \"pigeon\"\n",
               "t.toml:2:13: 'transport' must be one of \"sendmail\", \"smtp\", \"maildir\"");
  expect_error("",
               "--set daemon.log_level=loud: 'log_level' must be one of \"debug\", \"info\", "
               "\"warning\", \"error\"",
               {"daemon.log_level=loud"});
  expect_error("[[span]]\nspan = 1\ncarrier_span = 2\nmode = \"inline\"\n",
               "t.toml:4:8: 'mode' must be \"tap\"");
}

// The detectors and their switches come from the declarations (check-config's summary).
TEST(RulesConfig, DetectorSwitchesFollowTheDeclarations) {
  const ConfigResult r = parse("[detectors.fax_modem]\nenabled = false\n");
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  const auto switches = detector_switches(*r.config);
  ASSERT_EQ(switches.size(), 14u);
  EXPECT_EQ(switches.front(), (std::pair<std::string, bool>{"destination", true}));
  EXPECT_EQ(switches[11], (std::pair<std::string, bool>{"fax_modem", false}));
  EXPECT_EQ(switches[12], (std::pair<std::string, bool>{"span_down", true}));
  EXPECT_EQ(switches.back(), (std::pair<std::string, bool>{"decode_anomaly_burst", true}));
}

// [[span]] keys are declared like every other: --set reaches them.
TEST(RulesConfig, SetReachesSpanEntries) {
  const ConfigResult r = parse("[[span]]\nspan = 1\ncarrier_span = 2\n",
                               {"span.0.name=main PRI", "span.0.switchtype=dms100"});
  ASSERT_TRUE(r.ok()) << joined(r.errors);
  ASSERT_EQ(r.config->spans.size(), 1u);
  EXPECT_EQ(r.config->spans[0].name, "main PRI");
  EXPECT_EQ(r.config->spans[0].switch_type, hal::SwitchType::Dms100);
}

// docs/config.md shows each section's keys exactly as the declarations give them
// (`trunkwatch check-config --keys --format markdown`): a key added or changed without its
// docs fails here.
TEST(RulesConfig, DocsKeyTablesAreTheGeneratedOnes) {
  std::ifstream in(std::string(TW_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in.is_open());
  const std::string docs((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto sections = config_sections();
  EXPECT_EQ(sections,
            (std::vector<std::string>{"site", "numbers", "lines", "notices", "email", "detectors",
                                      "profile", "policy", "daemon", "span"}));
  std::size_t tables = 0;
  for (auto at = docs.find("<!-- generated by"); at != std::string::npos;
       at = docs.find("<!-- generated by", at + 1))
    ++tables;
  EXPECT_EQ(tables, sections.size());
  for (const std::string& section : sections) {
    const std::string table = config_keys_markdown(section);
    EXPECT_NE(docs.find(table), std::string::npos)
        << "docs/config.md: the table of [" << section
        << "] is not the generated one (trunkwatch check-config --keys --format markdown):\n"
        << table;
  }
}

}  // namespace
}  // namespace tw::rules
