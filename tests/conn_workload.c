// SPDX-License-Identifier: GPL-2.0-only
/*
 * A workload of known TCP connections for tests/conn_live.sh: run it in a
 * fresh network namespace (unshare -n). It brings lo up, forks a server
 * process, and makes 2 * N connections from the parent (client), over
 * 127.0.0.1 and ::1 in turn: client sends A bytes, server answers B; the
 * last connection of each family is "long" (held HOLD_MS and a second
 * exchange). Both sides close cleanly (shutdown, EOF both ways) and wait
 * until the socket is in CLOSE, so the TCP_INFO they print is final: the
 * values the kernel had when the socket moved to CLOSE.
 *
 * Output, one line per socket (each process writes its own):
 *   sock ROLE PID START_TICKS NETNS FAMILY LOCAL LPORT REMOTE RPORT SENT RECEIVED
 *        BYTES_RECEIVED BYTES_ACKED SEGS_IN SEGS_OUT RTT TOTAL_RETRANS LONG
 * Usage: conn_workload SEED N HOLD_MS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* glibc's tcp_info lacks tcpi_bytes_received and the rest */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
  fprintf(stderr, "conn_workload: %s: %s\n", what, strerror(errno));
  exit(1);
}

static unsigned long long start_ticks(void)
{
  char buf[1024], *p;
  unsigned long long v = 0;
  FILE *f = fopen("/proc/self/stat", "r");
  int i;

  if (!f || !fgets(buf, sizeof(buf), f))
    die("/proc/self/stat");
  fclose(f);
  p = strrchr(buf, ')');
  /* field 22: after ") ", fields 3.. follow; skip 19 of them */
  for (i = 0, p += 2; i < 19; i++)
    p = strchr(p, ' ') + 1;
  sscanf(p, "%llu", &v);
  return v;
}

static void lo_up(void)
{
  struct ifreq ifr = {0};
  int s = socket(AF_INET, SOCK_DGRAM, 0);

  strcpy(ifr.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
    die("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
    die("SIOCSIFFLAGS lo");
  close(s);
}

static void xfer(int fd, size_t n, int out)
{
  static char buf[65536];

  while (n) {
    size_t k = n < sizeof(buf) ? n : sizeof(buf);
    ssize_t r = out ? write(fd, buf, k) : read(fd, buf, k);

    if (r <= 0)
      die(out ? "write" : "read (short)");
    n -= (size_t)r;
  }
}

static void wait_eof(int fd)
{
  char c;
  ssize_t r = read(fd, &c, 1);

  if (r != 0)
    die("read: want EOF");
}

struct ends {
  char family[8];
  char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
  int lport, rport;
};

static void addr_text(const struct sockaddr_storage *a, char *out, int *port)
{
  if (a->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, INET6_ADDRSTRLEN);
    *port = ntohs(((const struct sockaddr_in *)a)->sin_port);
  } else {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out, INET6_ADDRSTRLEN);
    *port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
  }
}

/* Both ends of a connected socket (a closed one has no peer any more). */
static void ends_of(int fd, struct ends *e)
{
  struct sockaddr_storage l, r;
  socklen_t ll = sizeof(l), rl = sizeof(r);

  if (getsockname(fd, (struct sockaddr *)&l, &ll) || getpeername(fd, (struct sockaddr *)&r, &rl))
    die("getsockname/getpeername");
  strcpy(e->family, l.ss_family == AF_INET ? "ipv4" : "ipv6");
  addr_text(&l, e->local, &e->lport);
  addr_text(&r, e->remote, &e->rport);
}

/* Waits until the socket is in CLOSE (its final move), then prints it. */
static void report(int fd, const char *role, unsigned long netns, const struct ends *e, size_t sent,
                   size_t received, int is_long)
{
  struct tcp_info ti;
  socklen_t len;
  int i;

  for (i = 0; i < 5000; i++) {
    len = sizeof(ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
      die("TCP_INFO");
    if (ti.tcpi_state == 7 /* TCP_CLOSE */)
      break;
    usleep(1000);
  }
  if (ti.tcpi_state != 7) {
    fprintf(stderr, "conn_workload: %s socket not in CLOSE after 5 s (state %u)\n", role,
            ti.tcpi_state);
    exit(1);
  }
  printf("sock %s %d %llu %lu %s %s %d %s %d %zu %zu %llu %llu %u %u %u %u %d\n", role, getpid(),
         start_ticks(), netns, e->family, e->local, e->lport, e->remote, e->rport, sent, received,
         (unsigned long long)ti.tcpi_bytes_received, (unsigned long long)ti.tcpi_bytes_acked,
         ti.tcpi_segs_in, ti.tcpi_segs_out, ti.tcpi_rtt, ti.tcpi_total_retrans, is_long);
  fflush(stdout);
}

/* Connection i: sizes from the seed; the last of each family is long. */
static size_t size_a(unsigned seed, int i)
{
  return 1 + (seed * 2654435761u + i * 40503u) % 200000;
}
static size_t size_b(unsigned seed, int i)
{
  return 1 + (seed * 2246822519u + i * 69069u) % 300000;
}

static int listener(int family)
{
  int s = socket(family, SOCK_STREAM, 0);
  struct sockaddr_storage a = {0};
  socklen_t al;

  if (s < 0)
    die("socket");
  if (family == AF_INET) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a;

    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    al = sizeof(*v4);
  } else {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;

    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_loopback;
    al = sizeof(*v6);
  }
  if (bind(s, (struct sockaddr *)&a, al) || listen(s, 16))
    die("bind/listen");
  return s;
}

static int connect_to(int lsn)
{
  struct sockaddr_storage a;
  socklen_t al = sizeof(a);
  int c;

  if (getsockname(lsn, (struct sockaddr *)&a, &al))
    die("getsockname listener");
  c = socket(a.ss_family, SOCK_STREAM, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&a, al))
    die("connect");
  return c;
}

int main(int argc, char **argv)
{
  unsigned seed;
  int n, hold_ms, i, lsn[2], total;
  unsigned long netns;
  struct stat st;
  pid_t server;

  if (argc != 4) {
    fprintf(stderr, "usage: conn_workload SEED N HOLD_MS\n");
    return 2;
  }
  seed = (unsigned)strtoul(argv[1], NULL, 10);
  n = atoi(argv[2]);
  hold_ms = atoi(argv[3]);
  total = 2 * n;
  lo_up();
  if (stat("/proc/self/ns/net", &st))
    die("stat /proc/self/ns/net");
  netns = (unsigned long)st.st_ino;
  lsn[0] = listener(AF_INET);
  lsn[1] = listener(AF_INET6);
  server = fork();
  if (server < 0)
    die("fork");
  for (i = 0; i < total; i++) {
    int fam = i % 2, is_long = i >= total - 2, rounds = is_long ? 2 : 1, r;
    size_t a = size_a(seed, i), b = size_b(seed, i);
    struct ends e;

    if (server == 0) {
      int s = accept(lsn[fam], NULL, NULL);

      if (s < 0)
        die("accept");
      ends_of(s, &e);
      for (r = 0; r < rounds; r++) {
        xfer(s, a, 0);
        xfer(s, b, 1);
      }
      wait_eof(s);
      if (shutdown(s, SHUT_WR))
        die("shutdown");
      report(s, "server", netns, &e, rounds * b, rounds * a, is_long);
      close(s);
    } else {
      int c = connect_to(lsn[fam]);

      ends_of(c, &e);
      for (r = 0; r < rounds; r++) {
        if (r)
          usleep(hold_ms * 1000);
        xfer(c, a, 1);
        xfer(c, b, 0);
      }
      if (shutdown(c, SHUT_WR))
        die("shutdown");
      wait_eof(c);
      report(c, "client", netns, &e, rounds * a, rounds * b, is_long);
      close(c);
    }
  }
  if (server == 0)
    return 0;
  {
    int status;

    if (waitpid(server, &status, 0) != server || !WIFEXITED(status) || WEXITSTATUS(status))
      return 1;
  }
  return 0;
}
