#include "monitor/store/sqlite_store.hpp"

#include <nlohmann/json.hpp>

#include "monitor/log.hpp"
#include "monitor/store/json_store.hpp"

namespace tw::store {

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY,
  span INTEGER NOT NULL,
  channel INTEGER,
  direction TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
  calling TEXT NOT NULL,
  called TEXT NOT NULL,
  start TEXT,
  answer TEXT,
  "end" TEXT,
  duration_s REAL NOT NULL,
  cause INTEGER,
  partial INTEGER NOT NULL,
  digits TEXT NOT NULL,
  call_type TEXT NOT NULL,
  alerts TEXT NOT NULL,
  end_reason TEXT NOT NULL,
  cleared_by TEXT,
  cause_location INTEGER,
  call_ref INTEGER NOT NULL,
  calling_name TEXT NOT NULL,
  calling_presentation INTEGER,
  redirecting TEXT NOT NULL,
  connected TEXT NOT NULL,
  bearer TEXT NOT NULL,
  keypad TEXT NOT NULL,
  switchtype TEXT NOT NULL,
  digits_in TEXT NOT NULL,
  digits_out TEXT NOT NULL,
  second_dial_tone TEXT,
  inband TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_start ON calls(start);
)sql";

constexpr const char* kInsert = R"sql(
INSERT INTO calls (span, channel, direction, calling, called, start, answer, "end", duration_s,
  cause, partial, digits, call_type, alerts, end_reason, cleared_by, cause_location, call_ref,
  calling_name, calling_presentation, redirecting, connected, bearer, keypad, switchtype,
  digits_in, digits_out, second_dial_tone, inband)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
  ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)
)sql";

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bind_opt_int(sqlite3_stmt* s, int i, std::optional<int> v) {
  if (v)
    sqlite3_bind_int(s, i, *v);
  else
    sqlite3_bind_null(s, i);
}
void bind_opt_time(sqlite3_stmt* s, int i, const std::optional<calls::Timestamp>& t) {
  if (t)
    bind_text(s, i, calls::format_time(*t));
  else
    sqlite3_bind_null(s, i);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s, i)) : "";
}
std::optional<int> column_opt_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int(s, i);
}
std::optional<calls::Timestamp> column_opt_time(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return calls::parse_time(column_text(s, i));
}

}  // namespace

std::string SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown SQLite error";
    sqlite3_free(err);
    return msg;
  }
  return {};
}

std::string SqliteStore::open(const std::string& path) {
  path_ = path;
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) return path + ": " + (raw ? sqlite3_errmsg(raw) : "cannot open");
  sqlite3_busy_timeout(db_.get(), 5000);
  // WAL: a crash of the process never loses a committed record and readers (report) do not
  // block the writer. synchronous=NORMAL is durable against process crashes; only a power
  // loss may take the last transactions.
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kSchema}) {
    if (auto err = exec(sql); !err.empty()) return path + ": " + err;
  }
  if (auto err = exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
      !err.empty())
    return path + ": " + err;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_.get(), kInsert, -1, &stmt, nullptr) != SQLITE_OK)
    return path + ": " + sqlite3_errmsg(db_.get());
  insert_.reset(stmt);
  return {};
}

std::string SqliteStore::open_readonly(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) return path + ": " + (raw ? sqlite3_errmsg(raw) : "cannot open");
  sqlite3_busy_timeout(db_.get(), 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_.get(), "SELECT count(*) FROM calls", -1, &stmt, nullptr) != SQLITE_OK)
    return path + ": not a trunkwatch record database (" + sqlite3_errmsg(db_.get()) + ")";
  sqlite3_finalize(stmt);
  return {};
}

void SqliteStore::on_call_event(const calls::CallEvent& event) {
  if (event.type != calls::CallEventType::Ended) return;
  auto err = insert(*event.call);
  if (err.empty()) {
    ++written_;
    return;
  }
  ++write_errors_;
  last_error_ = err;
  if (failure_log_.allow(std::chrono::steady_clock::now())) {
    TW_LOG(error) << "call record not stored in " << path_ << ": " << err;
    if (const auto held = failure_log_.suppressed())
      TW_LOG(error) << held << " more such message(s) suppressed";
  }
}

std::string SqliteStore::insert(const calls::CallRecord& r) {
  sqlite3_stmt* s = insert_.get();
  if (!s) return "store not open";
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  sqlite3_bind_int(s, 1, r.span);
  bind_opt_int(s, 2, r.channel);
  bind_text(s, 3, calls::to_string(r.direction));
  bind_text(s, 4, r.calling);
  bind_text(s, 5, r.called);
  bind_opt_time(s, 6, r.start);
  bind_opt_time(s, 7, r.answer);
  bind_opt_time(s, 8, r.end);
  sqlite3_bind_double(s, 9, r.duration_s);
  bind_opt_int(s, 10, r.cause);
  sqlite3_bind_int(s, 11, r.partial ? 1 : 0);
  bind_text(s, 12, r.digits);
  bind_text(s, 13, r.call_type);
  bind_text(s, 14, nlohmann::json(r.alerts).dump());
  bind_text(s, 15, calls::to_string(r.end_reason));
  if (r.cleared_by)
    bind_text(s, 16, hal::to_string(*r.cleared_by));
  else
    sqlite3_bind_null(s, 16);
  bind_opt_int(s, 17, r.cause_location);
  sqlite3_bind_int(s, 18, r.call_ref);
  bind_text(s, 19, r.calling_name);
  bind_opt_int(s, 20, r.calling_presentation);
  bind_text(s, 21, r.redirecting);
  bind_text(s, 22, r.connected);
  bind_text(s, 23, r.bearer);
  bind_text(s, 24, r.keypad);
  bind_text(s, 25, r.switch_type);
  bind_text(s, 26, r.digits_in);
  bind_text(s, 27, r.digits_out);
  bind_opt_time(s, 28, r.second_dial_tone);
  bind_text(s, 29, to_json_line(inband_to_json(r.inband)));
  // A single INSERT in autocommit mode is its own transaction.
  if (sqlite3_step(s) != SQLITE_DONE) return sqlite3_errmsg(db_.get());
  return {};
}

std::string SqliteStore::load(std::optional<calls::Timestamp> since,
                              std::vector<calls::CallRecord>& out) {
  const char* sql =
      "SELECT span, channel, direction, calling, called, start, answer, \"end\", duration_s, "
      "cause, partial, digits, call_type, alerts, end_reason, cleared_by, cause_location, "
      "call_ref, calling_name, calling_presentation, redirecting, connected, bearer, keypad, "
      "switchtype, digits_in, digits_out, second_dial_tone FROM calls WHERE ?1 IS NULL OR start >= "
      "?1 ORDER BY start, id";
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK)
    return sqlite3_errmsg(db_.get());
  StmtPtr stmt(raw);
  bind_opt_time(raw, 1, since);
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    calls::CallRecord r;
    r.span = sqlite3_column_int(raw, 0);
    r.channel = column_opt_int(raw, 1);
    r.direction =
        column_text(raw, 2) == "inbound" ? calls::Direction::Inbound : calls::Direction::Outbound;
    r.calling = column_text(raw, 3);
    r.called = column_text(raw, 4);
    r.start = column_opt_time(raw, 5);
    r.answer = column_opt_time(raw, 6);
    r.end = column_opt_time(raw, 7);
    r.duration_s = sqlite3_column_double(raw, 8);
    r.cause = column_opt_int(raw, 9);
    r.partial = sqlite3_column_int(raw, 10) != 0;
    r.digits = column_text(raw, 11);
    r.call_type = column_text(raw, 12);
    auto alerts = nlohmann::json::parse(column_text(raw, 13), nullptr, false);
    if (alerts.is_array())
      for (const auto& a : alerts)
        if (a.is_string()) r.alerts.push_back(a.get<std::string>());
    const std::string reason = column_text(raw, 14);
    for (auto e :
         {calls::EndReason::Released, calls::EndReason::Restart, calls::EndReason::ChannelReused,
          calls::EndReason::Timeout, calls::EndReason::CaptureEnd, calls::EndReason::Shutdown})
      if (calls::to_string(e) == reason) r.end_reason = e;
    const std::string cleared = column_text(raw, 15);
    if (cleared == "pbx") r.cleared_by = hal::Side::Pbx;
    if (cleared == "carrier") r.cleared_by = hal::Side::Carrier;
    r.cause_location = column_opt_int(raw, 16);
    r.call_ref = static_cast<std::uint16_t>(sqlite3_column_int(raw, 17));
    r.calling_name = column_text(raw, 18);
    r.calling_presentation = column_opt_int(raw, 19);
    r.redirecting = column_text(raw, 20);
    r.connected = column_text(raw, 21);
    r.bearer = column_text(raw, 22);
    r.keypad = column_text(raw, 23);
    r.switch_type = column_text(raw, 24);
    r.digits_in = column_text(raw, 25);
    r.digits_out = column_text(raw, 26);
    r.second_dial_tone = column_opt_time(raw, 27);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return sqlite3_errmsg(db_.get());
  return {};
}

}  // namespace tw::store
