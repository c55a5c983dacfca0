// The exec action: runs an admin's hook program for a notice. No shell is involved: the
// program gets its arguments as separate argv entries and the notice's fields as environment
// variables, so caller names and digits from the wire can never become commands.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rules/notice.hpp"

namespace tw::rules {

// The hook's argv: the rule's `exec` list with placeholders replaced inside each entry
// ({category}, {severity}, {identifier}, {rule}, {time}, {message}, {span}, {channel},
// {calling}, {called}, {calling_name}, {direction}). A replaced value stays inside its one
// argv entry whatever it contains.
std::vector<std::string> hook_argv(const std::vector<std::string>& tmpl, const Notice& n);
// A clean environment: PATH, and TW_CATEGORY, TW_SEVERITY, TW_IDENTIFIER, TW_RULE, TW_TIME,
// TW_MESSAGE, TW_SPAN, TW_CHANNEL, TW_CALLING, TW_CALLED, TW_CALLING_NAME, TW_DIRECTION,
// TW_NOTICE_JSON.
std::vector<std::string> hook_env(const Notice& n);

// Starts hooks without waiting for them (the pipeline must not stall) and reaps them later;
// a hook that runs longer than the timeout is killed. At most `max_running` hooks run at
// once: the rest wait in order in a queue of at most `max_queued` (a flood of notices must
// not fork hundreds of processes at once). A supervisor thread starts queued hooks as running
// ones end, so the queue drains in wall time whatever the source's clock does.
class HookRunner {
 public:
  struct Limits {
    std::chrono::milliseconds timeout{std::chrono::seconds(30)};
    std::size_t max_running = 4;
    std::size_t max_queued = 1000;
  };
  explicit HookRunner(std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : HookRunner(Limits{timeout, 4, 1000}) {}
  explicit HookRunner(Limits limits);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  void set_limits(Limits limits);
  // Returns "" once the program started or was queued to start in order, else why it will not
  // run (not an absolute path, posix_spawn failed, the queue is full).
  std::string spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  // Returns how many hooks failed (exit status other than 0, killed after the timeout, could
  // not start from the queue) since the last call. Reaping itself happens on its own thread.
  std::size_t reap();
  // Waits until every hook (queued ones included) ended or `limit` passed (then kills the
  // running ones and drops the queue, logged); true if all ended.
  bool wait_all(std::chrono::milliseconds limit);
  std::size_t running() const;
  std::size_t queued() const;

  struct Stats {
    std::uint64_t started = 0;
    std::uint64_t queued = 0;    // had to wait for a free slot
    std::uint64_t overflow = 0;  // not run: the queue was full
    std::uint64_t not_run = 0;   // dropped from the queue by wait_all's deadline (shutdown)
    std::size_t peak_running = 0;
  };
  Stats stats() const;

 private:
  struct Child {
    pid_t pid;
    std::chrono::steady_clock::time_point started;  // hook run time is wall time, not source
    std::string program;
  };
  struct Pending {
    std::vector<std::string> argv, env;
  };
  // Under mutex_.
  std::string start_locked(std::vector<std::string> argv, std::vector<std::string> env);
  void reap_locked();
  void fill_locked();
  void supervise();

  Limits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::vector<Child> children_;
  std::deque<Pending> queue_;
  std::size_t failed_ = 0;
  Stats stats_;
  bool stopping_ = false;
  std::thread supervisor_;  // started with the first hook
};

}  // namespace tw::rules
