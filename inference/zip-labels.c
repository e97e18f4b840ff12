/* streamsight — first stored .txt entry of an appended zip (zip-labels.h).
 * Record layouts from PKWARE's APPNOTE.TXT, sections 4.3.7, 4.3.12, 4.3.16. */
#include "zip-labels.h"

#include <stdio.h>
#include <string.h>

#include "flatbuf.h" /* little-endian loads */

#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP_EOCD_BYTES 22u
#define ZIP_COMMENT_MAX 65535u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_CENTRAL_BYTES 46u
#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_LOCAL_BYTES 30u
#define ZIP_METHOD_STORED 0u
#define ZIP_FLAG_ENCRYPTED 0x0001u
#define ZIP_SIZE_ZIP64 0xFFFFFFFFu

static uint32_t
crc32_bytes(const uint8_t *p, size_t n)
{
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* The end-of-central-directory record: the last position where its
 * signature sits and its comment reaches exactly the end of the buffer. */
static bool
find_eocd(const uint8_t *buf, size_t size, size_t *pos)
{
  if (size < ZIP_EOCD_BYTES)
    return false;
  size_t last = size - ZIP_EOCD_BYTES;
  size_t first = last > ZIP_COMMENT_MAX ? last - ZIP_COMMENT_MAX : 0;
  for (size_t i = last + 1; i-- > first;) {
    if (fb_load_u32(buf + i) == ZIP_EOCD_SIG &&
        fb_load_u16(buf + i + 20) == size - i - ZIP_EOCD_BYTES) {
      *pos = i;
      return true;
    }
  }
  return false;
}

static bool
ends_with_txt(const uint8_t *name, size_t n)
{
  static const char ext[] = ".txt";
  if (n < sizeof ext - 1)
    return false;
  for (size_t i = 0; i < sizeof ext - 1; i++) {
    uint8_t c = name[n - (sizeof ext - 1) + i];
    if (c >= 'A' && c <= 'Z')
      c = (uint8_t)(c - 'A' + 'a');
    if (c != (uint8_t)ext[i])
      return false;
  }
  return true;
}

/* Checks the local header of a stored entry and returns its data. */
static int
entry_data(const uint8_t *buf, size_t size, uint64_t local, uint32_t csize,
           uint32_t crc, size_t name_len, const uint8_t **data,
           struct ss_error *err)
{
  if (local > size || size - local < ZIP_LOCAL_BYTES ||
      fb_load_u32(buf + local) != ZIP_LOCAL_SIG)
    return ss_error_set(err, SS_EFORMAT,
                        "labels zip: no local file header at %llu (file %zu "
                        "bytes)",
                        (unsigned long long)local, size);
  uint16_t lname = fb_load_u16(buf + local + 26);
  uint16_t lextra = fb_load_u16(buf + local + 28);
  if (lname != name_len)
    return ss_error_set(err, SS_EFORMAT,
                        "labels zip: local header at %llu names %u bytes, "
                        "the central directory %zu",
                        (unsigned long long)local, lname, name_len);
  uint64_t start = local + ZIP_LOCAL_BYTES + lname + lextra;
  if (start > size || size - start < csize)
    return ss_error_set(err, SS_EFORMAT,
                        "labels zip: entry data at %llu of %u bytes ends "
                        "past the file (%zu bytes)",
                        (unsigned long long)start, csize, size);
  uint32_t got = crc32_bytes(buf + start, csize);
  if (got != crc)
    return ss_error_set(err, SS_EFORMAT,
                        "labels zip: entry data at %llu has CRC-32 %08x, "
                        "the directory says %08x",
                        (unsigned long long)start, got, crc);
  *data = buf + start;
  return 0;
}

int
zip_find_text(const uint8_t *buf, size_t size, struct zip_text *out,
              bool *found, struct ss_error *err)
{
  *found = false;
  size_t eocd;
  if (!find_eocd(buf, size, &eocd))
    return 0;
  const uint8_t *e = buf + eocd;
  uint16_t disk = fb_load_u16(e + 4), cd_disk = fb_load_u16(e + 6);
  uint16_t entries = fb_load_u16(e + 10);
  uint32_t cd_size = fb_load_u32(e + 12), cd_off = fb_load_u32(e + 16);
  if (disk != 0 || cd_disk != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "labels zip: end record at %zu describes a multi-disk "
                        "archive",
                        eocd);
  if (cd_size > eocd || cd_off > eocd - cd_size)
    return ss_error_set(err, SS_EFORMAT,
                        "labels zip: end record at %zu: central directory of "
                        "%u bytes at %u does not fit before it",
                        eocd, cd_size, cd_off);
  /* Archives appended without fixing offsets: everything shifts by base. */
  uint64_t cd = eocd - cd_size;
  uint64_t base = cd - cd_off;
  uint64_t p = cd;
  for (uint32_t i = 0; i < entries; i++) {
    if (p > eocd || eocd - p < ZIP_CENTRAL_BYTES ||
        fb_load_u32(buf + p) != ZIP_CENTRAL_SIG)
      return ss_error_set(err, SS_EFORMAT,
                          "labels zip: central directory entry %u at %llu "
                          "is missing or outside the directory",
                          i, (unsigned long long)p);
    const uint8_t *c = buf + p;
    uint16_t flags = fb_load_u16(c + 8), method = fb_load_u16(c + 10);
    uint32_t crc = fb_load_u32(c + 16);
    uint32_t csize = fb_load_u32(c + 20), usize = fb_load_u32(c + 24);
    uint16_t name_len = fb_load_u16(c + 28), extra_len = fb_load_u16(c + 30);
    uint16_t comment_len = fb_load_u16(c + 32);
    uint32_t local_off = fb_load_u32(c + 42);
    uint64_t next = p + ZIP_CENTRAL_BYTES + name_len + extra_len + comment_len;
    if (next > eocd)
      return ss_error_set(err, SS_EFORMAT,
                          "labels zip: central directory entry %u at %llu "
                          "runs past the directory's end at %zu",
                          i, (unsigned long long)p, eocd);
    const uint8_t *name = c + ZIP_CENTRAL_BYTES;
    if (ends_with_txt(name, name_len) && method == ZIP_METHOD_STORED &&
        !(flags & ZIP_FLAG_ENCRYPTED) && csize != ZIP_SIZE_ZIP64) {
      if (csize != usize)
        return ss_error_set(err, SS_EFORMAT,
                            "labels zip: stored entry %u at %llu has "
                            "compressed size %u != size %u",
                            i, (unsigned long long)p, csize, usize);
      const uint8_t *data = NULL;
      int rc = entry_data(buf, size, base + local_off, csize, crc, name_len,
                          &data, err);
      if (rc)
        return rc;
      out->data = data;
      out->size = csize;
      size_t n = name_len < ZIP_NAME_MAX - 1 ? name_len : ZIP_NAME_MAX - 1;
      memcpy(out->name, name, n);
      out->name[n] = '\0';
      *found = true;
      return 0;
    }
    p = next;
  }
  return 0;
}
