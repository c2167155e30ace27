// reactor_addon's private header: what the files of native/addon/ share.
//
//   reactor_addon.cc  the module: its exports, and errors named as Node names them
//   io.cc             a connection's I/O: read, writev, datagrams, shutdown, close
//   sockopt.cc        a connection's socket options and addresses
//   batch.cc          the batch socket: packets in and out
//   watch.cc          libuv's watch on the port's input and the batch socket
//   port.cc           the port's own fds: the fd channel, the frame stream
#ifndef REACTOR_ADDON_H
#define REACTOR_ADDON_H

#include <napi.h>
#include <errno.h>
#include <sys/uio.h>

#include <optional>
#include <utility>

#include "../reactor_shared.h"

namespace reactor {

// A JS Error for errno `err`, as Node makes them: message "syscall CODE
// (text)", err.code "EPIPE", err.errno -32, err.syscall.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// One non-blocking syscall, made the way every function here makes it:
// retried on EINTR; std::nullopt when it would block (EAGAIN, EWOULDBLOCK);
// any other error thrown as an ErrnoError. Otherwise the call's result (>= 0).
template <typename Call>
std::optional<decltype(std::declval<Call>()())> NonBlocking(Napi::Env env, const char* syscall, Call call) {
  decltype(call()) n;
  do {
    n = call();
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
  throw ErrnoError(env, errno, syscall);
}

// info[i] as an fd: a number >= 0, or a TypeError.
inline int FdArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "fd must be a number");
  }
  int fd = info[i].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::TypeError::New(info.Env(), "fd must be >= 0");
  return fd;
}

// (buf, offset, length) at info[i..i+2]: the part of a Buffer a read may fill
// or a write sends.
inline struct iovec SpanArg(const Napi::CallbackInfo& info, size_t i) {
  auto buf = info[i].As<Napi::Buffer<uint8_t>>();
  size_t off = info[i + 1].As<Napi::Number>().Uint32Value();
  size_t len = info[i + 2].As<Napi::Number>().Uint32Value();
  if (off > buf.Length() || len > buf.Length() - off) throw Napi::RangeError::New(info.Env(), "offset or length out of bounds");
  return {buf.Data() + off, len};
}

// Each file's exports, added to the module's.
void InitIo(Napi::Env env, Napi::Object exports);
void InitWatch(Napi::Env env, Napi::Object exports);
void InitSockopt(Napi::Env env, Napi::Object exports);
void InitBatch(Napi::Env env, Napi::Object exports);
void InitPort(Napi::Env env, Napi::Object exports);

}  // namespace reactor

#endif
