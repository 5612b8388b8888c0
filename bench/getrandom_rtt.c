/* getrandom_rtt: round-trip time of TPM2_GetRandom through a tpm2-tss TCTI (the stock client
 * path: ESAPI -> SAPI -> TCTI -> wire -> TPM -> back), one call at a time.
 *
 *   getrandom_rtt -T TCTI [-n CALLS] [-b BYTES] [-p SERVER_PID]
 *
 * Prints one line: tcti, calls, median/p99/mean in microseconds, and with -p the server's CPU
 * time per call (utime+stime from /proc/PID/stat), which is the fairer figure on a shared
 * machine: the client-side cost is identical for every TPM measured. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* utime + stime of a process, in seconds; -1 if unavailable. */
static double cpu_seconds(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may contain spaces */
  if (!p) return -1;
  unsigned long utime = 0, stime = 0;
  /* fields after ')': state(3) ... utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv) {
  const char *tcti_conf = NULL;
  int calls = 2000, bytes = 32, opt;
  long server_pid = 0;
  while ((opt = getopt(argc, argv, "T:n:b:p:h")) != -1) {
    switch (opt) {
      case 'T': tcti_conf = optarg; break;
      case 'n': calls = atoi(optarg); break;
      case 'b': bytes = atoi(optarg); break;
      case 'p': server_pid = atol(optarg); break;
      default:
        fprintf(stderr, "usage: %s -T TCTI [-n CALLS] [-b BYTES] [-p SERVER_PID]\n", argv[0]);
        return 2;
    }
  }
  if (!tcti_conf || calls < 1 || bytes < 1 || bytes > 64) {
    fprintf(stderr, "usage: %s -T TCTI [-n CALLS>=1] [-b 1..64] [-p SERVER_PID]\n", argv[0]);
    return 2;
  }

  TSS2_TCTI_CONTEXT *tcti = NULL;
  ESYS_CONTEXT *esys = NULL;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf, &tcti);
  if (rc == TSS2_RC_SUCCESS) rc = Esys_Initialize(&esys, tcti, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    fprintf(stderr, "getrandom_rtt: cannot open %s: %s\n", tcti_conf, Tss2_RC_Decode(rc));
    return 1;
  }
  rc = Esys_Startup(esys, TPM2_SU_CLEAR);
  if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
    fprintf(stderr, "getrandom_rtt: Startup: %s\n", Tss2_RC_Decode(rc));
    return 1;
  }

  double *t = calloc((size_t)calls, sizeof *t);
  double cpu0 = 0;
  for (int i = -50; i < calls; i++) { /* 50 warm-up calls */
    if (i == 0 && server_pid) cpu0 = cpu_seconds(server_pid);
    TPM2B_DIGEST *random = NULL;
    double t0 = now_us();
    rc = Esys_GetRandom(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, (UINT16)bytes, &random);
    double t1 = now_us();
    if (rc != TSS2_RC_SUCCESS || random->size != bytes) {
      fprintf(stderr, "getrandom_rtt: GetRandom: %s\n", Tss2_RC_Decode(rc));
      return 1;
    }
    Esys_Free(random);
    if (i >= 0) t[i] = t1 - t0;
  }
  double cpu1 = server_pid ? cpu_seconds(server_pid) : 0;

  qsort(t, (size_t)calls, sizeof *t, cmp_double);
  double sum = 0;
  for (int i = 0; i < calls; i++) sum += t[i];
  double median = calls % 2 ? t[calls / 2] : (t[calls / 2 - 1] + t[calls / 2]) / 2;
  int k = (int)(0.99 * calls + 0.999999);
  if (k < 1) k = 1;
  printf("tcti=%s calls=%d bytes=%d median_us=%.1f p99_us=%.1f mean_us=%.1f", tcti_conf, calls,
         bytes, median, t[k - 1], sum / calls);
  if (server_pid && cpu0 >= 0 && cpu1 >= 0)
    printf(" server_cpu_us_per_call=%.1f", (cpu1 - cpu0) * 1e6 / calls);
  printf("\n");

  Esys_Finalize(&esys);
  Tss2_TctiLdr_Finalize(&tcti);
  free(t);
  return 0;
}
