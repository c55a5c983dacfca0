// Alert email end to end: the engine raises notices, MailNotices spools RFC 5322 messages,
// MailQueue delivers them to a real SMTP server on loopback (Debian's python3-aiosmtpd,
// storing into a Maildir) or through a sendmail program. The server goes away and comes back,
// trunkwatch restarts with a full spool: nothing is lost, nothing arrives twice. STARTTLS, AUTH
// and certificate verification are proven against a server with a certificate made at test
// time. Hostile caller names cannot add headers or recipients, and access codes stay masked.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/core/null_deleter.hpp>
#include <boost/log/core.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/make_shared.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "rules/actions/mail.hpp"
#include "rules/engine.hpp"
#include "tests/support/temp_dir.hpp"

namespace tw::rules {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kPython = "/usr/bin/python3";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// What the test server demands beyond plain SMTP.
struct SmtpOptions {
  std::string cert, key;          // PEM: offer STARTTLS with this certificate
  bool require_starttls = false;  // refuse everything but EHLO/STARTTLS/QUIT before TLS
  std::string user, password;     // require AUTH (only after STARTTLS) as this user
  std::string reject_rcpt;        // the reply to every RCPT TO ("550 5.1.1 ...") instead of 250
};

// aiosmtpd (a Python script written at test time: a Controller with the Mailbox handler):
// every accepted message becomes a file in maildir/new, with X-Tls (yes/no) and X-Auth-User
// (the authenticated login, or empty) added.
const char* kServerScript = R"(import ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
host, port, maildir, cert, key, require_tls, user, password, reject_rcpt = sys.argv[1:10]
class Box(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if reject_rcpt:
            return reject_rcpt
        envelope.rcpt_tos.append(address)
        return '250 OK'

    def prepare_message(self, session, envelope):
        m = super().prepare_message(session, envelope)
        m['X-Tls'] = 'yes' if session.ssl is not None else 'no'
        m['X-Auth-User'] = session.auth_data.login.decode() if session.authenticated else ''
        return m
def check(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login == user.encode()
          and data.password == password.encode())
    return AuthResult(success=ok, handled=False, auth_data=data)
kw = {}
if cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    kw.update(tls_context=ctx, require_starttls=require_tls == '1')
if user:
    kw.update(authenticator=check, auth_require_tls=True, auth_required=True)
Controller(Box(maildir), hostname=host, port=int(port), **kw).start()
print('listening', flush=True)
threading.Event().wait()
)";

class SmtpServer {
 public:
  SmtpServer(int port, fs::path maildir, SmtpOptions options = {})
      : port_(port), maildir_(std::move(maildir)), options_(std::move(options)) {}
  ~SmtpServer() { stop(); }
  void set_options(SmtpOptions options) { options_ = std::move(options); }
  bool start() {
    const std::string script = maildir_.string() + ".py";
    std::ofstream(script) << kServerScript;
    const std::string log = maildir_.string() + ".log";
    const std::string port = std::to_string(port_);
    const std::string require = options_.require_starttls ? "1" : "0";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(kPython, kPython, script.c_str(), "127.0.0.1", port.c_str(), maildir_.c_str(),
              options_.cert.c_str(), options_.key.c_str(), require.c_str(), options_.user.c_str(),
              options_.password.c_str(), options_.reject_rcpt.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 400; ++i) {
      if (port_open(port_)) return true;
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    if (!fs::exists(maildir_ / "new")) return out;
    for (const auto& e : fs::directory_iterator(maildir_ / "new")) out.push_back(slurp(e.path()));
    return out;
  }
  std::string log() const { return slurp(maildir_.string() + ".log"); }

 private:
  int port_;
  fs::path maildir_;
  SmtpOptions options_;
  pid_t pid_ = -1;
};

std::string header(const std::string& msg, const std::string& name) {
  const std::size_t end =
      msg.find("\n\n") != std::string::npos ? msg.find("\n\n") : msg.find("\r\n\r\n");
  std::istringstream in(msg.substr(0, end));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with(name + ": ")) return line.substr(name.size() + 2);
  }
  return "";
}

std::vector<std::string> header_names(const std::string& msg) {
  std::vector<std::string> out;
  std::istringstream in(msg.substr(0, msg.find("\r\n\r\n")));
  for (std::string line; std::getline(in, line);) out.push_back(line.substr(0, line.find(':')));
  return out;
}

struct Collect final : NoticeSink {
  std::vector<Notice> got;
  void on_notice(const Notice& n) override { got.push_back(n); }
};

// What the library logs through Boost.Log while it lives (the message text only).
class LogCapture {
 public:
  LogCapture() {
    auto backend = boost::make_shared<boost::log::sinks::text_ostream_backend>();
    backend->add_stream(boost::shared_ptr<std::ostream>(&text_, boost::null_deleter()));
    backend->auto_flush(true);
    sink_ = boost::make_shared<Sink>(backend);
    boost::log::core::get()->add_sink(sink_);
  }
  ~LogCapture() { boost::log::core::get()->remove_sink(sink_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const {
    sink_->flush();
    return text_.str();
  }

 private:
  using Sink = boost::log::sinks::synchronous_sink<boost::log::sinks::text_ostream_backend>;
  std::ostringstream text_;
  boost::shared_ptr<Sink> sink_;
};

class RulesEmail : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kPython, X_OK) != 0 || ::access("/usr/bin/openssl", X_OK) != 0 ||
        std::system((std::string(kPython) + " -c 'import aiosmtpd' 2>/dev/null").c_str()) != 0)
      GTEST_FAIL() << "python3-aiosmtpd is not installed: scripts/setup.sh installs it";
    dir_ = test::temp_dir(std::string("rules-email-") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = free_port();
    server_ = std::make_unique<SmtpServer>(port_, dir_ / "maildir");
    settings_.to = {"admin@example.com", "noc@example.com"};
    settings_.from = "trunkwatch@pbx.example.com";
    settings_.transport = EmailTransport::Smtp;
    settings_.smtp_url = "smtp://127.0.0.1:" + std::to_string(port_);
    settings_.starttls = StartTls::Try;
    settings_.spool_dir = (dir_ / "spool").string();
    settings_.retry_min_s = 0.05;
    settings_.retry_max_s = 0.2;
    settings_.timeout_s = 5;
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<MailQueue> queue() {
    std::string err;
    auto t = make_mail_transport(settings_, err);
    EXPECT_TRUE(t) << err;
    auto q = std::make_unique<MailQueue>(settings_, std::move(t));
    EXPECT_EQ(q->start(), "");
    return q;
  }

  std::size_t spooled() const {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(settings_.spool_dir))
      if (e.path().extension() == ".eml") ++n;
    return n;
  }

  static Notice notice(int i) {
    Notice n;
    n.time = *hal::parse_time("2027-01-05T23:10:00Z") + std::chrono::seconds(i);
    n.category = Category::Premium;
    n.severity = Severity::Critical;
    n.identifier = "premium:2125550100:1900555000" + std::to_string(i);
    n.rule = "premium";
    n.actions = {"alert"};
    n.message = "outbound call to a premium-rate number 1900555000" + std::to_string(i);
    n.call.span = 1;
    n.call.channel = 3;
    n.call.calling = "2125550100";
    n.call.called = "1900555000" + std::to_string(i);
    n.call.direction = calls::Direction::Outbound;
    n.call.start = n.time - 2s;
    return n;
  }

  // A self-signed certificate for localhost and 127.0.0.1, valid for a day: dir_/cert.pem and
  // dir_/key.pem. The server's options: STARTTLS required, AUTH as "tw" with kPassword.
  SmtpOptions secure_server() {
    const std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return SmtpOptions{cert, key, true, "tw", kPassword, ""};
  }
  // The password file as a site would have it: mode 0600.
  std::string password_file(const std::string& password) {
    const fs::path pw = dir_ / "smtp-password";
    std::ofstream(pw) << password << "\n";
    fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
    return pw.string();
  }
  // A queue configured like a site with an internal CA: STARTTLS required, AUTH as "tw".
  void use_secure_settings(const std::string& password) {
    settings_.starttls = StartTls::Required;
    settings_.username = "tw";
    settings_.password_file = password_file(password);
    settings_.ca_file = (dir_ / "cert.pem").string();
  }
  // Delivery keeps failing: the message stays in the spool and every attempt is counted.
  void expect_stays_spooled(MailQueue& q, const char* what) {
    for (int i = 0; i < 200 && q.stats().failures < 3; ++i) std::this_thread::sleep_for(20ms);
    EXPECT_GE(q.stats().failures, 3u) << what;
    EXPECT_EQ(q.stats().delivered, 0u) << what;
    EXPECT_EQ(q.pending(), 1u) << what;
    EXPECT_EQ(spooled(), 1u) << what;
    EXPECT_TRUE(server_->messages().empty()) << what;
  }

  static constexpr const char* kPassword = "s3cret pass";

  fs::path dir_;
  int port_ = 0;
  std::unique_ptr<SmtpServer> server_;
  EmailSettings settings_;
};

// The engine's notice through the spool to the server: one RFC 5322 message per alert.
TEST_F(RulesEmail, AlertReachesARealSmtpServer) {
  ASSERT_TRUE(server_->start());
  auto q = queue();
  MailNotices mail(*q, settings_);
  ConfigOptions co;
  co.high_risk_search = {};
  const auto cfg = parse_config("", "site.toml", co).config;
  ASSERT_TRUE(cfg);
  Engine engine(cfg, mail);
  calls::CallRecord r;
  r.span = 1;
  r.channel = 2;
  r.direction = calls::Direction::Outbound;
  r.calling = "2125550100";
  r.called = "19005551234";
  r.calling_name = "Reception";
  r.start = *hal::parse_time("2027-01-05T23:10:00Z");
  r.answer = *r.start + 3s;
  r.end = *r.start + 60s;
  r.call_ref = 9;
  for (auto type : {calls::CallEventType::Started, calls::CallEventType::Answered,
                    calls::CallEventType::Ended}) {
    calls::CallEvent e{type, type == calls::CallEventType::Started ? *r.start : *r.answer, &r};
    engine.on_call_event(e);
  }
  ASSERT_TRUE(q->wait_until_empty(10s));
  const auto msgs = server_->messages();
  ASSERT_EQ(msgs.size(), 1u);
  const std::string& m = msgs[0];
  EXPECT_EQ(header(m, "Subject"),
            "[trunkwatch] CRITICAL premium span 1/2 2125550100 -> 19005551234");
  EXPECT_EQ(header(m, "From"), "trunkwatch <trunkwatch@pbx.example.com>");
  EXPECT_EQ(header(m, "To"), "admin@example.com, noc@example.com");
  EXPECT_EQ(header(m, "Date"), "Tue, 05 Jan 2027 23:10:03 +0000");
  EXPECT_EQ(header(m, "X-RcptTo"), "admin@example.com, noc@example.com");
  EXPECT_EQ(header(m, "X-MailFrom"), "trunkwatch@pbx.example.com");
  EXPECT_EQ(header(m, "X-Trunkwatch-Category"), "premium");
  EXPECT_TRUE(header(m, "Message-ID").ends_with("@trunkwatch>"));
  EXPECT_NE(m.find("Rule:       premium"), std::string::npos) << m;
  EXPECT_NE(m.find("Done:       alert"), std::string::npos) << m;
  EXPECT_NE(m.find("\"Reception\""), std::string::npos) << m;
  EXPECT_NE(m.find("What to check next:"), std::string::npos) << m;
  EXPECT_EQ(spooled(), 0u);
  EXPECT_EQ(q->stats().delivered, 1u);
}

TEST_F(RulesEmail, ServerOutageLosesNothingAndDuplicatesNothing) {
  ASSERT_TRUE(server_->start());
  auto q = queue();
  server_->stop();  // the mail server goes away
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const MailMessage m = compose_notice_mail(notice(i), settings_);
    ids.insert("<" + m.id + "@trunkwatch>");
    ASSERT_EQ(q->enqueue(m), "");
    ASSERT_EQ(q->enqueue(m), "");  // the same message twice is queued once
  }
  EXPECT_EQ(q->pending(), 3u);
  for (int i = 0; i < 100 && q->stats().failures < 6; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE(q->stats().failures, 6u);
  EXPECT_EQ(q->stats().delivered, 0u);
  EXPECT_EQ(spooled(), 3u);
  ASSERT_TRUE(server_->start());  // it comes back
  ASSERT_TRUE(q->wait_until_empty(10s));
  const auto msgs = server_->messages();
  ASSERT_EQ(msgs.size(), 3u);
  std::set<std::string> got;
  for (const auto& m : msgs) got.insert(header(m, "Message-ID"));
  EXPECT_EQ(got, ids);
  EXPECT_EQ(spooled(), 0u);
  EXPECT_EQ(q->stats().delivered, 3u);
}

// A site's submission server: STARTTLS required, AUTH required (only over TLS), a certificate
// from an internal CA (here self-signed) that email.ca_file trusts.
TEST_F(RulesEmail, StartTlsAndAuthAgainstARealServer) {
  server_->set_options(secure_server());
  ASSERT_TRUE(server_->start()) << server_->log();
  use_secure_settings(kPassword);
  auto q = queue();
  const MailMessage m = compose_notice_mail(notice(1), settings_);
  ASSERT_EQ(q->enqueue(m), "");
  ASSERT_TRUE(q->wait_until_empty(10s)) << server_->log();
  const auto msgs = server_->messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(header(msgs[0], "X-Tls"), "yes");
  EXPECT_EQ(header(msgs[0], "X-Auth-User"), "tw");
  EXPECT_EQ(header(msgs[0], "Message-ID"), "<" + m.id + "@trunkwatch>");
  EXPECT_EQ(header(msgs[0], "X-RcptTo"), "admin@example.com, noc@example.com");
  EXPECT_EQ(spooled(), 0u);
  EXPECT_EQ(q->stats().failures, 0u);
}

// A wrong password: refused, kept in the spool and retried; with the right one it goes out.
TEST_F(RulesEmail, WrongPasswordKeepsTheMessageSpooled) {
  server_->set_options(secure_server());
  ASSERT_TRUE(server_->start()) << server_->log();
  use_secure_settings("not the password");
  {
    auto q = queue();
    ASSERT_EQ(q->enqueue(compose_notice_mail(notice(2), settings_)), "");
    expect_stays_spooled(*q, "wrong password");
  }
  password_file(kPassword);  // fixed; the password is read when the transport is made
  auto q = queue();
  EXPECT_EQ(q->pending(), 1u);
  ASSERT_TRUE(q->wait_until_empty(10s)) << server_->log();
  const auto msgs = server_->messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(header(msgs[0], "X-Auth-User"), "tw");
  EXPECT_EQ(spooled(), 0u);
}

// starttls = "required" and the server offers no STARTTLS: nothing is sent in clear.
TEST_F(RulesEmail, RequiredStartTlsRefusesAServerWithoutIt) {
  ASSERT_TRUE(server_->start()) << server_->log();  // plain SMTP, would accept anything
  settings_.starttls = StartTls::Required;
  auto q = queue();
  ASSERT_EQ(q->enqueue(compose_notice_mail(notice(3), settings_)), "");
  expect_stays_spooled(*q, "no STARTTLS");
}

// The server's certificate is not trusted (no email.ca_file, so the system's store): refused.
TEST_F(RulesEmail, UntrustedCertificateIsRefused) {
  server_->set_options(secure_server());
  ASSERT_TRUE(server_->start()) << server_->log();
  use_secure_settings(kPassword);
  settings_.ca_file.clear();
  auto q = queue();
  ASSERT_EQ(q->enqueue(compose_notice_mail(notice(4), settings_)), "");
  expect_stays_spooled(*q, "untrusted certificate");
}

// The server refuses the recipient for good (550): one attempt, the message moved aside to
// SPOOL/failed/ with the reason, and the server's own words in the log.
TEST_F(RulesEmail, PermanentRejectionIsNotRetriedAndKeepsTheServersText) {
  SmtpOptions o;
  o.reject_rcpt = "550 5.1.1 <admin@example.com>: Recipient address rejected: User unknown";
  server_->set_options(o);
  ASSERT_TRUE(server_->start()) << server_->log();
  LogCapture log;
  auto q = queue();
  const MailMessage m = compose_notice_mail(notice(5), settings_);
  ASSERT_EQ(q->enqueue(m), "");
  ASSERT_TRUE(q->wait_until_empty(10s)) << log.text();
  std::this_thread::sleep_for(300ms);  // longer than retry_max_s: a retry would show now
  EXPECT_EQ(q->stats().attempts, 1u);
  EXPECT_EQ(q->stats().rejected, 1u);
  EXPECT_EQ(q->stats().delivered, 0u);
  EXPECT_EQ(q->pending(), 0u);
  EXPECT_EQ(spooled(), 0u);
  const fs::path failed = fs::path(settings_.spool_dir) / "failed";
  EXPECT_EQ(slurp(failed / (m.id + ".eml")), m.text);
  EXPECT_FALSE(fs::exists(fs::path(settings_.spool_dir) / (m.id + ".state")));
  const std::string reason = slurp(failed / (m.id + ".reason"));
  EXPECT_NE(reason.find("550 5.1.1 <admin@example.com>: Recipient address rejected: User unknown"),
            std::string::npos)
      << reason;
  const std::string text = log.text();
  EXPECT_NE(text.find("alert mail " + m.id + " rejected by the mail server, not retried: smtp://"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("RCPT failed: 550; the server said: 550 5.1.1 <admin@example.com>: "
                      "Recipient address rejected: User unknown"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(failed.string() + "/" + m.id + ".eml"), std::string::npos) << text;
  EXPECT_TRUE(server_->messages().empty());
}

// A temporary refusal (4xx) is retried as before, with the server's words in the log.
TEST_F(RulesEmail, TemporaryRejectionIsRetried) {
  SmtpOptions o;
  o.reject_rcpt = "450 4.2.1 Mailbox busy, try again later";
  server_->set_options(o);
  ASSERT_TRUE(server_->start()) << server_->log();
  LogCapture log;
  auto q = queue();
  ASSERT_EQ(q->enqueue(compose_notice_mail(notice(6), settings_)), "");
  expect_stays_spooled(*q, "450");
  EXPECT_EQ(q->stats().rejected, 0u);
  EXPECT_FALSE(fs::exists(fs::path(settings_.spool_dir) / "failed"));
  EXPECT_NE(log.text().find("the server said: 450 4.2.1 Mailbox busy, try again later"),
            std::string::npos)
      << log.text();
}

// A flood of alerts: email.max_per_window mails one by one, then one summary mail naming the
// count at the end of the window; the next window mails again.
TEST_F(RulesEmail, AFloodBecomesOneSummaryMail) {
  ASSERT_TRUE(server_->start());
  settings_.max_per_window = 5;
  settings_.window_s = 600;
  auto q = queue();
  MailNotices mail(*q, settings_);
  const Timestamp t0 = notice(0).time;
  for (int i = 0; i < 100; ++i) mail.on_notice(notice(i));  // 100 s, one window
  EXPECT_EQ(q->stats().queued, 5u);
  mail.on_tick(t0 + 599s);
  EXPECT_EQ(q->stats().queued, 5u) << "the window is not over yet";
  mail.on_tick(t0 + 600s);
  EXPECT_EQ(q->stats().queued, 6u);
  EXPECT_EQ(mail.summaries(), 1u);
  ASSERT_TRUE(q->wait_until_empty(10s));
  const auto msgs = server_->messages();
  ASSERT_EQ(msgs.size(), 6u);
  std::vector<std::string> summaries;
  std::set<std::string> single;
  for (const auto& m : msgs) {
    if (header(m, "X-Trunkwatch-Category") == "summary")
      summaries.push_back(m);
    else
      single.insert(header(m, "Subject"));
  }
  ASSERT_EQ(summaries.size(), 1u);
  const std::string& s = summaries[0];
  EXPECT_EQ(header(s, "Subject"),
            "[trunkwatch] CRITICAL 100 notices in 10 minutes, 95 not mailed one by one");
  EXPECT_EQ(header(s, "Date"), "Tue, 05 Jan 2027 23:20:00 +0000");
  EXPECT_NE(s.find("trunkwatch raised 100 alert notices from 2027-01-05T23:10:00.000Z to"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("premium: 100"), std::string::npos) << s;
  EXPECT_NE(s.find("2125550100: 100"), std::string::npos) << s;
  EXPECT_NE(s.find("19005550000: 1"), std::string::npos) << s;
  EXPECT_NE(s.find("see the log"), std::string::npos) << s;
  std::set<std::string> expected;
  for (int i = 0; i < 5; ++i)
    expected.insert("[trunkwatch] CRITICAL premium span 1/3 2125550100 -> 1900555000" +
                    std::to_string(i));
  EXPECT_EQ(single, expected);
  // A window that stays under the limit sends no summary; the next alert opens a new window.
  mail.on_notice(notice(700));
  mail.on_finish(t0 + 800s);
  EXPECT_EQ(q->stats().queued, 7u);
  EXPECT_EQ(mail.summaries(), 1u);
}

TEST_F(RulesEmail, RestartResumesAFullSpool) {
  {
    auto q = queue();  // no server at all
    for (int i = 0; i < 4; ++i)
      ASSERT_EQ(q->enqueue(compose_notice_mail(notice(i), settings_)), "");
    for (int i = 0; i < 100 && q->stats().failures < 4; ++i) std::this_thread::sleep_for(20ms);
  }  // trunkwatch stops with everything undelivered
  EXPECT_EQ(spooled(), 4u);
  ASSERT_TRUE(server_->start());
  auto q = queue();
  EXPECT_EQ(q->pending(), 4u);
  ASSERT_TRUE(q->wait_until_empty(10s));
  EXPECT_EQ(server_->messages().size(), 4u);
  EXPECT_TRUE(fs::is_empty(settings_.spool_dir));
}

TEST_F(RulesEmail, UndeliveredForTooLongIsReportedOnce) {
  {
    auto q = queue();
    ASSERT_EQ(q->enqueue(compose_notice_mail(notice(0), settings_)), "");
  }
  // Pretend the message has been waiting for two hours.
  for (const auto& e : fs::directory_iterator(settings_.spool_dir))
    if (e.path().extension() == ".state")
      std::ofstream(e.path()) << "queued=" << (std::time(nullptr) - 7200)
                              << "\nattempts=40\nwarned=0\n";
  auto q = queue();
  for (int i = 0; i < 100 && q->stats().failures < 3; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q->stats().warned, 1u);  // one error line, not one per attempt
  for (const auto& e : fs::directory_iterator(settings_.spool_dir)) {
    if (e.path().extension() == ".state") {
      EXPECT_NE(slurp(e.path()).find("warned=1"), std::string::npos);
    }
  }
}

// Caller names and keyed digits come from outsiders: no header, no recipient, no PIN.
TEST_F(RulesEmail, HostileCallersCannotInjectHeadersAndPinsStayMasked) {
  ASSERT_TRUE(server_->start());
  auto q = queue();
  MailNotices mail(*q, settings_);
  ConfigOptions co;
  co.high_risk_search = {};
  co.overrides = {"site.remote_access=2125550199", "detectors.brute_force.warning=2"};
  const auto cfg = parse_config("", "site.toml", co).config;
  ASSERT_TRUE(cfg);
  Engine engine(cfg, mail);
  // The tracker sanitizes names; here a raw one shows the mail layer holds on its own too.
  const std::string evil =
      "Eve\r\nBcc: victim@evil.example\r\nX-Injected: yes\r\n\r\n.\r\nRCPT TO:<x@evil.example>";
  for (int i = 0; i < 2; ++i) {
    calls::CallRecord r;
    r.span = 1;
    r.channel = 5;
    r.direction = calls::Direction::Inbound;
    r.calling = "3125550000";
    r.called = "2125550199";
    r.calling_name = evil;
    r.start = *hal::parse_time("2027-01-05T10:00:00Z") + std::chrono::seconds(20 * i);
    r.answer = *r.start + 1s;
    r.end = *r.start + 10s;
    r.call_ref = static_cast<std::uint16_t>(100 + i);
    r.digits_in = "4711#";
    r.digits = "in:4711#";
    calls::CallEvent e{calls::CallEventType::Started, *r.start, &r};
    engine.on_call_event(e);
    e = {calls::CallEventType::Ended, *r.end, &r};
    engine.on_call_event(e);
  }
  ASSERT_TRUE(q->wait_until_empty(10s));
  const auto msgs = server_->messages();
  ASSERT_EQ(msgs.size(), 1u);
  const std::string& m = msgs[0];
  EXPECT_EQ(header(m, "X-RcptTo"), "admin@example.com, noc@example.com");
  EXPECT_EQ(header(m, "Bcc"), "");
  EXPECT_EQ(header(m, "X-Injected"), "");
  EXPECT_EQ(m.find("4711"), std::string::npos) << m;
  EXPECT_NE(m.find("\"****#\""), std::string::npos) << m;
  // What trunkwatch handed to the server: known headers only, printable ASCII everywhere.
  const MailMessage composed = compose_notice_mail(
      [&] {
        Notice n = notice(0);
        n.call.calling_name = evil;
        n.message = evil;
        return n;
      }(),
      settings_);
  const std::vector<std::string> expected = {"From",
                                             "To",
                                             "Subject",
                                             "Date",
                                             "Message-ID",
                                             "MIME-Version",
                                             "Content-Type",
                                             "Content-Transfer-Encoding",
                                             "X-Trunkwatch-Category",
                                             "X-Trunkwatch-Severity",
                                             "X-Trunkwatch-Identifier"};
  EXPECT_EQ(header_names(composed.text), expected);
  for (std::size_t i = 0; i < composed.text.size(); ++i) {
    const char c = composed.text[i];
    if (c == '\r') {
      ASSERT_EQ(composed.text[i + 1], '\n') << "a bare CR at " << i;
    } else if (c != '\n') {
      ASSERT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c) << " at " << i;
    } else {
      ASSERT_EQ(composed.text[i - 1], '\r') << "a bare LF at " << i;
    }
  }
  std::istringstream lines(composed.text.substr(composed.text.find("\r\n\r\n") + 4));
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 77u) << line;
}

TEST_F(RulesEmail, ThroughTheSendmailProgram) {
  const std::string fake = (dir_ / "sendmail").string();
  const std::string out = (dir_ / "sent").string();
  const std::string fail_flag = (dir_ / "fail").string();
  std::ofstream(fake) << "#!/bin/sh\n"
                         "[ -e " +
                             fail_flag +
                             " ] && exit 75\n"
                             "n=$(ls " +
                             dir_.string() +
                             " | grep -c '^sent')\n"
                             "printf '%s\\n' \"$@\" > " +
                             out +
                             "$n.args\n"
                             "cat > " +
                             out + "$n.msg\n";
  fs::permissions(fake, fs::perms::owner_all);
  std::ofstream(fail_flag) << "";  // temporary failure first (EX_TEMPFAIL)
  settings_.transport = EmailTransport::Sendmail;
  settings_.sendmail = fake;
  auto q = queue();
  const MailMessage m = compose_notice_mail(notice(7), settings_);
  ASSERT_EQ(q->enqueue(m), "");
  for (int i = 0; i < 100 && q->stats().failures < 2; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE(q->stats().failures, 2u);
  EXPECT_EQ(q->pending(), 1u);
  fs::remove(fail_flag);
  ASSERT_TRUE(q->wait_until_empty(10s));
  EXPECT_EQ(slurp(out + "0.args"),
            "-i\n-f\ntrunkwatch@pbx.example.com\n--\nadmin@example.com\nnoc@example.com\n");
  const std::string sent = slurp(out + "0.msg");
  EXPECT_EQ(sent.find('\r'), std::string::npos);  // local convention: LF line ends
  std::string expected = m.text;
  std::erase(expected, '\r');
  EXPECT_EQ(sent, expected);
}

// Into a Maildir (no mail server on the box): tmp/ then new/, LF line ends, and a redelivery
// of the same notice (a crash between delivery and the spool removal) replaces, not adds.
TEST_F(RulesEmail, IntoAMaildir) {
  const fs::path box = dir_ / "Maildir";
  fs::create_directories(box);
  fs::permissions(box, fs::perms::owner_read | fs::perms::owner_exec);  // not writable yet
  settings_.transport = EmailTransport::Maildir;
  settings_.maildir = box.string();
  const MailMessage m = compose_notice_mail(notice(3), settings_);
  {
    auto q = queue();
    ASSERT_EQ(q->enqueue(m), "");
    for (int i = 0; i < 100 && q->stats().failures < 1; ++i) std::this_thread::sleep_for(20ms);
    if (::geteuid() != 0) {  // root writes anyway
      EXPECT_GE(q->stats().failures, 1u);
      EXPECT_EQ(q->pending(), 1u);
    }
    fs::permissions(box, fs::perms::owner_all);
    ASSERT_TRUE(q->wait_until_empty(10s));
    ASSERT_EQ(q->enqueue(m), "");  // the same message again
    ASSERT_TRUE(q->wait_until_empty(10s));
  }
  std::vector<fs::path> delivered;
  for (const auto& e : fs::directory_iterator(box / "new")) delivered.push_back(e.path());
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_TRUE(fs::is_empty(box / "tmp"));
  EXPECT_TRUE(fs::is_directory(box / "cur"));
  std::string expected = m.text;
  std::erase(expected, '\r');
  EXPECT_EQ(slurp(delivered[0]), expected);
  EXPECT_EQ(delivered[0].filename().string(), m.id + ".trunkwatch");
}

TEST_F(RulesEmail, DigestMail) {
  Digest d;
  d.from = *hal::parse_time("2027-01-05T10:00:00Z");
  d.to = d.from + 1h;
  d.notices = {notice(1), notice(2)};
  d.counts[Category::Premium] = 2;
  const MailMessage m = compose_digest_mail(d, settings_);
  EXPECT_NE(m.text.find("Subject: [trunkwatch] digest: 2 notices 2027-01-05T10:00:00.000Z - "
                        "2027-01-05T11:00:00.000Z\r\n"),
            std::string::npos)
      << m.text;
  EXPECT_NE(m.text.find("  premium: 2\r\n"), std::string::npos) << m.text;
}

TEST_F(RulesEmail, EmailSettingsAreValidated) {
  ConfigOptions co;
  co.high_risk_search = {};
  const std::string pw = (dir_ / "pw").string();
  std::ofstream(pw) << "secret\n";
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  auto r = parse_config(
      "[email]\nto = [\"ok@example.com\", \"bad\\r\\nBcc: x@y\"]\ntransport = \"smtp\"\n"
      "password_file = \"" +
          pw + "\"\n",
      "site.toml", co);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_TRUE(r.errors[0].starts_with("site.toml:2:25: '")) << r.errors[0];
  EXPECT_NE(r.errors[0].find("is not an e-mail address"), std::string::npos);
  EXPECT_EQ(r.errors[1], "site.toml:4:17: the password file '" + pw +
                             "' is readable by everyone (chmod 600 it)");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  r = parse_config(
      "[email]\nto = \"ok@example.com\"\ntransport = \"smtp\"\nsmtp_url = \"smtp://mail:587\"\n"
      "starttls = \"required\"\nusername = \"tw\"\npassword_file = \"" +
          pw + "\"\n",
      "site.toml", co);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_TRUE(r.config->email.enabled());
  EXPECT_EQ(r.config->email.starttls, StartTls::Required);
  std::string err;
  EXPECT_TRUE(make_mail_transport(r.config->email, err)) << err;
  // email.ca_file: a readable regular file, errors at the value; also through --set.
  const std::string ca = (dir_ / "ca.pem").string();
  std::ofstream(ca) << "-----BEGIN CERTIFICATE-----\n";
  r = parse_config("[email]\nca_file = \"" + ca + "\"\n", "site.toml", co);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.config->email.ca_file, ca);
  for (const std::string& bad : {(dir_ / "missing.pem").string(), dir_.string()}) {
    r = parse_config("[email]\nto = \"ok@example.com\"\nca_file = \"" + bad + "\"\n", "site.toml",
                     co);
    ASSERT_EQ(r.errors.size(), 1u) << bad;
    EXPECT_EQ(r.errors[0], "site.toml:3:11: cannot read the CA file '" + bad + "'");
  }
  ConfigOptions set = co;
  set.overrides = {"email.ca_file=" + ca};
  r = parse_config("", "site.toml", set);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.config->email.ca_file, ca);
  r = parse_config("[email]\ntransport = \"carrier-pigeon\"\n", "site.toml", co);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0],
            "site.toml:2:13: 'transport' must be one of \"sendmail\", \"smtp\", \"maildir\"");
}

}  // namespace
}  // namespace tw::rules
