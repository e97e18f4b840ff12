/* streamsight — the checks fuzz_model_check() applies (see fuzz-model.h). */
#include "fuzz-model.h"

#include <stdbool.h>
#include <string.h>

#include "engine.h"
#include "fuzz.h"
#include "kernels/kernels.h"
#include "model-graph.h"

/* Inferences above this many multiply-accumulates are skipped: a real
 * MobileNet (300 M) takes seconds under ASan and would starve the fuzzer;
 * the tiny fixtures and most mutants are far below. */
#define FUZZ_RUN_MACS_MAX (20u * 1000u * 1000u)

void
fuzz_model_init(void)
{
  kern_init();
}

/* Compiles m for arith and, when small enough, runs it once (logits and
 * features). Returns true when the engine built is the integer one. */
static bool
check_engine(struct ss_model *m, uint64_t macs, int outputs,
             enum engine_arith arith)
{
  struct ss_engine *e = NULL;
  struct ss_error eerr = { 0 };
  const struct engine_options eo = { .isa = KERN_ISA_AUTO, .fuse_blocks = 1,
                                     .arith = arith };
  int erc = engine_new_opts(m, &eo, &e, &eerr);
  if (erc != 0) {
    FUZZ_CHECK(e == NULL && eerr.message[0] != '\0',
               "engine_new %d without a message", erc);
    return false;
  }
  const bool integer = strcmp(engine_arith_name(e), "integer") == 0;
  if (macs <= FUZZ_RUN_MACS_MAX) {
    struct ss_scratch *s = NULL;
    FUZZ_CHECK(engine_scratch_new(e, &s, &eerr) == 0, "scratch: %s",
               eerr.message);
    size_t n_in = (size_t)model_input_height(m) *
                  (size_t)model_input_width(m) * 3;
    float *input = calloc(n_in, sizeof *input);
    float *logits = calloc((size_t)outputs, sizeof *logits);
    FUZZ_CHECK(input && logits, "out of memory");
    for (size_t i = 0; i < n_in; i++)
      input[i] = (float)(i % 7) - 3.0f;
    engine_run(e, s, input, logits);
    int nf = engine_feature_len(e);
    if (nf > 0) {
      float *f = calloc((size_t)nf, sizeof *f);
      FUZZ_CHECK(f != NULL, "out of memory");
      FUZZ_CHECK(engine_run_features(e, s, input, f, nf) == nf, "features");
      free(f);
    }
    free(input);
    free(logits);
    engine_scratch_free(s);
  }
  engine_free(e);
  return integer;
}

void
fuzz_model_check(int rc, const struct ss_error *err, struct ss_model *m)
{
  if (rc != 0) {
    FUZZ_CHECK(rc < 0, "loader returned %d", rc);
    FUZZ_CHECK(m == NULL, "a failed load handed out a model");
    FUZZ_CHECK(err->code == rc, "error code %d, returned %d", err->code, rc);
    FUZZ_CHECK(err->message[0] != '\0', "error %d without a message", rc);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL,
               "error message not terminated");
    return;
  }
  FUZZ_CHECK(m != NULL, "success without a model");

  struct ss_error verr = { 0 };
  FUZZ_CHECK(model_validate(m, &verr) == 0, "loaded model is invalid: %s",
             verr.message);
  FUZZ_CHECK(model_input_width(m) > 0 && model_input_height(m) > 0,
             "input %dx%d", model_input_width(m), model_input_height(m));
  int outputs = model_num_outputs(m);
  int offset = model_class_offset(m);
  FUZZ_CHECK(outputs > 0, "%d outputs", outputs);
  FUZZ_CHECK(offset >= 0 && offset < outputs, "class offset %d of %d",
             offset, outputs);
  FUZZ_CHECK(model_num_classes(m) == outputs - offset, "num_classes %d",
             model_num_classes(m));
  FUZZ_CHECK(model_name(m) != NULL, "no name");
  FUZZ_CHECK(strlen(model_name(m)) < SS_NAME_MAX, "name too long");
  float mean[3], std[3];
  model_input_norm(m, mean, std);
  size_t label_bytes = 0;
  for (int i = 0; i < model_num_classes(m); i++) {
    const char *l = model_label(m, i);
    FUZZ_CHECK(!model_has_labels(m) || l != NULL, "label %d missing", i);
    if (l)
      label_bytes += strlen(l);
  }
  FUZZ_CHECK(model_label(m, -1) == NULL, "label -1");
  FUZZ_CHECK(model_label(m, model_num_classes(m)) == NULL, "label past end");
  (void)label_bytes;
  uint64_t macs = model_macs(m);
  (void)model_params(m);

  /* Whatever a loader accepts, the engine compiles or refuses cleanly:
   * the default engine (integer for a quantised file it takes), then the
   * float one when that was the integer one. */
  if (check_engine(m, macs, outputs, ENGINE_ARITH_AUTO))
    (void)check_engine(m, macs, outputs, ENGINE_ARITH_FLOAT);
  model_unref(m);
}
