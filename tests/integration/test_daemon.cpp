// `trunkwatch run` as systemd runs it: readiness and watchdog over a real NOTIFY_SOCKET, the
// control socket and its commands, SIGHUP with a good and a bad file, SIGTERM with calls up,
// a bad file at start. The span source is the simulator at real time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "hal/replay/pcap_io.hpp"
#include "tests/support/cli_harness.hpp"

namespace tw {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::Result;
using test::slurp;

// A datagram socket in the place of systemd's notification socket.
struct NotifySocket {
  int fd = -1;
  std::string path;
  explicit NotifySocket(const fs::path& p) : path(p.string()) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~NotifySocket() { ::close(fd); }
  // Messages until one contains `what`, or "" after `limit`.
  std::string wait_for(const std::string& what, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string m(buf, static_cast<std::size_t>(n));
      if (m.find(what) != std::string::npos) return m;
    }
    return "";
  }
};

// The daemon as a child process with systemd's environment variables.
struct DaemonProcess {
  pid_t pid = -1;
  fs::path err;
  DaemonProcess(const std::vector<std::string>& args, const std::vector<std::string>& env,
                const fs::path& stderr_file)
      : err(stderr_file) {
    pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(test::kTrunkwatch.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  // Exit status, or -1 if it did not exit within `limit`.
  int wait(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }
  ~DaemonProcess() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir(std::string("daemon-") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Two spans, calls that stay up for minutes, one every few seconds.
    test::write_file(dir_ / "site.toml", R"(
[scenario]
name = "daemon"
start = "2027-01-05T10:00:00Z"
[[span]]
id = 1
[[span]]
id = 2
[traffic]
calls = 40
duration_s = 60
answer_rate = 1.0
mean_talk_s = 600
max_talk_s = 900
)");
    config_ = dir_ / "trunkwatch.toml";
    test::write_file(config_, "[site]\nname = \"test site\"\n");
  }
  std::vector<std::string> args() const {
    return {"run",
            "--config",
            config_.string(),
            "--simulate",
            (dir_ / "site.toml").string(),
            "--speed",
            "2",
            "--set",
            "daemon.records_dir=" + (dir_ / "lib").string(),
            "--set",
            "daemon.control_socket=" + socket().string(),
            "--set",
            "daemon.log_target=stderr",
            "--set",
            "email.spool_dir=" + (dir_ / "spool").string()};
  }
  fs::path socket() const { return dir_ / "control"; }
  Result ctl(const std::string& cmd) const {
    return test::run_trunkwatch(cmd + " --socket " + socket().string(), dir_);
  }
  nlohmann::json status() const {
    const Result r = ctl("status --json");
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out.empty() ? nlohmann::json{} : nlohmann::json::parse(r.out);
  }

  fs::path dir_;
  fs::path config_;
};

TEST_F(Daemon, LifecycleAsSystemdRunsIt) {
  NotifySocket notify(dir_ / "notify");
  DaemonProcess d(args(), {"NOTIFY_SOCKET=" + notify.path, "WATCHDOG_USEC=1000000"},
                  dir_ / "daemon.log");
  ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "daemon.log");
  EXPECT_NE(notify.wait_for("WATCHDOG=1", 3s), "") << "pings every WATCHDOG_USEC / 2";
  EXPECT_EQ(fs::status(socket()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::group_write);

  // Calls come up (the simulator runs at twice real time).
  nlohmann::json st;
  for (int i = 0; i < 100; ++i) {
    st = status();
    if (st.value("calls_up", 0) >= 3) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(st.value("calls_up", 0), 3) << st.dump();
  ASSERT_EQ(st["spans"].size(), 2u);
  EXPECT_EQ(st["spans"][0]["d_channel"], "up");
  EXPECT_EQ(st["spans"][0]["alarms"], "ok");
  EXPECT_GT(st["spans"][0]["frames"].get<int>(), 0);
  EXPECT_EQ(st["spans"][0]["line"], "esf");  // the simulator's T1 span
  EXPECT_EQ(st["spans"][0]["line_errors"],
            (nlohmann::json{{"bpv", 0}, {"crc", 0}, {"ebit", 0}, {"fas", 0}}));
  EXPECT_EQ(st["config"], config_.string());
  const Result human = ctl("status");
  EXPECT_NE(human.out.find("line errors: bpv 0, crc 0, ebit 0, fas 0"), std::string::npos)
      << human.out;

  Result r = ctl("calls");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("call(s) up"), std::string::npos) << r.out;
  r = ctl("calls --json");
  const auto calls = nlohmann::json::parse(r.out);
  EXPECT_GE(calls["calls"].size(), 3u);
  // A call still up has no end reason (not the record's default "released").
  for (const auto& c : calls["calls"]) {
    if (c["end"].is_null()) {
      EXPECT_TRUE(c["end_reason"].is_null()) << c.dump();
    }
  }

  // A tap cannot clear calls: a clear refusal, exit 1.
  r = ctl("hangup 1:1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("passively"), std::string::npos) << r.err;

  // Reload with a good file: applied.
  test::write_file(config_, "[site]\nname = \"test site\"\nremote_access = [\"2125550199\"]\n");
  r = ctl("reload");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(status().value("reloads", 0), 1);
  EXPECT_NE(notify.wait_for("RELOADING=1", 2s), "");

  // A bad file by SIGHUP: refused with file:line:column, the daemon keeps running.
  test::write_file(config_, "[site]\nname = \"test site\"\ntimezone = \"Nowhere/Void\"\n");
  ASSERT_EQ(::kill(d.pid, SIGHUP), 0);
  std::string log;
  for (int i = 0; i < 50 && log.find("reload refused") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    log = slurp(dir_ / "daemon.log");
  }
  EXPECT_NE(log.find(config_.string() + ":3:"), std::string::npos) << log;
  EXPECT_NE(log.find("the running configuration stays in force"), std::string::npos) << log;
  // The same through the control socket: the errors come back to the admin.
  r = ctl("reload");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(config_.string() + ":3:"), std::string::npos) << r.err;
  st = status();
  EXPECT_EQ(st.value("reloads", 0), 1);
  const int up = st.value("calls_up", 0);
  ASSERT_GT(up, 0);
  const int recorded = st.value("calls_recorded", 0);

  // SIGTERM with calls up: they are stored as partial records ending "shutdown".
  ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
  EXPECT_EQ(d.wait(10s), 0) << slurp(dir_ / "daemon.log");
  EXPECT_NE(notify.wait_for("STOPPING=1", 1s), "");
  EXPECT_FALSE(fs::exists(socket())) << "the socket file is removed";
  sqlite3* db = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2((dir_ / "lib" / "calls.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
      SQLITE_OK);
  auto count = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    int n = -1;
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
  };
  EXPECT_GE(count("SELECT count(*) FROM calls WHERE end_reason = 'shutdown'"), up);
  EXPECT_GE(count("SELECT count(*) FROM calls"), recorded + up);
  sqlite3_close(db);
}

TEST_F(Daemon, BadConfigAtStartIsRefused) {
  test::write_file(config_,
                   "[site]\nbusiness_hours = \"Mon-Fri 08:00-18:00\"\n[daemon]\nblock_ms = 7\n");
  DaemonProcess d(args(), {}, dir_ / "daemon.log");
  EXPECT_EQ(d.wait(10s), 3);
  const std::string log = slurp(dir_ / "daemon.log");
  EXPECT_NE(log.find(config_.string() + ":4:12: 'block_ms' must be 8 or 20"), std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(socket()));
}

TEST_F(Daemon, ASecondDaemonDoesNotStealTheSocket) {
  NotifySocket notify(dir_ / "notify");
  DaemonProcess first(args(), {"NOTIFY_SOCKET=" + notify.path}, dir_ / "first.log");
  ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "first.log");
  DaemonProcess second(args(), {}, dir_ / "second.log");
  EXPECT_EQ(second.wait(10s), 1);
  EXPECT_NE(slurp(dir_ / "second.log").find("another trunkwatch daemon"), std::string::npos);
  EXPECT_EQ(ctl("status").code, 0) << "the first one still answers";
}

// Short calls, one record every fraction of a second, for the record-store tests.
class DaemonRecords : public Daemon {
 protected:
  void SetUp() override {
    Daemon::SetUp();
    test::write_file(dir_ / "site.toml", R"(
[scenario]
name = "daemon records"
start = "2027-01-05T10:00:00Z"
[[span]]
id = 1
[[span]]
id = 2
[traffic]
calls = 400
duration_s = 120
answer_rate = 1.0
mean_talk_s = 4
max_talk_s = 8
)");
  }
  fs::path lib() const { return dir_ / "lib"; }
  // Polls status until `pred` holds (up to `limit`); the last status.
  template <typename Pred>
  nlohmann::json wait_status(Pred pred, std::chrono::milliseconds limit) {
    nlohmann::json st;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const Result r = ctl("status --json");  // fails until the daemon listens
      st = r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
      if (!st.empty() && pred(st)) break;
      std::this_thread::sleep_for(100ms);
    }
    return st;
  }
  std::string wait_log(const fs::path& log, const std::string& what) {
    std::string text;
    for (int i = 0; i < 100 && text.find(what) == std::string::npos; ++i) {
      std::this_thread::sleep_for(100ms);
      text = slurp(log);
    }
    return text;
  }
  // The file size limit of a running process (soft only: lifting it needs no privilege).
  static void limit_file_size(pid_t pid, rlim_t bytes) {
    const rlimit l{bytes, RLIM_INFINITY};
    ASSERT_EQ(::prlimit(pid, RLIMIT_FSIZE, &l, nullptr), 0);
  }
  // "trunkwatch stopped: N calls recorded" -> N.
  static int stopped_count(const std::string& log) {
    const auto p = log.find("trunkwatch stopped: ");
    return p == std::string::npos ? -1 : std::stoi(log.substr(p + 20));
  }
  std::vector<std::string> db_rows(const std::string& sql) const {
    std::vector<std::string> rows;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2((lib() / "calls.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
        SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
      while (s && sqlite3_step(s) == SQLITE_ROW)
        rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return rows;
  }
};

// The store refuses records (the file size limit stops the database growing) and later
// takes them again: none is lost, they arrive in order, a notice and the log say so.
TEST_F(DaemonRecords, RecordsTheStoreRefusedAreKeptAndStoredWhenItWorksAgain) {
  auto a = args();
  a.insert(a.end(), {"--set", "daemon.json_records=true"});
  DaemonProcess d(a, {}, dir_ / "daemon.log");
  nlohmann::json st =
      wait_status([](const auto& s) { return s.value("calls_recorded", 0) >= 5; }, 30s);
  ASSERT_GE(st.value("calls_recorded", 0), 5) << slurp(dir_ / "daemon.log");
  EXPECT_EQ(st.value("records_waiting", -1), 0);

  // The write-ahead log is the largest file: held at its size, only the database fails.
  limit_file_size(d.pid, fs::file_size(lib() / "calls.sqlite-wal"));
  st = wait_status([](const auto& s) { return s.value("records_waiting", 0) >= 5; }, 30s);
  ASSERT_GE(st.value("records_waiting", 0), 5) << slurp(dir_ / "daemon.log");
  const Result human = ctl("status");
  EXPECT_NE(human.out.find("call records waiting for the store: "), std::string::npos) << human.out;
  std::string log = slurp(dir_ / "daemon.log");
  EXPECT_NE(log.find("call records cannot be stored in " + (lib() / "calls.sqlite").string()),
            std::string::npos)
      << log;
  EXPECT_NE(slurp(lib() / "alerts.jsonl").find("\"category\":\"record_store_failure\""),
            std::string::npos);

  limit_file_size(d.pid, RLIM_INFINITY);
  st = wait_status([](const auto& s) { return s.value("records_waiting", 1) == 0; }, 20s);
  EXPECT_EQ(st.value("records_waiting", -1), 0);
  log = wait_log(dir_ / "daemon.log", "the record store works again");
  EXPECT_NE(log.find("the record store works again: "), std::string::npos) << log;

  ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
  EXPECT_EQ(d.wait(10s), 0);
  log = slurp(dir_ / "daemon.log");
  const int recorded = stopped_count(log);
  ASSERT_GT(recorded, 10) << log;
  // Every record, in the order the calls ended: the same as calls.jsonl, which never failed.
  const auto stored =
      db_rows("SELECT span || ':' || call_ref || ':' || start FROM calls ORDER BY id");
  EXPECT_EQ(stored.size(), static_cast<std::size_t>(recorded));
  std::vector<std::string> written;
  for (const std::string& line : test::lines_of(slurp(lib() / "calls.jsonl"))) {
    const auto j = nlohmann::json::parse(line);
    written.push_back(std::to_string(j["span"].get<int>()) + ":" +
                      std::to_string(j["call_ref"].get<int>()) + ":" +
                      j["start"].get<std::string>());
  }
  EXPECT_EQ(stored, written);
  EXPECT_FALSE(fs::exists(lib() / "unstored.jsonl"));
}

// Stopped while the store refuses records: they go to the spill file (beyond a memory bound
// of 2 already while running), and the next start stores them.
TEST_F(DaemonRecords, UnstoredRecordsSurviveAStopInTheSpillFile) {
  auto a = args();
  a.insert(a.end(), {"--set", "daemon.unstored_records_max=2"});
  int first = 0;
  {
    DaemonProcess d(a, {}, dir_ / "first.log");
    nlohmann::json st =
        wait_status([](const auto& s) { return s.value("calls_recorded", 0) >= 5; }, 30s);
    ASSERT_GE(st.value("calls_recorded", 0), 5) << slurp(dir_ / "first.log");
    limit_file_size(d.pid, fs::file_size(lib() / "calls.sqlite-wal"));
    st = wait_status([](const auto& s) { return s.value("records_waiting", 0) >= 5; }, 30s);
    ASSERT_GE(st.value("records_waiting", 0), 5) << slurp(dir_ / "first.log");
    EXPECT_GE(test::lines_of(slurp(lib() / "unstored.jsonl")).size(), 3u)
        << "beyond 2 in memory, spilled while running";
    ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
    EXPECT_EQ(d.wait(10s), 0);
    const std::string log = slurp(dir_ / "first.log");
    first = stopped_count(log);
    const auto stored = db_rows("SELECT count(*) FROM calls");
    ASSERT_EQ(stored.size(), 1u);
    const auto spilled = test::lines_of(slurp(lib() / "unstored.jsonl")).size();
    EXPECT_EQ(std::stoul(stored[0]) + spilled, static_cast<std::size_t>(first)) << log;
    EXPECT_NE(log.find("written to " + (lib() / "unstored.jsonl").string()), std::string::npos)
        << log;
  }
  DaemonProcess d(args(), {}, dir_ / "second.log");
  const nlohmann::json st = wait_status(
      [](const auto& s) {
        return s.value("calls_recorded", 0) >= 1 && s.value("records_waiting", 1) == 0;
      },
      30s);
  EXPECT_EQ(st.value("records_waiting", -1), 0) << slurp(dir_ / "second.log");
  ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
  EXPECT_EQ(d.wait(10s), 0);
  const int second = stopped_count(slurp(dir_ / "second.log"));
  EXPECT_EQ(db_rows("SELECT count(*) FROM calls"),
            std::vector<std::string>{std::to_string(first + second)});
  EXPECT_FALSE(fs::exists(lib() / "unstored.jsonl"));
}

// logrotate moves calls.jsonl and alerts.jsonl away and sends SIGHUP (systemctl reload):
// the next lines go to new files.
TEST_F(DaemonRecords, SighupReopensTheJsonFiles) {
  auto a = args();
  a.insert(a.end(), {"--set", "daemon.json_records=true"});
  DaemonProcess d(a, {}, dir_ / "daemon.log");
  for (int i = 0; i < 300 && test::lines_of(slurp(lib() / "calls.jsonl")).empty(); ++i)
    std::this_thread::sleep_for(100ms);
  fs::rename(lib() / "calls.jsonl", lib() / "calls.jsonl.1");
  fs::rename(lib() / "alerts.jsonl", lib() / "alerts.jsonl.1");
  ASSERT_EQ(::kill(d.pid, SIGHUP), 0);
  wait_log(dir_ / "daemon.log", "configuration reloaded");
  const std::size_t rotated = test::lines_of(slurp(lib() / "calls.jsonl.1")).size();
  ASSERT_GE(rotated, 1u);
  wait_status([](const auto& s) { return s.value("calls_recorded", 0) >= 1; }, 1s);
  std::string fresh;
  for (int i = 0; i < 100 && fresh.empty(); ++i) {
    std::this_thread::sleep_for(100ms);
    fresh = slurp(lib() / "calls.jsonl");
  }
  ASSERT_FALSE(fresh.empty()) << "a new calls.jsonl with the next record";
  EXPECT_EQ(nlohmann::json::parse(test::lines_of(fresh).front()).value("span", 0) > 0, true);
  EXPECT_TRUE(fs::exists(lib() / "alerts.jsonl")) << "alerts.jsonl opened again";
  EXPECT_EQ(test::lines_of(slurp(lib() / "calls.jsonl.1")).size(), rotated)
      << "nothing more into the moved file";
  ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
  EXPECT_EQ(d.wait(10s), 0);
}

TEST_F(Daemon, ControlSocketPathNamingAFileIsRefusedAndLeftAlone) {
  test::write_file(socket(), "call records, not a socket\n");
  DaemonProcess d(args(), {}, dir_ / "daemon.log");
  EXPECT_EQ(d.wait(10s), 1);
  EXPECT_NE(slurp(dir_ / "daemon.log")
                .find(socket().string() +
                      ": exists and is a regular file, not a socket; not replacing it"),
            std::string::npos)
      << slurp(dir_ / "daemon.log");
  EXPECT_EQ(slurp(socket()), "call records, not a socket\n");
}

TEST_F(Daemon, ASecondDaemonOnTheSameRecordsOrSpoolIsRefused) {
  test::write_file(config_,
                   "[site]\nname = \"test site\"\n[email]\nto = [\"admin@example.com\"]\n"
                   "transport = \"maildir\"\nmaildir = \"" +
                       (dir_ / "Maildir").string() + "\"\n");
  NotifySocket notify(dir_ / "notify");
  DaemonProcess first(args(), {"NOTIFY_SOCKET=" + notify.path}, dir_ / "first.log");
  ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "first.log");
  const std::string holder = "(pid " + std::to_string(first.pid) + ")";

  // Same records folder, another socket.
  auto second_args = args();
  second_args.insert(second_args.end(),
                     {"--set", "daemon.control_socket=" + (dir_ / "control2").string()});
  DaemonProcess second(second_args, {}, dir_ / "second.log");
  EXPECT_EQ(second.wait(10s), 1);
  EXPECT_NE(slurp(dir_ / "second.log")
                .find("the records folder " + (dir_ / "lib").string() +
                      " is in use by another trunkwatch daemon " + holder),
            std::string::npos)
      << slurp(dir_ / "second.log");

  // Another records folder, the same mail spool.
  second_args.insert(second_args.end(),
                     {"--set", "daemon.records_dir=" + (dir_ / "lib2").string()});
  DaemonProcess third(second_args, {}, dir_ / "third.log");
  EXPECT_EQ(third.wait(10s), 1);
  EXPECT_NE(slurp(dir_ / "third.log")
                .find("the mail spool " + (dir_ / "spool").string() +
                      " is in use by another trunkwatch daemon " + holder),
            std::string::npos)
      << slurp(dir_ / "third.log");
  EXPECT_EQ(ctl("status").code, 0) << "the first one still answers";
}

// A capture with one frame, then nothing for 60 s, then another: paced as recorded, the
// daemon must still answer and stop at once in the quiet stretch.
TEST_F(Daemon, ReplayAndSlowSimulationServeTheSocketAndStopWhileWaiting) {
  const fs::path pcap = dir_ / "gap.pcap";
  {
    hal::PcapWriter w;
    ASSERT_EQ(w.open(pcap.string()), "");
    const std::array<std::uint8_t, 4> rr{0x02, 0x01, 0x01, 0x01};
    const hal::Timestamp t0{std::chrono::seconds(1'800'000'000)};
    w.write(hal::DFrame{.span = 1, .from = hal::Side::Pbx, .time = t0, .bytes = rr},
            hal::Role::User);
    w.write(
        hal::DFrame{
            .span = 1, .from = hal::Side::Pbx, .time = t0 + std::chrono::seconds(60), .bytes = rr},
        hal::Role::User);
    w.flush();
  }
  auto replay = args();
  replay[3] = "--replay";
  replay[4] = pcap.string();
  replay.erase(replay.begin() + 5, replay.begin() + 7);  // --speed 2
  auto slow_sim = args();
  slow_sim[6] = "0.02";  // a simulated second every 50 s
  for (const auto& a : {replay, slow_sim}) {
    NotifySocket notify(dir_ / "notify");
    DaemonProcess d(a, {"NOTIFY_SOCKET=" + notify.path}, dir_ / "daemon.log");
    ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "daemon.log");
    std::this_thread::sleep_for(1s);  // into the quiet stretch
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ctl("status").code, 0) << a[4] << " " << i;
    ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
    EXPECT_EQ(d.wait(3s), 0) << a[4] << slurp(dir_ / "daemon.log");
  }
}

TEST_F(Daemon, IdleClientsDoNotStarveTheControlSocket) {
  NotifySocket notify(dir_ / "notify");
  auto a = args();
  a[6] = "1";  // at real time the simulator ticks (and the socket is served) once a second
  DaemonProcess d(a, {"NOTIFY_SOCKET=" + notify.path}, dir_ / "daemon.log");
  ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "daemon.log");
  // `count` connections that never send anything, reopened as soon as the daemon drops them;
  // how many of 6 status requests are answered meanwhile.
  const auto answered_with_idle = [&](std::size_t count) {
    std::atomic<bool> done{false};
    std::thread idle([&] {
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket().c_str());
      std::vector<int> fds(count, -1);
      while (!done) {
        for (int& fd : fds) {
          if (fd >= 0) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 0) == 1) {  // dropped by the daemon
              ::close(fd);
              fd = -1;
            }
          }
          if (fd < 0) {
            fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
              ::close(fd);
              fd = -1;
            }
          }
        }
        std::this_thread::sleep_for(5ms);
      }
      for (int fd : fds)
        if (fd >= 0) ::close(fd);
    });
    std::this_thread::sleep_for(1s);
    int answered = 0;
    for (int i = 0; i < 6; ++i) answered += ctl("status").code == 0;
    done = true;
    idle.join();
    return answered;
  };
  EXPECT_EQ(answered_with_idle(40), 6);
  // A flood (the old limits of 16 clients and a second each gave status no turn within its
  // 5 s).
  EXPECT_EQ(answered_with_idle(400), 6);
}

TEST_F(Daemon, ReloadAppliesEveryMailKeyAndThePolicyAtOnce) {
  test::write_file(dir_ / "site.toml", R"(
[scenario]
name = "reload"
start = "2027-01-05T10:00:00Z"
[[span]]
id = 1
[[call]]
at = 2
calling = "2125550101"
called = "18095550100"
answer_after = 1
talk = 3
[[call]]
at = 16
calling = "2125550102"
called = "18095550100"
answer_after = 1
talk = 3
)");
  const auto site = [&](const std::string& prefix, const std::string& extra) {
    return "[site]\nname = \"test site\"\n[numbers]\nhigh_risk = [\"1809\"]\n[email]\n"
           "to = [\"admin@example.com\"]\ntransport = \"maildir\"\nmaildir = \"" +
           (dir_ / "Maildir").string() + "\"\nretry_min_s = 1\nsubject_prefix = \"" + prefix +
           "\"\n" + extra;
  };
  test::write_file(config_, site("[before]", ""));
  auto a = args();
  a[6] = "1";
  NotifySocket notify(dir_ / "notify");
  DaemonProcess d(a, {"NOTIFY_SOCKET=" + notify.path}, dir_ / "daemon.log");
  ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "daemon.log");
  const auto mails = [&] {
    std::vector<std::string> out;
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_ / "Maildir" / "new", ec))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out.push_back(slurp(f));
    return out;
  };
  for (int i = 0; i < 150 && mails().empty(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(mails().size(), 1u) << slurp(dir_ / "daemon.log");
  EXPECT_NE(mails()[0].find("Subject: [before] CRITICAL"), std::string::npos) << mails()[0];

  // The prefix ([email]), a profile that may call high-risk numbers (policy), a [daemon] key.
  test::write_file(config_, site("[after]",
                                 "[[profile]]\nname = \"boss\"\nnumbers = [\"2125550102\"]\n"
                                 "allowed_classes = [\"international\", \"high_risk\"]\n"
                                 "[daemon]\ndsp_threads = 1\n"));
  ASSERT_EQ(::kill(d.pid, SIGHUP), 0);
  for (int i = 0; i < 50 && status().value("reloads", 0) < 1; ++i)
    std::this_thread::sleep_for(100ms);
  EXPECT_NE(slurp(dir_ / "daemon.log").find("take effect at the next restart"), std::string::npos);
  for (int i = 0; i < 250 && mails().size() < 2; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(mails().size(), 2u) << slurp(dir_ / "daemon.log");
  EXPECT_NE(mails()[1].find("Subject: [after] WARNING"), std::string::npos) << mails()[1];
  ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
  EXPECT_EQ(d.wait(10s), 0);
}

TEST_F(Daemon, AnUnresolvableSyslogServerIsRetriedAndIPv6LiteralsWork) {
  auto a = args();
  a[12] = "daemon.log_target=syslog";
  a.insert(a.end(), {"--set", "daemon.syslog_server=trunkwatch-test.invalid:514"});
  {
    NotifySocket notify(dir_ / "notify");
    DaemonProcess d(a, {"NOTIFY_SOCKET=" + notify.path}, dir_ / "daemon.log");
    ASSERT_NE(notify.wait_for("READY=1", 20s), "") << slurp(dir_ / "daemon.log");
    EXPECT_EQ(ctl("status").code, 0);
    EXPECT_NE(slurp(dir_ / "daemon.log")
                  .find("syslog server 'trunkwatch-test.invalid:514': cannot resolve "
                        "'trunkwatch-test.invalid'"),
              std::string::npos)
        << slurp(dir_ / "daemon.log");
    ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
    EXPECT_EQ(d.wait(10s), 0);
  }
  // An IPv6 literal in brackets: datagrams reach a listener on ::1.
  const int udp = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 local{};
  local.sin6_family = AF_INET6;
  local.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  socklen_t len = sizeof local;
  ::getsockname(udp, reinterpret_cast<sockaddr*>(&local), &len);
  a.back() = "daemon.syslog_server=[::1]:" + std::to_string(ntohs(local.sin6_port));
  a.insert(a.end(), {"--set", "daemon.log_level=info"});
  DaemonProcess d(a, {}, dir_ / "daemon6.log");
  pollfd p{udp, POLLIN, 0};
  std::string datagram;
  for (int i = 0; i < 20 && datagram.find("trunkwatch monitoring") == std::string::npos; ++i) {
    if (::poll(&p, 1, 1000) != 1) continue;
    char buf[2048];
    const ssize_t n = ::recv(udp, buf, sizeof buf, 0);
    if (n > 0) datagram.assign(buf, static_cast<std::size_t>(n));
  }
  ::close(udp);
  EXPECT_NE(datagram.find("trunkwatch monitoring 2 span(s)"), std::string::npos)
      << slurp(dir_ / "daemon6.log");
}

TEST_F(Daemon, OnlyBoundedRegularFilesAreReadAsConfiguration) {
  const fs::path fifo = dir_ / "high-risk.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Without the fix these hang (the FIFO) or eat memory (/dev/zero, about 0.3 GB/s): bounded
  // by the timeout (no `ulimit -v`: AddressSanitizer reserves terabytes of address space).
  const std::string guard = "timeout 10";
  Result r = test::run_trunkwatch_sh(
      guard, "check-config " + config_.string() + " --set numbers.high_risk_file=" + fifo.string(),
      dir_);
  EXPECT_EQ(r.code, 2);  // the path came from --set
  EXPECT_NE(r.err.find("numbers.high_risk_file: " + fifo.string() +
                       ": not a regular file (a FIFO); only regular files are read"),
            std::string::npos)
      << r.err;
  r = test::run_trunkwatch_sh(
      guard, "check-config " + config_.string() + " --set numbers.high_risk_file=/dev/zero", dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/dev/zero: not a regular file (a device)"), std::string::npos) << r.err;
  r = test::run_trunkwatch_sh(guard, "check-config " + fifo.string(), dir_);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(fifo.string() + ": not a regular file (a FIFO)"), std::string::npos)
      << r.err;
  const fs::path big = dir_ / "big.toml";
  test::write_file(big, "[site]\nname = \"x\"\n" + std::string(4 * 1024 * 1024, '#') + "\n");
  r = test::run_trunkwatch_sh(guard, "check-config " + big.string(), dir_);
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find(big.string() + ": larger than 4 MiB, the limit for configuration files"),
            std::string::npos)
      << r.err;
}

TEST(DaemonClient, NoDaemonIsAPlainError) {
  const auto dir = test::temp_dir("daemon-client");
  const Result r = test::run_trunkwatch("status --socket " + (dir / "nothing").string(), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is the trunkwatch daemon running?"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tw
