/* streamsight — safetensors loader for PyTorch/torchvision MobileNets.
 *
 * Binds tensors by their torchvision names to a graph built by
 * mobilenet_v1_build()/mobilenet_v2_build() and folds batch-norm into the
 * convolutions. The architecture and width multiplier come from the
 * header's __metadata__ ("arch", "alpha", "resolution") when present, and are
 * otherwise inferred from the tensor names and shapes. Symmetric padding,
 * 1000 classes without background, ImageNet mean/std.
 */
#ifndef SS_SAFETENSORS_LOAD_H
#define SS_SAFETENSORS_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* True when the first bytes look like a safetensors file. */
int safetensors_sniff(const uint8_t *data, size_t size);

/* Loads from memory; data is borrowed. resolution <= 0 takes the file's
 * metadata, or 224. */
int model_load_safetensors_buffer(const uint8_t *data, size_t size,
                                  const char *name, int resolution,
                                  struct ss_model **out, struct ss_error *err);

#endif
