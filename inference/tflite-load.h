/* streamsight — TFLite flatbuffer loader.
 *
 * Reads the graph's operators (CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD,
 * AVERAGE_POOL_2D, MEAN, RESHAPE, SQUEEZE, SOFTMAX, FULLY_CONNECTED,
 * QUANTIZE, DEQUANTIZE) into a struct ss_model with float weights: uint8 and
 * int8 weights are dequantised with their per-tensor or per-channel scale and
 * zero point. Every flatbuffer offset is verified before use; a truncated or
 * corrupt file gives an error naming the table, tensor or offset.
 * Labels in the TFLite metadata's appended zip are attached when present.
 *
 * What the model object then says:
 * - input size from the input tensor [1,H,W,3]; normalisation: uint8 input
 *   mean = zero point, std = 1/scale (pixel bytes are the quantised input);
 *   int8 input mean = zero point + 128; float input mean = std = 127.5;
 * - the output (model_num_outputs) is the logits: a final SOFTMAX is
 *   dropped, its input becomes the output; class offset 1 for 1001 outputs;
 * - TF SAME padding (PAD ops folded into the next convolution), format
 *   TFLITE, quantized when weights were uint8/int8;
 * - each value computed by a per-tensor uint8/int8 tensor keeps that
 *   tensor's scale, zero point and integer range (struct
 *   model_value_quant), and the model keeps a dropped final softmax's
 *   output quantisation: only the engine's quantisation emulation uses them;
 * - arch V2 when the graph has residual ADDs, else V1; alpha is the width
 *   multiplier whose mobilenet_build() network has exactly these layers and
 *   channels (0 when none does).
 */
#ifndef SS_TFLITE_LOAD_H
#define SS_TFLITE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* True when the first bytes look like a TFLite flatbuffer ("TFL3" at 4). */
int tflite_sniff(const uint8_t *data, size_t size);

/* Loads from memory; data is borrowed (weights are copied out). name
 * becomes model_name() (NULL: "tflite"). */
int model_load_tflite_buffer(const uint8_t *data, size_t size,
                             const char *name, struct ss_model **out,
                             struct ss_error *err);

struct tflite_load_opts {
  /* Clamp every layer to the range its uint8/int8 output tensor can
   * represent, as TFLite's integer kernels saturate. By default (false)
   * only ranges that start at exactly 0 are applied: they encode a
   * ReLU/ReLU6 that older files do not state as a fused activation. */
  bool clamp_qrange;
};

/* As model_load_tflite_buffer, with options (NULL: the defaults above). */
int model_load_tflite_buffer_opts(const uint8_t *data, size_t size,
                                  const char *name,
                                  const struct tflite_load_opts *opts,
                                  struct ss_model **out,
                                  struct ss_error *err);

#endif
