// Call records the store could not take (a full disk, an I/O error), kept until it can:
// in memory up to a bound, then appended to a spill file (JSON lines, records.md), and as a
// last resort written to the log; the daemon retries them from its loop, oldest first.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "monitor/calls/call_record.hpp"
#include "monitor/log.hpp"
#include "monitor/store/sqlite_store.hpp"

namespace tw::store {

class UnstoredRecords {
 public:
  // Stores one record: "" or why it could not (SqliteStore::insert).
  using Store = std::function<std::string(const calls::CallRecord&)>;

  // A spill file a previous run left behind counts as waiting from the start.
  UnstoredRecords(std::size_t memory_max, std::string spill_path, Store store);

  // Stores the record, or keeps it when older records are still waiting (so the store gets
  // them in order) or the store refuses it. "" when it was stored, else why not.
  std::string store(const calls::CallRecord& record);

  struct Retry {
    std::size_t stored = 0;
    std::string error;  // why the store refused the next record ("" when it did not)
  };
  // Stores up to `max` waiting records, oldest first, until the store refuses one.
  Retry retry(std::size_t max);

  // Records waiting: in memory and in the spill file.
  std::size_t waiting() const { return memory_.size() + spilled_; }
  std::size_t in_memory() const { return memory_.size(); }
  std::size_t spilled() const { return spilled_; }
  const std::string& spill_path() const { return spill_path_; }

  // At shutdown: the records in memory go to the spill file, ahead of those already there.
  // Any that cannot are written to the log. Returns how many went to the spill file.
  std::size_t spill_all();

 private:
  void keep(const calls::CallRecord& record);
  bool append_to_spill(const std::string& line);
  // Moves the spill file's records into memory (the file stays until they are stored).
  void load_spill();

  std::size_t memory_max_;
  std::string spill_path_;
  Store store_;
  std::deque<calls::CallRecord> memory_;
  std::size_t spilled_ = 0;       // records in the spill file not in memory
  bool spill_in_memory_ = false;  // memory_ holds the spill file's records: remove it once stored
};

// The daemon's record store: each ended call goes to the database through UnstoredRecords,
// and what it refused is retried from the loop.
class KeepingStore final : public calls::CallEventSink {
 public:
  // Called when records start to wait (not again until they have all been stored).
  using FailureHandler = std::function<void(const std::string& error, calls::Timestamp when)>;
  static constexpr auto kRetryEvery = std::chrono::seconds(5);
  static constexpr std::size_t kRetryBatch = 200;  // at most per retry: the loop goes on

  KeepingStore(SqliteStore& db, std::size_t memory_max, std::string spill_path,
               FailureHandler on_failure);
  void on_call_event(const calls::CallEvent& event) override;
  // From the loop, often: retries every kRetryEvery while records wait, sooner while a
  // batch was stored and more wait.
  void service(std::chrono::steady_clock::time_point now);
  // At shutdown: one more try, then what still waits goes to the spill file.
  void shutdown();
  std::size_t waiting() const { return kept_.waiting(); }

 private:
  void failed(const std::string& error, calls::Timestamp when);

  SqliteStore& db_;
  UnstoredRecords kept_;
  FailureHandler on_failure_;
  bool failing_ = false;
  std::uint64_t failures_ = 0;
  std::uint64_t recovered_ = 0;  // stored by retries since the records began to wait
  std::chrono::steady_clock::time_point next_retry_{};
  log::RateLimiter failure_log_{5, std::chrono::seconds(60)};
};

}  // namespace tw::store
