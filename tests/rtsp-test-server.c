#include "rtsp-test-server.h"

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include "stream.h"

#define DEFAULT_LAUNCH                                                      \
  "( videotestsrc is-live=true pattern=ball "                               \
  "! video/x-raw,width=320,height=240,framerate=15/1 "                     \
  "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "      \
  "! valve name=valve drop=false "                                          \
  "! rtph264pay name=pay0 pt=96 config-interval=1 )"

/* A property value applied to a named element of every media. */
typedef struct {
  char *element, *property, *value;
} ElementArg;

static void
element_arg_free(gpointer p)
{
  ElementArg *a = p;
  g_free(a->element);
  g_free(a->property);
  g_free(a->value);
  g_free(a);
}

/* The damage done to slice packets (rtsp_test_server_set_corruption). An
 * atomic reference-counted box: the server holds one reference and every
 * probe on a payloader another, so that a probe still running on a media
 * thread never sees it freed. */
typedef struct {
  GMutex lock; /* guards everything below */
  double rate;
  guint bits;
  GRand *rand;
  guint64 n_corrupted;
} Corruptor;

static void
corruptor_clear(gpointer p)
{
  Corruptor *c = p;
  if (c->rand)
    g_rand_free(c->rand);
  g_mutex_clear(&c->lock);
}

static void
corruptor_release(gpointer p)
{
  g_atomic_rc_box_release_full(p, corruptor_clear);
}

struct RtspTestServer {
  char *launch, *user, *password, *path;
  int protocols;
  guint port;

  GMainContext *ctx;
  GMainLoop *loop;
  GThread *thread;

  /* Touched on the server thread only (through stream_context_call_sync,
   * pipeline/stream.c). */
  GstRTSPServer *server;
  guint source_id;

  GMutex lock;       /* guards valves, stalled, media and args */
  GPtrArray *valves; /* the "valve" element of every media configured */
  gboolean stalled;
  GPtrArray *media;  /* the bin of every media configured (references) */
  GPtrArray *args;   /* ElementArg*, applied to every media */
  Corruptor *corruptor;
};

static gpointer
server_thread(gpointer p)
{
  RtspTestServer *s = p;
  g_main_context_push_thread_default(s->ctx);
  g_main_loop_run(s->loop);
  g_main_context_pop_thread_default(s->ctx);
  return NULL;
}

/* ---- damaged slices ---- */

/* Where the slice bytes of an RTP packet carrying H.264 (RFC 6184) start,
 * after the RTP header, CSRCs, header extension and the NAL or FU-A header,
 * and how many there are before any padding. FALSE when the packet carries
 * no slice data (parameter sets, SEI, aggregates) or is malformed. */
static gboolean
rtp_h264_slice_bytes(const guint8 *p, gsize len, gsize *off, gsize *n)
{
  gsize hl, end = len;
  guint nal_type;
  if (len < 12 || (p[0] >> 6) != 2)
    return FALSE;
  hl = 12 + 4 * (gsize)(p[0] & 0x0f);
  if (p[0] & 0x10) { /* extension: 16-bit profile, 16-bit length in words */
    if (len < hl + 4)
      return FALSE;
    hl += 4 + 4 * (gsize)((p[hl + 2] << 8) | p[hl + 3]);
  }
  if (p[0] & 0x20) { /* padding: its length is the last byte */
    if (p[len - 1] > len)
      return FALSE;
    end = len - p[len - 1];
  }
  if (end < hl + 3)
    return FALSE;
  nal_type = p[hl] & 0x1f;
  if (nal_type == 1 || nal_type == 5) { /* single NAL unit: non-IDR, IDR */
    *off = hl + 1;
  } else if (nal_type == 28) { /* FU-A: indicator, header, fragment */
    guint inner = p[hl + 1] & 0x1f;
    if (inner != 1 && inner != 5)
      return FALSE;
    *off = hl + 2;
  } else {
    return FALSE;
  }
  if (end <= *off)
    return FALSE;
  *n = end - *off;
  return TRUE;
}

/* Decides whether buf is hit; when it is, *buf is made writable (it may be
 * replaced) and damaged. Returns TRUE on a hit. Called with c->lock. */
static gboolean
corrupt_buffer_locked(Corruptor *c, GstBuffer **buf)
{
  GstMapInfo map;
  gsize off = 0, n = 0;
  gboolean slice;
  if (!gst_buffer_map(*buf, &map, GST_MAP_READ))
    return FALSE;
  slice = rtp_h264_slice_bytes(map.data, map.size, &off, &n);
  gst_buffer_unmap(*buf, &map);
  if (!slice || g_rand_double(c->rand) >= c->rate)
    return FALSE;
  *buf = gst_buffer_make_writable(*buf);
  if (!gst_buffer_map(*buf, &map, GST_MAP_READWRITE))
    return FALSE;
  for (guint i = 0; i < c->bits; i++) {
    gsize at = off + (gsize)g_rand_int_range(c->rand, 0, (gint32)n);
    map.data[at] ^= (guint8)(1u << g_rand_int_range(c->rand, 0, 8));
  }
  gst_buffer_unmap(*buf, &map);
  c->n_corrupted++;
  return TRUE;
}

/* On the src pad of "pay0" (a media streaming thread): RTP packets one by
 * one or in lists. */
static GstPadProbeReturn
corrupt_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  Corruptor *c = user;
  g_mutex_lock(&c->lock);
  if (c->rate <= 0.0) {
    g_mutex_unlock(&c->lock);
    return GST_PAD_PROBE_OK;
  }
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    if (corrupt_buffer_locked(c, &buf))
      GST_PAD_PROBE_INFO_DATA(info) = buf;
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    for (guint i = 0; i < gst_buffer_list_length(list); i++) {
      GstBuffer *buf = gst_buffer_ref(gst_buffer_list_get(list, i));
      if (corrupt_buffer_locked(c, &buf)) {
        list = gst_buffer_list_make_writable(list);
        GST_PAD_PROBE_INFO_DATA(info) = list;
        gst_buffer_list_remove(list, i, 1);
        gst_buffer_list_insert(list, (gint)i, buf); /* takes buf */
      } else {
        gst_buffer_unref(buf);
      }
    }
  }
  g_mutex_unlock(&c->lock);
  return GST_PAD_PROBE_OK;
}

static void
apply_arg(GstElement *bin, const ElementArg *a)
{
  GstElement *e = gst_bin_get_by_name(GST_BIN(bin), a->element);
  if (!e)
    return;
  gst_util_set_object_arg(G_OBJECT(e), a->property, a->value);
  gst_object_unref(e);
}

/* A new media: remember its valve (if the launch line has one), so that
 * the camera can be made to stall, and its bin for later settings; apply
 * the settings made so far; watch its payloader for damage. Called on a
 * server thread. */
static void
on_media_configure(GstRTSPMediaFactory *f, GstRTSPMedia *media, gpointer p)
{
  RtspTestServer *s = p;
  GstElement *bin = gst_rtsp_media_get_element(media);
  GstElement *valve = gst_bin_get_by_name(GST_BIN(bin), "valve");
  GstElement *pay = gst_bin_get_by_name(GST_BIN(bin), "pay0");
  GPtrArray *args = g_ptr_array_new();
  if (valve) {
    g_mutex_lock(&s->lock);
    g_object_set(valve, "drop", s->stalled, NULL);
    g_ptr_array_add(s->valves, valve);
    g_mutex_unlock(&s->lock);
  }
  g_mutex_lock(&s->lock);
  g_ptr_array_add(s->media, gst_object_ref(bin));
  for (guint i = 0; i < s->args->len; i++)
    g_ptr_array_add(args, g_ptr_array_index(s->args, i));
  /* The settings stay valid: entries are only freed with the server, and
   * the server is not freed while it configures a media. */
  g_mutex_unlock(&s->lock);
  for (guint i = 0; i < args->len; i++)
    apply_arg(bin, g_ptr_array_index(args, i));
  g_ptr_array_unref(args);
  if (pay) {
    GstPad *src = gst_element_get_static_pad(pay, "src");
    gst_pad_add_probe(src,
                      GST_PAD_PROBE_TYPE_BUFFER |
                          GST_PAD_PROBE_TYPE_BUFFER_LIST,
                      corrupt_probe, g_atomic_rc_box_acquire(s->corruptor),
                      corruptor_release);
    gst_object_unref(src);
    gst_object_unref(pay);
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
  s->media = g_ptr_array_new_with_free_func(gst_object_unref);
  s->args = g_ptr_array_new_with_free_func(element_arg_free);
  s->corruptor = g_atomic_rc_box_new0(Corruptor);
  g_mutex_init(&s->corruptor->lock);
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
  stream_context_call_sync(s->ctx, do_stop, s);
}

gboolean
rtsp_test_server_start(RtspTestServer *s, GError **error)
{
  StartCall c = { .s = s };
  stream_context_call_sync(s->ctx, do_start, &c);
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

void
rtsp_test_server_set_element_arg(RtspTestServer *s, const char *element,
                                 const char *property, const char *value)
{
  ElementArg *a = g_new0(ElementArg, 1);
  GPtrArray *media = g_ptr_array_new_with_free_func(gst_object_unref);
  a->element = g_strdup(element);
  a->property = g_strdup(property);
  a->value = g_strdup(value);
  g_mutex_lock(&s->lock);
  /* Replaced entries stay in the array (a media being configured may be
   * reading them) but are emptied of effect by the newer one after them. */
  g_ptr_array_add(s->args, a);
  for (guint i = 0; i < s->media->len; i++)
    g_ptr_array_add(media, gst_object_ref(g_ptr_array_index(s->media, i)));
  g_mutex_unlock(&s->lock);
  for (guint i = 0; i < media->len; i++)
    apply_arg(g_ptr_array_index(media, i), a);
  g_ptr_array_unref(media);
}

void
rtsp_test_server_set_corruption(RtspTestServer *s, double rate, guint bits,
                                guint32 seed)
{
  Corruptor *c = s->corruptor;
  g_mutex_lock(&c->lock);
  c->rate = rate;
  c->bits = bits;
  if (c->rand)
    g_rand_free(c->rand);
  c->rand = g_rand_new_with_seed(seed);
  g_mutex_unlock(&c->lock);
}

guint64
rtsp_test_server_n_corrupted(RtspTestServer *s)
{
  guint64 n;
  g_mutex_lock(&s->corruptor->lock);
  n = s->corruptor->n_corrupted;
  g_mutex_unlock(&s->corruptor->lock);
  return n;
}

guint
rtsp_test_server_n_clients(RtspTestServer *s)
{
  CountCall c = { .s = s };
  stream_context_call_sync(s->ctx, do_count, &c);
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
  g_ptr_array_unref(s->media);
  g_ptr_array_unref(s->args);
  corruptor_release(s->corruptor);
  g_mutex_clear(&s->lock);
  g_free(s->launch);
  g_free(s->user);
  g_free(s->password);
  g_free(s->path);
  g_free(s);
}
