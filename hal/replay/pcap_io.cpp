#include "hal/replay/pcap_io.hpp"

#include <algorithm>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstring>

namespace tw::hal {

namespace {
constexpr std::uint16_t kPktTypeHost = 0;      // received by the capturing side
constexpr std::uint16_t kPktTypeOutgoing = 4;  // sent by the capturing side
constexpr std::uint16_t kHaTypeLapd = 0x20fd;  // as libpcap/Wireshark write it
constexpr std::uint16_t kProtocolLapd = 0x0030;
constexpr std::size_t kMaxFrame = 512;  // LAPD N201 is 260; room for oddities
constexpr std::uint32_t kPcapMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kSnapLength = 65535;
constexpr std::uint8_t kPcapngMagic[4] = {0x0A, 0x0D, 0x0D, 0x0A};

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

void le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void le16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

// The span an interface stands for: N when it is named "spanN" (1-255), as trunkwatch writes
// it; 0 for an interface of another writer.
int span_of(const pcapng::Interface& i) {
  constexpr std::string_view kPrefix = "span";
  const std::string_view name = i.name;
  if (!name.starts_with(kPrefix) || name.size() == kPrefix.size() || name.size() > 7) return 0;
  int n = 0;
  for (char c : name.substr(kPrefix.size())) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n >= 1 && n <= 255 ? n : 0;
}

bool is_dchannel(int linktype) {
  return linktype == kLinktypeLinuxLapd || linktype == kLinktypeLapd;
}

std::string not_a_dchannel(int linktype) {
  const char* name = pcap_datalink_val_to_name(linktype);
  return "link type " + std::to_string(linktype) + " (" + (name ? name : "unknown") +
         ") is not a D-channel capture; expected LINUX_LAPD (177) or LAPD (203)";
}
}  // namespace

std::string_view to_string(CaptureFormat f) {
  return f == CaptureFormat::Pcapng ? "pcapng" : "pcap";
}

bool parse_capture_format(std::string_view name, CaptureFormat& out) {
  if (name == "pcapng") {
    out = CaptureFormat::Pcapng;
  } else if (name == "pcap") {
    out = CaptureFormat::Pcap;
  } else {
    return false;
  }
  return true;
}

// ---- reading --------------------------------------------------------------------------------

std::string PcapReader::open(const std::string& path) {
  path_ = path;
  {
    std::ifstream probe(path, std::ios::binary);
    std::array<std::uint8_t, 4> magic{};
    probe.read(reinterpret_cast<char*>(magic.data()), magic.size());
    if (probe.gcount() == 4 && std::equal(magic.begin(), magic.end(), kPcapngMagic))
      format_ = CaptureFormat::Pcapng;
  }
  if (format_ == CaptureFormat::Pcapng) {
    file_.open(path, std::ios::binary);
    if (!file_) return "cannot open: " + std::string(std::strerror(errno));
    if (std::string err = pcapng_.open(file_); !err.empty()) return err;
    // The first interface is described before any packet: its link type says what the file is.
    if (!pcapng_.interfaces().empty()) {
      linktype_ = pcapng_.interfaces().front().linktype;
      if (!is_dchannel(linktype_)) return not_a_dchannel(linktype_);
    }
    return {};
  }
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  pcap_.reset(pcap_open_offline(path.c_str(), err.data()));
  if (!pcap_) {
    // libpcap names the file itself ("PATH: No such file or directory"); the caller does too.
    std::string message(err.data());
    if (message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
    return message;
  }
  linktype_ = pcap_datalink(pcap_.get());
  if (!is_dchannel(linktype_)) return not_a_dchannel(linktype_);
  return {};
}

ReadStatus PcapReader::next(CapturedFrame& out) {
  const ReadStatus status = format_ == CaptureFormat::Pcapng ? next_pcapng(out) : next_pcap(out);
  if (status == ReadStatus::Frame) {
    if (out.time < kFirstTime || out.time > kLastTime) {
      error_ = "a frame's time is out of range (" +
               std::to_string(out.time.time_since_epoch().count()) + " microseconds from 1970)";
      return ReadStatus::Error;
    }
    if (out.direction_known) link_check_.on_frame(out.span, out.from, out.bytes);
  }
  if (status == ReadStatus::End && !checked_) {
    checked_ = true;
    if (const std::string mixed = link_check_.describe(); !mixed.empty())
      BOOST_LOG_TRIVIAL(warning)
          << path_ << ": several D-channels seem to be recorded under one span number (" << mixed
          << "): their calls are mixed. A classic pcap re-saved by Wireshark loses trunkwatch's "
             "span numbers; replay the original capture, or keep captures as pcapng "
             "(docs/capture-format.md)";
  }
  return status;
}

bool PcapReader::from_record(int linktype, std::span<const std::uint8_t> data, CapturedFrame& out) {
  if (linktype == kLinktypeLapd) {
    out.direction_known = false;
    out.from = Side::Pbx;
    out.span = 1;
    out.bytes = data;
    return true;
  }
  if (data.size() < kLapdPseudoHeaderLen) return false;
  const std::uint16_t pkttype = be16(data.data());
  out.direction_known = pkttype == kPktTypeHost || pkttype == kPktTypeOutgoing;
  out.from = pkttype == kPktTypeOutgoing ? Side::Pbx : Side::Carrier;
  const std::uint8_t* addr = data.data() + 6;
  out.pbx_role = addr[0] != 0 ? Role::Network : Role::User;
  out.span = addr[1] != 0 ? addr[1] : 1;
  out.bytes = data.subspan(kLapdPseudoHeaderLen);
  return true;
}

ReadStatus PcapReader::next_pcap(CapturedFrame& out) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_.get(), &hdr, &data);
  if (rc == PCAP_ERROR_BREAK) return ReadStatus::End;
  if (rc != 1) {
    error_ = pcap_geterr(pcap_.get());
    if (error_.empty()) error_ = "damaged capture file";
    return ReadStatus::Error;
  }
  // The file holds unsigned 32-bit seconds (to 2106); libpcap hands them over as a signed
  // 32-bit number widened, which would put 2038-2106 before 1970.
  const auto seconds = static_cast<std::uint32_t>(hdr->ts.tv_sec);
  out.time = Timestamp(std::chrono::seconds(seconds) + std::chrono::microseconds(hdr->ts.tv_usec));
  return from_record(linktype_, {data, hdr->caplen}, out) ? ReadStatus::Frame : ReadStatus::Skipped;
}

ReadStatus PcapReader::next_pcapng(CapturedFrame& out) {
  pcapng::Packet p;
  switch (pcapng_.next(p)) {
    case pcapng::ReadStatus::Packet:
      break;
    case pcapng::ReadStatus::End:
      return ReadStatus::End;
    case pcapng::ReadStatus::Skipped:
      return ReadStatus::Skipped;
    case pcapng::ReadStatus::Error:
      error_ = pcapng_.error();
      return ReadStatus::Error;
  }
  const pcapng::Interface& i = pcapng_.interfaces()[p.interface];
  if (!is_dchannel(i.linktype)) return ReadStatus::Skipped;
  out.time = Timestamp(std::chrono::microseconds(p.time_us));
  if (!from_record(i.linktype, p.data, out)) return ReadStatus::Skipped;
  // The span: the interface's, when trunkwatch named it; else the pseudo-header's (as in a
  // classic file), else the interface's place in the section.
  if (const int span = span_of(i)) {
    out.span = span;
  } else if (i.linktype == kLinktypeLapd || p.data[7] == 0) {
    out.span = static_cast<int>(std::min<std::uint32_t>(p.interface + 1, 255));
  }
  // The direction: epb_flags when they give it (Wireshark keeps them), else the pseudo-header.
  if (p.flags) {
    const std::uint32_t dir = *p.flags & 3;
    if (dir == pcapng::kFlagsInbound || dir == pcapng::kFlagsOutbound) {
      out.from = dir == pcapng::kFlagsOutbound ? Side::Pbx : Side::Carrier;
      out.direction_known = true;
    }
  }
  return ReadStatus::Frame;
}

// ---- writing --------------------------------------------------------------------------------

std::string PcapWriter::open(const std::string& path, CaptureFormat format) {
  path_ = path;
  format_ = format;
  error_.clear();
  interface_of_span_.fill(0);
  interfaces_ = 0;
  file_.reset(std::fopen(path.c_str(), "wb"));
  if (!file_) return std::strerror(errno);
  std::vector<std::uint8_t>& out = blocks_.bytes();
  out.clear();
  if (format == CaptureFormat::Pcapng) {
    blocks_.section_header("trunkwatch");
  } else {
    le32(out, kPcapMagicMicro);
    le16(out, 2);
    le16(out, 4);
    le32(out, 0);  // thiszone
    le32(out, 0);  // sigfigs
    le32(out, kSnapLength);
    le32(out, kLinktypeLinuxLapd);
  }
  std::string err = put(out);
  out.clear();
  return err;
}

std::string PcapWriter::write(const DFrame& frame, Role pbx_role) {
  return write_raw(frame.span, frame.from, frame.time, pbx_role, frame.bytes);
}

std::string PcapWriter::write_raw(int span, Side from, Timestamp time, Role pbx_role,
                                  std::span<const std::uint8_t> bytes) {
  if (!file_) return "the capture file is not open";
  if (!error_.empty()) return error_;
  if (span < 1 || span > 255)
    return error_ = "span " + std::to_string(span) + " cannot be stored (spans are 1-255)";
  const Timestamp last = format_ == CaptureFormat::Pcap ? kPcapLastTime : kLastTime;
  if (time < kPcapFirstTime || time > last) {
    error_ = "a frame at " + format_time(time) +
             " cannot be stored: " + std::string(to_string(format_)) +
             " holds times from 1970-01-01 to " + format_time(last);
    if (format_ == CaptureFormat::Pcap)
      error_ += " (32-bit seconds); write pcapng, which holds 64-bit times";
    return error_;
  }
  std::array<std::uint8_t, kLapdPseudoHeaderLen + kMaxFrame> rec{};
  const std::size_t n = std::min(bytes.size(), kMaxFrame);
  const std::uint16_t pkttype = from == Side::Pbx ? kPktTypeOutgoing : kPktTypeHost;
  rec[0] = pkttype >> 8;
  rec[1] = pkttype & 0xff;
  rec[2] = kHaTypeLapd >> 8;
  rec[3] = kHaTypeLapd & 0xff;
  rec[4] = 0;
  rec[5] = 1;  // halen
  rec[6] = pbx_role == Role::Network ? 1 : 0;
  rec[7] = static_cast<std::uint8_t>(span);
  rec[14] = kProtocolLapd >> 8;
  rec[15] = kProtocolLapd & 0xff;
  std::copy_n(bytes.begin(), n, rec.begin() + kLapdPseudoHeaderLen);
  const std::span<const std::uint8_t> record(rec.data(), kLapdPseudoHeaderLen + n);
  const auto us = static_cast<std::uint64_t>(time.time_since_epoch().count());
  std::vector<std::uint8_t>& out = blocks_.bytes();
  out.clear();
  if (format_ == CaptureFormat::Pcapng) {
    int& iface = interface_of_span_[static_cast<std::size_t>(span)];
    if (iface == 0) {
      // One interface per span, described when its first frame goes out.
      blocks_.interface(kLinktypeLinuxLapd, "span" + std::to_string(span),
                        "trunkwatch span " + std::to_string(span) +
                            " D-channel, both directions: outbound = sent by the PBX (the " +
                            (pbx_role == Role::Network ? "network" : "user") +
                            " side), inbound = sent by the carrier");
      iface = static_cast<int>(++interfaces_);
    }
    blocks_.enhanced_packet(static_cast<std::uint32_t>(iface - 1), us,
                            from == Side::Pbx ? pcapng::kFlagsOutbound : pcapng::kFlagsInbound,
                            record);
  } else {
    le32(out, static_cast<std::uint32_t>(us / 1'000'000));
    le32(out, static_cast<std::uint32_t>(us % 1'000'000));
    le32(out, static_cast<std::uint32_t>(record.size()));
    le32(out, static_cast<std::uint32_t>(record.size()));
    out.insert(out.end(), record.begin(), record.end());
  }
  return put(out);
}

std::string PcapWriter::put(std::span<const std::uint8_t> bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_.get()) != bytes.size())
    error_ = "cannot write: " + std::string(std::strerror(errno));
  return error_;
}

std::string PcapWriter::flush() {
  if (file_ && error_.empty() && std::fflush(file_.get()) != 0)
    error_ = "cannot write: " + std::string(std::strerror(errno));
  return error_;
}

std::string PcapWriter::close() {
  if (!file_) return error_;
  flush();
  if (std::fclose(file_.release()) != 0 && error_.empty())
    error_ = "cannot write: " + std::string(std::strerror(errno));
  return error_;
}

}  // namespace tw::hal
