/* The alert state machine (pipeline/alert-rule.c) on a fake clock: long
 * holds, clears, flicker (one alert, not one per flicker), a score exactly
 * at the threshold, gaps between frames, a stream that stops sending
 * frames, peaks, and rule validation. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alert-rule.h"
#include "testutil.h"

#define SEED 20261207u

static AlertRule
rule(double min_score, double min_duration_s, double clear_after_s)
{
  AlertRule r;
  alert_rule_init(&r);
  r.class_name = g_strdup("person");
  r.min_score = min_score;
  r.min_duration_s = min_duration_s;
  r.clear_after_s = clear_after_s;
  return r;
}

/* Feeds scores[i] at t0 + i * dt; counts the edges. */
typedef struct {
  guint starts, ends, peaks;
  double first_start_s, last_end_s;
} Edges;

static void
feed(AlertTracker *t, double t0, double dt, const double *scores, guint n,
     Edges *e)
{
  for (guint i = 0; i < n; i++) {
    double now = t0 + dt * i;
    guint ed = alert_tracker_observe(t, now, (gint64)(now * 1e6), scores[i]);
    if (ed & ALERT_EDGE_END) {
      e->ends++;
      e->last_end_s = now;
    }
    if (ed & ALERT_EDGE_START) {
      if (!e->starts)
        e->first_start_s = now;
      e->starts++;
    }
    if (ed & ALERT_EDGE_PEAK)
      e->peaks++;
  }
}

START_TEST(test_long_hold_one_alert)
{
  AlertRule r = rule(0.5, 1.0, 3.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  /* 5 fps: 2 s below, 60 s above, 10 s below. */
  double s[360];
  for (guint i = 0; i < 360; i++)
    s[i] = i < 10 ? 0.1 : i < 310 ? 0.9 : 0.1;
  Edges e = { 0 };
  feed(&t, 100.0, 0.2, s, 360, &e);
  ck_assert_uint_eq(e.starts, 1);
  ck_assert_uint_eq(e.ends, 1);
  /* Held from frame 10 (t=102): starts 1 s later, at 103. */
  ck_assert_double_eq_tol(e.first_start_s, 103.0, 1e-9);
  /* Last above at frame 309 (t=161.8); ends 3 s later. */
  ck_assert_double_eq_tol(e.last_end_s, 164.8, 1e-9);
  ck_assert_double_eq_tol(t.run_start_s, 102.0, 1e-9);
  ck_assert_double_eq_tol(t.last_above_s, 161.8, 1e-9);
  ck_assert_int_eq(t.last_above_wall_us, (gint64)(161.8 * 1e6));
  ck_assert_int_eq(t.state, ALERT_STATE_IDLE);
  alert_tracker_clear(&t);
  alert_rule_clear(&r);
}
END_TEST

/* A score that crosses the threshold every frame or two while something
 * is there: one alert. */
START_TEST(test_flicker_one_alert)
{
  AlertRule r = rule(0.6, 1.0, 2.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  GRand *g = g_rand_new_with_seed(SEED);
  double s[500];
  guint crossings = 0;
  for (guint i = 0; i < 500; i++) {
    if (i < 20)
      s[i] = 0.9; /* holds long enough to start */
    else if (i < 450)
      s[i] = g_rand_int_range(g, 0, 3) == 0 ? 0.3 : 0.8; /* 1/3 below */
    else
      s[i] = 0.05;
    if (i > 0 && (s[i] >= 0.6) != (s[i - 1] >= 0.6))
      crossings++;
  }
  g_rand_free(g);
  Edges e = { 0 };
  feed(&t, 0.0, 0.2, s, 500, &e);
  ck_assert_msg(crossings > 100, "only %u crossings: not a flicker", crossings);
  ck_assert_uint_eq(e.starts, 1);
  ck_assert_uint_eq(e.ends, 1);
  alert_tracker_clear(&t);
  alert_rule_clear(&r);
}
END_TEST

/* Brief blips above (shorter than min_duration_s) never start an alert;
 * pending runs need every frame at or above the threshold. */
START_TEST(test_blips_no_alert)
{
  AlertRule r = rule(0.5, 1.0, 3.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  double s[200];
  for (guint i = 0; i < 200; i++)
    s[i] = (i % 4 == 0) ? 0.95 : 0.2; /* above 1 frame in 4 */
  Edges e = { 0 };
  feed(&t, 0.0, 0.2, s, 200, &e);
  ck_assert_uint_eq(e.starts, 0);
  ck_assert_uint_eq(e.ends, 0);
  ck_assert_uint_eq(e.peaks, 50); /* every blip was a new run */
  alert_tracker_clear(&t);
  alert_rule_clear(&r);
}
END_TEST

/* Separate occurrences, each longer than min_duration_s and apart by more
 * than clear_after_s: one alert each. */
START_TEST(test_clears_between_occurrences)
{
  AlertRule r = rule(0.5, 0.5, 1.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  double s[300];
  for (guint i = 0; i < 300; i++)
    s[i] = (i / 30) % 2 ? 0.8 : 0.1; /* 3 s on, 3 s off at 10 fps */
  Edges e = { 0 };
  feed(&t, 0.0, 0.1, s, 300, &e);
  ck_assert_uint_eq(e.starts, 5);
  ck_assert_uint_eq(e.ends, 4); /* the fifth clears after the last frame */
  ck_assert_double_eq_tol(t.last_above_s, 29.9, 1e-9);
  ck_assert_uint_eq(alert_tracker_tick(&t, t.last_above_s + 0.99),
                    ALERT_EDGE_NONE);
  ck_assert_uint_eq(alert_tracker_tick(&t, t.last_above_s + 1.0),
                    ALERT_EDGE_END);
  alert_tracker_clear(&t);
  alert_rule_clear(&r);
}
END_TEST

/* At the threshold counts as holding; just below does not. */
START_TEST(test_exactly_at_threshold)
{
  AlertRule r = rule(0.5, 0.0, 0.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  guint ed = alert_tracker_observe(&t, 1.0, 1, 0.5);
  ck_assert_uint_eq(ed, ALERT_EDGE_START | ALERT_EDGE_PEAK);
  ck_assert_int_eq(t.state, ALERT_STATE_ACTIVE);
  /* clear_after 0: the first frame below ends it. */
  ed = alert_tracker_observe(&t, 1.2, 2, nextafter(0.5, 0.0));
  ck_assert_uint_eq(ed, ALERT_EDGE_END);
  ck_assert_int_eq(t.state, ALERT_STATE_IDLE);
  /* min_duration exactly reached starts; just before does not. */
  AlertRule r2 = rule(0.5, 1.0, 1.0);
  AlertTracker t2;
  alert_tracker_init(&t2, &r2);
  ck_assert_uint_eq(alert_tracker_observe(&t2, 10.0, 0, 0.7),
                    ALERT_EDGE_PEAK);
  ck_assert_uint_eq(alert_tracker_observe(&t2, 10.5, 0, 0.6),
                    ALERT_EDGE_NONE);
  ck_assert_uint_eq(alert_tracker_observe(&t2, 11.0, 0, 0.6),
                    ALERT_EDGE_START);
  alert_tracker_clear(&t);
  alert_tracker_clear(&t2);
  alert_rule_clear(&r);
  alert_rule_clear(&r2);
}
END_TEST

/* Gaps between frames: a pending run does not survive a gap longer than
 * MAX(ALERT_FRAME_GAP_S, clear_after_s); an active alert ends across a gap
 * of clear_after_s or more, and a new run may start at once. */
START_TEST(test_frame_gaps)
{
  AlertRule r = rule(0.5, 2.0, 1.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  alert_tracker_observe(&t, 0.0, 0, 0.9);
  /* 5 s without frames, then above: the run restarts, no alert yet. */
  ck_assert_uint_eq(alert_tracker_observe(&t, 5.0, 0, 0.9), ALERT_EDGE_PEAK);
  ck_assert_int_eq(t.state, ALERT_STATE_PENDING);
  ck_assert_double_eq(t.run_start_s, 5.0);
  /* A 1.5 s gap (under ALERT_FRAME_GAP_S) keeps the run. */
  ck_assert_uint_eq(alert_tracker_observe(&t, 6.5, 0, 0.8), ALERT_EDGE_NONE);
  ck_assert_uint_eq(alert_tracker_observe(&t, 7.0, 0, 0.8), ALERT_EDGE_START);
  /* Active; frames stop for 4 s (> clear_after 1 s), then above again:
   * the alert ended in the gap, and a new run begins (pending). */
  guint ed = alert_tracker_observe(&t, 11.0, 0, 0.95);
  ck_assert_uint_eq(ed, ALERT_EDGE_END | ALERT_EDGE_PEAK);
  ck_assert_int_eq(t.state, ALERT_STATE_PENDING);
  /* With min_duration 0, END and START come from the same frame. */
  AlertRule r0 = rule(0.5, 0.0, 1.0);
  AlertTracker t0;
  alert_tracker_init(&t0, &r0);
  ck_assert_uint_eq(alert_tracker_observe(&t0, 0.0, 0, 0.9) &
                        ALERT_EDGE_START, ALERT_EDGE_START);
  ed = alert_tracker_observe(&t0, 10.0, 0, 0.9);
  ck_assert_uint_eq(ed, ALERT_EDGE_END | ALERT_EDGE_START | ALERT_EDGE_PEAK);
  /* Out of order and NaN times are ignored. */
  ck_assert_uint_eq(alert_tracker_observe(&t0, 9.0, 0, 0.1), ALERT_EDGE_NONE);
  ck_assert_uint_eq(alert_tracker_observe(&t0, NAN, 0, 0.1), ALERT_EDGE_NONE);
  ck_assert_int_eq(t0.state, ALERT_STATE_ACTIVE);
  alert_tracker_clear(&t);
  alert_tracker_clear(&t0);
  alert_rule_clear(&r);
  alert_rule_clear(&r0);
}
END_TEST

/* A stream that stops sending frames: the clock alone ends the alert. */
START_TEST(test_clock_without_frames)
{
  AlertRule r = rule(0.4, 0.0, 5.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  alert_tracker_observe(&t, 50.0, 0, 0.7);
  ck_assert_int_eq(t.state, ALERT_STATE_ACTIVE);
  for (double now = 50.0; now < 54.99; now += 0.25)
    ck_assert_uint_eq(alert_tracker_tick(&t, now), ALERT_EDGE_NONE);
  ck_assert_uint_eq(alert_tracker_tick(&t, 55.0), ALERT_EDGE_END);
  ck_assert_uint_eq(alert_tracker_tick(&t, 56.0), ALERT_EDGE_NONE);
  /* Ticks never start anything. */
  AlertTracker t2;
  alert_tracker_init(&t2, &r);
  ck_assert_uint_eq(alert_tracker_tick(&t2, 1e6), ALERT_EDGE_NONE);
  ck_assert_int_eq(t2.state, ALERT_STATE_IDLE);
  alert_tracker_clear(&t);
  alert_tracker_clear(&t2);
  alert_rule_clear(&r);
}
END_TEST

/* PEAK marks each frame that beats the run's best; the peak is kept. */
START_TEST(test_peaks)
{
  AlertRule r = rule(0.5, 0.0, 1.0);
  AlertTracker t;
  alert_tracker_init(&t, &r);
  const double s[] = { 0.6, 0.7, 0.65, 0.9, 0.9, 0.8, 0.2 };
  guint peaks = 0;
  for (guint i = 0; i < G_N_ELEMENTS(s); i++)
    if (alert_tracker_observe(&t, i * 0.1, 1000 + i, s[i]) & ALERT_EDGE_PEAK)
      peaks++;
  ck_assert_uint_eq(peaks, 3); /* 0.6, 0.7, 0.9 (an equal score is not) */
  ck_assert_double_eq(t.peak_score, 0.9);
  ck_assert_int_eq(t.peak_wall_us, 1003);
  alert_tracker_clear(&t);
  alert_rule_clear(&r);
}
END_TEST

static const struct {
  const char *cls;
  double min_score, min_duration_s, clear_after_s;
  const char *field; /* NULL: valid */
} validate_cases[] = {
  { "person", 0.5, 1.0, 3.0, NULL },
  { "person", 1.0, 0.0, 0.0, NULL },
  { NULL, 0.5, 1.0, 3.0, "alerts[3].class" },
  { "", 0.5, 1.0, 3.0, "alerts[3].class" },
  { "a\nb", 0.5, 1.0, 3.0, "alerts[3].class" },
  { "\xff\xfe", 0.5, 1.0, 3.0, "alerts[3].class" },
  { "person", 0.0, 1.0, 3.0, "alerts[3].min_score" },
  { "person", 1.01, 1.0, 3.0, "alerts[3].min_score" },
  { "person", NAN, 1.0, 3.0, "alerts[3].min_score" },
  { "person", 0.5, -1.0, 3.0, "alerts[3].min_duration_s" },
  { "person", 0.5, INFINITY, 3.0, "alerts[3].min_duration_s" },
  { "person", 0.5, 1.0, NAN, "alerts[3].clear_after_s" },
  { "person", 0.5, 1.0, 86401.0, "alerts[3].clear_after_s" },
};

START_TEST(test_validate)
{
  AlertRule r;
  alert_rule_init(&r);
  r.class_name = g_strdup(validate_cases[_i].cls);
  r.min_score = validate_cases[_i].min_score;
  r.min_duration_s = validate_cases[_i].min_duration_s;
  r.clear_after_s = validate_cases[_i].clear_after_s;
  GError *e = NULL;
  gboolean ok = alert_rule_validate(&r, "alerts[3].", &e);
  if (!validate_cases[_i].field) {
    ck_assert_msg(ok, "case %d: %s", _i, e ? e->message : "");
  } else {
    ck_assert_msg(!ok, "case %d accepted", _i);
    ck_assert_msg(g_str_has_prefix(e->message, validate_cases[_i].field),
                  "case %d: '%s'", _i, e->message);
    g_error_free(e);
  }
  alert_rule_clear(&r);
}
END_TEST

START_TEST(test_copy_equal)
{
  AlertRule a[2] = { rule(0.5, 1, 2), rule(0.7, 0, 1) };
  AlertRule *b = alert_rules_copy(a, 2);
  ck_assert(alert_rules_equal(a, 2, b, 2));
  ck_assert(b[0].class_name != a[0].class_name);
  b[1].clear_after_s = 1.5;
  ck_assert(!alert_rules_equal(a, 2, b, 2));
  ck_assert(!alert_rules_equal(a, 2, b, 1));
  ck_assert(alert_rules_copy(NULL, 0) == NULL);
  alert_rules_free(b, 2);
  alert_rule_clear(&a[0]);
  alert_rule_clear(&a[1]);
}
END_TEST

static Suite *
alert_rule_suite(void)
{
  Suite *s = suite_create("alert-rule");
  TCase *tc = tcase_create("tracker");
  tcase_add_test(tc, test_long_hold_one_alert);
  tcase_add_test(tc, test_flicker_one_alert);
  tcase_add_test(tc, test_blips_no_alert);
  tcase_add_test(tc, test_clears_between_occurrences);
  tcase_add_test(tc, test_exactly_at_threshold);
  tcase_add_test(tc, test_frame_gaps);
  tcase_add_test(tc, test_clock_without_frames);
  tcase_add_test(tc, test_peaks);
  suite_add_tcase(s, tc);
  tc = tcase_create("rules");
  tcase_add_loop_test(tc, test_validate, 0, G_N_ELEMENTS(validate_cases));
  tcase_add_test(tc, test_copy_equal);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  printf("seed %u\n", SEED);
  return tu_run_suite(alert_rule_suite());
}
