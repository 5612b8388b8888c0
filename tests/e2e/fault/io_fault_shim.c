/* Test-only LD_PRELOAD shim (issue 14, tests/e2e/io_fault_test.py): makes the store's writes
 * fail on demand, to check what utpmd does when its files stop accepting data mid-commit.
 * Never linked into a product.
 *
 * UTPM_FAULT_FILE names a control file. While it exists and holds "N ERRNO" (ERRNO a number,
 * e.g. 5 for EIO, 28 for ENOSPC), the first N calls of pwrite/pwrite64/fsync/fdatasync pass and
 * every later one fails with ERRNO, without touching the file. Removing the control file
 * lifts the fault (the count starts again when it reappears). Calls are counted on regular
 * files only, so sockets and pipes are never affected. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned long g_calls; /* calls seen while the control file exists */

/* 0: let the call through; otherwise the errno to fail it with. */
static int fault_for(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  const char* path = getenv("UTPM_FAULT_FILE");
  if (!path) return 0;
  FILE* f = fopen(path, "r");
  if (!f) {
    g_calls = 0;
    return 0;
  }
  unsigned long pass = 0;
  int err = 0;
  int n = fscanf(f, "%lu %d", &pass, &err);
  fclose(f);
  if (n != 2 || err <= 0) return 0;
  return g_calls++ < pass ? 0 : err;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  int e = fault_for(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return REAL("pwrite", ssize_t (*)(int, const void*, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  int e = fault_for(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return REAL("pwrite64", ssize_t (*)(int, const void*, size_t, off_t))(fd, buf, n, off);
}

int fsync(int fd) {
  int e = fault_for(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return REAL("fsync", int (*)(int))(fd);
}

int fdatasync(int fd) {
  int e = fault_for(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return REAL("fdatasync", int (*)(int))(fd);
}
