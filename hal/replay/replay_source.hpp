// Capture replay: a span source fed by a pcap file of D-channel frames.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "hal/replay/pcap_io.hpp"
#include "trunkwatch/hal/source.hpp"

namespace tw::hal {

struct ReplayOptions {
  std::string path;
  bool realtime = false;         // pace frames by their capture timestamps
  std::optional<Role> pbx_role;  // overrides the capture's addr[0]
};

struct ReplayStats {
  std::uint64_t records = 0;
  std::uint64_t skipped = 0;  // records too short for the pseudo-header
};

class ReplaySource final : public SpanSource {
 public:
  explicit ReplaySource(ReplayOptions options);
  // Opens the file; an empty message means success.
  std::string open();
  const std::vector<SpanInfo>& spans() const override { return spans_; }
  SourceError run(SpanSink& sink) override;
  void stop() override { stop_ = true; }
  const ReplayStats& stats() const { return stats_; }

 private:
  ReplayOptions options_;
  PcapReader reader_;
  std::vector<SpanInfo> spans_;
  ReplayStats stats_;
  std::atomic<bool> stop_ = false;
};

}  // namespace tw::hal
