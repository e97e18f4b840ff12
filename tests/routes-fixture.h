/* streamsight — what the test-routes*.c suites share: one server stack
 * without sockets (server-fixture.h: tiny random-weight MobileNetV2 0.35/96,
 * a real registry, test: streams) made by the Check fixtures below, and the
 * requests and waits the tests make on it. Check forks a process per test,
 * so the one fixture fx is each test's own. */
#ifndef SS_ROUTES_FIXTURE_H
#define SS_ROUTES_FIXTURE_H

#include <glib.h>
#include <jansson.h>

#include "server-fixture.h"

#define TOKEN "t0ken-For-tests_1"
#define AUTH "Bearer " TOKEN
#define MAX_STREAMS 4
#define BODY_LIMIT 4096
/* A frame of a test: stream reaches the model within a second; the margin
 * covers a loaded 2-core machine. */
#define PREDICTION_TIMEOUT_S 20.0

/* The stack of the running test: set up by setup* and torn down by
 * teardown (tcase_add_checked_fixture). */
extern ServerFixture fx;

/* Two inference workers, no token. */
void setup(void);
/* One worker, token TOKEN. */
void setup_auth(void);
void teardown(void);

/* A request with a body (NULL: none); *j (may be NULL) the parsed answer
 * (json_decref). Returns the status. */
guint req(const char *method, const char *path, const char *body, json_t **j);
/* A request with everything settable; resp (may be NULL) keeps the whole
 * answer (route_response_clear). */
guint req_full(const char *method, const char *path, const RouteParam *query,
               guint n_query, const void *body, gsize body_len,
               const char *content_type, const char *authorization,
               json_t **j, RouteResponse *resp);
/* Checks the error shape {"error": {"code", "message"}} (exactly) and the
 * code; returns the message (borrowed from j). */
const char *check_error(json_t *j, const char *code);
/* POSTs a stream, checking 201 and Location; returns its id (new string). */
char *create(const char *body);

/* Waits (up to PREDICTION_TIMEOUT_S, else fails the test) until the stream
 * shows state running with a frame size. */
void wait_running(const char *id);
/* The stream's first prediction (json_decref), failing the test without
 * one within PREDICTION_TIMEOUT_S. */
json_t *wait_prediction(const char *id);
/* Polls the history until it holds at least n predictions. */
void wait_history(const char *id, int n);

#endif
