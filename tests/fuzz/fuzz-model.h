/* streamsight — checks every model a loader hands out must pass (shared by
 * the TFLite and safetensors harnesses). */
#ifndef SS_FUZZ_MODEL_H
#define SS_FUZZ_MODEL_H

#include "model.h"

/* Once per process: kernel dispatch. */
void fuzz_model_init(void);
/* A loader's result: rc and err as returned, m the model (NULL on failure).
 * Checks the error contract (negative code, message set, no model) or the
 * model's promises (valid graph, sane accessors, labels readable), then
 * compiles it with the engine and, when small enough, runs one inference.
 * Takes the model's reference. */
void fuzz_model_check(int rc, const struct ss_error *err, struct ss_model *m);

#endif
