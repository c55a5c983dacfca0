// Record stores: real SQLite (round trip, hostile text, a writer killed mid-stream) and JSON.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "monitor/store/json_store.hpp"
#include "monitor/store/sqlite_store.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw::store {
namespace {

using namespace std::chrono_literals;
using calls::CallRecord;

const calls::Timestamp t0 =
    calls::Timestamp(std::chrono::sys_days(std::chrono::year{2027} / 1 / 5)) + 9h;

std::string temp_path(const std::string& name) {
  return (test::temp_dir("store") / name).string();
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

// The record writer writes each line directly; it must be byte for byte what nlohmann wrote
// from to_json, for every field, every byte a string can hold, and odd numbers and times.
TEST(JsonLines, DirectWriterIsByteForByteTheJsonObjectsDump) {
  std::vector<CallRecord> records;
  records.push_back(CallRecord{});  // every optional empty, empty strings, no inband
  records.push_back(sample());
  CallRecord full = sample();
  full.partial = true;
  full.dialing_complete = true;
  full.numbers_truncated = true;
  full.end_reason = calls::EndReason::ChannelReused;
  full.cleared_by = hal::Side::Carrier;
  full.cause_location = 10;
  full.call_ref = 0xFFFF;
  full.calling_presentation = 3;
  full.calling_name = "Smith\\x07 \"J\"";
  full.redirecting = "5550000";
  full.connected = "5551234";
  full.bearer = "3.1khz-audio";
  full.keypad = "*12#";
  full.switch_type = "ni2";
  full.digits = "in:4711# out:0114420794600#";
  full.digits_in = "4711#";
  full.digits_out = "0114420794600#";
  full.call_type = "modem";
  full.alerts = {"after_hours", "high_risk_destination", ""};
  full.second_dial_tone = t0 + 10s + 999ms;
  for (const char digit : {'7', '#', '\0', '"', '\\', '\x1f', '\x7f', '\xff'}) {
    calls::InbandEvent e;
    e.time = t0 + 5s + 123us;
    e.onset = e.time;
    e.from = hal::Side::Pbx;
    e.kind = digit == '#' ? calls::InbandEvent::Kind::Mf : calls::InbandEvent::Kind::Dtmf;
    e.digit = digit;
    e.level_dbm0 = -12.34f;
    e.duration_ms = 79.6f;
    full.inband.push_back(e);
  }
  calls::InbandEvent tone;
  tone.kind = calls::InbandEvent::Kind::Tone;
  tone.time = t0 + 11s;
  tone.onset = t0 + 10s + 1ms;
  tone.tone = "fax-cng";
  full.inband.push_back(tone);
  records.push_back(full);

  // Numbers nlohmann writes in its own ways: whole ("60.0"), tiny, huge, negative, not finite.
  for (const double d :
       {0.0, -0.0, 1.0, 60.5, 0.001, 0.0004, 123456.789, 1e15, 1e16, 1e21, -3.25, 1e-7,
        std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    CallRecord r = sample();
    r.duration_s = d;
    calls::InbandEvent e;
    e.level_dbm0 = static_cast<float>(d);
    e.duration_ms = static_cast<float>(d * 1000);
    r.inband.push_back(e);
    records.push_back(r);
  }
  // Times: the epoch, before it, a leap day, the last millisecond of a year, years that are
  // not four digits.
  for (const calls::Timestamp t :
       {calls::Timestamp{}, calls::Timestamp{} - 1us, calls::Timestamp{} - 86400s * 365 * 30,
        calls::Timestamp(std::chrono::sys_days(std::chrono::year{2028} / 2 / 29)) + 23h + 59min,
        calls::Timestamp(std::chrono::sys_days(std::chrono::year{2026} / 12 / 31)) + 86399999ms,
        calls::Timestamp(std::chrono::sys_days(std::chrono::year{12000} / 1 / 1)),
        calls::Timestamp(std::chrono::sys_days(std::chrono::year{-5} / 3 / 1)) + 1ms}) {
    CallRecord r = sample();
    r.start = r.answer = r.end = r.second_dial_tone = t;
    records.push_back(r);
  }
  // Every byte alone, then random byte strings (invalid UTF-8 included: nlohmann replaces it).
  for (int b = 0; b < 256; ++b) {
    CallRecord r = sample();
    r.calling_name = std::string(1, static_cast<char>(b));
    r.called = "a" + std::string(1, static_cast<char>(b)) + "z";
    records.push_back(r);
  }
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    CallRecord r = sample();
    for (std::string* s : {&r.calling, &r.calling_name, &r.connected, &r.keypad}) {
      s->resize(rng() % 12);
      for (char& c : *s) c = static_cast<char>(i % 2 ? rng() % 256 : 0x18 + rng() % 0x70);
    }
    records.push_back(r);
  }

  for (const CallRecord& r : records) {
    std::string direct = "prefix";
    append_json_line(direct, r);
    ASSERT_EQ(direct, "prefix" + to_json_line(to_json(r)));
  }
}

// A stream buffer that takes `room` bytes and then fails with ENOSPC, as a disk that fills.
class FillingBuffer : public std::streambuf {
 public:
  explicit FillingBuffer(std::size_t room) : room_(room) {}
  std::string got;

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const auto take = std::min<std::streamsize>(n, static_cast<std::streamsize>(room_));
    got.append(s, static_cast<std::size_t>(take));
    room_ -= static_cast<std::size_t>(take);
    if (take < n) errno = ENOSPC;
    return take;
  }
  int_type overflow(int_type c) override {
    if (room_ == 0) {
      errno = ENOSPC;
      return traits_type::eof();
    }
    got += traits_type::to_char_type(c);
    --room_;
    return c;
  }

 private:
  std::size_t room_;
};

TEST(LineWriter, BatchHoldsLinesUntilFlushedOrFull) {
  std::ostringstream out;
  LineWriter w(out, LineWriter::Mode::Batch);
  EXPECT_EQ(w.write("one"), "");
  EXPECT_EQ(w.write_with([](std::string& b) { b += "two"; }), "");
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(w.held(), 2u);
  EXPECT_EQ(w.written(), 0u);
  EXPECT_EQ(w.flush(), "");
  EXPECT_EQ(out.str(), "one\ntwo\n");
  EXPECT_EQ(w.written(), 2u);
  EXPECT_EQ(w.held(), 0u);

  // A full batch goes out by itself.
  const std::string line(999, 'x');
  std::size_t lines = 0;
  while (w.held() * 1000 + 1000 < LineWriter::kBatchBytes) {
    w.write(line);
    ++lines;
  }
  EXPECT_EQ(out.str().size(), 8u);
  w.write(line);
  EXPECT_EQ(out.str().size(), 8u + (lines + 1) * 1000);
  EXPECT_EQ(w.written(), 2u + lines + 1);
}

TEST(LineWriter, EachLineGoesOutAtOnce) {
  std::ostringstream out;
  LineWriter w(out);
  EXPECT_EQ(w.write("one"), "");
  EXPECT_EQ(out.str(), "one\n");
  EXPECT_EQ(w.written(), 1u);
}

// A batch that fits only in part: the lines that got there whole are written, the cut one and
// those after it are lost, the same count as writing each alone would give.
TEST(LineWriter, ABatchCutShortCountsTheWholeLinesThatGotThere) {
  FillingBuffer buffer(25);
  std::ostream out(&buffer);
  LineWriter w(out, LineWriter::Mode::Batch);
  for (const char* line : {"aaaaaaaaa", "bbbbbbbbb", "ccccccccc", "ddddddddd"}) w.write(line);
  EXPECT_EQ(w.flush(), std::strerror(ENOSPC));
  EXPECT_EQ(buffer.got, "aaaaaaaaa\nbbbbbbbbb\nccccc");
  EXPECT_EQ(w.written(), 2u);
  EXPECT_EQ(w.failed(), 2u);
  EXPECT_EQ(w.last_failed(), 2u);
  EXPECT_EQ(w.last_error(), std::strerror(ENOSPC));
  // The next batch is tried, and fails whole.
  w.write("eeeeeeeee");
  EXPECT_EQ(w.flush(), std::strerror(ENOSPC));
  EXPECT_EQ(w.written(), 2u);
  EXPECT_EQ(w.failed(), 3u);
  EXPECT_EQ(w.last_failed(), 1u);
  EXPECT_EQ(w.flush(), "") << "nothing held";
}

// Through a real file opened as the commands open theirs: a batch reaches the file in one
// piece and the counts match what is in it.
TEST(LineWriter, BatchToAFileWritesEveryLine) {
  const std::string path = temp_path("batch.jsonl");
  std::vector<std::string> lines;
  {
    std::ofstream file;
    file.rdbuf()->pubsetbuf(nullptr, 0);
    file.open(path, std::ios::out | std::ios::trunc);
    JsonLinesStore store(file, path, LineWriter::Mode::Batch);
    for (int i = 0; i < 500; ++i) {
      CallRecord r = sample();
      r.call_ref = static_cast<std::uint16_t>(i);
      store.on_call_event({calls::CallEventType::Ended, t0, &r});
      lines.push_back(to_json_line(to_json(r)));
    }
    EXPECT_LT(std::filesystem::file_size(path), 500u * lines.front().size()) << "some held";
    EXPECT_EQ(store.flush(), "");
    EXPECT_EQ(store.lines().written(), 500u);
    EXPECT_EQ(store.lines().failed(), 0u);
  }
  std::ifstream in(path);
  std::string line;
  std::size_t i = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(i, lines.size());
    EXPECT_EQ(line, lines[i++]);
  }
  EXPECT_EQ(i, 500u);
}

}  // namespace
}  // namespace tw::store
