// reactor_addon: Node's side of every connection's fd.
//
// A thin synchronous layer over non-blocking syscalls: receive fds from the
// channel (SCM_RIGHTS), read into caller-owned Buffers, write/writev, shutdown,
// close, socket options and addresses. The fds never enter libuv's poll set:
// Erlang polls, Node only does I/O.
// The one fd libuv does watch is the batch socket (ready and action batches
// to and from Erlang), through a uv_poll_t: its callback is the port's hot path.
// Errors become JS errors named the way Node names them (err.code = "EPIPE").
// EAGAIN is not an error here: each function says what it returns for it.
// Its typed face: ts/addon.ts.
#include "addon.h"

#include <string.h>
#include <uv.h>

#include <string>

namespace reactor {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(syscall) + " " + code + " (" + strerror(err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

}  // namespace reactor

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  reactor::InitIo(env, exports);
  reactor::InitSockopt(env, exports);
  reactor::InitBatch(env, exports);
  reactor::InitWatch(env, exports);
  reactor::InitPort(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(reactor_addon, Init)
