// A connection's socket options and addresses, each one syscall on an fd
// Erlang polls: what Node's net.Socket asks of libuv (uv_tcp_nodelay,
// uv_tcp_keepalive, getsockname, getpeername), without libuv holding the fd.
#include "addon.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include <string>

namespace reactor {
namespace {

struct Option {
  const char* name;
  int level;
  int optname;
};

// The options a protocol may set, by the names ts/addon.ts gives them: a fixed
// table, never a level and number from JavaScript.
const Option kOptions[] = {
    {"nodelay", IPPROTO_TCP, TCP_NODELAY},    {"keepalive", SOL_SOCKET, SO_KEEPALIVE},
    {"keepidle", IPPROTO_TCP, TCP_KEEPIDLE},  {"keepintvl", IPPROTO_TCP, TCP_KEEPINTVL},
    {"keepcnt", IPPROTO_TCP, TCP_KEEPCNT},    {"sndbuf", SOL_SOCKET, SO_SNDBUF},
    {"rcvbuf", SOL_SOCKET, SO_RCVBUF},
};

const Option& OptionArg(const Napi::CallbackInfo& info, size_t i) {
  std::string name = info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "";
  for (const Option& o : kOptions) {
    if (name == o.name) return o;
  }
  throw Napi::TypeError::New(info.Env(), "unknown socket option: " + name);
}

// setSocketOption(fd, name, value): setsockopt with an int.
Napi::Value SetSocketOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  const Option& o = OptionArg(info, 1);
  if (info.Length() < 3 || !info[2].IsNumber()) throw Napi::TypeError::New(env, "value must be a number");
  int v = info[2].As<Napi::Number>().Int32Value();
  if (setsockopt(fd, o.level, o.optname, &v, sizeof v) < 0) throw ErrnoError(env, errno, "setsockopt");
  return env.Undefined();
}

// getSocketOption(fd, name) -> the int getsockopt reads (SO_SNDBUF and
// SO_RCVBUF read back twice what was set: socket(7)).
Napi::Value GetSocketOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  const Option& o = OptionArg(info, 1);
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, o.level, o.optname, &v, &len) < 0) throw ErrnoError(env, errno, "getsockopt");
  return Napi::Number::New(env, v);
}

// socketAddress(fd, peer) -> { address, family: "IPv4" | "IPv6", port } of
// the peer (getpeername) or of our end (getsockname); null for a socket that
// is not IP (a Unix socket) or not connected, as Node's remoteAddress is
// undefined then.
Napi::Value SocketAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  bool peer = info.Length() > 1 && info[1].ToBoolean().Value();
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  int rc = peer ? getpeername(fd, reinterpret_cast<struct sockaddr*>(&ss), &len)
                : getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len);
  if (rc < 0) return env.Null();
  char addr[INET6_ADDRSTRLEN] = "";
  int port;
  const char* family;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
    port = ntohs(in->sin_port);
    family = "IPv4";
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
    port = ntohs(in6->sin6_port);
    family = "IPv6";
  } else {
    return env.Null();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", Napi::String::New(env, addr));
  out.Set("family", Napi::String::New(env, family));
  out.Set("port", Napi::Number::New(env, port));
  return out;
}

}  // namespace

void InitSockopt(Napi::Env env, Napi::Object exports) {
  exports.Set("setSocketOption", Napi::Function::New(env, SetSocketOption));
  exports.Set("getSocketOption", Napi::Function::New(env, GetSocketOption));
  exports.Set("socketAddress", Napi::Function::New(env, SocketAddress));
}

}  // namespace reactor
