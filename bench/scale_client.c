// Closed-loop load for bench/scale.py: one connection per TPM instance, each with one command
// outstanding at a time (a TPM client waits for its response), all driven from one poll() loop
// so the client costs little CPU beside the servers. Prints "ops min max" (total completed
// commands and the fewest/most of one instance) after DURATION seconds.
//
//   scale_client mssim|raw getrandom|pcrextend DURATION PORT...
// mssim: the Microsoft simulator framing (utpmd --instance port=); raw: the raw TPM stream
// (swtpm --server). A TPM2_Startup(CLEAR) goes first on every connection (its rc is ignored).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 1024
static int mssim;
static uint8_t cmd[256];
static size_t cmd_len;
static uint8_t startup_cmd[12] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0};

struct conn {
  int fd;
  uint8_t buf[8192];
  size_t have;
  long ops;
  int started;
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void put32(uint8_t* p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static uint32_t get32(const uint8_t* p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void send_cmd(struct conn* c, const uint8_t* tpm, size_t n) {
  uint8_t out[300];
  size_t len = 0;
  if (mssim) {
    put32(out, 8);
    out[4] = 0;
    put32(out + 5, (uint32_t)n);
    len = 9;
  }
  memcpy(out + len, tpm, n);
  len += n;
  if (write(c->fd, out, len) != (ssize_t)len) { perror("write"); exit(1); }
  c->have = 0;
}

// Whole response received?
static int complete(struct conn* c) {
  if (mssim) {
    if (c->have < 4) return 0;
    return c->have >= 4 + get32(c->buf) + 4;
  }
  if (c->have < 10) return 0;
  return c->have >= get32(c->buf + 2);
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s mssim|raw getrandom|pcrextend DURATION PORT...\n", argv[0]);
    return 2;
  }
  mssim = strcmp(argv[1], "mssim") == 0;
  if (strcmp(argv[2], "getrandom") == 0) {
    static const uint8_t gr[] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 16};
    memcpy(cmd, gr, sizeof gr);
    cmd_len = sizeof gr;
  } else {  // PCR_Extend(16, sha256 = 32 x 0x5a), password session
    static const uint8_t head[] = {0x80, 0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x82, 0, 0, 0, 16,
                                   0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0,
                                   0, 0, 0, 1, 0, 0x0B};
    memcpy(cmd, head, sizeof head);
    memset(cmd + sizeof head, 0x5a, 32);
    cmd_len = sizeof head + 32;
    put32(cmd + 2, (uint32_t)cmd_len);
  }
  const double duration = atof(argv[3]);
  int n = argc - 4;
  if (n > MAXC) n = MAXC;
  static struct conn cs[MAXC];
  static struct pollfd pf[MAXC];
  for (int i = 0; i < n; i++) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(argv[4 + i]));
    a.sin_addr.s_addr = htonl(0x7f000001);
    cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(cs[i].fd, (struct sockaddr*)&a, sizeof a) != 0) { perror("connect"); return 1; }
    int one = 1;
    setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    send_cmd(&cs[i], startup_cmd, sizeof startup_cmd);
  }
  double start = 0, end = 1e300;
  int started = 0;
  for (;;) {
    for (int i = 0; i < n; i++) pf[i] = (struct pollfd){cs[i].fd, POLLIN, 0};
    if (poll(pf, n, 1000) < 0) { perror("poll"); return 1; }
    const double t = now();
    if (started == n && t >= end) break;
    for (int i = 0; i < n; i++) {
      if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      struct conn* c = &cs[i];
      ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
      if (r <= 0) { fprintf(stderr, "connection %d (port %s) lost\n", i, argv[4 + i]); return 1; }
      c->have += (size_t)r;
      if (!complete(c)) continue;
      if (!c->started) {
        c->started = 1;
        if (++started == n) { start = now(); end = start + duration; for (int k = 0; k < n; k++) cs[k].ops = 0; }
      } else {
        const uint8_t* rsp = c->buf + (mssim ? 4 : 0);
        if (get32(rsp + 6) != 0) { fprintf(stderr, "rc %#x on port %s\n", get32(rsp + 6), argv[4 + i]); return 1; }
        c->ops++;
      }
      send_cmd(c, cmd, cmd_len);
    }
  }
  const double took = now() - start;
  long total = 0, mn = -1, mx = 0;
  for (int i = 0; i < n; i++) {
    total += cs[i].ops;
    if (mn < 0 || cs[i].ops < mn) mn = cs[i].ops;
    if (cs[i].ops > mx) mx = cs[i].ops;
  }
  printf("%ld %ld %ld %.3f\n", total, mn, mx, took);
  return 0;
}
