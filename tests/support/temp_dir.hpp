// Scratch folders for a test process, removed when it exits: repeated runs of the suite leave
// nothing behind in the system's temp folder.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace tw::test {

// A folder for this test process, named after `what` (e.g. "cli"), made if missing and
// removed with everything in it at exit (children the tests fork leave with _exit, so only
// the test process removes it).
inline std::filesystem::path temp_dir(const std::string& what) {
  struct Folders {
    std::vector<std::filesystem::path> paths;
    ~Folders() {
      for (const auto& p : paths) {
        std::error_code ignored;
        std::filesystem::remove_all(p, ignored);
      }
    }
  };
  static Folders folders;
  auto d =
      std::filesystem::temp_directory_path() / ("tw-" + what + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  if (std::find(folders.paths.begin(), folders.paths.end(), d) == folders.paths.end())
    folders.paths.push_back(d);
  return d;
}

}  // namespace tw::test
