#include "process-sample.h"

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

struct ProcessSampler {
  GMutex lock;
  ProcessSample last; /* protected by lock */
};

/* Resident set size in bytes from /proc/self/statm, 0 if unavailable. */
static guint64
process_rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "re");
  if (!f)
    return 0;
  unsigned long size = 0, resident = 0;
  int n = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  return n == 2 && page > 0 ? (guint64)resident * (guint64)page : 0;
}

/* Open file descriptors (entries of /proc/self/fd, minus the one reading
 * it), -1 if unavailable. */
static int
process_open_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

/* Threads of the process from /proc/self/status, -1 if unavailable. */
static int
process_threads(void)
{
  FILE *f = fopen("/proc/self/status", "re");
  if (!f)
    return -1;
  char line[256];
  int n = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1)
      break;
  fclose(f);
  return n;
}

ProcessSampler *
process_sampler_new(void)
{
  ProcessSampler *s = g_new0(ProcessSampler, 1);
  g_mutex_init(&s->lock);
  return s;
}

void
process_sampler_free(ProcessSampler *s)
{
  if (!s)
    return;
  g_mutex_clear(&s->lock);
  g_free(s);
}

void
process_sampler_get(ProcessSampler *s, ProcessSample *out)
{
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&s->lock);
  gboolean fresh = s->last.taken_us &&
                   now - s->last.taken_us < PROCESS_SAMPLE_US;
  *out = s->last;
  g_mutex_unlock(&s->lock);
  if (fresh)
    return;
  /* Read outside the lock: two threads may both sample, which costs a few
   * syscalls and is harmless. */
  ProcessSample n = {
    .taken_us = now,
    .rss_bytes = process_rss_bytes(),
    .open_fds = process_open_fds(),
    .threads = process_threads(),
  };
  g_mutex_lock(&s->lock);
  s->last = n;
  g_mutex_unlock(&s->lock);
  *out = n;
}
