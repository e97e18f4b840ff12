#include "fps-gate.h"

void
fps_gate_set_max_fps(FpsGate *g, double max_fps)
{
  g->max_fps = max_fps > 0.0 ? max_fps : 0.0;
  g->next_due_ns = 0;
}

gboolean
fps_gate_due(const FpsGate *g, gint64 now_ns)
{
  return g->max_fps <= 0.0 || now_ns >= g->next_due_ns;
}

void
fps_gate_commit(FpsGate *g, gint64 now_ns)
{
  if (g->max_fps <= 0.0)
    return;
  gint64 interval = (gint64)(1e9 / g->max_fps);
  if (g->next_due_ns == 0 || now_ns - g->next_due_ns > interval)
    g->next_due_ns = now_ns + interval;
  else
    g->next_due_ns += interval;
}

gboolean
fps_gate_take(FpsGate *g, gint64 now_ns)
{
  if (!fps_gate_due(g, now_ns))
    return FALSE;
  fps_gate_commit(g, now_ns);
  return TRUE;
}
