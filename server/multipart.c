#define _GNU_SOURCE /* memmem */
#include "multipart.h"

#include <string.h>

G_DEFINE_QUARK(ss-multipart-error-quark, multipart_error)

static gboolean
invalid(GError **error, MultipartError code, const char *msg)
{
  g_set_error_literal(error, MULTIPART_ERROR, code, msg);
  return FALSE;
}

gboolean
multipart_is_form_data(const char *content_type)
{
  static const char mt[] = "multipart/form-data";
  if (!content_type)
    return FALSE;
  while (*content_type == ' ' || *content_type == '\t')
    content_type++;
  if (g_ascii_strncasecmp(content_type, mt, sizeof mt - 1) != 0)
    return FALSE;
  char next = content_type[sizeof mt - 1];
  return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* Copies the value of parameter name (case-insensitive) of a header value
 * such as `multipart/form-data; boundary="x y"` into out (cap bytes with the
 * NUL); quoted values lose their quotes and backslash escapes. FALSE when
 * the parameter is absent, empty or too long. */
static gboolean
header_param(const char *value, const char *name, char *out, gsize cap)
{
  gsize nlen = strlen(name);
  const char *p = strchr(value, ';');
  while (p) {
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    if (g_ascii_strncasecmp(p, name, nlen) == 0 && p[nlen] == '=') {
      const char *v = p + nlen + 1;
      gsize n = 0;
      if (*v == '"') {
        for (v++; *v && *v != '"'; v++) {
          if (*v == '\\' && v[1])
            v++;
          if (n + 1 >= cap)
            return FALSE;
          out[n++] = *v;
        }
        if (*v != '"')
          return FALSE;
      } else {
        for (; *v && *v != ';' && *v != ' ' && *v != '\t'; v++) {
          if (n + 1 >= cap)
            return FALSE;
          out[n++] = *v;
        }
      }
      out[n] = '\0';
      return n > 0;
    }
    p = strchr(p, ';');
  }
  return FALSE;
}

/* TRUE when the header value has a parameter called name (any value). */
static gboolean
has_param(const char *value, gsize len, const char *name)
{
  gsize nlen = strlen(name);
  for (gsize i = 0; i + nlen < len; i++) {
    if (value[i] != ';')
      continue;
    gsize j = i + 1;
    while (j < len && (value[j] == ' ' || value[j] == '\t'))
      j++;
    if (j + nlen < len && g_ascii_strncasecmp(value + j, name, nlen) == 0 &&
        (value[j + nlen] == '=' || value[j + nlen] == '*'))
      return TRUE;
  }
  return FALSE;
}

/* The next delimiter "--boundary" at or after from that starts a line
 * (body start, or after LF) and is followed by "--", transport padding or
 * a line end; or NULL. */
static const guint8 *
find_delimiter(const guint8 *body, gsize len, gsize from, const char *delim,
               gsize dlen)
{
  while (from < len) {
    const guint8 *p = memmem(body + from, len - from, delim, dlen);
    if (!p)
      return NULL;
    gsize at = (gsize)(p - body);
    gsize after = at + dlen;
    gboolean line_start = at == 0 || body[at - 1] == '\n';
    gboolean ends = after >= len || body[after] == '-' ||
                    body[after] == '\r' || body[after] == '\n' ||
                    body[after] == ' ' || body[after] == '\t';
    if (line_start && ends)
      return p;
    from = at + 1;
  }
  return NULL;
}

/* Walks the parts of a body. */
typedef struct {
  const guint8 *body;
  gsize len;
  char delim[MULTIPART_BOUNDARY_MAX + 3];
  gsize dlen;
  const guint8 *pos; /* the delimiter before the next part */
} PartReader;

/* One part: its header lines [hstart, hend) and content [cstart, cend). */
typedef struct {
  gsize hstart, hend, cstart, cend;
} Part;

static gboolean
reader_init(PartReader *r, const char *content_type, const guint8 *body,
            gsize len, GError **error)
{
  char boundary[MULTIPART_BOUNDARY_MAX + 2];
  if (!multipart_is_form_data(content_type))
    return invalid(error, MULTIPART_ERROR_INVALID,
                   "Content-Type: not multipart/form-data");
  if (!header_param(content_type, "boundary", boundary, sizeof boundary) ||
      strlen(boundary) > MULTIPART_BOUNDARY_MAX)
    return invalid(error, MULTIPART_ERROR_INVALID,
                   "Content-Type: multipart/form-data needs a boundary "
                   "parameter of 1..70 characters");
  g_snprintf(r->delim, sizeof r->delim, "--%s", boundary);
  r->dlen = strlen(r->delim);
  r->body = body;
  r->len = len;
  r->pos = find_delimiter(body, len, 0, r->delim, r->dlen);
  if (!r->pos)
    return invalid(error, MULTIPART_ERROR_INVALID,
                   "multipart body: no boundary delimiter");
  return TRUE;
}

/* 1 with the next part in *p, 0 at the close delimiter, -1 on error. */
static int
reader_next(PartReader *r, Part *p, GError **error)
{
  const guint8 *body = r->body;
  gsize len = r->len;
  gsize at = (gsize)(r->pos - body) + r->dlen;
  if (at + 2 <= len && body[at] == '-' && body[at + 1] == '-')
    return 0; /* the close delimiter */
  while (at < len && (body[at] == ' ' || body[at] == '\t'))
    at++;
  if (at < len && body[at] == '\r')
    at++;
  if (at >= len || body[at] != '\n') {
    invalid(error, MULTIPART_ERROR_INVALID,
            "multipart body: truncated after a boundary");
    return -1;
  }
  at++;
  /* The part's headers, up to the first empty line. */
  gsize line = at;
  gboolean found = FALSE;
  p->hstart = at;
  while (line < len) {
    const guint8 *nl = memchr(body + line, '\n', len - line);
    if (!nl)
      break;
    gsize eol = (gsize)(nl - body);
    gsize content_end = eol > line && body[eol - 1] == '\r' ? eol - 1 : eol;
    if (content_end == line) {
      p->hend = line;
      p->cstart = eol + 1;
      found = TRUE;
      break;
    }
    line = eol + 1;
  }
  if (!found) {
    invalid(error, MULTIPART_ERROR_INVALID,
            "multipart body: a part's headers do not end");
    return -1;
  }
  const guint8 *next = find_delimiter(body, len, p->cstart, r->delim, r->dlen);
  if (!next) {
    invalid(error, MULTIPART_ERROR_INVALID,
            "multipart body: truncated (no closing boundary)");
    return -1;
  }
  gsize cend = (gsize)(next - body);
  /* The line break before the delimiter belongs to it. */
  if (cend > p->cstart && body[cend - 1] == '\n')
    cend--;
  if (cend > p->cstart && body[cend - 1] == '\r')
    cend--;
  p->cend = cend;
  r->pos = next;
  return 1;
}

/* The next line of a part's header block body[*pos .. hend): *line and
 * *len without its CR LF (or LF), *pos moved past it. FALSE at hend. */
static gboolean
header_line_next(const guint8 *body, gsize hend, gsize *pos,
                 const char **line, gsize *len)
{
  gsize i = *pos;
  if (i >= hend)
    return FALSE;
  gsize eol = i;
  while (eol < hend && body[eol] != '\n')
    eol++;
  gsize end = eol;
  if (end > i && body[end - 1] == '\r')
    end--;
  *line = (const char *)body + i;
  *len = end - i;
  *pos = eol + 1;
  return TRUE;
}

gboolean
multipart_first_file(const char *content_type, const guint8 *body,
                     gsize len, const guint8 **data, gsize *data_len,
                     char **part_type, GError **error)
{
  PartReader rd;
  if (!reader_init(&rd, content_type, body, len, error))
    return FALSE;
  const guint8 *image_data = NULL;
  gsize image_len = 0;
  char *image_type = NULL;
  Part part;
  int more;
  while ((more = reader_next(&rd, &part, error)) > 0) {
    gsize hend = part.hend, cstart = part.cstart, cend = part.cend;
    gboolean is_file = FALSE;
    char *ctype = NULL;
    const char *hline;
    gsize llen, i = part.hstart;
    while (header_line_next(body, hend, &i, &hline, &llen)) {
      static const char cd[] = "content-disposition:";
      static const char ct[] = "content-type:";
      if (llen >= sizeof cd - 1 &&
          g_ascii_strncasecmp(hline, cd, sizeof cd - 1) == 0) {
        if (has_param(hline, llen, "filename"))
          is_file = TRUE;
      } else if (llen >= sizeof ct - 1 &&
                 g_ascii_strncasecmp(hline, ct, sizeof ct - 1) == 0 &&
                 !ctype) {
        const char *v = hline + sizeof ct - 1;
        gsize vlen = llen - (sizeof ct - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
          v++;
          vlen--;
        }
        ctype = g_strndup(v, vlen);
        if (!g_utf8_validate(ctype, -1, NULL)) {
          g_free(ctype);
          ctype = NULL;
        }
      }
    }
    if (is_file) {
      *data = body + cstart;
      *data_len = cend - cstart;
      if (part_type)
        *part_type = ctype;
      else
        g_free(ctype);
      g_free(image_type);
      return TRUE;
    }
    if (!image_data && ctype &&
        g_ascii_strncasecmp(ctype, "image/", 6) == 0) {
      image_data = body + cstart;
      image_len = cend - cstart;
      image_type = ctype;
      ctype = NULL;
    }
    g_free(ctype);
  }
  if (more < 0) {
    g_free(image_type);
    return FALSE;
  }
  if (image_data) {
    *data = image_data;
    *data_len = image_len;
    if (part_type)
      *part_type = image_type;
    else
      g_free(image_type);
    return TRUE;
  }
  return invalid(error, MULTIPART_ERROR_NO_FILE,
                 "multipart body: no file part (expected a part with a "
                 "filename, e.g. curl -F image=@photo.jpg)");
}

/* Longest Content-Disposition line looked at for a field's name. */
#define MULTIPART_DISPOSITION_MAX 1024

gboolean
multipart_field(const char *content_type, const guint8 *body, gsize len,
                const char *name, gsize max_len, char **value,
                GError **error)
{
  PartReader rd;
  if (!reader_init(&rd, content_type, body, len, error))
    return FALSE;
  Part part;
  int more;
  while ((more = reader_next(&rd, &part, error)) > 0) {
    gboolean named = FALSE, is_file = FALSE;
    const char *hline;
    gsize llen, i = part.hstart;
    while (header_line_next(body, part.hend, &i, &hline, &llen)) {
      static const char cd[] = "content-disposition:";
      if (llen >= sizeof cd - 1 && llen <= MULTIPART_DISPOSITION_MAX &&
          g_ascii_strncasecmp(hline, cd, sizeof cd - 1) == 0) {
        char line[MULTIPART_DISPOSITION_MAX + 1], pname[128];
        memcpy(line, hline, llen);
        line[llen] = '\0';
        named = strlen(line) == llen &&
                header_param(line, "name", pname, sizeof pname) &&
                strcmp(pname, name) == 0;
        is_file = has_param(hline, llen, "filename");
      }
    }
    if (!named || is_file)
      continue;
    gsize vlen = part.cend - part.cstart;
    if (vlen > max_len)
      return invalid(error, MULTIPART_ERROR_INVALID,
                     "multipart body: a form field is too long");
    char *v = g_strndup((const char *)body + part.cstart, vlen);
    if (strlen(v) != vlen || !g_utf8_validate(v, -1, NULL)) {
      g_free(v);
      return invalid(error, MULTIPART_ERROR_INVALID,
                     "multipart body: a form field is not text");
    }
    *value = v;
    return TRUE;
  }
  if (more == 0)
    *value = NULL;
  return more == 0;
}
