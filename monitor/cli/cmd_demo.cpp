// trunkwatch demo: the main job on a built-in simulated site, with a live call table, the
// alerts as they are raised and the alert mail they sent.
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "hal/sim/scenario.hpp"
#include "hal/sim/simulator.hpp"
#include "monitor/cli/cli_common.hpp"
#include "monitor/cli/commands.hpp"
#include "monitor/report.hpp"

namespace tw::cli {

namespace {

namespace fs = std::filesystem;

struct DemoArgs {
  std::string db = "trunkwatch-demo.sqlite";
  std::string mail_dir = "trunkwatch-demo-mail";
  std::string alerts_json;
  PolicyOptions policy;
  double speed = 60;
  bool live = true;
  bool audio = true;
  std::string log_level = "warning";
};

// A TOML basic string.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The demo site's own configuration when no --config is given: the DISA number is a
// remote-access number, alert mail goes into a Maildir next to the database.
std::string demo_site_config(const std::string& mail_dir, const std::string& spool_dir) {
  return std::string("[site]\nname = \"demo site\"\nremote_access = [") +
         toml_string(sim::kDemoDisaNumber) +
         "]\n[email]\nto = [\"pbx-admins@example.com\"]\nfrom = \"trunkwatch@example.com\"\n"
         "transport = \"maildir\"\nmaildir = " +
         toml_string(fs::absolute(mail_dir).string()) + "\nspool_dir = " + toml_string(spool_dir) +
         "\nretry_min_s = 1\n";
}

// Keeps the last alerts for the screen; in a pipe prints each one as it comes.
class AlertTicker final : public rules::NoticeSink {
 public:
  explicit AlertTicker(bool print_now) : print_now_(print_now) {}
  void on_notice(const rules::Notice& n) override {
    const std::string line = "ALERT " + rules::format_notice_line(n);
    if (print_now_) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
    recent_.push_back(line);
    if (recent_.size() > 6) recent_.pop_front();
    ++count_;
  }
  const std::deque<std::string>& recent() const { return recent_; }
  std::size_t count() const { return count_; }

 private:
  bool print_now_;
  std::deque<std::string> recent_;
  std::size_t count_ = 0;
};

// Shows the calls that are up, with the digits heard on them, and the latest alerts;
// redrawn a few times a second of wall time.
class LiveTable final : public hal::SpanSink {
 public:
  LiveTable(app::MonitorChain& chain, const AlertTicker& alerts, bool enabled, bool tty)
      : chain_(chain), alerts_(alerts), enabled_(enabled), tty_(tty) {}
  void on_frame(const hal::DFrame& f) override { chain_.on_frame(f); }
  void on_audio(const hal::AudioChunk& a) override { chain_.on_audio(a); }
  void on_line_event(const hal::LineEvent& e) override { chain_.on_line_event(e); }
  void on_tick(hal::Timestamp now) override {
    chain_.on_tick(now);
    if (!enabled_) return;
    const auto wall = std::chrono::steady_clock::now();
    // On a terminal redraw 4 times a second; in a pipe print one line per simulated minute.
    if (tty_ ? wall - last_draw_ < std::chrono::milliseconds(250)
             : now - last_line_ < std::chrono::minutes(1))
      return;
    last_draw_ = wall;
    last_line_ = now;
    draw(now);
  }

 private:
  // What the screen shows of the digits: masked on remote-access numbers, as records are.
  std::string shown_digits(const calls::CallRecord& r) const {
    const rules::Config& c = chain_.engine().config();
    if (c.notices.mask_digits && c.is_remote_access(r.called)) return rules::mask_digits(r.digits);
    return r.digits;
  }

  void draw(hal::Timestamp now) {
    const Pipeline& pipeline = chain_.pipeline();
    std::size_t up = 0;
    for (const auto& s : pipeline.spans()) up += s.tracker.active_calls();
    const auto done = pipeline.call_totals().calls;
    if (!tty_) {
      std::printf("%s  calls up %zu, calls ended %llu, alerts %zu\n",
                  calls::format_time(now).c_str(), up, static_cast<unsigned long long>(done),
                  alerts_.count());
      std::fflush(stdout);
      return;
    }
    std::string screen = "\033[H\033[J";
    char line[200];
    std::snprintf(line, sizeof line,
                  "trunkwatch demo  %s  calls up %zu  ended %llu  alerts %zu\n\n",
                  calls::format_time(now).c_str(), up, static_cast<unsigned long long>(done),
                  alerts_.count());
    screen += line;
    screen += "span ch  direction  calling          called               state      time  digits\n";
    std::size_t rows = 0;
    for (const auto& s : pipeline.spans()) {
      s.tracker.for_each_active([&](const calls::CallRecord& r) {
        if (++rows > 24) return;
        const char* state = r.end ? "clearing" : r.answer ? "talking" : "ringing";
        const auto since = r.answer ? *r.answer : r.start.value_or(now);
        const long secs = static_cast<long>(
            std::chrono::duration_cast<std::chrono::seconds>(now - since).count());
        std::snprintf(line, sizeof line,
                      "%4d %2s  %-9s  %-15.15s  %-19.19s  %-9s %3ld:%02ld  %-.40s\n", r.span,
                      r.channel ? std::to_string(*r.channel).c_str() : "-",
                      std::string(calls::to_string(r.direction)).c_str(), r.calling.c_str(),
                      r.called.c_str(), state, secs / 60, secs % 60, shown_digits(r).c_str());
        screen += line;
      });
    }
    if (!alerts_.recent().empty()) {
      screen += "\nLatest alerts\n";
      for (const std::string& a : alerts_.recent()) screen += a.substr(0, 160) + "\n";
    }
    std::fwrite(screen.data(), 1, screen.size(), stdout);
    std::fflush(stdout);
  }

  app::MonitorChain& chain_;
  const AlertTicker& alerts_;
  bool enabled_;
  bool tty_;
  std::chrono::steady_clock::time_point last_draw_{};
  hal::Timestamp last_line_{};
};

// The demo starts from an empty database and mailbox, but it deletes only what it made:
// `--db` must be absent, empty, or an SQLite database holding trunkwatch's call table and
// nothing else; `--mail-dir` must be absent, empty (bar empty tmp/ new/ cur/), or a Maildir
// the demo created, which it marks with this file. A marker rather than reading every mail:
// a Maildir's messages do not say reliably who wrote them, the marker says who made the folder.
constexpr const char* kDemoMaildirMarker = ".trunkwatch-demo";

// "" when `path` may be replaced, else why not.
std::string check_demo_db(const std::string& path) {
  std::error_code ec;
  const auto st = fs::symlink_status(path, ec);
  if (ec || st.type() == fs::file_type::not_found) return "";
  const std::string refuse = path + ": exists and is not a trunkwatch call-record database (";
  const std::string keep = "); not replacing it (give another --db, or remove it yourself)";
  if (st.type() != fs::file_type::regular) return refuse + "not a regular file" + keep;
  if (fs::file_size(path, ec) == 0 && !ec) return "";
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  const std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
  if (rc != SQLITE_OK) return refuse + "cannot open it as SQLite" + keep;
  sqlite3_stmt* raw_stmt = nullptr;
  if (sqlite3_prepare_v2(db.get(), "SELECT name FROM sqlite_master WHERE type = 'table'", -1,
                         &raw_stmt, nullptr) != SQLITE_OK)
    return refuse + "not an SQLite database" + keep;
  const std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw_stmt,
                                                                        &sqlite3_finalize);
  bool calls = false;
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    const std::string table = name ? name : "";
    if (table == "calls")
      calls = true;
    else if (!table.starts_with("sqlite_"))
      return refuse + "it has a table '" + calls::sanitize_wire_text(table) + "'" + keep;
  }
  if (step != SQLITE_DONE) return refuse + "not an SQLite database" + keep;
  if (!calls) return refuse + "it has no calls table" + keep;
  return "";
}

// "" when the demo may empty `dir`'s new/ (it marks the folder as its own), else why not.
std::string claim_demo_maildir(const std::string& dir) {
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  const fs::path marker = fs::path(dir) / kDemoMaildirMarker;
  if (!ec && st.type() != fs::file_type::not_found) {
    if (st.type() != fs::file_type::directory)
      return dir + ": exists and is not a directory; not using it as the demo's Maildir";
    if (!fs::exists(marker, ec)) {
      // Someone else's folder unless it holds nothing at all.
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        const bool empty_sub = (name == "tmp" || name == "new" || name == "cur") &&
                               e.is_directory(ec) && fs::is_empty(e.path(), ec);
        if (!empty_sub)
          return dir + ": holds files the trunkwatch demo did not make (no " + kDemoMaildirMarker +
                 " in it); not emptying it (give another --mail-dir, or remove it yourself)";
      }
    }
  }
  fs::create_directories(dir, ec);
  std::ofstream(marker) << "This Maildir was made by `trunkwatch demo`, which empties its new/ "
                           "at every run.\n";
  if (!fs::exists(marker, ec)) return dir + ": cannot create the demo's Maildir there";
  return "";
}

// The first message in the Maildir, oldest first by name (ids start with the time).
std::string first_mail(const std::string& mail_dir, std::size_t& count) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(mail_dir) / "new", ec))
    if (e.is_regular_file()) files.push_back(e.path());
  count = files.size();
  if (files.empty()) return "";
  std::sort(files.begin(), files.end());
  std::ifstream in(files.front(), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int run_demo(const DemoArgs& a) {
  init_cli_logging(a.log_level);
  // The demo starts from an empty database and mailbox each run, made by earlier runs.
  const bool own_config = a.policy.config.empty();
  std::string refused = check_demo_db(a.db);
  if (refused.empty() && own_config) refused = claim_demo_maildir(a.mail_dir);
  if (!refused.empty()) {
    std::cerr << "trunkwatch demo: " << refused << "\n";
    return kExitBadInput;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(a.db + suffix);
  if (own_config) fs::remove_all(fs::path(a.mail_dir) / "new");
  char spool_template[] = "/tmp/trunkwatch-demo-spool-XXXXXX";
  const char* spool = ::mkdtemp(spool_template);
  if (!spool) {
    std::cerr << "trunkwatch demo: cannot create a mail spool under /tmp\n";
    return kExitFailure;
  }
  struct RemoveSpool {
    std::string path;
    ~RemoveSpool() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } remove_spool{spool};

  const auto config = a.policy.load("demo", demo_site_config(a.mail_dir, spool));
  if (!config) return kExitBadInput;
  store::SqliteStore db;
  if (auto err = db.open(a.db); !err.empty()) {
    std::cerr << "trunkwatch demo: " << err << "\n";
    return kExitFailure;
  }
  const bool tty = isatty(STDOUT_FILENO) != 0;
  AlertTicker ticker(!tty || !a.live);
  app::NoticeOutputs outputs;
  app::NoticeOutputs::Options no;
  no.alerts_json = a.alerts_json;
  no.log = false;  // the demo shows alerts itself
  no.mail = true;
  if (auto err = outputs.open(no, config->email); !err.empty()) {
    std::cerr << "trunkwatch demo: " << err << "\n";
    return kExitFailure;
  }
  rules::NoticeFanout notices;
  notices.add(ticker);
  notices.add(outputs.sink());

  sim::Simulator simulator(sim::demo_scenario(),
                           sim::SimOptions{.speed = a.speed, .pcap_path = {}, .audio = a.audio});
  PipelineOptions po;
  po.spans = simulator.spans();
  if (!po.spans.empty()) po.span_defaults = po.spans.front();
  rules::EngineOptions eo;
  eo.run_hooks = false;
  app::MonitorChain chain(po, config, notices, db, eo);
  LiveTable table(chain, ticker, a.live, tty);
  if (const hal::SourceError err = simulator.run(table)) {
    std::cerr << "trunkwatch demo: " << err.message << "\n";
    return kExitFailure;
  }
  std::vector<calls::CallRecord> records;
  if (auto err = db.load(std::nullopt, records); !err.empty()) {
    std::cerr << "trunkwatch demo: " << a.db << ": " << err << "\n";
    return kExitFailure;
  }
  std::cout << "\n" << render_report(records, ReportOptions{}) << "\n";
  if (tty && a.live)
    for (const std::string& line : ticker.recent()) std::cout << line << "\n";
  std::cout << "Decoded: " << summary_line(chain.pipeline()) << "\n"
            << "Alerts: " << ticker.count() << "\n";
  if (rules::MailQueue* mail = outputs.mail()) {
    mail->wait_until_empty(std::chrono::seconds(10));
    const auto st = mail->stats();
    std::cout << "Alert mail: " << st.delivered << " delivered";
    if (mail->pending()) std::cout << ", " << mail->pending() << " not delivered yet";
    std::cout << "\n";
  }
  if (own_config) {
    std::size_t count = 0;
    const std::string mail = first_mail(a.mail_dir, count);
    if (!mail.empty())
      std::cout << "\nThe first alert mail (" << count << " in the Maildir " << a.mail_dir
                << "):\n\n"
                << mail << "\n";
  }
  std::cout << "Call records: " << a.db << " (try: trunkwatch report --db " << a.db << ")\n";
  int rc = kExitOk;
  if (db.write_errors()) {
    std::cerr << "trunkwatch demo: " << db.write_errors() << " of "
              << db.write_errors() + db.written() << " call records not stored in " << a.db << ": "
              << db.last_error() << "\n";
    rc = kExitFailure;
  }
  if (const store::LineWriter* lines = outputs.json_lines(); lines && lines->failed()) {
    std::cerr << "trunkwatch demo: " << lines->failed() << " of "
              << lines->failed() + lines->written() << " notices not written to " << a.alerts_json
              << ": " << lines->last_error() << "\n";
    rc = kExitFailure;
  }
  return rc;
}

}  // namespace

void add_demo_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Watch a simulated site: two T1 PRI spans, a busy morning of calls compressed, and one\n"
      "toll-fraud attack (an outsider through-dialing Somalia via the DISA number).\n\n"
      "Real libpri stacks play the PBX and the carrier and real audio is on the B-channels;\n"
      "trunkwatch taps and decodes them as it would a live card, shows the calls that are up\n"
      "with the digits keyed on them and the alerts as they are raised, stores every record\n"
      "in an SQLite file, mails the alerts into a Maildir, and prints a summary and the first\n"
      "alert mail at the end. No telephony card needed.");
  cmd->add_option("--db", args->db,
                  "Where to store the call records (an earlier demo database there is replaced; "
                  "any other file is refused)")
      ->capture_default_str();
  cmd->add_option("--mail-dir", args->mail_dir,
                  "Maildir the alert mail is delivered to (its new/ is emptied first; only a "
                  "Maildir the demo made, marked .trunkwatch-demo, or an empty folder)")
      ->capture_default_str();
  cmd->add_option("--alerts-json", args->alerts_json,
                  "Also write each notice as a JSON line to PATH, or '-' for standard output")
      ->option_text("PATH|-");
  args->policy.add_options(*cmd,
                           "Use this configuration instead of the demo site's own (then mail goes "
                           "where its [email] says)");
  cmd->add_option("--speed", args->speed, "Simulated seconds per wall-clock second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("!--no-live", args->live, "Do not show the live call table");
  cmd->add_flag("!--no-audio", args->audio,
                "Signaling only: no B-channel audio, so no in-band digits or tones");
  add_log_option(*cmd, args->log_level);
  cmd->callback([args, &exit_code] { exit_code = run_demo(*args); });
}

}  // namespace tw::cli
