#include "file-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
file_read_all(const char *path, size_t max_bytes, uint8_t **out_data,
              size_t *out_size, struct ss_error *err)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return ss_error_set(err, SS_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return ss_error_set(err, SS_EIO, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > max_bytes) {
    fclose(f);
    return ss_error_set(err, SS_ERANGE, "%s: %lld bytes exceeds the limit of %zu",
                        path, (long long)st.st_size, max_bytes);
  }
  size_t size = (size_t)st.st_size;
  uint8_t *data = malloc(size ? size : 1);
  if (!data) {
    fclose(f);
    return ss_error_set(err, SS_ENOMEM, "%s: out of memory", path);
  }
  if (size && fread(data, 1, size, f) != size) {
    int e = ferror(f) ? errno : 0;
    free(data);
    fclose(f);
    return ss_error_set(err, SS_EIO, "%s: short read%s%s", path,
                        e ? ": " : "", e ? strerror(e) : "");
  }
  fclose(f);
  *out_data = data;
  *out_size = size;
  return 0;
}
