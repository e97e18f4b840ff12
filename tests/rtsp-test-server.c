#include "rtsp-test-server.h"

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#define DEFAULT_LAUNCH                                                      \
  "( videotestsrc is-live=true pattern=ball "                               \
  "! video/x-raw,width=320,height=240,framerate=15/1 "                     \
  "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "      \
  "! valve name=valve drop=false "                                          \
  "! rtph264pay name=pay0 pt=96 config-interval=1 )"

struct RtspTestServer {
  char *launch, *user, *password, *path;
  int protocols;
  guint port;

  GMainContext *ctx;
  GMainLoop *loop;
  GThread *thread;

  /* Touched on the server thread only (through run_sync). */
  GstRTSPServer *server;
  guint source_id;

  GMutex lock;       /* guards valves and stalled */
  GPtrArray *valves; /* the "valve" element of every media configured */
  gboolean stalled;
};

/* ---- run a function on the server's thread and wait ---- */

typedef struct {
  GSourceFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  gboolean done;
} SyncCall;

static gboolean
sync_call_cb(gpointer p)
{
  SyncCall *c = p;
  c->func(c->data);
  g_mutex_lock(&c->lock);
  c->done = TRUE;
  g_cond_signal(&c->cond);
  g_mutex_unlock(&c->lock);
  return G_SOURCE_REMOVE;
}

static void
run_sync(RtspTestServer *s, GSourceFunc func, gpointer data)
{
  SyncCall c = { .func = func, .data = data };
  g_mutex_init(&c.lock);
  g_cond_init(&c.cond);
  g_main_context_invoke(s->ctx, sync_call_cb, &c);
  g_mutex_lock(&c.lock);
  while (!c.done)
    g_cond_wait(&c.cond, &c.lock);
  g_mutex_unlock(&c.lock);
  g_mutex_clear(&c.lock);
  g_cond_clear(&c.cond);
}

static gpointer
server_thread(gpointer p)
{
  RtspTestServer *s = p;
  g_main_context_push_thread_default(s->ctx);
  g_main_loop_run(s->loop);
  g_main_context_pop_thread_default(s->ctx);
  return NULL;
}

/* A new media: remember its valve (if the launch line has one), so that
 * the camera can be made to stall. Called on a server thread. */
static void
on_media_configure(GstRTSPMediaFactory *f, GstRTSPMedia *media, gpointer p)
{
  RtspTestServer *s = p;
  GstElement *bin = gst_rtsp_media_get_element(media);
  GstElement *valve = gst_bin_get_by_name(GST_BIN(bin), "valve");
  if (valve) {
    g_mutex_lock(&s->lock);
    g_object_set(valve, "drop", s->stalled, NULL);
    g_ptr_array_add(s->valves, valve);
    g_mutex_unlock(&s->lock);
  }
  gst_object_unref(bin);
}

/* ---- start / stop, on the server thread ---- */

typedef struct {
  RtspTestServer *s;
  GError *error;
  gboolean ok;
} StartCall;

static gboolean
do_start(gpointer p)
{
  StartCall *c = p;
  RtspTestServer *s = c->s;
  GstRTSPMountPoints *mounts;
  GstRTSPMediaFactory *factory;
  g_autofree char *service = g_strdup_printf("%u", s->port);

  s->server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(s->server, "127.0.0.1");
  gst_rtsp_server_set_service(s->server, service);

  factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory, s->launch);
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  g_signal_connect(factory, "media-configure",
                   G_CALLBACK(on_media_configure), s);
  if (s->protocols)
    gst_rtsp_media_factory_set_protocols(factory,
                                         (GstRTSPLowerTrans)s->protocols);
  if (s->user) {
    GstRTSPAuth *auth = gst_rtsp_auth_new();
    GstRTSPToken *token = gst_rtsp_token_new(
        GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "user", NULL);
    g_autofree char *basic = gst_rtsp_auth_make_basic(s->user, s->password);
    gst_rtsp_auth_add_basic(auth, basic, token);
    gst_rtsp_token_unref(token);
    gst_rtsp_server_set_auth(s->server, auth);
    g_object_unref(auth);
    gst_rtsp_media_factory_add_role(
        factory, "user", GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN,
        TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE,
        NULL);
  }
  mounts = gst_rtsp_server_get_mount_points(s->server);
  gst_rtsp_mount_points_add_factory(mounts, s->path, factory);
  g_object_unref(mounts);

  s->source_id = gst_rtsp_server_attach(s->server, s->ctx);
  if (!s->source_id) {
    g_set_error(&c->error, g_quark_from_static_string("rtsp-test-server"), 0,
                "cannot listen on 127.0.0.1:%u", s->port);
    g_clear_object(&s->server);
    c->ok = FALSE;
    return G_SOURCE_REMOVE;
  }
  s->port = (guint)gst_rtsp_server_get_bound_port(s->server);
  c->ok = TRUE;
  return G_SOURCE_REMOVE;
}

static GstRTSPFilterResult
remove_client(GstRTSPServer *server, GstRTSPClient *client, gpointer user)
{
  return GST_RTSP_FILTER_REMOVE;
}

static GstRTSPFilterResult
remove_session(GstRTSPSessionPool *pool, GstRTSPSession *session,
               gpointer user)
{
  return GST_RTSP_FILTER_REMOVE;
}

static gboolean
do_stop(gpointer p)
{
  RtspTestServer *s = p;
  GstRTSPSessionPool *pool;
  if (!s->server)
    return G_SOURCE_REMOVE;
  g_source_destroy(g_main_context_find_source_by_id(s->ctx, s->source_id));
  s->source_id = 0;
  gst_rtsp_server_client_filter(s->server, remove_client, NULL);
  pool = gst_rtsp_server_get_session_pool(s->server);
  gst_rtsp_session_pool_filter(pool, remove_session, NULL);
  g_object_unref(pool);
  g_clear_object(&s->server);
  return G_SOURCE_REMOVE;
}

typedef struct {
  RtspTestServer *s;
  guint n;
} CountCall;

static GstRTSPFilterResult
count_client(GstRTSPServer *server, GstRTSPClient *client, gpointer user)
{
  (*(guint *)user)++;
  return GST_RTSP_FILTER_KEEP;
}

static gboolean
do_count(gpointer p)
{
  CountCall *c = p;
  if (c->s->server)
    gst_rtsp_server_client_filter(c->s->server, count_client, &c->n);
  return G_SOURCE_REMOVE;
}

/* ---- public ---- */

RtspTestServer *
rtsp_test_server_new(const RtspTestServerOptions *opts, GError **error)
{
  RtspTestServer *s = g_new0(RtspTestServer, 1);
  s->launch = g_strdup(opts && opts->launch ? opts->launch : DEFAULT_LAUNCH);
  s->user = g_strdup(opts ? opts->user : NULL);
  s->password = g_strdup(opts && opts->password ? opts->password : "");
  s->path = g_strdup(opts && opts->path ? opts->path : "/test");
  s->protocols = opts ? opts->protocols : 0;
  s->port = opts ? opts->port : 0;
  g_mutex_init(&s->lock);
  s->valves = g_ptr_array_new_with_free_func(gst_object_unref);
  s->ctx = g_main_context_new();
  s->loop = g_main_loop_new(s->ctx, FALSE);
  s->thread = g_thread_new("rtsp-test-server", server_thread, s);
  if (!rtsp_test_server_start(s, error)) {
    rtsp_test_server_free(s);
    return NULL;
  }
  return s;
}

guint
rtsp_test_server_port(RtspTestServer *s)
{
  return s->port;
}

char *
rtsp_test_server_uri(RtspTestServer *s, const char *userinfo)
{
  return g_strdup_printf("rtsp://%s%s127.0.0.1:%u%s", userinfo ? userinfo : "",
                         userinfo ? "@" : "", s->port, s->path);
}

void
rtsp_test_server_stop(RtspTestServer *s)
{
  run_sync(s, do_stop, s);
}

gboolean
rtsp_test_server_start(RtspTestServer *s, GError **error)
{
  StartCall c = { .s = s };
  run_sync(s, do_start, &c);
  if (!c.ok)
    g_propagate_error(error, c.error);
  return c.ok;
}

void
rtsp_test_server_set_stalled(RtspTestServer *s, gboolean stalled)
{
  g_mutex_lock(&s->lock);
  s->stalled = stalled;
  for (guint i = 0; i < s->valves->len; i++)
    g_object_set(g_ptr_array_index(s->valves, i), "drop", stalled, NULL);
  g_mutex_unlock(&s->lock);
}

guint
rtsp_test_server_n_clients(RtspTestServer *s)
{
  CountCall c = { .s = s };
  run_sync(s, do_count, &c);
  return c.n;
}

void
rtsp_test_server_free(RtspTestServer *s)
{
  if (!s)
    return;
  rtsp_test_server_stop(s);
  g_main_loop_quit(s->loop);
  g_thread_join(s->thread);
  g_main_loop_unref(s->loop);
  g_main_context_unref(s->ctx);
  g_ptr_array_unref(s->valves);
  g_mutex_clear(&s->lock);
  g_free(s->launch);
  g_free(s->user);
  g_free(s->password);
  g_free(s->path);
  g_free(s);
}
