// Where notices go once the policy has decided: JSON lines (--alerts-json), the log (and so
// syslog or the journal, with structured fields), and alert mail through the spool.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "monitor/app/output_stream.hpp"
#include "monitor/log.hpp"
#include "monitor/store/json_store.hpp"
#include "rules/actions/mail.hpp"
#include "rules/notice.hpp"

namespace tw::app {

// One JSON object per notice (rules::to_json_line), flushed at once: a reader tailing the
// file sees an alert when it happens. Digests are not written: every notice in a digest
// has its own line already.
class JsonNoticeWriter final : public rules::NoticeSink {
 public:
  explicit JsonNoticeWriter(std::ostream& out) : out_(out) {}
  void on_notice(const rules::Notice& n) override;
  const store::LineWriter& lines() const { return out_; }

 private:
  store::LineWriter out_;  // counts the notices that could not be written
};

// Every notice as one log record: critical -> error, warning -> warning, info -> info; the
// fields (category, severity, identifier, rule, actions, span, channel, calling, called)
// travel as structured data.
class LogNotices final : public rules::NoticeSink {
 public:
  void on_notice(const rules::Notice& n) override;
  void on_digest(const rules::Digest& d) override;
};
log::Fields notice_fields(const rules::Notice& n);

// The notice outputs of a command or the daemon, built from the config and options.
class NoticeOutputs {
 public:
  struct Options {
    std::string alerts_json;  // PATH, "-" for standard output, "" for none
    bool append = false;      // add to an existing alerts_json file (the daemon's)
    bool log = true;          // LogNotices
    bool mail = false;        // mail per the config's [email] (when it names recipients)
  };
  NoticeOutputs() = default;
  ~NoticeOutputs();
  NoticeOutputs(const NoticeOutputs&) = delete;
  NoticeOutputs& operator=(const NoticeOutputs&) = delete;

  // Opens the outputs; an error message or "".
  std::string open(const Options& options, const rules::EmailSettings& email);
  rules::NoticeSink& sink() { return fanout_; }
  // The mail queue when mail is on (stats, waiting for delivery), else null.
  rules::MailQueue* mail() { return mail_queue_.get(); }
  const rules::MailQueue* mail() const { return mail_queue_.get(); }
  // The alerts_json writer (how many lines got there, how many not), null when none.
  const store::LineWriter* json_lines() const { return json_ ? &json_->lines() : nullptr; }
  const std::string& json_path() const { return json_out_.path(); }
  // Reopens the alerts_json file (SIGHUP after logrotate); an error message or "".
  std::string reopen_json() { return json_out_.reopen(); }

 private:
  OutputStream json_out_;
  std::unique_ptr<JsonNoticeWriter> json_;
  LogNotices log_;
  std::unique_ptr<rules::MailQueue> mail_queue_;
  std::unique_ptr<rules::MailNotices> mail_notices_;
  rules::NoticeFanout fanout_;
};

}  // namespace tw::app
