// `trunkwatch run` as systemd runs it: readiness and watchdog over a real NOTIFY_SOCKET, the
// control socket and its commands, SIGHUP with a good and a bad file, SIGTERM with calls up,
// a bad file at start. The span source is the simulator at real time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

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

TEST(DaemonClient, NoDaemonIsAPlainError) {
  const auto dir = test::temp_dir("daemon-client");
  const Result r = test::run_trunkwatch("status --socket " + (dir / "nothing").string(), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is the trunkwatch daemon running?"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tw
