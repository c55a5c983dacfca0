// The B-channel detector banks on a small pool of worker threads: the real-time loop of a
// big box (32 E1 spans are 1,920 audio streams). Each span belongs to one worker, so a
// channel's chunks stay in order on one thread.
//
// The per-chunk path takes no lock and allocates nothing: the loop thread copies the
// samples into a preallocated slot of the worker's single-producer/single-consumer ring and
// publishes it with one atomic store; the worker sleeps on the ring's head (a futex) only
// when it has nothing to do, and is woken only if it sleeps.
//
// Results are exactly those of the inline InbandAnalyzer: before anything that reads or
// changes call state (a D-channel frame, a line event, a tick, a voice meter reading) the
// loop calls collect(), which waits until the workers have processed every chunk submitted so
// far and reports their detections in submission order. D-frames are a few per second, so
// the workers run in parallel in between; the wait is bounded by the work already queued.
// Sweeps (the flush of streams gone silent, banks given back) follow the inline analyzer's
// clock too: the loop thread decides them on every span's chunks and queues one to every
// worker, so a quiet worker flushes when the inline analyzer would.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "monitor/calls/inband_analyzer.hpp"

namespace tw::calls {

class DspPool final : public InbandBackend {
 public:
  DspPool(int threads, InbandOptions options, Report report);
  ~DspPool() override;
  DspPool(const DspPool&) = delete;
  DspPool& operator=(const DspPool&) = delete;

  // `span` must outlive the pool (the pipeline's span states do).
  void submit(const hal::SpanInfo& span, const hal::AudioChunk& chunk) override;
  // The source's clock without audio: queues a sweep to every worker when one is due.
  void tick(hal::Timestamp now) override;
  // Waits for the workers to catch up, then reports every detection since the last
  // collect(), in the order of the chunks that caused them.
  void collect() override;
  // Valid after collect() (the workers are idle on everything submitted).
  std::optional<double> voice_seconds(int span, int channel, hal::Side side) const override;
  InbandBackendStats stats() const override;
  int threads() const { return static_cast<int>(workers_.size()); }

  static constexpr std::size_t kRingSlots = 512;    // per worker: ~2.5 s of 32 spans at 20 ms
  static constexpr std::size_t kSlotSamples = 320;  // 40 ms; longer chunks are split

 private:
  struct Job {
    bool sweep = false;  // InbandAnalyzer::sweep(time) rather than a chunk
    const hal::SpanInfo* span = nullptr;
    int span_id = 0;
    int channel = 0;
    hal::Side from = hal::Side::Pbx;
    hal::Timestamp time{};
    std::uint64_t seq = 0;
    std::size_t count = 0;
    bool coded = false;  // `codes` holds the chunk (the card's G.711), else `samples`
    union {
      std::int16_t samples[kSlotSamples];
      std::uint8_t codes[kSlotSamples];
    };
  };
  struct Detection {
    std::uint64_t seq;
    int span;
    int channel;
    InbandEvent event;
  };
  struct Worker {
    explicit Worker(const InbandOptions& options);
    std::unique_ptr<Job[]> ring = std::make_unique_for_overwrite<Job[]>(kRingSlots);
    alignas(64) std::atomic<std::uint64_t> head{0};  // written by the loop thread
    alignas(64) std::atomic<std::uint64_t> tail{0};  // written by the worker
    // Sleeping and waking go through 32-bit "doorbells", which the kernel futex waits on
    // directly (libstdc++ waits on 64-bit atomics through a shared table instead).
    std::atomic<std::uint32_t> head_bell{0};
    std::atomic<std::uint32_t> tail_bell{0};
    std::atomic<bool> sleeping{false};   // the worker waits on head_bell
    std::atomic<bool> waited_on{false};  // the loop thread waits on tail_bell
    std::atomic<bool> stop{false};
    std::uint64_t current_seq = 0;      // the job being processed (worker only)
    std::vector<Detection> detections;  // appended by the worker, taken in collect()
    InbandAnalyzer analyzer;
    std::thread thread;
    void run();
  };
  // Returns once done(tail) holds, sleeping on the worker's tail doorbell until then.
  template <class Done>
  static void wait_for_tail(Worker& w, Done done);
  // The next free slot of w's ring (waiting for one if it is full), then handing it over.
  static Job& claim(Worker& w);
  static void publish(Worker& w);
  Worker& worker_for(int span) {
    return *workers_[static_cast<std::size_t>(span) % workers_.size()];
  }
  const Worker& worker_for(int span) const {
    return *workers_[static_cast<std::size_t>(span) % workers_.size()];
  }

  Report report_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint64_t next_seq_ = 0;
  InbandAnalyzer::SweepClock sweeps_;
  std::vector<Detection> merged_;
};

}  // namespace tw::calls
