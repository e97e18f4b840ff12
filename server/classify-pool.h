/* streamsight — POST /api/v1/classify's engine side: a few ImageClassifiers
 * (each holds the engine scratch, several MB for MobileNetV2 224) created on
 * first use and reused, instead of one per request; the engine itself is
 * shared read-only with the stream pool.
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

G_BEGIN_DECLS

typedef struct {
  int image_width, image_height; /* the decoded upload */
  double decode_ms;              /* decoding the upload */
  double infer_ms;               /* crop/resize + engine + ranking */
} ClassifyInfo;

typedef struct {
  guint64 requests;   /* classifications done */
  guint64 bad_images; /* uploads the decoder refused */
  guint classifiers;  /* created so far (<= max) */
} ClassifyPoolStats;

typedef struct ClassifyPool ClassifyPool;

/* engine is borrowed and must outlive the pool; max >= 1. */
ClassifyPool *classify_pool_new(const struct ss_engine *engine, guint max);
void classify_pool_free(ClassifyPool *p); /* NULL is allowed */

/* Decodes an encoded image (JPEG, PNG, BMP; data borrowed) and writes the
 * top k (1..POOL_MAX_TOP_K) classes to out. Returns the number written, or
 * -1 with an IMAGE_DECODE_ERROR (the decoder's message: not an image,
 * corrupt, too large) or IMAGE_CLASSIFY_ERROR. */
int classify_pool_run(ClassifyPool *p, const guint8 *data, gsize len, int k,
                      struct prediction *out, ClassifyInfo *info,
                      GError **error);

void classify_pool_stats(ClassifyPool *p, ClassifyPoolStats *out);

G_END_DECLS

#endif
