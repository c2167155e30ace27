// A connection's I/O, each call one non-blocking syscall on an fd Erlang
// polls: read into a caller's Buffer, writev, datagrams, shutdown, close.
#include "addon.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace reactor {
namespace {

// readInto(fd, buf, offset, length) -> bytes read (0 = EOF) | -1 (EAGAIN)
Napi::Value ReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  struct iovec span = SpanArg(info, 1);
  auto n = NonBlocking(env, "read", [&] { return read(fd, span.iov_base, span.iov_len); });
  return Napi::Number::New(env, n ? static_cast<double>(*n) : -1);
}

// Sends `iov` -> bytes written (0 = EAGAIN). sendmsg with MSG_NOSIGNAL so a
// closed peer is EPIPE, never SIGPIPE; writev for what is not a socket
// (pipes, ttys).
static Napi::Value SendIov(Napi::Env env, int fd, struct iovec* iov, size_t cnt) {
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = cnt;
  auto n = NonBlocking(env, "write", [&] {
    ssize_t s = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    return s < 0 && errno == ENOTSOCK ? writev(fd, iov, static_cast<int>(cnt)) : s;
  });
  return Napi::Number::New(env, n ? static_cast<double>(*n) : 0);
}

// writev(fd, buffers[]) -> bytes written (0 = EAGAIN), at most IOV_MAX buffers.
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
  return SendIov(env, fd, iov.data(), cnt);
}

// write(fd, buf, offset, length) -> bytes written (0 = EAGAIN): writev's one
// buffer, without the array.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  struct iovec span = SpanArg(info, 1);
  return SendIov(env, fd, &span, 1);
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
  auto n = NonBlocking(env, "recvfrom", [&] { return recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC); });
  if (!n) return env.Null();
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
  out.Set("n", Napi::Number::New(env, static_cast<double>(static_cast<size_t>(*n) < len ? *n : len)));
  out.Set("size", Napi::Number::New(env, static_cast<double>(*n)));
  out.Set("addr", Napi::String::New(env, addr));
  out.Set("port", Napi::Number::New(env, port));
  return out;
}

// A port as Node's dgram takes one: an integer 1-65535, else a RangeError
// with code ERR_SOCKET_BAD_PORT. Never cut to 16 bits: 70000 is not 4464.
uint16_t PortArg(const Napi::CallbackInfo& info, size_t i) {
  double d = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0;
  if (!(d >= 1 && d <= 65535) || d != static_cast<double>(static_cast<int>(d))) {
    Napi::Error e = Napi::RangeError::New(info.Env(), "Port should be > 0 and < 65536");
    e.Set("code", Napi::String::New(info.Env(), "ERR_SOCKET_BAD_PORT"));
    throw e;
  }
  return static_cast<uint16_t>(d);
}

// sendTo(fd, buf, addr, port) -> bytes sent | -1 (EAGAIN). One datagram; an
// empty one is a valid datagram, so "nothing taken" cannot be 0 here. `addr`
// is an IP literal (no DNS lookup): any other string is EINVAL, as sendto(2)
// says of an address it cannot use.
Napi::Value SendTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (info.Length() < 4 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[2].IsString()) {
    throw Napi::TypeError::New(env, "sendTo(fd, Uint8Array, addr: string, port: number)");
  }
  auto b = info[1].As<Napi::Uint8Array>();
  std::string addr = info[2].As<Napi::String>().Utf8Value();
  uint16_t port = PortArg(info, 3);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  auto* in = reinterpret_cast<struct sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
  if (addr.find('\0') != std::string::npos) {
    throw ErrnoError(env, EINVAL, "sendto"); // inet_pton would read only up to it
  } else if (inet_pton(AF_INET, addr.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    sl = sizeof *in;
  } else if (inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    sl = sizeof *in6;
  } else {
    throw ErrnoError(env, EINVAL, "sendto");
  }
  auto n = NonBlocking(env, "sendto", [&] {
    return sendto(fd, b.Data(), b.ByteLength(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&ss), sl);
  });
  return Napi::Number::New(env, n ? static_cast<double>(*n) : -1);
}

}  // namespace

void InitIo(Napi::Env env, Napi::Object exports) {
  exports.Set("readInto", Napi::Function::New(env, ReadInto));
  exports.Set("writev", Napi::Function::New(env, Writev));
  exports.Set("write", Napi::Function::New(env, Write));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("recvFrom", Napi::Function::New(env, RecvFrom));
  exports.Set("sendTo", Napi::Function::New(env, SendTo));
}

}  // namespace reactor
