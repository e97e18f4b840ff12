#include "classify-pool.h"

#include "image-classify.h"

struct ClassifyPool {
  const struct ss_engine *engine; /* borrowed */
  guint max;
  GMutex lock;        /* protects free_list, created, stats */
  GCond available;
  GPtrArray *free_list; /* ImageClassifier* not in use */
  guint created;
  ClassifyPoolStats stats;
};

ClassifyPool *
classify_pool_new(const struct ss_engine *engine, guint max)
{
  ClassifyPool *p = g_new0(ClassifyPool, 1);
  p->engine = engine;
  p->max = MAX(max, 1u);
  g_mutex_init(&p->lock);
  g_cond_init(&p->available);
  p->free_list = g_ptr_array_new();
  return p;
}

void
classify_pool_free(ClassifyPool *p)
{
  if (!p)
    return;
  /* Every classifier is back: no run can be in progress at free time. */
  g_assert(p->free_list->len == p->created);
  for (guint i = 0; i < p->free_list->len; i++)
    image_classifier_free(g_ptr_array_index(p->free_list, i));
  g_ptr_array_unref(p->free_list);
  g_cond_clear(&p->available);
  g_mutex_clear(&p->lock);
  g_free(p);
}

/* A classifier for the caller's exclusive use, or NULL with error. */
static ImageClassifier *
acquire(ClassifyPool *p, GError **error)
{
  g_mutex_lock(&p->lock);
  for (;;) {
    if (p->free_list->len > 0) {
      ImageClassifier *c = g_ptr_array_steal_index_fast(
          p->free_list, p->free_list->len - 1);
      g_mutex_unlock(&p->lock);
      return c;
    }
    if (p->created < p->max)
      break;
    g_cond_wait(&p->available, &p->lock);
  }
  /* Reserve the slot, allocate outside the lock. */
  p->created++;
  g_mutex_unlock(&p->lock);
  ImageClassifier *c = image_classifier_new(p->engine, error);
  if (!c) {
    g_mutex_lock(&p->lock);
    p->created--;
    g_cond_signal(&p->available);
    g_mutex_unlock(&p->lock);
  }
  return c;
}

static void
release(ClassifyPool *p, ImageClassifier *c)
{
  g_mutex_lock(&p->lock);
  g_ptr_array_add(p->free_list, c);
  g_cond_signal(&p->available);
  g_mutex_unlock(&p->lock);
}

int
classify_pool_run(ClassifyPool *p, const guint8 *data, gsize len, int k,
                  struct prediction *out, ClassifyInfo *info,
                  GError **error)
{
  RgbImage img;
  ClassifyInfo ci = { 0 };
  gint64 t0 = g_get_monotonic_time();
  if (!image_decode_buffer(data, len, &img, error)) {
    g_mutex_lock(&p->lock);
    p->stats.bad_images++;
    g_mutex_unlock(&p->lock);
    return -1;
  }
  gint64 t1 = g_get_monotonic_time();
  ImageClassifier *c = acquire(p, error);
  if (!c) {
    rgb_image_clear(&img);
    return -1;
  }
  int n = image_classifier_run(c, &img, IMAGE_CLASSIFY_DEFAULT_CROP, k, out);
  release(p, c);
  gint64 t2 = g_get_monotonic_time();
  ci.image_width = img.width;
  ci.image_height = img.height;
  ci.decode_ms = (double)(t1 - t0) / 1000.0;
  ci.infer_ms = (double)(t2 - t1) / 1000.0;
  rgb_image_clear(&img);
  if (n < 0) {
    g_set_error(error, IMAGE_CLASSIFY_ERROR, IMAGE_CLASSIFY_ERROR_ENGINE,
                "classification failed (bad arguments)");
    return -1;
  }
  g_mutex_lock(&p->lock);
  p->stats.requests++;
  g_mutex_unlock(&p->lock);
  if (info)
    *info = ci;
  return n;
}

void
classify_pool_stats(ClassifyPool *p, ClassifyPoolStats *out)
{
  g_mutex_lock(&p->lock);
  *out = p->stats;
  out->classifiers = p->created;
  g_mutex_unlock(&p->lock);
}
