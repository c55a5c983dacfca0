#include "monitor/store/unstored.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <vector>

#include "monitor/log.hpp"
#include "monitor/store/json_store.hpp"

namespace tw::store {

namespace {

std::string line_of(const calls::CallRecord& r) {
  return to_json_line(to_json(r));
}

// The last resort: the record as one log line (the journal keeps it).
void log_record(const calls::CallRecord& r) {
  TW_LOG(error) << "call record neither stored nor spilled: " << line_of(r);
}

}  // namespace

UnstoredRecords::UnstoredRecords(std::size_t memory_max, std::string spill_path, Store store)
    : memory_max_(memory_max), spill_path_(std::move(spill_path)), store_(std::move(store)) {
  std::ifstream in(spill_path_);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) ++spilled_;
  if (spilled_)
    TW_LOG(warning) << spilled_ << " call record(s) in " << spill_path_
                    << " wait to be stored (left by an earlier run)";
}

std::string UnstoredRecords::store(const calls::CallRecord& record) {
  if (waiting() > 0) {
    keep(record);
    return "older records are still waiting for the store";
  }
  std::string err = store_(record);
  if (!err.empty()) keep(record);
  return err;
}

void UnstoredRecords::keep(const calls::CallRecord& record) {
  // Memory holds the oldest records, the spill file those after them: once anything is
  // spilled, newer records follow it there.
  if (spill_in_memory_ || (spilled_ == 0 && memory_.size() < memory_max_)) {
    memory_.push_back(record);
    return;
  }
  if (append_to_spill(line_of(record)))
    ++spilled_;
  else
    log_record(record);
}

bool UnstoredRecords::append_to_spill(const std::string& line) {
  std::ofstream out(spill_path_, std::ios::app);
  out << line << '\n';
  out.flush();
  return static_cast<bool>(out);
}

void UnstoredRecords::load_spill() {
  std::ifstream in(spill_path_);
  std::size_t bad = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto record = record_from_json(nlohmann::json::parse(line, nullptr, false));
    if (record)
      memory_.push_back(std::move(*record));
    else
      ++bad;
  }
  if (bad)
    TW_LOG(error) << spill_path_ << ": " << bad
                  << " line(s) are not call records; they stay in the file";
  spilled_ = 0;
  spill_in_memory_ = bad == 0;
  if (bad) {
    // Keep the unreadable lines for a person: the readable ones are in memory now.
    std::error_code ec;
    std::filesystem::rename(spill_path_, spill_path_ + ".bad", ec);
  }
}

UnstoredRecords::Retry UnstoredRecords::retry(std::size_t max) {
  Retry r;
  while (r.stored < max) {
    if (memory_.empty()) {
      if (spill_in_memory_) {
        std::error_code ec;
        std::filesystem::remove(spill_path_, ec);
        spill_in_memory_ = false;
      }
      if (spilled_ == 0) break;
      load_spill();
      continue;
    }
    if (auto err = store_(memory_.front()); !err.empty()) {
      r.error = std::move(err);
      break;
    }
    memory_.pop_front();
    ++r.stored;
  }
  if (memory_.empty() && spill_in_memory_) {
    std::error_code ec;
    std::filesystem::remove(spill_path_, ec);
    spill_in_memory_ = false;
  }
  return r;
}

std::size_t UnstoredRecords::spill_all() {
  if (memory_.empty()) return 0;
  // Memory first (older), then what the file holds unless memory already has it; written
  // aside and renamed, so a failure leaves the old file as it was.
  std::string rest;
  if (!spill_in_memory_ && spilled_ > 0) {
    std::ifstream in(spill_path_, std::ios::binary);
    rest.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string tmp = spill_path_ + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const calls::CallRecord& r : memory_) out << line_of(r) << '\n';
    out << rest;
    out.flush();
    if (out) {
      out.close();
      std::error_code ec;
      std::filesystem::rename(tmp, spill_path_, ec);
      if (!ec) {
        const std::size_t n = memory_.size();
        spilled_ += n;
        memory_.clear();
        spill_in_memory_ = false;
        return n;
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  for (const calls::CallRecord& r : memory_) log_record(r);
  memory_.clear();
  return 0;
}

KeepingStore::KeepingStore(SqliteStore& db, std::size_t memory_max, std::string spill_path,
                           FailureHandler on_failure)
    : db_(db),
      kept_(memory_max, std::move(spill_path),
            [this](const calls::CallRecord& r) { return db_.insert(r); }),
      on_failure_(std::move(on_failure)) {}

void KeepingStore::on_call_event(const calls::CallEvent& event) {
  if (event.type != calls::CallEventType::Ended) return;
  const bool was_waiting = kept_.waiting() > 0;
  if (auto err = kept_.store(*event.call); !err.empty() && !was_waiting) failed(err, event.time);
}

void KeepingStore::failed(const std::string& error, calls::Timestamp when) {
  ++failures_;
  if (failure_log_.allow(std::chrono::steady_clock::now())) {
    TW_LOG(error) << "call records cannot be stored in " << db_.path() << ": " << error << "; "
                  << kept_.waiting() << " kept (" << kept_.in_memory() << " in memory, "
                  << kept_.spilled() << " in " << kept_.spill_path() << "), retried every "
                  << kRetryEvery.count() << " s";
    if (const auto held = failure_log_.suppressed())
      TW_LOG(error) << held << " more such message(s) suppressed";
  }
  if (!failing_) {
    failing_ = true;
    next_retry_ = std::chrono::steady_clock::now() + kRetryEvery;
    if (on_failure_) on_failure_(error, when);
  }
}

void KeepingStore::service(std::chrono::steady_clock::time_point now) {
  if (kept_.waiting() == 0 || now < next_retry_) return;
  const UnstoredRecords::Retry r = kept_.retry(kRetryBatch);
  recovered_ += r.stored;
  if (!r.error.empty()) {
    next_retry_ = now + kRetryEvery;
    if (failing_)
      failed(r.error, {});
    else {
      // Records a previous run left behind, and the store still refuses them.
      failing_ = true;
      if (on_failure_) on_failure_(r.error, {});
    }
    return;
  }
  next_retry_ = now;  // a full batch went in: the next at the next tick
  if (kept_.waiting() == 0) {
    TW_LOG(warning) << "the record store works again: " << recovered_
                    << " call record(s) that waited are stored in " << db_.path() << ", in order";
    failing_ = false;
    recovered_ = 0;
  }
}

void KeepingStore::shutdown() {
  if (kept_.waiting() == 0) return;
  next_retry_ = {};
  service(std::chrono::steady_clock::now());
  if (kept_.in_memory() == 0) return;
  const std::size_t n = kept_.in_memory();
  const std::size_t spilled = kept_.spill_all();
  if (spilled)
    TW_LOG(warning) << spilled << " call record(s) not stored in " << db_.path() << " written to "
                    << kept_.spill_path() << "; the next start stores them";
  else
    TW_LOG(error) << n << " call record(s) could not be stored or spilled; they are in the log";
}

}  // namespace tw::store
