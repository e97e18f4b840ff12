/* streamsight — the config suites' helpers (see config-fixture.h). */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "config-fixture.h"
#include "testutil.h"

ServerConfig *
load(const char *text, char **msg)
{
  ServerConfig *c = server_config_new();
  GError *e = NULL;
  if (!server_config_load_text(c, text, strlen(text), "test.json", &e)) {
    if (msg)
      *msg = g_strdup(e->message);
    g_error_free(e);
    server_config_free(c);
    return NULL;
  }
  if (msg)
    *msg = NULL;
  return c;
}

char *
tmp_path(const char *name)
{
  static int n;
  char *dir = g_strdup_printf("%s/cfg-%d-%d", tu_tmp_dir(), (int)getpid(),
                              n++);
  g_mkdir_with_parents(dir, 0700);
  char *p = g_build_filename(dir, name, NULL);
  g_free(dir);
  return p;
}

char *
read_file(const char *path)
{
  char *text = NULL;
  ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "read %s",
                path);
  return text;
}

void
make_streams(GPtrArray **configs, GPtrArray **ids)
{
  *configs = g_ptr_array_new();
  *ids = g_ptr_array_new_with_free_func(g_free);
  StreamConfig *a = g_new0(StreamConfig, 1);
  stream_config_init(a);
  a->name = g_strdup("Front door");
  a->uri = g_strdup("rtsp://admin:p%40ss%2Fw0rd@192.168.1.20:554/stream1");
  a->transport = STREAM_TRANSPORT_TCP;
  a->max_fps = 2.0;
  a->top_k = 3;
  a->enabled = FALSE;
  a->resize_mode = STREAMSIGHT_RESIZE_CROP;
  StreamConfig *b = g_new0(StreamConfig, 1);
  stream_config_init(b);
  b->name = g_strdup("test");
  b->uri = g_strdup("test:");
  b->pattern = g_strdup("ball");
  b->n_alerts = 2;
  b->alerts = g_new0(AlertRule, 2);
  alert_rule_init(&b->alerts[0]);
  b->alerts[0].class_name = g_strdup("person");
  b->alerts[0].min_score = 0.75;
  b->alerts[0].min_duration_s = 0.5;
  b->alerts[0].clear_after_s = 4;
  alert_rule_init(&b->alerts[1]);
  b->alerts[1].class_name = g_strdup("tabby cat");
  g_ptr_array_add(*configs, a);
  g_ptr_array_add(*configs, b);
  g_ptr_array_add(*ids, g_strdup("cam-7"));
  g_ptr_array_add(*ids, g_strdup("stream-2"));
}

void
free_streams(GPtrArray *configs, GPtrArray *ids)
{
  for (guint i = 0; i < configs->len; i++) {
    stream_config_clear(g_ptr_array_index(configs, i));
    g_free(g_ptr_array_index(configs, i));
  }
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);
}
