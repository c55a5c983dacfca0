#include "monitor/daemon/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

namespace tw::daemon {

namespace {

bool make_address(const std::string& path, sockaddr_un& a) {
  a = {};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) return false;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// What is at `path`, for the message that refuses to replace it.
const char* file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "something else";
}

}  // namespace

ControlServer::~ControlServer() {
  for (Client& c : clients_) close_client(c);
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    // Only our own socket: whatever replaced it since (another daemon's) stays.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == bound_dev_ &&
        st.st_ino == bound_ino_)
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
  // Only a socket may be replaced: a file at this path is most likely a typo in
  // daemon.control_socket, and it is not ours to delete.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      ::close(fd);
      return path + ": exists and is " + file_kind(st.st_mode) +
             ", not a socket; not replacing it (check daemon.control_socket)";
    }
    ::unlink(path.c_str());
  }
  // Created 0660 from the start (no window with wider permissions).
  const mode_t old = ::umask(0117);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 64) != 0) {
    const std::string err = path + ": " + std::strerror(errno);
    ::close(fd);
    return err;
  }
  if (::lstat(path.c_str(), &st) == 0) {
    bound_dev_ = st.st_dev;
    bound_ino_ = st.st_ino;
  }
  listen_fd_ = fd;
  path_ = path;
  return "";
}

void ControlServer::close_client(Client& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
}

bool ControlServer::evict_idle(int pid) {
  Client* oldest = nullptr;
  for (Client& c : clients_)
    if (c.fd >= 0 && c.out.empty() && c.pid == pid && (!oldest || c.accepted < oldest->accepted))
      oldest = &c;
  if (!oldest) return false;
  close_client(*oldest);
  return true;
}

void ControlServer::accept_clients(std::chrono::steady_clock::time_point now) {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) peer.pid = 0;
    Client c{fd, peer.pid, {}, {}, 0, now, now + kIdleTimeout};
    // A client usually sends its line at once: read it now, so that it no longer counts as
    // idle when later arrivals look for a place.
    read_request(c, now);
    std::map<int, std::size_t> per_peer;
    std::size_t total = 0;
    for (const Client& o : clients_)
      if (o.fd >= 0) {
        ++per_peer[o.pid];
        ++total;
      }
    bool room = true;
    if (per_peer[c.pid] >= kMaxPerPeer) {
      room = evict_idle(c.pid);
    } else if (total >= kMaxClients) {
      // The process holding the most connections gives one up (the newcomer's own if tied).
      int hog = c.pid;
      for (const auto& [pid, n] : per_peer)
        if (n > per_peer[hog]) hog = pid;
      room = evict_idle(hog);
    }
    if (!room) {  // every place is taken by a reply being written: this one waits its turn
      close_client(c);
      continue;
    }
    clients_.push_back(std::move(c));
  }
  std::erase_if(clients_, [](const Client& c) { return c.fd < 0; });
}

void ControlServer::read_request(Client& c, std::chrono::steady_clock::time_point now) {
  if (!c.out.empty() || c.fd < 0) return;
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
    // A reply can be long (the call table of a big box): it is written as the client reads,
    // with a deadline of its own.
    c.deadline = now + std::chrono::seconds(5);
  }
}

void ControlServer::service() {
  if (listen_fd_ < 0) return;
  const auto now = std::chrono::steady_clock::now();
  accept_clients(now);
  for (Client& c : clients_) {
    read_request(c, now);
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

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // the lock goes with the descriptor; the file stays
}

std::string DirLock::acquire(const std::string& dir, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/trunkwatch.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return path + ": " + std::strerror(errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    std::string holder;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (e != EWOULDBLOCK) return path + ": " + std::strerror(e);
    std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    const bool numeric = !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
    return "the " + what + " " + dir + " is in use by another trunkwatch daemon" +
           (numeric ? " (pid " + pid + ")" : "") + ", which holds " + path;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const std::string err = path + ": " + std::strerror(errno);
    ::close(fd);
    return err;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  dir_ = dir;
  return "";
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
