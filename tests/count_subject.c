// SPDX-License-Identifier: GPL-2.0-only
/*
 * A process that makes an exact number of syscalls, for the counting probe's
 * tests and benchmark.
 *
 *   count_subject NR CALLS THREADS
 *
 * Starts THREADS threads (0: the main thread makes the calls), prints
 * "ready\n", waits for one byte on stdin, then each calling thread makes
 * syscall(NR) CALLS times. Prints "done <ns>\n" (the wall time of the
 * calls), then waits for stdin to close before it exits, so that its
 * /proc/<pid>/stat can be read while it lives. No other call of NR is made
 * (NR must not be one that libc's start-up or pthreads use).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long nr;
static long calls;
static pthread_barrier_t go;

static void make_calls(void)
{
  for (long i = 0; i < calls; i++)
    syscall(nr, 0L, 0L, 0L);
}

static void *worker(void *arg)
{
  (void)arg;
  pthread_barrier_wait(&go);
  make_calls();
  return NULL;
}

static long long now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
  pthread_t tids[64];
  long threads;
  long long t0;
  char c;

  if (argc != 4) {
    fprintf(stderr, "usage: %s NR CALLS THREADS\n", argv[0]);
    return 2;
  }
  nr = atol(argv[1]);
  calls = atol(argv[2]);
  threads = atol(argv[3]);
  if (threads < 0 || threads > 64)
    return 2;
  pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
  for (long i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, worker, NULL))
      return 1;
  printf("ready\n");
  fflush(stdout);
  if (read(0, &c, 1) != 1)
    return 1;
  t0 = now_ns();
  if (threads == 0) {
    make_calls();
  } else {
    pthread_barrier_wait(&go);
    for (long i = 0; i < threads; i++)
      pthread_join(tids[i], NULL);
  }
  printf("done %lld\n", now_ns() - t0);
  fflush(stdout);
  while (read(0, &c, 1) > 0)
    ;
  return 0;
}
