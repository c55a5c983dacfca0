#include "hal/replay/pcap_io.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace tw::hal {

namespace {
constexpr std::uint16_t kPktTypeHost = 0;      // received by the capturing side
constexpr std::uint16_t kPktTypeOutgoing = 4;  // sent by the capturing side
constexpr std::uint16_t kHaTypeLapd = 0x20fd;  // as libpcap/Wireshark write it
constexpr std::uint16_t kProtocolLapd = 0x0030;
constexpr std::size_t kMaxFrame = 512;  // LAPD N201 is 260; room for oddities

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
}  // namespace

std::string PcapReader::open(const std::string& path) {
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  pcap_.reset(pcap_open_offline(path.c_str(), err.data()));
  if (!pcap_) return std::string(err.data());
  linktype_ = pcap_datalink(pcap_.get());
  if (linktype_ != kLinktypeLinuxLapd && linktype_ != kLinktypeLapd) {
    const char* name = pcap_datalink_val_to_name(linktype_);
    return "link type " + std::to_string(linktype_) + " (" + (name ? name : "unknown") +
           ") is not a D-channel capture; expected LINUX_LAPD (177) or LAPD (203)";
  }
  return {};
}

ReadStatus PcapReader::next(CapturedFrame& out) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_.get(), &hdr, &data);
  if (rc == PCAP_ERROR_BREAK) return ReadStatus::End;
  if (rc != 1) {
    error_ = pcap_geterr(pcap_.get());
    if (error_.empty()) error_ = "damaged capture file";
    return ReadStatus::Error;
  }
  out.time =
      Timestamp(std::chrono::seconds(hdr->ts.tv_sec) + std::chrono::microseconds(hdr->ts.tv_usec));
  const std::size_t len = hdr->caplen;
  if (linktype_ == kLinktypeLapd) {
    out.direction_known = false;
    out.from = Side::Pbx;
    out.span = 1;
    out.bytes = {data, len};
    return ReadStatus::Frame;
  }
  if (len < kLapdPseudoHeaderLen) return ReadStatus::Skipped;
  const std::uint16_t pkttype = be16(data);
  out.direction_known = pkttype == kPktTypeHost || pkttype == kPktTypeOutgoing;
  out.from = pkttype == kPktTypeOutgoing ? Side::Pbx : Side::Carrier;
  const std::uint8_t* addr = data + 6;
  out.pbx_role = addr[0] != 0 ? Role::Network : Role::User;
  out.span = addr[1] != 0 ? addr[1] : 1;
  out.bytes = {data + kLapdPseudoHeaderLen, len - kLapdPseudoHeaderLen};
  return ReadStatus::Frame;
}

std::string PcapWriter::open(const std::string& path) {
  pcap_.reset(pcap_open_dead(kLinktypeLinuxLapd, 65535));
  if (!pcap_) return "cannot create a pcap handle";
  dumper_.reset(pcap_dump_open(pcap_.get(), path.c_str()));
  if (!dumper_) return pcap_geterr(pcap_.get());
  return {};
}

void PcapWriter::write(const DFrame& frame, Role pbx_role) {
  write_raw(frame.span, frame.from, frame.time, pbx_role, frame.bytes);
}

void PcapWriter::write_raw(int span, Side from, Timestamp time, Role pbx_role,
                           std::span<const std::uint8_t> bytes) {
  if (!dumper_) return;
  std::array<std::uint8_t, kLapdPseudoHeaderLen + kMaxFrame> buf{};
  const std::size_t n = std::min(bytes.size(), kMaxFrame);
  const std::uint16_t pkttype = from == Side::Pbx ? kPktTypeOutgoing : kPktTypeHost;
  buf[0] = pkttype >> 8;
  buf[1] = pkttype & 0xff;
  buf[2] = kHaTypeLapd >> 8;
  buf[3] = kHaTypeLapd & 0xff;
  buf[4] = 0;
  buf[5] = 1;  // halen
  buf[6] = pbx_role == Role::Network ? 1 : 0;
  buf[7] = static_cast<std::uint8_t>(span);
  buf[14] = kProtocolLapd >> 8;
  buf[15] = kProtocolLapd & 0xff;
  std::copy_n(bytes.begin(), n, buf.begin() + kLapdPseudoHeaderLen);
  pcap_pkthdr hdr{};
  const auto us = time.time_since_epoch().count();
  hdr.ts.tv_sec = static_cast<time_t>(us / 1'000'000);
  hdr.ts.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  hdr.caplen = hdr.len = static_cast<bpf_u_int32>(kLapdPseudoHeaderLen + n);
  pcap_dump(reinterpret_cast<u_char*>(dumper_.get()), &hdr, buf.data());
}

void PcapWriter::flush() {
  if (dumper_) pcap_dump_flush(dumper_.get());
}

}  // namespace tw::hal
