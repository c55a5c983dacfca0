#include "hal/replay/pcapng.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace tw::hal::pcapng {

namespace {
constexpr std::uint16_t kOptEnd = 0;
constexpr std::uint16_t kOptIfName = 2;
constexpr std::uint16_t kOptIfDescription = 3;
constexpr std::uint16_t kOptIfTsresol = 9;
constexpr std::uint16_t kOptIfTsoffset = 14;
constexpr std::uint16_t kOptPacketFlags = 2;  // epb_flags, pack_flags
constexpr std::uint16_t kOptShbUserappl = 4;
constexpr std::uint8_t kTsresolMicro = 6;
constexpr int kMaxDecimalExponent = 18;  // 10^-18 s: 10^12 units per microsecond still fit
constexpr int kMaxBinaryExponent = 63;

std::size_t padded(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

std::uint64_t pow10(int n) {
  std::uint64_t v = 1;
  while (n-- > 0) v *= 10;
  return v;
}

std::string text(std::span<const std::uint8_t> v) {
  std::string s(v.begin(), v.end());
  while (!s.empty() && s.back() == '\0') s.pop_back();  // some writers count the NUL
  return s;
}
}  // namespace

std::optional<std::int64_t> Interface::micros(std::uint64_t units) const {
  using U128 = unsigned __int128;
  U128 us;
  if (binary_resolution)
    us = (U128(units) * 1'000'000) >> resolution_exponent;
  else if (resolution_exponent <= 6)
    us = U128(units) * pow10(6 - resolution_exponent);
  else
    us = units / pow10(resolution_exponent - 6);
  const __int128 total = static_cast<__int128>(us) + static_cast<__int128>(offset_s) * 1'000'000;
  if (total > std::numeric_limits<std::int64_t>::max() ||
      total < std::numeric_limits<std::int64_t>::min())
    return std::nullopt;
  return static_cast<std::int64_t>(total);
}

// ---- reading --------------------------------------------------------------------------------

// An option a block's table knows: its code, the lengths it may have, and what it sets. `apply`
// returns nullptr, or why the value is refused.
template <typename Target>
struct Reader::OptionKind {
  std::uint16_t code;
  std::uint16_t min_length, max_length;
  const char* name;
  const char* (*apply)(const Reader&, std::span<const std::uint8_t>, Target&);
};

namespace {
using IfOption = Reader::OptionKind<Interface>;
using PacketOption = Reader::OptionKind<Packet>;
constexpr std::uint16_t kAnyLength = 0xffff;

const IfOption kInterfaceOptions[] = {
    {kOptIfName, 0, kAnyLength, "if_name",
     [](const Reader&, std::span<const std::uint8_t> v, Interface& i) -> const char* {
       i.name = text(v);
       return nullptr;
     }},
    {kOptIfDescription, 0, kAnyLength, "if_description",
     [](const Reader&, std::span<const std::uint8_t> v, Interface& i) -> const char* {
       i.description = text(v);
       return nullptr;
     }},
    {kOptIfTsresol, 1, 1, "if_tsresol",
     [](const Reader&, std::span<const std::uint8_t> v, Interface& i) -> const char* {
       i.binary_resolution = (v[0] & 0x80) != 0;
       i.resolution_exponent = v[0] & 0x7f;
       const int limit = i.binary_resolution ? kMaxBinaryExponent : kMaxDecimalExponent;
       return i.resolution_exponent > limit ? "a time resolution finer than trunkwatch reads"
                                            : nullptr;
     }},
    {kOptIfTsoffset, 8, 8, "if_tsoffset",
     [](const Reader& r, std::span<const std::uint8_t> v, Interface& i) -> const char* {
       i.offset_s = static_cast<std::int64_t>(r.u64(v.data()));
       return nullptr;
     }},
};

const PacketOption kPacketOptions[] = {
    {kOptPacketFlags, 4, 4, "flags",
     [](const Reader& r, std::span<const std::uint8_t> v, Packet& p) -> const char* {
       p.flags = r.u32(v.data());
       return nullptr;
     }},
};
}  // namespace

// A block type the reader handles: the least body (between the length fields) it can have,
// and its handler. Types not listed are skipped.
struct Reader::BlockKind {
  std::uint32_t type;
  std::size_t min_body;
  const char* name;
  Block (Reader::*handle)(std::span<const std::uint8_t>);
};

const Reader::BlockKind Reader::kBlocks[] = {
    // byte-order magic(4) major(2) minor(2) section length(8)
    {kSectionHeader, 16, "section header", &Reader::on_section},
    // link type(2) reserved(2) snap length(4)
    {kInterfaceDescription, 8, "interface description", &Reader::on_interface},
    // interface(4) time high(4) time low(4) captured length(4) original length(4)
    {kEnhancedPacket, 20, "enhanced packet", &Reader::on_enhanced},
    // interface(2) drops(2) time high(4) time low(4) captured length(4) original length(4)
    {kObsoletePacket, 20, "packet", &Reader::on_obsolete},
    // original length(4)
    {kSimplePacket, 4, "simple packet", &Reader::on_simple},
};

std::uint16_t Reader::u16(const std::uint8_t* p) const {
  return big_endian_ ? static_cast<std::uint16_t>(p[0] << 8 | p[1])
                     : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
}

std::uint32_t Reader::u32(const std::uint8_t* p) const {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{p[big_endian_ ? 3 - i : i]} << (8 * i);
  return v;
}

std::uint64_t Reader::u64(const std::uint8_t* p) const {
  const std::uint64_t a = u32(p), b = u32(p + 4);
  return big_endian_ ? (a << 32 | b) : (b << 32 | a);
}

bool Reader::fail(std::string what) {
  error_ = "pcapng block at byte " + std::to_string(offset_) + ": " + std::move(what);
  return false;
}

std::size_t Reader::fill(std::size_t n) {
  if (chunk_end_ - chunk_pos_ < n) {
    std::copy(chunk_.begin() + static_cast<std::ptrdiff_t>(chunk_pos_),
              chunk_.begin() + static_cast<std::ptrdiff_t>(chunk_end_), chunk_.begin());
    chunk_end_ -= chunk_pos_;
    chunk_pos_ = 0;
    if (chunk_.size() < std::max(n, kChunkBytes)) chunk_.resize(std::max(n, kChunkBytes));
    while (chunk_end_ < n) {
      in_->read(reinterpret_cast<char*>(chunk_.data() + chunk_end_),
                static_cast<std::streamsize>(chunk_.size() - chunk_end_));
      const auto got = static_cast<std::size_t>(in_->gcount());
      if (got == 0) break;
      chunk_end_ += got;
    }
  }
  return std::min(n, chunk_end_ - chunk_pos_);
}

std::string Reader::open(std::istream& in) {
  in_ = &in;
  offset_ = 0;
  chunk_pos_ = chunk_end_ = 0;
  const Block b = read_block();
  if (b == Block::Error) return error_;
  if (b == Block::End || block_type_ != kSectionHeader)
    return "not a pcapng file (no section header block at the start)";
  // Up to the first interface description (no packet can come before it): its link type
  // says what the capture is.
  while (interfaces_.empty()) {
    const Block more = read_block();
    if (more == Block::End) break;
    if (more == Block::Error) return error_;
  }
  return {};
}

ReadStatus Reader::next(Packet& out) {
  for (;;) {
    switch (read_block()) {
      case Block::Other:
        continue;
      case Block::Packet:
        out = packet_;
        return ReadStatus::Packet;
      case Block::Skipped:
        return ReadStatus::Skipped;
      case Block::End:
        return ReadStatus::End;
      case Block::Error:
        return ReadStatus::Error;
    }
  }
}

Reader::Block Reader::read_block() {
  if (!error_.empty()) return Block::Error;
  auto truncated = [this](std::size_t have) {
    fail("truncated: the file ends inside this block (" + std::to_string(have) +
         " bytes of it are there)");
    return Block::Error;
  };
  // The block is parsed where it lies in chunk_ (no copy); a packet's data points there until
  // the next block is read.
  const std::size_t got = fill(8);
  if (got == 0) return Block::End;
  if (got < 8) return truncated(got);
  std::size_t have = 8;
  // The section header's type reads the same in both byte orders; its byte-order magic says
  // how to read the rest of the section.
  static constexpr std::array<std::uint8_t, 4> kShbType = {0x0A, 0x0D, 0x0D, 0x0A};
  if (std::equal(kShbType.begin(), kShbType.end(), chunk_.data() + chunk_pos_)) {
    if (const std::size_t m = fill(12); m < 12) return truncated(m);
    have = 12;
    const std::uint8_t* magic = chunk_.data() + chunk_pos_ + 8;
    static constexpr std::array<std::uint8_t, 4> kLittle = {0x4D, 0x3C, 0x2B, 0x1A};
    static constexpr std::array<std::uint8_t, 4> kBig = {0x1A, 0x2B, 0x3C, 0x4D};
    if (std::equal(kLittle.begin(), kLittle.end(), magic))
      big_endian_ = false;
    else if (std::equal(kBig.begin(), kBig.end(), magic))
      big_endian_ = true;
    else
      return fail("section header with an unknown byte-order magic"), Block::Error;
  }
  block_type_ = u32(chunk_.data() + chunk_pos_);
  const std::uint32_t length = u32(chunk_.data() + chunk_pos_ + 4);
  if (length < 12 || length % 4 != 0 || length > kMaxBlockLength || length < have)
    return fail("block length " + std::to_string(length) +
                " (must be a multiple of 4, at least 12 and at most " +
                std::to_string(kMaxBlockLength) + ")"),
           Block::Error;
  if (const std::size_t all = fill(length); all < length) return truncated(all);
  const std::uint8_t* block = chunk_.data() + chunk_pos_;
  chunk_pos_ += length;
  const std::uint64_t start = offset_;
  offset_ += length;
  if (const std::uint32_t trailer = u32(block + length - 4); trailer != length) {
    offset_ = start;
    return fail("block length " + std::to_string(length) + " at its start but " +
                std::to_string(trailer) + " at its end"),
           Block::Error;
  }
  const std::span<const std::uint8_t> body(block + 8, length - 12);
  for (const BlockKind& kind : kBlocks) {
    if (kind.type != block_type_) continue;
    if (body.size() < kind.min_body) {
      offset_ = start;
      return fail(std::string(kind.name) + " block of " + std::to_string(length) +
                  " bytes is too short"),
             Block::Error;
    }
    const Block b = (this->*kind.handle)(body);
    if (b == Block::Error) {
      // The message names the block's own offset.
      const std::string why = error_;
      error_.clear();
      offset_ = start;
      fail(std::string(kind.name) + ": " + why);
    }
    return b;
  }
  return Block::Other;  // a block type trunkwatch does not need: skipped
}

template <typename Target>
bool Reader::read_options(std::span<const std::uint8_t> options,
                          std::span<const OptionKind<Target>> kinds, Target& target) {
  std::size_t off = 0;
  while (off + 4 <= options.size()) {
    const std::uint16_t code = u16(options.data() + off);
    const std::uint16_t length = u16(options.data() + off + 2);
    if (code == kOptEnd) return true;
    if (length > options.size() - off - 4) {
      error_ = "option " + std::to_string(code) + " of " + std::to_string(length) +
               " bytes runs past the block";
      return false;
    }
    const std::span<const std::uint8_t> value = options.subspan(off + 4, length);
    for (const OptionKind<Target>& k : kinds) {
      if (k.code != code) continue;
      if (length < k.min_length || length > k.max_length) {
        error_ = std::string(k.name) + " option of " + std::to_string(length) + " bytes";
        return false;
      }
      if (const char* why = k.apply(*this, value, target)) {
        error_ = std::string(k.name) + ": " + why;
        return false;
      }
    }
    off += 4 + padded(length);
  }
  return true;  // no end-of-options: tolerated
}

Reader::Block Reader::on_section(std::span<const std::uint8_t> body) {
  const std::uint16_t major = u16(body.data() + 4), minor = u16(body.data() + 6);
  if (major != 1) {
    error_ = "pcapng version " + std::to_string(major) + "." + std::to_string(minor) +
             " (trunkwatch reads 1.x)";
    return Block::Error;
  }
  interfaces_.clear();  // interface numbers start again in every section
  return Block::Other;
}

Reader::Block Reader::on_interface(std::span<const std::uint8_t> body) {
  Interface i;
  i.linktype = u16(body.data());
  if (!read_options(body.subspan(8), std::span<const IfOption>(kInterfaceOptions), i))
    return Block::Error;
  interfaces_.push_back(std::move(i));
  return Block::Other;
}

Reader::Block Reader::on_enhanced(std::span<const std::uint8_t> body) {
  const std::uint8_t* p = body.data();
  return packet(u32(p), u32(p + 4), u32(p + 8), u32(p + 12), body.subspan(20));
}

Reader::Block Reader::on_obsolete(std::span<const std::uint8_t> body) {
  const std::uint8_t* p = body.data();
  return packet(u16(p), u32(p + 4), u32(p + 8), u32(p + 12), body.subspan(20));
}

Reader::Block Reader::on_simple(std::span<const std::uint8_t>) {
  if (interfaces_.empty()) {
    error_ = "a packet before any interface description";
    return Block::Error;
  }
  return Block::Skipped;  // no timestamp: nothing to place it in time by
}

Reader::Block Reader::packet(std::uint32_t interface, std::uint32_t ts_high, std::uint32_t ts_low,
                             std::uint32_t caplen, std::span<const std::uint8_t> rest) {
  if (interface >= interfaces_.size()) {
    error_ = "a packet of interface " + std::to_string(interface) + ", which the section has " +
             (interfaces_.empty()
                  ? "not described"
                  : "not described (it describes " + std::to_string(interfaces_.size()) + ")");
    return Block::Error;
  }
  if (caplen > rest.size() || padded(caplen) > rest.size()) {
    error_ = "captured length " + std::to_string(caplen) + " runs past the block";
    return Block::Error;
  }
  packet_ = Packet{};
  packet_.interface = interface;
  packet_.data = rest.first(caplen);
  if (!read_options(rest.subspan(padded(caplen)), std::span<const PacketOption>(kPacketOptions),
                    packet_))
    return Block::Error;
  const auto us = interfaces_[interface].micros(std::uint64_t{ts_high} << 32 | ts_low);
  if (!us) {
    error_ = "timestamp out of range";
    return Block::Error;
  }
  packet_.time_us = *us;
  return Block::Packet;
}

// ---- writing --------------------------------------------------------------------------------

void Writer::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::uint8_t>(v));
  out_.push_back(static_cast<std::uint8_t>(v >> 8));
}

void Writer::u32(std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void Writer::pad() {
  while (out_.size() % 4 != 0) out_.push_back(0);
}

void Writer::option(std::uint16_t code, std::span<const std::uint8_t> value) {
  u16(code);
  u16(static_cast<std::uint16_t>(value.size()));
  out_.insert(out_.end(), value.begin(), value.end());
  pad();
}

void Writer::option(std::uint16_t code, std::string_view value) {
  option(code, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(value.data()),
                                             std::min<std::size_t>(value.size(), 0xfff0)));
}

std::size_t Writer::begin(std::uint32_t type) {
  const std::size_t start = out_.size();
  u32(type);
  u32(0);  // the length, once known
  return start;
}

void Writer::end(std::size_t start) {
  const auto length = static_cast<std::uint32_t>(out_.size() - start + 4);
  u32(length);
  for (int i = 0; i < 4; ++i) out_[start + 4 + i] = static_cast<std::uint8_t>(length >> (8 * i));
}

void Writer::section_header(std::string_view application) {
  const std::size_t start = begin(kSectionHeader);
  u32(kByteOrderMagic);
  u16(1);
  u16(0);
  u32(0xffffffff);  // section length: not given
  u32(0xffffffff);
  option(kOptShbUserappl, application);
  u32(kOptEnd);
  end(start);
}

void Writer::interface(int linktype, std::string_view name, std::string_view description) {
  const std::size_t start = begin(kInterfaceDescription);
  u16(static_cast<std::uint16_t>(linktype));
  u16(0);
  u32(65535);  // snap length, as the classic header says
  option(kOptIfName, name);
  option(kOptIfDescription, description);
  const std::uint8_t resolution = kTsresolMicro;
  option(kOptIfTsresol, std::span<const std::uint8_t>(&resolution, 1));
  u32(kOptEnd);
  end(start);
}

void Writer::enhanced_packet(std::uint32_t interface, std::uint64_t time_us, std::uint32_t flags,
                             std::span<const std::uint8_t> data) {
  const std::size_t start = begin(kEnhancedPacket);
  u32(interface);
  u32(static_cast<std::uint32_t>(time_us >> 32));
  u32(static_cast<std::uint32_t>(time_us));
  u32(static_cast<std::uint32_t>(data.size()));
  u32(static_cast<std::uint32_t>(data.size()));
  out_.insert(out_.end(), data.begin(), data.end());
  pad();
  std::array<std::uint8_t, 4> f{};
  for (int i = 0; i < 4; ++i) f[i] = static_cast<std::uint8_t>(flags >> (8 * i));
  option(kOptPacketFlags, f);
  u32(kOptEnd);
  end(start);
}

}  // namespace tw::hal::pcapng
