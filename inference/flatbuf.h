/* streamsight — a small bounds-checked flatbuffer reader.
 *
 * No generated code: callers name the schema's tables and fields (by vtable
 * slot) and every offset is verified before it is followed: the root
 * uoffset, each table's soffset to its vtable, the vtable's size and field
 * entries, vectors (length * element size inside the buffer, alignment),
 * strings (NUL terminator inside the buffer) and nested tables. The reader
 * never recurses and never allocates; a failure returns SS_EFORMAT with a
 * message naming the table, the field and the byte offset, e.g.
 * "Tensor.shape (table at 1236): vector at 5680 of 100000 x 4 bytes ends
 * past the buffer (4000 bytes)".
 *
 * The buffer must be at most 4 GiB - 1 (uoffsets are 32-bit). All values are
 * little-endian as the format defines, read byte by byte (no unaligned
 * loads). Returned structs and pointers borrow the caller's buffer.
 */
#ifndef SS_FLATBUF_H
#define SS_FLATBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A verified table: its vtable header is inside the buffer. */
struct fb_table {
  const uint8_t *buf;
  size_t size;
  uint32_t pos;       /* table start (its soffset) */
  uint32_t vt;        /* vtable start */
  uint16_t vt_bytes;  /* vtable size, header included */
  uint16_t tbl_bytes; /* inline size of the table */
  const char *type;   /* schema name, for messages (static string) */
};

/* A verified vector: len elements of elem bytes inside the buffer. */
struct fb_vector {
  const uint8_t *buf;
  size_t size;
  uint32_t pos; /* first element */
  uint32_t len;
  uint32_t elem;
  bool present; /* false when the field was absent (len is 0 then) */
  const char *type, *field; /* for messages (static strings) */
};

/* The root table: uoffset at byte 0, and, when ident is not NULL, the
 * 4-byte file identifier at byte 4. */
int fb_root(const uint8_t *buf, size_t size, const char *ident,
            const char *type, struct fb_table *out, struct ss_error *err);

/* Scalars; an absent field gives dflt. name is the field's schema name. */
int fb_u8(const struct fb_table *t, int field, const char *name, uint8_t dflt,
          uint8_t *out, struct ss_error *err);
int fb_i8(const struct fb_table *t, int field, const char *name, int8_t dflt,
          int8_t *out, struct ss_error *err);
int fb_i32(const struct fb_table *t, int field, const char *name,
           int32_t dflt, int32_t *out, struct ss_error *err);
int fb_u32(const struct fb_table *t, int field, const char *name,
           uint32_t dflt, uint32_t *out, struct ss_error *err);
int fb_u64(const struct fb_table *t, int field, const char *name,
           uint64_t dflt, uint64_t *out, struct ss_error *err);
int fb_f32(const struct fb_table *t, int field, const char *name, float dflt,
           float *out, struct ss_error *err);

/* A nested table; *present is false (and *out untouched) when absent. */
int fb_table(const struct fb_table *t, int field, const char *name,
             const char *type, struct fb_table *out, bool *present,
             struct ss_error *err);
/* A vector of elem-byte scalars (1, 2, 4 or 8) or of offsets (elem 4, read
 * with fb_vector_table/fb_vector_string). Absent gives an empty vector. */
int fb_vector(const struct fb_table *t, int field, const char *name,
              uint32_t elem, struct fb_vector *out, struct ss_error *err);
/* A string: *str points at len bytes followed by a NUL inside the buffer.
 * Absent gives *str = NULL, *len = 0. */
int fb_string(const struct fb_table *t, int field, const char *name,
              const char **str, uint32_t *len, struct ss_error *err);

/* Element i (< v->len) of a vector of tables. */
int fb_vector_table(const struct fb_vector *v, uint32_t i, const char *type,
                    struct fb_table *out, struct ss_error *err);

/* Element i (< v->len, asserted) of a scalar vector of the matching size. */
int32_t fb_vector_i32(const struct fb_vector *v, uint32_t i);
int64_t fb_vector_i64(const struct fb_vector *v, uint32_t i);
float fb_vector_f32(const struct fb_vector *v, uint32_t i);
/* The vector's bytes (len * elem of them). */
const uint8_t *fb_vector_data(const struct fb_vector *v);

/* Little-endian loads from any address (used for tensor data too). */
uint16_t fb_load_u16(const uint8_t *p);
uint32_t fb_load_u32(const uint8_t *p);
uint64_t fb_load_u64(const uint8_t *p);

#endif
