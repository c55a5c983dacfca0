// Reading and writing D-channel captures as Wireshark does: pcapng (the default when
// writing) or classic pcap, link type LINKTYPE_LINUX_LAPD (177). Classic pcap is read through
// libpcap; pcapng through hal/replay/pcapng.hpp, since libpcap does not say which interface a
// packet came from, and trunkwatch writes one interface per span (docs/capture-format.md).
//
// Each record starts with a 16-byte pseudo-header (big-endian):
//   pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
// pkttype 4 = sent by the capturing side (the PBX's end), 0 = received by it.
// addr[0] != 0 when the capturing side is the network side, 0 when it is the user side.
// trunkwatch also stores the span number in addr[1] (halen stays 1, so Wireshark ignores it):
// one capture file holds every span of a site. A capture without it is span 1. Wireshark zeroes
// addr[1] when it re-saves a capture; a pcapng interface named "spanN" and the direction in
// epb_flags survive that.
#pragma once

#include <pcap/pcap.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hal/replay/link_check.hpp"
#include "hal/replay/pcapng.hpp"
#include "trunkwatch/hal/types.hpp"

namespace tw::hal {

constexpr int kLinktypeLinuxLapd = 177;
constexpr int kLinktypeLapd = 203;  // no pseudo-header: direction unknown
constexpr std::size_t kLapdPseudoHeaderLen = 16;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};

// One frame read from a capture.
struct CapturedFrame {
  Timestamp time{};
  Side from = Side::Pbx;
  Role pbx_role = Role::User;  // from addr[0]
  bool direction_known = true;
  int span = 1;
  std::span<const std::uint8_t> bytes;  // LAPD frame; valid until the next read
};

enum class ReadStatus { Frame, End, Skipped, Error };

// The two file formats. Pcapng keeps each span as its own interface (and 64-bit times);
// classic pcap keeps the span only in the pseudo-header, and seconds in 32 bits (to 2106).
enum class CaptureFormat : std::uint8_t { Pcapng, Pcap };
std::string_view to_string(CaptureFormat f);
// "pcapng" or "pcap"; false for anything else.
bool parse_capture_format(std::string_view name, CaptureFormat& out);

// The times each format can hold (pcap: unsigned 32-bit seconds; pcapng: unsigned 64-bit
// microseconds, of which trunkwatch reads and writes up to the year 9999).
constexpr Timestamp kPcapFirstTime{};
constexpr Timestamp kPcapLastTime{std::chrono::seconds(0xffffffffLL) +
                                  std::chrono::microseconds(999'999)};
// 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z: the times RFC 3339 (and so every record)
// can show; a frame outside is a damaged file.
constexpr Timestamp kFirstTime{std::chrono::seconds(-62'167'219'200LL)};
constexpr Timestamp kLastTime{std::chrono::microseconds(253'402'300'799'999'999LL)};

class PcapReader {
 public:
  // Returns an empty message on success; otherwise why the file cannot be read. The format
  // is recognised by the file's first bytes, whatever its name.
  std::string open(const std::string& path);
  // Next frame, End at a clean end of file, Skipped for a record too short for the
  // pseudo-header, a pcapng packet without a timestamp or of an interface that is not a
  // D-channel (counted), Error (with error()) for a damaged file. At the end, a warning goes
  // to the log when the frames show several links under one span number (link_check.hpp).
  ReadStatus next(CapturedFrame& out);
  const std::string& error() const { return error_; }
  // The link type (of the first interface, in a pcapng file).
  int linktype() const { return linktype_; }
  CaptureFormat format() const { return format_; }
  const LinkMixCheck& link_check() const { return link_check_; }

 private:
  ReadStatus next_pcap(CapturedFrame& out);
  ReadStatus next_pcapng(CapturedFrame& out);
  // Fills `out` from a record of link type `linktype`; false when it is too short.
  static bool from_record(int linktype, std::span<const std::uint8_t> data, CapturedFrame& out);

  std::string path_;
  CaptureFormat format_ = CaptureFormat::Pcap;
  std::unique_ptr<pcap_t, PcapCloser> pcap_;
  std::ifstream file_;  // pcapng
  pcapng::Reader pcapng_;
  int linktype_ = 0;
  std::string error_;
  LinkMixCheck link_check_;
  bool checked_ = false;
};

class PcapWriter {
 public:
  // Creates `path` (pcapng unless told otherwise); an empty message on success.
  std::string open(const std::string& path, CaptureFormat format = CaptureFormat::Pcapng);
  // `pbx_role` fills addr[0] (and the span's interface description); `from` the packet type
  // and the pcapng direction flag. An empty message on success; else why the frame could not
  // be written (a time the format cannot hold, a write error), and the writer writes nothing
  // more.
  std::string write(const DFrame& frame, Role pbx_role);
  // Writes raw bytes as a frame (used to salt test captures with garbage).
  std::string write_raw(int span, Side from, Timestamp time, Role pbx_role,
                        std::span<const std::uint8_t> bytes);
  std::string flush();
  // Flushes and closes the file; an empty message on success.
  std::string close();
  bool is_open() const { return static_cast<bool>(file_); }
  CaptureFormat format() const { return format_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string put(std::span<const std::uint8_t> bytes);

  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string path_;
  CaptureFormat format_ = CaptureFormat::Pcapng;
  std::string error_;
  std::array<int, 256> interface_of_span_{};  // pcapng: interface number + 1, 0 = none yet
  std::uint32_t interfaces_ = 0;
  pcapng::Writer blocks_;
};

}  // namespace tw::hal
