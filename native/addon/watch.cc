// The fds libuv watches for the port: its input (the control frames on fd 0)
// and the batch socket. A watch's callback does one unit of work per call (a
// frame, a slice of a ready batch) and returns true while more is queued;
// each call is a MakeCallback of its own, so the ticks and microtasks one
// unit queued run before the next, as Node runs them after each of its own
// I/O callbacks. Served in one call instead, the handoffs of one read kept
// every connection they made alive until the last was served.
#include "addon.h"

#include <fcntl.h>
#include <uv.h>

#include <vector>

namespace reactor {
namespace {

struct Watch {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference callback;
  int fd = -1;
  bool writable = false;
  // unwatch() was called: the handle is closing, the callback is not called again
  bool closing = false;
};
std::vector<Watch*> watches;

Watch* Find(int fd) {
  for (Watch* w : watches)
    if (w->fd == fd && !w->closing) return w;
  return nullptr;
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  Watch* w = static_cast<Watch*>(handle->data);
  Napi::Env env(w->env);
  int what = status < 0 ? 4 : ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0);
  // w stays valid through this loop: unwatch() frees it from uv_close's callback
  while (!w->closing) {
    Napi::HandleScope scope(env);
    Napi::Value more;
    try {
      more = w->callback.MakeCallback(env.Global(), {Napi::Number::New(env, what)});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(w->env, e.Value());
      return;
    }
    if (!more.IsBoolean() || !more.As<Napi::Boolean>().Value()) return;
    what = 0;
  }
}

void Rearm(Watch* w) {
  uv_poll_start(&w->poll, UV_READABLE | (w->writable ? UV_WRITABLE : 0), OnPoll);
}

// watch(fd, callback(events) -> boolean): fd is made non-blocking and libuv
// tells callback when it is readable (1), writable (2, only while
// wantWritable(fd, true)) or broken (4); while callback returns true it is
// called again at once with 0.
Napi::Value WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "watch(fd, callback)");
  if (Find(fd)) throw Napi::Error::New(env, "the fd is watched already");
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) throw ErrnoError(env, errno, "fcntl");
  Watch* w = new Watch();
  w->env = env;
  w->fd = fd;
  w->callback = Napi::Persistent(info[1].As<Napi::Function>());
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc < 0) {
    delete w;
    throw ErrnoError(env, -rc, "uv_poll_init");
  }
  w->poll.data = w;
  watches.push_back(w);
  Rearm(w);
  return env.Undefined();
}

// unwatch(fd): libuv stops watching fd (the fd stays open); its callback is
// not called again, even by a loop in progress.
Napi::Value UnwatchFd(const Napi::CallbackInfo& info) {
  Watch* w = Find(FdArg(info, 0));
  if (w) {
    w->closing = true;
    uv_poll_stop(&w->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), [](uv_handle_t* h) {
      Watch* gone = static_cast<Watch*>(h->data);
      for (auto it = watches.begin(); it != watches.end(); ++it) {
        if (*it == gone) {
          watches.erase(it);
          break;
        }
      }
      delete gone;
    });
  }
  return info.Env().Undefined();
}

// wantWritable(fd, on): also tell fd's callback when it is writable.
Napi::Value WantWritable(const Napi::CallbackInfo& info) {
  Watch* w = Find(FdArg(info, 0));
  bool on = info[1].As<Napi::Boolean>().Value();
  if (w && w->writable != on) {
    w->writable = on;
    Rearm(w);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("watch", Napi::Function::New(env, WatchFd));
  exports.Set("unwatch", Napi::Function::New(env, UnwatchFd));
  exports.Set("wantWritable", Napi::Function::New(env, WantWritable));
}

}  // namespace reactor
