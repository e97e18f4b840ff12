#include "sse-parse.h"

#include <stdlib.h>
#include <string.h>

static void
event_free(gpointer p)
{
  SseEvent *e = p;
  g_free(e->event);
  g_free(e->id);
  g_free(e->data);
  g_free(e);
}

void
sse_parser_init(SseParser *p)
{
  memset(p, 0, sizeof *p);
  p->buf = g_string_new(NULL);
  p->events = g_ptr_array_new_with_free_func(event_free);
  p->data = g_string_new(NULL);
  p->retry_ms = -1;
}

void
sse_parser_clear(SseParser *p)
{
  g_string_free(p->buf, TRUE);
  g_ptr_array_unref(p->events);
  g_string_free(p->data, TRUE);
  g_free(p->event);
  g_free(p->id);
  memset(p, 0, sizeof *p);
}

static void
dispatch(SseParser *p)
{
  if (p->have_data) {
    SseEvent *e = g_new0(SseEvent, 1);
    e->event = p->event ? g_strdup(p->event) : g_strdup("message");
    e->id = g_strdup(p->id);
    e->data = g_strdup(p->data->str);
    g_ptr_array_add(p->events, e);
  }
  g_clear_pointer(&p->event, g_free);
  g_clear_pointer(&p->id, g_free);
  g_string_truncate(p->data, 0);
  p->have_data = FALSE;
}

static void
line(SseParser *p, const char *l)
{
  if (!*l) {
    dispatch(p);
    return;
  }
  if (*l == ':')
    return;
  const char *colon = strchr(l, ':');
  char *field = colon ? g_strndup(l, (gsize)(colon - l)) : g_strdup(l);
  const char *value = colon ? colon + 1 : "";
  if (*value == ' ')
    value++;
  if (strcmp(field, "event") == 0) {
    g_free(p->event);
    p->event = g_strdup(value);
  } else if (strcmp(field, "id") == 0) {
    g_free(p->id);
    p->id = g_strdup(value);
  } else if (strcmp(field, "data") == 0) {
    if (p->have_data)
      g_string_append_c(p->data, '\n');
    g_string_append(p->data, value);
    p->have_data = TRUE;
  } else if (strcmp(field, "retry") == 0) {
    p->retry_ms = atoi(value);
  }
  g_free(field);
}

void
sse_parser_feed(SseParser *p, const char *bytes, gsize len)
{
  g_string_append_len(p->buf, bytes, (gssize)len);
  char *nl;
  while ((nl = memchr(p->buf->str, '\n', p->buf->len))) {
    gsize n = (gsize)(nl - p->buf->str);
    char *l = g_strndup(p->buf->str, n);
    if (n > 0 && l[n - 1] == '\r')
      l[n - 1] = '\0';
    line(p, l);
    g_free(l);
    g_string_erase(p->buf, 0, (gssize)n + 1);
  }
}

int
sse_parser_find(SseParser *p, const char *name, guint from)
{
  for (guint i = from; i < p->events->len; i++) {
    SseEvent *e = g_ptr_array_index(p->events, i);
    if (strcmp(e->event, name) == 0)
      return (int)i;
  }
  return -1;
}
