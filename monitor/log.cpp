// Debian builds Boost.Log with the native syslog backend; the header needs telling.
#ifndef BOOST_LOG_USE_NATIVE_SYSLOG
#define BOOST_LOG_USE_NATIVE_SYSLOG
#endif
#include "monitor/log.hpp"

#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <boost/asio/ip/address.hpp>
#include <boost/log/attributes/value_extraction.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/basic_sink_backend.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/syslog_backend.hpp>
#include <boost/log/sources/severity_logger.hpp>
#include <boost/log/utility/exception_handler.hpp>
#include <boost/log/utility/manipulators/add_value.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <mutex>
#include <thread>

namespace tw::log {

namespace logging = boost::log;
namespace sinks = boost::log::sinks;
namespace expr = boost::log::expressions;
using logging::trivial::severity_level;

namespace {

constexpr const char* kFieldsAttribute = "TwFields";

const Fields* fields_of(const logging::record_view& rec) {
  if (auto v = logging::extract<Fields>(kFieldsAttribute, rec)) return &v.get();
  return nullptr;
}

int syslog_priority(severity_level s) {
  switch (s) {
    case severity_level::trace:
    case severity_level::debug:
      return LOG_DEBUG;
    case severity_level::info:
      return LOG_INFO;
    case severity_level::warning:
      return LOG_WARNING;
    case severity_level::error:
      return LOG_ERR;
    case severity_level::fatal:
      return LOG_CRIT;
  }
  return LOG_NOTICE;
}

// Sends each record to the journal: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the fields.
class JournalBackend final : public sinks::basic_sink_backend<
                                 sinks::combine_requirements<sinks::synchronized_feeding>::type> {
 public:
  void consume(const logging::record_view& rec) {
    std::vector<std::string> items;
    std::string message = "MESSAGE=";
    if (auto m = logging::extract<std::string>("Message", rec)) message += m.get();
    items.push_back(std::move(message));
    const auto sev = logging::extract<severity_level>("Severity", rec);
    items.push_back("PRIORITY=" +
                    std::to_string(syslog_priority(sev ? sev.get() : severity_level::info)));
    items.emplace_back("SYSLOG_IDENTIFIER=trunkwatch");
    if (const Fields* f = fields_of(rec))
      for (std::string& j : journal_fields(*f)) items.push_back(std::move(j));
    std::vector<iovec> iov;
    iov.reserve(items.size());
    for (std::string& i : items) iov.push_back(iovec{i.data(), i.size()});
    // A journal that is gone cannot be reported anywhere better; the record is dropped.
    (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
};

severity_level parse_level(const std::string& name) {
  for (auto [n, value] : {std::pair{"trace", severity_level::trace},
                          {"debug", severity_level::debug},
                          {"info", severity_level::info},
                          {"warning", severity_level::warning},
                          {"error", severity_level::error}})
    if (name == n) return value;
  return severity_level::warning;
}

using SyslogBackend = sinks::syslog_backend;

sinks::syslog::custom_severity_mapping<severity_level> severity_mapping() {
  sinks::syslog::custom_severity_mapping<severity_level> mapping("Severity");
  mapping[severity_level::trace] = sinks::syslog::debug;
  mapping[severity_level::debug] = sinks::syslog::debug;
  mapping[severity_level::info] = sinks::syslog::info;
  mapping[severity_level::warning] = sinks::syslog::warning;
  mapping[severity_level::error] = sinks::syslog::error;
  mapping[severity_level::fatal] = sinks::syslog::critical;
  return mapping;
}

boost::shared_ptr<SyslogBackend> udp_backend(const boost::asio::ip::address& address,
                                             unsigned short port) {
  auto backend = boost::make_shared<SyslogBackend>(
      logging::keywords::facility = sinks::syslog::daemon,
      logging::keywords::use_impl = sinks::syslog::udp_socket_based,
      logging::keywords::ip_version = address.is_v6() ? sinks::v6 : sinks::v4);
  // Boost binds to the IPv4 "any" address unless told otherwise, which an IPv6 socket refuses.
  if (address.is_v6()) backend->set_local_address(boost::asio::ip::address_v6::any(), 0);
  backend->set_target_address(address, port);
  backend->set_severity_mapper(severity_mapping());
  return backend;
}

// Standard error, each message and its newline in one write: std::clog goes to the C stream
// stderr, which is unbuffered, so the console backend's message-then-newline costs two
// write(2) calls and lets another writer's bytes in between.
class StderrBackend final
    : public sinks::basic_formatted_sink_backend<char, sinks::synchronized_feeding> {
 public:
  void consume(const logging::record_view&, const std::string& formatted) {
    line_.assign(formatted);
    line_ += '\n';
    std::clog.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    std::clog.flush();
  }

 private:
  std::string line_;  // reused: no allocation per message
};

// A syslog server given by name: the name is resolved on a thread of its own (getaddrinfo
// blocks, and a name server that is down must neither stop the daemon from starting nor stall
// it), again every kResolveRetry until it resolves. Meanwhile records go to standard error
// (the journal under systemd). The thread is detached because getaddrinfo cannot be
// interrupted: it shares only `State` with the sink, and leaves once the sink is gone.
class RemoteSyslogBackend final
    : public sinks::basic_formatted_sink_backend<char, sinks::synchronized_feeding> {
 public:
  static constexpr std::chrono::seconds kResolveRetry{30};

  RemoteSyslogBackend(std::string server, std::string host, unsigned short port)
      : state_(std::make_shared<State>()) {
    // The thread takes no signals: the daemon reads them from a signalfd, and a thread that
    // could take SIGTERM would die of it (it starts before the daemon blocks them).
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    std::thread(resolve, state_, std::move(server), std::move(host), port).detach();
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  ~RemoteSyslogBackend() {
    {
      const std::lock_guard lock(state_->mutex);
      state_->gone = true;
    }
    state_->wake.notify_all();
  }
  RemoteSyslogBackend(const RemoteSyslogBackend&) = delete;
  RemoteSyslogBackend& operator=(const RemoteSyslogBackend&) = delete;

  void consume(const logging::record_view& rec, const std::string& formatted) {
    boost::shared_ptr<SyslogBackend> backend;
    {
      const std::lock_guard lock(state_->mutex);
      backend = state_->backend;
    }
    if (backend)
      backend->consume(rec, formatted);
    else
      std::clog << formatted << std::endl;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable wake;
    bool gone = false;
    boost::shared_ptr<SyslogBackend> backend;
  };

  static void resolve(std::shared_ptr<State> state, std::string server, std::string host,
                      unsigned short port) {
    for (;;) {
      addrinfo hints{};
      hints.ai_socktype = SOCK_DGRAM;
      addrinfo* found = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
      std::string reason = rc == 0 ? "" : ::gai_strerror(rc);
      if (rc == 0) {
        char text[NI_MAXHOST] = {};
        const int nrc = ::getnameinfo(found->ai_addr, found->ai_addrlen, text, sizeof text, nullptr,
                                      0, NI_NUMERICHOST);
        ::freeaddrinfo(found);
        boost::system::error_code ec;
        const auto address = boost::asio::ip::make_address(text, ec);
        if (nrc == 0 && !ec) {
          try {
            auto backend = udp_backend(address, port);
            const std::lock_guard lock(state->mutex);
            if (state->gone) return;
            state->backend = std::move(backend);
            std::clog << "trunkwatch: syslog server '" << server << "' is " << text
                      << ": logging there from now on" << std::endl;
            return;
          } catch (const std::exception& e) {
            reason = e.what();
          }
        } else {
          reason = "no usable address";
        }
      }
      std::unique_lock lock(state->mutex);
      if (state->gone) return;
      std::clog << "trunkwatch: syslog server '" << server << "': cannot resolve '" << host
                << "': " << reason << "; logging to standard error, retrying every "
                << kResolveRetry.count() << " s" << std::endl;
      if (state->wake.wait_for(lock, kResolveRetry, [&] { return state->gone; })) return;
    }
  }

  std::shared_ptr<State> state_;
};

// "HOST:PORT", "[IPV6]:PORT" or "HOST" (port 514); an error message or "".
std::string parse_server(const std::string& server, std::string& host, unsigned short& port) {
  std::string port_text = "514";
  if (!server.empty() && server.front() == '[') {
    const auto close = server.find(']');
    if (close == std::string::npos || (close + 1 != server.size() && server[close + 1] != ':'))
      return "syslog server '" + server + "' is not HOST:PORT or [IPV6]:PORT";
    host = server.substr(1, close - 1);
    if (close + 1 != server.size()) port_text = server.substr(close + 2);
  } else {
    const auto colon = server.rfind(':');
    host = colon == std::string::npos ? server : server.substr(0, colon);
    if (colon != std::string::npos) port_text = server.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port_text.c_str(), &end, 10);
  if (host.empty() || end == port_text.c_str() || *end != '\0' || p < 1 || p > 65535)
    return "syslog server '" + server + "' is not HOST:PORT or [IPV6]:PORT";
  port = static_cast<unsigned short>(p);
  return "";
}

}  // namespace

std::string structured_data(const Fields& fields) {
  if (fields.empty()) return "";
  // 32473 is the enterprise number RFC 5612 sets aside for documentation and examples;
  // a private SD-ID needs one, and trunkwatch has none of its own.
  std::string out = "[trunkwatch@32473";
  for (const auto& [name, value] : fields) {
    out += ' ';
    out += name;
    out += "=\"";
    for (char c : value) {
      if (c == '"' || c == '\\' || c == ']') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += ']';
  return out;
}

std::vector<std::string> journal_fields(const Fields& fields) {
  std::vector<std::string> out;
  out.reserve(fields.size());
  for (const auto& [name, value] : fields) {
    std::string f = "TRUNKWATCH_";
    for (char c : name) {
      if (c >= 'a' && c <= 'z')
        f += static_cast<char>(c - 32);
      else if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '_')
        f += c;
    }
    f += '=';
    f += value;
    out.push_back(std::move(f));
  }
  return out;
}

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected stderr to.
  return std::getenv("JOURNAL_STREAM") != nullptr;
}

void write(severity_level severity, std::string_view message, const Fields& fields) {
  logging::sources::severity_logger<severity_level> logger;
  BOOST_LOG_SEV(logger, severity) << logging::add_value(kFieldsAttribute, fields) << message;
}

std::string init(const Options& options) {
  const severity_level level = parse_level(options.min_level);
  auto core = logging::core::get();
  core->remove_all_sinks();
  logging::add_common_attributes();
  core->set_filter(logging::trivial::severity >= level);
  switch (options.target) {
    case Target::Syslog: {
      const auto format = [](const logging::record_view& rec, logging::formatting_ostream& out) {
        out << "trunkwatch: ";
        if (const Fields* f = fields_of(rec)) out << structured_data(*f) << ' ';
        if (auto m = logging::extract<std::string>("Message", rec)) out << m.get();
      };
      if (options.syslog_server.empty()) {
        auto backend =
            boost::make_shared<SyslogBackend>(logging::keywords::facility = sinks::syslog::daemon,
                                              logging::keywords::use_impl = sinks::syslog::native);
        backend->set_severity_mapper(severity_mapping());
        auto sink = boost::make_shared<sinks::synchronous_sink<SyslogBackend>>(backend);
        sink->set_formatter(format);
        core->add_sink(sink);
        break;
      }
      std::string host;
      unsigned short port = 514;
      if (auto err = parse_server(options.syslog_server, host, port); !err.empty()) return err;
      boost::system::error_code ec;
      const auto numeric = boost::asio::ip::make_address(host, ec);
      if (!ec) {  // an address: nothing to resolve
        try {
          auto sink = boost::make_shared<sinks::synchronous_sink<SyslogBackend>>(
              udp_backend(numeric, port));
          sink->set_formatter(format);
          // A datagram that cannot be sent (no route yet) must not end the daemon.
          sink->set_exception_handler(logging::make_exception_suppressor());
          core->add_sink(sink);
        } catch (const std::exception& e) {
          return "syslog server '" + options.syslog_server + "': " + e.what();
        }
        break;
      }
      auto sink = boost::make_shared<sinks::synchronous_sink<RemoteSyslogBackend>>(
          boost::make_shared<RemoteSyslogBackend>(options.syslog_server, host, port));
      sink->set_formatter(format);
      sink->set_exception_handler(logging::make_exception_suppressor());
      core->add_sink(sink);
      break;
    }
    case Target::Journal:
      core->add_sink(boost::make_shared<sinks::synchronous_sink<JournalBackend>>());
      break;
    case Target::Stderr: {
      auto sink = boost::make_shared<sinks::synchronous_sink<StderrBackend>>();
      sink->set_formatter(expr::stream << "trunkwatch: " << logging::trivial::severity << ": "
                                       << expr::smessage);
      core->add_sink(sink);
      break;
    }
  }
  return "";
}

}  // namespace tw::log
