// Q.931 decoding on hand-built messages: header, every decoded IE (good and broken), variant
// differences, whole messages, and a randomized robustness run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/q921/lapd.hpp"
#include "monitor/q931/message.hpp"

namespace {

using namespace tw::q931;
using tw::hal::SwitchType;
using Bytes = std::vector<std::uint8_t>;

constexpr SwitchType kAllVariants[] = {SwitchType::Ni2,      SwitchType::Att4ess,
                                       SwitchType::Att5ess,  SwitchType::Dms100,
                                       SwitchType::EuroIsdn, SwitchType::Qsig};
constexpr SwitchType kNorthAmerican[] = {SwitchType::Ni2, SwitchType::Att4ess, SwitchType::Att5ess,
                                         SwitchType::Dms100};
constexpr SwitchType kItu[] = {SwitchType::EuroIsdn, SwitchType::Qsig};

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A variable-length IE: id, length, content.
Bytes ie(std::uint8_t id, const Bytes& content) {
  Bytes out = {id, static_cast<std::uint8_t>(content.size())};
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

// Header with a 2-octet call reference (PRI).
Bytes hdr(std::uint8_t type, std::uint16_t cref = 1, bool flag = false, std::uint8_t pd = kPdQ931) {
  return {pd, 0x02, static_cast<std::uint8_t>((flag ? 0x80 : 0x00) | (cref >> 8)),
          static_cast<std::uint8_t>(cref & 0xff), type};
}

// A SETUP carrying the given IEs.
Bytes setup(std::initializer_list<Bytes> ies) {
  Bytes out = hdr(msg::kSetup);
  for (const auto& i : ies) out.insert(out.end(), i.begin(), i.end());
  return out;
}

DecodeError dec(const Bytes& b, Message& m, SwitchType v = SwitchType::Ni2) {
  return decode(b, v, m);
}

// Decodes and expects success.
Message ok(const Bytes& b, SwitchType v = SwitchType::Ni2) {
  Message m;
  EXPECT_EQ(decode(b, v, m), DecodeError::None);
  return m;
}

DecodeError err(const Bytes& b, SwitchType v = SwitchType::Ni2) {
  Message m;
  return decode(b, v, m);
}

std::string str(std::string_view v) {
  return std::string(v);
}

// =============================================================================================
// Header

TEST(Q931Header, TooShort) {
  EXPECT_EQ(err({}), DecodeError::TooShort);
  EXPECT_EQ(err({0x08}), DecodeError::TooShort);
  EXPECT_EQ(err({0x08, 0x00}), DecodeError::TooShort);
  EXPECT_EQ(err({0x08, 0x01, 0x05}), DecodeError::TooShort);  // call ref but no type
  EXPECT_EQ(err({0x08, 0x02, 0x00, 0x01}), DecodeError::TooShort);
}

TEST(Q931Header, ProtocolDiscriminator) {
  EXPECT_EQ(err({0x09, 0x00, 0x05}), DecodeError::UnknownProtocol);
  EXPECT_EQ(err({0x00, 0x00, 0x05}), DecodeError::UnknownProtocol);
  EXPECT_EQ(err({0x4f, 0x00, 0x05}), DecodeError::UnknownProtocol);  // GR-303
  for (auto v : kAllVariants) EXPECT_EQ(err({0x08, 0x00, 0x05}, v), DecodeError::None);
  // Maintenance discriminators exist for the North American variants only.
  for (auto v : kNorthAmerican) {
    EXPECT_EQ(err({0x03, 0x00, 0x0f}, v), DecodeError::None);
    EXPECT_EQ(err({0x43, 0x00, 0x07}, v), DecodeError::None);
  }
  for (auto v : kItu) {
    EXPECT_EQ(err({0x03, 0x00, 0x0f}, v), DecodeError::UnknownProtocol);
    EXPECT_EQ(err({0x43, 0x00, 0x07}, v), DecodeError::UnknownProtocol);
  }
}

TEST(Q931Header, CallReference) {
  Message m = ok({0x08, 0x00, 0x7b});  // dummy call reference
  EXPECT_EQ(m.call_ref_len, 0);
  EXPECT_EQ(m.call_ref, 0);
  EXPECT_FALSE(m.call_ref_flag);
  EXPECT_FALSE(m.is_global_call_ref());

  m = ok({0x08, 0x01, 0x85, 0x05});  // BRI-style 1 octet, flag set
  EXPECT_EQ(m.call_ref_len, 1);
  EXPECT_TRUE(m.call_ref_flag);
  EXPECT_EQ(m.call_ref, 5);

  m = ok({0x08, 0x02, 0x12, 0x34, 0x05});
  EXPECT_EQ(m.call_ref_len, 2);
  EXPECT_FALSE(m.call_ref_flag);
  EXPECT_EQ(m.call_ref, 0x1234);
  EXPECT_EQ(m.type, msg::kSetup);
  EXPECT_EQ(m.protocol, kPdQ931);

  m = ok({0x08, 0x02, 0xff, 0xff, 0x07});
  EXPECT_TRUE(m.call_ref_flag);
  EXPECT_EQ(m.call_ref, 0x7fff);

  m = ok({0x08, 0x02, 0x80, 0x00, 0x46});
  EXPECT_TRUE(m.call_ref_flag);
  EXPECT_TRUE(m.is_global_call_ref());
}

TEST(Q931Header, BadCallRefLength) {
  EXPECT_EQ(err({0x08, 0x03, 0x00, 0x00, 0x01, 0x05}), DecodeError::BadCallRefLength);
  EXPECT_EQ(err({0x08, 0x0f, 0x00, 0x00, 0x01, 0x05}), DecodeError::BadCallRefLength);
  EXPECT_EQ(err({0x08, 0x02, 0x00}), DecodeError::BadCallRefLength);  // runs past the end
}

TEST(Q931Header, MessageTypes) {
  EXPECT_EQ(err({0x08, 0x00, 0x00}), DecodeError::UnknownMessageType);
  EXPECT_EQ(err({0x08, 0x00, 0x7f}), DecodeError::UnknownMessageType);
  EXPECT_EQ(err({0x08, 0x00, 0x85}), DecodeError::UnknownMessageType);  // bit 8 set
  EXPECT_EQ(err({0x03, 0x00, 0x05}), DecodeError::UnknownMessageType);  // SETUP not maintenance
  EXPECT_EQ(err({0x43, 0x00, 0x45}), DecodeError::UnknownMessageType);
  const std::uint8_t all[] = {msg::kAlerting,
                              msg::kCallProceeding,
                              msg::kProgress,
                              msg::kSetup,
                              msg::kConnect,
                              msg::kSetupAck,
                              msg::kConnectAck,
                              msg::kUserInformation,
                              msg::kSuspendReject,
                              msg::kResumeReject,
                              msg::kHold,
                              msg::kSuspend,
                              msg::kResume,
                              msg::kHoldAck,
                              msg::kSuspendAck,
                              msg::kResumeAck,
                              msg::kHoldReject,
                              msg::kRetrieve,
                              msg::kRetrieveAck,
                              msg::kRetrieveReject,
                              msg::kDetach,
                              msg::kDisconnect,
                              msg::kRestart,
                              msg::kDetachAck,
                              msg::kRelease,
                              msg::kRestartAck,
                              msg::kReleaseComplete,
                              msg::kSegment,
                              msg::kFacility,
                              msg::kRegister,
                              msg::kNotify,
                              msg::kStatusEnquiry,
                              msg::kCongestionControl,
                              msg::kInformation,
                              msg::kStatus};
  for (auto t : all) {
    EXPECT_NE(message_name(kPdQ931, t), nullptr) << int(t);
    EXPECT_EQ(ok({0x08, 0x00, t}).type, t);
  }
}

TEST(Q931Header, MessageNames) {
  EXPECT_STREQ(message_name(0x08, 0x05), "SETUP");
  EXPECT_STREQ(message_name(0x08, 0x07), "CONNECT");
  EXPECT_STREQ(message_name(0x08, 0x0f), "CONNECT ACKNOWLEDGE");
  EXPECT_STREQ(message_name(0x08, 0x02), "CALL PROCEEDING");
  EXPECT_STREQ(message_name(0x08, 0x0d), "SETUP ACKNOWLEDGE");
  EXPECT_STREQ(message_name(0x08, 0x45), "DISCONNECT");
  EXPECT_STREQ(message_name(0x08, 0x4d), "RELEASE");
  EXPECT_STREQ(message_name(0x08, 0x5a), "RELEASE COMPLETE");
  EXPECT_STREQ(message_name(0x08, 0x46), "RESTART");
  EXPECT_STREQ(message_name(0x08, 0x4e), "RESTART ACKNOWLEDGE");
  EXPECT_STREQ(message_name(0x08, 0x75), "STATUS ENQUIRY");
  EXPECT_STREQ(message_name(0x08, 0x7d), "STATUS");
  EXPECT_STREQ(message_name(0x08, 0x7b), "INFORMATION");
  EXPECT_STREQ(message_name(0x08, 0x62), "FACILITY");
  EXPECT_STREQ(message_name(0x08, 0x6e), "NOTIFY");
  EXPECT_STREQ(message_name(0x08, 0x20), "USER INFORMATION");
  EXPECT_STREQ(message_name(0x08, 0x28), "HOLD ACKNOWLEDGE");
  EXPECT_EQ(message_name(0x08, 0x00), nullptr);
  EXPECT_EQ(message_name(0x08, 0xff), nullptr);
  // Maintenance: the codes are swapped between the two discriminators (libpri).
  EXPECT_STREQ(message_name(0x03, 0x0f), "SERVICE");
  EXPECT_STREQ(message_name(0x03, 0x07), "SERVICE ACKNOWLEDGE");
  EXPECT_STREQ(message_name(0x43, 0x07), "SERVICE");
  EXPECT_STREQ(message_name(0x43, 0x0f), "SERVICE ACKNOWLEDGE");
  EXPECT_EQ(message_name(0x03, 0x05), nullptr);
  EXPECT_EQ(message_name(0x09, 0x05), nullptr);
}

TEST(Q931Header, ErrorStrings) {
  const DecodeError all[] = {DecodeError::None,
                             DecodeError::TooShort,
                             DecodeError::UnknownProtocol,
                             DecodeError::BadCallRefLength,
                             DecodeError::UnknownMessageType,
                             DecodeError::TruncatedIe,
                             DecodeError::BadIeContent};
  for (std::size_t i = 0; i < std::size(all); ++i) {
    ASSERT_NE(to_string(all[i]), nullptr);
    for (std::size_t j = 0; j < i; ++j) EXPECT_STRNE(to_string(all[i]), to_string(all[j]));
  }
  EXPECT_STREQ(to_string(DecodeError::TruncatedIe), "truncated information element");
}

TEST(Q931Header, DecodeResetsOutput) {
  Message m;
  ASSERT_EQ(dec(setup({ie(0x6c, cat({{0x21, 0x80}, text("100")})), {0xa1}}), m), DecodeError::None);
  ASSERT_TRUE(m.calling.present);
  ASSERT_TRUE(m.sending_complete);
  ASSERT_EQ(dec({0x08, 0x00, 0x7b}, m), DecodeError::None);
  EXPECT_FALSE(m.calling.present);
  EXPECT_TRUE(m.calling.digits.empty());
  EXPECT_FALSE(m.sending_complete);
  EXPECT_EQ(m.type, msg::kInformation);
}

// =============================================================================================
// Bearer capability (0x04)

TEST(Q931Bearer, SpeechMuLaw) {
  const Message m = ok(setup({ie(0x04, {0x80, 0x90, 0xa2})}));
  ASSERT_TRUE(m.bearer.present);
  EXPECT_EQ(m.bearer.coding_standard, 0);
  EXPECT_EQ(m.bearer.transfer_capability, 0x00);
  EXPECT_EQ(m.bearer.transfer_mode, 0);
  EXPECT_EQ(m.bearer.transfer_rate, 0x10);
  EXPECT_EQ(m.bearer.rate_multiplier, 0);
  EXPECT_EQ(m.bearer.layer1_protocol, 2);
}

TEST(Q931Bearer, AudioALawAndDigital) {
  Message m = ok(setup({ie(0x04, {0x90, 0x90, 0xa3})}));
  EXPECT_EQ(m.bearer.transfer_capability, 0x10);
  EXPECT_EQ(m.bearer.layer1_protocol, 3);
  m = ok(setup({ie(0x04, {0x88, 0x90})}));  // unrestricted digital, no layer 1
  EXPECT_EQ(m.bearer.transfer_capability, 0x08);
  EXPECT_EQ(m.bearer.transfer_rate, 0x10);
  EXPECT_EQ(m.bearer.layer1_protocol, 0);
  m = ok(setup({ie(0x04, {0x88, 0xc0, 0xc6})}));  // packet mode, layer 2 octet (not layer 1)
  EXPECT_EQ(m.bearer.transfer_mode, 2);
  EXPECT_EQ(m.bearer.transfer_rate, 0);
  EXPECT_EQ(m.bearer.layer1_protocol, 0);
  m = ok(setup({ie(0x04, {0xc0, 0x90, 0xa2})}));  // national coding standard
  EXPECT_EQ(m.bearer.coding_standard, 2);
  EXPECT_EQ(m.bearer.transfer_capability, 0);
}

TEST(Q931Bearer, MultirateNeedsOctet41) {
  Message m = ok(setup({ie(0x04, {0x88, 0x98, 0x86})}));
  EXPECT_EQ(m.bearer.transfer_rate, 0x18);
  EXPECT_EQ(m.bearer.rate_multiplier, 6);
  EXPECT_EQ(m.bearer.layer1_protocol, 0);
  m = ok(setup({ie(0x04, {0x80, 0x98, 0x82, 0xa2})}));
  EXPECT_EQ(m.bearer.rate_multiplier, 2);
  EXPECT_EQ(m.bearer.layer1_protocol, 2);
  EXPECT_EQ(err(setup({ie(0x04, {0x88, 0x98})})), DecodeError::BadIeContent);
}

TEST(Q931Bearer, ExtensionBits) {
  // Octet 4 with bit 8 clear: old-style 4a follows and is skipped before octet 5.
  Message m = ok(setup({ie(0x04, {0x80, 0x10, 0x80, 0xa2})}));
  EXPECT_EQ(m.bearer.transfer_rate, 0x10);
  EXPECT_EQ(m.bearer.layer1_protocol, 2);
  // Octet 5 with bit 8 clear (5a follows): layer 1 is still bits 1-5.
  m = ok(setup({ie(0x04, {0x88, 0x90, 0x21, 0x8f})}));
  EXPECT_EQ(m.bearer.layer1_protocol, 1);
  // Octet 3 group never ends, or ends on the last octet: octet 4 is missing.
  EXPECT_EQ(err(setup({ie(0x04, {0x00, 0x10})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x04, {0x00, 0x90})})), DecodeError::BadIeContent);
  // Octet 4 group never ends.
  EXPECT_EQ(err(setup({ie(0x04, {0x80, 0x10, 0x10})})), DecodeError::BadIeContent);
}

TEST(Q931Bearer, Broken) {
  EXPECT_EQ(err(setup({ie(0x04, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x04, {0x80})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x04, 0x03, 0x80, 0x90}})), DecodeError::TruncatedIe);
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x04}})), DecodeError::TruncatedIe);
}

TEST(Q931Bearer, FirstOneWins) {
  const Message m = ok(setup({ie(0x04, {0x80, 0x90, 0xa2}), ie(0x04, {0x88, 0x90})}));
  EXPECT_EQ(m.bearer.transfer_capability, 0);
  EXPECT_EQ(m.bearer.layer1_protocol, 2);
}

// =============================================================================================
// Channel identification (0x18)

TEST(Q931ChannelId, PriExclusiveChannel) {
  const Message m = ok(setup({ie(0x18, {0xa9, 0x83, 0x85})}));
  ASSERT_TRUE(m.channel.present);
  EXPECT_FALSE(m.channel.interface_explicit);
  EXPECT_TRUE(m.channel.primary_rate);
  EXPECT_TRUE(m.channel.exclusive);
  EXPECT_FALSE(m.channel.d_channel);
  EXPECT_EQ(m.channel.selection, 1);
  EXPECT_EQ(m.channel.channel, 5);
  EXPECT_FALSE(m.channel.slot_map);
}

TEST(Q931ChannelId, PreferredAndLists) {
  Message m = ok(setup({ie(0x18, {0xa1, 0x83, 0x97})}));
  EXPECT_FALSE(m.channel.exclusive);
  EXPECT_EQ(m.channel.channel, 23);
  // A channel list (RESTART): the first number is kept.
  m = ok(setup({ie(0x18, {0xa9, 0x83, 0x05, 0x06, 0x87})}));
  EXPECT_EQ(m.channel.channel, 5);
  // E1 channel 31.
  m = ok(setup({ie(0x18, {0xa9, 0x83, 0x9f})}));
  EXPECT_EQ(m.channel.channel, 31);
}

TEST(Q931ChannelId, SlotMapAndOtherChannelTypes) {
  Message m = ok(setup({ie(0x18, {0xa9, 0x93, 0x04, 0x00, 0x10})}));
  EXPECT_TRUE(m.channel.slot_map);
  EXPECT_EQ(m.channel.channel, 0);
  m = ok(setup({ie(0x18, {0xa9, 0x86, 0x81})}));  // H0 channel units: no B-channel number
  EXPECT_FALSE(m.channel.slot_map);
  EXPECT_EQ(m.channel.channel, 0);
}

TEST(Q931ChannelId, InterfaceIdentifier) {
  Message m = ok(setup({ie(0x18, {0xe9, 0x81, 0x83, 0x85})}));
  EXPECT_TRUE(m.channel.interface_explicit);
  EXPECT_EQ(m.channel.interface_id, 1);
  EXPECT_EQ(m.channel.channel, 5);
  // Interface identifier over two octets (bit 8 clear on the first).
  m = ok(setup({ie(0x18, {0xe9, 0x02, 0x81, 0x83, 0x8a})}));
  EXPECT_EQ(m.channel.interface_id, 2);
  EXPECT_EQ(m.channel.channel, 10);
  // Identifier never terminated, or missing.
  EXPECT_EQ(err(setup({ie(0x18, {0xe9, 0x02, 0x03})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x18, {0xe9})})), DecodeError::BadIeContent);
}

TEST(Q931ChannelId, NoAnyDChannelAndBri) {
  Message m = ok(setup({ie(0x18, {0xa3})}));  // any channel
  EXPECT_EQ(m.channel.selection, 3);
  EXPECT_EQ(m.channel.channel, 0);
  m = ok(setup({ie(0x18, {0xa0})}));  // no channel
  EXPECT_EQ(m.channel.selection, 0);
  EXPECT_EQ(m.channel.channel, 0);
  m = ok(setup({ie(0x18, {0xac})}));  // D-channel (call-independent signalling)
  EXPECT_TRUE(m.channel.d_channel);
  EXPECT_TRUE(m.channel.exclusive);
  EXPECT_EQ(m.channel.channel, 0);
  m = ok(setup({ie(0x18, {0x89})}));  // BRI, B1
  EXPECT_FALSE(m.channel.primary_rate);
  EXPECT_EQ(m.channel.channel, 1);
  m = ok(setup({ie(0x18, {0x8a})}));  // BRI, B2
  EXPECT_EQ(m.channel.channel, 2);
}

TEST(Q931ChannelId, Broken) {
  EXPECT_EQ(err(setup({ie(0x18, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x18, {0xa9})})), DecodeError::BadIeContent);        // 3.2/3.3 missing
  EXPECT_EQ(err(setup({ie(0x18, {0xa9, 0x83})})), DecodeError::BadIeContent);  // 3.3 missing
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x18, 0x03, 0xa9, 0x83}})), DecodeError::TruncatedIe);
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x18, 0xff, 0xa9, 0x83, 0x85}})), DecodeError::TruncatedIe);
}

// =============================================================================================
// Calling party number (0x6c)

TEST(Q931Calling, WithPresentation) {
  const Message m = ok(setup({ie(0x6c, cat({{0x21, 0x80}, text("2125551234")}))}));
  ASSERT_TRUE(m.calling.present);
  EXPECT_EQ(m.calling.type, 2);
  EXPECT_EQ(m.calling.plan, 1);
  EXPECT_TRUE(m.calling.has_presentation);
  EXPECT_EQ(m.calling.presentation, 0);
  EXPECT_EQ(m.calling.screening, 0);
  EXPECT_EQ(str(m.calling.digits.view()), "2125551234");
  EXPECT_FALSE(m.calling.digits.truncated);
  EXPECT_FALSE(m.ani.present);
}

TEST(Q931Calling, RestrictedAndNoOctet3a) {
  Message m = ok(setup({ie(0x6c, cat({{0x11, 0xa1}, text("4930123")}))}));
  EXPECT_EQ(m.calling.type, 1);
  EXPECT_EQ(m.calling.presentation, 1);
  EXPECT_EQ(m.calling.screening, 1);
  EXPECT_EQ(str(m.calling.digits.view()), "4930123");
  m = ok(setup({ie(0x6c, cat({{0xc1}, text("5551")}))}));  // octet 3 ends the group
  EXPECT_EQ(m.calling.type, 4);
  EXPECT_FALSE(m.calling.has_presentation);
  EXPECT_EQ(str(m.calling.digits.view()), "5551");
  m = ok(setup({ie(0x6c, cat({{0x21, 0xbd}, text("1")}))}));  // spare bits 5-3 set: ignored
  EXPECT_EQ(m.calling.presentation, 1);
  EXPECT_EQ(m.calling.screening, 1);
  m = ok(setup({ie(0x6c, {0x21, 0xc3})}));  // not available, no digits
  EXPECT_EQ(m.calling.presentation, 2);
  EXPECT_TRUE(m.calling.digits.empty());
}

TEST(Q931Calling, Octet3aExtension) {
  // Octet 3a with bit 8 clear: further octets up to one with bit 8 set are skipped.
  const Message m = ok(setup({ie(0x6c, cat({{0x21, 0x20, 0x05, 0x80}, text("77")}))}));
  EXPECT_EQ(m.calling.presentation, 1);
  EXPECT_EQ(str(m.calling.digits.view()), "77");
  EXPECT_EQ(err(setup({ie(0x6c, cat({{0x21, 0x00}, text("55")}))})), DecodeError::BadIeContent);
}

TEST(Q931Calling, Broken) {
  EXPECT_EQ(err(setup({ie(0x6c, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x6c, {0x21})})), DecodeError::BadIeContent);  // 3a announced
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x6c, 0x05, 0x21, 0x80, 0x35}})), DecodeError::TruncatedIe);
}

TEST(Q931Calling, OverlongDigitsTruncate) {
  const std::string digits(50, '7');
  const Message m = ok(setup({ie(0x6c, cat({{0x21, 0x80}, text(digits)}))}));
  EXPECT_EQ(m.calling.digits.size, kMaxDigits);
  EXPECT_TRUE(m.calling.digits.truncated);
  EXPECT_EQ(str(m.calling.digits.view()), std::string(kMaxDigits, '7'));
  const Message exact = ok(setup({ie(0x6c, cat({{0xa1}, text(std::string(40, '1'))}))}));
  EXPECT_EQ(exact.calling.digits.size, 40);
  EXPECT_FALSE(exact.calling.digits.truncated);
}

TEST(Q931Calling, NetworkProvidedIsAni) {
  // Network-provided (screening 3) then user-provided: calling = user, ani = network.
  Message m = ok(setup({ie(0x6c, cat({{0x21, 0x83}, text("2125550000")})),
                        ie(0x6c, cat({{0x21, 0x80}, text("2125551234")}))}));
  EXPECT_EQ(str(m.calling.digits.view()), "2125551234");
  EXPECT_EQ(m.calling.screening, 0);
  ASSERT_TRUE(m.ani.present);
  EXPECT_EQ(str(m.ani.digits.view()), "2125550000");
  EXPECT_EQ(m.ani.screening, 3);
  // User-provided first: it stays.
  m = ok(setup({ie(0x6c, cat({{0x21, 0x80}, text("2125551234")})),
                ie(0x6c, cat({{0x21, 0x83}, text("2125550000")}))}));
  EXPECT_EQ(str(m.calling.digits.view()), "2125551234");
  EXPECT_EQ(str(m.ani.digits.view()), "2125550000");
  // Only a network-provided one: both.
  m = ok(setup({ie(0x6c, cat({{0x21, 0xa3}, text("2125550000")}))}));
  EXPECT_EQ(str(m.calling.digits.view()), "2125550000");
  EXPECT_EQ(m.calling.presentation, 1);
  EXPECT_EQ(str(m.ani.digits.view()), "2125550000");
  // Two user-provided: the first wins.
  m = ok(setup({ie(0x6c, cat({{0xa1}, text("1")})), ie(0x6c, cat({{0xa1}, text("2")}))}));
  EXPECT_EQ(str(m.calling.digits.view()), "1");
  EXPECT_FALSE(m.ani.present);
}

// =============================================================================================
// Called party number (0x70)

TEST(Q931Called, Digits) {
  Message m = ok(setup({ie(0x70, cat({{0xc1}, text("5551234")}))}));
  ASSERT_TRUE(m.called.present);
  EXPECT_EQ(m.called.type, 4);
  EXPECT_EQ(m.called.plan, 1);
  EXPECT_FALSE(m.called.has_presentation);
  EXPECT_EQ(str(m.called.digits.view()), "5551234");
  m = ok(setup({ie(0x70, cat({{0x91}, text("011441234567890")}))}));
  EXPECT_EQ(m.called.type, 1);
  EXPECT_EQ(str(m.called.digits.view()), "011441234567890");
  m = ok(setup({ie(0x70, {0x80})}));  // en-bloc nothing yet (overlap dialling)
  EXPECT_TRUE(m.called.present);
  EXPECT_TRUE(m.called.digits.empty());
  // Octet 3 only: a clear bit 8 does not announce more octets.
  m = ok(setup({ie(0x70, cat({{0x41}, text("911")}))}));
  EXPECT_EQ(str(m.called.digits.view()), "911");
}

TEST(Q931Called, BrokenAndOverlong) {
  EXPECT_EQ(err(setup({ie(0x70, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x70, 0x08, 0xc1, '5'}})), DecodeError::TruncatedIe);
  const Message m = ok(setup({ie(0x70, cat({{0xc1}, text(std::string(41, '9'))}))}));
  EXPECT_EQ(m.called.digits.size, 40);
  EXPECT_TRUE(m.called.digits.truncated);
}

// =============================================================================================
// Redirecting number (0x74)

TEST(Q931Redirecting, Octets3a3b) {
  Message m = ok(setup({ie(0x74, cat({{0x11, 0x03, 0x81}, text("2125550100")}))}));
  ASSERT_TRUE(m.redirecting.present);
  EXPECT_EQ(m.redirecting.type, 1);
  EXPECT_EQ(m.redirecting.plan, 1);
  EXPECT_TRUE(m.redirecting.has_presentation);
  EXPECT_EQ(m.redirecting.presentation, 0);
  EXPECT_EQ(m.redirecting.screening, 3);
  EXPECT_EQ(m.redirecting.reason, 1);  // busy
  EXPECT_EQ(str(m.redirecting.digits.view()), "2125550100");
  m = ok(setup({ie(0x74, cat({{0x21, 0xa0}, text("55")}))}));  // no 3b
  EXPECT_EQ(m.redirecting.presentation, 1);
  EXPECT_EQ(m.redirecting.reason, 0);
  EXPECT_EQ(str(m.redirecting.digits.view()), "55");
  m = ok(setup({ie(0x74, cat({{0xa1}, text("66")}))}));  // octet 3 only
  EXPECT_FALSE(m.redirecting.has_presentation);
  EXPECT_EQ(str(m.redirecting.digits.view()), "66");
  m = ok(setup({ie(0x74, cat({{0x21, 0x00, 0xfa}, text("9")}))}));  // 3b spare bits set
  EXPECT_EQ(m.redirecting.reason, 0x0a);
  m = ok(setup({ie(0x74, cat({{0x21, 0x01, 0x0f, 0x80}, text("8")}))}));  // 3b extended
  EXPECT_EQ(m.redirecting.reason, 0x0f);
  EXPECT_EQ(str(m.redirecting.digits.view()), "8");
}

TEST(Q931Redirecting, Broken) {
  EXPECT_EQ(err(setup({ie(0x74, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x74, {0x11})})), DecodeError::BadIeContent);        // no 3a
  EXPECT_EQ(err(setup({ie(0x74, {0x11, 0x03})})), DecodeError::BadIeContent);  // no 3b
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x74, 0x04, 0x11, 0x03}})), DecodeError::TruncatedIe);
}

// =============================================================================================
// Connected number (0x4c) and connected address (0x0c)

TEST(Q931Connected, LikeCalling) {
  Message m = ok(cat({hdr(msg::kConnect, 1, true), ie(0x4c, cat({{0x21, 0x81}, text("123")}))}));
  ASSERT_TRUE(m.connected.present);
  EXPECT_EQ(m.connected.type, 2);
  EXPECT_TRUE(m.connected.has_presentation);
  EXPECT_EQ(m.connected.screening, 1);
  EXPECT_EQ(str(m.connected.digits.view()), "123");
  m = ok(cat({hdr(msg::kConnect), ie(0x0c, cat({{0xa1}, text("456")}))}));
  EXPECT_EQ(str(m.connected.digits.view()), "456");
  EXPECT_EQ(err(cat({hdr(msg::kConnect), ie(0x4c, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kConnect), ie(0x4c, {0x01})})), DecodeError::BadIeContent);
}

TEST(Q931Connected, LucentOctet3aWorkaroundPerVariant) {
  // Octet 3 says "last octet" but an octet with bit 8 set (not a digit) follows.
  const Bytes b = cat({hdr(msg::kConnect), ie(0x4c, cat({{0xa1, 0xa0}, text("123")}))});
  for (auto v : kNorthAmerican) {
    const Message m = ok(b, v);
    EXPECT_TRUE(m.connected.has_presentation);
    EXPECT_EQ(m.connected.presentation, 1);
    EXPECT_EQ(str(m.connected.digits.view()), "123");
  }
  for (auto v : kItu) {
    const Message m = ok(b, v);
    EXPECT_FALSE(m.connected.has_presentation);
    EXPECT_EQ(str(m.connected.digits.view()),
              "\xa0"
              "123");
  }
}

// =============================================================================================
// Cause (0x08)

TEST(Q931Cause, Basic) {
  Message m = ok(cat({hdr(msg::kDisconnect), ie(0x08, {0x82, 0x90})}));
  ASSERT_TRUE(m.cause.present);
  EXPECT_EQ(m.cause.coding_standard, 0);
  EXPECT_EQ(m.cause.location, 2);
  EXPECT_EQ(m.cause.value, 16);
  EXPECT_TRUE(m.cause.diagnostics.empty());
  m = ok(cat({hdr(msg::kDisconnect), ie(0x08, {0xe1, 0x91})}));  // network specific, busy
  EXPECT_EQ(m.cause.coding_standard, 3);
  EXPECT_EQ(m.cause.location, 1);
  EXPECT_EQ(m.cause.value, 17);
}

TEST(Q931Cause, RecommendationAndDiagnostics) {
  Message m = ok(cat({hdr(msg::kRelease), ie(0x08, {0x02, 0x80, 0x90})}));  // octet 3a
  EXPECT_EQ(m.cause.location, 2);
  EXPECT_EQ(m.cause.value, 16);
  m = ok(cat({hdr(msg::kRelease), ie(0x08, {0x80, 0xe6, '3', '0', '3'})}));  // T303 expiry
  EXPECT_EQ(m.cause.value, 102);
  EXPECT_EQ(str(m.cause.diagnostics.view()), "303");
  m = ok(cat({hdr(msg::kRelease), ie(0x08, cat({{0x80, 0xe6}, text(std::string(20, 'x'))}))}));
  EXPECT_EQ(m.cause.diagnostics.size, 16);
  EXPECT_TRUE(m.cause.diagnostics.truncated);
}

TEST(Q931Cause, TwoCausesKeepTheFirst) {
  const Message m =
      ok(cat({hdr(msg::kDisconnect), ie(0x08, {0x82, 0x90}), ie(0x08, {0x83, 0x91})}));
  EXPECT_EQ(m.cause.value, 16);
  EXPECT_EQ(m.cause.location, 2);
  // The second is still checked.
  EXPECT_EQ(err(cat({hdr(msg::kDisconnect), ie(0x08, {0x82, 0x90}), ie(0x08, {0x02, 0x80})})),
            DecodeError::BadIeContent);
}

TEST(Q931Cause, Broken) {
  EXPECT_EQ(err(cat({hdr(msg::kDisconnect), ie(0x08, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kDisconnect), ie(0x08, {0x82})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kDisconnect), ie(0x08, {0x02, 0x80})})),
            DecodeError::BadIeContent);  // 3a present, octet 4 missing
  EXPECT_EQ(err(cat({hdr(msg::kDisconnect), {0x08, 0x02, 0x82}})), DecodeError::TruncatedIe);
}

// =============================================================================================
// Progress indicator (0x1e)

TEST(Q931Progress, SingleAndSeveral) {
  Message m = ok(cat({hdr(msg::kProgress), ie(0x1e, {0x82, 0x88})}));
  ASSERT_TRUE(m.progress.present);
  EXPECT_EQ(m.progress.coding_standard, 0);
  EXPECT_EQ(m.progress.location, 2);
  EXPECT_EQ(m.progress.description, 8);
  EXPECT_EQ(m.progress.descriptions, 1u << 8);
  m = ok(cat({hdr(msg::kAlerting), ie(0x1e, {0x81, 0x81}), ie(0x1e, {0x82, 0x88})}));
  EXPECT_EQ(m.progress.location, 1);
  EXPECT_EQ(m.progress.description, 1);
  EXPECT_EQ(m.progress.descriptions, (1u << 1) | (1u << 8));
  m = ok(cat({hdr(msg::kAlerting), ie(0x1e, {0xe2, 0xff})}));
  EXPECT_EQ(m.progress.coding_standard, 3);
  EXPECT_EQ(m.progress.description, 0x7f);
  EXPECT_EQ(m.progress.descriptions, 0u);
}

TEST(Q931Progress, Broken) {
  EXPECT_EQ(err(cat({hdr(msg::kProgress), ie(0x1e, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kProgress), ie(0x1e, {0x82})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kProgress), {0x1e, 0x02, 0x82}})), DecodeError::TruncatedIe);
}

// =============================================================================================
// Display (0x28)

TEST(Q931Display, PlainText) {
  for (auto v : kAllVariants) {
    const Message m = ok(setup({ie(0x28, text("ALICE"))}), v);
    EXPECT_EQ(str(m.display.view()), "ALICE");
  }
}

TEST(Q931Display, TypeOctetPerVariant) {
  const Bytes b = setup({ie(0x28, cat({{0xb1}, text("ALICE")}))});
  for (auto v : kNorthAmerican) EXPECT_EQ(str(ok(b, v).display.view()), "ALICE");
  for (auto v : kItu)
    EXPECT_EQ(str(ok(b, v).display.view()),
              "\xb1"
              "ALICE");
  // Only the type octet.
  EXPECT_TRUE(ok(setup({ie(0x28, {0xb1})}), SwitchType::Ni2).display.empty());
  EXPECT_EQ(ok(setup({ie(0x28, {0xb1})}), SwitchType::EuroIsdn).display.size, 1);
}

TEST(Q931Display, EmptyOverlongAndTruncated) {
  Message m = ok(setup({ie(0x28, {})}));
  EXPECT_TRUE(m.display.empty());
  m = ok(setup({ie(0x28, text(std::string(100, 'D')))}));
  EXPECT_EQ(m.display.size, kMaxDisplay);
  EXPECT_TRUE(m.display.truncated);
  EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x28, 0x05, 'A', 'L'}})), DecodeError::TruncatedIe);
  // First non-empty display wins.
  m = ok(setup({ie(0x28, text("ONE")), ie(0x28, text("TWO"))}));
  EXPECT_EQ(str(m.display.view()), "ONE");
}

// =============================================================================================
// Keypad facility (0x2c)

TEST(Q931Keypad, Digits) {
  Message m = ok(cat({hdr(msg::kInformation), ie(0x2c, text("*72#"))}));
  EXPECT_EQ(str(m.keypad.view()), "*72#");
  m = ok(cat({hdr(msg::kInformation), ie(0x2c, text(std::string(45, '1')))}));
  EXPECT_EQ(m.keypad.size, kMaxDigits);
  EXPECT_TRUE(m.keypad.truncated);
  EXPECT_EQ(err(cat({hdr(msg::kInformation), ie(0x2c, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kInformation), {0x2c, 0x03, '*'}})), DecodeError::TruncatedIe);
}

// =============================================================================================
// Restart indicator (0x79)

TEST(Q931Restart, Classes) {
  Message m = ok(cat({hdr(msg::kRestart, 0), ie(0x79, {0x87})}));
  ASSERT_TRUE(m.restart.present);
  EXPECT_EQ(m.restart.restart_class, 7);
  m = ok(cat({hdr(msg::kRestart, 0), ie(0x79, {0x86})}));
  EXPECT_EQ(m.restart.restart_class, 6);
  m = ok(cat({hdr(msg::kRestart, 0), ie(0x79, {0x80})}));
  EXPECT_EQ(m.restart.restart_class, 0);
  EXPECT_EQ(err(cat({hdr(msg::kRestart, 0), ie(0x79, {})})), DecodeError::BadIeContent);
  EXPECT_EQ(err(cat({hdr(msg::kRestart, 0), {0x79, 0x01}})), DecodeError::TruncatedIe);
}

// =============================================================================================
// Single-octet IEs

TEST(Q931SingleOctet, SendingCompleteAndMoreData) {
  Message m = ok(setup({{0xa1}}));
  EXPECT_TRUE(m.sending_complete);
  EXPECT_FALSE(m.more_data);
  m = ok(setup({{0xa0}}));
  EXPECT_TRUE(m.more_data);
  EXPECT_FALSE(m.sending_complete);
  m = ok(setup({{0xb1}, {0xd1}}));  // congestion level, repeat indicator: known, skipped
  EXPECT_EQ(m.unknown_ies, 0);
  m = ok(setup({{0x85}, {0xe0}}));
  EXPECT_EQ(m.unknown_ies, 2);
}

// =============================================================================================
// Change status (0x01), North American maintenance

TEST(Q931ChangeStatus, PerVariant) {
  const Bytes b = cat({hdr(msg::kService, 0, true, kPdMaintenance), ie(0x01, {0xc2})});
  for (auto v : kNorthAmerican) {
    const Message m = ok(b, v);
    ASSERT_TRUE(m.change_status.present);
    EXPECT_EQ(m.change_status.status, 2);
  }
  // Not defined by ITU variants: an unknown IE there (in a SETUP, since they have no SERVICE).
  const Bytes s = setup({ie(0x01, {0xc2})});
  for (auto v : kItu) {
    const Message m = ok(s, v);
    EXPECT_FALSE(m.change_status.present);
    EXPECT_EQ(m.unknown_ies, 1);
  }
  EXPECT_EQ(err(cat({hdr(msg::kService, 0, true, kPdMaintenance), ie(0x01, {})})),
            DecodeError::BadIeContent);
  EXPECT_EQ(err(setup({ie(0x01, {})}), SwitchType::EuroIsdn), DecodeError::None);
}

// =============================================================================================
// Unknown IEs, truncation, codeset shifts

TEST(Q931Ies, UnknownAndSkipped) {
  Message m = ok(setup({ie(0x5a, {0x01, 0x02}), ie(0x1c, {0x91, 0xa1, 0x00}),
                        ie(0x7e, {0x04, 'h', 'i'}), ie(0x6c, cat({{0xa1}, text("9")}))}));
  EXPECT_EQ(m.unknown_ies, 1);  // 0x5a only; facility and user-user are known Q.931 IEs
  EXPECT_EQ(m.other_codeset_ies, 0);
  EXPECT_EQ(str(m.calling.digits.view()), "9");
  m = ok(setup({ie(0x5a, {}), ie(0x02, {}), ie(0x50, {0xff})}));
  EXPECT_EQ(m.unknown_ies, 3);
}

TEST(Q931Ies, CountersSaturate) {
  Bytes b = hdr(msg::kSetup);
  for (int i = 0; i < 300; ++i) {
    b.push_back(0x5a);
    b.push_back(0x00);
  }
  b.push_back(0x96);
  for (int i = 0; i < 300; ++i) {
    b.push_back(0x01);
    b.push_back(0x00);
  }
  const Message m = ok(b);
  EXPECT_EQ(m.unknown_ies, 255);
  EXPECT_EQ(m.other_codeset_ies, 255);
}

TEST(Q931Ies, LengthsPastTheEnd) {
  // Every decoded IE, an unknown one and one in another codeset: a length running past the
  // buffer is TruncatedIe, whatever the variant.
  const std::uint8_t ids[] = {0x01, 0x04, 0x08, 0x0c, 0x18, 0x1e, 0x28, 0x2c,
                              0x4c, 0x6c, 0x70, 0x74, 0x79, 0x5a, 0x1c};
  for (auto v : kAllVariants) {
    for (auto id : ids) {
      SCOPED_TRACE(testing::Message() << "IE 0x" << std::hex << int(id));
      EXPECT_EQ(err(cat({hdr(msg::kSetup), {id, 0x03, 0x80, 0x80}}), v), DecodeError::TruncatedIe);
      EXPECT_EQ(err(cat({hdr(msg::kSetup), {id}}), v), DecodeError::TruncatedIe);
      EXPECT_EQ(err(cat({hdr(msg::kSetup), {0x96, id, 0x02, 0x80}}), v), DecodeError::TruncatedIe);
    }
  }
}

TEST(Q931Ies, ZeroLength) {
  // IEs with mandatory content octets reject an empty one; display and skipped IEs do not.
  const std::uint8_t needs_content[] = {0x04, 0x08, 0x0c, 0x18, 0x1e, 0x2c,
                                        0x4c, 0x6c, 0x70, 0x74, 0x79};
  for (auto id : needs_content) {
    SCOPED_TRACE(testing::Message() << "IE 0x" << std::hex << int(id));
    EXPECT_EQ(err(setup({ie(id, {})})), DecodeError::BadIeContent);
  }
  EXPECT_EQ(err(setup({ie(0x28, {})})), DecodeError::None);
  EXPECT_EQ(err(setup({ie(0x1c, {})})), DecodeError::None);
  EXPECT_EQ(err(setup({ie(0x5a, {})})), DecodeError::None);
  // In another codeset nothing is checked but the length.
  EXPECT_EQ(err(setup({{0x96}, ie(0x04, {})})), DecodeError::None);
}

TEST(Q931Shift, LockingShiftStays) {
  const Bytes b = setup({ie(0x6c, cat({{0xa1}, text("1")})),
                         {0x96},
                         ie(0x01, {0x00}),
                         ie(0x6c, cat({{0xa1}, text("2")})),
                         ie(0x37, {0x04, 0x00})});
  for (auto v : kAllVariants) {
    const Message m = ok(b, v);
    EXPECT_EQ(str(m.calling.digits.view()), "1");
    EXPECT_EQ(m.other_codeset_ies, 3);
    EXPECT_EQ(m.unknown_ies, 0);
  }
}

TEST(Q931Shift, NonLockingShiftAppliesToNextIeOnly) {
  const Bytes b =
      setup({{0x9e}, ie(0x6c, cat({{0xa1}, text("1")})), ie(0x6c, cat({{0xa1}, text("2")}))});
  for (auto v : kAllVariants) {
    const Message m = ok(b, v);
    EXPECT_EQ(str(m.calling.digits.view()), "2");
    EXPECT_EQ(m.other_codeset_ies, 1);
  }
  // It applies to a single-octet IE too: that A1 is not "sending complete".
  const Message m = ok(setup({{0x9d}, {0xa1}, ie(0x70, cat({{0xc1}, text("5")}))}));
  EXPECT_FALSE(m.sending_complete);
  EXPECT_EQ(m.other_codeset_ies, 1);
  EXPECT_EQ(str(m.called.digits.view()), "5");
}

TEST(Q931Shift, NestedShifts) {
  // Two non-locking shifts in a row: the second one counts, for one IE.
  Message m = ok(setup({{0x9e}, {0x9d}, ie(0x70, {0xc1}), ie(0x6c, cat({{0xa1}, text("3")}))}));
  EXPECT_FALSE(m.called.present);
  EXPECT_EQ(str(m.calling.digits.view()), "3");
  EXPECT_EQ(m.other_codeset_ies, 1);
  // Non-locking then locking: the locking one wins and stays.
  m = ok(setup({{0x9e}, {0x95}, ie(0x70, {0xc1}), ie(0x6c, {0xa1})}));
  EXPECT_FALSE(m.called.present);
  EXPECT_FALSE(m.calling.present);
  EXPECT_EQ(m.other_codeset_ies, 2);
  // Locking shift to codeset 0 is invalid and ignored.
  m = ok(setup({{0x90}, ie(0x70, {0xc1})}));
  EXPECT_TRUE(m.called.present);
  m = ok(setup({{0x96}, {0x90}, ie(0x70, {0xc1})}));
  EXPECT_FALSE(m.called.present);
  // Shift as the last octet.
  m = ok(setup({ie(0x70, {0xc1}), {0x9e}}));
  EXPECT_TRUE(m.called.present);
}

TEST(Q931Shift, TemporaryCodeset0UnderLockedCodesetPerVariant) {
  // Locked on codeset 6, non-locking shift back to 0 for the calling number.
  const Bytes b = setup({{0x96}, {0x98}, ie(0x6c, cat({{0xa1}, text("4")})), ie(0x01, {0x00})});
  for (auto v : {SwitchType::Ni2, SwitchType::Dms100, SwitchType::EuroIsdn, SwitchType::Qsig}) {
    const Message m = ok(b, v);
    EXPECT_EQ(str(m.calling.digits.view()), "4");
    EXPECT_EQ(m.other_codeset_ies, 1);
  }
  // 4ESS/5ESS (TR41459): libpri ignores IEs after a non-locking shift.
  for (auto v : {SwitchType::Att4ess, SwitchType::Att5ess}) {
    const Message m = ok(b, v);
    EXPECT_FALSE(m.calling.present);
    EXPECT_EQ(m.other_codeset_ies, 2);
  }
}

TEST(Q931Shift, Codeset6DisplayForNorthAmerica) {
  const Bytes b = setup({{0x96}, ie(0x28, cat({{0xb1}, text("BOB")}))});
  for (auto v : kNorthAmerican) {
    const Message m = ok(b, v);
    EXPECT_EQ(str(m.display.view()), "BOB");
    EXPECT_EQ(m.other_codeset_ies, 0);
  }
  for (auto v : kItu) {
    const Message m = ok(b, v);
    EXPECT_TRUE(m.display.empty());
    EXPECT_EQ(m.other_codeset_ies, 1);
  }
  // Under a non-locking shift, 4ESS/5ESS ignore it (the others take it).
  const Bytes nl = setup({{0x9e}, ie(0x28, text("BOB"))});
  EXPECT_EQ(str(ok(nl, SwitchType::Ni2).display.view()), "BOB");
  EXPECT_EQ(str(ok(nl, SwitchType::Dms100).display.view()), "BOB");
  EXPECT_TRUE(ok(nl, SwitchType::Att4ess).display.empty());
  EXPECT_TRUE(ok(nl, SwitchType::Att5ess).display.empty());
}

// =============================================================================================
// Whole messages

TEST(Q931Message, SetupNi2) {
  // As libpri sends it under NI-2.
  const Bytes b = {0x08, 0x02, 0x00, 0x03, 0x05,  // SETUP, cref 3 from originator
                   0x04, 0x03, 0x80, 0x90, 0xa2,  // speech, 64k, mu-law
                   0x18, 0x03, 0xa9, 0x83, 0x81,  // PRI, exclusive, B1
                   0x28, 0x06, 0xb1, 'J',  'O',  'H', 'N', 0x20, 0x6c, 0x0c, 0x21, 0x80, '2', '1',
                   '2',  '5',  '5',  '5',  '1',  '2', '3', '4',  0x70, 0x0c, 0xa1, '0',  '1', '1',
                   '4',  '4',  '2',  '0',  '7',  '9', '4', '6',  0x1e, 0x02, 0x82, 0x83};
  const Message m = ok(b, SwitchType::Ni2);
  EXPECT_EQ(m.protocol, 0x08);
  EXPECT_EQ(m.type, msg::kSetup);
  EXPECT_EQ(m.call_ref, 3);
  EXPECT_FALSE(m.call_ref_flag);
  EXPECT_EQ(m.bearer.layer1_protocol, 2);
  EXPECT_EQ(m.channel.channel, 1);
  EXPECT_TRUE(m.channel.exclusive);
  EXPECT_EQ(str(m.display.view()), "JOHN ");
  EXPECT_EQ(str(m.calling.digits.view()), "2125551234");
  EXPECT_EQ(m.calling.type, 2);
  EXPECT_EQ(str(m.called.digits.view()), "01144207946");
  EXPECT_EQ(m.called.type, 2);
  EXPECT_EQ(m.progress.description, 3);
  EXPECT_FALSE(m.sending_complete);
  EXPECT_EQ(m.unknown_ies, 0);
  EXPECT_EQ(m.other_codeset_ies, 0);
  EXPECT_STREQ(message_name(m.protocol, m.type), "SETUP");
}

TEST(Q931Message, SetupEuroIsdn) {
  const Bytes b = {0x08, 0x02, 0x00, 0x2a, 0x05,
                   0xa1,                          // sending complete
                   0x04, 0x03, 0x80, 0x90, 0xa3,  // speech, A-law
                   0x18, 0x03, 0xa1, 0x83, 0x90,  // preferred, B16
                   0x6c, 0x0b, 0x11, 0x81, '4',  '9', '3', '0',  '1',  '2',  '3', '4',
                   '5',  0x70, 0x04, 0x81, '1',  '1', '0', 0x7d, 0x02, 0x91, 0x81};  // HLC: skipped
  const Message m = ok(b, SwitchType::EuroIsdn);
  EXPECT_EQ(m.call_ref, 0x2a);
  EXPECT_TRUE(m.sending_complete);
  EXPECT_EQ(m.bearer.layer1_protocol, 3);
  EXPECT_FALSE(m.channel.exclusive);
  EXPECT_EQ(m.channel.channel, 16);
  EXPECT_EQ(str(m.calling.digits.view()), "493012345");
  EXPECT_EQ(m.calling.screening, 1);
  EXPECT_EQ(str(m.called.digits.view()), "110");
  EXPECT_EQ(m.unknown_ies, 0);
}

TEST(Q931Message, Connect) {
  const Bytes b = {0x08, 0x02, 0x80, 0x03, 0x07, 0x18, 0x03, 0xa9, 0x83,
                   0x81, 0x4c, 0x06, 0x21, 0x80, '5',  '5',  '5',  '1'};
  const Message m = ok(b);
  EXPECT_EQ(m.type, msg::kConnect);
  EXPECT_TRUE(m.call_ref_flag);
  EXPECT_EQ(m.call_ref, 3);
  EXPECT_EQ(m.channel.channel, 1);
  EXPECT_EQ(str(m.connected.digits.view()), "5551");
  EXPECT_STREQ(message_name(m.protocol, m.type), "CONNECT");
}

TEST(Q931Message, DisconnectWithCause) {
  const Bytes b = {0x08, 0x02, 0x80, 0x03, 0x45, 0x08, 0x02, 0x81, 0x90, 0x1e, 0x02, 0x81, 0x88};
  const Message m = ok(b);
  EXPECT_EQ(m.type, msg::kDisconnect);
  ASSERT_TRUE(m.cause.present);
  EXPECT_EQ(m.cause.value, 16);
  EXPECT_EQ(m.cause.location, 1);
  EXPECT_EQ(m.progress.description, 8);
  EXPECT_STREQ(message_name(m.protocol, m.type), "DISCONNECT");
}

TEST(Q931Message, RestartGlobalCallRef) {
  Message m = ok({0x08, 0x02, 0x00, 0x00, 0x46, 0x18, 0x03, 0xa9, 0x83, 0x85, 0x79, 0x01, 0x80});
  EXPECT_EQ(m.type, msg::kRestart);
  EXPECT_TRUE(m.is_global_call_ref());
  EXPECT_FALSE(m.call_ref_flag);
  EXPECT_EQ(m.channel.channel, 5);
  EXPECT_EQ(m.restart.restart_class, 0);
  m = ok({0x08, 0x02, 0x80, 0x00, 0x4e, 0x79, 0x01, 0x87});  // RESTART ACK, all interfaces
  EXPECT_EQ(m.type, msg::kRestartAck);
  EXPECT_TRUE(m.is_global_call_ref());
  EXPECT_TRUE(m.call_ref_flag);
  EXPECT_FALSE(m.channel.present);
  EXPECT_EQ(m.restart.restart_class, 7);
}

TEST(Q931Message, InformationWithKeypad) {
  const Message m = ok({0x08, 0x02, 0x00, 0x07, 0x7b, 0x2c, 0x02, '*', '1'});
  EXPECT_EQ(m.type, msg::kInformation);
  EXPECT_EQ(m.call_ref, 7);
  EXPECT_EQ(str(m.keypad.view()), "*1");
  const Message overlap =
      ok({0x08, 0x02, 0x80, 0x07, 0x7b, 0x70, 0x02, 0x81, '5', 0xa1}, SwitchType::EuroIsdn);
  EXPECT_EQ(str(overlap.called.digits.view()), "5");
  EXPECT_TRUE(overlap.sending_complete);
}

TEST(Q931Message, ServiceUnderNi2) {
  // libpri's NI-2 SERVICE: discriminator 0x43, type 0x07, change status then channel id.
  const Bytes b = {0x43, 0x02, 0x80, 0x00, 0x07, 0x01, 0x01, 0xc2, 0x18, 0x03, 0xa9, 0x83, 0x85};
  const Message m = ok(b, SwitchType::Ni2);
  EXPECT_EQ(m.protocol, kPdMaintenanceAtt);
  EXPECT_STREQ(message_name(m.protocol, m.type), "SERVICE");
  EXPECT_EQ(m.change_status.status, 2);
  EXPECT_EQ(m.channel.channel, 5);
  EXPECT_TRUE(m.is_global_call_ref());

  const Message ack =
      ok({0x43, 0x02, 0x00, 0x00, 0x0f, 0x01, 0x01, 0xc2, 0x18, 0x03, 0xa9, 0x83, 0x85});
  EXPECT_STREQ(message_name(ack.protocol, ack.type), "SERVICE ACKNOWLEDGE");

  // The 0x03 form (AT&T TR41459, DMS-100) under NI-2 and DMS-100.
  for (auto v : {SwitchType::Ni2, SwitchType::Dms100, SwitchType::Att4ess}) {
    const Message s =
        ok({0x03, 0x02, 0x80, 0x00, 0x0f, 0x01, 0x01, 0xc0, 0x18, 0x03, 0xa9, 0x83, 0x81}, v);
    EXPECT_STREQ(message_name(s.protocol, s.type), "SERVICE");
    EXPECT_EQ(s.change_status.status, 0);
    EXPECT_EQ(s.channel.channel, 1);
  }
  // Type 0x07 under Q.931 proper is CONNECT, not SERVICE.
  const Message connect = ok({0x08, 0x00, 0x07});
  EXPECT_STREQ(message_name(connect.protocol, connect.type), "CONNECT");
}

// =============================================================================================
// Robustness: random and mutated buffers, decoded with every variant, never read outside the
// buffer (run under ASan) and keep every invariant of the output.

void check_invariants(const Message& m) {
  EXPECT_LE(m.call_ref_len, 2);
  EXPECT_LE(m.calling.digits.size, kMaxDigits);
  EXPECT_LE(m.called.digits.size, kMaxDigits);
  EXPECT_LE(m.redirecting.digits.size, kMaxDigits);
  EXPECT_LE(m.connected.digits.size, kMaxDigits);
  EXPECT_LE(m.ani.digits.size, kMaxDigits);
  EXPECT_LE(m.display.size, kMaxDisplay);
  EXPECT_LE(m.keypad.size, kMaxDigits);
  EXPECT_LE(m.cause.diagnostics.size, 16);
  EXPECT_LE(m.restart.restart_class, 7);
  EXPECT_LE(m.channel.selection, 3);
  EXPECT_NE(message_name(m.protocol, m.type), nullptr);
}

TEST(Q931Robustness, RandomAndMutatedBuffers) {
  const std::vector<Bytes> seeds = {
      {0x08, 0x02, 0x00, 0x03, 0x05, 0xa1, 0x04, 0x03, 0x80, 0x90, 0xa2, 0x18, 0x03, 0xa9, 0x83,
       0x81, 0x28, 0x04, 0xb1, 'J',  'O',  'E',  0x6c, 0x04, 0x21, 0x80, '1',  '2',  0x70, 0x03,
       0xc1, '5',  '5',  0x74, 0x04, 0x11, 0x03, 0x81, '7',  0x1e, 0x02, 0x82, 0x88},
      {0x08, 0x02, 0x80, 0x03, 0x45, 0x08, 0x04, 0x02, 0x80, 0x90,
       0x01, 0x96, 0x28, 0x02, 'A',  'B',  0x9e, 0x01, 0x01, 0x00},
      {0x43, 0x02, 0x80, 0x00, 0x07, 0x01, 0x01, 0xc2, 0x18, 0x04, 0xe9, 0x81, 0x83, 0x85},
      {0x08, 0x02, 0x00, 0x00, 0x46, 0x18, 0x06, 0xa9, 0x93, 0x00, 0x00, 0x10, 0x79, 0x01, 0x86},
      {0x08, 0x01, 0x85, 0x07, 0x4c, 0x03, 0xa1, 0xa0, '1', 0x2c, 0x02, '*', '2'},
  };
  std::mt19937 rng(20261127);
  auto byte = [&] { return static_cast<std::uint8_t>(rng() & 0xff); };
  constexpr int kRuns = 200000;
  int decoded_ok = 0;
  Message m;
  tw::q921::Frame frame;
  tw::q921::RetransmissionFilter filter;
  Bytes buf;
  for (int run = 0; run < kRuns; ++run) {
    if (run % 4 == 0) {
      // Pure noise, mostly short, sometimes with a plausible header.
      buf.resize(rng() % 64);
      for (auto& b : buf) b = byte();
      if (buf.size() > 2 && (run & 8)) buf[0] = 0x08, buf[1] = static_cast<std::uint8_t>(rng() % 3);
    } else {
      buf = seeds[rng() % seeds.size()];
      const int mutations = 1 + static_cast<int>(rng() % 6);
      for (int k = 0; k < mutations && !buf.empty(); ++k) {
        const std::size_t at = rng() % buf.size();
        switch (rng() % 5) {
          case 0:
            buf[at] = byte();
            break;
          case 1:
            buf[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            break;
          case 2:
            buf.resize(at);  // truncate
            break;
          case 3:
            buf.insert(buf.begin() + static_cast<std::ptrdiff_t>(at), byte());
            break;
          default:
            buf.erase(buf.begin() + static_cast<std::ptrdiff_t>(at));
            break;
        }
      }
    }
    // An exact-size heap copy so ASan catches any read past the end.
    const std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[buf.size() + 1]);
    std::copy(buf.begin(), buf.end(), exact.get());
    const std::span<const std::uint8_t> bytes(exact.get(), buf.size());
    for (auto v : kAllVariants) {
      if (decode(bytes, v, m) == DecodeError::None) {
        ++decoded_ok;
        check_invariants(m);
      }
    }
    if (tw::q921::parse(bytes, frame) == tw::q921::ParseError::None) {
      if (!frame.info.empty()) {
        EXPECT_GE(frame.info.data(), bytes.data());
        EXPECT_LE(frame.info.data() + frame.info.size(), bytes.data() + bytes.size());
      }
      if (filter.classify(run & 1, frame) == tw::q921::IFrameVerdict::New)
        filter.remember(run & 1, frame);
    }
    if (HasFailure()) break;
  }
  // The mutated seeds must still decode fairly often, or the run tests nothing.
  RecordProperty("decoded_ok", decoded_ok);
  EXPECT_GT(decoded_ok, kRuns / 10);
}

}  // namespace
