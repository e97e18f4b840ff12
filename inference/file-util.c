#define _GNU_SOURCE /* mkostemp */
#include "file-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

int
file_write_atomic(const char *path, const void *data, size_t size,
                  unsigned mode, struct ss_error *err)
{
  size_t len = strlen(path);
  char *tmp = malloc(len + sizeof ".tmp-XXXXXX");
  if (!tmp)
    return ss_error_set(err, SS_ENOMEM, "%s: out of memory", path);
  memcpy(tmp, path, len);
  memcpy(tmp + len, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    int rc = ss_error_set(err, SS_EIO, "%s: cannot create a temporary file: %s",
                          path, strerror(errno));
    free(tmp);
    return rc;
  }
  int rc = 0;
  if (fchmod(fd, (mode_t)mode) != 0) {
    rc = ss_error_set(err, SS_EIO, "%s: chmod: %s", path, strerror(errno));
    goto fail_unlink;
  }
  const uint8_t *p = data;
  size_t left = size;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      rc = ss_error_set(err, SS_EIO, "%s: write: %s", path,
                        w < 0 ? strerror(errno) : "no progress");
      goto fail_unlink;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0) {
    rc = ss_error_set(err, SS_EIO, "%s: fsync: %s", path, strerror(errno));
    goto fail_unlink;
  }
  if (close(fd) != 0) {
    fd = -1;
    rc = ss_error_set(err, SS_EIO, "%s: close: %s", path, strerror(errno));
    goto fail_unlink;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    rc = ss_error_set(err, SS_EIO, "%s: rename: %s", path, strerror(errno));
    goto fail_unlink;
  }
  free(tmp);
  /* The rename is durable once the directory is synced. */
  char *dir = strdup(path);
  if (!dir)
    return 0;
  char *slash = strrchr(dir, '/');
  const char *dname = ".";
  if (slash == dir)
    dname = "/";
  else if (slash) {
    *slash = '\0';
    dname = dir;
  }
  int dfd = open(dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  free(dir);
  return 0;

fail_unlink:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  free(tmp);
  return rc;
}

uint32_t
file_crc32(const uint8_t *p, size_t n)
{
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}
