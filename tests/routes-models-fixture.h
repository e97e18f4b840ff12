/* streamsight — what the test-routes-models*.c files share: one server
 * stack without sockets (server-fixture.h: tiny random-weight MobileNetV2
 * 0.35/96) made by setup and torn down by teardown around each test
 * (tcase_add_checked_fixture), so fx is each test's own; a test image and
 * its PNGs, the requests the tests make and the checks of the answers; and
 * the TCases the suite of test-routes-models.c gathers from the other
 * files. */
#ifndef SS_ROUTES_MODELS_FIXTURE_H
#define SS_ROUTES_MODELS_FIXTURE_H

#include <check.h>
#include <glib.h>
#include <jansson.h>

#include "server-fixture.h"

#define BODY_LIMIT (8u << 20)
#define IMG_W 160
#define IMG_H 120

/* The stack of the running test. */
extern ServerFixture fx;

/* One inference worker, up to 4 streams, bodies up to BODY_LIMIT. */
void setup(void);
void teardown(void);

/* A w x h RGB test image, packed (g_free). */
guint8 *pattern(int w, int h);
/* A lossless PNG of a sub-rectangle of px, whose width is pw (new
 * reference). */
GBytes *png_of(const guint8 *px, int pw, int x0, int y0, int w, int h);
/* POSTs img (NULL: no body) with content type ct (may be NULL) and the
 * query q; *j the parsed answer (json_decref). Returns the status. */
guint post(const char *path, const RouteParam *q, guint nq, GBytes *img,
           const char *ct, json_t **j);
/* The "features" of an answer as a new array (g_free), after checking
 * "dim", the length and the unit norm. */
float *features_of(json_t *j, int want_dim);
double max_diff(const float *a, const float *b, int n);
/* A request with a JSON body (may be NULL); *j the parsed answer. Returns
 * the status. */
guint req_json(const char *method, const char *path, const char *body,
               json_t **j);
/* The error message of an error answer (borrowed from j), or NULL. */
const char *error_message(json_t *j);

/* test-routes-models-stream-roi.c */
TCase *routes_models_stream_roi_tcase(void);
/* test-routes-models-several.c */
TCase *routes_models_models_tcase(void);
TCase *routes_models_one_model_tcase(void);
TCase *routes_models_config_tcase(void);

#endif
