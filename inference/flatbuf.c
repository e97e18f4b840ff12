/* streamsight — bounds-checked flatbuffer reader (see flatbuf.h). */
#include "flatbuf.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Largest buffer a 32-bit uoffset can address. */
#define FB_MAX_SIZE 0xFFFFFFFFu
/* A table's soffset and a vtable's two header fields. */
#define FB_SOFFSET_BYTES 4u
#define FB_VTABLE_HEADER_BYTES 4u

uint16_t
fb_load_u16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t
fb_load_u32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

uint64_t
fb_load_u64(const uint8_t *p)
{
  return (uint64_t)fb_load_u32(p) | ((uint64_t)fb_load_u32(p + 4) << 32);
}

/* Verifies the table at pos (reached from what, for messages). */
static int
table_at(const uint8_t *buf, size_t size, uint64_t pos, const char *type,
         const char *what, struct fb_table *out, struct ss_error *err)
{
  if (pos > size || size - pos < FB_SOFFSET_BYTES)
    return ss_error_set(err, SS_EFORMAT,
                        "%s: %s table at %llu is outside the buffer (%zu "
                        "bytes)",
                        what, type, (unsigned long long)pos, size);
  if (pos % 4 != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s: %s table at %llu is not 4-byte aligned", what,
                        type, (unsigned long long)pos);
  int32_t soff = (int32_t)fb_load_u32(buf + pos);
  int64_t vt = (int64_t)pos - soff;
  if (vt < 0 || (uint64_t)vt > size ||
      size - (uint64_t)vt < FB_VTABLE_HEADER_BYTES)
    return ss_error_set(err, SS_EFORMAT,
                        "%s: %s table at %llu: vtable offset %d points to "
                        "%lld, outside the buffer (%zu bytes)",
                        what, type, (unsigned long long)pos, soff,
                        (long long)vt, size);
  if (vt % 2 != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s: %s table at %llu: vtable at %lld is not 2-byte "
                        "aligned",
                        what, type, (unsigned long long)pos, (long long)vt);
  uint16_t vt_bytes = fb_load_u16(buf + vt);
  uint16_t tbl_bytes = fb_load_u16(buf + vt + 2);
  if (vt_bytes < FB_VTABLE_HEADER_BYTES || vt_bytes % 2 != 0 ||
      (uint64_t)vt + vt_bytes > size)
    return ss_error_set(err, SS_EFORMAT,
                        "%s: %s table at %llu: vtable at %lld has bad size %u "
                        "(buffer %zu bytes)",
                        what, type, (unsigned long long)pos, (long long)vt,
                        vt_bytes, size);
  if (tbl_bytes < FB_SOFFSET_BYTES || pos + tbl_bytes > size)
    return ss_error_set(err, SS_EFORMAT,
                        "%s: %s table at %llu: inline size %u is below 4 or "
                        "runs past the buffer (%zu bytes)",
                        what, type, (unsigned long long)pos, tbl_bytes, size);
  *out = (struct fb_table){
    .buf = buf, .size = size, .pos = (uint32_t)pos, .vt = (uint32_t)vt,
    .vt_bytes = vt_bytes, .tbl_bytes = tbl_bytes, .type = type,
  };
  return 0;
}

int
fb_root(const uint8_t *buf, size_t size, const char *ident, const char *type,
        struct fb_table *out, struct ss_error *err)
{
  size_t need = ident ? 8 : 4;
  if (!buf || size < need)
    return ss_error_set(err, SS_EFORMAT,
                        "buffer of %zu bytes is too short for a flatbuffer",
                        buf ? size : 0);
  if (size > FB_MAX_SIZE)
    return ss_error_set(err, SS_ERANGE,
                        "buffer of %zu bytes is larger than a flatbuffer can "
                        "address",
                        size);
  if (ident && memcmp(buf + 4, ident, 4) != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "file identifier at 4 is not \"%.4s\"", ident);
  uint32_t off = fb_load_u32(buf);
  return table_at(buf, size, off, type, "root offset at 0", out, err);
}

/* The offset of a field inside its table, or 0 when absent. */
static uint16_t
field_offset(const struct fb_table *t, int field)
{
  assert(field >= 0);
  uint32_t slot = FB_VTABLE_HEADER_BYTES + 2u * (uint32_t)field;
  if (slot + 2 > t->vt_bytes)
    return 0;
  return fb_load_u16(t->buf + t->vt + slot);
}

/* Position of an inline field of `bytes` bytes, verified; 0 when absent. */
static int
field_pos(const struct fb_table *t, int field, const char *name,
          uint32_t bytes, uint32_t *pos, struct ss_error *err)
{
  uint16_t fo = field_offset(t, field);
  if (fo == 0) {
    *pos = 0;
    return 0;
  }
  if (fo < FB_SOFFSET_BYTES || (uint32_t)fo + bytes > t->tbl_bytes)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): field offset %u + %u bytes is "
                        "outside the table's %u bytes",
                        t->type, name, t->pos, fo, bytes, t->tbl_bytes);
  uint32_t p = t->pos + fo;
  if (p % bytes != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): field at %u is not %u-byte "
                        "aligned",
                        t->type, name, t->pos, p, bytes);
  *pos = p;
  return 0;
}

int
fb_u8(const struct fb_table *t, int field, const char *name, uint8_t dflt,
      uint8_t *out, struct ss_error *err)
{
  uint32_t p;
  int rc = field_pos(t, field, name, 1, &p, err);
  if (rc)
    return rc;
  *out = p ? t->buf[p] : dflt;
  return 0;
}

int
fb_i8(const struct fb_table *t, int field, const char *name, int8_t dflt,
      int8_t *out, struct ss_error *err)
{
  uint8_t v;
  int rc = fb_u8(t, field, name, (uint8_t)dflt, &v, err);
  if (rc)
    return rc;
  *out = (int8_t)v;
  return 0;
}

int
fb_u32(const struct fb_table *t, int field, const char *name, uint32_t dflt,
       uint32_t *out, struct ss_error *err)
{
  uint32_t p;
  int rc = field_pos(t, field, name, 4, &p, err);
  if (rc)
    return rc;
  *out = p ? fb_load_u32(t->buf + p) : dflt;
  return 0;
}

int
fb_i32(const struct fb_table *t, int field, const char *name, int32_t dflt,
       int32_t *out, struct ss_error *err)
{
  uint32_t v;
  int rc = fb_u32(t, field, name, (uint32_t)dflt, &v, err);
  if (rc)
    return rc;
  *out = (int32_t)v;
  return 0;
}

int
fb_u64(const struct fb_table *t, int field, const char *name, uint64_t dflt,
       uint64_t *out, struct ss_error *err)
{
  uint32_t p;
  int rc = field_pos(t, field, name, 8, &p, err);
  if (rc)
    return rc;
  *out = p ? fb_load_u64(t->buf + p) : dflt;
  return 0;
}

int
fb_f32(const struct fb_table *t, int field, const char *name, float dflt,
       float *out, struct ss_error *err)
{
  uint32_t p;
  int rc = field_pos(t, field, name, 4, &p, err);
  if (rc)
    return rc;
  if (!p) {
    *out = dflt;
    return 0;
  }
  uint32_t bits = fb_load_u32(t->buf + p);
  memcpy(out, &bits, sizeof *out);
  return 0;
}

/* Follows the uoffset stored in a field; *target = 0 when absent. */
static int
follow(const struct fb_table *t, int field, const char *name,
       uint64_t *target, struct ss_error *err)
{
  uint32_t p;
  int rc = field_pos(t, field, name, 4, &p, err);
  if (rc)
    return rc;
  if (!p) {
    *target = 0;
    return 0;
  }
  uint32_t off = fb_load_u32(t->buf + p);
  uint64_t dst = (uint64_t)p + off;
  if (off == 0 || dst >= t->size)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): offset %u at %u points to %llu, "
                        "outside the buffer (%zu bytes)",
                        t->type, name, t->pos, off, p,
                        (unsigned long long)dst, t->size);
  *target = dst;
  return 0;
}

int
fb_table(const struct fb_table *t, int field, const char *name,
         const char *type, struct fb_table *out, bool *present,
         struct ss_error *err)
{
  uint64_t dst;
  int rc = follow(t, field, name, &dst, err);
  if (rc)
    return rc;
  *present = dst != 0;
  if (!dst)
    return 0;
  char what[128];
  snprintf(what, sizeof what, "%s.%s (table at %u)", t->type, name, t->pos);
  return table_at(t->buf, t->size, dst, type, what, out, err);
}

/* Verifies a length-prefixed array at p: 4-byte aligned length, elements
 * aligned to their size (up to 8), and len * elem + extra bytes inside. */
static int
array_at(const struct fb_table *t, const char *name, const char *kind,
         uint64_t p, uint32_t elem, uint32_t extra, uint32_t *len,
         struct ss_error *err)
{
  if (p % 4 != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): %s at %llu is not 4-byte "
                        "aligned",
                        t->type, name, t->pos, kind, (unsigned long long)p);
  if (p > t->size || t->size - p < 4)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): %s length at %llu is outside "
                        "the buffer (%zu bytes)",
                        t->type, name, t->pos, kind, (unsigned long long)p,
                        t->size);
  uint32_t n = fb_load_u32(t->buf + p);
  uint64_t start = p + 4;
  uint64_t bytes = (uint64_t)n * elem + extra;
  if (bytes > t->size - start)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): %s at %llu of %u x %u bytes "
                        "ends past the buffer (%zu bytes)",
                        t->type, name, t->pos, kind, (unsigned long long)p, n,
                        elem, t->size);
  if (elem > 4 && start % elem != 0)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): %s elements at %llu are not "
                        "%u-byte aligned",
                        t->type, name, t->pos, kind,
                        (unsigned long long)start, elem);
  *len = n;
  return 0;
}

int
fb_vector(const struct fb_table *t, int field, const char *name,
          uint32_t elem, struct fb_vector *out, struct ss_error *err)
{
  assert(elem == 1 || elem == 2 || elem == 4 || elem == 8);
  uint64_t dst;
  int rc = follow(t, field, name, &dst, err);
  if (rc)
    return rc;
  struct fb_vector v = {
    .buf = t->buf, .size = t->size, .elem = elem, .type = t->type,
    .field = name,
  };
  if (dst) {
    rc = array_at(t, name, "vector", dst, elem, 0, &v.len, err);
    if (rc)
      return rc;
    v.pos = (uint32_t)dst + 4;
    v.present = true;
  }
  *out = v;
  return 0;
}

int
fb_string(const struct fb_table *t, int field, const char *name,
          const char **str, uint32_t *len, struct ss_error *err)
{
  uint64_t dst;
  int rc = follow(t, field, name, &dst, err);
  if (rc)
    return rc;
  if (!dst) {
    *str = NULL;
    *len = 0;
    return 0;
  }
  uint32_t n;
  rc = array_at(t, name, "string", dst, 1, 1, &n, err);
  if (rc)
    return rc;
  if (t->buf[dst + 4 + n] != '\0')
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s (table at %u): string at %llu of %u bytes has "
                        "no NUL terminator",
                        t->type, name, t->pos, (unsigned long long)dst, n);
  *str = (const char *)t->buf + dst + 4;
  *len = n;
  return 0;
}

int
fb_vector_table(const struct fb_vector *v, uint32_t i, const char *type,
                struct fb_table *out, struct ss_error *err)
{
  assert(v->elem == 4 && i < v->len);
  uint32_t p = v->pos + 4 * i;
  uint32_t off = fb_load_u32(v->buf + p);
  uint64_t dst = (uint64_t)p + off;
  if (off == 0 || dst >= v->size)
    return ss_error_set(err, SS_EFORMAT,
                        "%s.%s[%u]: offset %u at %u points to %llu, outside "
                        "the buffer (%zu bytes)",
                        v->type, v->field, i, off, p, (unsigned long long)dst,
                        v->size);
  char what[128];
  snprintf(what, sizeof what, "%s.%s[%u]", v->type, v->field, i);
  return table_at(v->buf, v->size, dst, type, what, out, err);
}

int32_t
fb_vector_i32(const struct fb_vector *v, uint32_t i)
{
  assert(v->elem == 4 && i < v->len);
  return (int32_t)fb_load_u32(v->buf + v->pos + 4 * (size_t)i);
}

int64_t
fb_vector_i64(const struct fb_vector *v, uint32_t i)
{
  assert(v->elem == 8 && i < v->len);
  return (int64_t)fb_load_u64(v->buf + v->pos + 8 * (size_t)i);
}

float
fb_vector_f32(const struct fb_vector *v, uint32_t i)
{
  assert(v->elem == 4 && i < v->len);
  uint32_t bits = fb_load_u32(v->buf + v->pos + 4 * (size_t)i);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

const uint8_t *
fb_vector_data(const struct fb_vector *v)
{
  return v->buf + v->pos;
}
