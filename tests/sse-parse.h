/* streamsight tests — a Server-Sent Events parser (the text/event-stream
 * rules of the HTML standard that the server's events use: "field: value"
 * lines, an empty line ends an event, lines starting with ':' are comments,
 * "retry:" alone is not an event). */
#ifndef SS_SSE_PARSE_H
#define SS_SSE_PARSE_H

#include <glib.h>

typedef struct {
  char *event; /* "message" when the event had no event: line */
  char *id;    /* NULL without an id: line */
  char *data;  /* data: lines joined by '\n' */
} SseEvent;

typedef struct {
  GString *buf;      /* bytes not yet split into lines */
  GPtrArray *events; /* SseEvent*, in arrival order */
  int retry_ms;      /* the last retry: value, -1 before any */
  /* The event being built. */
  char *event, *id;
  GString *data;
  gboolean have_data;
} SseParser;

void sse_parser_init(SseParser *p);
void sse_parser_clear(SseParser *p);
void sse_parser_feed(SseParser *p, const char *bytes, gsize len);
/* Index of the first event named name at or after from, or -1. */
int sse_parser_find(SseParser *p, const char *name, guint from);

#endif
