#include "classify-pool.h"

#include "image-classify.h"
#include "model.h"

G_DEFINE_QUARK(classify-pool-error-quark, classify_pool_error)

struct ClassifyPool {
  const struct ss_engine *engine; /* borrowed */
  guint max;
  int target_side;     /* the model input's larger side */
  guint64 budget;      /* decode memory, bytes */
  GMutex lock;         /* protects free_list, created, stats, in_use */
  GCond available;     /* a classifier came back */
  GCond budget_freed;  /* decode memory came back */
  ClassifyPool *budget_owner; /* whose budget (in_use, budget_freed, under
                               * its lock) this pool draws on: itself, or
                               * the pool it was created to share with */
  GPtrArray *free_list; /* ImageClassifier* not in use */
  guint created;
  guint64 in_use;      /* decode memory reserved */
  ClassifyPoolStats stats;
};

ClassifyPool *
classify_pool_new(const struct ss_engine *engine, guint max,
                  guint64 decode_budget_bytes)
{
  ClassifyPool *p = g_new0(ClassifyPool, 1);
  p->engine = engine;
  p->max = MAX(max, 1u);
  const struct ss_model *m = engine_model(engine);
  p->target_side = MAX(model_input_width(m), model_input_height(m));
  p->budget = decode_budget_bytes ? decode_budget_bytes
                                  : CLASSIFY_POOL_DEFAULT_BUDGET_BYTES;
  g_mutex_init(&p->lock);
  g_cond_init(&p->available);
  g_cond_init(&p->budget_freed);
  p->free_list = g_ptr_array_new();
  p->budget_owner = p;
  return p;
}

ClassifyPool *
classify_pool_new_sharing(const struct ss_engine *engine, guint max,
                          ClassifyPool *share)
{
  ClassifyPool *p = classify_pool_new(engine, max, share->budget);
  p->budget_owner = share->budget_owner;
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
  g_assert(p->in_use == 0);
  g_cond_clear(&p->budget_freed);
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

gboolean
classify_pool_budget_reserve(ClassifyPool *p, guint64 bytes, GError **error)
{
  p = p->budget_owner;
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)CLASSIFY_POOL_BUDGET_WAIT_MS * 1000;
  /* More than the whole budget can never fit: waiting would only turn a
   * 413 into a 503 whose Retry-After is a lie (a heads example of a bomb
   * did that). */
  if (bytes > p->budget) {
    g_set_error(error, IMAGE_DECODE_ERROR, IMAGE_DECODE_ERROR_TOO_LARGE,
                "image needs about %" G_GUINT64_FORMAT " MB to decode: the "
                "decode budget is %" G_GUINT64_FORMAT " MB "
                "(limits.decode_memory_mb)",
                (bytes + 1048575) >> 20, p->budget >> 20);
    return FALSE;
  }
  g_mutex_lock(&p->lock);
  while (p->in_use + bytes > p->budget) {
    if (!g_cond_wait_until(&p->budget_freed, &p->lock, deadline) &&
        p->in_use + bytes > p->budget) {
      guint64 in_use = p->in_use;
      p->stats.budget_refusals++;
      g_mutex_unlock(&p->lock);
      g_set_error(error, CLASSIFY_POOL_ERROR, CLASSIFY_POOL_ERROR_BUSY,
                  "decode memory busy: this image needs %" G_GUINT64_FORMAT
                  " MB, other uploads hold %" G_GUINT64_FORMAT " of the %"
                  G_GUINT64_FORMAT " MB budget (limits.decode_memory_mb)",
                  (bytes + 1048575) >> 20, (in_use + 1048575) >> 20,
                  p->budget >> 20);
      return FALSE;
    }
  }
  p->in_use += bytes;
  g_mutex_unlock(&p->lock);
  return TRUE;
}

void
classify_pool_budget_release(ClassifyPool *p, guint64 bytes)
{
  p = p->budget_owner;
  g_mutex_lock(&p->lock);
  g_assert(p->in_use >= bytes);
  p->in_use -= bytes;
  g_cond_broadcast(&p->budget_freed);
  g_mutex_unlock(&p->lock);
}

static void
count_bad_image(ClassifyPool *p)
{
  g_mutex_lock(&p->lock);
  p->stats.bad_images++;
  g_mutex_unlock(&p->lock);
}

/* Decode within the budget, then classify (features NULL) or embed. */
static int
decode_and_run(ClassifyPool *p, const guint8 *data, gsize len,
               const StreamRoi *roi, int k, struct prediction *out,
               float *features, int n_features, ClassifyInfo *info,
               GError **error)
{
  RgbImage img;
  ClassifyInfo ci = { 0 };
  gint64 t0 = g_get_monotonic_time();
  /* A JPEG is DCT-scaled to about the model's side; with an ROI, so that
   * the ROI (not the whole image) keeps about that many pixels. */
  int target_side = stream_roi_decode_side(roi, p->target_side);
  /* One image may use the whole budget, never more. */
  const ImageDecodeOptions opts = { .target_side = target_side,
                                    .max_memory_bytes = p->budget };
  ImageDecodeInfo di;
  if (!image_decode_probe(data, len, &opts, &di, error)) {
    count_bad_image(p);
    return -1;
  }
  if (!classify_pool_budget_reserve(p, di.memory_bytes, error))
    return -1;
  if (!image_decode_buffer_opts(data, len, &opts, &img, error)) {
    classify_pool_budget_release(p, di.memory_bytes);
    count_bad_image(p);
    return -1;
  }
  gint64 t1 = g_get_monotonic_time();
  ImageClassifier *c = acquire(p, error);
  if (!c) {
    rgb_image_clear(&img);
    classify_pool_budget_release(p, di.memory_bytes);
    return -1;
  }
  const RgbImage view = roi ? stream_roi_image_view(roi, &img) : img;
  int n;
  if (features)
    n = image_classifier_embed(c, &view, 1.0f, features, n_features);
  else
    n = image_classifier_run(c, &view,
                             roi ? 1.0f : IMAGE_CLASSIFY_DEFAULT_CROP, k,
                             out);
  release(p, c);
  gint64 t2 = g_get_monotonic_time();
  ci.image_width = img.width;
  ci.image_height = img.height;
  ci.decode_ms = (double)(t1 - t0) / 1000.0;
  ci.infer_ms = (double)(t2 - t1) / 1000.0;
  rgb_image_clear(&img);
  classify_pool_budget_release(p, di.memory_bytes);
  if (n < 0) {
    g_set_error(error, IMAGE_CLASSIFY_ERROR, IMAGE_CLASSIFY_ERROR_ENGINE,
                features ? "embedding failed (the model has no pooled "
                           "features)"
                         : "classification failed (bad arguments)");
    return -1;
  }
  g_mutex_lock(&p->lock);
  if (features)
    p->stats.embeds++;
  else
    p->stats.requests++;
  g_mutex_unlock(&p->lock);
  if (info)
    *info = ci;
  return n;
}

int
classify_pool_run(ClassifyPool *p, const guint8 *data, gsize len, int k,
                  struct prediction *out, ClassifyInfo *info,
                  GError **error)
{
  return decode_and_run(p, data, len, NULL, k, out, NULL, 0, info, error);
}

int
classify_pool_run_roi(ClassifyPool *p, const guint8 *data, gsize len,
                      const StreamRoi *roi, int k, struct prediction *out,
                      ClassifyInfo *info, GError **error)
{
  return decode_and_run(p, data, len, roi, k, out, NULL, 0, info, error);
}

int
classify_pool_embed(ClassifyPool *p, const guint8 *data, gsize len,
                    const StreamRoi *roi, float *features, int n,
                    ClassifyInfo *info, GError **error)
{
  g_return_val_if_fail(features != NULL, -1);
  return decode_and_run(p, data, len, roi, 0, NULL, features, n, info,
                        error);
}

int
classify_pool_feature_len(const ClassifyPool *p)
{
  return engine_feature_len(p->engine);
}

void
classify_pool_stats(ClassifyPool *p, ClassifyPoolStats *out)
{
  g_mutex_lock(&p->lock);
  *out = p->stats;
  out->classifiers = p->created;
  out->decode_bytes_in_use = p->in_use;
  out->decode_budget_bytes = p->budget;
  g_mutex_unlock(&p->lock);
}
