#include "monitor/app/output_stream.hpp"

#include <iostream>

namespace tw::app {

std::string OutputStream::open(const std::string& path, Mode mode) {
  path_ = path;
  if (path == "-") {
    out_ = &std::cout;
    return "";
  }
  // Unbuffered: store::LineWriter hands over whole lines or batches of them, and a write
  // that fails part way then says how many bytes got there (the lines lost are counted).
  file_.rdbuf()->pubsetbuf(nullptr, 0);
  file_.open(path, std::ios::out | (mode == Mode::Append ? std::ios::app : std::ios::trunc));
  if (!file_) return path + ": cannot open for writing";
  out_ = &file_;
  return "";
}

std::string OutputStream::reopen() {
  if (!file_.is_open()) return "";
  file_.flush();
  file_.close();
  file_.clear();
  file_.rdbuf()->pubsetbuf(nullptr, 0);
  file_.open(path_, std::ios::out | std::ios::app);
  if (!file_) return path_ + ": cannot open for writing";
  return "";
}

bool OutputStream::flush_file() {
  if (!file_.is_open()) return true;
  file_.flush();
  return static_cast<bool>(file_);
}

}  // namespace tw::app
