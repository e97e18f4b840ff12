/* streamsight — usable CPU count (see cpu-count.h). */
#define _GNU_SOURCE
#include "cpu-count.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parses a whole decimal integer (surrounding whitespace allowed). */
static int
parse_ll(const char *s, long long *out)
{
  char *end;
  if (!s)
    return 0;
  long long v = strtoll(s, &end, 10);
  if (end == s)
    return 0;
  while (*end == ' ' || *end == '\n' || *end == '\t')
    end++;
  if (*end != '\0')
    return 0;
  *out = v;
  return 1;
}

static int
quota_cpus(long long quota, long long period)
{
  if (quota <= 0 || period <= 0)
    return 0;
  long long n = (quota + period - 1) / period;
  return n > INT_MAX ? INT_MAX : (int)n;
}

int
cpu_quota_from_cgroup2(const char *cpu_max)
{
  char quota[32], period[32];
  long long q, p;
  if (!cpu_max || sscanf(cpu_max, "%31s %31s", quota, period) != 2)
    return 0;
  if (strcmp(quota, "max") == 0)
    return 0;
  if (!parse_ll(quota, &q) || !parse_ll(period, &p))
    return 0;
  return quota_cpus(q, p);
}

int
cpu_quota_from_cgroup1(const char *quota_us, const char *period_us)
{
  long long q, p;
  if (!parse_ll(quota_us, &q) || !parse_ll(period_us, &p))
    return 0;
  return quota_cpus(q, p);
}

/* First line of a small file into buf; 0 when it cannot be read. */
static int
read_line(const char *path, char *buf, size_t size)
{
  FILE *f = fopen(path, "re");
  if (!f)
    return 0;
  int ok = fgets(buf, (int)size, f) != NULL;
  fclose(f);
  return ok;
}

/* Keeps the smaller positive limit. */
static void
take_min(int *limit, int n)
{
  if (n > 0 && (*limit == 0 || n < *limit))
    *limit = n;
}

static void
v2_limit(const char *dir, int *limit)
{
  char path[PATH_MAX], text[128];
  if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path)
    return;
  if (read_line(path, text, sizeof text))
    take_min(limit, cpu_quota_from_cgroup2(text));
}

static void
v1_limit(const char *dir, int *limit)
{
  char path[PATH_MAX], quota[64], period[64];
  if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >=
          (int)sizeof path ||
      !read_line(path, quota, sizeof quota))
    return;
  if (snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir) >=
          (int)sizeof path ||
      !read_line(path, period, sizeof period))
    return;
  take_min(limit, cpu_quota_from_cgroup1(quota, period));
}

/* Looks at the cgroup that the proc file names and at the mount's root:
 * inside a container with its own cgroup namespace the two are the same;
 * without one (cgroup v1 Docker) the path names the host's hierarchy and the
 * container's limit is at the root of what is mounted. Ancestors further up
 * are not read. */
int
cpu_quota_from_cgroup_files(const char *proc_cgroup, const char *sysfs_root)
{
  FILE *f = fopen(proc_cgroup, "re");
  if (!f)
    return 0;
  int limit = 0;
  char line[1024], dir[PATH_MAX];
  while (fgets(line, sizeof line, f)) {
    /* "ID:CONTROLLERS:PATH" */
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    char *path = c2 + 1;
    path[strcspn(path, "\n")] = '\0';
    *c1 = '\0';
    *c2 = '\0';
    const char *controllers = c1 + 1;
    if (strcmp(line, "0") == 0 && *controllers == '\0') {
      if (snprintf(dir, sizeof dir, "%s%s", sysfs_root, path) <
          (int)sizeof dir)
        v2_limit(dir, &limit);
      v2_limit(sysfs_root, &limit);
      continue;
    }
    /* v1: the cpu controller, alone or co-mounted (with cpuacct), in the
     * directory named after the mounted list, which distributions also
     * link as "cpu". */
    char list[256];
    snprintf(list, sizeof list, ",%s,", controllers);
    if (!strstr(list, ",cpu,"))
      continue;
    const char *mounts[] = { controllers, "cpu" };
    size_t n_mounts = strcmp(controllers, "cpu") == 0 ? 1 : 2;
    for (size_t i = 0; i < n_mounts; i++) {
      char mount[PATH_MAX];
      if (snprintf(mount, sizeof mount, "%s/%s", sysfs_root, mounts[i]) >=
          (int)sizeof mount)
        continue;
      if (snprintf(dir, sizeof dir, "%s%s", mount, path) < (int)sizeof dir)
        v1_limit(dir, &limit);
      v1_limit(mount, &limit);
    }
  }
  fclose(f);
  return limit;
}

int
cpu_count_usable(void)
{
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int n = online > 0 ? (online > INT_MAX ? INT_MAX : (int)online) : 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int allowed = CPU_COUNT(&set);
    if (allowed > 0 && allowed < n)
      n = allowed;
  }
  int quota = cpu_quota_from_cgroup_files("/proc/self/cgroup",
                                          "/sys/fs/cgroup");
  if (quota > 0 && quota < n)
    n = quota;
  return n;
}
