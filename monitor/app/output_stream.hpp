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
  // Closes the file and opens the same path again to append (SIGHUP after logrotate moved
  // it away). The stream object stays the same, so writers holding stream() keep working.
  // Nothing to do on standard output. An error message or "".
  std::string reopen();

  // The stream once open() succeeded. A file's stream is unbuffered: write whole lines
  // (store::LineWriter), not pieces.
  std::ostream& stream() { return *out_; }
  bool is_open() const { return out_ != nullptr; }
  bool is_stdout() const { return is_open() && !file_.is_open(); }
  const std::string& path() const { return path_; }
  // Flushes a file and tells whether everything reached it (always true on standard output
  // or when nothing is open).
  bool flush_file();

 private:
  std::ofstream file_;
  std::ostream* out_ = nullptr;
  std::string path_;
};

}  // namespace tw::app
