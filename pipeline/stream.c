/* streamsight — one stream (see stream.h for the life cycle and the
 * connection-quality rule): the object, its settings and the copies the
 * API shows. Its pipeline is built in stream-pipeline.c and supervised in
 * stream-supervisor.c (threads: stream-internal.h).
 */
#define G_LOG_DOMAIN "streamsight"

#include "stream-internal.h"

#include <string.h>

/* How long to wait for a frame still being inferred when stopping. One
 * inference takes milliseconds; this only guards against a wedged pool. */
#define INFLIGHT_WAIT_MAX_US (5 * G_USEC_PER_SEC)
/* connection_quality thresholds (stream.h). */
#define QUALITY_POOR_EVENTS 4
#define QUALITY_WARMUP_S 15.0
#define QUALITY_POOR_RATE 0.5
#define QUALITY_DEGRADED_RATE 0.9

/* ---- small helpers ---- */

void
hour_counter_add(HourCounter *h, gint64 now_us)
{
  gint64 minute = now_us / (60 * G_USEC_PER_SEC);
  int slot = (int)(minute % 60);
  if (h->minute[slot] != minute) {
    h->minute[slot] = minute;
    h->count[slot] = 0;
  }
  h->count[slot]++;
}

guint
hour_counter_sum(const HourCounter *h, gint64 now_us)
{
  gint64 minute = now_us / (60 * G_USEC_PER_SEC);
  guint n = 0;
  for (int i = 0; i < 60; i++)
    if (h->count[i] && minute - h->minute[i] < 60)
      n += h->count[i];
  return n;
}

typedef struct {
  GSourceFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  gboolean done;
} SyncCall;

static gboolean
sync_call_cb(gpointer p)
{
  SyncCall *c = p;
  c->func(c->data);
  g_mutex_lock(&c->lock);
  c->done = TRUE;
  g_cond_signal(&c->cond);
  g_mutex_unlock(&c->lock);
  return G_SOURCE_REMOVE;
}

void
stream_context_call_sync(GMainContext *ctx, GSourceFunc func, gpointer data)
{
  SyncCall c = { .func = func, .data = data };
  GSource *idle;
  if (g_main_context_acquire(ctx)) {
    func(data);
    g_main_context_release(ctx);
    return;
  }
  g_mutex_init(&c.lock);
  g_cond_init(&c.cond);
  idle = g_idle_source_new();
  g_source_set_priority(idle, G_PRIORITY_DEFAULT);
  g_source_set_callback(idle, sync_call_cb, &c, NULL);
  g_source_attach(idle, ctx);
  g_source_unref(idle);
  g_mutex_lock(&c.lock);
  while (!c.done)
    g_cond_wait(&c.cond, &c.lock);
  g_mutex_unlock(&c.lock);
  g_mutex_clear(&c.lock);
  g_cond_clear(&c.cond);
}

/* Runs func on the main context without waiting; holds a reference on s
 * until it has run. Always through an idle source, even when the context is
 * free: taking ownership here could race with the thread about to run it
 * (g_main_context_push_thread_default insists on acquiring). */
static void
call_async(Stream *s, GSourceFunc func)
{
  GSource *idle = g_idle_source_new();
  g_source_set_priority(idle, G_PRIORITY_DEFAULT);
  g_source_set_callback(idle, func, stream_ref(s),
                        (GDestroyNotify)stream_unref);
  g_source_attach(idle, s->ctx);
  g_source_unref(idle);
}

/* ---- public ---- */

Stream *
stream_new(const char *id, const StreamConfig *cfg, GMainContext *ctx,
           const struct ss_engine *engine, struct ss_pool *pool,
           const char *model_id, MediaDirs *media, RunnerSet *runners)
{
  Stream *s = g_new0(Stream, 1);

  g_atomic_ref_count_init(&s->ref);
  s->id = g_strdup(id);
  s->ctx = g_main_context_ref(ctx);
  s->engine = engine;
  s->pool = pool;
  s->runners = runner_set_ref(runners);
  g_mutex_init(&s->lock);
  stream_config_copy(&s->cfg, cfg);
  s->state = STREAM_STATE_STOPPED;
  s->quality = "down";
  s->created_wall_us = g_get_real_time();
  s->scheme = stream_config_uri_scheme(cfg->uri);
  g_assert(s->scheme != NULL); /* validated by the caller */
  if (!stream_config_split_userinfo(cfg->uri, &s->location, &s->user,
                                    &s->password))
    s->location = g_strdup(cfg->uri);
  /* Secrets to scrub from error texts: the URI's password, user name and
   * secret parameters, as written and decoded. */
  s->secrets = stream_config_uri_secrets(cfg->uri);
  s->media = media ? media_dirs_ref(media) : NULL;

  s->results = stream_results_new(cfg->history_len);
  s->fi = frame_infer_new(pool, engine_model(engine), s->results,
                          cfg->max_fps, cfg->top_k);
  frame_infer_set_head(s->fi, cfg->head, cfg->labels);
  frame_infer_set_model_id(s->fi, model_id);
  return s;
}

Stream *
stream_ref(Stream *s)
{
  g_atomic_ref_count_inc(&s->ref);
  return s;
}

void
stream_unref(Stream *s)
{
  if (!s || !g_atomic_ref_count_dec(&s->ref))
    return;
  g_assert(s->pipeline == NULL && s->tick_source == NULL);
  frame_infer_unref(s->fi);
  runner_set_unref(s->runners);
  stream_results_unref(s->results);
  g_clear_object(&s->sink);
  stream_config_clear(&s->cfg);
  g_free(s->last_error);
  g_free(s->warning);
  if (s->http_session)
    gst_context_unref(s->http_session);
  for (int i = 0; s->secrets[i]; i++)
    memset(s->secrets[i], 0, strlen(s->secrets[i]));
  g_strfreev(s->secrets);
  media_dirs_unref(s->media);
  if (s->password)
    memset(s->password, 0, strlen(s->password));
  g_free(s->password);
  g_free(s->user);
  g_free(s->location);
  g_free(s->id);
  g_mutex_clear(&s->lock);
  g_main_context_unref(s->ctx);
  g_free(s);
}

void
stream_start(Stream *s)
{
  call_async(s, stream_supervisor_start);
}

void
stream_stop(Stream *s, gboolean final)
{
  gint64 deadline;
  if (final) {
    g_mutex_lock(&s->lock);
    s->removed = TRUE;
    g_mutex_unlock(&s->lock);
  }
  stream_context_call_sync(s->ctx, stream_supervisor_stop, s);
  /* The pipeline is gone, so no new frame can start; wait for the one a
   * pool worker may still be running, so that nothing is published after
   * stop returns. */
  deadline = g_get_monotonic_time() + INFLIGHT_WAIT_MAX_US;
  while (frame_infer_busy(s->fi) && g_get_monotonic_time() < deadline)
    g_usleep(1000);
}

void
stream_set_enabled(Stream *s, gboolean enabled)
{
  g_mutex_lock(&s->lock);
  if (!s->cfg.enabled != !enabled)
    s->generation++;
  s->cfg.enabled = enabled;
  g_mutex_unlock(&s->lock);
  if (enabled)
    stream_start(s);
  else
    stream_stop(s, FALSE);
}

void
stream_set_max_fps(Stream *s, double max_fps)
{
  g_mutex_lock(&s->lock);
  if (s->cfg.max_fps != max_fps)
    s->generation++;
  s->cfg.max_fps = max_fps;
  g_mutex_unlock(&s->lock);
  frame_infer_set_max_fps(s->fi, max_fps);
}

void
stream_set_top_k(Stream *s, int top_k)
{
  g_mutex_lock(&s->lock);
  if (s->cfg.top_k != top_k)
    s->generation++;
  s->cfg.top_k = top_k;
  g_mutex_unlock(&s->lock);
  frame_infer_set_top_k(s->fi, top_k);
}

void
stream_set_roi(Stream *s, const StreamRoi *roi)
{
  g_mutex_lock(&s->lock);
  s->cfg.roi = *roi;
  GstElement *sink = s->sink ? gst_object_ref(s->sink) : NULL;
  g_mutex_unlock(&s->lock);
  /* Outside the stream's lock: the sink takes its own locks. */
  if (sink) {
    streamsight_sink_set_roi(STREAMSIGHT_SINK(sink), roi);
    gst_object_unref(sink);
  }
}

void
stream_set_head(Stream *s, gboolean set_head, const char *head,
                gboolean set_labels, StreamLabels labels)
{
  g_mutex_lock(&s->lock);
  if (set_head) {
    g_free(s->cfg.head);
    s->cfg.head = g_strdup(head);
  }
  if (set_labels)
    s->cfg.labels = labels;
  char *id = g_strdup(s->cfg.head);
  StreamLabels l = s->cfg.labels;
  g_mutex_unlock(&s->lock);
  frame_infer_set_head(s->fi, id, l);
  g_free(id);
}

void
stream_set_head_source(Stream *s, FrameHeadFetch fetch, gpointer user)
{
  frame_infer_set_head_source(s->fi, fetch, user);
}

void
stream_set_latency_totals(Stream *s, LatencyTotals *totals)
{
  frame_infer_set_latency_totals(s->fi, totals);
}

void
stream_set_alerts(Stream *s, const AlertRule *rules, guint n)
{
  AlertRule *copy = alert_rules_copy(rules, n);
  g_mutex_lock(&s->lock);
  AlertRule *old = s->cfg.alerts;
  guint old_n = s->cfg.n_alerts;
  if (!alert_rules_equal(old, old_n, copy, copy ? n : 0))
    s->generation++;
  s->cfg.alerts = copy;
  s->cfg.n_alerts = copy ? n : 0;
  g_mutex_unlock(&s->lock);
  alert_rules_free(old, old_n);
}

const char *
stream_get_id(Stream *s)
{
  return s->id;
}

void
stream_copy_config(Stream *s, StreamConfig *out)
{
  g_mutex_lock(&s->lock);
  stream_config_copy(out, &s->cfg);
  g_mutex_unlock(&s->lock);
}

gboolean
stream_has_started(Stream *s)
{
  gboolean r;
  g_mutex_lock(&s->lock);
  r = s->ever_running;
  g_mutex_unlock(&s->lock);
  return r;
}

StreamResults *
stream_get_results(Stream *s)
{
  return stream_results_ref(s->results);
}

GstSample *
stream_last_sample(Stream *s)
{
  GstElement *sink;
  GstSample *sample = NULL;
  g_mutex_lock(&s->lock);
  sink = s->sink ? gst_object_ref(s->sink) : NULL;
  g_mutex_unlock(&s->lock);
  if (!sink)
    return NULL;
  g_object_get(sink, "last-sample", &sample, NULL);
  gst_object_unref(sink);
  return sample;
}

static const char *
quality(guint events, double fps_in, double source_fps, StreamDecode decode,
        double running_s)
{
  double ratio = 1.0;
  if (decode == STREAM_DECODE_ALL && source_fps > 0 &&
      running_s >= QUALITY_WARMUP_S)
    ratio = fps_in / source_fps;
  if (events >= QUALITY_POOR_EVENTS || ratio < QUALITY_POOR_RATE)
    return "poor";
  if (events >= 1 || ratio < QUALITY_DEGRADED_RATE)
    return "degraded";
  return "good";
}

static void
set_quality_locked(Stream *s, const char *q)
{
  if (strcmp(s->quality, q) != 0) {
    s->quality = q;
    s->generation++;
  }
}

void
stream_set_state_locked(Stream *s, StreamState state)
{
  if (s->state != state) {
    s->state = state;
    s->generation++;
  }
  if (state != STREAM_STATE_RUNNING)
    set_quality_locked(s, "down");
}

void
stream_judge_quality_locked(Stream *s, gint64 now_us)
{
  if (s->state != STREAM_STATE_RUNNING)
    return;
  guint events = hour_counter_sum(&s->reconnects_hour, now_us) +
                 hour_counter_sum(&s->stalls_hour, now_us);
  double running_s =
      s->running_since_us
          ? (double)(now_us - s->running_since_us) / G_USEC_PER_SEC
          : 0.0;
  double fps_in = stream_results_fps_in(s->results, now_us * 1000);
  set_quality_locked(s, quality(events, fps_in, s->source_fps, s->cfg.decode,
                                running_s));
}

guint64
stream_generation(Stream *s)
{
  g_mutex_lock(&s->lock);
  guint64 g = s->generation;
  g_mutex_unlock(&s->lock);
  return g;
}

void
stream_notify_since(Stream *s, guint64 generation)
{
  g_mutex_lock(&s->lock);
  StreamChangedFunc fn = s->generation != generation ? s->changed : NULL;
  gpointer user = s->changed_user;
  g_mutex_unlock(&s->lock);
  if (fn)
    fn(s, user);
}

void
stream_set_changed_func(Stream *s, StreamChangedFunc fn, gpointer user)
{
  g_mutex_lock(&s->lock);
  s->changed = fn;
  s->changed_user = user;
  g_mutex_unlock(&s->lock);
}

void
stream_copy_info(Stream *s, StreamInfo *out)
{
  gint64 now = g_get_monotonic_time();
  memset(out, 0, sizeof *out);
  g_mutex_lock(&s->lock);
  out->id = g_strdup(s->id);
  out->name = g_strdup(s->cfg.name);
  out->uri_redacted = stream_config_redact_uri(s->cfg.uri);
  stream_config_copy(&out->config, &s->cfg);
  out->state = s->state;
  out->last_error = g_strdup(s->last_error);
  out->last_error_wall_us = s->last_error_wall_us;
  out->reconnects = s->reconnects;
  out->reconnects_last_hour = hour_counter_sum(&s->reconnects_hour, now);
  out->stalls_last_hour = hour_counter_sum(&s->stalls_hour, now);
  out->created_wall_us = s->created_wall_us;
  out->started_wall_us = s->started_wall_us;
  out->width = s->width;
  out->height = s->height;
  out->source_fps = s->source_fps;
  out->connection_quality = s->quality;
  out->generation = s->generation;
  g_mutex_unlock(&s->lock);
  stream_results_copy_stats(s->results, now * 1000, &out->stats);
}
