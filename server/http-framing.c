#include "http-framing.h"

#include <string.h>

void
http_framing_add(HttpFraming *f, const char *name, const char *value)
{
  if (strpbrk(name, " \t"))
    f->bad_name = TRUE;
  if (g_ascii_strcasecmp(name, "Content-Length") == 0) {
    if (f->n_length++ == 0)
      f->length = value;
    else if (g_strcmp0(f->length, value) != 0)
      f->lengths_differ = TRUE;
  } else if (g_ascii_strcasecmp(name, "Transfer-Encoding") == 0) {
    if (f->n_encoding++ == 0)
      f->encoding = value;
  }
}

/* "chunked", in any case, spaces around allowed. */
static gboolean
is_chunked(const char *v)
{
  static const char word[] = "chunked";
  if (!v)
    return FALSE;
  while (*v == ' ' || *v == '\t')
    v++;
  if (g_ascii_strncasecmp(v, word, sizeof word - 1) != 0)
    return FALSE;
  for (v += sizeof word - 1; *v; v++)
    if (*v != ' ' && *v != '\t')
      return FALSE;
  return TRUE;
}

const char *
http_framing_problem(const HttpFraming *f, gboolean *with_body)
{
  if (f->bad_name)
    return "a header name contains whitespace";
  /* Equal repeated values are one length (RFC 9110, 8.6). */
  if (f->lengths_differ)
    return "conflicting Content-Length headers";
  if (f->n_length > 0 && f->n_encoding > 0)
    return "both Content-Length and Transfer-Encoding";
  if (f->n_encoding > 1 || (f->n_encoding == 1 && !is_chunked(f->encoding)))
    return "unsupported Transfer-Encoding (only one \"chunked\" is)";
  guint64 length = 0;
  *with_body = f->n_encoding > 0 ||
               (f->length && g_ascii_string_to_unsigned(
                                 f->length, 10, 0, G_MAXUINT64, &length,
                                 NULL) && length > 0);
  return NULL;
}

gboolean
http_target_has_nul(const char *target)
{
  return target && strstr(target, "%00") != NULL;
}

guint
http_target_count_args(const char *target, const char **query)
{
  const char *q = target ? strchr(target, '?') : NULL;
  if (query)
    *query = q;
  if (!q || !q[1])
    return 0;
  guint n = 1;
  for (const char *p = q + 1; *p; p++)
    n += *p == '&';
  return n;
}
