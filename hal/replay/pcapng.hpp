// A small pcapng block reader and writer (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng
// sections 3-4), for what trunkwatch needs and libpcap 1.10 cannot do: libpcap writes only
// classic pcap, and when it reads pcapng it does not say which interface a packet came from.
// trunkwatch keeps one interface per span, so the interface is the span (docs/capture-format.md).
//
// The reader takes untrusted bytes: every length is checked against its block before it is
// read, both byte orders are read, several sections are read, blocks it does not know are
// skipped, and a damaged or truncated file is an error naming the byte offset, never a crash.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tw::hal::pcapng {

constexpr std::uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr std::uint32_t kInterfaceDescription = 1;
constexpr std::uint32_t kObsoletePacket = 2;
constexpr std::uint32_t kSimplePacket = 3;
constexpr std::uint32_t kEnhancedPacket = 6;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;
// Larger blocks are refused as damaged: a LAPD frame is a few hundred bytes.
constexpr std::uint32_t kMaxBlockLength = 16u << 20;

// epb_flags bits 0-1: the direction (Wireshark keeps them when it re-saves a capture).
constexpr std::uint32_t kFlagsInbound = 1;
constexpr std::uint32_t kFlagsOutbound = 2;

struct Interface {
  int linktype = 0;
  std::string name;         // if_name, as stored (untrusted)
  std::string description;  // if_description
  // if_tsresol: units of 10^-exponent s, or 2^-exponent s when binary. Default 10^-6.
  bool binary_resolution = false;
  int resolution_exponent = 6;
  std::int64_t offset_s = 0;  // if_tsoffset
  // The packet's time in microseconds since 1970 (fractions of a microsecond dropped), or
  // nullopt when it does not fit.
  std::optional<std::int64_t> micros(std::uint64_t units) const;
};

struct Packet {
  std::uint32_t interface = 0;
  std::int64_t time_us = 0;
  std::optional<std::uint32_t> flags;  // epb_flags / pack_flags when present
  std::span<const std::uint8_t> data;  // valid until the next call to next()
};

enum class ReadStatus { Packet, End, Skipped, Error };

class Reader {
 public:
  // `in` must outlive the reader. Reads the first section header; an empty message on
  // success, else why the bytes are not pcapng.
  std::string open(std::istream& in);
  // Packet; End at a clean end; Skipped for a packet block without a timestamp (simple packet
  // block); Error with error().
  ReadStatus next(Packet& out);
  const std::string& error() const { return error_; }
  // Interfaces of the current section, in order (packets name them by index).
  const std::vector<Interface>& interfaces() const { return interfaces_; }

  // Numbers in the current section's byte order.
  std::uint16_t u16(const std::uint8_t* p) const;
  std::uint32_t u32(const std::uint8_t* p) const;
  std::uint64_t u64(const std::uint8_t* p) const;

  template <typename Target>
  struct OptionKind;

 private:
  enum class Block { Other, Packet, Skipped, End, Error };
  struct BlockKind;
  static const BlockKind kBlocks[];

  Block read_block();
  Block on_section(std::span<const std::uint8_t> body);
  Block on_interface(std::span<const std::uint8_t> body);
  Block on_enhanced(std::span<const std::uint8_t> body);
  Block on_obsolete(std::span<const std::uint8_t> body);
  Block on_simple(std::span<const std::uint8_t> body);
  Block packet(std::uint32_t interface, std::uint32_t ts_high, std::uint32_t ts_low,
               std::uint32_t caplen, std::span<const std::uint8_t> rest);
  // Walks the options in `options` (after a block's fixed part) with the table `kinds`.
  template <typename Target>
  bool read_options(std::span<const std::uint8_t> options,
                    std::span<const OptionKind<Target>> kinds, Target& target);
  bool fail(std::string what);
  // Makes the next `n` bytes of the file lie together in chunk_ from chunk_pos_ (reading
  // kChunkBytes at a time, more for a larger block); how many of them there are (fewer at
  // the end of the file).
  std::size_t fill(std::size_t n);
  static constexpr std::size_t kChunkBytes = 256 * 1024;

  std::istream* in_ = nullptr;
  std::vector<std::uint8_t> chunk_;
  std::size_t chunk_pos_ = 0;  // next unread byte of chunk_
  std::size_t chunk_end_ = 0;  // bytes of chunk_ read from the file
  bool big_endian_ = false;
  std::uint64_t offset_ = 0;  // of the block being read
  std::uint32_t block_type_ = 0;
  std::vector<Interface> interfaces_;
  Packet packet_{};
  std::string error_;
};

// Appends pcapng blocks, little-endian, to a byte buffer the caller writes out.
class Writer {
 public:
  void section_header(std::string_view application);
  void interface(int linktype, std::string_view name, std::string_view description);
  // `time_us` >= 0 (microseconds: every interface is written with if_tsresol 6).
  void enhanced_packet(std::uint32_t interface, std::uint64_t time_us, std::uint32_t flags,
                       std::span<const std::uint8_t> data);
  std::vector<std::uint8_t>& bytes() { return out_; }

 private:
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void option(std::uint16_t code, std::span<const std::uint8_t> value);
  void option(std::uint16_t code, std::string_view value);
  void pad();
  std::size_t begin(std::uint32_t type);
  void end(std::size_t start);
  std::vector<std::uint8_t> out_;
};

}  // namespace tw::hal::pcapng
