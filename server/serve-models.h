/* streamsight — loading the configured models for `streamsight serve`
 * (serve.c). */
#ifndef SS_SERVE_MODELS_H
#define SS_SERVE_MODELS_H

#include "config.h"
#include "model-set.h"

/* Every configured model ("models", or the one-model shorthand as
 * "default") into models, in order: the first is the default of streams
 * and uploads. Returns 0, or 1 after printing why (what was loaded before
 * is in models, for model_set_free). */
int serve_load_models(const ServerConfig *c, ModelSet *models);

#endif
