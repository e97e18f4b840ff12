/* streamsight — the set of running streams (see registry.h).
 *
 * The registry lock protects the table and the order list only; each
 * stream's own lock protects what it shows. Calls out (stream start/stop,
 * the changed callback, the stream watch) happen after the registry lock
 * is released, with a reference on the stream taken under it.
 *
 * The stream watch (registry_set_stream_watch) is told of every stream
 * added, removed or updated here, and relays what each stream says of
 * itself (stream_set_changed_func: its state and the like). Its own lock,
 * held during the call, only serialises calls and makes unwatching wait
 * for one in progress; a watcher only reads the registry, which takes the
 * registry and stream locks after it (order: watch -> registry -> stream).
 */
#define G_LOG_DOMAIN "streamsight"

#include "registry.h"

#include <string.h>

#include "stream.h"
#include "type-warmup.h"

G_DEFINE_QUARK(ss-registry-error-quark, registry_error)

#define ID_MAX STREAM_ID_MAX
/* registry_free waits this long for the pipelines to stop: past stream-supervisor.c's
 * 5 s stop deadline, by when each has stopped or been abandoned. */
#define FREE_WAIT_US (6 * G_USEC_PER_SEC)

struct Registry {
  GMainContext *ctx;
  const struct ss_engine *engine;
  struct ss_pool *pool;
  const ModelSet *models; /* borrowed; NULL: engine and pool for all.
                           * Set before streams are added. */
  guint max_streams;
  RunnerSet *runners;

  GMutex lock;
  GHashTable *by_id;  /* id -> Stream* (the registry's reference) */
  GPtrArray *order;   /* Stream*, creation order (borrowed from by_id) */
  guint64 next_id;    /* for "stream-N" */
  RegistryChangedFunc changed;
  gpointer changed_user;

  GMutex watch_lock;         /* protects watch, watch_user; held in calls */
  RegistryStreamFunc watch;
  gpointer watch_user;
  MediaDirs *media;   /* NULL: local paths not confined */
  LatencyTotals *latency;    /* every stream's predictions; immutable */
  FrameHeadFetch head_fetch; /* set before streams are added */
  gpointer head_fetch_user;
};

const char *
stream_state_name(StreamState s)
{
  switch (s) {
  case STREAM_STATE_STARTING: return "starting";
  case STREAM_STATE_RUNNING: return "running";
  case STREAM_STATE_BACKOFF: return "backoff";
  case STREAM_STATE_FAILED: return "failed";
  case STREAM_STATE_STOPPED:
  default: return "stopped";
  }
}

void
stream_info_clear(StreamInfo *info)
{
  if (!info)
    return;
  g_free(info->id);
  g_free(info->name);
  g_free(info->uri_redacted);
  g_free(info->last_error);
  stream_config_clear(&info->config);
  memset(info, 0, sizeof *info);
}

static void
stream_info_free(gpointer p)
{
  stream_info_clear(p);
  g_free(p);
}

Registry *
registry_new(GMainContext *ctx, const struct ss_engine *engine,
             struct ss_pool *pool, guint max_streams)
{
  Registry *r;
  g_return_val_if_fail(ctx && engine && pool && max_streams >= 1, NULL);
  /* Before any stream's threads exist (see type-warmup.h). */
  pipeline_types_warm_up();
  r = g_new0(Registry, 1);
  r->ctx = g_main_context_ref(ctx);
  r->engine = engine;
  r->pool = pool;
  r->max_streams = max_streams;
  r->runners = runner_set_new();
  r->latency = latency_totals_new();
  g_mutex_init(&r->lock);
  g_mutex_init(&r->watch_lock);
  r->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify)stream_unref);
  r->order = g_ptr_array_new();
  r->next_id = 1;
  return r;
}

guint
registry_free(Registry *r)
{
  GPtrArray *all;
  guint stuck;
  if (!r)
    return 0;
  g_mutex_lock(&r->lock);
  all = g_ptr_array_new_with_free_func((GDestroyNotify)stream_unref);
  for (guint i = 0; i < r->order->len; i++)
    g_ptr_array_add(all, stream_ref(g_ptr_array_index(r->order, i)));
  g_ptr_array_set_size(r->order, 0);
  g_hash_table_remove_all(r->by_id);
  g_mutex_unlock(&r->lock);
  /* Each stop only detaches the pipeline, so they all stop in parallel. */
  for (guint i = 0; i < all->len; i++) {
    stream_stop(g_ptr_array_index(all, i), TRUE);
    /* A stuck pipeline may keep the stream after the registry is gone. */
    stream_set_changed_func(g_ptr_array_index(all, i), NULL, NULL);
  }
  g_ptr_array_unref(all);
  stuck = runner_set_wait(r->runners, FREE_WAIT_US);
  if (stuck)
    g_warning("%u pipeline%s did not stop and %s left behind", stuck,
              stuck == 1 ? "" : "s", stuck == 1 ? "is" : "are");
  runner_set_unref(r->runners);
  latency_totals_unref(r->latency);
  g_ptr_array_unref(r->order);
  g_hash_table_unref(r->by_id);
  g_mutex_clear(&r->lock);
  g_mutex_clear(&r->watch_lock);
  g_main_context_unref(r->ctx);
  media_dirs_unref(r->media);
  g_free(r);
  return stuck;
}

static gboolean
valid_id(const char *id)
{
  gsize n = strlen(id);
  if (n < 1 || n > ID_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!(g_ascii_islower(id[i]) || g_ascii_isdigit(id[i]) || id[i] == '_' ||
          id[i] == '-'))
      return FALSE;
  return TRUE;
}

/* Under the lock. */
static gboolean
name_used(Registry *r, const char *name)
{
  for (guint i = 0; i < r->order->len; i++) {
    StreamConfig c;
    gboolean same;
    stream_copy_config(g_ptr_array_index(r->order, i), &c);
    same = g_strcmp0(c.name, name) == 0;
    stream_config_clear(&c);
    if (same)
      return TRUE;
  }
  return FALSE;
}

static void
notify_changed(Registry *r)
{
  RegistryChangedFunc fn;
  gpointer user;
  g_mutex_lock(&r->lock);
  fn = r->changed;
  user = r->changed_user;
  g_mutex_unlock(&r->lock);
  if (fn)
    fn(r, user);
}

static void
notify_watch(Registry *r, const char *id)
{
  g_mutex_lock(&r->watch_lock);
  if (r->watch)
    r->watch(r, id, r->watch_user);
  g_mutex_unlock(&r->watch_lock);
}

/* A StreamChangedFunc (user: the registry): the stream's own changes. */
static void
on_stream_changed(Stream *s, gpointer user)
{
  notify_watch(user, stream_get_id(s));
}

void
registry_set_stream_watch(Registry *r, RegistryStreamFunc fn, gpointer user)
{
  g_mutex_lock(&r->watch_lock);
  r->watch = fn;
  r->watch_user = user;
  g_mutex_unlock(&r->watch_lock);
}

void
registry_set_models(Registry *r, const ModelSet *models)
{
  r->models = models;
}

void
registry_set_media_dirs(Registry *r, MediaDirs *m)
{
  MediaDirs *old;
  g_mutex_lock(&r->lock);
  old = r->media;
  r->media = m ? media_dirs_ref(m) : NULL;
  g_mutex_unlock(&r->lock);
  media_dirs_unref(old);
}

gboolean
registry_add(Registry *r, const char *id, const StreamConfig *cfg,
             char **out_id, GError **error)
{
  g_autoptr(GError) e = NULL;
  g_autofree char *new_id = NULL;
  g_autofree char *local = NULL;
  g_autoptr(MediaDirs) media = NULL;
  Stream *s;

  if (!stream_config_validate(cfg, &e)) {
    g_set_error_literal(error, REGISTRY_ERROR, REGISTRY_ERROR_INVALID,
                        e->message);
    return FALSE;
  }
  if (id && !valid_id(id)) {
    g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_INVALID,
                "id: expected 1 to %d characters of a-z, 0-9, '_' and '-'",
                ID_MAX);
    return FALSE;
  }

  /* The stream's model: the engine and pool its frames go to. */
  const struct ss_engine *engine = r->engine;
  struct ss_pool *pool = r->pool;
  const char *model_id = MODEL_SET_DEFAULT_ID;
  if (r->models) {
    const ModelSetEntry *m = model_set_find(r->models, cfg->model);
    if (!m) {
      g_autofree char *ids = model_set_ids(r->models);
      g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_INVALID,
                  "model: unknown model (the models are: %s)", ids);
      return FALSE;
    }
    engine = m->engine;
    pool = m->pool;
    model_id = m->id;
  } else if (cfg->model && strcmp(cfg->model, MODEL_SET_DEFAULT_ID) != 0) {
    g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_INVALID,
                "model: unknown model (the one model is '%s')",
                MODEL_SET_DEFAULT_ID);
    return FALSE;
  }

  g_mutex_lock(&r->lock);
  media = r->media ? media_dirs_ref(r->media) : NULL;
  g_mutex_unlock(&r->lock);
  if (media && !media_dirs_resolve(media, cfg, &local, &e)) {
    g_set_error_literal(error, REGISTRY_ERROR, REGISTRY_ERROR_FORBIDDEN,
                        e->message);
    return FALSE;
  }

  g_mutex_lock(&r->lock);
  if (g_hash_table_size(r->by_id) >= r->max_streams) {
    g_mutex_unlock(&r->lock);
    g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_LIMIT,
                "at most %u streams (max_streams)", r->max_streams);
    return FALSE;
  }
  if (id && g_hash_table_contains(r->by_id, id)) {
    g_mutex_unlock(&r->lock);
    g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_EXISTS,
                "id: '%s' is already used", id);
    return FALSE;
  }
  if (name_used(r, cfg->name)) {
    g_mutex_unlock(&r->lock);
    g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_EXISTS,
                "name: another stream is already called that");
    return FALSE;
  }
  if (id) {
    new_id = g_strdup(id);
  } else {
    do {
      g_free(new_id);
      new_id = g_strdup_printf("stream-%" G_GUINT64_FORMAT, r->next_id++);
    } while (g_hash_table_contains(r->by_id, new_id));
  }
  s = stream_new(new_id, cfg, r->ctx, engine, pool, model_id, media,
                 r->runners);
  if (r->head_fetch)
    stream_set_head_source(s, r->head_fetch, r->head_fetch_user);
  stream_set_latency_totals(s, r->latency);
  stream_set_changed_func(s, on_stream_changed, r);
  g_hash_table_insert(r->by_id, g_strdup(new_id), s);
  g_ptr_array_add(r->order, s);
  stream_ref(s);
  g_mutex_unlock(&r->lock);

  stream_start(s);
  stream_unref(s);
  /* The watch (the event hub) first: it subscribes to the new stream
   * before the config file write (with its fsyncs) delays anything. */
  notify_watch(r, new_id);
  notify_changed(r);
  if (out_id)
    *out_id = g_steal_pointer(&new_id);
  return TRUE;
}

gboolean
registry_remove(Registry *r, const char *id, GError **error)
{
  Stream *s;
  g_mutex_lock(&r->lock);
  s = id ? g_hash_table_lookup(r->by_id, id) : NULL;
  if (!s) {
    g_mutex_unlock(&r->lock);
    g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND,
                "no stream with id '%s'", id ? id : "(null)");
    return FALSE;
  }
  stream_ref(s);
  g_ptr_array_remove(r->order, s);
  g_hash_table_remove(r->by_id, id);
  g_mutex_unlock(&r->lock);

  /* Stopping tells the watch (the stream is no longer listed). */
  stream_stop(s, TRUE);
  stream_set_changed_func(s, NULL, NULL);
  stream_unref(s);
  notify_watch(r, id);
  notify_changed(r);
  return TRUE;
}

static Stream *
lookup_ref(Registry *r, const char *id)
{
  Stream *s;
  g_mutex_lock(&r->lock);
  s = id ? g_hash_table_lookup(r->by_id, id) : NULL;
  if (s)
    stream_ref(s);
  g_mutex_unlock(&r->lock);
  return s;
}

static void
set_not_found(GError **error, const char *id)
{
  g_set_error(error, REGISTRY_ERROR, REGISTRY_ERROR_NOT_FOUND,
              "no stream with id '%s'", id ? id : "(null)");
}

gboolean
registry_update(Registry *r, const char *id, const StreamPatch *p,
                GError **error)
{
  Stream *s;
  StreamConfig c;
  gboolean enable_changed;
  g_autoptr(GError) e = NULL;

  s = lookup_ref(r, id);
  if (!s) {
    set_not_found(error, id);
    return FALSE;
  }
  /* Validate the patched config as a whole before changing anything. */
  stream_copy_config(s, &c);
  if (p->set_max_fps)
    c.max_fps = p->max_fps;
  if (p->set_top_k)
    c.top_k = p->top_k;
  enable_changed = p->set_enabled && !c.enabled != !p->enabled;
  if (p->set_enabled)
    c.enabled = p->enabled;
  if (p->set_alerts) {
    alert_rules_free(c.alerts, c.n_alerts);
    c.alerts = alert_rules_copy(p->alerts, p->n_alerts);
    c.n_alerts = c.alerts ? p->n_alerts : 0;
  }
  if (p->set_roi)
    c.roi = p->roi;
  if (p->set_head) {
    g_free(c.head);
    c.head = g_strdup(p->head);
  }
  if (p->set_labels)
    c.labels = p->labels;
  if (!stream_config_validate(&c, &e)) {
    stream_config_clear(&c);
    stream_unref(s);
    g_set_error_literal(error, REGISTRY_ERROR, REGISTRY_ERROR_INVALID,
                        e->message);
    return FALSE;
  }
  stream_config_clear(&c);
  if (p->set_max_fps)
    stream_set_max_fps(s, p->max_fps);
  if (p->set_top_k)
    stream_set_top_k(s, p->top_k);
  if (enable_changed)
    stream_set_enabled(s, p->enabled);
  if (p->set_alerts)
    stream_set_alerts(s, p->alerts, p->n_alerts);
  if (p->set_roi)
    stream_set_roi(s, &p->roi);
  if (p->set_head || p->set_labels)
    stream_set_head(s, p->set_head, p->head, p->set_labels, p->labels);
  stream_unref(s);
  notify_watch(r, id);
  notify_changed(r);
  return TRUE;
}

void
stream_patch_clear(StreamPatch *p)
{
  if (!p)
    return;
  alert_rules_free(p->alerts, p->n_alerts);
  p->alerts = NULL;
  p->n_alerts = 0;
  g_free(p->head);
  p->head = NULL;
}

/* References to every stream, in creation order. */
static GPtrArray *
snapshot(Registry *r)
{
  GPtrArray *all = g_ptr_array_new_with_free_func(
      (GDestroyNotify)stream_unref);
  g_mutex_lock(&r->lock);
  for (guint i = 0; i < r->order->len; i++)
    g_ptr_array_add(all, stream_ref(g_ptr_array_index(r->order, i)));
  g_mutex_unlock(&r->lock);
  return all;
}

GPtrArray *
registry_list(Registry *r)
{
  g_autoptr(GPtrArray) all = snapshot(r);
  GPtrArray *out = g_ptr_array_new_full(all->len, stream_info_free);
  for (guint i = 0; i < all->len; i++) {
    StreamInfo *info = g_new0(StreamInfo, 1);
    stream_copy_info(g_ptr_array_index(all, i), info);
    g_ptr_array_add(out, info);
  }
  return out;
}

gboolean
registry_get(Registry *r, const char *id, StreamInfo *out, GError **error)
{
  Stream *s = lookup_ref(r, id);
  if (!s) {
    set_not_found(error, id);
    return FALSE;
  }
  stream_copy_info(s, out);
  stream_unref(s);
  return TRUE;
}

StreamResults *
registry_results(Registry *r, const char *id)
{
  Stream *s = lookup_ref(r, id);
  StreamResults *res;
  if (!s)
    return NULL;
  res = stream_get_results(s);
  stream_unref(s);
  return res;
}

GstSample *
registry_last_sample(Registry *r, const char *id)
{
  Stream *s = lookup_ref(r, id);
  GstSample *sample;
  if (!s)
    return NULL;
  sample = stream_last_sample(s);
  stream_unref(s);
  return sample;
}

static void
config_free(gpointer p)
{
  stream_config_clear(p);
  g_free(p);
}

void
registry_copy_configs(Registry *r, GPtrArray **configs, GPtrArray **ids)
{
  g_autoptr(GPtrArray) all = snapshot(r);
  *configs = g_ptr_array_new_full(all->len, config_free);
  *ids = g_ptr_array_new_full(all->len, g_free);
  for (guint i = 0; i < all->len; i++) {
    Stream *s = g_ptr_array_index(all, i);
    StreamConfig *c = g_new0(StreamConfig, 1);
    stream_copy_config(s, c);
    g_ptr_array_add(*configs, c);
    g_ptr_array_add(*ids, g_strdup(stream_get_id(s)));
  }
}

void
registry_pipeline_stats(Registry *r, RunnerSetStats *out)
{
  runner_set_stats(r->runners, out);
}

void
registry_latency(Registry *r, LatencySummary window[LATENCY_N_STAGES],
                 LatencySummary since[LATENCY_N_STAGES])
{
  latency_totals_copy(r->latency, g_get_monotonic_time() * 1000, window,
                      since);
}

void
registry_set_changed_func(Registry *r, RegistryChangedFunc fn, gpointer user)
{
  g_mutex_lock(&r->lock);
  r->changed = fn;
  r->changed_user = user;
  g_mutex_unlock(&r->lock);
}

guint
registry_count(Registry *r)
{
  guint n;
  g_mutex_lock(&r->lock);
  n = g_hash_table_size(r->by_id);
  g_mutex_unlock(&r->lock);
  return n;
}

gboolean
registry_all_started(Registry *r)
{
  g_autoptr(GPtrArray) all = snapshot(r);
  for (guint i = 0; i < all->len; i++) {
    Stream *s = g_ptr_array_index(all, i);
    StreamConfig c;
    gboolean enabled;
    stream_copy_config(s, &c);
    enabled = c.enabled;
    stream_config_clear(&c);
    if (enabled && !stream_has_started(s))
      return FALSE;
  }
  return TRUE;
}

void
registry_set_head_source(Registry *r, FrameHeadFetch fetch, gpointer user)
{
  r->head_fetch = fetch;
  r->head_fetch_user = user;
}
