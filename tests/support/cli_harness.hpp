// What the tests that drive the real `trunkwatch` binary share: a temporary folder per test
// process, file helpers, and running the binary with its exit status and output captured.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace tw::test {

namespace fs = std::filesystem;

inline const std::string kTrunkwatch = std::string(TW_BINARY_DIR) + "/monitor/cli/trunkwatch";

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

struct Result {
  int code = -1;
  std::string out, err;
};

// Runs `trunkwatch ARGS` with no standard input; `dir` holds the captured output.
inline Result run_trunkwatch(const std::string& args, const fs::path& dir) {
  const auto out = dir / "stdout", err = dir / "stderr";
  const std::string cmd =
      kTrunkwatch + " " + args + " >" + out.string() + " 2>" + err.string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// The same through /bin/sh, with `shell_prefix` in front of the command ("ulimit -f 20; exec",
// "timeout 10") and standard output to `stdout_to` when given (then `out` stays empty).
inline Result run_trunkwatch_sh(const std::string& shell_prefix, const std::string& args,
                                const fs::path& dir, const std::string& stdout_to = "") {
  const auto out = dir / "stdout", err = dir / "stderr";
  const std::string inner = shell_prefix + " " + kTrunkwatch + " " + args + " >" +
                            (stdout_to.empty() ? out.string() : stdout_to) + " 2>" + err.string() +
                            " </dev/null";
  const int status = std::system(("/bin/sh -c '" + inner + "'").c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = stdout_to.empty() ? slurp(out) : "";
  r.err = slurp(err);
  return r;
}

}  // namespace tw::test
