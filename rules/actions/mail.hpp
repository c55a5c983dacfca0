// Alert email: RFC 5322 messages for notices and digests, an on-disk spool so nothing is
// lost, and delivery through the local sendmail program or directly over SMTP (libcurl).
//
// A message is written to the spool (and fsynced) before any delivery is tried, and removed
// only once sendmail or the mail server accepted it; failed attempts are retried with
// exponential backoff; a restart resumes the spool. Delivery is therefore at least once: a
// crash between the server's acceptance and the removal sends that message again, with the
// same Message-ID.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "rules/config.hpp"
#include "rules/notice.hpp"

namespace tw::rules {

struct MailMessage {
  std::string id;    // stable for a given notice: the spool file name and the Message-ID
  std::string text;  // RFC 5322, CRLF line ends, 7-bit ASCII
};

// Header values: printable ASCII only, anything else becomes '?', so no value can end a
// header line or start a new header.
std::string header_text(std::string_view value);
// "Tue, 05 Jan 2027 10:00:41 +0000"
std::string rfc5322_date(Timestamp t);

// Subject with severity, category, span/channel and numbers; body with the message, the call,
// the rule, what was done and what to check next.
MailMessage compose_notice_mail(const Notice& n, const EmailSettings& s);
MailMessage compose_digest_mail(const Digest& d, const EmailSettings& s);

// The alert notices of one mail-limit window (email.max_per_window per email.window_s): the
// first ones were mailed one by one, the rest are summarized in one mail.
struct MailFlood {
  Timestamp from{};
  Timestamp to{};
  double window_s = 600;
  std::int64_t limit = 0;    // email.max_per_window
  std::uint64_t total = 0;   // alert notices in the window
  std::uint64_t mailed = 0;  // of them mailed one by one
  std::uint64_t held = 0;    // of them only in this summary (and the log, the JSON lines)
  Severity worst = Severity::Info;
  // Most frequent first, ties by name; at most 10 numbers each.
  std::vector<std::pair<Category, std::uint64_t>> categories;
  std::vector<std::pair<std::string, std::uint64_t>> far_numbers;  // called if outbound
  std::vector<std::pair<std::string, std::uint64_t>> pbx_numbers;  // calling if outbound
};
// Subject "[trunkwatch] CRITICAL 100 notices in 10 minutes, 95 not mailed one by one".
MailMessage compose_flood_mail(const MailFlood& f, const EmailSettings& s);

// What became of one delivery attempt.
struct SendResult {
  std::string error;       // "" when the message was accepted
  bool permanent = false;  // the server rejected this message for good (SMTP 5xx to MAIL FROM,
                           // RCPT TO or the message): retrying cannot help
};

class MailTransport {
 public:
  virtual ~MailTransport() = default;
  // Accepted when sendmail exited 0, the SMTP server said 250, the Maildir file is in new/.
  virtual SendResult send(const std::string& from, const std::vector<std::string>& to,
                          const std::string& message) = 0;
};
// email.transport: "sendmail" runs `sendmail -i -f FROM -- TO...` (no shell) with the message
// on standard input; "smtp" talks to email.smtp_url with libcurl (STARTTLS per
// email.starttls, AUTH with email.username and the password in email.password_file; the
// server's certificate is always verified, against email.ca_file when set).
std::unique_ptr<MailTransport> make_mail_transport(const EmailSettings& s, std::string& error);

class MailQueue {
 public:
  MailQueue(EmailSettings settings, std::unique_ptr<MailTransport> transport);
  ~MailQueue();  // stops the delivery thread; undelivered mail stays in the spool
  MailQueue(const MailQueue&) = delete;
  MailQueue& operator=(const MailQueue&) = delete;

  // Creates the spool directory (0700), picks up what an earlier run left in it, and starts
  // delivering. Returns an error message or "".
  std::string start();
  void stop();
  // Writes the message to the spool (durable when this returns) and wakes the delivery
  // thread. A message whose id is already spooled is not queued twice.
  std::string enqueue(const MailMessage& m);

  struct Stats {
    std::uint64_t queued = 0;
    std::uint64_t delivered = 0;
    std::uint64_t attempts = 0;
    std::uint64_t failures = 0;
    std::uint64_t warned = 0;    // messages reported undelivered for email.warn_after_s
    std::uint64_t rejected = 0;  // refused for good by the server: moved to SPOOL/failed/
  };
  Stats stats() const;
  std::size_t pending() const;
  // Waits until the spool is empty; false if `limit` passed first.
  bool wait_until_empty(std::chrono::milliseconds limit);

 private:
  struct Entry {
    std::int64_t queued_unix = 0;  // wall time it entered the spool (survives restarts)
    std::uint32_t attempts = 0;
    bool warned = false;
    std::chrono::steady_clock::time_point next{};
    std::string last_error;
  };
  void run();
  void deliver(const std::string& id, Entry entry);
  std::string path(const std::string& id, const char* ext) const;
  std::string write_state(const std::string& id, const Entry& e) const;

  EmailSettings settings_;
  std::unique_ptr<MailTransport> transport_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<std::string, Entry> entries_;  // by id: oldest first (ids start with the time)
  bool stopping_ = false;
  Stats stats_;
  std::thread worker_;
};

// The notice sink that mails: every notice whose actions include "alert", and digests.
// At most email.max_per_window notice mails go out per email.window_s of source time (the
// window opens with the first alert); the alerts beyond are counted and go into one summary
// mail when the window ends (a tick past it, the next alert after it, or the end of the
// source). Digests are summaries already: they always go out and are not counted.
class MailNotices final : public NoticeSink {
 public:
  MailNotices(MailQueue& queue, EmailSettings settings)
      : queue_(queue), settings_(std::move(settings)) {}
  void on_notice(const Notice& n) override;
  void on_digest(const Digest& d) override;
  void on_tick(Timestamp now) override;
  void on_finish(Timestamp now) override;
  // The outputs go away (a reload rebuilds them): an open window's summary is spooled now.
  void flush() { on_finish(last_); }
  std::uint64_t summaries() const { return summaries_; }

 private:
  struct Window {
    Timestamp start{};
    std::uint64_t total = 0, mailed = 0, held = 0;
    Severity worst = Severity::Info;
    std::map<Category, std::uint64_t> categories;
    std::map<std::string, std::uint64_t> far_numbers, pbx_numbers;  // bounded (kMaxNumbers)
  };
  void close_window(Timestamp end);
  void spool(const MailMessage& m, const std::string& what);

  MailQueue& queue_;
  EmailSettings settings_;
  std::optional<Window> window_;
  Timestamp last_{};  // the latest source time seen
  std::uint64_t summaries_ = 0;
};

}  // namespace tw::rules
