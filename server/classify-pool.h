/* streamsight — POST /api/v1/classify's engine side: a few ImageClassifiers
 * (each holds the engine scratch, several MB for MobileNetV2 224) created on
 * first use and reused, instead of one per request; the engine itself is
 * shared read-only with the stream pool.
 *
 * Decode memory budget: every upload's decode reserves the memory its
 * header says it needs (image_decode_probe: output image, JPEG coefficient
 * buffers) out of one budget shared by all uploads (limits.decode_memory_mb)
 * before anything is allocated, and gives it back once classified. An
 * upload that needs more than the whole budget is refused as too large; one
 * that does not fit now waits up to CLASSIFY_POOL_BUDGET_WAIT_MS for others
 * to finish, then fails with CLASSIFY_POOL_ERROR_BUSY (503 + Retry-After).
 *
 * Thread-safe: at most max classifications run at once; a caller beyond
 * that waits for a classifier (http.c runs classifications on its image-job
 * threads, no more of them than classifiers, so nobody waits in practice).
 */
#ifndef SS_CLASSIFY_POOL_H
#define SS_CLASSIFY_POOL_H

#include <glib.h>

#include "engine.h"
#include "image-decode.h"
#include "predict.h"
#include "roi.h"

G_BEGIN_DECLS

#define CLASSIFY_POOL_ERROR (classify_pool_error_quark())
GQuark classify_pool_error_quark(void);

typedef enum {
  CLASSIFY_POOL_ERROR_BUSY, /* the decode budget stayed full: retry later */
} ClassifyPoolError;

/* How long an upload waits for its share of the decode budget. */
#define CLASSIFY_POOL_BUDGET_WAIT_MS 2000
/* decode_budget_bytes 0 means this (the config default, 256 MB). */
#define CLASSIFY_POOL_DEFAULT_BUDGET_BYTES ((guint64)256 << 20)

typedef struct {
  int image_width, image_height; /* the decoded upload (after DCT scaling) */
  double decode_ms;              /* decoding the upload */
  double infer_ms;               /* crop/resize + engine + ranking */
} ClassifyInfo;

typedef struct {
  guint64 requests;   /* classifications done */
  guint64 embeds;     /* feature vectors computed (classify_pool_embed) */
  guint64 bad_images; /* uploads the decoder refused */
  guint classifiers;  /* created so far (<= max) */
  guint64 budget_refusals;     /* uploads refused with BUSY */
  guint64 decode_bytes_in_use; /* reserved by decodes running now */
  guint64 decode_budget_bytes; /* the budget */
} ClassifyPoolStats;

typedef struct ClassifyPool ClassifyPool;

/* engine is borrowed and must outlive the pool; max >= 1;
 * decode_budget_bytes: 0 for CLASSIFY_POOL_DEFAULT_BUDGET_BYTES. */
ClassifyPool *classify_pool_new(const struct ss_engine *engine, guint max,
                                guint64 decode_budget_bytes);
void classify_pool_free(ClassifyPool *p); /* NULL is allowed */
/* A pool for another engine (another model) that draws on share's decode
 * budget, so that uploads to every model together stay within one budget.
 * share must outlive it. */
ClassifyPool *classify_pool_new_sharing(const struct ss_engine *engine,
                                        guint max, ClassifyPool *share);

/* Decodes an encoded image (JPEG, PNG, BMP; data borrowed; JPEGs far
 * larger than the model input DCT-scaled, see image-decode.h) and writes
 * the top k (1..POOL_MAX_TOP_K) classes to out. Returns the number written,
 * or -1 with an IMAGE_DECODE_ERROR (the decoder's message: not an image,
 * corrupt, unsupported, too large), CLASSIFY_POOL_ERROR_BUSY or
 * IMAGE_CLASSIFY_ERROR. */
int classify_pool_run(ClassifyPool *p, const guint8 *data, gsize len, int k,
                      struct prediction *out, ClassifyInfo *info,
                      GError **error);

/* As classify_pool_run, on the region roi of the image (NULL: the whole
 * image, with the TF evaluation crop; with an ROI the ROI is resized whole,
 * as a stream's frame is). */
int classify_pool_run_roi(ClassifyPool *p, const guint8 *data, gsize len,
                          const StreamRoi *roi, int k, struct prediction *out,
                          ClassifyInfo *info, GError **error);

/* The model's pooled features of an encoded image, L2-normalised
 * (engine_run_features): the whole image, or its region roi (NULL: whole),
 * resized to the model input without a crop, as a stream's frame is. n is
 * the room in features (classify_pool_feature_len). Returns the number
 * written, or -1 with the errors of classify_pool_run. */
int classify_pool_embed(ClassifyPool *p, const guint8 *data, gsize len,
                        const StreamRoi *roi, float *features, int n,
                        ClassifyInfo *info, GError **error);
/* engine_feature_len of the pool's engine. */
int classify_pool_feature_len(const ClassifyPool *p);

void classify_pool_stats(ClassifyPool *p, ClassifyPoolStats *out);

/* Takes bytes of the decode budget as a decode does (waiting up to
 * CLASSIFY_POOL_BUDGET_WAIT_MS; CLASSIFY_POOL_ERROR_BUSY after; more than
 * the whole budget: IMAGE_DECODE_ERROR_TOO_LARGE at once) and gives
 * them back. For memory spent beside the uploads, and for tests that hold
 * the budget. Any thread. */
gboolean classify_pool_budget_reserve(ClassifyPool *p, guint64 bytes,
                                      GError **error);
void classify_pool_budget_release(ClassifyPool *p, guint64 bytes);

G_END_DECLS

#endif
