/* streamsight — alert rules: turning a noisy per-frame score into start and
 * end events (issue 12 part 5).
 *
 * A rule names a class (an ImageNet label, or a head's class) and three
 * figures. The class "holds" while each frame scores it at or above
 * min_score. An alert starts once it has held for min_duration_s; it ends
 * once no frame has scored it at or above min_score for clear_after_s
 * (frames below, or no frames at all: a stream that went down). Because a
 * started alert needs clear_after_s without the class to end, a score that
 * flickers across min_score gives one alert, not one per flicker.
 *
 * AlertTracker is the pure state machine of one rule: times are passed in
 * (seconds on a monotonic clock, plus the wall time for the record), so
 * tests drive it with a fake clock. Not thread-safe: the owner serialises
 * calls.
 */
#ifndef SS_ALERT_RULE_H
#define SS_ALERT_RULE_H

#include <glib.h>

G_BEGIN_DECLS

#define ALERT_CLASS_MAX 128      /* bytes of a class name */
#define ALERT_RULES_MAX 16       /* rules per stream */
#define ALERT_DURATION_MAX_S 86400.0
/* A run of frames holding the class survives gaps between frames of up to
 * MAX(ALERT_FRAME_GAP_S, clear_after_s): the time of a longer gap is
 * unknown (dropped frames, a reconnect) and the run starts again. 2 s
 * covers a stream at 0.5 fps. */
#define ALERT_FRAME_GAP_S 2.0

typedef struct {
  char *class_name;      /* 1..ALERT_CLASS_MAX bytes, UTF-8, owned */
  double min_score;      /* 0 < min_score <= 1; default 0.5 */
  double min_duration_s; /* 0 .. ALERT_DURATION_MAX_S; default 1 */
  double clear_after_s;  /* 0 .. ALERT_DURATION_MAX_S; default 3 */
} AlertRule;

/* Defaults for every field but class_name (NULL). */
void alert_rule_init(AlertRule *r);
void alert_rule_clear(AlertRule *r);
/* Ranges and the class name. Errors are "<field>: <problem>" with the
 * given prefix (e.g. "alerts[2].") before the field. */
gboolean alert_rule_validate(const AlertRule *r, const char *prefix,
                             GError **error);

/* Arrays of rules, as a stream's config holds them. */
AlertRule *alert_rules_copy(const AlertRule *src, guint n);
void alert_rules_free(AlertRule *rules, guint n); /* NULL is allowed */
gboolean alert_rules_equal(const AlertRule *a, guint na, const AlertRule *b,
                           guint nb);

typedef enum {
  ALERT_STATE_IDLE = 0, /* the class does not hold */
  ALERT_STATE_PENDING,  /* it holds, not yet for min_duration_s */
  ALERT_STATE_ACTIVE,   /* an alert is going on */
} AlertState;

/* What one call changed: a bit set. An END and a START from one call are
 * two alerts (the old one ended in a gap, a new run started). */
typedef enum {
  ALERT_EDGE_NONE = 0,
  ALERT_EDGE_END = 1 << 0,   /* the active alert ended (reported first) */
  ALERT_EDGE_START = 1 << 1, /* an alert started */
  ALERT_EDGE_PEAK = 1 << 2,  /* this frame is the run's best so far: keep
                              * it as the alert's snapshot */
} AlertEdge;

typedef struct {
  AlertRule rule; /* owned copy */
  AlertState state;
  gboolean seen;          /* any frame observed */
  double last_seen_s;     /* the last frame */
  /* The current run (PENDING or ACTIVE), or the alert that just ended
   * (read them right after an END edge). */
  double run_start_s;
  gint64 run_start_wall_us;
  double last_above_s;
  gint64 last_above_wall_us;
  double peak_score;
  gint64 peak_wall_us;
} AlertTracker;

/* rule is copied. */
void alert_tracker_init(AlertTracker *t, const AlertRule *rule);
void alert_tracker_clear(AlertTracker *t);

/* One frame: its monotonic time (seconds, not earlier than the previous
 * frame's: an earlier one is ignored), wall time and the rule's class
 * score (0 when the class is not among the frame's scores). Returns the
 * AlertEdge bits. */
guint alert_tracker_observe(AlertTracker *t, double now_s, gint64 wall_us,
                            double score);
/* Time passing without frames (a stream that stalled): ends an active
 * alert once clear_after_s have gone by since the class last held.
 * Returns ALERT_EDGE_END or ALERT_EDGE_NONE. */
guint alert_tracker_tick(AlertTracker *t, double now_s);

G_END_DECLS

#endif
