#include "monitor/calls/dsp_pool.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace tw::calls {

DspPool::Worker::Worker(const InbandOptions& options)
    : analyzer(options, [this](int span, int channel, const InbandEvent& e) {
        detections.push_back(Detection{current_seq, span, channel, e});
      }) {
  detections.reserve(256);
}

void DspPool::Worker::run() {
  std::uint64_t t = tail.load(std::memory_order_relaxed);
  for (;;) {
    if (t == head.load(std::memory_order_acquire)) {
      if (stop.load()) return;
      // Announce the sleep, then look once more: either the loop thread sees the flag and
      // rings, or we see its new head.
      sleeping.store(true);
      const std::uint32_t bell = head_bell.load();
      if (t == head.load() && !stop.load()) head_bell.wait(bell);
      sleeping.store(false);
      continue;
    }
    const Job& job = ring[t % kRingSlots];
    current_seq = job.seq;
    if (job.sweep) {
      analyzer.sweep(job.time);
    } else {
      hal::AudioChunk chunk;
      chunk.span = job.span_id;
      chunk.channel = job.channel;
      chunk.from = job.from;
      chunk.time = job.time;
      if (job.coded)
        chunk.g711 = std::span<const std::uint8_t>(job.codes, job.count);
      else
        chunk.samples = std::span<const std::int16_t>(job.samples, job.count);
      analyzer.process(*job.span, chunk);
    }
    ++t;
    tail.store(t);
    if (waited_on.load()) {  // the loop thread waits for a slot or a collect()
      tail_bell.fetch_add(1);
      tail_bell.notify_all();
    }
  }
}

template <class Done>
void DspPool::wait_for_tail(Worker& w, Done done) {
  if (done(w.tail.load(std::memory_order_acquire))) return;
  w.waited_on.store(true);
  for (;;) {
    const std::uint32_t bell = w.tail_bell.load();
    if (done(w.tail.load())) break;
    w.tail_bell.wait(bell);
  }
  w.waited_on.store(false);
}

DspPool::DspPool(int threads, InbandOptions options, Report report) : report_(std::move(report)) {
  const int n = std::max(1, threads);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(options));
  for (auto& w : workers_) w->thread = std::thread([p = w.get()] { p->run(); });
}

DspPool::~DspPool() {
  for (auto& w : workers_) {
    w->stop.store(true);
    w->head_bell.fetch_add(1);
    w->head_bell.notify_all();
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

DspPool::Job& DspPool::claim(Worker& w) {
  const std::uint64_t h = w.head.load(std::memory_order_relaxed);
  // A full ring means the worker is behind by kRingSlots chunks: wait for a slot (the
  // loop thread must not drop audio, and the worker only ever catches up).
  wait_for_tail(w, [h](std::uint64_t t) { return h - t < kRingSlots; });
  return w.ring[h % kRingSlots];
}

void DspPool::publish(Worker& w) {
  const std::uint64_t h = w.head.load(std::memory_order_relaxed);
  w.head.store(h + 1);  // seq_cst: ordered against the worker's `sleeping` announcement
  if (w.sleeping.load()) {
    w.head_bell.fetch_add(1);
    w.head_bell.notify_all();
  }
}

void DspPool::tick(hal::Timestamp now) {
  if (!sweeps_.due(now)) return;
  // One sequence number for the whole sweep: collect() puts its detections in stream order,
  // as the inline analyzer's one sweep over all streams reports them.
  const std::uint64_t seq = next_seq_++;
  for (auto& w : workers_) {
    Job& job = claim(*w);
    job.sweep = true;
    job.time = now;
    job.seq = seq;
    publish(*w);
  }
}

void DspPool::submit(const hal::SpanInfo& span, const hal::AudioChunk& chunk) {
  tick(chunk.time);
  Worker& w = worker_for(chunk.span);
  // The card's codes when it gave them: a third of the bytes to copy, decoded by a table.
  const bool coded = !chunk.g711.empty() && chunk.g711.size() == chunk.samples.size();
  std::size_t done = 0;
  while (done < chunk.samples.size()) {
    Job& job = claim(w);
    const std::size_t count = std::min(kSlotSamples, chunk.samples.size() - done);
    job.sweep = false;
    job.span = &span;
    job.span_id = chunk.span;
    job.channel = chunk.channel;
    job.from = chunk.from;
    job.time = chunk.time + std::chrono::microseconds(static_cast<std::int64_t>(done) * 125);
    job.seq = next_seq_++;
    job.count = count;
    job.coded = coded;
    if (coded)
      std::memcpy(job.codes, chunk.g711.data() + done, count);
    else
      std::memcpy(job.samples, chunk.samples.data() + done, count * sizeof(std::int16_t));
    done += count;
    publish(w);
  }
}

void DspPool::collect() {
  merged_.clear();
  for (auto& w : workers_) {
    const std::uint64_t target = w->head.load(std::memory_order_relaxed);
    wait_for_tail(*w, [target](std::uint64_t t) { return t == target; });
    // The worker is idle on everything submitted: its detections are ours to take.
    for (Detection& d : w->detections) merged_.push_back(std::move(d));
    w->detections.clear();
  }
  if (merged_.empty()) return;
  // A chunk's detections are all of its own stream; a sweep's are ordered by stream.
  std::stable_sort(merged_.begin(), merged_.end(), [](const Detection& a, const Detection& b) {
    return std::tie(a.seq, a.span, a.channel, a.event.from) <
           std::tie(b.seq, b.span, b.channel, b.event.from);
  });
  for (const Detection& d : merged_) report_(d.span, d.channel, d.event);
}

InbandBackendStats DspPool::stats() const {
  InbandBackendStats s;
  s.threads = threads();
  for (const auto& w : workers_) s.banks_in_use += w->analyzer.banks_in_use();
  return s;
}

std::optional<double> DspPool::voice_seconds(int span, int channel, hal::Side side) const {
  return worker_for(span).analyzer.voice_seconds(span, channel, side);
}

std::unique_ptr<InbandBackend> make_inband_backend(int threads, const InbandOptions& options,
                                                   InbandBackend::Report report) {
  if (threads > 0) return std::make_unique<DspPool>(threads, options, std::move(report));
  return std::make_unique<InbandAnalyzer>(options, std::move(report));
}

}  // namespace tw::calls
