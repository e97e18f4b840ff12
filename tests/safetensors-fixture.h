/* streamsight — what the safetensors suites share (test-safetensors.c,
 * test-safetensors-broken.c): the golden fixtures taken apart into a JSON
 * header and a data section for editing and serialised again, and loading
 * from a buffer of exactly the file's size (so that ASan and valgrind see
 * any read past it) with the checks on the result or the error.
 */
#ifndef SS_SAFETENSORS_FIXTURE_H
#define SS_SAFETENSORS_FIXTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "model-graph.h"

#define V2_STEM "mobilenet_v2_0.25_64" /* F32, bn_eps 1e-5 */
#define V1_STEM "mobilenet_v1_0.25_80" /* F16, bn_eps 1e-3 */

/* ---- a safetensors file taken apart for editing ---- */

struct stf {
  json_t *header;
  uint8_t *data; /* the data section, owned */
  size_t data_size;
  size_t data_cap; /* allocated bytes of data */
};

uint8_t *read_fixture(const char *stem, size_t *size);

void stf_load(const char *stem, struct stf *f);

void stf_clear(struct stf *f);

/* Serialises header + data; the header is padded with spaces to 8 bytes as
 * the reference writer does. */
uint8_t *stf_build(const struct stf *f, size_t *size);

json_t *stf_tensor(const struct stf *f, const char *name);

/* Appends bytes to the data section; returns their begin offset. */
size_t stf_append(struct stf *f, const void *bytes, size_t n);

/* Points a tensor at new data with a new dtype and shape. */
void stf_replace(struct stf *f, const char *name, const char *dtype,
                 const int64_t *shape, int rank, const void *bytes, size_t n);

void set_offsets(struct stf *f, const char *name, json_int_t begin,
                 json_int_t end);

void set_meta(struct stf *f, const char *key, const char *value);

/* Element count and F32 values of a tensor of the (F32) fixture. */
const float *f32_data(const struct stf *f, const char *name, size_t *numel);

/* ---- loading ---- */

/* Loads buf[0..size) from a copy of exactly that size, so that ASan and
 * valgrind see any read past the end. */
int load_exact(const uint8_t *buf, size_t size, struct ss_model **m,
               struct ss_error *err);

struct ss_model *load_ok(const struct stf *f);

/* Asserts that loading fails with a message holding both needles (the second
 * may be NULL), and that the out-parameter is left alone. */
void expect_error_buf(const uint8_t *buf, size_t size, const char *needle,
                      const char *needle2);

void expect_error(const struct stf *f, const char *needle, const char *needle2);

const struct model_layer *find_layer(const struct ss_model *m,
                                     const char *name);

/* Every layer's weights and bias are identical (bit for bit when tol == 0).
 * One assertion per layer: Check's assertions are too slow to make one per
 * element under valgrind. */
void assert_same_weights(const struct ss_model *a, const struct ss_model *b,
                         double tol);

#endif
