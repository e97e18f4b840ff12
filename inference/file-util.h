/* streamsight — small file helpers shared by the loaders. */
#ifndef SS_FILE_UTIL_H
#define SS_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Reads a whole regular file into a new malloc'd buffer (caller frees). Fails
 * with SS_ERANGE when the file is larger than max_bytes. */
int file_read_all(const char *path, size_t max_bytes, uint8_t **out_data,
                  size_t *out_size, struct ss_error *err);

/* Replaces path with data atomically: a temporary file in the same directory
 * (created with mode, e.g. 0600), written, fsynced and renamed over path,
 * then the directory synced. Readers see the old or the new file, never a
 * mix; on failure path is untouched and the temporary file is removed. */
int file_write_atomic(const char *path, const void *data, size_t size,
                      unsigned mode, struct ss_error *err);

/* CRC-32 (IEEE 802.3, reflected: zlib's crc32) of n bytes. Bitwise: for
 * files of a few hundred kilobytes read once (heads, features). */
uint32_t file_crc32(const uint8_t *p, size_t n);

#endif
