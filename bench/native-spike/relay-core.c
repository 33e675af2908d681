// SPIKE, not shipped (issue 15 §3): a relay core in C with its own epoll thread, and the
// policy decision still in JavaScript. It measures what the bytes would cost if Node's
// sockets, streams and per-chunk callbacks were out of the data path, with JavaScript still
// parsing every request head and deciding it.
//
// The epoll thread accepts, connects to the upstream, reads client bytes and finds each
// request head (CRLF CRLF). A complete head is queued for JavaScript; many heads (from any
// connections) are delivered in one call (a thread-safe function wakes the main thread once
// per batch, and JavaScript takes the whole batch). JavaScript answers with one call carrying
// the verdicts of the batch; an eventfd wakes the epoll thread, which forwards allowed heads
// to the upstream and answers denied ones with a 403. Responses are relayed in C untouched.
//
// Limits of the spike (fine for the benchmark's GET traffic, not for production): request
// bodies are not framed (a head is assumed to carry no body), one head per connection is
// with JavaScript at a time (pipelined heads wait their turn), responses are not parsed.
// With `decide: false` every head is forwarded without asking JavaScript: the C floor.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define BUF_SIZE 65536
#define MAX_HEAD 16384

static const char DENIED[] =
    "HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\ncontent-type: text/plain\r\n\r\nAccess denied\r\n";

typedef struct side {
  int fd;
  struct conn* conn;
  bool is_client;
  uint32_t armed;  // the events epoll watches now: epoll_ctl only when they change
} side_t;

typedef struct conn {
  uint32_t gen;
  side_t client, upstream;
  bool up_connected, waiting_verdict, closed;
  // Client bytes not yet forwarded (the head being decided, and anything after it).
  char in[MAX_HEAD];
  size_t in_len, head_len;
  // Bytes waiting for the upstream / the client to become writable.
  char* to_up;
  size_t to_up_len;
  char* to_cli;
  size_t to_cli_len;
} conn_t;

static int epfd = -1, listen_fd = -1, wake_fd = -1;
static struct sockaddr_storage upstream_addr;
static socklen_t upstream_len;
static bool decide = true, transparent = false;
static conn_t* conns[MAX_FDS];
static uint32_t next_gen = 1;
static side_t listen_side = {.fd = -1};
static side_t wake_side = {.fd = -1};

// C -> JS: packed [u32 fd][u32 gen][u32 len][len bytes] records.
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static char* ev_buf;
static size_t ev_len, ev_cap;
static atomic_bool ev_notified;
static napi_threadsafe_function tsfn;

// JS -> C: [fd, gen, allow] triples.
static pthread_mutex_t vd_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t* vd_buf;
static size_t vd_len, vd_cap;

static atomic_ullong st_heads, st_batches, st_verdict_calls, st_accepts;

static void arm(side_t* s, uint32_t events, int op) {
  if (op == EPOLL_CTL_MOD && s->armed == events) return;
  s->armed = events;
  struct epoll_event ev = {.events = events, .data.ptr = s};
  epoll_ctl(epfd, op, s->fd, &ev);
}

static void conn_close(conn_t* c) {
  if (c->closed) return;
  c->closed = true;
  conns[c->client.fd] = NULL;
  close(c->client.fd);
  if (c->upstream.fd >= 0) close(c->upstream.fd);
  free(c->to_up);
  free(c->to_cli);
  free(c);
}

// Writes what it can; keeps the rest (caller arms EPOLLOUT). Returns false on a fatal error.
static bool send_or_keep(int fd, const char* data, size_t len, char** keep, size_t* keep_len) {
  if (*keep_len == 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN) return false;
      n = 0;
    }
    data += n;
    len -= (size_t)n;
    if (len == 0) return true;
  }
  *keep = realloc(*keep, *keep_len + len);
  memcpy(*keep + *keep_len, data, len);
  *keep_len += len;
  return true;
}

static void update_interest(conn_t* c) {
  // Backpressure: stop reading a side while the other side has bytes waiting for it.
  uint32_t cev = (c->to_cli_len > 0 ? EPOLLOUT : 0) | (c->to_up_len == 0 && !c->waiting_verdict ? EPOLLIN : 0);
  uint32_t uev = (c->to_up_len > 0 || !c->up_connected ? EPOLLOUT : 0) | (c->to_cli_len == 0 ? EPOLLIN : 0);
  arm(&c->client, cev, EPOLL_CTL_MOD);
  arm(&c->upstream, uev, EPOLL_CTL_MOD);
}

static void queue_head(conn_t* c) {
  uint32_t rec[3] = {(uint32_t)c->client.fd, c->gen, (uint32_t)c->head_len};
  pthread_mutex_lock(&ev_lock);
  if (ev_len + sizeof rec + c->head_len > ev_cap) {
    ev_cap = (ev_len + sizeof rec + c->head_len) * 2;
    ev_buf = realloc(ev_buf, ev_cap);
  }
  memcpy(ev_buf + ev_len, rec, sizeof rec);
  memcpy(ev_buf + ev_len + sizeof rec, c->in, c->head_len);
  ev_len += sizeof rec + c->head_len;
  pthread_mutex_unlock(&ev_lock);
  atomic_fetch_add(&st_heads, 1);
  // One wake-up per batch: the main thread takes everything queued until it runs.
  if (!atomic_exchange(&ev_notified, true)) napi_call_threadsafe_function(tsfn, NULL, napi_tsfn_nonblocking);
}

static bool forward_head(conn_t* c, bool allow);

// Finds the next complete head in c->in; asks JS (or forwards at once without decisions).
static bool next_head(conn_t* c) {
  while (!c->waiting_verdict && c->in_len >= 4) {
    char* end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) return c->in_len < MAX_HEAD;  // too large a head: close
    c->head_len = (size_t)(end - c->in) + 4;
    if (decide) {
      c->waiting_verdict = true;
      queue_head(c);
    } else if (!forward_head(c, true)) {
      return false;
    }
  }
  return true;
}

static bool forward_head(conn_t* c, bool allow) {
  bool ok = allow ? send_or_keep(c->upstream.fd, c->in, c->head_len, &c->to_up, &c->to_up_len)
                  : send_or_keep(c->client.fd, DENIED, sizeof DENIED - 1, &c->to_cli, &c->to_cli_len);
  memmove(c->in, c->in + c->head_len, c->in_len - c->head_len);
  c->in_len -= c->head_len;
  c->head_len = 0;
  c->waiting_verdict = false;
  return ok;
}

static void on_accept(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    atomic_fetch_add(&st_accepts, 1);
    if (fd >= MAX_FDS) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage dst;
    socklen_t dst_len = sizeof dst;
    if (transparent) {
      // TPROXY keeps the original destination as the accepted socket's local address.
      getsockname(fd, (struct sockaddr*)&dst, &dst_len);
    } else {
      dst = upstream_addr;
      dst_len = upstream_len;
    }
    int ufd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ufd < 0 || (connect(ufd, (struct sockaddr*)&dst, dst_len) < 0 && errno != EINPROGRESS)) {
      if (ufd >= 0) close(ufd);
      close(fd);
      continue;
    }
    conn_t* c = calloc(1, sizeof *c);
    c->gen = next_gen++;
    c->client = (side_t){.fd = fd, .conn = c, .is_client = true};
    c->upstream = (side_t){.fd = ufd, .conn = c, .is_client = false};
    conns[fd] = c;
    arm(&c->client, EPOLLIN, EPOLL_CTL_ADD);
    arm(&c->upstream, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
  }
}

static bool on_client(conn_t* c, uint32_t events) {
  if (events & EPOLLOUT && c->to_cli_len > 0) {
    ssize_t n = send(c->client.fd, c->to_cli, c->to_cli_len, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return false;
    if (n > 0) {
      memmove(c->to_cli, c->to_cli + n, c->to_cli_len - (size_t)n);
      c->to_cli_len -= (size_t)n;
    }
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) && !c->waiting_verdict && c->to_up_len == 0) {
    ssize_t n = recv(c->client.fd, c->in + c->in_len, MAX_HEAD - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
    if (n > 0) {
      c->in_len += (size_t)n;
      if (!next_head(c)) return false;
    }
  }
  return true;
}

static bool on_upstream(conn_t* c, uint32_t events) {
  if (events & EPOLLOUT) {
    if (!c->up_connected) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return false;
      c->up_connected = true;
    }
    if (c->to_up_len > 0) {
      ssize_t n = send(c->upstream.fd, c->to_up, c->to_up_len, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) {
        memmove(c->to_up, c->to_up + n, c->to_up_len - (size_t)n);
        c->to_up_len -= (size_t)n;
      }
    }
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) && c->to_cli_len == 0) {
    static char buf[BUF_SIZE];
    ssize_t n = recv(c->upstream.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
    if (n > 0 && !send_or_keep(c->client.fd, buf, (size_t)n, &c->to_cli, &c->to_cli_len)) return false;
  }
  return true;
}

static void on_verdicts(void) {
  uint64_t count;
  if (read(wake_fd, &count, sizeof count) < 0) return;
  pthread_mutex_lock(&vd_lock);
  uint32_t* v = vd_buf;
  size_t n = vd_len;
  vd_buf = NULL;
  vd_len = vd_cap = 0;
  pthread_mutex_unlock(&vd_lock);
  for (size_t i = 0; i + 2 < n; i += 3) {
    uint32_t fd = v[i], gen = v[i + 1], allow = v[i + 2];
    conn_t* c = fd < MAX_FDS ? conns[fd] : NULL;
    if (c == NULL || c->gen != gen || !c->waiting_verdict) continue;  // closed meanwhile
    if (!forward_head(c, allow != 0) || !next_head(c)) {
      conn_close(c);
      continue;
    }
    update_interest(c);
  }
  free(v);
}

static void* loop(void* arg) {
  (void)arg;
  struct epoll_event events[512];
  for (;;) {
    int n = epoll_wait(epfd, events, 512, -1);
    for (int i = 0; i < n; i++) {
      side_t* s = events[i].data.ptr;
      if (s == &listen_side) {
        on_accept();
        continue;
      }
      if (s == &wake_side) {
        on_verdicts();
        continue;
      }
      conn_t* c = s->conn;
      if (c->closed) continue;
      bool ok = s->is_client ? on_client(c, events[i].events) : on_upstream(c, events[i].events);
      if (!ok) conn_close(c);
      else update_interest(c);
    }
  }
  return NULL;
}

// --- JavaScript side ---

static void call_js(napi_env env, napi_value js_cb, void* context, void* data) {
  (void)context;
  (void)data;
  if (env == NULL) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_cb, 0, NULL, NULL);
}

// takeHeads() -> Buffer of packed records (possibly empty). Re-arms the wake-up first, so a
// head queued while JavaScript works wakes it again.
static napi_value take_heads(napi_env env, napi_callback_info info) {
  (void)info;
  atomic_store(&ev_notified, false);
  pthread_mutex_lock(&ev_lock);
  napi_value out;
  void* data;
  napi_create_buffer_copy(env, ev_len, ev_buf, &data, &out);
  ev_len = 0;
  pthread_mutex_unlock(&ev_lock);
  atomic_fetch_add(&st_batches, 1);
  return out;
}

// verdicts(Uint32Array [fd, gen, allow, ...]): one call per batch.
static napi_value verdicts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_get_typedarray_info(env, arg, &type, &length, &data, NULL, NULL);
  if (type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "expected a Uint32Array");
    return NULL;
  }
  pthread_mutex_lock(&vd_lock);
  if (vd_len + length > vd_cap) {
    vd_cap = (vd_len + length) * 2;
    vd_buf = realloc(vd_buf, vd_cap * sizeof *vd_buf);
  }
  memcpy(vd_buf + vd_len, data, length * sizeof *vd_buf);
  vd_len += length;
  pthread_mutex_unlock(&vd_lock);
  uint64_t one = 1;
  if (write(wake_fd, &one, sizeof one) < 0) { /* the counter saturates only if never read */ }
  atomic_fetch_add(&st_verdict_calls, 1);
  return NULL;
}

static bool parse_addr(const char* host, uint32_t port, struct sockaddr_storage* out, socklen_t* len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in* v4 = (struct sockaddr_in*)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return true;
  }
  return false;
}

static void get_str(napi_env env, napi_value obj, const char* name, char* buf, size_t size) {
  napi_value v;
  buf[0] = 0;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_string_utf8(env, v, buf, size, NULL);
}

static uint32_t get_u32(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  uint32_t out = 0;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_uint32(env, v, &out);
  return out;
}

static bool get_flag(napi_env env, napi_value obj, const char* name, bool dflt) {
  napi_value v;
  bool out = dflt;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok && napi_typeof(env, v, &t) == napi_ok && t == napi_boolean)
    napi_get_value_bool(env, v, &out);
  return out;
}

// start({ host, port, upstreamHost, upstreamPort, transparent, decide }, onHeads)
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[64], up_host[64];
  get_str(env, argv[0], "host", host, sizeof host);
  get_str(env, argv[0], "upstreamHost", up_host, sizeof up_host);
  uint32_t port = get_u32(env, argv[0], "port"), up_port = get_u32(env, argv[0], "upstreamPort");
  transparent = get_flag(env, argv[0], "transparent", false);
  decide = get_flag(env, argv[0], "decide", true);
  struct sockaddr_storage addr;
  socklen_t addr_len;
  if (!parse_addr(host, port, &addr, &addr_len) || (!transparent && !parse_addr(up_host, up_port, &upstream_addr, &upstream_len))) {
    napi_throw_error(env, NULL, "bad address (IPv4 only in the spike)");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "relay-spike", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &tsfn);
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (transparent) setsockopt(listen_fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one);
  if (bind(listen_fd, (struct sockaddr*)&addr, addr_len) < 0 || listen(listen_fd, 65535) < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  listen_side.fd = listen_fd;
  wake_side.fd = wake_fd;
  arm(&listen_side, EPOLLIN, EPOLL_CTL_ADD);
  arm(&wake_side, EPOLLIN, EPOLL_CTL_ADD);
  pthread_t thread;
  pthread_create(&thread, NULL, loop, NULL);
  pthread_detach(thread);
  return NULL;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  napi_create_object(env, &out);
  const char* names[] = {"heads", "batches", "verdictCalls", "accepts"};
  unsigned long long values[] = {atomic_load(&st_heads), atomic_load(&st_batches), atomic_load(&st_verdict_calls), atomic_load(&st_accepts)};
  for (int i = 0; i < 4; i++) {
    napi_create_double(env, (double)values[i], &v);
    napi_set_named_property(env, out, names[i], v);
  }
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"takeHeads", NULL, take_heads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"verdicts", NULL, verdicts, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
