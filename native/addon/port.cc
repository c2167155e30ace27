// The port's own fds: the fd channel to the Erlang node (connected once,
// then fds received from it with their connection ids), and the frame
// stream, moved off fd 1.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace reactor {
namespace {

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
// One channel message: ids (int32, native order) in the payload, fds in SCM_RIGHTS,
// at most REACTOR_MAX_FDS_PER_MSG of each. With MSG_CTRUNC some fds did not arrive
// (fd limit): fds.length < ids.length and the ids past fds.length must be refused.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int chan = FdArg(info, 0);
  int32_t ids[REACTOR_MAX_FDS_PER_MSG];
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * REACTOR_MAX_FDS_PER_MSG)];
  struct iovec iov = {ids, sizeof ids};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  auto n = NonBlocking(env, "recvmsg", [&] { return recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); });
  if (!n) return env.Null();
  if (*n == 0) throw ErrnoError(env, EPIPE, "recvmsg");
  Napi::Array idArr = Napi::Array::New(env);
  Napi::Array fdArr = Napi::Array::New(env);
  size_t nids = static_cast<size_t>(*n) / sizeof(int32_t);
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
    auto n = NonBlocking(env, "write", [&] { return write(fd, p, left); });
    if (!n) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      poll(&pfd, 1, -1);
      continue;
    }
    p += *n;
    left -= static_cast<size_t>(*n);
  }
  return env.Undefined();
}

// watchStdin(graceMs): a thread that waits, beside the event loop, for
// Erlang's end of stdin to close (POLLHUP: the BEAM or the port is gone), then
// gives the event loop graceMs to notice it and end the process (Port.onInputEnd)
// before ending it itself with exit status 70. A loop stuck in JavaScript (an
// eval of `for(;;){}`) would otherwise leave an orphan spinning for ever: its
// parent is gone, so nobody else will kill it.
Napi::Value WatchStdin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "watchStdin(graceMs)");
  int64_t grace = info[0].As<Napi::Number>().Int64Value();
  std::thread([grace] {
    struct pollfd pfd = {0, 0, 0};  // no events asked: only hang-ups and errors come back
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
    }
    struct timespec ts = {static_cast<time_t>(grace / 1000), static_cast<long>(grace % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    _exit(70);
  }).detach();
  return env.Undefined();
}

}  // namespace

void InitPort(Napi::Env env, Napi::Object exports) {
  exports.Set("watchStdin", Napi::Function::New(env, WatchStdin));
  exports.Set("connectChannel", Napi::Function::New(env, ConnectChannel));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds));
  exports.Set("takeStdout", Napi::Function::New(env, TakeStdout));
  exports.Set("writeAll", Napi::Function::New(env, WriteAll));
}

}  // namespace reactor
