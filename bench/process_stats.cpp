#include "bench/process_stats.hpp"

#include <malloc.h>

#include <ctime>
#include <fstream>
#include <string>
#include <string_view>

namespace tw::bench {

namespace {
// A "Name:   1234 kB" line of /proc/self/status, in MB.
double status_mb(std::string_view name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name, 0) == 0) return std::stod(line.substr(name.size())) / 1024.0;
  return 0;
}
}  // namespace

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double rss_mb() {
  return status_mb("VmRSS:");
}
double peak_rss_mb() {
  return status_mb("VmHWM:");
}

double heap_mb() {
  const struct mallinfo2 m = ::mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1024.0 * 1024.0);
}

}  // namespace tw::bench
