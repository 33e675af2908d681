// Diagnosis client for the many-connections tail (docs/performance.md, "One accept per
// event-loop turn"): closed loop like `wrk -t1 -cN` (every connection opened at once, each
// sends its next GET as soon as the previous answer is complete), but it records every request,
// so one can tell which connections wait and for which request. Not part of `npm run bench`.
//
//   gcc -O2 -Wall -o /tmp/conn-latency bench/load/loadgen/conn-latency.c
//   ip netns exec CLIENT_NS /tmp/conn-latency HOST PORT CONNECTIONS SECONDS PATH OUT
//
// OUT, one record a line (times in microseconds of CLOCK_MONOTONIC, which a proxy's
// process.hrtime() shares, so its own timestamps can be joined by client port):
//   T t0                                   the first connect()
//   C conn start connect_us requests port  per connection: connect() at t0+start, handshake
//                                          time, requests answered, local port
//   R conn seq start latency_us            per answer: its request was written at t0+start
// Responses must carry Content-Length (nginx's static files do); no chunked, no pipelining.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int connected;
  uint64_t t_conn_start, t_connected, t_req;
  int seq;
  char buf[8192];
  int have;
  int lport;
} conn_t;

typedef struct { int conn, seq; uint64_t start, lat; } rec_t;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char req[512];
static int reqlen;

static int send_req(conn_t *c) {
  c->t_req = now_us();
  ssize_t n = write(c->fd, req, reqlen);
  return n == reqlen ? 0 : -1;
}

// Returns the length of one complete response at the start of buf, 0 if incomplete.
static int response_len(const char *b, int n) {
  const char *e = memmem(b, n, "\r\n\r\n", 4);
  if (e == NULL) return 0;
  int head = (int)(e - b) + 4;
  const char *cl = memmem(b, head, "Content-Length:", 15);
  if (cl == NULL) cl = memmem(b, head, "content-length:", 15);
  long body = cl ? strtol(cl + 15, NULL, 10) : 0;
  if (head + body > n) return 0;
  return head + (int)body;
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: conn-latency HOST PORT CONNECTIONS SECONDS PATH OUT\n"); return 2; }
  const char *host = argv[1];
  int port = atoi(argv[2]), nconn = atoi(argv[3]);
  double secs = atof(argv[4]);
  reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", argv[5], host, port);
  size_t cap = 4000000, nrec = 0;
  rec_t *recs = malloc(cap * sizeof *recs);
  conn_t *cs = calloc(nconn, sizeof *cs);
  int ep = epoll_create1(0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  uint64_t t0 = now_us();
  for (int i = 0; i < nconn; i++) {
    conn_t *c = &cs[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->t_conn_start = now_us();
    connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  uint64_t end = t0 + (uint64_t)(secs * 1e6);
  struct epoll_event evs[1024];
  long errors = 0;
  while (now_us() < end) {
    int n = epoll_wait(ep, evs, 1024, 100);
    for (int k = 0; k < n; k++) {
      conn_t *c = &cs[evs[k].data.u32];
      if (c->fd < 0) continue;
      if (!c->connected) {
        int err = 0; socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (evs[k].events & (EPOLLERR | EPOLLHUP))) { errors++; close(c->fd); c->fd = -1; continue; }
        if (!(evs[k].events & EPOLLOUT)) continue;
        c->connected = 1;
        c->t_connected = now_us();
        { struct sockaddr_in la; socklen_t ll = sizeof la; getsockname(c->fd, (struct sockaddr *)&la, &ll); c->lport = ntohs(la.sin_port); }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        if (send_req(c) < 0) { errors++; close(c->fd); c->fd = -1; }
        continue;
      }
      ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
      if (r <= 0) { if (r < 0 && errno == EAGAIN) continue; errors++; close(c->fd); c->fd = -1; continue; }
      c->have += r;
      int len;
      while ((len = response_len(c->buf, c->have)) > 0) {
        uint64_t t = now_us();
        if (nrec < cap) recs[nrec++] = (rec_t){evs[k].data.u32, c->seq, c->t_req - t0, t - c->t_req};
        c->seq++;
        memmove(c->buf, c->buf + len, c->have - len);
        c->have -= len;
        if (t < end && send_req(c) < 0) { errors++; close(c->fd); c->fd = -1; break; }
      }
    }
  }
  FILE *f = fopen(argv[6], "w");
  fprintf(f, "T %lu\n", (unsigned long)t0);
  for (int i = 0; i < nconn; i++)
    fprintf(f, "C %d %lu %lu %d %d\n", i, (unsigned long)(cs[i].t_conn_start - t0),
            (unsigned long)(cs[i].connected ? cs[i].t_connected - cs[i].t_conn_start : 0), cs[i].seq, cs[i].lport);
  for (size_t i = 0; i < nrec; i++)
    fprintf(f, "R %d %d %lu %lu\n", recs[i].conn, recs[i].seq, (unsigned long)recs[i].start, (unsigned long)recs[i].lat);
  fclose(f);
  fprintf(stderr, "requests %zu errors %ld rps %.0f\n", nrec, errors, nrec / secs);
  return 0;
}
