// SPDX-License-Identifier: GPL-2.0-only
/*
 * The workload of tests/opens_live.sh: opens files whose paths are known,
 * each a case the kernel's path walk of `offsetprobe opens` must get right.
 *
 *   opens_workload BASE HOLD_MS
 *
 * In its own mount namespace (/ made private) it mounts a tmpfs on
 * BASE/priv (a private mount: the host does not see it) and bind-mounts
 * BASE/priv/a/b on BASE/bind; it makes nested directories, a deep chain of
 * 40 directories (more than the walk's 32 steps), a chain of long names
 * (more than its 4096 - 256 bytes, less than PATH_MAX), a symlink, and a
 * file it opens and unlinks. Then it prints "ready <pid>", waits for a line
 * on stdin, opens each case and prints "open <fd> <case> <expected path>"
 * (the path readlink must show, without " (deleted)"), "done", and holds
 * every fd open for HOLD_MS before it exits. Needs root (mount).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "opens_workload: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void mkdirs(const char *path) {
  char buf[PATH_MAX];

  snprintf(buf, sizeof(buf), "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    if (mkdir(buf, 0755) && errno != EEXIST)
      die(buf);
    *p = '/';
  }
  if (mkdir(buf, 0755) && errno != EEXIST)
    die(buf);
}

static void touch(const char *path) {
  int fd = open(path, O_CREAT | O_WRONLY, 0644);

  if (fd < 0)
    die(path);
  close(fd);
}

/* Opens `path` (relative to dirfd) and reports it with the path expected. */
static int report(int dirfd, const char *path, const char *name, const char *expect) {
  int fd = openat(dirfd, path, O_RDONLY);

  if (fd < 0)
    die(path);
  printf("open %d %s %s\n", fd, name, expect);
  return fd;
}

int main(int argc, char **argv) {
  char real[PATH_MAX], base[200], p[PATH_MAX], q[PATH_MAX], deep[PATH_MAX], lng[PATH_MAX],
      name[256];
  char line[16];
  int gone, dfd;

  if (argc != 3 || !realpath(argv[1], real) || strlen(real) >= sizeof(base)) {
    fprintf(stderr, "usage: opens_workload BASE HOLD_MS (BASE shorter than %zu)\n", sizeof(base));
    return 2;
  }
  strcpy(base, real);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (unshare(CLONE_NEWNS))
    die("unshare(CLONE_NEWNS)");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
    die("mount --make-rprivate /");
  snprintf(p, sizeof(p), "%s/priv", base);
  mkdirs(p);
  if (mount("tmpfs", p, "tmpfs", 0, "size=16m"))
    die("mount tmpfs");
  snprintf(p, sizeof(p), "%s/priv/a/b/c/d", base);
  mkdirs(p);
  snprintf(p, sizeof(p), "%s/priv/a/b/c/d/file1", base);
  touch(p);
  snprintf(p, sizeof(p), "%s/plain", base);
  touch(p);
  snprintf(p, sizeof(p), "%s/bind", base);
  mkdirs(p);
  snprintf(q, sizeof(q), "%s/priv/a/b", base);
  if (mount(q, p, NULL, MS_BIND, NULL))
    die("mount --bind");
  snprintf(p, sizeof(p), "%s/priv/link", base);
  if (symlink("a/b/c/d/file1", p))
    die("symlink");
  snprintf(p, sizeof(p), "%s/priv/gone", base);
  touch(p);
  gone = open(p, O_RDONLY);
  if (gone < 0 || unlink(p))
    die("gone");
  /* 40 directories: more steps than the walk takes (OP_WALK_MAX_STEPS). */
  snprintf(deep, sizeof(deep), "%s/priv/deep", base);
  for (int i = 0; i < 40; i++)
    snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "/d%02d", i);
  mkdirs(deep);
  strcat(deep, "/file");
  touch(deep);
  /* 15 names of 250 bytes and one of 120: past the walk's bytes
   * (OP_WALK_BYTES - OP_NAME_MAX), within PATH_MAX. Made step by step:
   * the whole path is longer than mkdir's argument may be. */
  snprintf(lng, sizeof(lng), "%s/priv/long", base);
  mkdirs(lng);
  dfd = open(lng, O_PATH | O_DIRECTORY);
  memset(name, 'x', 250);
  name[250] = 0;
  for (int i = 0; i < 15; i++) {
    int next;

    name[0] = 'a' + i;
    if (mkdirat(dfd, name, 0755))
      die("mkdirat long");
    next = openat(dfd, name, O_PATH | O_DIRECTORY);
    if (next < 0)
      die("openat long");
    close(dfd);
    dfd = next;
    snprintf(lng + strlen(lng), sizeof(lng) - strlen(lng), "/%s", name);
  }
  memset(name, 'f', 120);
  name[120] = 0;
  close(openat(dfd, name, O_CREAT | O_WRONLY, 0644));
  snprintf(lng + strlen(lng), sizeof(lng) - strlen(lng), "/%s", name);

  printf("ready %d\n", getpid());
  if (!fgets(line, sizeof(line), stdin))
    return 1;
  snprintf(p, sizeof(p), "%s/priv/a/b/c/d/file1", base);
  report(AT_FDCWD, p, "nested", p);
  snprintf(q, sizeof(q), "%s/plain", base);
  report(AT_FDCWD, q, "plain", q);
  snprintf(q, sizeof(q), "%s/bind/c/d/file1", base);
  report(AT_FDCWD, q, "bind", q);
  snprintf(q, sizeof(q), "%s/priv/link", base);
  report(AT_FDCWD, q, "symlink", p);
  snprintf(q, sizeof(q), "/proc/self/fd/%d", gone);
  snprintf(p, sizeof(p), "%s/priv/gone", base);
  report(AT_FDCWD, q, "deleted", p);
  report(AT_FDCWD, deep, "deep", deep);
  report(dfd, name, "long", lng);
  printf("done\n");
  struct timespec ts = {atoi(argv[2]) / 1000, (atoi(argv[2]) % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  return 0;
}
