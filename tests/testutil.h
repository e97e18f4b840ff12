/* streamsight — helpers shared by the Check suites. */
#ifndef SS_TESTUTIL_H
#define SS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SS_TEST_UNDER_ASAN is defined in a build with AddressSanitizer (GCC's
 * __SANITIZE_ADDRESS__ or Clang's __has_feature): suites that run several
 * times slower there do less work (fewer images, fewer requests). */
#if defined(__SANITIZE_ADDRESS__)
#define SS_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_TEST_UNDER_ASAN 1
#endif
#endif

/* The shared data folder from STREAMSIGHT_TEST_DATA, or NULL when unset or
 * missing. Prints one "SKIP: <why>" line per reason when NULL. */
const char *tu_data_dir(const char *why);
/* Joins the data folder and a relative path into buf; false when the data
 * folder is absent or the file does not exist (and prints a SKIP line). */
bool tu_data_path(const char *rel, char *buf, size_t cap);
/* Path of a file under tests/fixtures in the source tree. */
void tu_fixture_path(const char *rel, char *buf, size_t cap);
/* A writable temporary directory for this test binary (created once). */
const char *tu_tmp_dir(void);

/* Small deterministic PRNG (xorshift64*), seeded explicitly so that a failure
 * can be replayed; tests print the seed they use. */
struct tu_rng {
  uint64_t s;
};
void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint32_t tu_rng_u32(struct tu_rng *r);
float tu_rng_uniform(struct tu_rng *r, float lo, float hi);
void tu_rng_fill(struct tu_rng *r, float *v, size_t n, float lo, float hi);

/* Fills every layer's weights and biases of a built model with uniform
 * random values from seed: He-like scale (+-sqrt(3 / fan_in)), biases in
 * +-0.1, so activations stay O(1) through 50+ layers. */
struct ss_model;
void tu_fill_model_weights(struct ss_model *m, uint64_t seed);

/* Runs a suite with CK_NORMAL output; returns the process exit code. */
struct Suite;
int tu_run_suite(struct Suite *s);

#endif
