// Record stores: real SQLite (round trip, hostile text, a writer killed mid-stream) and JSON.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "monitor/store/json_store.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::store {
namespace {

using namespace std::chrono_literals;
using calls::CallRecord;

const calls::Timestamp t0 =
    calls::Timestamp(std::chrono::sys_days(std::chrono::year{2027} / 1 / 5)) + 9h;

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("tw-store-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

CallRecord sample() {
  CallRecord r;
  r.span = 2;
  r.channel = 17;
  r.direction = calls::Direction::Inbound;
  r.calling = "4420794600";
  r.called = "5551234";
  r.start = t0;
  r.answer = t0 + 3s;
  r.end = t0 + 63500ms;
  r.duration_s = 60.5;
  r.cause = 16;
  r.alerts = {"after_hours"};
  r.cleared_by = hal::Side::Carrier;
  r.calling_name = "O'Brien\"; DROP TABLE calls; --";
  r.switch_type = "ni2";
  return r;
}

TEST(SqliteStore, RoundTripsEveryField) {
  const auto path = temp_path("roundtrip.sqlite");
  std::filesystem::remove(path);
  {
    SqliteStore db;
    ASSERT_EQ(db.open(path), "");
    ASSERT_EQ(db.insert(sample()), "");
    CallRecord unanswered;
    unanswered.span = 1;
    unanswered.start = t0 + 1min;
    unanswered.end = t0 + 1min + 5s;
    ASSERT_EQ(db.insert(unanswered), "");
  }
  SqliteStore db;
  ASSERT_EQ(db.open_readonly(path), "");
  std::vector<CallRecord> out;
  ASSERT_EQ(db.load(std::nullopt, out), "");
  ASSERT_EQ(out.size(), 2u);
  const CallRecord& r = out[0];
  EXPECT_EQ(r.span, 2);
  EXPECT_EQ(r.channel, 17);
  EXPECT_EQ(r.direction, calls::Direction::Inbound);
  EXPECT_EQ(r.calling, "4420794600");
  EXPECT_EQ(r.start, t0);
  EXPECT_EQ(r.answer, t0 + 3s);
  EXPECT_EQ(r.end, t0 + 63500ms);
  EXPECT_DOUBLE_EQ(r.duration_s, 60.5);
  EXPECT_EQ(r.cause, 16);
  EXPECT_EQ(r.alerts, std::vector<std::string>{"after_hours"});
  EXPECT_EQ(r.cleared_by, hal::Side::Carrier);
  EXPECT_EQ(r.calling_name, "O'Brien\"; DROP TABLE calls; --");
  EXPECT_FALSE(out[1].channel.has_value());
  EXPECT_FALSE(out[1].answer.has_value());
  EXPECT_FALSE(out[1].cause.has_value());

  std::vector<CallRecord> later;
  ASSERT_EQ(db.load(t0 + 30s, later), "");
  EXPECT_EQ(later.size(), 1u);

  // WAL mode is on.
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.handle(), "PRAGMA journal_mode", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
}

TEST(SqliteStore, RefusesAFileThatIsNotADatabase) {
  const auto path = temp_path("not-a-db.sqlite");
  { std::ofstream(path) << "hello, this is not SQLite\n"; }
  SqliteStore db;
  EXPECT_NE(db.open_readonly(path), "");
  SqliteStore missing;
  EXPECT_NE(missing.open_readonly(temp_path("missing.sqlite")), "");
}

TEST(SqliteStore, AWriterKilledMidStreamLosesNoCommittedRecord) {
  const auto path = temp_path("killed.sqlite");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    SqliteStore db;
    if (!db.open(path).empty()) _exit(1);
    for (int i = 0;; ++i) {
      CallRecord r = sample();
      r.call_ref = static_cast<std::uint16_t>(i);
      if (!db.insert(r).empty()) _exit(2);
      // Tell the parent this record is committed.
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(3);
    }
  }
  close(fds[1]);
  int committed = -1, value = 0;
  while (committed < 300 && read(fds[0], &value, sizeof value) == sizeof value) committed = value;
  kill(child, SIGKILL);
  while (read(fds[0], &value, sizeof value) == sizeof value) committed = value;
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  ASSERT_GE(committed, 300);

  SqliteStore db;
  ASSERT_EQ(db.open(path), "");  // recovers the WAL
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.handle(), "PRAGMA integrity_check", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "ok");
  sqlite3_finalize(s);
  std::vector<CallRecord> out;
  ASSERT_EQ(db.load(std::nullopt, out), "");
  EXPECT_GE(static_cast<int>(out.size()), committed + 1);
}

TEST(JsonLines, WritesOneCompleteObjectPerEndedCall) {
  std::ostringstream out;
  JsonLinesStore store(out);
  CallRecord r = sample();
  store.on_call_event({calls::CallEventType::Started, t0, &r});
  EXPECT_EQ(out.str(), "");
  store.on_call_event({calls::CallEventType::Ended, t0, &r});
  const auto j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["span"], 2);
  EXPECT_EQ(j["channel"], 17);
  EXPECT_EQ(j["direction"], "inbound");
  EXPECT_EQ(j["start"], "2027-01-05T09:00:00.000Z");
  EXPECT_EQ(j["answer"], "2027-01-05T09:00:03.000Z");
  EXPECT_EQ(j["end"], "2027-01-05T09:01:03.500Z");
  EXPECT_EQ(j["duration_s"], 60.5);
  EXPECT_EQ(j["cause"], 16);
  EXPECT_EQ(j["partial"], false);
  EXPECT_EQ(j["digits"], "");
  EXPECT_EQ(j["call_type"], "voice");
  EXPECT_EQ(j["alerts"], nlohmann::json::array({"after_hours"}));
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

// The daemon's spill file is read back: a record survives to_json and back unchanged.
TEST(JsonLines, ARecordReadsBackAsItWasWritten) {
  CallRecord r = sample();
  r.partial = true;
  r.end_reason = calls::EndReason::Shutdown;
  r.cause_location = 2;
  r.call_ref = 0x1234;
  r.calling_presentation = 1;
  r.redirecting = "5550000";
  r.connected = "5551234";
  r.bearer = "speech";
  r.keypad = "12";
  r.digits = "in:4711#";
  r.digits_in = "4711#";
  r.call_type = "fax";
  r.second_dial_tone = t0 + 10s;
  calls::InbandEvent digit;
  digit.time = t0 + 5s;
  digit.onset = digit.time;
  digit.from = hal::Side::Pbx;
  digit.digit = '7';
  digit.level_dbm0 = -12.5f;
  digit.duration_ms = 80;
  calls::InbandEvent tone;
  tone.kind = calls::InbandEvent::Kind::Tone;
  tone.time = t0 + 11s;
  tone.onset = t0 + 10s;
  tone.tone = "dial";
  r.inband = {digit, tone};
  const std::string line = to_json_line(to_json(r));
  const auto back = record_from_json(nlohmann::json::parse(line));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(to_json_line(to_json(*back)), line);
  EXPECT_FALSE(record_from_json(nlohmann::json::parse("{\"calls\": 3}")).has_value());
  EXPECT_FALSE(record_from_json(nlohmann::json::parse("[1, 2]")).has_value());
}

TEST(JsonLines, NeverThrowsOnBytesThatAreNotUtf8) {
  CallRecord r = sample();
  r.calling_name = std::string("\xff\xfe\x80 bad", 7);  // as if unsanitized
  std::string line;
  EXPECT_NO_THROW(line = to_json_line(to_json(r)));
  nlohmann::json parsed;
  EXPECT_NO_THROW(parsed = nlohmann::json::parse(line));
  EXPECT_TRUE(parsed.is_object());
}

}  // namespace
}  // namespace tw::store
