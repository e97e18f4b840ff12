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

#endif
