/* streamsight — alerts hub (see alerts.h).
 *
 * Records and files: alert-store.c.
 *
 * Locks: h->lock guards the stream table, every HubStream's rules, the
 * history, every Alert's mutable fields, the counts and the pending
 * deletions; it is held only for short copies and state-machine steps, never
 * across an encode, a listener, the registry or a file. Streams leave the
 * table under h->lock and are unsubscribed after it is released (the
 * prediction callback takes h->lock, and unsubscribe waits for callbacks in
 * progress). h->sync_lock serialises alert_hub_sync.
 */
#define G_LOG_DOMAIN "streamsight"

#include "alerts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert-store.h"
#include "snapshot.h"

#define ALERTS_MAX_LISTENERS 4
#define TICK_US G_USEC_PER_SEC

typedef AlertRecord Alert;

typedef struct {
  AlertTracker t;
  GstSample *candidate; /* the best frame of the current run */
  Alert *active;        /* a reference while an alert is going on */
} Rule;

typedef struct {
  char *id;
  StreamResults *res;
  guint sub;
  AlertRule *cfg; /* the rules as configured, to notice changes */
  StreamRoi roi;  /* the stream's region, outlined on snapshots */
  guint n;
  Rule *rules;    /* n */
  gboolean seen;  /* sync's mark */
  gboolean removed;
  AlertHub *hub;
} HubStream;

typedef enum { JOB_EMIT, JOB_FLUSH, JOB_STOP } JobKind;
typedef struct {
  JobKind kind;
  AlertEventType type;
  Alert *alert; /* reference */
  GMutex *done_lock;
  GCond *done_cond;
  gboolean *done;
} Job;

typedef struct {
  AlertListenerFunc fn;
  gpointer data;
} Listener;

struct AlertHub {
  Registry *registry;
  const struct ss_model *model;
  char *dir;
  guint history_max, snapshot_width;
  Listener listeners[ALERTS_MAX_LISTENERS];
  guint n_listeners;

  GMutex sync_lock;     /* serialises sync; guards stopping */
  gboolean stopping;    /* alert_hub_free began: sync does nothing */
  GMutex lock;
  GHashTable *streams;  /* id -> HubStream* */
  GQueue history;       /* Alert*, newest first; one reference each */
  guint64 next_id;
  GHashTable *counts;   /* "stream\x1fclass" -> guint64* */
  GArray *to_delete;    /* guint64 ids whose JPEG file goes */

  GAsyncQueue *jobs;
  GThread *thread;
};

const char *
alert_event_name(AlertEventType t)
{
  return t == ALERT_EVENT_START ? "start" : "end";
}

/* ---- alerts ---- */

/* ---- labels ---- */

/* cls matches a label written whole ("tabby, tabby cat") or any of its
 * comma-separated names ("tabby cat"), ignoring ASCII case. */
static gboolean
label_matches(const char *label, const char *cls)
{
  if (g_ascii_strcasecmp(label, cls) == 0)
    return TRUE;
  gsize n = strlen(cls);
  const char *p = label;
  for (;;) {
    while (*p == ' ')
      p++;
    const char *comma = strchr(p, ',');
    gsize len = comma ? (gsize)(comma - p) : strlen(p);
    while (len > 0 && p[len - 1] == ' ')
      len--;
    if (len == n && g_ascii_strncasecmp(p, cls, n) == 0)
      return TRUE;
    if (!comma)
      return FALSE;
    p = comma + 1;
  }
}

/* The class's score in p: a class of the stream's head (its own names, so
 * looked at first), else an ImageNet label; 0 when it is not among the
 * top-k of either. */
static double
class_score(const struct ss_model *m, const Prediction *p, const char *cls)
{
  for (int j = 0; j < p->n_head && j < POOL_MAX_TOP_K; j++)
    if (g_ascii_strcasecmp(p->head_top[j].label, cls) == 0)
      return p->head_top[j].score;
  for (int j = 0; j < p->n_top; j++) {
    const char *label = m ? model_label(m, p->top[j].index) : NULL;
    if (label && label_matches(label, cls))
      return p->top[j].score;
  }
  return 0.0;
}

/* ---- rule evaluation (pool workers, the hub thread's tick) ---- */

static void
queue_emit(AlertHub *h, AlertEventType type, Alert *a)
{
  Job *j = g_new0(Job, 1);
  j->kind = JOB_EMIT;
  j->type = type;
  j->alert = a; /* the caller's reference */
  g_async_queue_push(h->jobs, j);
}

/* Ends rule's active alert; h->lock held. Returns the alert (a reference
 * for the job) or NULL. */
static Alert *
end_locked(Rule *rule, gint64 end_us)
{
  Alert *a = rule->active;
  if (!a)
    return NULL;
  rule->active = NULL;
  a->end_us = MAX(end_us, a->start_us);
  return a;
}

/* h->lock held. Returns the new alert (a reference for the job). */
static Alert *
start_locked(AlertHub *h, HubStream *hs, Rule *rule)
{
  /* One reference: the history's. */
  Alert *a = alert_record_new(h->next_id++, hs->id,
                              rule->t.rule.class_name);
  a->min_score = rule->t.rule.min_score;
  a->roi = hs->roi;
  a->start_us = rule->t.run_start_wall_us;
  a->last_seen_us = rule->t.last_above_wall_us;
  a->peak_score = rule->t.peak_score;
  a->peak_us = rule->t.peak_wall_us;
  if (rule->candidate) {
    a->best = gst_sample_ref(rule->candidate);
    a->best_new = TRUE;
  }
  g_queue_push_head(&h->history, a);
  while (g_queue_get_length(&h->history) > h->history_max) {
    Alert *old = g_queue_pop_tail(&h->history);
    g_array_append_val(h->to_delete, old->id);
    alert_record_unref(old);
  }
  rule->active = alert_record_ref(a);
  char *key = g_strdup_printf("%s\x1f%s", a->stream_id, a->cls);
  guint64 *count = g_hash_table_lookup(h->counts, key);
  if (!count) {
    count = g_new0(guint64, 1);
    g_hash_table_insert(h->counts, key, count);
  } else {
    g_free(key);
  }
  (*count)++;
  return alert_record_ref(a);
}

static GstSample *
sample_copy(GstSample *s)
{
  GstBuffer *b = s ? gst_sample_get_buffer(s) : NULL;
  GstCaps *c = s ? gst_sample_get_caps(s) : NULL;
  if (!b || !c)
    return NULL;
  /* A copy, not a reference: a buffer held for the length of an alert
   * would be one fewer in the decoder's pool. */
  GstBuffer *copy = gst_buffer_copy_deep(b);
  if (!copy)
    return NULL;
  GstSample *out = gst_sample_new(copy, c, NULL, NULL);
  gst_buffer_unref(copy);
  return out;
}

/* Alerts to emit, gathered under the lock, queued after it. */
typedef struct {
  AlertEventType type;
  Alert *alert;
} Emit;

static void
on_prediction(const Prediction *p, gpointer user)
{
  HubStream *hs = user;
  AlertHub *h = hs->hub;
  Emit emits[2 * ALERT_RULES_MAX];
  guint n_emits = 0;
  gboolean want_sample[ALERT_RULES_MAX] = { FALSE };
  gboolean any_peak = FALSE;
  double now_s = (double)p->capture_mono_ns / 1e9;

  g_mutex_lock(&h->lock);
  if (hs->removed || hs->n == 0) {
    g_mutex_unlock(&h->lock);
    return;
  }
  for (guint i = 0; i < hs->n; i++) {
    Rule *rule = &hs->rules[i];
    /* The stream's own model's labels (a model per stream). */
    double score = class_score(p->model ? p->model : h->model, p,
                               rule->t.rule.class_name);
    guint edges = alert_tracker_observe(&rule->t, now_s, p->capture_wall_us,
                                        score);
    if (edges & ALERT_EDGE_END) {
      Alert *a = end_locked(rule, rule->active
                                      ? rule->active->last_seen_us
                                      : p->capture_wall_us);
      if (a)
        emits[n_emits++] = (Emit){ ALERT_EVENT_END, a };
      if (rule->candidate) {
        gst_sample_unref(rule->candidate);
        rule->candidate = NULL;
      }
    }
    if (edges & ALERT_EDGE_PEAK) {
      want_sample[i] = TRUE;
      any_peak = TRUE;
    }
    if (rule->active) {
      rule->active->last_seen_us = rule->t.last_above_wall_us;
      rule->active->peak_score = rule->t.peak_score;
      rule->active->peak_us = rule->t.peak_wall_us;
    }
  }
  g_mutex_unlock(&h->lock);

  /* The frame of a new best score, copied once for every rule that wants
   * it, before the alerts it may start are created. */
  GstSample *copy = NULL;
  if (any_peak) {
    GstSample *last = registry_last_sample(h->registry, hs->id);
    copy = sample_copy(last);
    if (last)
      gst_sample_unref(last);
  }

  g_mutex_lock(&h->lock);
  for (guint i = 0; i < hs->n && !hs->removed; i++) {
    Rule *rule = &hs->rules[i];
    if (want_sample[i] && copy) {
      if (rule->candidate)
        gst_sample_unref(rule->candidate);
      rule->candidate = gst_sample_ref(copy);
      if (rule->active) {
        if (rule->active->best)
          gst_sample_unref(rule->active->best);
        rule->active->best = gst_sample_ref(copy);
        rule->active->best_new = TRUE;
      }
    }
    if (rule->t.state == ALERT_STATE_ACTIVE && !rule->active)
      emits[n_emits++] = (Emit){ ALERT_EVENT_START,
                                 start_locked(h, hs, rule) };
  }
  g_mutex_unlock(&h->lock);
  if (copy)
    gst_sample_unref(copy);
  for (guint i = 0; i < n_emits; i++)
    queue_emit(h, emits[i].type, emits[i].alert);
}

/* The hub thread, once a second: ends alerts whose streams went quiet. */
static void
tick(AlertHub *h)
{
  double now_s = (double)g_get_monotonic_time() / 1e6;
  GPtrArray *ended = g_ptr_array_new();
  g_mutex_lock(&h->lock);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    HubStream *hs = value;
    for (guint i = 0; i < hs->n; i++) {
      Rule *rule = &hs->rules[i];
      if (alert_tracker_tick(&rule->t, now_s) & ALERT_EDGE_END) {
        Alert *a = end_locked(rule, rule->active
                                        ? rule->active->last_seen_us
                                        : 0);
        if (a)
          g_ptr_array_add(ended, a);
      }
    }
  }
  g_mutex_unlock(&h->lock);
  for (guint i = 0; i < ended->len; i++)
    queue_emit(h, ALERT_EVENT_END, g_ptr_array_index(ended, i));
  g_ptr_array_unref(ended);
}

/* ---- streams ---- */

/* h->lock held: frees the rules, ending their alerts (queued). */
static void
rules_free_locked(AlertHub *h, HubStream *hs, gint64 now_us)
{
  for (guint i = 0; i < hs->n; i++) {
    Rule *rule = &hs->rules[i];
    Alert *a = end_locked(rule, rule->active ? rule->active->last_seen_us
                                             : now_us);
    if (a)
      queue_emit(h, ALERT_EVENT_END, a);
    if (rule->candidate)
      gst_sample_unref(rule->candidate);
    alert_tracker_clear(&rule->t);
  }
  g_free(hs->rules);
  alert_rules_free(hs->cfg, hs->n);
  hs->rules = NULL;
  hs->cfg = NULL;
  hs->n = 0;
}

/* h->lock held. */
static void
rules_set_locked(HubStream *hs, const AlertRule *cfg, guint n)
{
  hs->cfg = alert_rules_copy(cfg, n);
  hs->n = hs->cfg ? n : 0;
  hs->rules = hs->n ? g_new0(Rule, hs->n) : NULL;
  for (guint i = 0; i < hs->n; i++)
    alert_tracker_init(&hs->rules[i].t, &hs->cfg[i]);
}

static void
hub_stream_free(HubStream *hs)
{
  stream_results_unref(hs->res);
  g_free(hs->id);
  g_free(hs);
}

void
alert_hub_sync(AlertHub *h)
{
  g_mutex_lock(&h->sync_lock);
  if (h->stopping) {
    g_mutex_unlock(&h->sync_lock);
    return;
  }
  GPtrArray *list = registry_list(h->registry);
  GPtrArray *subscribe = g_ptr_array_new();
  gint64 now_us = g_get_real_time();

  g_mutex_lock(&h->lock);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, NULL, &value))
    ((HubStream *)value)->seen = FALSE;
  for (guint i = 0; i < list->len; i++) {
    const StreamInfo *info = g_ptr_array_index(list, i);
    const StreamConfig *c = &info->config;
    HubStream *hs = g_hash_table_lookup(h->streams, info->id);
    if (!hs) {
      hs = g_new0(HubStream, 1);
      hs->hub = h;
      hs->id = g_strdup(info->id);
      g_hash_table_insert(h->streams, hs->id, hs);
      g_ptr_array_add(subscribe, hs);
      rules_set_locked(hs, c->alerts, c->n_alerts);
    } else if (!alert_rules_equal(hs->cfg, hs->n, c->alerts, c->n_alerts)) {
      rules_free_locked(h, hs, now_us);
      rules_set_locked(hs, c->alerts, c->n_alerts);
    }
    hs->seen = TRUE;
    hs->roi = c->roi;
  }
  GPtrArray *gone = g_ptr_array_new();
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    HubStream *hs = value;
    if (!hs->seen && hs->res) {
      hs->removed = TRUE;
      rules_free_locked(h, hs, now_us);
      g_ptr_array_add(gone, hs);
      g_hash_table_iter_steal(&it);
    }
  }
  g_mutex_unlock(&h->lock);
  g_ptr_array_unref(list);

  for (guint i = 0; i < gone->len; i++) {
    HubStream *hs = g_ptr_array_index(gone, i);
    stream_results_unsubscribe(hs->res, hs->sub);
    hub_stream_free(hs);
  }
  g_ptr_array_unref(gone);
  /* Subscribed after the lock: a stream removed in the meantime has no
   * results and leaves the table at the next sync. */
  for (guint i = 0; i < subscribe->len; i++) {
    HubStream *hs = g_ptr_array_index(subscribe, i);
    StreamResults *res = registry_results(h->registry, hs->id);
    if (!res) {
      g_mutex_lock(&h->lock);
      g_hash_table_steal(h->streams, hs->id);
      hs->removed = TRUE;
      rules_free_locked(h, hs, now_us);
      g_mutex_unlock(&h->lock);
      g_free(hs->id);
      g_free(hs);
      continue;
    }
    hs->res = res;
    hs->sub = stream_results_subscribe(res, on_prediction, hs);
  }
  g_ptr_array_unref(subscribe);
  g_mutex_unlock(&h->sync_lock);
}

void
alert_hub_registry_changed(Registry *r, gpointer user)
{
  alert_hub_sync(user);
}

/* ---- persistence ---- */

/* ---- persistence (the hub thread, and free) ---- */

/* The index, and the JPEG files of alerts dropped from the history. */
static void
save(AlertHub *h)
{
  if (!h->dir)
    return;
  g_mutex_lock(&h->lock);
  json_t *index = alert_store_index_json(h->next_id, &h->history);
  GArray *del = h->to_delete;
  h->to_delete = g_array_new(FALSE, FALSE, sizeof(guint64));
  g_mutex_unlock(&h->lock);
  alert_store_write_index(h->dir, index);
  for (guint i = 0; i < del->len; i++) {
    char *path = alert_store_jpeg_path(h->dir, g_array_index(del, guint64, i));
    if (unlink(path) != 0 && errno != ENOENT)
      g_warning("alerts: cannot remove %s: %s", path, g_strerror(errno));
    g_free(path);
  }
  g_array_unref(del);
}

/* ---- the hub thread ---- */

static void
emit(AlertHub *h, AlertEventType type, Alert *a)
{
  GstSample *best = NULL;
  g_mutex_lock(&h->lock);
  if (a->best && (a->best_new || !a->jpeg)) {
    best = gst_sample_ref(a->best);
    a->best_new = FALSE;
  }
  g_mutex_unlock(&h->lock);
  if (best) {
    guint8 *jpeg = NULL;
    gsize len = 0;
    int w, hgt;
    GError *e = NULL;
    /* The region the model watched, outlined as snapshot.jpg?roi=1 does. */
    const StreamRoi *outline = stream_roi_is_full(&a->roi) ? NULL : &a->roi;
    if (snapshot_encode_sample_outlined(best, h->snapshot_width, outline,
                                        &jpeg, &len, &w, &hgt, &e)) {
      if (h->dir) {
        char *path = alert_store_jpeg_path(h->dir, a->id);
        alert_store_write(path, jpeg, len);
        g_free(path);
      }
      g_mutex_lock(&h->lock);
      guint8 *old = a->jpeg;
      a->jpeg = jpeg;
      a->jpeg_len = len;
      g_mutex_unlock(&h->lock);
      free(old);
    } else {
      g_warning("alerts: the snapshot of alert %" G_GUINT64_FORMAT ": %s",
                a->id, e->message);
      g_error_free(e);
    }
    gst_sample_unref(best);
  }
  g_mutex_lock(&h->lock);
  if (a->end_us && a->best) {
    /* Ended and encoded: the frame is no longer needed. */
    gst_sample_unref(a->best);
    a->best = NULL;
  }
  json_t *o = alert_record_to_json(a);
  g_mutex_unlock(&h->lock);
  /* a->jpeg is replaced only on this thread: safe to lend it. */
  for (guint i = 0; i < h->n_listeners; i++)
    h->listeners[i].fn(h->listeners[i].data, type, a->stream_id, a->cls, o,
                       a->jpeg, a->jpeg_len);
  json_decref(o);
  save(h);
}

static gpointer
thread_main(gpointer user)
{
  AlertHub *h = user;
  gint64 next_tick = g_get_monotonic_time() + TICK_US;
  for (;;) {
    gint64 wait = next_tick - g_get_monotonic_time();
    Job *j = wait > 0 ? g_async_queue_timeout_pop(h->jobs, (guint64)wait)
                      : g_async_queue_try_pop(h->jobs);
    if (!j) {
      alert_hub_sync(h);
      tick(h);
      next_tick = g_get_monotonic_time() + TICK_US;
      continue;
    }
    JobKind kind = j->kind;
    if (kind == JOB_EMIT) {
      emit(h, j->type, j->alert);
      g_mutex_lock(&h->lock);
      alert_record_unref(j->alert);
      g_mutex_unlock(&h->lock);
    } else if (kind == JOB_FLUSH) {
      g_mutex_lock(j->done_lock);
      *j->done = TRUE;
      g_cond_broadcast(j->done_cond);
      g_mutex_unlock(j->done_lock);
    }
    g_free(j);
    if (kind == JOB_STOP)
      return NULL;
  }
}

/* ---- public ---- */

AlertHub *
alert_hub_new(const AlertHubOptions *opt)
{
  AlertHub *h = g_new0(AlertHub, 1);
  h->registry = opt->registry;
  h->model = opt->model;
  h->dir = g_strdup(opt->dir);
  h->history_max = opt->history_max ? MIN(opt->history_max,
                                          ALERTS_HISTORY_MAX)
                                    : ALERTS_DEFAULT_HISTORY;
  h->snapshot_width = opt->snapshot_width ? opt->snapshot_width
                                          : ALERTS_SNAPSHOT_WIDTH;
  g_mutex_init(&h->sync_lock);
  g_mutex_init(&h->lock);
  h->streams = g_hash_table_new(g_str_hash, g_str_equal);
  g_queue_init(&h->history);
  h->next_id = 1;
  h->counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  h->to_delete = g_array_new(FALSE, FALSE, sizeof(guint64));
  h->jobs = g_async_queue_new();
  if (h->dir && !alert_store_load(h->dir, h->history_max, &h->history,
                                   &h->next_id, h->to_delete))
    g_clear_pointer(&h->dir, g_free);
  alert_hub_sync(h);
  h->thread = g_thread_new("ss-alerts", thread_main, h);
  return h;
}

void
alert_hub_add_listener(AlertHub *h, AlertListenerFunc fn, gpointer data)
{
  g_return_if_fail(h->n_listeners < ALERTS_MAX_LISTENERS);
  h->listeners[h->n_listeners].fn = fn;
  h->listeners[h->n_listeners].data = data;
  h->n_listeners++;
}

void
alert_hub_free(AlertHub *h)
{
  if (!h)
    return;
  /* Unsubscribe first: no prediction queues anything after the stop. */
  g_mutex_lock(&h->sync_lock);
  h->stopping = TRUE;
  g_mutex_lock(&h->lock);
  GPtrArray *all = g_ptr_array_new();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, h->streams);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    HubStream *hs = value;
    hs->removed = TRUE;
    g_ptr_array_add(all, hs);
  }
  g_hash_table_steal_all(h->streams);
  g_mutex_unlock(&h->lock);
  for (guint i = 0; i < all->len; i++) {
    HubStream *hs = g_ptr_array_index(all, i);
    if (hs->res)
      stream_results_unsubscribe(hs->res, hs->sub);
  }
  g_mutex_unlock(&h->sync_lock);

  Job *stop = g_new0(Job, 1);
  stop->kind = JOB_STOP;
  g_async_queue_push(h->jobs, stop);
  g_thread_join(h->thread);
  /* Alerts still going on are saved as active (they load as interrupted,
   * ended when last seen); their trackers go without ending them. */
  for (guint i = 0; i < all->len; i++) {
    HubStream *hs = g_ptr_array_index(all, i);
    for (guint k = 0; k < hs->n; k++) {
      Rule *rule = &hs->rules[k];
      if (rule->active)
        alert_record_unref(rule->active);
      if (rule->candidate)
        gst_sample_unref(rule->candidate);
      alert_tracker_clear(&rule->t);
    }
    g_free(hs->rules);
    alert_rules_free(hs->cfg, hs->n);
    if (hs->res)
      stream_results_unref(hs->res);
    g_free(hs->id);
    g_free(hs);
  }
  g_ptr_array_unref(all);
  save(h);
  Job *j;
  while ((j = g_async_queue_try_pop(h->jobs))) {
    if (j->alert)
      alert_record_unref(j->alert);
    g_free(j);
  }
  g_async_queue_unref(h->jobs);
  Alert *a;
  while ((a = g_queue_pop_head(&h->history)))
    alert_record_unref(a);
  g_hash_table_unref(h->streams);
  g_hash_table_unref(h->counts);
  g_array_unref(h->to_delete);
  g_mutex_clear(&h->lock);
  g_mutex_clear(&h->sync_lock);
  g_free(h->dir);
  g_free(h);
}

json_t *
alert_hub_list(AlertHub *h, const AlertQuery *q)
{
  json_t *arr = json_array();
  guint n = 0;
  gint64 now = g_get_real_time();
  g_mutex_lock(&h->lock);
  for (GList *l = h->history.head; l && n < q->limit; l = l->next) {
    const Alert *a = l->data;
    gint64 end = a->end_us ? a->end_us : now;
    if ((q->stream && strcmp(q->stream, a->stream_id) != 0) ||
        (q->cls && strcmp(q->cls, a->cls) != 0) ||
        (q->since_us && end < q->since_us) ||
        (q->until_us && a->start_us > q->until_us))
      continue;
    json_array_append_new(arr, alert_record_to_json(a));
    n++;
  }
  g_mutex_unlock(&h->lock);
  json_t *o = json_object();
  json_object_set_new(o, "count", json_integer(n));
  json_object_set_new(o, "alerts", arr);
  return o;
}

gboolean
alert_hub_snapshot(AlertHub *h, guint64 id, guint8 **jpeg, gsize *len,
                   gboolean *found)
{
  gboolean ok = FALSE;
  *found = FALSE;
  g_mutex_lock(&h->lock);
  for (GList *l = h->history.head; l; l = l->next) {
    const Alert *a = l->data;
    if (a->id != id)
      continue;
    *found = TRUE;
    if (a->jpeg && (*jpeg = malloc(a->jpeg_len))) {
      memcpy(*jpeg, a->jpeg, a->jpeg_len);
      *len = a->jpeg_len;
      ok = TRUE;
    }
    break;
  }
  g_mutex_unlock(&h->lock);
  return ok;
}

void
alert_hub_counts(AlertHub *h, AlertCountFunc fn, gpointer data)
{
  GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
  GArray *vals = g_array_new(FALSE, FALSE, sizeof(guint64));
  g_mutex_lock(&h->lock);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, h->counts);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    g_ptr_array_add(keys, g_strdup(key));
    g_array_append_val(vals, *(guint64 *)value);
  }
  g_mutex_unlock(&h->lock);
  for (guint i = 0; i < keys->len; i++) {
    char *k = g_ptr_array_index(keys, i);
    char *sep = strchr(k, '\x1f');
    *sep = '\0';
    fn(data, k, sep + 1, g_array_index(vals, guint64, i));
  }
  g_ptr_array_unref(keys);
  g_array_unref(vals);
}

void
alert_hub_flush(AlertHub *h)
{
  GMutex lock;
  GCond cond;
  gboolean done = FALSE;
  g_mutex_init(&lock);
  g_cond_init(&cond);
  Job *j = g_new0(Job, 1);
  j->kind = JOB_FLUSH;
  j->done_lock = &lock;
  j->done_cond = &cond;
  j->done = &done;
  g_async_queue_push(h->jobs, j);
  g_mutex_lock(&lock);
  while (!done)
    g_cond_wait(&cond, &lock);
  g_mutex_unlock(&lock);
  g_cond_clear(&cond);
  g_mutex_clear(&lock);
}
