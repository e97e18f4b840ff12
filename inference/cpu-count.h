/* streamsight — how many CPUs this process may use: the default number of
 * inference workers. Online CPUs, fewer when the affinity mask (taskset,
 * docker --cpuset-cpus) or a cgroup CPU quota (docker --cpus, Kubernetes CPU
 * limits) allows fewer: one worker per online CPU of a 64-core host inside a
 * 2-CPU container only adds threads that wait for the quota. */
#ifndef SS_CPU_COUNT_H
#define SS_CPU_COUNT_H

/* >= 1. Reads sysconf, sched_getaffinity and the cgroup files of
 * /proc/self/cgroup (v1 cpu controller or v2 cpu.max). */
int cpu_count_usable(void);

/* The quota in whole CPUs, rounded up, from the text of a cgroup v2 cpu.max
 * ("150000 100000" -> 2); 0 for "max ..." (no limit) or unparsable text. */
int cpu_quota_from_cgroup2(const char *cpu_max);

/* The same from cgroup v1's cpu.cfs_quota_us and cpu.cfs_period_us texts;
 * 0 for a quota of -1 (no limit) or unparsable text. */
int cpu_quota_from_cgroup1(const char *quota_us, const char *period_us);

/* The smallest quota that the cgroups listed in proc_cgroup (the format of
 * /proc/self/cgroup) set under sysfs_root (normally /sys/fs/cgroup: v2's
 * cpu.max, v1's cpu or cpu,cpuacct controller), in whole CPUs rounded up;
 * 0 for none. Exposed for tests, which give it a tree of their own. */
int cpu_quota_from_cgroup_files(const char *proc_cgroup,
                                const char *sysfs_root);

#endif
