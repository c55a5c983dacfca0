// The exec action: runs an admin's hook program for a notice. No shell is involved: the
// program gets its arguments as separate argv entries and the notice's fields as environment
// variables, so caller names and digits from the wire can never become commands.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
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
// a hook that runs longer than the timeout is killed.
class HookRunner {
 public:
  explicit HookRunner(std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : timeout_(timeout) {}
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // Returns "" once the program started, else why it could not.
  std::string spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  // Collects hooks that ended; kills those past the timeout. Returns how many failed (exit
  // status other than 0, or killed) since the last call.
  std::size_t reap();
  // Waits until every hook ended or `limit` passed (then kills the rest); true if all ended.
  bool wait_all(std::chrono::milliseconds limit);
  std::size_t running() const { return children_.size(); }

 private:
  struct Child {
    pid_t pid;
    std::chrono::steady_clock::time_point started;  // hook run time is wall time, not source
    std::string program;
  };
  std::chrono::milliseconds timeout_;
  std::vector<Child> children_;
};

}  // namespace tw::rules
