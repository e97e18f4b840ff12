/* streamsight — safetensors loader for PyTorch/torchvision MobileNets.
 *
 * Binds tensors by their torchvision names to a graph built by
 * mobilenet_build() (V2: features.0.0, features.N.conv.K[.0], features.18.0,
 * classifier.1; V1: features.0.0, features.N.0 depthwise, features.N.3
 * pointwise, classifier) and folds batch-norm into the convolutions: the BN
 * of a convolution "P.I" is "P.(I+1)"; a convolution with its own ".bias" and
 * no BN is accepted too. Tensors may be F32, F16 or BF16.
 *
 * The header's __metadata__ (all values are strings) may give "arch"
 * ("mobilenet_v1" / "mobilenet_v2"), "alpha", "resolution", "num_classes" and
 * "bn_eps" (default 1e-5). Without them the architecture is inferred from the
 * names, the width multiplier from the shapes and the class count from the
 * classifier. The model uses symmetric padding, no background class
 * (class_offset 0) and ImageNet mean/std in 0..255 units.
 *
 * Every offset and shape is checked before use. Missing tensors, tensors of
 * the wrong shape and unexpected tensors (other than *.num_batches_tracked)
 * are errors, whose message names the tensor, e.g.
 * "tensor 'features.3.conv.1.0.weight': shape [144,1,3,3], expected
 * [48,1,3,3]". May be called from any thread.
 */
#ifndef SS_SAFETENSORS_LOAD_H
#define SS_SAFETENSORS_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* True when the first bytes look like a safetensors file. */
int safetensors_sniff(const uint8_t *data, size_t size);

/* Loads from memory; data is borrowed and may be freed on return. name (may
 * be NULL: "<arch>_<alpha>_<resolution>") is copied. resolution <= 0 takes
 * the file's metadata, or 224. On success *out holds a new model (refcount
 * 1); on failure *out is untouched. */
int model_load_safetensors_buffer(const uint8_t *data, size_t size,
                                  const char *name, int resolution,
                                  struct ss_model **out, struct ss_error *err);

#endif
