/* streamsight — the process's own figures from /proc and getrusage (resident
 * memory, open descriptors, threads, CPU time) for /api/v1/stats and
 * /metrics.
 *
 * /proc is read at most every PROCESS_SAMPLE_US, so that a stats or
 * metrics poller at thousands of requests per second does not spend its
 * time there. Any thread.
 */
#ifndef SS_PROCESS_SAMPLE_H
#define SS_PROCESS_SAMPLE_H

#include <glib.h>

G_BEGIN_DECLS

#define PROCESS_SAMPLE_US (G_USEC_PER_SEC / 2)

typedef struct {
  gint64 taken_us;    /* monotonic; 0 = never */
  guint64 rss_bytes;  /* 0 if unavailable */
  int open_fds;       /* -1 if unavailable */
  int threads;        /* -1 if unavailable */
} ProcessSample;

typedef struct ProcessSampler ProcessSampler;

ProcessSampler *process_sampler_new(void);
void process_sampler_free(ProcessSampler *s); /* NULL is allowed */

/* The last sample when it is younger than PROCESS_SAMPLE_US, else a new
 * one. Any thread. */
void process_sampler_get(ProcessSampler *s, ProcessSample *out);

G_END_DECLS

#endif
