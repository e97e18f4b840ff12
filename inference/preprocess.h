/* streamsight — still-image preprocessing to the model's input.
 *
 * The TF evaluation convention that the reference outputs used: central crop
 * of a fraction of each side (tf.image.central_crop), then bilinear resize
 * with half_pixel_centers=False (TF1/TFLite), computed in float32 and rounded
 * to uint8; then per-channel normalisation (x - mean) / std.
 */
#ifndef SS_PREPROCESS_H
#define SS_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

/* The central crop of a w x h image: origin (x0, y0) and size cw x ch, as
 * tf.image.central_crop computes it (start = int((size - size * f) / 2) per
 * side; f >= 1 keeps the whole image; at least one pixel is kept). */
void preprocess_central_crop(int w, int h, float crop_fraction, int *x0,
                             int *y0, int *cw, int *ch);

/* src: w x h RGB8 pixels, rows of stride bytes. dst: dw x dh x 3, packed.
 * crop_fraction in (0, 1]; 1 resizes the whole image. */
void preprocess_crop_resize_rgb8(const uint8_t *src, int w, int h,
                                 size_t stride, float crop_fraction,
                                 uint8_t *dst, int dw, int dh);

/* out[i*3+c] = (rgb[i*3+c] - mean[c]) / std[c] for n pixels. */
void preprocess_normalize_rgb8(const uint8_t *rgb, size_t n,
                               const float mean[3], const float std[3],
                               float *out);

#endif
