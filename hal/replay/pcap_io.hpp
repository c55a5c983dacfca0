// Reading and writing D-channel captures as Wireshark does: classic pcap, link type
// LINKTYPE_LINUX_LAPD (177), through libpcap.
//
// Each record starts with a 16-byte pseudo-header (big-endian):
//   pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
// pkttype 4 = sent by the capturing side (the PBX's end), 0 = received by it.
// addr[0] != 0 when the capturing side is the network side, 0 when it is the user side.
// trunkwatch also stores the span number in addr[1] (halen stays 1, so Wireshark ignores it):
// one capture file holds every span of a site. A capture without it is span 1.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "trunkwatch/hal/types.hpp"

namespace tw::hal {

constexpr int kLinktypeLinuxLapd = 177;
constexpr int kLinktypeLapd = 203;  // no pseudo-header: direction unknown
constexpr std::size_t kLapdPseudoHeaderLen = 16;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct PcapDumperCloser {
  void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
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

class PcapReader {
 public:
  // Returns an empty message on success; otherwise why the file cannot be read.
  std::string open(const std::string& path);
  // Next frame, End at a clean end of file, Skipped for a record too short for the
  // pseudo-header (counted), Error (with error()) for a damaged file.
  ReadStatus next(CapturedFrame& out);
  const std::string& error() const { return error_; }
  int linktype() const { return linktype_; }

 private:
  std::unique_ptr<pcap_t, PcapCloser> pcap_;
  int linktype_ = 0;
  std::string error_;
};

class PcapWriter {
 public:
  std::string open(const std::string& path);
  // `pbx_role` fills addr[0]; `from` the packet type.
  void write(const DFrame& frame, Role pbx_role);
  // Writes raw bytes as a frame (used to salt test captures with garbage).
  void write_raw(int span, Side from, Timestamp time, Role pbx_role,
                 std::span<const std::uint8_t> bytes);
  void flush();
  bool is_open() const { return static_cast<bool>(dumper_); }

 private:
  std::unique_ptr<pcap_t, PcapCloser> pcap_;
  std::unique_ptr<pcap_dumper_t, PcapDumperCloser> dumper_;
};

}  // namespace tw::hal
