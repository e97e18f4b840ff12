/* Sharding for real (issue 14): replicas of the built binary on 127.0.0.1,
 * each on its own port, all reading one config of 12 test streams.
 *
 *   1. Three replicas (K/3; one takes K from HOSTNAME=streamsight-2 with
 *      STREAMSIGHT_SHARDS=3, as a StatefulSet pod does): every stream is
 *      served by exactly one of them, the one the hash in shard.h names,
 *      and runs there; each lists the others' streams as other_shard.
 *      A stream POSTed to the wrong replica is refused (409 wrong_shard
 *      naming the right one), without an id too (400); an id of another
 *      shard is a 404 that names the shard; the shared file is not written.
 *   2. Four replicas (N grown to 4, as a StatefulSet rolled out with one
 *      more replica): the streams that moved are exactly those the hash
 *      gives the new shard (rendezvous hashing promises about a quarter),
 *      none moved between two old shards.
 *   3. A sharded replica refuses a config stream without an id.
 *   4. A camera password from the environment (${NAME} in the camera list,
 *      as the Kubernetes Secret provides it): the camera is tried, the
 *      password shows nowhere; unset, the replica does not start.
 *   5. The probes of the Kubernetes manifests: `streamsight healthcheck`
 *      carries STREAMSIGHT_TOKEN to the routes behind it (/readyz).
 *
 * Needs the shared data's smallest model (skips without it).
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child-process.h"
#include "shard.h"
#include "testutil.h"

#define N_STREAMS 12
#define MAX_REPLICAS 4

typedef struct {
  Child child;
  guint port;
} Replica;

static char model[1024];
static const char *exe;

static const char *
stream_id(guint i)
{
  static char ids[N_STREAMS][16];
  g_snprintf(ids[i], sizeof ids[i], "cam-%02u", i + 1);
  return ids[i];
}

/* One config of N_STREAMS cheap test streams (a black frame, 1 fps of
 * inference), as a ConfigMap would hold it. */
static char *
write_config(const char *dir)
{
  GString *t = g_string_new("{\"streams\": [\n");
  for (guint i = 0; i < N_STREAMS; i++)
    g_string_append_printf(t, "  {\"id\": \"%s\", \"name\": \"camera %u\", "
                           "\"uri\": \"test:\", \"pattern\": \"black\", "
                           "\"max_fps\": 1}%s\n", stream_id(i), i + 1,
                           i + 1 < N_STREAMS ? "," : "");
  g_string_append(t, "]}\n");
  char *path = g_build_filename(dir, "streamsight.json", NULL);
  ck_assert(g_file_set_contents(path, t->str, -1, NULL));
  g_string_free(t, TRUE);
  return path;
}

static char **
base_env(void)
{
  char **env = g_get_environ();
  static const char *const unset[] = {
    "STREAMSIGHT_CONFIG", "STREAMSIGHT_PORT", "STREAMSIGHT_BIND",
    "STREAMSIGHT_TOKEN", "STREAMSIGHT_SHARD", "STREAMSIGHT_SHARDS",
    "HOSTNAME",
  };
  for (guint i = 0; i < G_N_ELEMENTS(unset); i++)
    env = g_environ_unsetenv(env, unset[i]);
  env = g_environ_setenv(env, "STREAMSIGHT_MODEL", model, TRUE);
  env = g_environ_setenv(env, "STREAMSIGHT_THREADS", "1", TRUE);
  return env;
}

/* Starts the server argv (env borrowed, output to log) and waits up to
 * 60 s for its port; failing that, kills it and fails the test with the
 * log's tail. */
static void
replica_spawn(Replica *r, char **argv, char **env, const char *log,
              const char *what)
{
  ck_assert(child_spawn(&r->child, argv, env, log));
  r->port = wait_listening(&r->child, 60);
  if (!r->port) {
    g_autofree char *tail = child_log_tail(&r->child);
    child_finish(&r->child, SIGKILL, 5);
    ck_abort_msg("%s did not start:\n%s", what, tail);
  }
}

/* Starts replica k of n on config. The last replica of each set takes its
 * index from HOSTNAME, as in a StatefulSet. */
static void
replica_start(Replica *r, guint k, guint n, const char *config,
              const char *dir)
{
  char **env = base_env();
  if (k == n - 1) {
    g_autofree char *shards = g_strdup_printf("%u", n);
    g_autofree char *host = g_strdup_printf("streamsight-%u", k);
    env = g_environ_setenv(env, "STREAMSIGHT_SHARDS", shards, TRUE);
    env = g_environ_setenv(env, "HOSTNAME", host, TRUE);
  } else {
    g_autofree char *kn = g_strdup_printf("%u/%u", k, n);
    env = g_environ_setenv(env, "STREAMSIGHT_SHARD", kn, TRUE);
  }
  g_autofree char *log = g_strdup_printf("%s/replica-%u-of-%u.log", dir, k,
                                         n);
  char *argv[] = { (char *)exe, "serve", "--config", (char *)config,
                   "--port", "0", NULL };
  g_autofree char *what = g_strdup_printf("replica %u/%u", k, n);
  replica_spawn(r, argv, env, log, what);
  g_strfreev(env);
}

static void
replica_stop(Replica *r)
{
  int rc = child_finish(&r->child, SIGTERM, 30);
  g_autofree char *tail = child_log_tail(&r->child);
  ck_assert_msg(rc == 0, "exit %d:\n%s", rc, tail);
  child_clear(&r->child);
}

static json_t *
get_json(guint port, const char *target, int want_status)
{
  int status = 0;
  g_autofree char *body = NULL;
  ck_assert_msg(http_request(port, "GET", target, NULL, &status, &body),
                "GET %s: no answer", target);
  ck_assert_msg(status == want_status, "GET %s: %d %s", target, status,
                body);
  json_error_t je;
  json_t *v = json_loads(body, 0, &je);
  ck_assert_msg(v != NULL, "GET %s: not JSON: %s", target, body);
  return v;
}

/* What each test starts with: exe and model set, and a new directory
 * (prefix-XXXXXX, g_free). NULL (after a SKIP line) without the built
 * binary or the shared data's model. */
static char *
test_start(const char *prefix)
{
  exe = getenv("SS_STREAMSIGHT_EXE");
  if (!exe || !*exe) {
    printf("SKIP: SS_STREAMSIGHT_EXE is not set (run through meson test)\n");
    return NULL;
  }
  if (!tu_data_path("models/mobilenet_v1_0.25_128_quant.tflite", model,
                    sizeof model))
    return NULL;
  g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
  char *dir = g_build_filename(tu_tmp_dir(), tmpl, NULL);
  ck_assert_ptr_nonnull(g_mkdtemp(dir));
  return dir;
}

/* Runs argv (env borrowed, output to log) to its end, up to timeout_s;
 * its exit status (child_finish). tail (may be NULL): the log's last
 * lines (g_free). */
static int
run_to_exit(char **argv, char **env, const char *log, double timeout_s,
            char **tail)
{
  Child c;
  ck_assert(child_spawn(&c, argv, env, log));
  int rc = child_finish(&c, 0, timeout_s);
  if (tail)
    *tail = child_log_tail(&c);
  child_clear(&c);
  return rc;
}

/* Asks every replica which streams it serves: owner[i] is the replica that
 * serves stream i. Checks each stream is served exactly once, by the
 * replica the hash names, that it reaches running there (waiting up to
 * 90 s), and that each replica lists the rest as other_shard. */
static void
collect_owners(Replica *reps, guint n, guint owner[N_STREAMS])
{
  gint64 deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
  for (;;) {
    guint served[N_STREAMS] = { 0 };
    guint running = 0;
    for (guint k = 0; k < n; k++) {
      json_t *v = get_json(reps[k].port, "/api/v1/streams", 200);
      json_t *sh = json_object_get(v, "shard");
      ck_assert_msg(json_is_object(sh), "replica %u: no shard object", k);
      ck_assert_int_eq(json_integer_value(json_object_get(sh, "index")), k);
      ck_assert_int_eq(json_integer_value(json_object_get(sh, "count")), n);
      json_t *streams = json_object_get(v, "streams");
      json_t *others = json_object_get(v, "other_shard_streams");
      ck_assert_uint_eq(json_array_size(streams) + json_array_size(others),
                        N_STREAMS);
      size_t i;
      json_t *s;
      json_array_foreach(streams, i, s) {
        const char *id = json_string_value(json_object_get(s, "id"));
        ck_assert_ptr_nonnull(id);
        ck_assert_msg(shard_owner(id, n) == k, "replica %u/%u serves %s, "
                      "which the hash gives to %u", k, n, id,
                      shard_owner(id, n));
        guint idx = (guint)atoi(id + 4) - 1;
        ck_assert_uint_lt(idx, N_STREAMS);
        served[idx]++;
        owner[idx] = k;
        const char *state = json_string_value(json_object_get(s, "state"));
        if (state && strcmp(state, "running") == 0)
          running++;
      }
      json_array_foreach(others, i, s) {
        const char *id = json_string_value(json_object_get(s, "id"));
        ck_assert_ptr_nonnull(id);
        guint says = (guint)json_integer_value(json_object_get(s, "shard"));
        ck_assert_msg(says == shard_owner(id, n) && says != k,
                      "replica %u/%u lists %s on shard %u", k, n, id, says);
        ck_assert_str_eq(json_string_value(json_object_get(s, "state")),
                         "other_shard");
        ck_assert(json_is_false(json_object_get(s, "served_here")));
      }
      json_decref(v);
    }
    for (guint i = 0; i < N_STREAMS; i++)
      ck_assert_msg(served[i] == 1, "N=%u: %s served %u times", n,
                    stream_id(i), served[i]);
    if (running == N_STREAMS)
      break;
    ck_assert_msg(g_get_monotonic_time() < deadline, "N=%u: only %u of %u "
                  "streams running after 90 s", n, running, N_STREAMS);
    g_usleep(G_USEC_PER_SEC / 2);
  }
  for (guint k = 0; k < n; k++) {
    GString *ids = g_string_new(NULL);
    for (guint i = 0; i < N_STREAMS; i++)
      if (owner[i] == k)
        g_string_append_printf(ids, " %s", stream_id(i));
    printf("N=%u replica %u serves%s\n", n, k, ids->str);
    g_string_free(ids, TRUE);
  }
}

/* What the API says about streams sent to the wrong replica. */
static void
check_wrong_replica(Replica *reps, const char *config)
{
  g_autofree char *before = NULL;
  ck_assert(g_file_get_contents(config, &before, NULL, NULL));
  /* An id of replica 1's, sent to replica 0. */
  const char *theirs = NULL;
  for (guint i = 0; i < N_STREAMS && !theirs; i++)
    if (shard_owner(stream_id(i), 3) == 1)
      theirs = stream_id(i);
  ck_assert_ptr_nonnull(theirs);
  int status = 0;
  g_autofree char *body = NULL;
  g_autofree char *post = g_strdup_printf(
      "{\"id\": \"%s\", \"name\": \"again\", \"uri\": \"test:\"}", theirs);
  ck_assert(http_request(reps[0].port, "POST", "/api/v1/streams", post,
                         &status, &body));
  ck_assert_msg(status == 409 && strstr(body, "\"wrong_shard\"") &&
                    strstr(body, "belongs to shard 1 of 3"),
                "POST %s to shard 0: %d %s", theirs, status, body);
  g_clear_pointer(&body, g_free);
  g_autofree char *target = g_strdup_printf("/api/v1/streams/%s", theirs);
  json_t *v = get_json(reps[0].port, target, 404);
  const char *msg = json_string_value(
      json_object_get(json_object_get(v, "error"), "message"));
  ck_assert_msg(msg && strstr(msg, "belongs to shard 1 of 3"), "%s", msg);
  json_decref(v);

  /* Without an id the replica cannot know whose it is. */
  ck_assert(http_request(reps[0].port, "POST", "/api/v1/streams",
                         "{\"name\": \"no id\", \"uri\": \"test:\"}", &status,
                         &body));
  ck_assert_msg(status == 400 && strstr(body, "id: required"), "%d %s",
                status, body);
  g_clear_pointer(&body, g_free);

  /* An id that hashes to replica 0 is taken there, at run time only. */
  char mine[32] = "";
  for (guint i = 0; !mine[0]; i++) {
    g_snprintf(mine, sizeof mine, "extra-%u", i);
    if (shard_owner(mine, 3) != 0)
      mine[0] = '\0';
  }
  g_autofree char *post2 = g_strdup_printf(
      "{\"id\": \"%s\", \"name\": \"extra\", \"uri\": \"test:\", "
      "\"pattern\": \"black\", \"max_fps\": 1}", mine);
  ck_assert(http_request(reps[0].port, "POST", "/api/v1/streams", post2,
                         &status, &body));
  ck_assert_msg(status == 201, "POST %s to shard 0: %d %s", mine, status,
                body);
  g_clear_pointer(&body, g_free);
  g_autofree char *mine_target = g_strdup_printf("/api/v1/streams/%s", mine);
  ck_assert(http_request(reps[0].port, "DELETE", mine_target, NULL, &status,
                         NULL));
  ck_assert_int_eq(status, 204);

  /* Which replica this is, for Prometheus and /api/v1/stats. */
  v = get_json(reps[0].port, "/api/v1/streams", 200);
  g_autofree char *others = g_strdup_printf(
      "\nstreamsight_shard_other_streams %zu\n",
      json_array_size(json_object_get(v, "other_shard_streams")));
  json_decref(v);
  ck_assert(http_request(reps[0].port, "GET", "/metrics", NULL, &status,
                         &body));
  ck_assert_int_eq(status, 200);
  ck_assert_msg(strstr(body, "\nstreamsight_shard_index 0\n") &&
                    strstr(body, "\nstreamsight_shard_count 3\n") &&
                    strstr(body, others),
                "%s", body);
  g_clear_pointer(&body, g_free);
  v = get_json(reps[1].port, "/api/v1/stats", 200);
  json_t *sh = json_object_get(v, "shard");
  ck_assert_int_eq(json_integer_value(json_object_get(sh, "index")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(sh, "count")), 3);
  json_decref(v);

  /* The shared camera list is read, never written by a replica. */
  g_autofree char *after = NULL;
  ck_assert(g_file_get_contents(config, &after, NULL, NULL));
  ck_assert_str_eq(before, after);
}

START_TEST(test_three_then_four)
{
  g_autofree char *dir = test_start("sharding");
  if (!dir)
    return;
  g_autofree char *config = write_config(dir);
  Replica reps[MAX_REPLICAS];
  guint owner3[N_STREAMS], owner4[N_STREAMS];

  for (guint k = 0; k < 3; k++)
    replica_start(&reps[k], k, 3, config, dir);
  collect_owners(reps, 3, owner3);
  check_wrong_replica(reps, config);
  for (guint k = 0; k < 3; k++)
    replica_stop(&reps[k]);

  for (guint k = 0; k < 4; k++)
    replica_start(&reps[k], k, 4, config, dir);
  collect_owners(reps, 4, owner4);
  for (guint k = 0; k < 4; k++)
    replica_stop(&reps[k]);

  guint moved = 0, predicted = 0;
  GString *names = g_string_new(NULL);
  for (guint i = 0; i < N_STREAMS; i++) {
    gboolean hash_moves = shard_owner(stream_id(i), 3) !=
                          shard_owner(stream_id(i), 4);
    predicted += hash_moves;
    if (owner3[i] == owner4[i])
      continue;
    moved++;
    g_string_append_printf(names, " %s (%u -> %u)", stream_id(i), owner3[i],
                           owner4[i]);
    ck_assert_msg(hash_moves, "%s moved but the hash keeps it", stream_id(i));
    ck_assert_msg(owner4[i] == 3, "%s moved between old shards %u -> %u",
                  stream_id(i), owner3[i], owner4[i]);
  }
  printf("N 3 -> 4: %u of %d streams moved:%s (the hash predicts %u; "
         "rendezvous hashing promises about %d/4 = %.1f)\n", moved,
         N_STREAMS, names->str, predicted, N_STREAMS, N_STREAMS / 4.0);
  g_string_free(names, TRUE);
  ck_assert_uint_eq(moved, predicted);
  ck_assert_uint_gt(moved, 0);
  ck_assert_uint_lt(moved, N_STREAMS / 2);
}
END_TEST

/* A config stream without an id cannot be placed: a clear start-up error. */
START_TEST(test_id_required)
{
  g_autofree char *dir = test_start("sharding");
  if (!dir)
    return;
  g_autofree char *config = g_build_filename(dir, "c.json", NULL);
  ck_assert(g_file_set_contents(
      config, "{\"streams\": [{\"id\": \"a\", \"name\": \"a\", \"uri\": "
      "\"test:\"}, {\"name\": \"b\", \"uri\": \"test:\"}]}", -1, NULL));
  g_autofree char *log = g_build_filename(dir, "log", NULL);
  char **env = base_env();
  env = g_environ_setenv(env, "STREAMSIGHT_SHARD", "0/2", TRUE);
  char *argv[] = { (char *)exe, "serve", "--config", config, "--port", "0",
                   NULL };
  g_autofree char *tail = NULL;
  int rc = run_to_exit(argv, env, log, 60, &tail);
  g_strfreev(env);
  ck_assert_msg(rc == 2 && strstr(tail, "streams[1].id: required when "
                                        "sharded"), "exit %d:\n%s", rc, tail);

  /* --check-config says the same without loading the model. */
  char *check_argv[] = { (char *)exe, "serve", "--check-config", "--config",
                         config, NULL };
  env = base_env();
  env = g_environ_setenv(env, "STREAMSIGHT_SHARD", "0/2", TRUE);
  env = g_environ_setenv(env, "STREAMSIGHT_MODEL", "/nonexistent.tflite",
                         TRUE);
  g_free(tail);
  rc = run_to_exit(check_argv, env, log, 60, &tail);
  ck_assert_msg(rc == 2 && strstr(tail, "streams[1].id: required when "
                                        "sharded"), "exit %d:\n%s", rc, tail);
  ck_assert(g_file_set_contents(
      config, "{\"streams\": [{\"id\": \"a\", \"name\": \"a\", \"uri\": "
      "\"test:\"}, {\"id\": \"door\", \"name\": \"b\", \"uri\": "
      "\"test:\"}]}", -1, NULL));
  g_free(tail);
  rc = run_to_exit(check_argv, env, log, 60, &tail);
  g_strfreev(env);
  /* "a" and "door" (shard 1 of 2, test-shard.c's known answers). */
  g_autofree char *want = g_strdup_printf(
      "shard 0 of 2: %u here, %u on other shards",
      (shard_owner("a", 2) == 0) + (shard_owner("door", 2) == 0),
      (shard_owner("a", 2) == 1) + (shard_owner("door", 2) == 1));
  ck_assert_msg(rc == 0 && strstr(tail, "config OK") && strstr(tail, want),
                "exit %d, want '%s':\n%s", rc, want, tail);

  /* A bad STREAMSIGHT_SHARD is named too. */
  env = base_env();
  env = g_environ_setenv(env, "STREAMSIGHT_SHARD", "2/2", TRUE);
  g_free(tail);
  rc = run_to_exit(argv, env, log, 60, &tail);
  g_strfreev(env);
  ck_assert_msg(rc == 2 && strstr(tail, "STREAMSIGHT_SHARD: must be K/N"),
                "exit %d:\n%s", rc, tail);
}
END_TEST

/* A camera password from the environment (a Kubernetes Secret's key), as
 * ${NAME} in the shared camera list: the replica starts and tries the
 * camera (test-config checks the exact URI it expands to), and the
 * password shows nowhere (API, log, file); unset, the replica refuses to
 * start, naming the variable. */
START_TEST(test_password_from_environment)
{
  g_autofree char *dir = test_start("secret");
  if (!dir)
    return;
  g_autofree char *config = g_build_filename(dir, "c.json", NULL);
  /* Port 1 on loopback: refused at once, the stream backs off. */
  ck_assert(g_file_set_contents(
      config, "{\"streams\": [{\"id\": \"door\", \"name\": \"door\", "
      "\"uri\": \"rtsp://viewer:${CAM_DOOR_PASSWORD}@127.0.0.1:1/live\"}]}",
      -1, NULL));
  g_autofree char *log = g_build_filename(dir, "log", NULL);
  char *argv[] = { (char *)exe, "serve", "--config", config, "--port", "0",
                   NULL };

  char **env = base_env();
  env = g_environ_setenv(env, "STREAMSIGHT_SHARD", "0/1", TRUE);
  g_autofree char *tail = NULL;
  int rc = run_to_exit(argv, env, log, 60, &tail);
  ck_assert_msg(rc == 2 && strstr(tail, "streams[0].uri: "
                                        "${CAM_DOOR_PASSWORD} is not set"),
                "exit %d:\n%s", rc, tail);

  env = g_environ_setenv(env, "CAM_DOOR_PASSWORD", "SEKRIT@pw", TRUE);
  env = g_environ_setenv(env, "G_MESSAGES_DEBUG", "all", TRUE);
  Replica r;
  replica_spawn(&r, argv, env, log, "the server");
  g_strfreev(env);
  /* Wait for a failed attempt (the camera was asked). */
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  for (;;) {
    json_t *v = get_json(r.port, "/api/v1/streams/door", 200);
    const char *uri = json_string_value(json_object_get(v, "uri"));
    ck_assert_str_eq(uri, "rtsp://***@127.0.0.1:1/live");
    gboolean failed = json_integer_value(json_object_get(
                          json_object_get(v, "counters"), "errors")) > 0 ||
                      json_is_string(json_object_get(v, "last_error"));
    json_decref(v);
    if (failed)
      break;
    ck_assert_msg(g_get_monotonic_time() < deadline, "no attempt in 60 s");
    g_usleep(G_USEC_PER_SEC / 2);
  }
  int status = 0;
  g_autofree char *list = NULL;
  ck_assert(http_request(r.port, "GET", "/api/v1/streams", NULL, &status,
                         &list));
  replica_stop(&r);
  g_autofree char *all_log = NULL;
  ck_assert(g_file_get_contents(log, &all_log, NULL, NULL));
  ck_assert_msg(!strstr(list, "SEKRIT"), "%s", list);
  ck_assert_msg(!strstr(all_log, "SEKRIT"), "the log holds the password");
  /* The file still says ${NAME}: a sharded replica never writes it. */
  g_autofree char *text = NULL;
  ck_assert(g_file_get_contents(config, &text, NULL, NULL));
  ck_assert(strstr(text, "${CAM_DOOR_PASSWORD}") && !strstr(text, "SEKRIT"));
}
END_TEST

/* `streamsight healthcheck`, as the Kubernetes manifests run it for the
 * readiness probe (deploy/kubernetes/statefulset.yaml): with the
 * container's STREAMSIGHT_TOKEN in its environment it gets through to
 * routes behind the token; without it, it fails (401). */
static int
run_healthcheck(guint port, const char *path, const char *token,
                const char *dir)
{
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u%s", port,
                                         path);
  g_autofree char *log = g_build_filename(dir, "healthcheck.log", NULL);
  char **env = base_env();
  if (token)
    env = g_environ_setenv(env, "STREAMSIGHT_TOKEN", token, TRUE);
  char *argv[] = { (char *)exe, "healthcheck", "--url", url, NULL };
  int rc = run_to_exit(argv, env, log, 30, NULL);
  g_strfreev(env);
  return rc;
}

START_TEST(test_probes_with_token)
{
  g_autofree char *dir = test_start("probes");
  if (!dir)
    return;
  g_autofree char *log = g_build_filename(dir, "server.log", NULL);
  char **env = base_env();
  env = g_environ_setenv(env, "STREAMSIGHT_TOKEN", "probe-token-1", TRUE);
  char *argv[] = { (char *)exe, "serve", "--port", "0", NULL };
  Replica r;
  replica_spawn(&r, argv, env, log, "the server");
  g_strfreev(env);

  /* /healthz is public: with or without the token. */
  ck_assert_int_eq(run_healthcheck(r.port, "/healthz", NULL, dir), 0);
  ck_assert_int_eq(run_healthcheck(r.port, "/healthz", "probe-token-1", dir),
                   0);
  /* /api/v1/model is behind the token: the token from the environment
   * gets through, a wrong one or none does not. */
  ck_assert_int_eq(run_healthcheck(r.port, "/api/v1/model", "probe-token-1",
                                   dir), 0);
  ck_assert_int_eq(run_healthcheck(r.port, "/api/v1/model", "wrong", dir),
                   1);
  ck_assert_int_eq(run_healthcheck(r.port, "/api/v1/model", NULL, dir), 1);
  /* /readyz, the readiness probe, becomes ready (the default test
   * stream starts). */
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (run_healthcheck(r.port, "/readyz", "probe-token-1", dir) != 0) {
    ck_assert_msg(g_get_monotonic_time() < deadline,
                  "/readyz not ready after 60 s");
    g_usleep(G_USEC_PER_SEC / 2);
  }
  replica_stop(&r);
}
END_TEST

static Suite *
sharding_suite(void)
{
  Suite *s = suite_create("sharding");
  TCase *tc = tcase_create("replicas");
  tcase_set_timeout(tc, 400);
  tcase_add_test(tc, test_three_then_four);
  tcase_add_test(tc, test_id_required);
  tcase_add_test(tc, test_password_from_environment);
  suite_add_tcase(s, tc);
  tc = tcase_create("probes");
  tcase_set_timeout(tc, 200);
  tcase_add_test(tc, test_probes_with_token);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(sharding_suite());
}
