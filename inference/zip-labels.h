/* streamsight — the labels file of a zip archive appended to a model.
 *
 * TFLite metadata writers append a zip (entries stored, not compressed)
 * after the flatbuffer, holding e.g. imagenet_labels.txt. This finds the
 * archive by its end-of-central-directory record, verifies every size and
 * offset against the buffer (and the entry's CRC-32), and returns the first
 * stored entry whose name ends in ".txt". The archive may have been appended
 * without moving its offsets (they are then relative to the archive's
 * start); both forms are accepted.
 */
#ifndef SS_ZIP_LABELS_H
#define SS_ZIP_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ZIP_NAME_MAX 256

struct zip_text {
  const uint8_t *data; /* borrowed from the buffer searched */
  size_t size;
  char name[ZIP_NAME_MAX]; /* entry name, truncated if longer */
};

/* Returns 0 and *found = false when the buffer does not end with a zip
 * archive, or the archive has no stored .txt entry; 0 and *found = true with
 * *out filled when it does; SS_EFORMAT when an archive is there but its
 * records are inconsistent (message names the record and offset). */
int zip_find_text(const uint8_t *buf, size_t size, struct zip_text *out,
                  bool *found, struct ss_error *err);

#endif
