/* The registry of streams, the "registry" TCase of the streams suite
 * (test-streams.h): adding, updating and removing with their errors and
 * change calls, the stream watch and StreamInfo.generation, and the limit
 * on the number of streams. Written with stream-fixture.h's env and
 * helpers.
 */
#include <check.h>
#include <string.h>

#include "registry.h"
#include "stream-fixture.h"
#include "test-streams.h"

/* ---- registry ---- */

static int changes;

static void
on_changed(Registry *r, gpointer user)
{
  (*(int *)user)++;
}

/* What the stream watch saw: one entry per call, "<state>/<quality>/<gen>"
 * from the registry's copy, or "gone" when the registry no longer lists
 * the stream. */
typedef struct {
  GMutex lock;
  GPtrArray *seen; /* of char* */
} WatchLog;

static void
on_watch(Registry *r, const char *id, gpointer user)
{
  WatchLog *w = user;
  StreamInfo info;
  char *entry;
  if (registry_get(r, id, &info, NULL)) {
    entry = g_strdup_printf("%s/%s/%" G_GUINT64_FORMAT,
                            stream_state_name(info.state),
                            info.connection_quality, info.generation);
    stream_info_clear(&info);
  } else {
    entry = g_strdup("gone");
  }
  g_mutex_lock(&w->lock);
  g_ptr_array_add(w->seen, entry);
  g_mutex_unlock(&w->lock);
}

/* Index of the first entry at or after from that starts with prefix, or
 * -1; waits up to timeout_s for it. */
static int
watch_wait(WatchLog *w, const char *prefix, guint from, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s * 1e6);
  for (;;) {
    int found = -1;
    g_mutex_lock(&w->lock);
    for (guint i = from; i < w->seen->len && found < 0; i++)
      if (g_str_has_prefix(g_ptr_array_index(w->seen, i), prefix))
        found = (int)i;
    g_mutex_unlock(&w->lock);
    if (found >= 0 || g_get_monotonic_time() > deadline)
      return found;
    g_usleep(20 * 1000);
  }
}

static guint
watch_len(WatchLog *w)
{
  g_mutex_lock(&w->lock);
  guint n = w->seen->len;
  g_mutex_unlock(&w->lock);
  return n;
}

/* The registry's stream watch is told of each stream's own changes (the
 * supervisor's state and quality) as well as of adds, updates and removal,
 * and StreamInfo.generation moves exactly when what it shows changed. */
START_TEST(test_stream_watch)
{
  WatchLog w;
  g_mutex_init(&w.lock);
  w.seen = g_ptr_array_new_with_free_func(g_free);
  registry_set_stream_watch(env.reg, on_watch, &w);
  StreamConfig c;
  quick_config(&c, "watched", "test:");
  g_autofree char *id = add(&c);
  /* Added (told at once), then starting and running by the supervisor. */
  ck_assert_int_eq(watch_wait(&w, "", 0, 0), 0);
  int running = watch_wait(&w, "running/good/", 0, 10);
  ck_assert_msg(running >= 0, "the watch never saw running/good");
  ck_assert_int_ge(watch_wait(&w, "starting/down/", 0, 0), 0);
  ck_assert_int_lt(watch_wait(&w, "starting/down/", 0, 0), running);

  StreamInfo info;
  get(id, &info);
  guint64 gen = info.generation;
  ck_assert_str_eq(info.connection_quality, "good");
  ck_assert_int_ne(info.config.top_k, 2);
  stream_info_clear(&info);
  /* A PATCH is told; the generation moves when the value is new only. */
  StreamPatch patch = { .set_top_k = TRUE, .top_k = 2 };
  guint n = watch_len(&w);
  ck_assert(registry_update(env.reg, id, &patch, NULL));
  ck_assert_uint_ge(watch_len(&w), n + 1);
  get(id, &info);
  guint64 gen_top_k = info.generation;
  ck_assert_uint_gt(gen_top_k, gen);
  stream_info_clear(&info);
  n = watch_len(&w);
  ck_assert(registry_update(env.reg, id, &patch, NULL)); /* 2 again */
  ck_assert_uint_ge(watch_len(&w), n + 1);
  get(id, &info);
  ck_assert_uint_eq(info.generation, gen_top_k);
  stream_info_clear(&info);

  /* Disabled: stopped and down, told by the stream itself. */
  n = watch_len(&w);
  patch = (StreamPatch){ .set_enabled = TRUE, .enabled = FALSE };
  ck_assert(registry_update(env.reg, id, &patch, NULL));
  ck_assert_int_ge(watch_wait(&w, "stopped/down/", n, 5), 0);
  /* Removed: the watch finds it gone. */
  n = watch_len(&w);
  ck_assert(registry_remove(env.reg, id, NULL));
  ck_assert_int_ge(watch_wait(&w, "gone", n, 5), 0);

  registry_set_stream_watch(env.reg, NULL, NULL);
  n = watch_len(&w);
  quick_config(&c, "unwatched", "test:");
  g_autofree char *id2 = add(&c);
  ck_assert(wait_state(id2, STREAM_STATE_RUNNING, 10) >= 0);
  ck_assert_uint_eq(watch_len(&w), n); /* no longer told */
  g_ptr_array_unref(w.seen);
  g_mutex_clear(&w.lock);
}
END_TEST

START_TEST(test_registry_ops)
{
  StreamConfig c;
  GError *e = NULL;
  char *id = NULL;
  StreamPatch patch = { 0 };
  GPtrArray *configs, *ids;
  StreamInfo info;

  changes = 0;
  registry_set_changed_func(env.reg, on_changed, &changes);
  quick_config(&c, "a", "test:");
  ck_assert(registry_add(env.reg, "front-door", &c, &id, &e));
  ck_assert_str_eq(id, "front-door");
  g_free(id);
  /* Same id, same name, bad id. */
  ck_assert(!registry_add(env.reg, "front-door", &c, NULL, &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_EXISTS));
  g_clear_error(&e);
  ck_assert(!registry_add(env.reg, NULL, &c, NULL, &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_EXISTS));
  g_clear_error(&e);
  g_free(c.name);
  c.name = g_strdup("b");
  ck_assert(!registry_add(env.reg, "Bad Id", &c, NULL, &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_INVALID));
  g_clear_error(&e);
  ck_assert(registry_add(env.reg, NULL, &c, &id, NULL));
  ck_assert_str_eq(id, "stream-1");
  g_free(id);
  stream_config_clear(&c);
  ck_assert_int_eq(changes, 2);

  ck_assert(wait_state("front-door", STREAM_STATE_RUNNING, 10) >= 0);
  ck_assert(registry_all_started(env.reg) ||
            wait_state("stream-1", STREAM_STATE_RUNNING, 10) >= 0);

  /* PATCH: disable stops, enable starts again; bad values refused. */
  patch.set_enabled = TRUE;
  patch.enabled = FALSE;
  ck_assert(registry_update(env.reg, "front-door", &patch, NULL));
  ck_assert_int_eq(state_of("front-door"), STREAM_STATE_STOPPED);
  patch.enabled = TRUE;
  patch.set_max_fps = TRUE;
  patch.max_fps = 2.5;
  ck_assert(registry_update(env.reg, "front-door", &patch, NULL));
  ck_assert(wait_state("front-door", STREAM_STATE_RUNNING, 10) >= 0);
  get("front-door", &info);
  ck_assert(info.config.max_fps == 2.5);
  stream_info_clear(&info);
  memset(&patch, 0, sizeof patch);
  patch.set_top_k = TRUE;
  patch.top_k = 0;
  ck_assert(!registry_update(env.reg, "front-door", &patch, &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_INVALID));
  ck_assert_msg(g_str_has_prefix(e->message, "top_k: "), "%s", e->message);
  g_clear_error(&e);
  ck_assert(!registry_update(env.reg, "nope", &patch, &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND));
  g_clear_error(&e);
  ck_assert_int_eq(changes, 4);

  registry_copy_configs(env.reg, &configs, &ids);
  ck_assert_uint_eq(configs->len, 2);
  ck_assert_str_eq(g_ptr_array_index(ids, 0), "front-door");
  ck_assert_str_eq(((StreamConfig *)g_ptr_array_index(configs, 1))->name,
                   "b");
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);

  ck_assert(!registry_remove(env.reg, "nope", &e));
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND));
  g_clear_error(&e);
  ck_assert(!registry_get(env.reg, "nope", &info, NULL));
  ck_assert_ptr_null(registry_results(env.reg, "nope"));
  ck_assert(registry_remove(env.reg, "front-door", NULL));
  ck_assert_int_eq(changes, 5);
  ck_assert_uint_eq(registry_count(env.reg), 1);
}
END_TEST

START_TEST(test_registry_limit)
{
  Registry *small = registry_new(env.ctx, env.engine, env.pool, 2);
  StreamConfig c;
  GError *e = NULL;
  for (int i = 0; i < 3; i++) {
    g_autofree char *name = g_strdup_printf("s%d", i);
    gboolean ok;
    quick_config(&c, name, "test:");
    c.enabled = FALSE; /* nothing to run */
    ok = registry_add(small, NULL, &c, NULL, &e);
    stream_config_clear(&c);
    ck_assert_msg(ok == (i < 2), "add %d", i);
  }
  ck_assert(g_error_matches(e, REGISTRY_ERROR, REGISTRY_ERROR_LIMIT));
  g_clear_error(&e);
  ck_assert_uint_eq(registry_count(small), 2);
  {
    StreamInfo info;
    ck_assert(registry_get(small, "stream-1", &info, NULL));
    ck_assert_int_eq(info.state, STREAM_STATE_STOPPED); /* disabled */
    stream_info_clear(&info);
  }
  ck_assert(registry_all_started(small)); /* no enabled stream */
  registry_free(small);
}
END_TEST

TCase *
streams_registry_tcase(void)
{
  TCase *tc = tcase_create("registry");
  tcase_add_test(tc, test_registry_ops);
  tcase_add_test(tc, test_stream_watch);
  tcase_add_test(tc, test_registry_limit);
  return tc;
}
