/* streamsight — alert rules and their state machine (see alert-rule.h). */
#include "alert-rule.h"

#include <math.h>
#include <string.h>

#include "stream-config.h"

void
alert_rule_init(AlertRule *r)
{
  memset(r, 0, sizeof *r);
  r->min_score = 0.5;
  r->min_duration_s = 1.0;
  r->clear_after_s = 3.0;
}

void
alert_rule_clear(AlertRule *r)
{
  if (!r)
    return;
  g_free(r->class_name);
  r->class_name = NULL;
}

static void
alert_rule_copy(AlertRule *dst, const AlertRule *src)
{
  if (dst == src)
    return;
  *dst = *src;
  dst->class_name = g_strdup(src->class_name);
}

static gboolean
alert_rule_equal(const AlertRule *a, const AlertRule *b)
{
  return g_strcmp0(a->class_name, b->class_name) == 0 &&
         a->min_score == b->min_score &&
         a->min_duration_s == b->min_duration_s &&
         a->clear_after_s == b->clear_after_s;
}

static gboolean
bad(GError **error, const char *prefix, const char *field, const char *what)
{
  g_set_error(error, STREAM_CONFIG_ERROR, STREAM_CONFIG_ERROR_INVALID,
              "%s%s: %s", prefix, field, what);
  return FALSE;
}

gboolean
alert_rule_validate(const AlertRule *r, const char *prefix, GError **error)
{
  if (!r->class_name || !*r->class_name)
    return bad(error, prefix, "class", "required (a label of the model or "
               "a class of the stream's head)");
  if (strlen(r->class_name) > ALERT_CLASS_MAX)
    return bad(error, prefix, "class", "longer than 128 bytes");
  if (!g_utf8_validate(r->class_name, -1, NULL))
    return bad(error, prefix, "class", "not valid UTF-8");
  for (const char *p = r->class_name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return bad(error, prefix, "class", "control characters are not "
                 "allowed");
  /* NaN fails every comparison, so each test is written to reject it. */
  if (!(r->min_score > 0.0 && r->min_score <= 1.0))
    return bad(error, prefix, "min_score", "must be a number in (0, 1]");
  if (!(r->min_duration_s >= 0.0 && r->min_duration_s <= ALERT_DURATION_MAX_S))
    return bad(error, prefix, "min_duration_s", "must be a number of "
               "seconds in [0, 86400]");
  if (!(r->clear_after_s >= 0.0 && r->clear_after_s <= ALERT_DURATION_MAX_S))
    return bad(error, prefix, "clear_after_s", "must be a number of "
               "seconds in [0, 86400]");
  return TRUE;
}

AlertRule *
alert_rules_copy(const AlertRule *src, guint n)
{
  if (!src || n == 0)
    return NULL;
  AlertRule *out = g_new0(AlertRule, n);
  for (guint i = 0; i < n; i++)
    alert_rule_copy(&out[i], &src[i]);
  return out;
}

void
alert_rules_free(AlertRule *rules, guint n)
{
  if (!rules)
    return;
  for (guint i = 0; i < n; i++)
    alert_rule_clear(&rules[i]);
  g_free(rules);
}

gboolean
alert_rules_equal(const AlertRule *a, guint na, const AlertRule *b, guint nb)
{
  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (!alert_rule_equal(&a[i], &b[i]))
      return FALSE;
  return TRUE;
}

/* ---- the state machine ---- */

void
alert_tracker_init(AlertTracker *t, const AlertRule *rule)
{
  memset(t, 0, sizeof *t);
  alert_rule_copy(&t->rule, rule);
}

void
alert_tracker_clear(AlertTracker *t)
{
  if (t)
    alert_rule_clear(&t->rule);
}

static double
max_gap_s(const AlertTracker *t)
{
  return MAX(ALERT_FRAME_GAP_S, t->rule.clear_after_s);
}

guint
alert_tracker_tick(AlertTracker *t, double now_s)
{
  if (t->state != ALERT_STATE_ACTIVE ||
      now_s - t->last_above_s < t->rule.clear_after_s)
    return ALERT_EDGE_NONE;
  /* The run's figures stay readable until the next run starts. */
  t->state = ALERT_STATE_IDLE;
  return ALERT_EDGE_END;
}

guint
alert_tracker_observe(AlertTracker *t, double now_s, gint64 wall_us,
                      double score)
{
  if (t->seen && !(now_s >= t->last_seen_s))
    return ALERT_EDGE_NONE; /* out of order (or NaN): nothing learnt */
  guint edges = alert_tracker_tick(t, now_s);
  gboolean gap = t->seen && now_s - t->last_seen_s > max_gap_s(t);
  t->seen = TRUE;
  t->last_seen_s = now_s;
  /* At the threshold counts as holding: "min_score 0.5" accepts 0.5. */
  gboolean above = score >= t->rule.min_score;

  if (!above) {
    if (t->state == ALERT_STATE_PENDING)
      t->state = ALERT_STATE_IDLE; /* did not hold long enough */
    return edges;
  }
  if (t->state == ALERT_STATE_PENDING && gap)
    t->state = ALERT_STATE_IDLE; /* unknown time in between: start again */
  if (t->state == ALERT_STATE_IDLE) {
    t->state = ALERT_STATE_PENDING;
    t->run_start_s = now_s;
    t->run_start_wall_us = wall_us;
    t->peak_score = -1.0;
  }
  t->last_above_s = now_s;
  t->last_above_wall_us = wall_us;
  if (score > t->peak_score) {
    t->peak_score = score;
    t->peak_wall_us = wall_us;
    edges |= ALERT_EDGE_PEAK;
  }
  if (t->state == ALERT_STATE_PENDING &&
      now_s - t->run_start_s >= t->rule.min_duration_s) {
    t->state = ALERT_STATE_ACTIVE;
    edges |= ALERT_EDGE_START;
  }
  return edges;
}
