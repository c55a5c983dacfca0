// The embedded call-record store: SQLite in WAL mode, one transaction per record.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "monitor/calls/call_record.hpp"

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

  std::uint64_t write_errors() const { return write_errors_; }
  sqlite3* handle() const { return db_.get(); }

 private:
  std::string exec(const char* sql);
  std::unique_ptr<sqlite3, SqliteCloser> db_;
  StmtPtr insert_;
  std::uint64_t write_errors_ = 0;
};

}  // namespace tw::store
