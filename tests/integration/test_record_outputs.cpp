// Records and notices that cannot be written are an error the user sees: the batch commands
// (the real binary) on a full device, under a file size limit, with standard output full.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>

#include "tests/support/cli_harness.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;
using test::Result;
using test::slurp;

fs::path temp_dir() {
  static const fs::path dir = test::temp_dir("record-outputs");
  return dir;
}

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// `trunkwatch ARGS` through /bin/sh, `shell_prefix` ("ulimit -f 20;") before it.
Result run_sh(const std::string& shell_prefix, const std::string& args,
              const std::string& stdout_to = "") {
  return test::run_trunkwatch_sh(shell_prefix + " exec", args, temp_dir(), stdout_to);
}

// The simulated demo day as a capture, and how many records and notices replaying it gives.
class RecordOutputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pcap_ = temp_dir() / "day.pcap";
    Result r = test::run_trunkwatch("simulate demo --pcap " + pcap_.string(), temp_dir());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto json = temp_dir() / "good.jsonl", alerts = temp_dir() / "good-alerts.jsonl";
    r = test::run_trunkwatch("replay " + pcap_.string() + " --cdr-json " + json.string() +
                                 " --alerts-json " + alerts.string(),
                             temp_dir());
    ASSERT_EQ(r.code, 0) << r.err;
    records_ = test::lines_of(slurp(json)).size();
    notices_ = test::lines_of(slurp(alerts)).size();
    ASSERT_GT(records_, 50u);
    ASSERT_GT(notices_, 0u);
  }
  static inline fs::path pcap_;
  static inline std::size_t records_ = 0;
  static inline std::size_t notices_ = 0;
};

TEST_F(RecordOutputs, FullDeviceFailsTheCommandAndSaysHowManyWereLost) {
  const Result r =
      run_sh("", "replay " + pcap_.string() + " --cdr-json /dev/full --alerts-json /dev/full");
  EXPECT_EQ(r.code, 1) << r.err;
  const std::string n = std::to_string(records_), k = std::to_string(notices_);
  EXPECT_NE(r.err.find("trunkwatch replay: " + n + " of " + n +
                       " call records not written to /dev/full: No space left on device\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("trunkwatch replay: " + k + " of " + k +
                       " notices not written to /dev/full: No space left on device\n"),
            std::string::npos)
      << r.err;
  // One log line per failed record would be hundreds: five a minute.
  EXPECT_EQ(count_of(r.err, "call record not written to /dev/full"), 5u) << r.err;
}

TEST_F(RecordOutputs, FullStandardOutputFailsTheCommand) {
  const Result r = run_sh("", "replay " + pcap_.string() + " --cdr-json -", "/dev/full");
  EXPECT_EQ(r.code, 1) << r.err;
  const std::string n = std::to_string(records_);
  EXPECT_NE(r.err.find("trunkwatch replay: " + n + " of " + n +
                       " call records not written to standard output: No space left on device\n"),
            std::string::npos)
      << r.err;

  // simulate writes records the same way and fails the same way.
  const Result s = run_sh("", "simulate demo --cdr-json -", "/dev/full");
  EXPECT_EQ(s.code, 1) << s.err;
  EXPECT_NE(s.err.find(" call records not written to standard output: No space left on device"),
            std::string::npos)
      << s.err;
}

// "N of M call records not ... PATH: why" -> N, M.
std::pair<std::size_t, std::size_t> lost_counts(const std::string& err, const std::string& what) {
  const std::regex re("([0-9]+) of ([0-9]+) " + what);
  std::smatch m;
  if (!std::regex_search(err, m, re)) return {0, 0};
  return {std::stoul(m[1]), std::stoul(m[2])};
}

TEST_F(RecordOutputs, FileSizeLimitOnJsonLines) {
  // ulimit -f counts 512-byte blocks in /bin/sh (dash): 20 KiB.
  const auto json = temp_dir() / "limited.jsonl";
  fs::remove(json);
  const Result r =
      run_sh("ulimit -f 40;", "replay " + pcap_.string() + " --cdr-json " + json.string());
  EXPECT_EQ(r.code, 1) << "not killed by SIGXFSZ, not 0: " << r.err;
  const auto [lost, total] =
      lost_counts(r.err, "call records not written to " + json.string() + ": File too large");
  EXPECT_EQ(total, records_) << r.err;
  EXPECT_GT(lost, 0u) << r.err;
  EXPECT_EQ(fs::file_size(json), 40u * 512u);
  // The records written are whole lines; what did not fit is counted as lost.
  EXPECT_EQ(test::lines_of(slurp(json)).size(), records_ - lost + 1)
      << "every written record plus the cut one";
  EXPECT_EQ(count_of(slurp(json), "\n"), records_ - lost);
}

TEST_F(RecordOutputs, FileSizeLimitOnTheDatabase) {
  const auto db = temp_dir() / "limited.sqlite";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  const Result r =
      run_sh("ulimit -f 200;", "replay " + pcap_.string() + " --cdr-db " + db.string());
  EXPECT_EQ(r.code, 1) << r.err;
  const auto [lost, total] = lost_counts(r.err, "call records not stored in " + db.string() + ": ");
  EXPECT_EQ(total, records_) << r.err;
  EXPECT_GT(lost, 0u) << r.err;
  EXPECT_LT(lost, records_) << "some fitted";
  EXPECT_EQ(count_of(r.err, "call record not stored in " + db.string()), 5u)
      << "five log lines a minute, not one per record: " << r.err;
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h, "SELECT count(*) FROM calls", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(static_cast<std::size_t>(sqlite3_column_int(s, 0)), records_ - lost)
      << "what the command says was stored is there";
  sqlite3_finalize(s);
  sqlite3_close(h);
}

TEST_F(RecordOutputs, DemoFailsWhenItsRecordsCannotBeStored) {
  const auto db = temp_dir() / "demo.sqlite";
  const Result r = run_sh("ulimit -f 200;", "demo --no-live --speed 100000 --db " + db.string() +
                                                " --mail-dir " + (temp_dir() / "mail").string());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(" call records not stored in " + db.string() + ": "), std::string::npos)
      << r.err;
}

// replay writes JSON records to a file in batches of 64 KiB: stopped by SIGINT or SIGTERM it
// still writes the records it held, every line whole, says it was stopped and fails. (Killed
// by the signal, as before, it lost the batch and printed nothing.)
TEST(ReplayStopped, BySignalWritesTheRecordsItHeld) {
  const fs::path dir = temp_dir() / "stopped";
  fs::create_directories(dir);
  test::write_file(dir / "big.toml",
                   "[scenario]\nname = \"stopped\"\nstart = \"2027-01-05T00:00:00Z\"\nseed = 42\n"
                   "[[span]]\nid = 1\ntype = \"t1\"\n[[span]]\nid = 2\ntype = \"t1\"\n"
                   "[traffic]\ncalls = 20000\nduration_s = 80000\n");
  Result r = test::run_trunkwatch(
      "simulate " + (dir / "big.toml").string() + " --pcap " + (dir / "big.pcapng").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string signal : {"INT", "TERM"}) {
    SCOPED_TRACE(signal);
    const fs::path out = dir / ("out-" + signal + ".jsonl");
    // The signal comes once the first batch is out (about 150 of the 20,000 records): the
    // replay is then well under way and far from its end. (A shell's background job ignores
    // SIGINT, and so does replay then: env gives it the default back.)
    const std::string script = "cd " + dir.string() + "; env --default-signal=" + signal + " " +
                               test::kTrunkwatch + " replay big.pcapng --cdr-json " + out.string() +
                               " 2>err-" + signal + " & pid=$!; while [ ! -s " + out.string() +
                               " ]; do sleep 0.01; done; kill -" + signal +
                               " $pid; wait $pid; echo $? > rc-" + signal;
    ASSERT_EQ(std::system(("/bin/sh -c '" + script + "'").c_str()), 0);
    const std::string err = slurp(dir / ("err-" + signal));
    EXPECT_EQ(slurp(dir / ("rc-" + signal)), "1\n") << err;
    EXPECT_NE(err.find("trunkwatch replay: stopped by SIG" + signal + " before the end of"),
              std::string::npos)
        << err;
    std::smatch calls;
    ASSERT_TRUE(std::regex_search(err, calls, std::regex("replay: calls ([0-9]+) "))) << err;
    const std::string text = slurp(out);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    const std::size_t records = test::lines_of(text).size();
    EXPECT_EQ(records, std::stoul(calls[1].str())) << "every record the summary counts is written";
    EXPECT_LT(records, 20000u) << "stopped before the end";
  }
}

}  // namespace
}  // namespace tw
