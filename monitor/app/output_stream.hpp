// An output a command line names as PATH, or "-" for standard output (--alerts-json,
// --cdr-json): the one place such a name is opened.
#pragma once

#include <fstream>
#include <ostream>
#include <string>

namespace tw::app {

class OutputStream {
 public:
  enum class Mode { Truncate, Append };

  OutputStream() = default;
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;

  // Opens `path` ("-": standard output), replacing or adding to an existing file. Returns an
  // error message ("PATH: cannot open for writing") or "".
  std::string open(const std::string& path, Mode mode = Mode::Truncate);

  // The stream once open() succeeded.
  std::ostream& stream() { return *out_; }
  bool is_open() const { return out_ != nullptr; }
  bool is_stdout() const { return is_open() && !file_.is_open(); }
  // Flushes a file and tells whether everything reached it (always true on standard output
  // or when nothing is open).
  bool flush_file();

 private:
  std::ofstream file_;
  std::ostream* out_ = nullptr;
};

}  // namespace tw::app
