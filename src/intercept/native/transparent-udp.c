// UDP sockets for the DNS proxy, which Node's dgram module cannot make:
//
// - udpListen: an IP_TRANSPARENT UDP socket that receives the datagrams TPROXY redirected,
//   each with its original destination (IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR, read
//   with recvmsg), watched by a uv_poll handle on Node's event loop. JS is called when the
//   socket is readable and reads a burst with udpRecvMany (one recvmmsg).
// - udpReplySocket + udpSendTo: a transparent UDP socket bound to the original resolver's
//   address and port, so a reply reaches the client from the address it asked. It is never
//   connected: an unconnected socket is not an "established" match for TPROXY's socket
//   lookup, so the client's next query still reaches the listener. SO_REUSEADDR (not
//   SO_REUSEPORT) lets an old and a new proxy hold one each during a restart, but never lets
//   it share the port of a real resolver listening on this host with SO_REUSEPORT.
// - udpUpstream + udpSend: a transparent, marked UDP socket bound to a client's address on a
//   port the kernel picks, watched like a listener, from which queries go to the resolver
//   with the client's own address (source-preserving, as the TCP upstream sockets are), and
//   where the resolver's answers arrive.
//
// Errors are thrown as Node-style system errors (code = errno name), as in
// transparent-socket.c.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define HOST_LEN 64

typedef struct {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  bool closed;
} udp_listener_t;

static napi_value udp_throw_errno(napi_env env, int err, const char* syscall, const char* what) {
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

static napi_value udp_throw_type(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
  return NULL;
}

static napi_value udp_fail(napi_env env, int fd, const char* syscall, const char* what) {
  int err = errno;
  if (fd >= 0) close(fd);
  return udp_throw_errno(env, err, syscall, what);
}

static bool to_sockaddr(const char* host, uint32_t port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* v4 = (struct sockaddr_in*)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return true;
  }
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return true;
  }
  return false;
}

// Address text and port of a sockaddr; false for a family we do not handle.
static bool from_sockaddr(const struct sockaddr_storage* ss, char* host, uint32_t* port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in* v4 = (const struct sockaddr_in*)ss;
    inet_ntop(AF_INET, &v4->sin_addr, host, HOST_LEN);
    *port = ntohs(v4->sin_port);
    return true;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6* v6 = (const struct sockaddr_in6*)ss;
    inet_ntop(AF_INET6, &v6->sin6_addr, host, HOST_LEN);
    *port = ntohs(v6->sin6_port);
    return true;
  }
  return false;
}

static bool read_host_port(napi_env env, napi_value obj, char* host, uint32_t* port) {
  napi_value h, p;
  napi_valuetype ht, pt;
  if (napi_get_named_property(env, obj, "host", &h) != napi_ok || napi_get_named_property(env, obj, "port", &p) != napi_ok)
    return false;
  napi_typeof(env, h, &ht);
  napi_typeof(env, p, &pt);
  size_t n = 0;
  double d = -1;
  if (ht != napi_string || pt != napi_number) return false;
  if (napi_get_value_string_utf8(env, h, host, HOST_LEN, &n) != napi_ok || n >= HOST_LEN - 1) return false;
  napi_get_value_double(env, p, &d);
  if (d < 0 || d > 65535 || d != (double)(uint32_t)d) return false;
  *port = (uint32_t)d;
  return true;
}

static bool read_bool(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  bool out = false;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
  if (napi_get_value_bool(env, v, &out) != napi_ok) return false;
  return out;
}

static int set_opt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

static void on_poll_closed(uv_handle_t* handle) {
  udp_listener_t* l = (udp_listener_t*)handle->data;
  close(l->fd);
  free(l);
}

static void on_readable(uv_poll_t* poll, int status, int events) {
  (void)events;
  udp_listener_t* l = (udp_listener_t*)poll->data;
  if (l->closed) return;
  napi_env env = l->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, err_value = NULL, result;
  napi_get_reference_value(env, l->callback, &cb);
  // napi_make_callback needs an object as the receiver.
  napi_get_global(env, &recv);
  if (status < 0) {
    napi_value code;
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    err_value = code;
  }
  napi_value argv[1];
  size_t argc = 0;
  if (err_value != NULL) argv[argc++] = err_value;
  if (napi_make_callback(env, l->async, recv, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static void listener_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  udp_listener_t* l = (udp_listener_t*)data;
  // Collected without close(): release the socket anyway.
  if (!l->closed) {
    l->closed = true;
    napi_delete_reference(env, l->callback);
    napi_async_destroy(env, l->async);
    uv_poll_stop(&l->poll);
    uv_close((uv_handle_t*)&l->poll, on_poll_closed);
  }
}

// Watches fd (which it then owns) with a uv_poll handle on Node's event loop, calling
// `callback` when it is readable; returns the JS handle (closed by udpClose).
static napi_value watch(napi_env env, int fd, napi_value callback, const char* what) {
  udp_listener_t* l = calloc(1, sizeof *l);
  if (l == NULL) {
    close(fd);
    return udp_throw_errno(env, ENOMEM, "calloc", what);
  }
  l->fd = fd;
  l->env = env;
  uv_loop_t* loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &l->poll, fd);
  if (rc < 0) {
    close(fd);
    free(l);
    return udp_throw_errno(env, -rc, "uv_poll_init", what);
  }
  l->poll.data = l;
  napi_create_reference(env, callback, 1, &l->callback);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "L7PROXY_DNS_UDP", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &l->async);
  uv_poll_start(&l->poll, UV_READABLE, on_readable);
  napi_value handle;
  napi_create_object(env, &handle);
  napi_wrap(env, handle, l, listener_finalize, NULL, NULL);
  return handle;
}

// udpListen({ host, port, reusePort }, onReadable) -> handle (an object; pass it to udpRecvMany/udpClose).
static napi_value udp_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 2) {
    napi_typeof(env, args[0], &t0);
    napi_typeof(env, args[1], &t1);
  }
  if (t0 != napi_object || t1 != napi_function) return udp_throw_type(env, "expected (options, onReadable)");
  char host[HOST_LEN];
  uint32_t port = 0;
  if (!read_host_port(env, args[0], host, &port)) return udp_throw_type(env, "options.host (numeric IP) and options.port are required");
  bool reuse_port = read_bool(env, args[0], "reusePort");
  struct sockaddr_storage ss;
  socklen_t len;
  if (!to_sockaddr(host, port, &ss, &len)) return udp_throw_type(env, "options.host must be a numeric IPv4 or IPv6 address");
  int family = ss.ss_family;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return udp_fail(env, -1, "socket", host);
  if (family == AF_INET6) {
    // One socket per family: the IPv4 one gets IPv4's TPROXY'd datagrams.
    if (set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_V6ONLY");
    if (set_opt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_TRANSPARENT");
    if (set_opt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_RECVORIGDSTADDR");
  } else {
    if (set_opt(fd, SOL_IP, IP_TRANSPARENT, 1) < 0) return udp_fail(env, fd, "setsockopt", "IP_TRANSPARENT");
    if (set_opt(fd, SOL_IP, IP_RECVORIGDSTADDR, 1) < 0) return udp_fail(env, fd, "setsockopt", "IP_RECVORIGDSTADDR");
  }
  if (set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0) return udp_fail(env, fd, "setsockopt", "SO_REUSEADDR");
  // A restarting proxy binds its socket while the old one still answers.
  if (reuse_port && set_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0) return udp_fail(env, fd, "setsockopt", "SO_REUSEPORT");
  // Every pod's queries land on this one socket: a short stall of the event loop (GC) must
  // not overflow the default ~200 KiB buffer. FORCE (CAP_NET_ADMIN) passes net.core.rmem_max.
  if (set_opt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20) < 0) set_opt(fd, SOL_SOCKET, SO_RCVBUF, 4 << 20);
  if (bind(fd, (struct sockaddr*)&ss, len) < 0) return udp_fail(env, fd, "bind", host);

  return watch(env, fd, args[1], host);
}

static udp_listener_t* unwrap_listener(napi_env env, napi_value handle) {
  void* data = NULL;
  if (napi_unwrap(env, handle, &data) != napi_ok || data == NULL) return NULL;
  return (udp_listener_t*)data;
}

// Most datagrams one udpRecvMany call reads (one recvmmsg).
#define RECV_MANY_MAX 64

// udpRecvMany(handle, area, slot, meta) -> null when nothing is waiting, else the hosts of the
// datagrams read, [src0, origDst0, src1, origDst1, ...]: one recvmmsg call reads up to
// min(area.length / slot, meta.length / 4, 64) datagrams, datagram i into area at i * slot,
// with meta (an Int32Array) [length, srcPort, origDstPort, truncated] at i * 4. One call and
// one system call for a burst, rather than one of each per datagram plus one more to find the
// socket empty. A datagram longer than the slot is cut (truncated): never treat it as whole.
// No original destination (a datagram sent to the socket directly, not redirected): "". An error with nothing read is thrown; one after some datagrams
// stays queued on the socket for the next call.
static napi_value udp_recv_many(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  udp_listener_t* l = argc >= 4 ? unwrap_listener(env, args[0]) : NULL;
  if (l == NULL || l->closed) return udp_throw_type(env, "expected (an open udp handle, area, slot, meta)");
  void* area = NULL;
  size_t area_len = 0;
  bool is_buffer = false;
  napi_is_buffer(env, args[1], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, args[1], &area, &area_len) != napi_ok) return udp_throw_type(env, "area must be a Buffer");
  uint32_t slot = 0;
  if (napi_get_value_uint32(env, args[2], &slot) != napi_ok || slot == 0) return udp_throw_type(env, "slot must be a positive integer");
  bool is_typed = false;
  napi_is_typedarray(env, args[3], &is_typed);
  napi_typedarray_type meta_type;
  size_t meta_len = 0;
  void* meta_data = NULL;
  if (!is_typed || napi_get_typedarray_info(env, args[3], &meta_type, &meta_len, &meta_data, NULL, NULL) != napi_ok || meta_type != napi_int32_array)
    return udp_throw_type(env, "meta must be an Int32Array");
  int32_t* meta = (int32_t*)meta_data;
  size_t max = area_len / slot;
  if (meta_len / 4 < max) max = meta_len / 4;
  if (max > RECV_MANY_MAX) max = RECV_MANY_MAX;
  if (max == 0) return udp_throw_type(env, "area and meta must hold at least one datagram");

  struct mmsghdr msgs[RECV_MANY_MAX];
  struct iovec iovs[RECV_MANY_MAX];
  struct sockaddr_storage froms[RECV_MANY_MAX];
  char controls[RECV_MANY_MAX][128];
  memset(msgs, 0, sizeof(struct mmsghdr) * max);
  for (size_t i = 0; i < max; i++) {
    iovs[i].iov_base = (char*)area + i * slot;
    iovs[i].iov_len = slot;
    msgs[i].msg_hdr.msg_name = &froms[i];
    msgs[i].msg_hdr.msg_namelen = sizeof froms[i];
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = controls[i];
    msgs[i].msg_hdr.msg_controllen = sizeof controls[i];
  }
  int n;
  do {
    n = recvmmsg(l->fd, msgs, (unsigned int)max, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  napi_value result;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_get_null(env, &result);
      return result;
    }
    return udp_throw_errno(env, errno, "recvmmsg", "udp socket");
  }
  if (n == 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_create_array_with_length(env, (size_t)n * 2, &result);
  for (int i = 0; i < n; i++) {
    struct msghdr* msg = &msgs[i].msg_hdr;
    struct sockaddr_storage orig;
    memset(&orig, 0, sizeof orig);
    for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
      if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR && c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in)))
        memcpy(&orig, CMSG_DATA(c), sizeof(struct sockaddr_in));
      else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR && c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in6)))
        memcpy(&orig, CMSG_DATA(c), sizeof(struct sockaddr_in6));
    }
    char src_host[HOST_LEN] = "", dst_host[HOST_LEN] = "";
    uint32_t src_port = 0, dst_port = 0;
    from_sockaddr(&froms[i], src_host, &src_port);
    from_sockaddr(&orig, dst_host, &dst_port);
    meta[i * 4] = (int32_t)msgs[i].msg_len;
    meta[i * 4 + 1] = (int32_t)src_port;
    meta[i * 4 + 2] = (int32_t)dst_port;
    meta[i * 4 + 3] = (msg->msg_flags & MSG_TRUNC) != 0;
    napi_value src, dst;
    napi_create_string_latin1(env, src_host, NAPI_AUTO_LENGTH, &src);
    napi_create_string_latin1(env, dst_host, NAPI_AUTO_LENGTH, &dst);
    napi_set_element(env, result, (uint32_t)i * 2, src);
    napi_set_element(env, result, (uint32_t)i * 2 + 1, dst);
  }
  return result;
}

// udpSendConnected(handle, buffer) -> bytes sent, on a udpUpstream socket (connected to its
// resolver: no address to pass or parse per query).
static napi_value udp_send_connected(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  udp_listener_t* l = argc >= 2 ? unwrap_listener(env, args[0]) : NULL;
  if (l == NULL || l->closed) return udp_throw_type(env, "expected (an open udp handle, buffer)");
  void* data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  napi_is_buffer(env, args[1], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, args[1], &data, &length) != napi_ok) return udp_throw_type(env, "expected a Buffer");
  ssize_t sent;
  do {
    sent = send(l->fd, data, length, 0);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return udp_throw_errno(env, errno, "send", "udp upstream socket");
  napi_value result;
  napi_create_int64(env, sent, &result);
  return result;
}

// udpClose(handle): stops watching and closes the socket (once).
static napi_value udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  udp_listener_t* l = argc >= 1 ? unwrap_listener(env, arg) : NULL;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (l == NULL || l->closed) return undefined;
  l->closed = true;
  napi_remove_wrap(env, arg, NULL);
  napi_delete_reference(env, l->callback);
  napi_async_destroy(env, l->async);
  uv_poll_stop(&l->poll);
  uv_close((uv_handle_t*)&l->poll, on_poll_closed);
  return undefined;
}

// udpReplySocket({ host, port }) -> fd of an unconnected transparent UDP socket bound there.
static napi_value udp_reply_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  char host[HOST_LEN];
  uint32_t port = 0;
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, arg, &t);
  if (t != napi_object || !read_host_port(env, arg, host, &port)) return udp_throw_type(env, "expected { host, port }");
  struct sockaddr_storage ss;
  socklen_t len;
  if (!to_sockaddr(host, port, &ss, &len)) return udp_throw_type(env, "host must be a numeric IPv4 or IPv6 address");
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return udp_fail(env, -1, "socket", host);
  if (ss.ss_family == AF_INET6) {
    if (set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_V6ONLY");
    if (set_opt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_TRANSPARENT");
  } else if (set_opt(fd, SOL_IP, IP_TRANSPARENT, 1) < 0) {
    return udp_fail(env, fd, "setsockopt", "IP_TRANSPARENT");
  }
  if (set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0) return udp_fail(env, fd, "setsockopt", "SO_REUSEADDR");
  // It only sends; whatever might arrive is dropped rather than queued.
  if (set_opt(fd, SOL_SOCKET, SO_RCVBUF, 1) < 0) return udp_fail(env, fd, "setsockopt", "SO_RCVBUF");
  if (bind(fd, (struct sockaddr*)&ss, len) < 0) return udp_fail(env, fd, "bind", host);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

// sendto on fd with args (buffer, host, port) from args[first]. EAGAIN/ENOBUFS are thrown like
// any error: a DNS client retries a lost query or answer.
static napi_value send_datagram(napi_env env, int fd, napi_value* args) {
  void* data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  napi_is_buffer(env, args[0], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, args[0], &data, &length) != napi_ok) return udp_throw_type(env, "expected a Buffer");
  char host[HOST_LEN];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, args[1], host, sizeof host, &n) != napi_ok) return udp_throw_type(env, "host must be a string");
  uint32_t port = 0;
  if (napi_get_value_uint32(env, args[2], &port) != napi_ok || port > 65535) return udp_throw_type(env, "port must be 0-65535");
  struct sockaddr_storage ss;
  socklen_t len;
  if (!to_sockaddr(host, port, &ss, &len)) return udp_throw_type(env, "host must be a numeric IP address");
  ssize_t sent;
  do {
    sent = sendto(fd, data, length, 0, (struct sockaddr*)&ss, len);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return udp_throw_errno(env, errno, "sendto", host);
  napi_value result;
  napi_create_int64(env, sent, &result);
  return result;
}

// udpSendTo(fd, buffer, host, port) -> bytes sent (from a udpReplySocket).
static napi_value udp_send_to(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 4) return udp_throw_type(env, "expected (fd, buffer, host, port)");
  int32_t fd = -1;
  napi_get_value_int32(env, args[0], &fd);
  if (fd < 0) return udp_throw_type(env, "expected a descriptor");
  return send_datagram(env, fd, &args[1]);
}

// udpUpstream({ host, mark, peerHost, peerPort }, onReadable) -> handle: the DNS proxy's socket
// from one client address to one resolver. IP_TRANSPARENT (IPV6_TRANSPARENT) lets it bind the
// client's address, which is not this host's, with port 0: the kernel picks a port free on
// this host. It is then connected to the resolver, so the kernel hands it only that
// resolver's datagrams: the client's own UDP flows (in the pod's namespace, whose ports this
// host cannot see) may use the same port with any other peer, and their replies still reach
// the client. SO_MARK (the proxy's upstream mark) keeps the interception rules off its
// packets, and lets them tell the answers for it from anything else (`socket mark`).
// Answers are read with udpRecvMany (no original destination: "") and queries sent with
// udpSendConnected.
static napi_value udp_upstream(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 2) {
    napi_typeof(env, args[0], &t0);
    napi_typeof(env, args[1], &t1);
  }
  if (t0 != napi_object || t1 != napi_function) return udp_throw_type(env, "expected (options, onReadable)");
  napi_value h, m, peer;
  napi_valuetype ht = napi_undefined, mt = napi_undefined, pt = napi_undefined;
  char host[HOST_LEN], peer_host[HOST_LEN];
  uint32_t peer_port = 0;
  size_t n = 0;
  double mark = -1;
  if (napi_get_named_property(env, args[0], "host", &h) == napi_ok) napi_typeof(env, h, &ht);
  if (napi_get_named_property(env, args[0], "mark", &m) == napi_ok) napi_typeof(env, m, &mt);
  if (napi_get_named_property(env, args[0], "peer", &peer) == napi_ok) napi_typeof(env, peer, &pt);
  if (ht != napi_string || napi_get_value_string_utf8(env, h, host, HOST_LEN, &n) != napi_ok || n >= HOST_LEN - 1)
    return udp_throw_type(env, "options.host (numeric IP) is required");
  if (mt != napi_number || napi_get_value_double(env, m, &mark) != napi_ok || mark < 0 || mark > 4294967295.0 || mark != (double)(uint32_t)mark)
    return udp_throw_type(env, "options.mark must be a 32-bit unsigned integer");
  if (pt != napi_object || !read_host_port(env, peer, peer_host, &peer_port) || peer_port == 0)
    return udp_throw_type(env, "options.peer must be { host, port } (numeric IP, port 1-65535)");
  struct sockaddr_storage ss, ps;
  socklen_t len, plen;
  if (!to_sockaddr(host, 0, &ss, &len)) return udp_throw_type(env, "options.host must be a numeric IPv4 or IPv6 address");
  if (!to_sockaddr(peer_host, peer_port, &ps, &plen) || ps.ss_family != ss.ss_family)
    return udp_throw_type(env, "options.peer.host must be a numeric address of the family of options.host");
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return udp_fail(env, -1, "socket", host);
  if (ss.ss_family == AF_INET6) {
    if (set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_V6ONLY");
    if (set_opt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) < 0) return udp_fail(env, fd, "setsockopt", "IPV6_TRANSPARENT");
  } else if (set_opt(fd, SOL_IP, IP_TRANSPARENT, 1) < 0) {
    return udp_fail(env, fd, "setsockopt", "IP_TRANSPARENT");
  }
  if (mark != 0 && set_opt(fd, SOL_SOCKET, SO_MARK, (int)(uint32_t)mark) < 0) return udp_fail(env, fd, "setsockopt", "SO_MARK");
  if (bind(fd, (struct sockaddr*)&ss, len) < 0) return udp_fail(env, fd, "bind", host);
  if (connect(fd, (struct sockaddr*)&ps, plen) < 0) return udp_fail(env, fd, "connect", peer_host);
  return watch(env, fd, args[1], host);
}

// udpInfo(handle) -> { host, port, mark, transparent }: what the socket is bound to and carries.
static napi_value udp_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  udp_listener_t* l = argc >= 1 ? unwrap_listener(env, arg) : NULL;
  if (l == NULL || l->closed) return udp_throw_type(env, "expected an open udp handle");
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(l->fd, (struct sockaddr*)&ss, &len) < 0) return udp_throw_errno(env, errno, "getsockname", "udp socket");
  char host[HOST_LEN] = "";
  uint32_t port = 0;
  from_sockaddr(&ss, host, &port);
  int mark = 0, transparent = 0;
  len = sizeof mark;
  if (getsockopt(l->fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0) return udp_throw_errno(env, errno, "getsockopt", "SO_MARK");
  len = sizeof transparent;
  int rc = ss.ss_family == AF_INET6 ? getsockopt(l->fd, SOL_IPV6, IPV6_TRANSPARENT, &transparent, &len)
                                    : getsockopt(l->fd, SOL_IP, IP_TRANSPARENT, &transparent, &len);
  if (rc < 0) return udp_throw_errno(env, errno, "getsockopt", "IP_TRANSPARENT");
  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, result, "host", v);
  napi_create_uint32(env, port, &v);
  napi_set_named_property(env, result, "port", v);
  napi_create_uint32(env, (uint32_t)mark, &v);
  napi_set_named_property(env, result, "mark", v);
  napi_get_boolean(env, transparent != 0, &v);
  napi_set_named_property(env, result, "transparent", v);
  return result;
}

// Called from the module's init in transparent-socket.c.
napi_value l7proxy_init_transparent_udp(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"udpListen", NULL, udp_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpRecvMany", NULL, udp_recv_many, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSendConnected", NULL, udp_send_connected, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpClose", NULL, udp_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpReplySocket", NULL, udp_reply_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSendTo", NULL, udp_send_to, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpUpstream", NULL, udp_upstream, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpInfo", NULL, udp_info, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
