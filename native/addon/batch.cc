// The batch socket, Node's end: ready batches in, action batches out, one
// packet each (the layout: native/reactor_shared.h, ts/batch.ts). libuv
// watches it (watch.cc): its callback is the port's hot path.
#include "addon.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>

namespace reactor {
namespace {

// Packets one recvPackets call takes at most (one recvmmsg).
constexpr size_t kMaxPacketsPerCall = 64;

// waitReadable(fd, ms) -> boolean: blocks up to ms for fd to be readable.
// Only at start, for the batch socket's fd on the channel.
Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int ms = info[1].As<Napi::Number>().Int32Value();
  struct pollfd pfd = {fd, POLLIN, 0};
  auto n = NonBlocking(env, "poll", [&] { return poll(&pfd, 1, ms); });
  return Napi::Boolean::New(env, n && *n > 0);
}

// recvPacket(fd, buf) -> the packet's real size (more than buf.length when it
// did not fit: MSG_TRUNC), 0 when the peer closed, -1 when none is queued.
Napi::Value RecvPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  auto b = info[1].As<Napi::Uint8Array>();
  auto n = NonBlocking(env, "recv", [&] { return recv(fd, b.Data(), b.ByteLength(), MSG_DONTWAIT | MSG_TRUNC); });
  return Napi::Number::New(env, n ? static_cast<double>(*n) : -1);
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
  if (max > kMaxPacketsPerCall) max = kMaxPacketsPerCall;
  if (slot == 0 || b.ByteLength() < slot * max) throw Napi::RangeError::New(env, "recvPackets: buffer too small");
  struct mmsghdr msgs[kMaxPacketsPerCall];
  struct iovec iov[kMaxPacketsPerCall];
  memset(msgs, 0, sizeof msgs);
  for (size_t i = 0; i < max; i++) {
    iov[i].iov_base = b.Data() + i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  auto got = NonBlocking(env, "recvmmsg",
                         [&] { return recvmmsg(fd, msgs, static_cast<unsigned>(max), MSG_DONTWAIT, nullptr); });
  int n = got ? *got : 0;
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
  auto n = NonBlocking(env, "send", [&] { return send(fd, b.Data(), len, MSG_DONTWAIT | MSG_NOSIGNAL); });
  return Napi::Boolean::New(env, n.has_value());
}

}  // namespace

void InitBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("waitReadable", Napi::Function::New(env, WaitReadable));
  exports.Set("recvPacket", Napi::Function::New(env, RecvPacket));
  exports.Set("recvPackets", Napi::Function::New(env, RecvPackets));
  exports.Set("sendPacket", Napi::Function::New(env, SendPacket));
}

}  // namespace reactor
