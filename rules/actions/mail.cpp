#include "rules/actions/mail.hpp"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/log/trivial.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tw::rules {

namespace {

using namespace std::chrono_literals;

// ---- composing ---------------------------------------------------------------------------

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

// FNV-1a: a stable id for the same notice across runs (std::hash is not).
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string make_id(Timestamp t, std::string_view content) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02ld%02ld%02ld-%016llx",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()),
                static_cast<unsigned long long>(fnv1a(content)));
  return buf;
}

// Body text: printable ASCII lines of at most 76 characters, wrapped at spaces. Leading
// spaces are kept; continuation lines are indented by `hang` (aligned with a "Label:" column).
void add_wrapped(std::string& body, std::string_view text, std::size_t hang = 0,
                 std::string_view label = "") {
  constexpr std::size_t kWidth = 76;
  const std::size_t lead = text.find_first_not_of(' ');
  if (lead == std::string_view::npos && label.empty()) {
    body += "\r\n";
    return;
  }
  text.remove_prefix(lead == std::string_view::npos ? text.size() : lead);
  const std::size_t first = label.empty() ? lead : label.size();
  const std::string cont(std::min<std::size_t>(std::max(first, hang), 40), ' ');
  std::string line = label.empty() ? std::string(std::min<std::size_t>(lead, 40), ' ')
                                   : header_text(label.substr(0, 40));
  std::size_t prefix = line.size();
  bool label_pending = !label.empty();  // a label line is written even with no value
  auto flush = [&] {
    body += line + "\r\n";
    line = cont;
    prefix = cont.size();
    label_pending = false;
  };
  std::size_t i = 0;
  while (i <= text.size()) {
    std::size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    std::string word = header_text(text.substr(i, j - i));
    i = j + 1;
    if (word.empty()) continue;
    while (word.size() > kWidth - cont.size()) {  // a very long token is cut
      if (line.size() > prefix) flush();
      const std::size_t room = kWidth - line.size();
      line += word.substr(0, room);
      word.erase(0, room);
      flush();
    }
    if (line.size() > prefix && line.size() + 1 + word.size() > kWidth) flush();
    if (line.size() > prefix) line += ' ';
    line += word;
  }
  if (line.size() > prefix || label_pending) flush();
}

std::string advice(Category c) {
  switch (c) {
    case Category::International:
    case Category::Premium:
    case Category::HighRiskDestination:
      return "Check who placed the call and whether that destination is expected. If not, block "
             "the class for that extension on the PBX and change its password or PIN.";
    case Category::AfterHours:
      return "Check whether anyone is at the site: calls outside a source's hours are a classic "
             "sign of a hijacked extension or voicemail box.";
    case Category::Concurrency:
    case Category::CallRate:
    case Category::MinutesCap:
      return "Look at the calls up now for an unusual destination or extension: a fraud run "
             "fills trunks and runs up minutes fast.";
    case Category::SequentialShortCalls:
    case Category::BruteForce:
      return "Someone is guessing access codes on a remote-access number: change the DISA and "
             "voicemail PINs, make sure callers are locked out after a few tries, and consider "
             "disabling DISA.";
    case Category::ThroughDial:
    case Category::TrunkToTrunk:
      return "The PBX let an outside caller out again: disable off-net to off-net transfer and "
             "outbound dialing from DISA, voicemail and the auto-attendant, and change the codes.";
    case Category::CallForward:
      return "Check the call-forward settings of the extension and the DID: forwarding to "
             "international or premium numbers is a common abuse.";
    case Category::WangiriCallback:
      return "A one-ring scam: the number rang briefly so that someone calls back a premium "
             "destination. Warn the user and block the number range.";
    case Category::ModemOnVoiceLine:
    case Category::FaxOnVoiceLine:
      return "A fax or modem on a voice-only line: check what is connected (a maintenance "
             "modem left reachable is an entry point).";
    case Category::SpanDown:
      return "Check the span (cabling, the carrier, the card): calls on it are not monitored "
             "while it is down.";
    case Category::DecodeAnomalyBurst:
      return "Check the span's D-channel (line errors, the tap's wiring, the far end's "
             "equipment): frames that cannot be decoded may hide calls, and a flood of them can "
             "be an attack on the monitor.";
    case Category::RecordStoreFailure:
      return "Check the disk of the records directory (space, errors): the daemon keeps the "
             "records it could not store and stores them once it can.";
  }
  return "";
}

std::string headers(const EmailSettings& s, const std::string& subject, Timestamp date,
                    const std::string& id) {
  std::string h;
  h += "From: trunkwatch <" + header_text(s.from) + ">\r\n";
  std::string to;
  for (const auto& a : s.to) to += (to.empty() ? "" : ", ") + header_text(a);
  h += "To: " + to + "\r\n";
  // RFC 5322 allows 998 characters per line; a readable subject is far shorter.
  h += "Subject: " + header_text(subject).substr(0, 200) + "\r\n";
  h += "Date: " + rfc5322_date(date) + "\r\n";
  h += "Message-ID: <" + id + "@trunkwatch>\r\n";
  h += "MIME-Version: 1.0\r\n";
  h += "Content-Type: text/plain; charset=us-ascii\r\n";
  h += "Content-Transfer-Encoding: 7bit\r\n";
  return h;
}

// ---- spool files -------------------------------------------------------------------------

std::string write_durable(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return tmp + ": " + std::strerror(errno);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string err = tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<std::size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename itself must survive a crash.
  const std::string dir = path.substr(0, path.rfind('/'));
  const int dfd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return "";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() < 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
  });
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- transports --------------------------------------------------------------------------

std::string lf_line_ends(const std::string& message) {
  std::string text;
  text.reserve(message.size());
  for (std::size_t i = 0; i < message.size(); ++i)
    if (!(message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n'))
      text += message[i];
  return text;
}

// Delivers into a Maildir (tmp/ then rename into new/, as the format demands) that any mail
// client reads: for a box with no mail server, and for the demo. The file name is the
// message id, so a redelivery after a crash replaces the file instead of adding a copy.
class MaildirTransport final : public MailTransport {
 public:
  explicit MaildirTransport(std::string dir) : dir_(std::move(dir)) {}
  SendResult send(const std::string& /*from*/, const std::vector<std::string>& /*to*/,
                  const std::string& message) override {
    return {deliver(message)};
  }

 private:
  std::string deliver(const std::string& message) {
    for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
      const std::string d = dir_ + sub;
      if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return d + ": " + std::strerror(errno);
    }
    const std::string name = message_id(message) + ".trunkwatch";
    const std::string tmp = dir_ + "/tmp/" + name;
    if (auto err = write_durable(tmp, lf_line_ends(message)); !err.empty()) return err;
    const std::string final_path = dir_ + "/new/" + name;
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      const std::string err = final_path + ": " + std::strerror(errno);
      ::unlink(tmp.c_str());
      return err;
    }
    const int dfd = ::open((dir_ + "/new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return "";
  }

  // The local part of the Message-ID header ("<ID@host>"), which is the spool id.
  static std::string message_id(const std::string& message) {
    const auto at = message.find("\nMessage-ID: <");
    std::string id;
    if (at != std::string::npos)
      for (std::size_t i = at + 14; i < message.size() && message[i] != '@' && message[i] != '>';
           ++i)
        if (std::isalnum(static_cast<unsigned char>(message[i])) || message[i] == '-' ||
            message[i] == '_' || message[i] == '.')
          id += message[i];
    if (id.empty()) id = std::to_string(fnv1a(message));
    return id;
  }
  std::string dir_;
};

class SendmailTransport final : public MailTransport {
 public:
  explicit SendmailTransport(const EmailSettings& s) : s_(s) {}
  SendResult send(const std::string& from, const std::vector<std::string>& to,
                  const std::string& message) override {
    return {run(from, to, message)};
  }

 private:
  std::string run(const std::string& from, const std::vector<std::string>& to,
                  const std::string& message) {
    const std::string text = lf_line_ends(message);  // sendmail takes the local convention
    // A socket rather than a pipe: send() with MSG_NOSIGNAL cannot raise SIGPIPE in the
    // daemon if sendmail dies early.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return std::string("socketpair: ") + std::strerror(errno);
    std::vector<std::string> args = {s_.sendmail, "-i", "-f", from, "--"};
    args.insert(args.end(), to.begin(), to.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string path_env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path_env.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&fa);
    ::close(sv[1]);
    if (rc != 0) {
      ::close(sv[0]);
      return s_.sendmail + ": " + std::strerror(rc);
    }
    std::string error;
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t w = ::send(sv[0], text.data() + done, text.size() - done, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        error = s_.sendmail + ": writing the message: " + std::strerror(errno);
        break;
      }
      done += static_cast<std::size_t>(w);
    }
    ::shutdown(sv[0], SHUT_WR);
    ::close(sv[0]);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(s_.timeout_s * 1000));
    int status = 0;
    while (true) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) return s_.sendmail + ": " + std::strerror(errno);
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return s_.sendmail + ": no answer within the timeout";
      }
      std::this_thread::sleep_for(5ms);
    }
    if (!error.empty()) return error;
    if (!WIFEXITED(status))
      return s_.sendmail + ": killed by signal " + std::to_string(WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
      return s_.sendmail + ": exit status " + std::to_string(WEXITSTATUS(status));
    return "";
  }

  EmailSettings s_;
};

struct CurlEasyCleanup {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlSlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// What the SMTP server answered, from libcurl's debug callback: the last complete reply (all
// its lines) and whether it answered a command about the message (MAIL FROM and after) rather
// than about the session (greeting, EHLO, STARTTLS, AUTH).
struct SmtpTrace {
  bool message_stage = false;  // MAIL FROM was sent
  bool quitting = false;       // QUIT was sent
  std::string partial;         // lines of a multi-line reply so far
  std::string reply;
  bool reply_about_message = false;

  void sent(std::string_view line) {
    const std::string_view verb = line.substr(0, 4);
    if (verb == "MAIL" || verb == "mail") message_stage = true;
    // libcurl says QUIT after a failed command: the reply that matters came before "221 Bye".
    if (verb == "QUIT" || verb == "quit") quitting = true;
  }
  void received(std::string_view data) {
    if (quitting) return;
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      std::string_view line = data.substr(0, nl);
      data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
      const bool coded = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                         std::isdigit(static_cast<unsigned char>(line[1])) &&
                         std::isdigit(static_cast<unsigned char>(line[2]));
      if (!coded) continue;
      // The server's words end up in the log: printable ASCII only, and not too much of it.
      const std::string text = header_text(line.substr(0, 200));
      if (line.size() > 3 && line[3] == '-') {
        if (partial.size() < 600) partial += text + " ";
        continue;
      }
      reply = partial + text;
      partial.clear();
      reply_about_message = message_stage;
    }
  }
  static int callback(CURL*, curl_infotype type, char* data, size_t size, void* user) {
    auto* t = static_cast<SmtpTrace*>(user);
    if (type == CURLINFO_HEADER_OUT) t->sent(std::string_view(data, size));
    if (type == CURLINFO_HEADER_IN) t->received(std::string_view(data, size));
    return 0;
  }
};

class SmtpTransport final : public MailTransport {
 public:
  SmtpTransport(const EmailSettings& s, std::string password)
      : s_(s), password_(std::move(password)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);  // reference counted; first call from the main thread
  }
  ~SmtpTransport() override { curl_global_cleanup(); }

  SendResult send(const std::string& from, const std::vector<std::string>& to,
                  const std::string& message) override {
    std::unique_ptr<CURL, CurlEasyCleanup> curl(curl_easy_init());
    if (!curl) return {"cannot start libcurl"};
    CURL* c = curl.get();
    curl_slist* list = nullptr;
    for (const std::string& a : to) {
      curl_slist* head = curl_slist_append(list, ("<" + a + ">").c_str());
      if (!head) {
        curl_slist_free_all(list);
        return {"out of memory"};
      }
      list = head;
    }
    std::unique_ptr<curl_slist, CurlSlistFree> rcpt(list);
    struct Reader {
      const std::string* text;
      std::size_t pos = 0;
    } reader{&message};
    const auto read = +[](char* buf, size_t size, size_t n, void* user) -> size_t {
      auto* r = static_cast<Reader*>(user);
      const std::size_t len = std::min(size * n, r->text->size() - r->pos);
      std::memcpy(buf, r->text->data() + r->pos, len);
      r->pos += len;
      return len;
    };
    char errbuf[CURL_ERROR_SIZE] = {};
    const std::string mail_from = "<" + from + ">";
    curl_easy_setopt(c, CURLOPT_URL, s_.smtp_url.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read);
    curl_easy_setopt(c, CURLOPT_READDATA, &reader);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     s_.starttls == StartTls::Required ? static_cast<long>(CURLUSESSL_ALL)
                     : s_.starttls == StartTls::None   ? static_cast<long>(CURLUSESSL_NONE)
                                                       : static_cast<long>(CURLUSESSL_TRY));
    // The server's certificate is always verified (chain and name): against email.ca_file when
    // set (an internal CA), else the system's store.
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!s_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, s_.ca_file.c_str());
    if (!s_.username.empty()) curl_easy_setopt(c, CURLOPT_USERNAME, s_.username.c_str());
    if (!password_.empty()) curl_easy_setopt(c, CURLOPT_PASSWORD, password_.c_str());
    const long timeout_ms = static_cast<long>(s_.timeout_s * 1000);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // the delivery thread must not get SIGALRM
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    // The server's replies, for its own words in the log (the error buffer has only the code).
    SmtpTrace trace;
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, &SmtpTrace::callback);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, &trace);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    const CURLcode res = curl_easy_perform(c);
    if (res == CURLE_OK) return {};
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (trace.reply.size() >= 3) code = std::stol(trace.reply.substr(0, 3));  // digits: checked
    SendResult out;
    out.error = s_.smtp_url + ": " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(res));
    if (!trace.reply.empty()) out.error += "; the server said: " + trace.reply;
    // A 5xx reply to MAIL FROM, RCPT TO or the message is the server's final word on this
    // message (RFC 5321 4.2.1). 5xx to the session (AUTH 535, STARTTLS) is the site's set-up:
    // fixed there, the message goes, so it stays in the spool like a 4xx or no connection.
    out.permanent = code >= 500 && code < 600 && trace.reply_about_message &&
                    trace.reply.starts_with(std::to_string(code));
    return out;
  }

 private:
  EmailSettings s_;
  std::string password_;
};

}  // namespace

// ---- composing (public) ------------------------------------------------------------------

std::string header_text(std::string_view value) {
  std::string out(value);
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

std::string rfc5322_date(Timestamp t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::weekday wd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02ld:%02ld:%02ld +0000", kDays[wd.c_encoding()],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()));
  return buf;
}

MailMessage compose_notice_mail(const Notice& n, const EmailSettings& s) {
  MailMessage m;
  m.id = make_id(n.time, to_json_line(n));
  std::string subject = s.subject_prefix + " " + upper(to_string(n.severity)) + " " +
                        std::string(to_string(n.category)) + " span " + std::to_string(n.call.span);
  if (n.call.channel) subject += "/" + std::to_string(*n.call.channel);
  if (n.call.direction)
    subject += " " + (n.call.calling.empty() ? std::string("(no number)") : n.call.calling) +
               " -> " + (n.call.called.empty() ? std::string("(no number)") : n.call.called);
  std::string h = headers(s, subject, n.time, m.id);
  h += "X-Trunkwatch-Category: " + std::string(to_string(n.category)) + "\r\n";
  h += "X-Trunkwatch-Severity: " + std::string(to_string(n.severity)) + "\r\n";
  h += "X-Trunkwatch-Identifier: " + header_text(n.identifier).substr(0, 200) + "\r\n";
  std::string body;
  add_wrapped(body, "trunkwatch raised a " + std::string(to_string(n.severity)) + " " +
                        std::string(to_string(n.category)) + " notice at " +
                        hal::format_time(n.time) + ".");
  body += "\r\n";
  add_wrapped(body, n.message);
  body += "\r\n";
  std::string call = "span " + std::to_string(n.call.span);
  if (n.call.channel) call += ", channel " + std::to_string(*n.call.channel);
  if (n.call.direction) {
    call += std::string(", ") +
            (*n.call.direction == calls::Direction::Outbound ? "outbound" : "inbound") + ", " +
            (n.call.calling.empty() ? "(no number)" : n.call.calling) + " -> " +
            (n.call.called.empty() ? "(no number)" : n.call.called);
    if (!n.call.calling_name.empty()) call += ", caller name \"" + n.call.calling_name + "\"";
    if (n.call.start) call += ", started " + hal::format_time(*n.call.start);
  }
  add_wrapped(body, call, 12, "Call:       ");
  add_wrapped(body, n.rule, 12, "Rule:       ");
  std::string done;
  for (const auto& a : n.actions) done += (done.empty() ? "" : ", ") + a;
  add_wrapped(body, done, 12, "Done:       ");
  add_wrapped(body, n.identifier, 12, "Identifier: ");
  if (n.repeats)
    add_wrapped(body,
                std::to_string(n.repeats) + " more like this were suppressed since the last mail",
                12, "Repeats:    ");
  body += "\r\n";
  add_wrapped(body, "What to check next: " + advice(n.category));
  m.text = h + "\r\n" + body;
  return m;
}

MailMessage compose_digest_mail(const Digest& d, const EmailSettings& s) {
  MailMessage m;
  std::uint64_t total = 0;
  for (const auto& [c, k] : d.counts) total += k;
  const std::string text = render_digest(d);
  m.id = make_id(d.to, "digest" + text);
  const std::string subject = s.subject_prefix + " digest: " + std::to_string(total) + " notices " +
                              hal::format_time(d.from) + " - " + hal::format_time(d.to);
  std::string body;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    add_wrapped(body, std::string_view(text).substr(start, nl - start), 4);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  m.text = headers(s, subject, d.to, m.id) + "\r\n" + body;
  return m;
}

namespace {

// "10 minutes", "1 hour", "90 seconds".
std::string window_text(double seconds) {
  const auto s = static_cast<std::int64_t>(std::llround(seconds));
  auto unit = [](std::int64_t n, const char* one) {
    return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
  };
  if (s > 0 && s % 3600 == 0) return unit(s / 3600, "hour");
  if (s > 0 && s % 60 == 0) return unit(s / 60, "minute");
  return unit(s, "second");
}

}  // namespace

MailMessage compose_flood_mail(const MailFlood& f, const EmailSettings& s) {
  MailMessage m;
  const std::string period = window_text(f.window_s);
  m.id = make_id(f.from, "flood" + hal::format_time(f.to) + std::to_string(f.total));
  const std::string subject = s.subject_prefix + " " + upper(to_string(f.worst)) + " " +
                              std::to_string(f.total) + " notices in " + period + ", " +
                              std::to_string(f.held) + " not mailed one by one";
  std::string h = headers(s, subject, f.to, m.id);
  h += "X-Trunkwatch-Category: summary\r\n";
  h += "X-Trunkwatch-Severity: " + std::string(to_string(f.worst)) + "\r\n";
  std::string body;
  add_wrapped(body,
              "trunkwatch raised " + std::to_string(f.total) + " alert notices from " +
                  hal::format_time(f.from) + " to " + hal::format_time(f.to) + ". The first " +
                  std::to_string(f.mailed) +
                  " were mailed one by one (email.max_per_window = " + std::to_string(f.limit) +
                  " per " + period + "); the other " + std::to_string(f.held) +
                  " are counted here. Every notice is in the log (syslog or the journal) "
                  "and in the alerts JSON lines: see the log for each one.");
  body += "\r\n";
  body += "Top categories:\r\n";
  for (const auto& [c, k] : f.categories)
    add_wrapped(body, "  " + std::string(to_string(c)) + ": " + std::to_string(k), 4);
  auto numbers = [&](const char* title, const auto& list) {
    if (list.empty()) return;
    body += "\r\n";
    body += std::string(title) + "\r\n";
    for (const auto& [number, k] : list)
      add_wrapped(body, "  " + number + ": " + std::to_string(k), 4);
  };
  numbers("Top far-end numbers (called if outbound, caller if inbound):", f.far_numbers);
  numbers("Top PBX-side numbers (caller if outbound, called if inbound):", f.pbx_numbers);
  body += "\r\n";
  add_wrapped(body,
              "What to check next: a burst of notices is an attack in progress more often than "
              "not. Look at the calls up now (trunkwatch calls), block the destinations above on "
              "the PBX, and check the extensions and remote-access numbers they come from.");
  m.text = h + "\r\n" + body;
  return m;
}

std::unique_ptr<MailTransport> make_mail_transport(const EmailSettings& s, std::string& error) {
  if (s.transport == EmailTransport::Sendmail) return std::make_unique<SendmailTransport>(s);
  if (s.transport == EmailTransport::Maildir) return std::make_unique<MaildirTransport>(s.maildir);
  std::string password;
  if (!s.password_file.empty()) {
    struct stat st {};
    if (::stat(s.password_file.c_str(), &st) != 0) {
      error = s.password_file + ": " + std::strerror(errno);
      return nullptr;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
      error = s.password_file + ": readable by everyone (chmod 600 it)";
      return nullptr;
    }
    auto text = read_file(s.password_file);
    if (!text) {
      error = s.password_file + ": cannot read";
      return nullptr;
    }
    password = *text;
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
      password.pop_back();
  }
  return std::make_unique<SmtpTransport>(s, std::move(password));
}

// ---- the spool and its delivery thread -----------------------------------------------------

MailQueue::MailQueue(EmailSettings settings, std::unique_ptr<MailTransport> transport)
    : settings_(std::move(settings)), transport_(std::move(transport)) {}

MailQueue::~MailQueue() {
  stop();
}

std::string MailQueue::path(const std::string& id, const char* ext) const {
  return settings_.spool_dir + "/" + id + ext;
}

std::string MailQueue::write_state(const std::string& id, const Entry& e) const {
  std::ostringstream s;
  s << "queued=" << e.queued_unix << "\nattempts=" << e.attempts << "\nwarned=" << e.warned << "\n";
  return write_durable(path(id, ".state"), s.str());
}

std::string MailQueue::start() {
  if (::mkdir(settings_.spool_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return settings_.spool_dir + ": " + std::strerror(errno);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(settings_.spool_dir.c_str()), ::closedir);
  if (!dir) return settings_.spool_dir + ": " + std::strerror(errno);
  std::lock_guard lock(mutex_);
  while (const dirent* d = ::readdir(dir.get())) {
    const std::string name = d->d_name;
    if (name.ends_with(".tmp")) {
      ::unlink((settings_.spool_dir + "/" + name).c_str());  // a write a crash interrupted
      continue;
    }
    if (!name.ends_with(".eml")) continue;
    const std::string id = name.substr(0, name.size() - 4);
    if (!valid_id(id)) continue;
    Entry e;
    e.queued_unix = unix_now();
    if (auto st = read_file(path(id, ".state"))) {
      std::istringstream in(*st);
      for (std::string line; std::getline(in, line);) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
        try {
          if (k == "queued") e.queued_unix = std::stoll(v);
          if (k == "attempts") e.attempts = static_cast<std::uint32_t>(std::stoul(v));
          if (k == "warned") e.warned = v == "1";
        } catch (const std::exception&) {
          // A damaged state file only loses the retry bookkeeping.
        }
      }
    }
    e.next = std::chrono::steady_clock::now();  // a restart tries everything at once
    entries_.emplace(id, e);
  }
  if (!entries_.empty())
    BOOST_LOG_TRIVIAL(info) << "mail spool " << settings_.spool_dir << ": " << entries_.size()
                            << " message(s) from an earlier run";
  stopping_ = false;
  worker_ = std::thread([this] { run(); });
  return "";
}

void MailQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::string MailQueue::enqueue(const MailMessage& m) {
  if (!valid_id(m.id)) return "bad message id '" + m.id + "'";
  {
    std::lock_guard lock(mutex_);
    if (entries_.count(m.id)) return "";
  }
  Entry e;
  e.queued_unix = unix_now();
  e.next = std::chrono::steady_clock::now();
  // The state first: a message file never exists without its bookkeeping.
  if (auto err = write_state(m.id, e); !err.empty()) return err;
  if (auto err = write_durable(path(m.id, ".eml"), m.text); !err.empty()) {
    ::unlink(path(m.id, ".state").c_str());
    return err;
  }
  {
    std::lock_guard lock(mutex_);
    entries_.emplace(m.id, e);
    ++stats_.queued;
  }
  wake_.notify_all();
  return "";
}

void MailQueue::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    auto due = std::find_if(entries_.begin(), entries_.end(),
                            [&](const auto& kv) { return kv.second.next <= now; });
    if (due == entries_.end()) {
      if (entries_.empty()) {
        idle_.notify_all();
        wake_.wait(lock);
      } else {
        auto next =
            std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
              return a.second.next < b.second.next;
            })->second.next;
        wake_.wait_until(lock, next);
      }
      continue;
    }
    const std::string id = due->first;
    const Entry entry = due->second;
    lock.unlock();
    deliver(id, entry);
    lock.lock();
  }
}

void MailQueue::deliver(const std::string& id, Entry e) {
  const auto text = read_file(path(id, ".eml"));
  if (!text) {
    // Removed by hand: nothing left to send.
    std::lock_guard lock(mutex_);
    entries_.erase(id);
    return;
  }
  const SendResult result = transport_->send(settings_.from, settings_.to, *text);
  const std::string& err = result.error;
  std::lock_guard lock(mutex_);
  ++stats_.attempts;
  if (err.empty()) {
    // Accepted: only now does the message leave the spool.
    ::unlink(path(id, ".eml").c_str());
    ::unlink(path(id, ".state").c_str());
    entries_.erase(id);
    ++stats_.delivered;
    if (e.attempts > 0)
      BOOST_LOG_TRIVIAL(info) << "alert mail " << id << " delivered after " << e.attempts + 1
                              << " attempts";
    return;
  }
  ++stats_.failures;
  ++e.attempts;
  e.last_error = err;
  if (result.permanent) {
    // Retrying a message the server refused for good only repeats the refusal: it is moved
    // aside (with the reason next to it) for the admin, never deleted.
    const std::string failed_dir = settings_.spool_dir + "/failed";
    const std::string kept = failed_dir + "/" + id + ".eml";
    std::string where = kept;
    if (::mkdir(failed_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      where = path(id, ".eml") + " (" + failed_dir + ": " + std::strerror(errno) + ")";
    } else if (::rename(path(id, ".eml").c_str(), kept.c_str()) != 0) {
      where = path(id, ".eml") + " (moving it: " + std::strerror(errno) + ")";
    } else {
      write_durable(failed_dir + "/" + id + ".reason", err + "\n");
      ::unlink(path(id, ".state").c_str());
    }
    entries_.erase(id);
    ++stats_.rejected;
    BOOST_LOG_TRIVIAL(error) << "alert mail " << id
                             << " rejected by the mail server, not retried: " << err
                             << "; the message is kept in " << where;
    return;
  }
  const double backoff = std::min(
      settings_.retry_max_s, settings_.retry_min_s * std::pow(2.0, std::min(e.attempts - 1, 30u)));
  e.next = std::chrono::steady_clock::now() +
           std::chrono::microseconds(static_cast<std::int64_t>(backoff * 1e6));
  const std::int64_t age = unix_now() - e.queued_unix;
  if (!e.warned && static_cast<double>(age) >= settings_.warn_after_s) {
    e.warned = true;
    ++stats_.warned;
    BOOST_LOG_TRIVIAL(error) << "alert mail " << id << " undelivered for " << age << " s after "
                             << e.attempts << " attempts: " << err;
  } else {
    BOOST_LOG_TRIVIAL(warning) << "alert mail " << id << " not delivered (attempt " << e.attempts
                               << ", next in " << backoff << " s): " << err;
  }
  write_state(id, e);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second = e;
}

MailQueue::Stats MailQueue::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::size_t MailQueue::pending() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

bool MailQueue::wait_until_empty(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, limit, [&] { return entries_.empty(); });
}

namespace {

// Distinct numbers remembered per window: a flood of random numbers must not grow memory
// without bound (the rest is counted as "other numbers").
constexpr std::size_t kMaxNumbers = 10000;

void count_number(std::map<std::string, std::uint64_t>& m, const std::string& number) {
  if (number.empty()) return;
  if (auto it = m.find(number); it != m.end()) {
    ++it->second;
  } else if (m.size() < kMaxNumbers) {
    m.emplace(number, 1);
  } else {
    ++m["(other numbers)"];
  }
}

template <typename K>
std::vector<std::pair<K, std::uint64_t>> top(const std::map<K, std::uint64_t>& m, std::size_t n) {
  std::vector<std::pair<K, std::uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > n) v.resize(n);
  return v;
}

}  // namespace

void MailNotices::spool(const MailMessage& m, const std::string& what) {
  if (auto err = queue_.enqueue(m); !err.empty()) {
    BOOST_LOG_TRIVIAL(error) << "cannot spool the " << what << ": " << err;
  }
}

void MailNotices::on_notice(const Notice& n) {
  if (!settings_.enabled()) return;
  if (std::find(n.actions.begin(), n.actions.end(), "alert") == n.actions.end()) return;
  last_ = std::max(last_, n.time);
  if (settings_.max_per_window <= 0) {
    spool(compose_notice_mail(n, settings_), "alert mail for " + n.identifier);
    return;
  }
  const auto length =
      std::chrono::microseconds(static_cast<std::int64_t>(settings_.window_s * 1e6));
  if (window_ && n.time >= window_->start + length) close_window(window_->start + length);
  if (!window_) window_.emplace().start = n.time;
  Window& w = *window_;
  ++w.total;
  w.worst = std::max(w.worst, n.severity);
  ++w.categories[n.category];
  const bool inbound = n.call.direction == calls::Direction::Inbound;
  count_number(w.far_numbers, inbound ? n.call.calling : n.call.called);
  count_number(w.pbx_numbers, inbound ? n.call.called : n.call.calling);
  if (w.mailed < static_cast<std::uint64_t>(settings_.max_per_window)) {
    ++w.mailed;
    spool(compose_notice_mail(n, settings_), "alert mail for " + n.identifier);
    return;
  }
  if (++w.held == 1)
    BOOST_LOG_TRIVIAL(warning) << "alert mail: " << w.mailed << " mails since "
                               << hal::format_time(w.start) << " (email.max_per_window per "
                               << settings_.window_s << " s): the next alerts until "
                               << hal::format_time(w.start + length)
                               << " go into one summary mail (each is in the log)";
}

void MailNotices::close_window(Timestamp end) {
  if (!window_) return;
  const Window w = std::move(*window_);
  window_.reset();
  if (w.held == 0) return;
  MailFlood f;
  f.from = w.start;
  f.to = end;
  f.window_s = settings_.window_s;
  f.limit = settings_.max_per_window;
  f.total = w.total;
  f.mailed = w.mailed;
  f.held = w.held;
  f.worst = w.worst;
  f.categories = top(w.categories, kCategoryCount);
  f.far_numbers = top(w.far_numbers, 10);
  f.pbx_numbers = top(w.pbx_numbers, 10);
  ++summaries_;
  BOOST_LOG_TRIVIAL(warning) << "alert mail: " << w.total << " alerts from "
                             << hal::format_time(w.start) << " to " << hal::format_time(end) << ", "
                             << w.mailed << " mailed one by one, " << w.held
                             << " in one summary mail";
  spool(compose_flood_mail(f, settings_), "summary mail");
}

void MailNotices::on_tick(Timestamp now) {
  last_ = std::max(last_, now);
  if (!window_) return;
  const auto length =
      std::chrono::microseconds(static_cast<std::int64_t>(settings_.window_s * 1e6));
  if (now >= window_->start + length) close_window(window_->start + length);
}

void MailNotices::on_finish(Timestamp now) {
  if (!window_) return;
  const auto length =
      std::chrono::microseconds(static_cast<std::int64_t>(settings_.window_s * 1e6));
  close_window(std::min(now, window_->start + length));
}

void MailNotices::on_digest(const Digest& d) {
  if (!settings_.enabled()) return;
  spool(compose_digest_mail(d, settings_), "digest mail");
}

}  // namespace tw::rules
