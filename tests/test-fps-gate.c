/* pipeline/fps-gate.c: the max-fps schedule the sink element and
 * FrameInfer share. Times are made up (nanoseconds), so nothing depends on
 * the machine's speed. */
#include <check.h>
#include <stdlib.h>

#include "fps-gate.h"
#include "testutil.h"

#define MS 1000000LL

/* Frames every 10 ms at max_fps 10: every tenth is kept, on a fixed
 * schedule (no drift from arrival jitter). */
START_TEST(test_schedule)
{
  FpsGate g = { 0 };
  fps_gate_set_max_fps(&g, 10.0);
  int kept = 0;
  gint64 first = 0, last = 0;
  for (int i = 0; i < 1000; i++) {
    gint64 t = 1000 * MS + i * 10 * MS + (i % 3) * MS; /* 0-2 ms jitter */
    if (fps_gate_take(&g, t)) {
      if (!first)
        first = t;
      last = t;
      kept++;
    }
  }
  ck_assert_int_eq(kept, 100);
  /* 99 intervals of 100 ms, give or take the jitter. */
  ck_assert_int_le(llabs((last - first) - 99 * 100 * MS), 3 * MS);
}
END_TEST

/* After a gap longer than an interval the schedule restarts: no burst of
 * frames to catch up. */
START_TEST(test_gap_no_burst)
{
  FpsGate g = { 0 };
  fps_gate_set_max_fps(&g, 5.0); /* 200 ms */
  ck_assert(fps_gate_take(&g, 1000 * MS));
  ck_assert(!fps_gate_take(&g, 1100 * MS));
  ck_assert(fps_gate_take(&g, 1200 * MS));
  /* 5 s of nothing, then frames every 10 ms: one now, the next 200 ms
   * later, not five at once. */
  int kept = 0;
  for (int i = 0; i < 20; i++)
    kept += fps_gate_take(&g, 6200 * MS + i * 10 * MS);
  ck_assert_int_eq(kept, 1);
  ck_assert(fps_gate_take(&g, 6400 * MS));
}
END_TEST

/* due without commit does not advance (FrameInfer checks, then takes only
 * when the frame is not dropped as busy); 0 and negative are unlimited;
 * a new max_fps restarts the schedule. */
START_TEST(test_due_commit_unlimited)
{
  FpsGate g = { 0 };
  fps_gate_set_max_fps(&g, 2.0);
  ck_assert(fps_gate_due(&g, 10 * MS));
  ck_assert(fps_gate_due(&g, 10 * MS));
  fps_gate_commit(&g, 10 * MS);
  ck_assert(!fps_gate_due(&g, 11 * MS));
  ck_assert(fps_gate_due(&g, 510 * MS));
  fps_gate_set_max_fps(&g, 1000.0);
  ck_assert(fps_gate_due(&g, 12 * MS));
  fps_gate_set_max_fps(&g, -3.0);
  ck_assert(g.max_fps == 0.0);
  for (int i = 0; i < 100; i++)
    ck_assert(fps_gate_take(&g, 20 * MS));
}
END_TEST

static Suite *
fps_gate_suite(void)
{
  Suite *s = suite_create("fps-gate");
  TCase *tc = tcase_create("schedule");
  tcase_add_test(tc, test_schedule);
  tcase_add_test(tc, test_gap_no_burst);
  tcase_add_test(tc, test_due_commit_unlimited);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(fps_gate_suite());
}
