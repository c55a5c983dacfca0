#include "hal/replay/replay_source.hpp"

#include <thread>

namespace tw::hal {

ReplaySource::ReplaySource(ReplayOptions options) : options_(std::move(options)) {}

std::string ReplaySource::open() {
  return reader_.open(options_.path);
}

SourceError ReplaySource::run(SpanSink& sink) {
  CapturedFrame cf;
  Timestamp first_time{};
  Timestamp last_time{};
  Timestamp last_tick{};
  const auto wall_start = std::chrono::steady_clock::now();
  bool first = true;
  SourceError error;
  while (!stop_) {
    const ReadStatus status = reader_.next(cf);
    if (status == ReadStatus::End) break;
    if (status == ReadStatus::Error) {
      error.message = reader_.error();
      break;
    }
    ++stats_.records;
    if (status == ReadStatus::Skipped) {
      ++stats_.skipped;
      continue;
    }
    if (first) {
      first_time = last_tick = cf.time;
      first = false;
    }
    if (options_.realtime) {
      std::this_thread::sleep_until(wall_start + (cf.time - first_time));
    }
    const Role pbx_role = options_.pbx_role.value_or(cf.pbx_role);
    Side from = cf.from;
    if (!cf.direction_known && !cf.bytes.empty()) {
      // LINKTYPE_LAPD carries no direction: commands (every I and UI frame) have C/R = 1
      // when the network side sent them (Q.921 3.3.2).
      const bool sender_is_network = (cf.bytes[0] & 0x02) != 0;
      const bool pbx_is_network = pbx_role == Role::Network;
      from = sender_is_network == pbx_is_network ? Side::Pbx : Side::Carrier;
    }
    if (cf.time - last_tick >= std::chrono::seconds(1)) {
      sink.on_tick(cf.time);
      last_tick = cf.time;
    }
    sink.on_frame(DFrame{.span = cf.span, .from = from, .time = cf.time, .bytes = cf.bytes});
    last_time = cf.time;
  }
  sink.on_line_event(LineEvent{.span = 0, .time = last_time, .type = LineEventType::SourceEnd});
  return error;
}

}  // namespace tw::hal
