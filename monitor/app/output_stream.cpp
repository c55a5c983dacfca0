#include "monitor/app/output_stream.hpp"

#include <iostream>

namespace tw::app {

std::string OutputStream::open(const std::string& path, Mode mode) {
  path_ = path;
  if (path == "-") {
    out_ = &std::cout;
    return "";
  }
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
