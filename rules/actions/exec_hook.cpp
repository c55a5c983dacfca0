#include "rules/actions/exec_hook.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

namespace tw::rules {

namespace {

struct Field {
  std::string_view name;  // placeholder and (upper-cased) environment name
  std::string value;
};

std::vector<Field> fields(const Notice& n) {
  return {
      {"category", std::string(to_string(n.category))},
      {"severity", std::string(to_string(n.severity))},
      {"identifier", n.identifier},
      {"rule", n.rule},
      {"time", hal::format_time(n.time)},
      {"message", n.message},
      {"span", std::to_string(n.call.span)},
      {"channel", n.call.channel ? std::to_string(*n.call.channel) : ""},
      {"calling", n.call.calling},
      {"called", n.call.called},
      {"calling_name", n.call.calling_name},
      {"direction", n.call.direction
                        ? (*n.call.direction == calls::Direction::Outbound ? "outbound" : "inbound")
                        : ""},
  };
}

struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

struct SpawnAttr {
  posix_spawnattr_t a;
  SpawnAttr() { posix_spawnattr_init(&a); }
  ~SpawnAttr() { posix_spawnattr_destroy(&a); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> hook_argv(const std::vector<std::string>& tmpl, const Notice& n) {
  const auto f = fields(n);
  std::vector<std::string> out;
  out.reserve(tmpl.size());
  for (const std::string& t : tmpl) {
    // One pass over the template: a value is never scanned for placeholders again.
    std::string arg;
    for (std::size_t i = 0; i < t.size();) {
      bool replaced = false;
      if (t[i] == '{') {
        for (const Field& x : f) {
          const std::string ph = "{" + std::string(x.name) + "}";
          if (t.compare(i, ph.size(), ph) == 0) {
            arg += x.value;
            i += ph.size();
            replaced = true;
            break;
          }
        }
      }
      if (!replaced) arg += t[i++];
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::vector<std::string> hook_env(const Notice& n) {
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const Field& x : fields(n)) {
    std::string name = "TW_";
    for (char c : x.name) name += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    env.push_back(name + "=" + x.value);
  }
  env.push_back("TW_NOTICE_JSON=" + to_json_line(n));
  return env;
}

HookRunner::HookRunner(Limits limits) : limits_(limits) {}

HookRunner::~HookRunner() {
  wait_all(limits_.timeout);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
}

void HookRunner::set_limits(Limits limits) {
  {
    std::lock_guard lock(mutex_);
    limits_ = limits;
  }
  wake_.notify_all();  // more slots: the queue may move on
}

std::string HookRunner::spawn(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
    return "the hook program must be an absolute path";
  std::lock_guard lock(mutex_);
  reap_locked();
  if (queue_.empty() && children_.size() < limits_.max_running) return start_locked(argv, env);
  if (queue_.size() >= limits_.max_queued) {
    ++stats_.overflow;
    return "not run: " + std::to_string(queue_.size()) + " hooks wait already for one of " +
           std::to_string(limits_.max_running) +
           " slots (notices.exec_max_queued, notices.exec_max_running)";
  }
  if (queue_.empty())
    BOOST_LOG_TRIVIAL(info) << "exec hooks: " << children_.size()
                            << " running (notices.exec_max_running), the next ones wait in order";
  queue_.push_back(Pending{argv, env});
  ++stats_.queued;
  if (!supervisor_.joinable()) supervisor_ = std::thread([this] { supervise(); });
  wake_.notify_all();
  return "";
}

std::string HookRunner::start_locked(std::vector<std::string> argv, std::vector<std::string> env) {
  auto cargv = c_strings(argv);
  auto cenv = c_strings(env);
  FileActions fa;
  // No terminal input; output goes nowhere (a hook that wants a log writes one).
  posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa.fa, 1, "/dev/null", O_WRONLY, 0);
  SpawnAttr attr;
  // Its own process group, so a timeout kill takes the hook's children too.
  posix_spawnattr_setpgroup(&attr.a, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr.a, &none);
  posix_spawnattr_setflags(&attr.a, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, cargv[0], &fa.fa, &attr.a, cargv.data(), cenv.data());
  if (rc != 0) return argv[0] + ": " + std::strerror(rc);
  children_.push_back(Child{pid, std::chrono::steady_clock::now(), argv[0]});
  ++stats_.started;
  stats_.peak_running = std::max(stats_.peak_running, children_.size());
  // Hooks are reaped and timed out on wall time by the supervisor.
  if (!supervisor_.joinable()) supervisor_ = std::thread([this] { supervise(); });
  wake_.notify_all();
  return "";
}

void HookRunner::reap_locked() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    const pid_t r = waitpid(it->pid, &status, WNOHANG);
    if (r == it->pid || (r < 0 && errno == ECHILD)) {
      if (r == it->pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        ++failed_;
        BOOST_LOG_TRIVIAL(warning)
            << "exec hook " << it->program << " failed (status " << status << ")";
      }
      it = children_.erase(it);
      continue;
    }
    if (now - it->started > limits_.timeout) {
      BOOST_LOG_TRIVIAL(warning) << "exec hook " << it->program << " ran longer than "
                                 << limits_.timeout.count() << " ms: killed";
      kill(-it->pid, SIGKILL);
      kill(it->pid, SIGKILL);
      waitpid(it->pid, &status, 0);
      ++failed_;
      it = children_.erase(it);
      continue;
    }
    ++it;
  }
}

void HookRunner::fill_locked() {
  while (!queue_.empty() && children_.size() < limits_.max_running) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    const std::string program = p.argv[0];
    if (auto err = start_locked(std::move(p.argv), std::move(p.env)); !err.empty()) {
      ++failed_;
      BOOST_LOG_TRIVIAL(error) << "exec hook " << program << " (queued): " << err;
    }
  }
}

void HookRunner::supervise() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    reap_locked();
    fill_locked();
    if (children_.empty() && queue_.empty()) {
      idle_.notify_all();
      wake_.wait(lock);
    } else {
      // Children end without telling us (no SIGCHLD handler in a library): look again soon.
      wake_.wait_for(lock, std::chrono::milliseconds(5));
    }
  }
}

std::size_t HookRunner::reap() {
  std::lock_guard lock(mutex_);
  reap_locked();
  fill_locked();
  return std::exchange(failed_, 0);
}

bool HookRunner::wait_all(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::unique_lock lock(mutex_);
  while (!(children_.empty() && queue_.empty()) && std::chrono::steady_clock::now() < deadline) {
    reap_locked();
    fill_locked();
    if (!(children_.empty() && queue_.empty())) idle_.wait_for(lock, std::chrono::milliseconds(5));
  }
  const bool all = children_.empty() && queue_.empty();
  for (const Child& c : children_) {
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
    int status = 0;
    waitpid(c.pid, &status, 0);
  }
  children_.clear();
  if (!queue_.empty()) {
    stats_.not_run += queue_.size();
    BOOST_LOG_TRIVIAL(warning) << "exec hooks: " << queue_.size()
                               << " queued hook(s) not run: stopped waiting after " << limit.count()
                               << " ms";
    queue_.clear();
  }
  return all;
}

std::size_t HookRunner::running() const {
  std::lock_guard lock(mutex_);
  return children_.size();
}

std::size_t HookRunner::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

HookRunner::Stats HookRunner::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace tw::rules
