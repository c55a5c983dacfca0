// The embedded call-record store: SQLite in WAL mode, one transaction per record.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "monitor/calls/call_record.hpp"
#include "monitor/log.hpp"

namespace tw::store {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

class SqliteStore final : public calls::CallEventSink {
 public:
  // Opens (creating if needed) the database; an empty message means success.
  std::string open(const std::string& path);
  // Opens an existing database read-only (report, backtest).
  std::string open_readonly(const std::string& path);

  void on_call_event(const calls::CallEvent& event) override;
  // Stores one record in its own transaction; returns an error message or "".
  std::string insert(const calls::CallRecord& record);

  // Records whose start is at or after `since` (all when nullopt), in start order.
  std::string load(std::optional<calls::Timestamp> since, std::vector<calls::CallRecord>& out);

  // Records stored by on_call_event, and those that could not be (with the last reason).
  std::uint64_t written() const { return written_; }
  std::uint64_t write_errors() const { return write_errors_; }
  const std::string& last_error() const { return last_error_; }
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_.get(); }

 private:
  std::string exec(const char* sql);
  std::unique_ptr<sqlite3, SqliteCloser> db_;
  StmtPtr insert_;
  std::string path_;
  std::uint64_t written_ = 0;
  std::uint64_t write_errors_ = 0;
  std::string last_error_;
  log::RateLimiter failure_log_{5, std::chrono::seconds(60)};
};

}  // namespace tw::store
