// The passive Q.921 data link (see passive_link.hpp).
#include "monitor/q921/passive_link.hpp"

namespace tw::q921 {

namespace {

std::uint16_t link_of(const Frame& f) {
  return static_cast<std::uint16_t>((f.sapi & 0x3f) << 7 | (f.tei & 0x7f));
}

}  // namespace

const char* to_string(FrameUse u) {
  switch (u) {
    case FrameUse::Payload:
      return "payload";
    case FrameUse::Retransmission:
      return "retransmission";
    case FrameUse::SequenceConflict:
      return "sequence conflict";
    case FrameUse::Malformed:
      return "malformed";
    case FrameUse::LinkControl:
      return "link control";
    case FrameUse::OtherSapi:
      return "other SAPI";
  }
  return "unknown";
}

LinkStep PassiveLink::receive(hal::Side from, std::span<const std::uint8_t> bytes) {
  LinkStep step;
  step.error = parse(bytes, step.frame);
  if (step.error != ParseError::None) {
    step.use = FrameUse::Malformed;
    return step;
  }
  const Frame& f = step.frame;
  const int dir = direction(from);
  read_state(step);
  if (f.kind == FrameKind::U && (f.u_type == UType::SABME || f.u_type == UType::DISC)) {
    // Both ends restart their numbering: frames before can no longer repeat.
    filter_.reset_link(dir, f);
    forget_sequence(f);
    step.use = FrameUse::LinkControl;
    return step;
  }
  if (f.kind == FrameKind::I) {
    switch (filter_.classify(dir, f)) {
      case IFrameVerdict::New:
        break;
      case IFrameVerdict::Retransmission:
        step.use = FrameUse::Retransmission;
        return step;
      case IFrameVerdict::SequenceConflict:
        step.use = FrameUse::SequenceConflict;
        return step;
    }
  } else if (f.kind != FrameKind::U || f.u_type != UType::UI) {
    step.use = FrameUse::LinkControl;
    return step;
  }
  if (f.sapi != 0) {
    step.use = FrameUse::OtherSapi;
    return step;
  }
  if (f.kind == FrameKind::I) step.missed = note_sequence(dir, f);
  step.use = FrameUse::Payload;
  return step;
}

// A tap owns no link, so it reads the link's state off the frames: SABME answered by UA
// brings it up, DISC answered by UA (or a DM) takes it down, and I- and S-frames only flow
// on a link that is up (a capture that starts mid-session has no SABME to see).
void PassiveLink::read_state(LinkStep& step) {
  const Frame& f = step.frame;
  if (f.sapi != 0) return;
  if (f.kind != FrameKind::U) {
    step.shows_up = true;
  } else {
    switch (f.u_type) {
      case UType::SABME:
      case UType::DISC:
        command_ = f.u_type;
        break;
      case UType::UA:
        if (command_ == UType::SABME) step.shows_up = true;
        if (command_ == UType::DISC) step.shows_up = false;
        command_ = UType::Unknown;
        break;
      case UType::DM:
        step.shows_up = false;
        break;
      default:
        break;
    }
  }
  if (step.shows_up) {
    step.link_changed = *step.shows_up != up_;
    up_ = *step.shows_up;
  }
}

std::uint8_t PassiveLink::note_sequence(int dir, const Frame& frame) {
  const std::uint16_t link = link_of(frame);
  auto& slots = expected_[static_cast<std::size_t>(dir)];
  const auto next = static_cast<std::uint8_t>((frame.ns + 1) & 0x7f);
  for (Expected& e : slots) {
    if (e.link != link) continue;
    const auto missed = static_cast<std::uint8_t>((frame.ns - e.next_ns) & 0x7f);
    e.next_ns = next;
    return missed;
  }
  std::size_t& slot = next_slot_[static_cast<std::size_t>(dir)];
  slots[slot] = Expected{link, next};
  slot = (slot + 1) % kLinks;
  return 0;
}

void PassiveLink::forget_sequence(const Frame& frame) {
  const std::uint16_t link = link_of(frame);
  for (auto& slots : expected_)
    for (Expected& e : slots)
      if (e.link == link) e = Expected{};
}

}  // namespace tw::q921
