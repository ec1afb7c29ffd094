/*
 * flushlat: the guest side of bench/flush. N times: pwrite 4 KiB to a block
 * device (or file), then fsync it; prints the latency percentiles in ns.
 * Built static on the host (gcc), copied into the guest's initramfs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: flushlat DEVICE COUNT\n"); return 2; }
  int n = atoi(argv[2]);
  int fd = open(argv[1], O_RDWR);
  if (fd < 0 || n <= 0) { perror(argv[1]); return 1; }
  static char buf[4096];
  long long *lat = calloc(n, sizeof *lat);
  for (int i = 0; i < n; i++) {
    memset(buf, i & 0xff, sizeof buf);
    long long t0 = now_ns();
    if (pwrite(fd, buf, sizeof buf, (off_t)(i % 256) * 4096) != sizeof buf || fsync(fd) != 0) { perror("write/fsync"); return 1; }
    lat[i] = now_ns() - t0;
  }
  qsort(lat, n, sizeof *lat, cmp);
  long long sum = 0;
  for (int i = 0; i < n; i++) sum += lat[i];
  printf("FLUSHLAT n=%d p50=%lld p99=%lld min=%lld max=%lld mean=%lld\n", n, lat[n / 2], lat[(n * 99) / 100], lat[0], lat[n - 1], sum / n);
  return 0;
}
