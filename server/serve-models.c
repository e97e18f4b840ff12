/* streamsight — the models `streamsight serve` loads at start-up: each
 * with its labels, engine and inference pool (serve-models.h).
 */
#include "serve-models.h"

#include <stdio.h>

#include "config-models.h"
#include "engine.h"
#include "kernels/kernels.h"
#include "model.h"
#include "pool.h"

/* Timed runs per model at start-up for GET /api/v1/models' latency (after
 * one warm-up run): about 0.1-0.5 s per model on one core. */
#define SERVE_LATENCY_RUNS 5

/* Loads one model, its labels, engine and inference pool into models;
 * returns 0 or 1 after printing why. */
static int
load_one_model(const ServerConfig *c, ModelSet *models, const char *id,
               const char *path, const char *labels, int engine_cfg)
{
  struct ss_error err = { 0 };
  struct ss_model *model = NULL;
  struct ss_engine *engine = NULL;
  struct ss_pool *pool = NULL;
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    fprintf(stderr,
            "streamsight: model '%s': file '%s' not found.\n"
            "  Run scripts/install-models.sh to download the default model, "
            "or point \"model\"\n"
            "  (or \"models\"[].path) in the config (or STREAMSIGHT_MODEL) at "
            "a .tflite or .safetensors file.\n",
            id, path);
    return 1;
  }
  if (model_load(path, &model, &err) != 0) {
    fprintf(stderr, "streamsight: model '%s' (%s): %s\n", id, path,
            err.message);
    goto fail;
  }
  if (labels && model_set_labels_file(model, labels, &err) != 0) {
    fprintf(stderr, "streamsight: model '%s': labels '%s': %s\n", id, labels,
            err.message);
    goto fail;
  }
  if (!labels && !model_has_labels(model)) {
    /* No labels anywhere: use labels.txt beside the model if there is one
     * (scripts/install-models.sh puts it there). */
    char *dir = g_path_get_dirname(path);
    char *beside = g_build_filename(dir, "labels.txt", NULL);
    if (g_file_test(beside, G_FILE_TEST_IS_REGULAR)) {
      if (model_set_labels_file(model, beside, &err) == 0)
        g_message("model '%s': labels from %s", id, beside);
      else
        g_warning("model '%s': labels '%s' not used: %s", id, beside,
                  err.message);
    }
    g_free(beside);
    g_free(dir);
  }
  const struct engine_options eo = {
    .isa = KERN_ISA_AUTO, .fuse_blocks = 1,
    .arith = engine_cfg == CONFIG_ENGINE_FLOAT     ? ENGINE_ARITH_FLOAT
             : engine_cfg == CONFIG_ENGINE_INTEGER ? ENGINE_ARITH_INTEGER
                                                   : ENGINE_ARITH_AUTO,
  };
  if (engine_new_opts(model, &eo, &engine, &err) != 0) {
    fprintf(stderr, "streamsight: model '%s': engine: %s\n", id,
            err.message);
    goto fail;
  }
  double latency_ms = model_set_measure_latency(engine, SERVE_LATENCY_RUNS);
  /* Each stream has at most one frame in flight, so a queue as long as
   * the stream limit never drops a frame of its own accord. */
  int capacity = (int)MAX(c->limits.max_streams, c->threads);
  if (pool_new(engine, (int)c->threads, capacity, 0, &pool, &err) != 0) {
    fprintf(stderr, "streamsight: model '%s': inference pool: %s\n", id,
            err.message);
    goto fail;
  }
  g_message("model '%s': %s (%s, %dx%d, %s labels), %u inference thread%s, "
            "%s engine, kernels %s, %.1f ms per inference at load",
            id, model_name(model), model_arch_name(model_arch(model)),
            model_input_width(model), model_input_height(model),
            model_has_labels(model) ? "with" : "no", c->threads,
            c->threads == 1 ? "" : "s", engine_arith_name(engine),
            engine_isa_name(engine), latency_ms);
  model_set_add_take(models, id, path, model, engine, pool, latency_ms);
  return 0;

fail:
  pool_free(pool);
  engine_free(engine);
  model_unref(model);
  return 1;
}

/* Every configured model ("models", or the one-model shorthand as
 * "default"); the first is the default of streams and uploads. Each model
 * has its own pool of `threads` workers: idle ones sleep, so a model no
 * stream uses costs its memory, not CPU. */
int
serve_load_models(const ServerConfig *c, ModelSet *models)
{
  if (!c->models) {
    if (load_one_model(c, models, MODEL_SET_DEFAULT_ID, c->model_path,
                       c->labels_path, c->engine) != 0)
      return 1;
  } else {
    if (g_getenv("STREAMSIGHT_MODEL") || g_getenv("STREAMSIGHT_LABELS"))
      g_warning("STREAMSIGHT_MODEL/STREAMSIGHT_LABELS are ignored: the "
                "config has a models list (set models[].path instead)");
    for (guint i = 0; i < c->models->len; i++) {
      const ConfigModel *m = g_ptr_array_index(c->models, i);
      if (load_one_model(c, models, m->id, m->path, m->labels,
                         m->engine) != 0)
        return 1;
    }
  }
  return 0;
}
