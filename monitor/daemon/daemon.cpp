#include "monitor/daemon/daemon.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "monitor/app/monitor_chain.hpp"
#include "monitor/app/notice_outputs.hpp"
#include "monitor/app/output_stream.hpp"
#include "monitor/daemon/control.hpp"
#include "monitor/log.hpp"
#include "monitor/store/json_store.hpp"
#include "monitor/store/sqlite_store.hpp"
#include "monitor/store/unstored.hpp"

namespace tw::daemon {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Notices go to whichever outputs are current: a reload may rebuild them (new mail settings)
// while the engine keeps its reference to this.
class CurrentNotices final : public rules::NoticeSink {
 public:
  void set(rules::NoticeSink* sink) { sink_ = sink; }
  void on_notice(const rules::Notice& n) override {
    if (sink_) sink_->on_notice(n);
  }
  void on_digest(const rules::Digest& d) override {
    if (sink_) sink_->on_digest(d);
  }
  void on_tick(rules::Timestamp now) override {
    if (sink_) sink_->on_tick(now);
  }
  void on_finish(rules::Timestamp now) override {
    if (sink_) sink_->on_finish(now);
  }

 private:
  rules::NoticeSink* sink_ = nullptr;
};

std::string resolve_config_path(const std::string& given) {
  if (!given.empty()) return given;
  return fs::exists(rules::kDefaultConfigPath) ? rules::kDefaultConfigPath : "";
}

rules::ConfigResult load(const DaemonOptions& o) {
  rules::ConfigOptions co;
  co.overrides = o.overrides;
  return rules::load_config(resolve_config_path(o.config_path), co);
}

log::Options log_options(const rules::DaemonSettings& d) {
  log::Options lo;
  lo.min_level = std::string(rules::to_string(d.log_level));
  lo.syslog_server = d.syslog_server;
  switch (d.log_target) {
    case rules::LogTarget::Journal:
      lo.target = log::Target::Journal;
      break;
    case rules::LogTarget::Syslog:
      lo.target = log::Target::Syslog;
      break;
    case rules::LogTarget::Stderr:
      lo.target = log::Target::Stderr;
      break;
    case rules::LogTarget::Auto:
      lo.target = log::stderr_is_journal() ? log::Target::Journal : log::Target::Stderr;
      break;
  }
  return lo;
}

std::string alarm_names(std::uint32_t a) {
  std::string out;
  for (auto [bit, name] : {std::pair{hal::alarm::kRed, "red"},
                           {hal::alarm::kYellow, "yellow"},
                           {hal::alarm::kBlue, "blue"},
                           {hal::alarm::kLos, "los"}})
    if (a & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out.empty() ? "ok" : out;
}

class Daemon final : public hal::SpanSink {
 public:
  Daemon(const DaemonOptions& options, std::shared_ptr<const rules::Config> config)
      : options_(options), config_(std::move(config)) {}
  ~Daemon() override {
    if (signal_fd_ >= 0) ::close(signal_fd_);
  }

  int run(const SourceFactory& make_source) {
    const rules::DaemonSettings& d = config_->daemon;
    // The socket first: a second daemon on the same socket stops before touching anything.
    if (auto err = control_.open(d.control_socket); !err.empty()) {
      TW_LOG(error) << "control socket: " << err;
      return 1;
    }
    if (auto err = records_lock_.acquire(d.records_dir, "records folder"); !err.empty()) {
      TW_LOG(error) << err;
      return 1;
    }
    const std::string db_path = d.records_dir + "/calls.sqlite";
    if (auto err = db_.open(db_path); !err.empty()) {
      TW_LOG(error) << "cannot open the record store: " << err;
      return 1;
    }
    open_record_keeping(d);
    if (d.json_records) {
      const std::string path = d.records_dir + "/calls.jsonl";
      if (auto err = json_out_.open(path, app::OutputStream::Mode::Append); !err.empty()) {
        TW_LOG(error) << err;
        return 1;
      }
      json_ = std::make_unique<store::JsonLinesStore>(json_out_.stream(), path);
      records_.add(*json_);
    }
    if (auto err = open_outputs(*config_); !err.empty()) {
      TW_LOG(error) << err;
      return 1;
    }
    std::string error;
    source_ = make_source(*config_, error);
    if (!source_) {
      TW_LOG(error) << "no span source: " << error;
      return 1;
    }
    PipelineOptions po;
    po.spans = source_->spans();
    for (hal::SpanInfo& s : po.spans) apply_span_settings(s);
    if (!po.spans.empty()) po.span_defaults = po.spans.front();
    // The detectors on worker threads (monitor/calls/dsp_pool.hpp); the loop thread keeps
    // the decoders, the trackers and the rules.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    po.dsp_threads =
        d.dsp_threads > 0
            ? d.dsp_threads
            : std::clamp(cores, 1, std::max<int>(1, static_cast<int>(po.spans.size())));
    rules::EngineOptions eo;
    eo.run_hooks = true;  // no inline mode yet: hangups are recorded as would_hangup
    chain_ = std::make_unique<app::MonitorChain>(po, config_, notices_, records_, eo);
    std::uint64_t watchdog_us = 0;
    if (sd_watchdog_enabled(0, &watchdog_us) > 0)
      watchdog_every_ = std::chrono::microseconds(watchdog_us / 2);
    started_ = Clock::now();
    TW_LOG(info) << "trunkwatch monitoring " << po.spans.size() << " span(s) with "
                 << po.dsp_threads << " detector thread(s); config " << config_->source
                 << "; records " << db_path << "; control " << d.control_socket;
    sd_notifyf(0, "READY=1\nSTATUS=monitoring %zu span(s)", po.spans.size());
    last_ping_ = Clock::now();

    const hal::SourceError err = source_->run(*this);
    const hal::Timestamp end = chain_->pipeline().last_time();
    // Calls still up are closed as partial records, held records released, the digest
    // period closed; every record is committed by the store as it arrives.
    chain_->finish(end,
                   stop_requested_ ? calls::EndReason::Shutdown : calls::EndReason::CaptureEnd);
    keeper_->shutdown();
    chain_->engine().wait_for_hooks(std::chrono::seconds(5));
    if (rules::MailQueue* mail = outputs_->mail()) mail->stop();  // the spool keeps the rest
    json_out_.flush_file();
    const auto calls = chain_->pipeline().call_totals();
    TW_LOG(info) << "trunkwatch stopped: " << calls.calls << " calls recorded, "
                 << chain_->engine().stats().notices << " notices";
    if (err) {
      TW_LOG(error) << "span source failed: " << err.message;
      return 1;
    }
    return 0;
  }

  // SpanSink
  void on_frame(const hal::DFrame& f) override { chain_->on_frame(f); }
  void on_audio(const hal::AudioChunk& a) override { chain_->on_audio(a); }
  void on_line_event(const hal::LineEvent& e) override { chain_->on_line_event(e); }
  void on_tick(hal::Timestamp now) override {
    chain_->on_tick(now);
    service(now);
    keeper_->service(Clock::now());
  }

  bool block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return false;
    signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return signal_fd_ >= 0;
  }

 private:
  // One daemon per mail spool: two would deliver each other's mail twice. A reload that
  // moves the spool locks the new one first and is refused if another daemon holds it.
  std::string lock_spool(const rules::EmailSettings& email) {
    if (!email.enabled() || spool_lock_->dir() == email.spool_dir) return "";
    auto lock = std::make_unique<DirLock>();
    if (auto err = lock->acquire(email.spool_dir, "mail spool"); !err.empty()) return err;
    spool_lock_.swap(lock);
    return "";
  }

  std::string open_outputs(const rules::Config& c) {
    if (auto err = lock_spool(c.email); !err.empty()) return err;
    auto outputs = std::make_unique<app::NoticeOutputs>();
    app::NoticeOutputs::Options no;
    no.alerts_json = c.daemon.records_dir + "/alerts.jsonl";
    no.append = true;
    no.mail = true;
    if (auto err = outputs->open(no, c.email); !err.empty()) return err;
    notices_.set(&outputs->sink());
    outputs_ = std::move(outputs);  // the old outputs (and their mail thread) go now
    return "";
  }

  // The record store behind a keeper: what it refuses waits in memory, then in
  // records_dir/unstored.jsonl, and is retried from the loop (docs/daemon.md).
  void open_record_keeping(const rules::DaemonSettings& d) {
    keeper_ = std::make_unique<store::KeepingStore>(
        db_, d.unstored_records_max, d.records_dir + "/unstored.jsonl",
        [this](const std::string& error, hal::Timestamp when) {
          raise_store_failure(error, when);
        });
    records_.add(*keeper_);
  }

  void raise_store_failure(const std::string& error, hal::Timestamp when) {
    rules::Notice n;
    n.time = when == hal::Timestamp{} && chain_ ? chain_->pipeline().last_time() : when;
    n.category = rules::Category::RecordStoreFailure;
    n.severity = rules::Severity::Warning;
    n.identifier = "record_store_failure:" + db_.path();
    n.rule = "daemon";
    n.actions = {"log"};
    n.message = "call records cannot be stored in " + db_.path() + " (" + error +
                "); they are kept and retried";
    notices_.on_notice(n);
  }

  // SIGHUP: calls.jsonl and alerts.jsonl are closed and opened again, so that after
  // logrotate moved them the lines go to new files.
  void reopen_record_files() {
    if (json_)
      if (auto err = json_out_.reopen(); !err.empty()) TW_LOG(error) << err;
    if (outputs_)
      if (auto err = outputs_->reopen_json(); !err.empty()) TW_LOG(error) << err;
  }

  void apply_span_settings(hal::SpanInfo& s) const {
    for (const rules::SpanSettings& c : config_->spans) {
      if (c.span != s.id) continue;
      if (c.type) s.type = *c.type;
      s.switch_type = c.switch_type.value_or(s.type == hal::SpanType::E1 ? hal::SwitchType::EuroIsdn
                                                                         : hal::SwitchType::Ni2);
      s.pbx_role = c.pbx_side;
      if (!c.name.empty()) s.name = c.name;
    }
  }

  void service(hal::Timestamp now) {
    if (watchdog_every_.count() > 0 && Clock::now() - last_ping_ >= watchdog_every_) {
      sd_notify(0, "WATCHDOG=1");
      last_ping_ = Clock::now();
    }
    signalfd_siginfo si;
    while (signal_fd_ >= 0 && ::read(signal_fd_, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        reopen_record_files();
        reload();
      } else if (!stop_requested_) {
        stop_requested_ = true;
        TW_LOG(info) << "signal " << si.ssi_signo << ": stopping";
        sd_notify(0, "STOPPING=1");
        chain_->finish(now, calls::EndReason::Shutdown);
        source_->stop();
      }
    }
    control_.service();
  }

  // SIGHUP and the control socket's "reload": a bad file is refused, the old config stays.
  Json reload() {
    sd_notify(0, "RELOADING=1");
    const rules::ConfigResult r = load(options_);
    Json reply;
    if (!r.ok()) {
      for (const std::string& e : r.errors) TW_LOG(error) << "reload refused: " << e;
      TW_LOG(error) << "reload refused: " << r.errors.size()
                    << " error(s); the running configuration stays in force";
      sd_notify(0, "READY=1\nSTATUS=reload refused: configuration errors, old one in force");
      reply["ok"] = false;
      reply["errors"] = r.errors;
      return reply;
    }
    for (const std::string& w : r.warnings) TW_LOG(warning) << "config: " << w;
    const rules::Config& next = *r.config;
    if (!(next.daemon == config_->daemon) || !(next.spans == config_->spans))
      TW_LOG(warning) << "reload: [daemon] and [[span]] changes take effect at the next restart";
    if (next.daemon.log_level != config_->daemon.log_level) {
      rules::DaemonSettings d = config_->daemon;
      d.log_level = next.daemon.log_level;
      log::init(log_options(d));
    }
    // Every [email] key counts: the outputs (and their mail queue) are rebuilt with them.
    const bool mail_changed = !(next.email == config_->email);
    // The daemon section keeps its running values (records, socket) until a restart.
    auto merged = std::make_shared<rules::Config>(next);
    merged->daemon = config_->daemon;
    merged->spans = config_->spans;
    if (mail_changed) {
      if (auto err = open_outputs(*merged); !err.empty()) {
        TW_LOG(error) << "reload refused: " << err << "; the running configuration stays";
        sd_notify(0, "READY=1");
        reply["ok"] = false;
        reply["errors"] = Json::array({err});
        return reply;
      }
    }
    config_ = merged;
    chain_->engine().reload(config_);
    ++reloads_;
    TW_LOG(info) << "configuration reloaded from " << config_->source;
    sd_notify(0, "READY=1\nSTATUS=configuration reloaded");
    reply["ok"] = true;
    reply["config"] = config_->source;
    return reply;
  }

  std::string handle(const std::string& request) {
    Json reply;
    if (request == "status") {
      reply = status();
    } else if (request == "calls") {
      reply = calls();
    } else if (request == "reload") {
      reply = reload();
    } else if (request.rfind("hangup ", 0) == 0) {
      reply["ok"] = false;
      reply["error"] =
          "trunkwatch taps these spans passively and does not own their D-channels, so it "
          "cannot clear a call (that needs the inline mode); clear it on the PBX";
    } else {
      reply["ok"] = false;
      reply["error"] = "unknown request (status, calls, reload, hangup SPAN:CHANNEL)";
    }
    // Values are sanitized ASCII already; replace keeps a stray byte from throwing.
    return reply.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  }

  Json status() const {
    const Pipeline& p = chain_->pipeline();
    Json j;
    j["ok"] = true;
    j["pid"] = ::getpid();
    j["uptime_s"] =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    j["config"] = config_->source;
    j["reloads"] = reloads_;
    j["source_time"] = hal::format_time(p.last_time());
    Json spans = Json::array();
    std::size_t up = 0;
    for (const auto& s : p.spans()) {
      Json o;
      o["span"] = s.info.id;
      o["name"] = s.info.name;
      o["type"] = std::string(hal::to_string(s.info.type));
      o["switchtype"] = std::string(hal::to_string(s.info.switch_type));
      o["line"] = s.info.framing;
      o["alarms"] = alarm_names(s.stats.alarms);
      o["d_channel"] = s.stats.dchan_up ? "up" : "down";
      o["calls_up"] = s.tracker.active_calls();
      o["frames"] = s.stats.frames;
      o["messages"] = s.stats.messages;
      o["malformed"] = s.stats.malformed;
      Json anomalies = Json::object();
      for (AnomalyKind k : kAllAnomalyKinds)
        anomalies[std::string(to_string(k))] = s.stats.anomalies[k];
      o["anomalies"] = std::move(anomalies);
      o["bad_fcs"] = s.stats.bad_fcs;
      o["overruns"] = s.stats.overruns;
      o["line_errors"] = Json{{"bpv", s.stats.line_errors.bpv},
                              {"crc", s.stats.line_errors.crc},
                              {"ebit", s.stats.line_errors.ebit},
                              {"fas", s.stats.line_errors.fas}};
      o["audio_chunks"] = s.stats.audio_chunks;
      up += s.tracker.active_calls();
      spans.push_back(std::move(o));
    }
    j["spans"] = std::move(spans);
    j["calls_up"] = up;
    j["calls_recorded"] = p.call_totals().calls;
    j["records_waiting"] = keeper_->waiting();
    const rules::EngineStats& e = chain_->engine().stats();
    Json n;
    n["total"] = e.notices;
    n["suppressed"] = e.suppressed;
    for (rules::Category c : rules::all_categories())
      if (const auto k = e.by_category[static_cast<std::size_t>(c)])
        n[std::string(rules::to_string(c))] = k;
    j["notices"] = std::move(n);
    if (const rules::MailQueue* mail = outputs_->mail()) {
      const auto st = mail->stats();
      j["mail"] = Json{
          {"pending", mail->pending()}, {"delivered", st.delivered}, {"failures", st.failures}};
    }
    return j;
  }

  Json calls() const {
    Json list = Json::array();
    for (const auto& s : chain_->pipeline().spans())
      s.tracker.for_each_active([&](const calls::CallRecord& r) {
        Json call = store::to_json(chain_->engine().live_view(r));
        // A call still up has no end reason yet (the record's default is "released").
        if (!r.end) call["end_reason"] = nullptr;
        list.push_back(std::move(call));
      });
    Json j;
    j["ok"] = true;
    j["calls"] = std::move(list);
    return j;
  }

  DaemonOptions options_;
  std::shared_ptr<const rules::Config> config_;
  // Held until everything that writes into those folders is gone (declared before them).
  DirLock records_lock_;
  std::unique_ptr<DirLock> spool_lock_ = std::make_unique<DirLock>();
  store::SqliteStore db_;
  app::OutputStream json_out_;
  std::unique_ptr<store::JsonLinesStore> json_;
  std::unique_ptr<store::KeepingStore> keeper_;
  CallEventFanout records_;
  CurrentNotices notices_;
  std::unique_ptr<app::NoticeOutputs> outputs_;
  std::unique_ptr<hal::SpanSource> source_;
  std::unique_ptr<app::MonitorChain> chain_;
  ControlServer control_{[this](const std::string& r) { return handle(r); }};
  int signal_fd_ = -1;
  bool stop_requested_ = false;
  std::uint64_t reloads_ = 0;
  Clock::time_point started_{};
  Clock::time_point last_ping_{};
  std::chrono::microseconds watchdog_every_{0};
};

}  // namespace

int run_daemon(const DaemonOptions& options, const SourceFactory& make_source) {
  const rules::ConfigResult r = load(options);
  if (!r.ok()) {
    // Before logging is set up: standard error, which systemd puts in the journal.
    for (const std::string& e : r.errors) std::cerr << e << "\n";
    std::cerr << "trunkwatch run: " << r.errors.size() << " configuration error(s); not starting\n";
    return 3;
  }
  if (auto err = log::init(log_options(r.config->daemon)); !err.empty()) {
    std::cerr << "trunkwatch run: " << err << "\n";
    return 3;
  }
  for (const std::string& w : r.warnings) TW_LOG(warning) << "config: " << w;
  Daemon daemon(options, r.config);
  // Before any thread starts (mail delivery, sources), so that only the signalfd sees them.
  if (!daemon.block_signals()) {
    TW_LOG(error) << "cannot set up signal handling";
    return 1;
  }
  return daemon.run(make_source);
}

}  // namespace tw::daemon
