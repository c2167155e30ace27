// reactor_addon: Node's side of every connection's fd.
//
// A thin synchronous layer over non-blocking syscalls: receive fds from the
// channel (SCM_RIGHTS), read into caller-owned Buffers, write/writev, shutdown,
// close. The fds never enter libuv's poll set: Erlang polls, Node only does I/O.
// The one fd libuv does watch is the batch socket (ready and action batches
// to and from Erlang), through a uv_poll_t: its callback is the port's hot path.
// Errors become JS errors named the way Node names them (err.code = "EPIPE").
// EAGAIN is not an error here: reads return -1 / writes return 0 for it.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <vector>

namespace {

constexpr int kMaxFdsPerMessage = 64;  // the Erlang side batches at most this many

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(syscall) + " " + code + " (" + strerror(err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

int FdArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "fd must be a number");
  }
  int fd = info[i].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::TypeError::New(info.Env(), "fd must be >= 0");
  return fd;
}

// (buf, offset, length) at info[i..i+2]: the part of a Buffer a read may fill.
struct iovec SpanArg(const Napi::CallbackInfo& info, size_t i) {
  auto buf = info[i].As<Napi::Buffer<uint8_t>>();
  size_t off = info[i + 1].As<Napi::Number>().Uint32Value();
  size_t len = info[i + 2].As<Napi::Number>().Uint32Value();
  if (off > buf.Length() || len > buf.Length() - off) throw Napi::RangeError::New(info.Env(), "read out of bounds");
  return {buf.Data() + off, len};
}

// connectChannel(path) -> fd. Blocking connect to the Erlang node's channel;
// a local connect either succeeds or fails at once.
Napi::Value ConnectChannel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un sa;
  if (path.size() >= sizeof sa.sun_path) throw Napi::Error::New(env, "channel path too long");
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    close(fd);
    throw ErrnoError(env, e, "connect");
  }
  return Napi::Number::New(env, fd);
}

// recvFds(chanFd) -> null (nothing queued) | { ids: number[], fds: number[], truncated }
// One channel message: ids (int32, native order) in the payload, fds in SCM_RIGHTS.
// With MSG_CTRUNC some fds did not arrive (fd limit): fds.length < ids.length and
// the ids past fds.length must be refused.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int chan = FdArg(info, 0);
  int32_t ids[kMaxFdsPerMessage];
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  struct iovec iov = {ids, sizeof ids};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  do {
    n = recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    throw ErrnoError(env, errno, "recvmsg");
  }
  if (n == 0) throw ErrnoError(env, EPIPE, "recvmsg");
  Napi::Array idArr = Napi::Array::New(env);
  Napi::Array fdArr = Napi::Array::New(env);
  size_t nids = static_cast<size_t>(n) / sizeof(int32_t);
  for (size_t i = 0; i < nids; i++) idArr.Set(i, Napi::Number::New(env, ids[i]));
  uint32_t nfds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
    for (size_t i = 0; i < k; i++) {
      if (nfds < nids) {
        fdArr.Set(nfds++, Napi::Number::New(env, fds[i]));
      } else {
        close(fds[i]);  // more fds than ids: never ours to keep
      }
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("ids", idArr);
  out.Set("fds", fdArr);
  out.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & MSG_CTRUNC) != 0));
  return out;
}

// readInto(fd, buf, offset, length) -> bytes read (0 = EOF) | -1 (EAGAIN)
Napi::Value ReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  struct iovec span = SpanArg(info, 1);
  ssize_t n;
  do {
    n = read(fd, span.iov_base, span.iov_len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    throw ErrnoError(env, errno, "read");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

ssize_t WriteIov(int fd, struct iovec* iov, int cnt) {
  // sendmsg with MSG_NOSIGNAL so a closed peer is EPIPE, never SIGPIPE;
  // writev for what is not a socket (pipes, ttys).
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = cnt;
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == ENOTSOCK) {
    do {
      n = writev(fd, iov, cnt);
    } while (n < 0 && errno == EINTR);
  }
  return n;
}

// bytes written, 0 for EAGAIN, or the errno as a JS error
Napi::Value WriteResult(Napi::Env env, ssize_t n) {
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, 0);
    throw ErrnoError(env, errno, "write");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// writev(fd, buffers[]) -> bytes written (0 = EAGAIN)
Napi::Value Writev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  Napi::Array arr = info[1].As<Napi::Array>();
  uint32_t cnt = arr.Length();
  if (cnt > IOV_MAX) cnt = IOV_MAX;
  std::vector<struct iovec> iov(cnt);
  for (uint32_t i = 0; i < cnt; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsBuffer() && !v.IsTypedArray()) throw Napi::TypeError::New(env, "writev takes Buffers");
    auto b = v.As<Napi::Uint8Array>();
    iov[i].iov_base = b.Data();
    iov[i].iov_len = b.ByteLength();
  }
  return WriteResult(env, WriteIov(fd, iov.data(), static_cast<int>(cnt)));
}

// shutdown(fd, how) with how 0 = read, 1 = write, 2 = both. ENOTSOCK/ENOTCONN are
// not errors here: there is simply nothing to shut down.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int how = info[1].As<Napi::Number>().Int32Value();
  if (shutdown(fd, how == 0 ? SHUT_RD : how == 1 ? SHUT_WR : SHUT_RDWR) < 0 && errno != ENOTSOCK &&
      errno != ENOTCONN) {
    throw ErrnoError(env, errno, "shutdown");
  }
  return env.Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  // Linux closes the fd even when close() fails with EINTR: never retry.
  if (close(fd) < 0 && errno != EINTR) throw ErrnoError(env, errno, "close");
  return env.Undefined();
}

// recvFrom(fd, buf, offset, length) -> null (EAGAIN) | { n, size, addr, port }
// One datagram. `size` is its real length (MSG_TRUNC): size > n means it was
// larger than the buffer and the rest is lost, which the caller reports.
Napi::Value RecvFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  struct iovec iov = SpanArg(info, 1);
  size_t len = iov.iov_len;
  struct sockaddr_storage ss;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &ss;
  msg.msg_namelen = sizeof ss;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    throw ErrnoError(env, errno, "recvfrom");
  }
  char addr[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
    port = ntohs(in6->sin6_port);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("n", Napi::Number::New(env, static_cast<double>(static_cast<size_t>(n) < len ? n : len)));
  out.Set("size", Napi::Number::New(env, static_cast<double>(n)));
  out.Set("addr", Napi::String::New(env, addr));
  out.Set("port", Napi::Number::New(env, port));
  return out;
}

// sendTo(fd, buf, addr, port) -> bytes sent | -1 (EAGAIN). One datagram; an
// empty one is a valid datagram, so "nothing taken" cannot be 0 here.
Napi::Value SendTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto b = info[1].As<Napi::Uint8Array>();
  std::string addr = info[2].As<Napi::String>().Utf8Value();
  int port = info[3].As<Napi::Number>().Int32Value();
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  auto* in = reinterpret_cast<struct sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, addr.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    sl = sizeof *in;
  } else if (inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    sl = sizeof *in6;
  } else {
    throw ErrnoError(env, EINVAL, "sendto");
  }
  ssize_t n;
  do {
    n = sendto(fd, b.Data(), b.ByteLength(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&ss), sl);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    throw ErrnoError(env, errno, "sendto");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// takeStdout() -> fd. Moves the port's frame stream off fd 1, which becomes a
// copy of stderr: nothing else (a native library's printf, a stray write) can
// ever land between two frames. The returned fd is blocking: when Erlang is slow
// to read, the writer waits, which is the backpressure we want.
Napi::Value TakeStdout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) throw ErrnoError(env, errno, "dup");
  if (dup2(2, 1) < 0) throw ErrnoError(env, errno, "dup2");
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return Napi::Number::New(env, fd);
}

// writeAll(fd, buf): writes every byte, waiting in poll() if the fd is non-blocking.
Napi::Value WriteAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto b = info[1].As<Napi::Uint8Array>();
  const uint8_t* p = b.Data();
  size_t left = b.ByteLength();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, -1);
        continue;
      }
      throw ErrnoError(env, errno, "write");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return env.Undefined();
}

// waitReadable(fd, ms) -> boolean: blocks up to ms for fd to be readable.
// Only at start, for the batch socket's fd on the channel.
Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int ms = info[1].As<Napi::Number>().Int32Value();
  struct pollfd pfd = {fd, POLLIN, 0};
  int n;
  do {
    n = poll(&pfd, 1, ms);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw ErrnoError(env, errno, "poll");
  return Napi::Boolean::New(env, n > 0);
}

// recvPacket(fd, buf) -> the packet's real size (more than buf.length when it
// did not fit: MSG_TRUNC), 0 when the peer closed, -1 when none is queued.
Napi::Value RecvPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto b = info[1].As<Napi::Uint8Array>();
  ssize_t n;
  do {
    n = recv(fd, b.Data(), b.ByteLength(), MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    throw ErrnoError(env, errno, "recv");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// recvPackets(fd, buf, slot, sizes) -> how many packets were queued (up to
// sizes.length, one recvmmsg): packet i is at buf[i * slot], sizes[i] its real
// size (more than slot when it did not fit). 0 when none; -1 when the peer closed.
Napi::Value RecvPackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto b = info[1].As<Napi::Uint8Array>();
  size_t slot = info[2].As<Napi::Number>().Uint32Value();
  auto sizes = info[3].As<Napi::Uint32Array>();
  size_t max = sizes.ElementLength();
  if (max > 64) max = 64;
  if (slot == 0 || b.ByteLength() < slot * max) throw Napi::RangeError::New(env, "recvPackets: buffer too small");
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  memset(msgs, 0, sizeof msgs);
  for (size_t i = 0; i < max; i++) {
    iov[i].iov_base = b.Data() + i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n;
  do {
    n = recvmmsg(fd, msgs, static_cast<unsigned>(max), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, 0);
    throw ErrnoError(env, errno, "recvmmsg");
  }
  for (int i = 0; i < n; i++) {
    if (msgs[i].msg_len == 0) return Napi::Number::New(env, i == 0 ? -1 : i);  // the peer closed
    // a packet larger than its slot is cut (MSG_TRUNC): report one size past it
    sizes[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? static_cast<uint32_t>(slot + 1) : msgs[i].msg_len;
  }
  return Napi::Number::New(env, n);
}

// sendPacket(fd, buf, length) -> true, or false when the peer's queue is full.
Napi::Value SendPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto b = info[1].As<Napi::Uint8Array>();
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  if (len > b.ByteLength()) throw Napi::RangeError::New(env, "send out of bounds");
  ssize_t n;
  do {
    n = send(fd, b.Data(), len, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    throw ErrnoError(env, errno, "send");
  }
  return Napi::Boolean::New(env, true);
}

// One watched fd per process: the batch socket.
struct Watch {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference callback;
  int fd = -1;
  bool writable = false;
};
Watch* watch = nullptr;

void OnPoll(uv_poll_t* handle, int status, int events) {
  Watch* w = static_cast<Watch*>(handle->data);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  int what = status < 0 ? 4 : ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0);
  try {
    // MakeCallback: microtasks (protocol handlers' Promises) run after it
    w->callback.MakeCallback(env.Global(), {Napi::Number::New(env, what)});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(w->env, e.Value());
  }
}

void Rearm(Watch* w) {
  uv_poll_start(&w->poll, UV_READABLE | (w->writable ? UV_WRITABLE : 0), OnPoll);
}

// watchBatches(fd, callback(events)): libuv tells callback when fd is
// readable (1), writable (2, only while wantWritable(true)) or broken (4).
Napi::Value WatchBatches(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (watch) throw Napi::Error::New(env, "the batch socket is watched already");
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
  watch = new Watch();
  watch->env = env;
  watch->fd = fd;
  watch->callback = Napi::Persistent(info[1].As<Napi::Function>());
  int rc = uv_poll_init(loop, &watch->poll, fd);
  if (rc < 0) {
    delete watch;
    watch = nullptr;
    throw ErrnoError(env, -rc, "uv_poll_init");
  }
  watch->poll.data = watch;
  Rearm(watch);
  return env.Undefined();
}

// wantWritable(on): also tell the callback when the batch socket is writable.
Napi::Value WantWritable(const Napi::CallbackInfo& info) {
  bool on = info[0].As<Napi::Boolean>().Value();
  if (watch && watch->writable != on) {
    watch->writable = on;
    Rearm(watch);
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("waitReadable", Napi::Function::New(env, WaitReadable));
  exports.Set("recvPacket", Napi::Function::New(env, RecvPacket));
  exports.Set("recvPackets", Napi::Function::New(env, RecvPackets));
  exports.Set("sendPacket", Napi::Function::New(env, SendPacket));
  exports.Set("watchBatches", Napi::Function::New(env, WatchBatches));
  exports.Set("wantWritable", Napi::Function::New(env, WantWritable));
  exports.Set("connectChannel", Napi::Function::New(env, ConnectChannel));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds));
  exports.Set("readInto", Napi::Function::New(env, ReadInto));
  exports.Set("writev", Napi::Function::New(env, Writev));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("takeStdout", Napi::Function::New(env, TakeStdout));
  exports.Set("recvFrom", Napi::Function::New(env, RecvFrom));
  exports.Set("sendTo", Napi::Function::New(env, SendTo));
  exports.Set("writeAll", Napi::Function::New(env, WriteAll));
  return exports;
}

}  // namespace

NODE_API_MODULE(reactor_addon, Init)
