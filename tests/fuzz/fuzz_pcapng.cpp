// libFuzzer target: a pcapng file through the block reader, as replay reads it: every packet
// of every section until the end or the first error, with the checks the reader promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "hal/replay/pcapng.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  tw::hal::pcapng::Reader reader;
  if (!reader.open(in).empty()) return 0;
  tw::hal::pcapng::Packet p;
  for (;;) {
    const auto status = reader.next(p);
    if (status == tw::hal::pcapng::ReadStatus::End) break;
    // An error always says why (replay prints it with the file's path).
    if (status == tw::hal::pcapng::ReadStatus::Error) {
      if (reader.error().empty()) std::abort();
      break;
    }
    if (status != tw::hal::pcapng::ReadStatus::Packet) continue;
    // A packet names an interface the section described, and its bytes lie in the input.
    if (p.interface >= reader.interfaces().size() || p.data.size() > size) std::abort();
    volatile std::uint8_t sink = 0;
    for (std::uint8_t b : p.data) sink = sink ^ b;
  }
  return 0;
}
