/* streamsightsink as an element: frames the target refuses are dropped and
 * counted, max-fps, no target, a target replaced, flushing, last-sample,
 * properties, and appsrc -> streamsightsink in a pipeline description.
 *
 * GstHarness comes from gstreamer-check-1.0 with its own bundled Check, so
 * this binary does not use tests/testutil (which links the system Check).
 */
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "frame-convert.h"
#include "sink-fixture.h"
#include "streamsight-sink.h"

/* ---- drops, counters, properties ---- */

static GstBuffer *
small_frame(void)
{
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, 32, 24);
  return random_frame(&info);
}

static void
set_small_caps(GstHarness *h)
{
  gst_harness_set_src_caps_str(
      h, "video/x-raw,format=I420,width=32,height=24,framerate=30/1");
}

GST_START_TEST(test_refused_frames_dropped)
{
  TestTarget t;
  tt_init(&t, 8, 8);
  GstHarness *h = new_harness(&t, imagenet_mean, imagenet_std, NULL);
  set_small_caps(h);
  fail_unless_equals_int(gst_harness_push(h, small_frame()), GST_FLOW_OK);
  t.refuse = TRUE;
  for (int i = 0; i < 3; i++)
    fail_unless_equals_int(gst_harness_push(h, small_frame()),
                           GST_FLOW_OK);
  t.refuse = FALSE;
  fail_unless_equals_int(gst_harness_push(h, small_frame()), GST_FLOW_OK);
  fail_unless_equals_int(t.refused, 3);
  fail_unless_equals_int(t.submitted, 2);
  fail_unless_equals_uint64(t.last.frame_no, 5); /* refused ones counted */
  fail_unless_equals_int(t.acquired + t.refused, 5); /* each offered */
  fail_unless(streamsight_sink_last_frame_mono_ns(
                  STREAMSIGHT_SINK(h->element)) == t.last.arrival_mono_ns);
  fail_unless(t.last.arrival_wall_us > 0 && t.last.preprocess_ns > 0);
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

GST_START_TEST(test_max_fps)
{
  TestTarget t;
  tt_init(&t, 8, 8);
  GstHarness *h = new_harness(&t, imagenet_mean, imagenet_std, NULL);
  g_object_set(h->element, "max-fps", 10.0, NULL);
  set_small_caps(h);
  /* Five frames within a few ms: the first passes, the rest are over
   * budget (the next is due 100 ms after it). */
  for (int i = 0; i < 5; i++)
    gst_harness_push(h, small_frame());
  fail_unless_equals_int(t.submitted, 1);
  g_usleep(120 * 1000);
  gst_harness_push(h, small_frame());
  fail_unless_equals_int(t.submitted, 2);
  fail_unless_equals_int(t.acquired, 2); /* fps drops never reach acquire */
  fail_unless_equals_uint64(t.last.frame_no, 6); /* but are numbered */
  /* 0 = unlimited again */
  g_object_set(h->element, "max-fps", 0.0, NULL);
  for (int i = 0; i < 3; i++)
    gst_harness_push(h, small_frame());
  fail_unless_equals_int(t.submitted, 5);
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

GST_START_TEST(test_no_target)
{
  GstHarness *h = gst_harness_new("streamsightsink");
  g_object_set(h->element, "sync", FALSE, NULL);
  set_small_caps(h);
  fail_unless_equals_int(gst_harness_push(h, small_frame()),
                         GST_FLOW_OK);
  /* Ignored, but seen: the supervisor's stall check counts it. */
  fail_unless(streamsight_sink_last_frame_mono_ns(
                  STREAMSIGHT_SINK(h->element)) > 0);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_target_replaced)
{
  TestTarget a, b;
  tt_init(&a, 8, 8);
  tt_init(&b, 16, 12);
  GstHarness *h = new_harness(&a, imagenet_mean, imagenet_std, NULL);
  set_small_caps(h);
  gst_harness_push(h, small_frame());
  fail_unless_equals_int(a.submitted, 1);
  streamsight_sink_set_target(STREAMSIGHT_SINK(h->element), 16, 12,
                              imagenet_mean, imagenet_std, &test_target, &b,
                              tt_destroy);
  fail_unless_equals_int(a.destroyed, 1); /* no frame held it */
  gst_harness_push(h, small_frame());
  fail_unless_equals_int(a.submitted, 1);
  fail_unless_equals_int(b.submitted, 1);
  for (int i = 0; i < 16 * 12 * 3; i++) /* the new size was used */
    fail_unless(!isnan(b.tensor[i]), "index %d not written", i);
  gst_harness_teardown(h);
  fail_unless_equals_int(b.destroyed, 1);
  tt_clear(&a);
  tt_clear(&b);
}
GST_END_TEST;

GST_START_TEST(test_flushing)
{
  TestTarget t;
  tt_init(&t, 8, 8);
  GstHarness *h = new_harness(&t, imagenet_mean, imagenet_std, NULL);
  set_small_caps(h);
  fail_unless_equals_int(gst_harness_push(h, small_frame()), GST_FLOW_OK);
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_start()));
  fail_unless_equals_int(gst_harness_push(h, small_frame()),
                         GST_FLOW_FLUSHING);
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_harness_push_event(h, gst_event_new_segment(&seg));
  fail_unless_equals_int(gst_harness_push(h, small_frame()), GST_FLOW_OK);
  fail_unless_equals_int(t.submitted, 2);
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

GST_START_TEST(test_last_sample)
{
  TestTarget t;
  tt_init(&t, 8, 8);
  GstHarness *h = new_harness(&t, imagenet_mean, imagenet_std, NULL);
  gboolean enabled = FALSE;
  g_object_get(h->element, "enable-last-sample", &enabled, NULL);
  fail_unless(enabled);
  set_small_caps(h);
  t.refuse = TRUE; /* snapshots work for dropped frames too */
  GstBuffer *buf = small_frame();
  gst_harness_push(h, gst_buffer_ref(buf));
  GstSample *sample = NULL;
  g_object_get(h->element, "last-sample", &sample, NULL);
  fail_unless(sample != NULL);
  fail_unless(gst_sample_get_buffer(sample) == buf);
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(sample)));
  fail_unless_equals_int(GST_VIDEO_INFO_WIDTH(&info), 32);
  gst_sample_unref(sample);
  gst_buffer_unref(buf);
  gst_harness_teardown(h);
  tt_clear(&t);
}
GST_END_TEST;

GST_START_TEST(test_properties)
{
  GstElement *e = gst_element_factory_make("streamsightsink", "infer");
  fail_unless(e != NULL);
  fail_unless(STREAMSIGHT_IS_SINK(e));
  gdouble fps = -1;
  StreamsightResizeMode mode = -1;
  g_object_get(e, "max-fps", &fps, "resize-mode", &mode, NULL);
  fail_unless(fps == 0.0 && mode == STREAMSIGHT_RESIZE_STRETCH);
  gst_util_set_object_arg(G_OBJECT(e), "resize-mode", "letterbox");
  g_object_set(e, "max-fps", 2.5, NULL);
  g_object_get(e, "max-fps", &fps, "resize-mode", &mode, NULL);
  fail_unless(fps == 2.5 && mode == STREAMSIGHT_RESIZE_LETTERBOX);
  GEnumClass *ec = g_type_class_ref(STREAMSIGHT_TYPE_RESIZE_MODE);
  fail_unless(g_enum_get_value_by_nick(ec, "crop")->value ==
              STREAMSIGHT_RESIZE_CROP);
  g_type_class_unref(ec);
  gst_object_unref(e);
  /* Registering again is harmless. */
  fail_unless(streamsight_sink_register());
}
GST_END_TEST;

/* appsrc -> streamsightsink named in a pipeline description. */
GST_START_TEST(test_appsrc_pipeline)
{
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch(
      "appsrc name=src format=time caps=video/x-raw,format=NV12,width=64,"
      "height=48,framerate=30/1 ! streamsightsink name=infer sync=false",
      &err);
  fail_unless(pipe != NULL, "%s", err ? err->message : "?");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "infer");
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  TestTarget t;
  tt_init(&t, 24, 24);
  streamsight_sink_set_target(STREAMSIGHT_SINK(sink), 24, 24, imagenet_mean,
                              imagenet_std, &test_target, &t, tt_destroy);
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_NV12, 64, 48);
  for (int i = 0; i < 5; i++) {
    GstBuffer *b = random_frame(&info);
    GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(b) = GST_SECOND / 30;
    fail_unless_equals_int(gst_app_src_push_buffer(GST_APP_SRC(src), b),
                           GST_FLOW_OK);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GstBus *bus = gst_element_get_bus(pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered(
      bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless(msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_object_unref(bus);
  fail_unless_equals_int(t.submitted, 5);
  fail_unless_equals_uint64(t.last.pts, 4 * GST_SECOND / 30);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  fail_unless_equals_int(t.destroyed, 1);
  tt_clear(&t);
}
GST_END_TEST;

static Suite *
sink_element_suite(void)
{
  Suite *s = suite_create("sink-element");
  TCase *tc = tcase_create("element");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_refused_frames_dropped);
  tcase_add_test(tc, test_max_fps);
  tcase_add_test(tc, test_no_target);
  tcase_add_test(tc, test_target_replaced);
  tcase_add_test(tc, test_flushing);
  tcase_add_test(tc, test_last_sample);
  tcase_add_test(tc, test_properties);
  tcase_add_test(tc, test_appsrc_pipeline);
  suite_add_tcase(s, tc);
  return s;
}

int
main(int argc, char **argv)
{
  return sink_fixture_main(&argc, &argv, sink_element_suite, "sink-element", __FILE__);
}
