#include "monitor/daemon/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tw::daemon {

namespace {

bool make_address(const std::string& path, sockaddr_un& a) {
  a = {};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) return false;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

ControlServer::~ControlServer() {
  for (Client& c : clients_) close_client(c);
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
}

std::string ControlServer::open(const std::string& path) {
  sockaddr_un a;
  if (!make_address(path, a)) return path + ": not a usable Unix socket path";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  // A socket file nobody listens on is what a crash leaves behind: replace it. One somebody
  // answers on belongs to a running daemon: do not steal it.
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(probe);
    if (live) {
      ::close(fd);
      return path + ": another trunkwatch daemon is listening there";
    }
  }
  ::unlink(path.c_str());
  // Created 0660 from the start (no window with wider permissions).
  const mode_t old = ::umask(0117);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 16) != 0) {
    const std::string err = path + ": " + std::strerror(errno);
    ::close(fd);
    return err;
  }
  listen_fd_ = fd;
  path_ = path;
  return "";
}

void ControlServer::close_client(Client& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
}

void ControlServer::service() {
  if (listen_fd_ < 0) return;
  const auto now = std::chrono::steady_clock::now();
  while (clients_.size() < kMaxClients) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    clients_.push_back(Client{fd, {}, {}, 0, now + std::chrono::seconds(1)});
  }
  for (Client& c : clients_) {
    if (c.out.empty()) {
      char buf[kMaxRequest];
      for (;;) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          if (c.in.size() > kMaxRequest || c.in.find('\n') != std::string::npos) break;
          continue;
        }
        if (n == 0 && c.in.find('\n') == std::string::npos) c.in += '\n';  // EOF ends a line
        break;
      }
      const auto nl = c.in.find('\n');
      if (c.in.size() > kMaxRequest && nl == std::string::npos) {
        c.out = "{\"ok\":false,\"error\":\"request too long\"}\n";
      } else if (nl != std::string::npos) {
        std::string request = c.in.substr(0, nl);
        if (!request.empty() && request.back() == '\r') request.pop_back();
        c.out = handler_(request);
        if (c.out.empty() || c.out.back() != '\n') c.out += '\n';
        // A reply can be long (the call table of a big box): it is written as the client
        // reads, with a deadline of its own.
        c.deadline = now + std::chrono::seconds(5);
      }
    }
    while (!c.out.empty() && c.sent < c.out.size()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      c.sent += static_cast<std::size_t>(n);
    }
    if ((!c.out.empty() && c.sent == c.out.size()) || now > c.deadline) close_client(c);
  }
  std::erase_if(clients_, [](const Client& c) { return c.fd < 0; });
}

std::string control_request(const std::string& path, const std::string& request, std::string& error,
                            std::chrono::milliseconds timeout) {
  sockaddr_un a;
  if (!make_address(path, a)) {
    error = path + ": not a usable Unix socket path";
    return "";
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return "";
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error = path + ": " + std::strerror(errno) +
            (errno == ENOENT || errno == ECONNREFUSED ? " (is the trunkwatch daemon running?)"
             : errno == EACCES ? " (members of the trunkwatch group may use it)"
                               : "");
    ::close(fd);
    return "";
  }
  const std::string line = request + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    error = std::string("send: ") + std::strerror(errno);
    ::close(fd);
    return "";
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
      error =
          path + ": no answer from the daemon within " + std::to_string(timeout.count()) + " ms";
      break;
    }
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

}  // namespace tw::daemon
