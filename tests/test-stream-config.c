/* Stream configuration: defaults, validation errors that name the field and
 * never quote a password, and the handling of credentials in URIs (split,
 * redaction in every URI shape, scrubbing of error texts). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "stream-config.h"
#include "testutil.h"

static void
base(StreamConfig *c, const char *uri)
{
  stream_config_init(c);
  c->name = g_strdup("cam");
  c->uri = g_strdup(uri);
}

/* ---- defaults and copies ---- */

START_TEST(test_defaults)
{
  StreamConfig c, d;
  GError *e = NULL;
  base(&c, "test:");
  ck_assert_int_eq(c.transport, STREAM_TRANSPORT_AUTO);
  ck_assert_int_eq(c.decode, STREAM_DECODE_ALL);
  ck_assert(c.max_fps == 5.0);
  ck_assert_int_eq(c.top_k, 5);
  ck_assert(c.enabled);
  ck_assert(c.realtime);
  ck_assert_uint_eq(c.history_len, 100);
  ck_assert(c.stall_timeout_s == 10.0);
  ck_assert(c.backoff_initial_s == 1.0 && c.backoff_max_s == 30.0);
  ck_assert_uint_eq(c.rtsp_latency_ms, 200);
  ck_assert_msg(stream_config_validate(&c, &e), "defaults rejected: %s",
                e ? e->message : "");

  c.pattern = g_strdup("ball");
  stream_config_copy(&d, &c);
  ck_assert_ptr_ne(d.name, c.name); /* deep copy */
  ck_assert_str_eq(d.name, "cam");
  ck_assert_str_eq(d.pattern, "ball");
  stream_config_clear(&c);
  ck_assert_ptr_null(c.name);
  ck_assert_str_eq(d.uri, "test:"); /* survives the original */
  stream_config_clear(&d);
  stream_config_clear(NULL);
}
END_TEST

START_TEST(test_enum_names)
{
  StreamTransport t;
  StreamDecode d;
  const char *tn[] = { "auto", "tcp", "udp" };
  for (int i = 0; i < 3; i++) {
    ck_assert_msg(stream_transport_from_string(tn[i], &t), "%s", tn[i]);
    ck_assert_str_eq(stream_transport_name(t), tn[i]);
  }
  ck_assert(!stream_transport_from_string("http", &t));
  ck_assert(!stream_transport_from_string(NULL, &t));
  ck_assert(stream_decode_from_string("keyframes", &d));
  ck_assert_int_eq(d, STREAM_DECODE_KEYFRAMES);
  ck_assert_str_eq(stream_decode_name(d), "keyframes");
  ck_assert(stream_decode_from_string("all", &d));
  ck_assert_int_eq(d, STREAM_DECODE_ALL);
  ck_assert(!stream_decode_from_string("some", &d));
}
END_TEST

/* ---- validation: each bad field is named ---- */

typedef struct {
  const char *field; /* the message must start with "<field>:" */
  void (*mutate)(StreamConfig *c);
} BadCase;

static void m_no_name(StreamConfig *c) { g_clear_pointer(&c->name, g_free); }
static void m_empty_name(StreamConfig *c) { c->name[0] = 0; }
static void m_long_name(StreamConfig *c)
{
  g_free(c->name);
  c->name = g_strnfill(STREAM_NAME_MAX + 1, 'a');
}
static void m_ctl_name(StreamConfig *c)
{
  g_free(c->name);
  c->name = g_strdup("a\nb");
}
static void m_bad_utf8_name(StreamConfig *c)
{
  g_free(c->name);
  c->name = g_strdup("a\xff");
}
static void m_no_uri(StreamConfig *c) { g_clear_pointer(&c->uri, g_free); }
static void set_uri(StreamConfig *c, const char *u)
{
  g_free(c->uri);
  c->uri = g_strdup(u);
}
static void m_scheme(StreamConfig *c) { set_uri(c, "foo://bar/x"); }
static void m_no_scheme(StreamConfig *c) { set_uri(c, "/dev/video0"); }
static void m_rtsp_nohost(StreamConfig *c) { set_uri(c, "rtsp:///x"); }
static void m_rtsp_empty(StreamConfig *c) { set_uri(c, "rtsp://"); }
static void m_rtsp_port(StreamConfig *c) { set_uri(c, "rtsp://h:abc/x"); }
static void m_rtsp_raw_at(StreamConfig *c)
{
  set_uri(c, "rtsp://u:p@ss@h/x");
}
static void m_rtsp_raw_slash(StreamConfig *c)
{
  set_uri(c, "rtsp://u:a/b@h/x");
}
static void m_bad_escape(StreamConfig *c) { set_uri(c, "rtsp://u:a%zz@h/x"); }
static void m_space(StreamConfig *c) { set_uri(c, "file:///a b.mp4"); }
static void m_ctl_uri(StreamConfig *c) { set_uri(c, "rtsp://h/\x01"); }
static void m_long_uri(StreamConfig *c)
{
  g_autofree char *tail = g_strnfill(STREAM_URI_MAX, 'a');
  g_autofree char *u = g_strconcat("rtsp://h/", tail, NULL);
  set_uri(c, u);
}
static void m_ipv6(StreamConfig *c) { set_uri(c, "rtsp://[::1/x"); }
static void m_test_extra(StreamConfig *c) { set_uri(c, "test:ball"); }
static void m_file_rel(StreamConfig *c) { set_uri(c, "file://clip.mp4"); }
static void m_file_nopath(StreamConfig *c) { set_uri(c, "file://"); }
static void m_v4l2_nodev(StreamConfig *c) { set_uri(c, "v4l2://"); }
static void m_device_rel(StreamConfig *c)
{
  set_uri(c, "v4l2://");
  c->device = g_strdup("video0");
}
static void m_device_scheme(StreamConfig *c)
{
  set_uri(c, "rtsp://h/x");
  c->device = g_strdup("/dev/video0");
}
static void m_pattern(StreamConfig *c) { c->pattern = g_strdup("nope"); }
static void m_pattern_scheme(StreamConfig *c)
{
  set_uri(c, "rtsp://h/x");
  c->pattern = g_strdup("ball");
}
static void m_transport(StreamConfig *c) { c->transport = 7; }
static void m_decode(StreamConfig *c) { c->decode = 9; }
static void m_fps_neg(StreamConfig *c) { c->max_fps = -1; }
static void m_fps_nan(StreamConfig *c) { c->max_fps = NAN; }
static void m_fps_big(StreamConfig *c) { c->max_fps = 1e6; }
static void m_topk0(StreamConfig *c) { c->top_k = 0; }
static void m_topk11(StreamConfig *c) { c->top_k = 11; }
static void m_hist0(StreamConfig *c) { c->history_len = 0; }
static void m_hist_big(StreamConfig *c) { c->history_len = 10001; }
static void m_stall(StreamConfig *c) { c->stall_timeout_s = 0; }
static void m_stall_inf(StreamConfig *c) { c->stall_timeout_s = INFINITY; }
static void m_backoff0(StreamConfig *c) { c->backoff_initial_s = 0; }
static void m_backoff_max(StreamConfig *c)
{
  c->backoff_initial_s = 5;
  c->backoff_max_s = 2;
}
static void m_latency(StreamConfig *c) { c->rtsp_latency_ms = 100000; }
static void m_resize(StreamConfig *c) { c->resize_mode = 3; }

static const BadCase bad_cases[] = {
  { "name", m_no_name },        { "name", m_empty_name },
  { "name", m_long_name },      { "name", m_ctl_name },
  { "name", m_bad_utf8_name },  { "uri", m_no_uri },
  { "uri", m_scheme },          { "uri", m_no_scheme },
  { "uri", m_rtsp_nohost },     { "uri", m_rtsp_empty },
  { "uri", m_rtsp_port },       { "uri", m_rtsp_raw_at },
  { "uri", m_rtsp_raw_slash },  { "uri", m_bad_escape },
  { "uri", m_space },           { "uri", m_ctl_uri },
  { "uri", m_long_uri },        { "uri", m_ipv6 },
  { "uri", m_test_extra },      { "uri", m_file_rel },
  { "uri", m_file_nopath },     { "uri", m_v4l2_nodev },
  { "device", m_device_rel },   { "device", m_device_scheme },
  { "pattern", m_pattern },     { "pattern", m_pattern_scheme },
  { "transport", m_transport }, { "decode", m_decode },
  { "max_fps", m_fps_neg },     { "max_fps", m_fps_nan },
  { "max_fps", m_fps_big },     { "top_k", m_topk0 },
  { "top_k", m_topk11 },        { "history_len", m_hist0 },
  { "history_len", m_hist_big },{ "stall_timeout_s", m_stall },
  { "stall_timeout_s", m_stall_inf },
  { "backoff_initial_s", m_backoff0 },
  { "backoff_max_s", m_backoff_max },
  { "rtsp_latency_ms", m_latency },
  { "resize_mode", m_resize },
};

START_TEST(test_validate_names_field)
{
  const BadCase *bc = &bad_cases[_i];
  StreamConfig c;
  GError *e = NULL;
  g_autofree char *prefix = g_strconcat(bc->field, ": ", NULL);
  base(&c, "test:");
  bc->mutate(&c);
  ck_assert_msg(!stream_config_validate(&c, &e), "case %d (%s) accepted", _i,
                bc->field);
  ck_assert_msg(e && e->domain == STREAM_CONFIG_ERROR,
                "case %d: no error or wrong domain", _i);
  ck_assert_msg(g_str_has_prefix(e->message, prefix),
                "case %d: message \"%s\" does not start with \"%s\"", _i,
                e->message, prefix);
  g_error_free(e);
  stream_config_clear(&c);
}
END_TEST

static const char *const good_uris[] = {
  "test:",
  "test://",
  "rtsp://cam.local/stream1",
  "rtsp://cam.local:8554/a/b?channel=1&subtype=0",
  "RTSP://CAM.LOCAL/x",
  "rtsps://user:pw@cam.local:322/x",
  "rtsp://admin:p%40ss%3Aw%2Frd%231@192.168.1.20:554/h264",
  "rtsp://admin@10.0.0.1/x",
  "rtsp://u:p@[fe80::1]:8554/x",
  "rtsp://[::1]/x",
  "file:///work/shared/videos/car-detection.mp4",
  "file:///tmp/a%20b.mp4",
  "http://example.com/clip.mp4",
  "https://u:p@example.com/clip.mp4",
  "v4l2:///dev/video0",
};

START_TEST(test_validate_good_uris)
{
  StreamConfig c;
  GError *e = NULL;
  base(&c, good_uris[_i]);
  ck_assert_msg(stream_config_validate(&c, &e), "%s rejected: %s",
                good_uris[_i], e ? e->message : "");
  stream_config_clear(&c);
  /* v4l2 with the device key instead of a path */
  base(&c, "v4l2://");
  c.device = g_strdup("/dev/video2");
  ck_assert(stream_config_validate(&c, NULL));
  stream_config_clear(&c);
}
END_TEST

/* Rejected URIs holding a password: the message must not quote it. */
START_TEST(test_validate_never_quotes_password)
{
  const char *uris[] = {
    "rtsp://user:Sup3rSecret@host:abc/x",
    "rtsp://user:Sup3rSecret@[::1/x",
    "rtsp://user:Sup3rSecret@h@h2/x",
    "rtsp://user:Sup3r/Secret@h/x",
    "rtsp://user:Sup3rSecret%zz@h/x",
    "foo://user:Sup3rSecret@h/x",
  };
  for (guint i = 0; i < G_N_ELEMENTS(uris); i++) {
    StreamConfig c;
    GError *e = NULL;
    base(&c, uris[i]);
    ck_assert_msg(!stream_config_validate(&c, &e), "%u accepted", i);
    ck_assert_msg(g_str_has_prefix(e->message, "uri: "), "%u: %s", i,
                  e->message);
    ck_assert_msg(!strstr(e->message, "Sup3r") && !strstr(e->message,
                                                          "Secret"),
                  "%u: message quotes the password: %s", i, e->message);
    g_error_free(e);
    stream_config_clear(&c);
  }
}
END_TEST

/* ---- redaction ---- */

static const char *const redact_cases[][2] = {
  { "rtsp://user:pass@host:554/x", "rtsp://***@host:554/x" },
  { "rtsp://u:p%40ss%3Aw%2Frd%231@127.0.0.1:8554/test",
    "rtsp://***@127.0.0.1:8554/test" },
  { "rtsp://user@host/x", "rtsp://***@host/x" },     /* no password */
  { "rtsp://:pw@host/", "rtsp://***@host/" },        /* no user */
  { "rtsp://host/x", "rtsp://host/x" },              /* nothing to hide */
  { "rtsp://u:pw@[::1]:8554/x", "rtsp://***@[::1]:8554/x" }, /* IPv6 */
  { "rtsp://[fe80::1%25eth0]/x", "rtsp://[fe80::1%25eth0]/x" },
  { "rtsp://u:a/b@host/p", "rtsp://***@host/p" },    /* raw '/' */
  { "rtsp://u:a#b@host/p", "rtsp://***@host/p" },    /* raw '#' */
  { "rtsp://u:a?b@host/p", "rtsp://***@host/p" },    /* raw '?' */
  { "rtsp://u:a@b@host/p", "rtsp://***@host/p" },    /* raw '@' */
  { "rtsp://u:a:b@host/p", "rtsp://***@host/p" },    /* raw ':' */
  { "http://u:p@h/a?x=1", "http://***@h/a?x=1" },
  { "rtsps://u:p@h", "rtsps://***@h" },
  { "test:", "test:" },
  { "file:///tmp/a.mp4", "file:///tmp/a.mp4" },
  { "", "" },
  { "not a uri", "not a uri" },
  /* Credentials in the query (Dahua, Hikvision, Amcrest, Foscam, tokens). */
  { "rtsp://h/cam/realmonitor?channel=1&subtype=0&user=admin&password=S3cr",
    "rtsp://h/cam/realmonitor?channel=1&subtype=0&user=***&password=***" },
  { "http://h/videostream.cgi?user=admin&pwd=S3cr;rate=0",
    "http://h/videostream.cgi?user=***&pwd=***;rate=0" },
  { "http://h/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=adm&pwd=a/b=c",
    "http://h/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=***&pwd=***" },
  { "https://h/live.m3u8?X-Auth-Token=abc&Api_Key=k&sig=zz#frag",
    "https://h/live.m3u8?X-Auth-Token=***&Api_Key=***&sig=***#frag" },
  { "https://h/s?access_token=t_1_2&Signature=QQ%3D%3D&x=1",
    "https://h/s?access_token=***&Signature=***&x=1" },
  { "http://h/a?PASSWD=x&secret=y&credential=z&passphrase=w",
    "http://h/a?PASSWD=***&secret=***&credential=***&passphrase=***" },
  { "http://h/snap.cgi?chn=1&u=admin&p=xyz&PW=k",
    "http://h/snap.cgi?chn=1&u=***&p=***&PW=***" },
  { "http://h/a?up=1&pp=2", "http://h/a?up=1&pp=2" }, /* whole names only */
  { "http://h/a?token=", "http://h/a?token=" },     /* nothing to hide */
  { "http://h/a?channel=1&x=2", "http://h/a?channel=1&x=2" },
  /* XMEye: in the path, '_' between the pairs. */
  { "rtsp://h:554/user=admin_password=p_w_channel=1_stream=0.sdp",
    "rtsp://h:554/user=***_password=***_channel=1_stream=0.sdp" },
  { "rtsp://h/auth=k1/live", "rtsp://h/auth=***/live" },
  /* Both user info and parameters. */
  { "rtsp://u:p@h/x?pwd=1", "rtsp://***@h/x?pwd=***" },
  /* A stray '@' in the path: everything up to it hidden, then the pairs. */
  { "rtsp://u:a/b@h/p?token=9", "rtsp://***@h/p?token=***" },
  /* A secret's value standing elsewhere too (decoded, or as is): hidden
   * there as well (found by fuzz-routes); short ones are left alone. */
  { "http://h/a-t0k!en-b?X-Auth-Token=t0k%21en",
    "http://h/a-***-b?X-Auth-Token=***" },
  { "rtsp://u:live@h/live/ch1", "rtsp://***@h/***/ch1" },
  { "rtsp://u:p@h/p/x?pwd=ab", "rtsp://***@h/p/x?pwd=***" },
};

START_TEST(test_redact)
{
  g_autofree char *r = stream_config_redact_uri(redact_cases[_i][0]);
  ck_assert_msg(strcmp(r, redact_cases[_i][1]) == 0,
                "case %d: \"%s\" -> \"%s\", expected \"%s\"", _i,
                redact_cases[_i][0], r, redact_cases[_i][1]);
  ck_assert_ptr_null(stream_config_redact_uri(NULL));
}
END_TEST

/* ---- split ---- */

START_TEST(test_split_userinfo)
{
  char *stripped, *user, *pw;
  ck_assert(stream_config_split_userinfo(
      "rtsp://cam:p%40ss%3Aw%2Frd%231@127.0.0.1:8554/test?a=1", &stripped,
      &user, &pw));
  ck_assert_str_eq(stripped, "rtsp://127.0.0.1:8554/test?a=1");
  ck_assert_str_eq(user, "cam");
  ck_assert_str_eq(pw, "p@ss:w/rd#1");
  g_free(stripped);
  g_free(user);
  g_free(pw);

  ck_assert(stream_config_split_userinfo("rtsp://us%3Aer@[::1]:1/x",
                                         &stripped, &user, &pw));
  ck_assert_str_eq(stripped, "rtsp://[::1]:1/x");
  ck_assert_str_eq(user, "us:er"); /* an encoded ':' stays in the user */
  ck_assert_ptr_null(pw);
  g_free(stripped);
  g_free(user);

  ck_assert(stream_config_split_userinfo("rtsp://u:@h/x", &stripped, &user,
                                         &pw));
  ck_assert_str_eq(user, "u");
  ck_assert_str_eq(pw, ""); /* empty password, present */
  g_free(stripped);
  g_free(user);
  g_free(pw);

  ck_assert(stream_config_split_userinfo("rtsp://h/x", &stripped, &user,
                                         &pw));
  ck_assert_str_eq(stripped, "rtsp://h/x");
  ck_assert_ptr_null(user);
  ck_assert_ptr_null(pw);
  g_free(stripped);

  stripped = (char *)"untouched";
  ck_assert(!stream_config_split_userinfo("test:", &stripped, NULL, NULL));
  ck_assert_str_eq(stripped, "untouched");
}
END_TEST

/* ---- scrub ---- */

START_TEST(test_scrub)
{
  const char *secrets[] = { "p@ss:w/rd#1", "p%40ss%3Aw%2Frd%231", NULL };
  g_autofree char *a = stream_config_scrub(
      "Could not open rtsp://cam:p%40ss%3Aw%2Frd%231@h:1/x: refused; "
      "password p@ss:w/rd#1 rejected (\"http://u:v@w/\")",
      secrets);
  g_autofree char *b = stream_config_scrub("no secrets here", NULL);
  g_autofree char *c = stream_config_scrub("", secrets);
  ck_assert_msg(!strstr(a, "p@ss") && !strstr(a, "p%40ss") &&
                    !strstr(a, "cam:") && !strstr(a, "u:v"),
                "leaked: %s", a);
  ck_assert_msg(strstr(a, "rtsp://***@h:1/x") != NULL, "%s", a);
  ck_assert_msg(strstr(a, "http://***@w/") != NULL, "%s", a);
  ck_assert_msg(strstr(a, "password *** rejected") != NULL, "%s", a);
  ck_assert_str_eq(b, "no secrets here");
  ck_assert_str_eq(c, "");
  ck_assert_ptr_null(stream_config_scrub(NULL, secrets));
}
END_TEST

START_TEST(test_uri_secrets)
{
  g_auto(GStrv) a = stream_config_uri_secrets(
      "rtsp://cam:p%40ss@h/user=admin_password=Xm3ye_channel=1?token=t%2Fk");
  g_auto(GStrv) b = stream_config_uri_secrets("rtsp://ab:c@h/x?pwd=12");
  g_auto(GStrv) c = stream_config_uri_secrets("http://h/x?a=1");
  g_auto(GStrv) d = stream_config_uri_secrets(NULL);
  const char *want[] = { "p%40ss", "p@ss", "cam", "admin", "Xm3ye", "t%2Fk",
                         "t/k",
                         NULL };
  ck_assert_uint_eq(g_strv_length(a), 7);
  for (int i = 0; want[i]; i++)
    ck_assert_msg(g_strv_contains((const char *const *)a, want[i]),
                  "missing %s", want[i]);
  /* "cam" is 3 bytes: kept; user "ab" and value "12" are too short. */
  g_auto(GStrv) e = stream_config_uri_secrets("rtsp://cam@h/");
  ck_assert(g_strv_contains((const char *const *)e, "cam"));
  ck_assert_uint_eq(g_strv_length(b), 1);
  ck_assert_str_eq(b[0], "c");
  ck_assert_uint_eq(g_strv_length(c), 0);
  ck_assert_uint_eq(g_strv_length(d), 0);
}
END_TEST

START_TEST(test_scrub_param_secrets)
{
  const char *uri = "http://h/v.cgi?user=admin&pwd=Zq9_Zq9x&token=Zq9";
  g_auto(GStrv) secrets = stream_config_uri_secrets(uri);
  /* souphttpsrc's form, and the bare value elsewhere; "Zq9" is inside
   * the longer "Zq9_Zq9x", which must still go whole. */
  g_autofree char *a = stream_config_scrub(
      "Not Found (404), URL: http://h/v.cgi?user=admin&pwd=Zq9_Zq9x&token=Zq9,"
      " Redirect to: (NULL); pwd Zq9_Zq9x", (const char *const *)secrets);
  ck_assert_msg(!strstr(a, "Zq9") && !strstr(a, "admin"), "leaked: %s", a);
  ck_assert_msg(strstr(a, "URL: http://h/v.cgi?user=***&pwd=***&token=***")
                    != NULL, "%s", a);
  ck_assert_msg(g_str_has_suffix(a, "pwd ***"), "%s", a);
}
END_TEST

START_TEST(test_scheme)
{
  ck_assert_str_eq(stream_config_uri_scheme("RTSP://h/x"), "rtsp");
  ck_assert_str_eq(stream_config_uri_scheme("test:"), "test");
  ck_assert_str_eq(stream_config_uri_scheme("v4l2:///dev/video0"), "v4l2");
  ck_assert_ptr_null(stream_config_uri_scheme("rtspx://h"));
  ck_assert_ptr_null(stream_config_uri_scheme("/dev/video0"));
  ck_assert_ptr_null(stream_config_uri_scheme(NULL));
}
END_TEST

static Suite *
stream_config_suite(void)
{
  Suite *s = suite_create("stream-config");
  TCase *tc = tcase_create("defaults");
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_enum_names);
  tcase_add_test(tc, test_scheme);
  suite_add_tcase(s, tc);

  tc = tcase_create("validate");
  tcase_add_loop_test(tc, test_validate_names_field, 0,
                      (int)G_N_ELEMENTS(bad_cases));
  tcase_add_loop_test(tc, test_validate_good_uris, 0,
                      (int)G_N_ELEMENTS(good_uris));
  tcase_add_test(tc, test_validate_never_quotes_password);
  suite_add_tcase(s, tc);

  tc = tcase_create("credentials");
  tcase_add_loop_test(tc, test_redact, 0, (int)G_N_ELEMENTS(redact_cases));
  tcase_add_test(tc, test_split_userinfo);
  tcase_add_test(tc, test_scrub);
  tcase_add_test(tc, test_uri_secrets);
  tcase_add_test(tc, test_scrub_param_secrets);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(stream_config_suite());
}
