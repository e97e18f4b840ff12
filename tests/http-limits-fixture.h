/* streamsight — what the http-limits suite shares between its files: a
 * server (server-fixture.h plus http.c) on an ephemeral port of 127.0.0.1
 * with the limits a test exercises, started by start and stopped by stop
 * within the test; the requests and checks the hostile tests make on it;
 * and the TCase of test-http-limits-rules.c. One server at a time: each
 * test starts its own and stops it. */
#ifndef SS_HTTP_LIMITS_FIXTURE_H
#define SS_HTTP_LIMITS_FIXTURE_H

#include <check.h>
#include <glib.h>

#include "http-client.h"

typedef struct {
  const char *token;
  guint max_connections;        /* 0: 64 */
  guint max_connections_per_ip;
  guint header_timeout_s;
  guint min_body_bytes_per_s;
  guint64 max_body_bytes;       /* 0: 64 KiB */
} LimitsServer;

/* Starts the server with ls's limits (server-fixture.h's stack, 1
 * inference worker, 2 HTTP threads); Check-asserts that it starts. */
void start(const LimitsServer *ls);
/* Stops the server and clears its stack. */
void stop(void);
/* The running server's port. */
guint port(void);
/* One request on a new connection; raw is sent as is. out: the answer
 * (hc_answer_clear). */
void raw_request(const char *raw, HcAnswer *out);
/* GET path with extra header lines (may be NULL), Connection: close. */
void get(const char *path, const char *extra, HcAnswer *out);
/* limit_hits[name] from GET /api/v1/stats, checked against /metrics;
 * extra: header lines of both requests (the token). */
gint64 limit_hits(const char *name, const char *extra);
/* Whether the peer closed fd within ms (data read meanwhile is
 * discarded). */
gboolean closed_within(int fd, guint ms);
/* Raises RLIMIT_NOFILE to need; Check-asserts that it is there. */
void raise_fd_limit(guint need);

/* test-http-limits-rules.c */
TCase *http_limits_rules_tcase(void);

#endif
