/* streamsight — the sink's fused resize/convert pass: for one (caps, model
 * input size and normalisation, resize mode, region of interest) the tap
 * tables, built once, and the per-frame pass that samples a raw frame
 * straight into the model's input tensor (NHWC float RGB, normalised).
 * streamsight-sink.c builds one per caps/target/mode/region and runs it
 * per frame; the sampling rules are in sink-resize.c.
 *
 * Immutable once built: any number of threads may run the pass at once.
 */
#ifndef SS_SINK_RESIZE_H
#define SS_SINK_RESIZE_H

#include <gst/video/video.h>

#include "roi.h"
#include "streamsight-sink.h"

G_BEGIN_DECLS

typedef struct SinkResize SinkResize;

/* info: the frames' format and size (copied); out_w x out_h: the tensor's
 * size; mean/std per RGB channel in 0..255 units (std non-zero); roi
 * validated. NULL when the format cannot be converted (not 8 bits per
 * component, or chroma components laid out differently). */
SinkResize *sink_resize_new(const GstVideoInfo *info, int out_w, int out_h,
                            const float mean[3], const float std[3],
                            StreamsightResizeMode mode, const StreamRoi *roi);
void sink_resize_free(SinkResize *r); /* NULL is allowed */

/* The frames' format and size it was built for (borrowed, as long as r). */
const GstVideoInfo *sink_resize_video_info(const SinkResize *r);

/* Fills out (out_h x out_w x 3 floats) from f, a frame mapped with
 * sink_resize_video_info(r). */
void sink_resize_frame(const SinkResize *r, const GstVideoFrame *f,
                       float *out);

G_END_DECLS

#endif
