// Socket options Node.js cannot set: IP_TRANSPARENT / IPV6_TRANSPARENT (accept connections
// that TPROXY redirected, and bind upstream sockets to a non-local source address) and
// SO_MARK (tag the proxy's own packets so routing and firewall rules can recognise them).
//
// Each function creates a socket, configures it and hands the file descriptor to JavaScript,
// which wraps it in a net.Server / net.Socket. The descriptor is non-blocking and
// close-on-exec, as libuv expects. On failure the socket is closed and a JS Error is thrown
// whose `code` is the errno name (EPERM, EADDRINUSE...), with `errno` and `syscall` set,
// mirroring Node's own system errors.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HOST 64

typedef struct {
  struct sockaddr_storage storage;
  socklen_t len;
  int family;
} address_t;

// Throws a Node-style system error. Always returns NULL so callers can `return throw_errno(...)`.
static napi_value throw_errno(napi_env env, int err, const char* syscall, const char* what) {
  const char* name = strerrorname_np(err);
  char message[256];
  snprintf(message, sizeof message, "%s(%s): %s", syscall, what, strerror(err));
  napi_value code_value, message_value, error, errno_value, syscall_value;
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value);
  napi_create_error(env, code_value, message_value, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "code", code_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
  return NULL;
}

// Only numeric addresses: name resolution belongs in JS (and never on the data path).
static bool parse_address(const char* host, int port, address_t* out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in* v4 = (struct sockaddr_in*)&out->storage;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    out->len = sizeof *v4;
    out->family = AF_INET;
    return true;
  }
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&out->storage;
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    out->len = sizeof *v6;
    out->family = AF_INET6;
    return true;
  }
  return false;
}

// Reads options.<name> as a string into buf. Returns false (with a pending exception) on a
// wrong type; *present tells whether the property was given at all.
static bool get_string(napi_env env, napi_value obj, const char* name, char* buf, size_t size,
                       bool* present) {
  bool has = false;
  *present = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return true;
  napi_value value;
  napi_valuetype type;
  napi_get_named_property(env, obj, name, &value);
  napi_typeof(env, value, &type);
  if (type == napi_undefined) return true;
  size_t length = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, value, buf, size, &length) != napi_ok ||
      length >= size - 1) {
    char message[96];
    snprintf(message, sizeof message, "options.%s must be a numeric IP address string", name);
    throw_type(env, message);
    return false;
  }
  *present = true;
  return true;
}

static bool get_uint(napi_env env, napi_value obj, const char* name, uint32_t max, uint32_t* out,
                     bool* present) {
  bool has = false;
  *present = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return true;
  napi_value value;
  napi_valuetype type;
  napi_get_named_property(env, obj, name, &value);
  napi_typeof(env, value, &type);
  if (type == napi_undefined) return true;
  double number = -1;
  if (type == napi_number) napi_get_value_double(env, value, &number);
  if (type != napi_number || number < 0 || number > (double)max || number != (double)(uint32_t)number) {
    char message[96];
    snprintf(message, sizeof message, "options.%s must be an integer between 0 and %u", name, max);
    throw_type(env, message);
    return false;
  }
  *out = (uint32_t)number;
  *present = true;
  return true;
}

static bool get_bool(napi_env env, napi_value obj, const char* name, bool* out) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return true;
  napi_value value;
  napi_valuetype type;
  napi_get_named_property(env, obj, name, &value);
  napi_typeof(env, value, &type);
  if (type == napi_undefined) return true;
  if (type != napi_boolean) {
    char message[96];
    snprintf(message, sizeof message, "options.%s must be a boolean", name);
    throw_type(env, message);
    return false;
  }
  napi_get_value_bool(env, value, out);
  return true;
}

static bool get_options(napi_env env, napi_callback_info info, napi_value* options) {
  size_t argc = 1;
  napi_valuetype type = napi_undefined;
  napi_get_cb_info(env, info, &argc, options, NULL, NULL);
  if (argc >= 1) napi_typeof(env, *options, &type);
  if (type != napi_object) {
    throw_type(env, "expected an options object");
    return false;
  }
  return true;
}

static int set_int_option(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

static int set_transparent(int fd, int family) {
  if (family == AF_INET6) return set_int_option(fd, SOL_IPV6, IPV6_TRANSPARENT, 1);
  return set_int_option(fd, SOL_IP, IP_TRANSPARENT, 1);
}

static napi_value fail(napi_env env, int fd, const char* syscall, const char* what) {
  int err = errno;
  if (fd >= 0) close(fd);
  return throw_errno(env, err, syscall, what);
}

static napi_value fd_value(napi_env env, int fd) {
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

// listenTransparent({ host, port, backlog?, reusePort?, dualStack? }) -> fd of a listening socket.
// dualStack (an IPv6 address only): IPv4 too, whatever net.ipv6.bindv6only says.
static napi_value listen_transparent(napi_env env, napi_callback_info info) {
  napi_value options;
  if (!get_options(env, info, &options)) return NULL;
  char host[MAX_HOST];
  uint32_t port = 0, backlog = 511;
  bool has_host, has_port, has_backlog, reuse_port = false, dual_stack = false;
  if (!get_string(env, options, "host", host, sizeof host, &has_host)) return NULL;
  if (!get_uint(env, options, "port", 65535, &port, &has_port)) return NULL;
  if (!get_uint(env, options, "backlog", 65535, &backlog, &has_backlog)) return NULL;
  if (!get_bool(env, options, "reusePort", &reuse_port)) return NULL;
  if (!get_bool(env, options, "dualStack", &dual_stack)) return NULL;
  if (!has_host || !has_port) return throw_type(env, "options.host and options.port are required");
  address_t address;
  if (!parse_address(host, (int)port, &address))
    return throw_type(env, "options.host must be a numeric IPv4 or IPv6 address");

  int fd = socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return fail(env, -1, "socket", host);
  // Without this, accept() never sees connections whose destination is not a local address.
  if (set_transparent(fd, address.family) < 0) return fail(env, fd, "setsockopt", "IP_TRANSPARENT");
  // A restarted proxy must rebind at once although old connections linger in TIME_WAIT.
  if (set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
    return fail(env, fd, "setsockopt", "SO_REUSEADDR");
  if (reuse_port && set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0)
    return fail(env, fd, "setsockopt", "SO_REUSEPORT");
  if (dual_stack && address.family == AF_INET6 && set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0) < 0)
    return fail(env, fd, "setsockopt", "IPV6_V6ONLY");
  if (bind(fd, (struct sockaddr*)&address.storage, address.len) < 0) return fail(env, fd, "bind", host);
  if (listen(fd, (int)backlog) < 0) return fail(env, fd, "listen", host);
  return fd_value(env, fd);
}

// upstreamSocket({ family, mark?, transparent?, localHost?, localPort? }) -> fd of an unconnected
// TCP socket, optionally marked and bound. JS connects it (net.Socket + connect), so libuv
// drives the non-blocking connect and reports errors the usual way.
static napi_value upstream_socket(napi_env env, napi_callback_info info) {
  napi_value options;
  if (!get_options(env, info, &options)) return NULL;
  uint32_t family = 0, mark = 0, local_port = 0;
  char local_host[MAX_HOST];
  bool has_family, has_mark, has_local_host, has_local_port, transparent = false;
  if (!get_uint(env, options, "family", 6, &family, &has_family)) return NULL;
  if (!get_uint(env, options, "mark", UINT32_MAX, &mark, &has_mark)) return NULL;
  if (!get_string(env, options, "localHost", local_host, sizeof local_host, &has_local_host)) return NULL;
  if (!get_uint(env, options, "localPort", 65535, &local_port, &has_local_port)) return NULL;
  if (!get_bool(env, options, "transparent", &transparent)) return NULL;
  if (!has_family || (family != 4 && family != 6)) return throw_type(env, "options.family must be 4 or 6");
  int domain = family == 6 ? AF_INET6 : AF_INET;
  address_t local;
  if (has_local_host) {
    if (!parse_address(local_host, (int)local_port, &local))
      return throw_type(env, "options.localHost must be a numeric IP address");
    if (local.family != domain) return throw_type(env, "options.localHost does not match options.family");
  } else if (has_local_port) {
    return throw_type(env, "options.localPort needs options.localHost");
  }

  int fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return fail(env, -1, "socket", family == 6 ? "AF_INET6" : "AF_INET");
  if (has_mark && set_int_option(fd, SOL_SOCKET, SO_MARK, (int)mark) < 0)
    return fail(env, fd, "setsockopt", "SO_MARK");
  // Binding to the client's address (not a local one) is what makes the connection
  // source-preserving; the kernel allows it only on a transparent socket.
  if (transparent && set_transparent(fd, domain) < 0) return fail(env, fd, "setsockopt", "IP_TRANSPARENT");
  if (has_local_host) {
    if (set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
      return fail(env, fd, "setsockopt", "SO_REUSEADDR");
    if (local_port == 0) {
      // Choose the ephemeral port at connect() time, not at bind(): the 4-tuple is then free
      // even when many upstream connections share one source address.
      if (set_int_option(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1) < 0)
        return fail(env, fd, "setsockopt", "IP_BIND_ADDRESS_NO_PORT");
    }
    if (bind(fd, (struct sockaddr*)&local.storage, local.len) < 0) return fail(env, fd, "bind", local_host);
  }
  return fd_value(env, fd);
}

// socketInfo(fd) -> { mark, transparent }: lets callers and tests verify what a socket carries.
static napi_value socket_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, arg, &fd) != napi_ok || fd < 0)
    return throw_type(env, "expected a file descriptor");
  int mark = 0, transparent = 0, domain = 0;
  socklen_t len = sizeof mark;
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0) return throw_errno(env, errno, "getsockopt", "SO_MARK");
  len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
    return throw_errno(env, errno, "getsockopt", "SO_DOMAIN");
  len = sizeof transparent;
  int rc = domain == AF_INET6 ? getsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &transparent, &len)
                              : getsockopt(fd, SOL_IP, IP_TRANSPARENT, &transparent, &len);
  if (rc < 0) return throw_errno(env, errno, "getsockopt", "IP_TRANSPARENT");
  napi_value result, mark_value, transparent_value;
  napi_create_object(env, &result);
  napi_create_uint32(env, (uint32_t)mark, &mark_value);
  napi_get_boolean(env, transparent != 0, &transparent_value);
  napi_set_named_property(env, result, "mark", mark_value);
  napi_set_named_property(env, result, "transparent", transparent_value);
  return result;
}

// acceptQueued(fd, max) -> [fd, ...]: up to max connections taken from a listening socket's
// accept queue, non-blocking and close-on-exec like libuv's own. Since libuv 1.45 (Node.js 20)
// the event loop accepts one connection per turn; under load a turn lasts tens of
// milliseconds, so a burst of new connections waited seconds in the queue while established
// ones were served (see docs/performance.md, "Tail causes"). The proxy calls this after each
// connection libuv hands it. It stops at an empty queue (EAGAIN) and at any other error
// (EMFILE...), which it leaves to libuv's next accept, whose own handling applies.
static napi_value accept_queued(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  int32_t fd = -1;
  uint32_t max = 0;
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0)
    return throw_type(env, "expected a file descriptor");
  if (napi_get_value_uint32(env, args[1], &max) != napi_ok) return throw_type(env, "expected a maximum count");
  napi_value result;
  napi_create_array(env, &result);
  uint32_t n = 0;
  for (uint32_t tries = 0; tries < max; tries++) {
    int accepted = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (accepted < 0) {
      // (A connection reset while queued is simply gone; the next one may be fine.)
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    napi_set_element(env, result, n++, fd_value(env, accepted));
  }
  return result;
}

napi_value l7proxy_init_transparent_udp(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"listenTransparent", NULL, listen_transparent, NULL, NULL, NULL, napi_enumerable, NULL},
      {"upstreamSocket", NULL, upstream_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketInfo", NULL, socket_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"acceptQueued", NULL, accept_queued, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return l7proxy_init_transparent_udp(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
