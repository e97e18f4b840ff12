/* streamsight — the max-fps schedule, one for the sink element's max-fps
 * property and FrameInfer's per-stream max_fps.
 *
 * A frame is kept when it arrives at or after its due time; the next one
 * is due an interval (1 / max_fps) later, on the same schedule (no drift),
 * unless the stream fell more than an interval behind, when the schedule
 * restarts from that frame (no burst after a gap). max_fps 0: every frame.
 *
 * Not thread-safe: the owner serialises calls (the sink's streaming
 * thread, FrameInfer's lock).
 */
#ifndef SS_FPS_GATE_H
#define SS_FPS_GATE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double max_fps;      /* <= 0: unlimited */
  gint64 next_due_ns;  /* 0: the next frame is due */
} FpsGate;

/* Sets max_fps (negative: 0) and restarts the schedule at the next frame. */
void fps_gate_set_max_fps(FpsGate *g, double max_fps);
/* Whether a frame arriving at now_ns (monotonic) is due. */
gboolean fps_gate_due(const FpsGate *g, gint64 now_ns);
/* The frame at now_ns was kept: schedule the next. */
void fps_gate_commit(FpsGate *g, gint64 now_ns);
/* fps_gate_due, then fps_gate_commit when it is. */
gboolean fps_gate_take(FpsGate *g, gint64 now_ns);

G_END_DECLS

#endif
