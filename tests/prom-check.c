#include "prom-check.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum {
  T_COUNTER,
  T_GAUGE,
  T_HISTOGRAM,
  T_SUMMARY,
  T_UNTYPED,
} FamType;

typedef struct {
  FamType type;
  gboolean has_type, has_help, has_samples, closed;
} Family;

typedef struct {
  double last_le;
  double last_count;
  gboolean any_bucket, have_inf, have_sum, have_count;
  double inf_count, count;
} HistGroup;

typedef struct {
  char *name;
  char *value;
} Label;

typedef struct {
  GHashTable *families; /* name -> Family* */
  GHashTable *series;   /* canonical series -> 1 */
  GHashTable *groups;   /* family + labels without le -> HistGroup* */
  char *current;        /* family of the last sample */
  int line;
  char *error;
} Checker;

static gboolean G_GNUC_PRINTF(2, 3)
fail(Checker *c, const char *fmt, ...)
{
  if (c->error)
    return FALSE;
  va_list ap;
  va_start(ap, fmt);
  char *m = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  c->error = g_strdup_printf("line %d: %s", c->line, m);
  g_free(m);
  return FALSE;
}

static gboolean
metric_name_ok(const char *s, gsize n)
{
  if (n == 0)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    char ch = s[i];
    gboolean ok = (ch >= 'a' && ch <= 'z') || ch == '_' || ch == ':' ||
                  (i > 0 && ch >= '0' && ch <= '9');
    if (!ok)
      return FALSE; /* upper case fails too: promtool's snake_case lint */
  }
  return TRUE;
}

static gboolean
label_name_ok(const char *s, gsize n)
{
  if (n == 0 || (n >= 2 && s[0] == '_' && s[1] == '_'))
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    char ch = s[i];
    gboolean ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  ch == '_' || (i > 0 && ch >= '0' && ch <= '9');
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

static gboolean
parse_float(const char *s, double *out)
{
  if (strcmp(s, "+Inf") == 0) {
    *out = INFINITY;
    return TRUE;
  }
  if (strcmp(s, "-Inf") == 0) {
    *out = -INFINITY;
    return TRUE;
  }
  if (strcmp(s, "NaN") == 0) {
    *out = NAN;
    return TRUE;
  }
  if (!*s)
    return FALSE;
  char *end = NULL;
  *out = g_ascii_strtod(s, &end);
  /* Only digits, sign, point and exponent: strtod would take "inf". */
  if (strspn(s, "0123456789+-.eE") != strlen(s))
    return FALSE;
  return end && *end == '\0';
}

static void
labels_free(GPtrArray *labels)
{
  for (guint i = 0; i < labels->len; i++) {
    Label *l = g_ptr_array_index(labels, i);
    g_free(l->name);
    g_free(l->value);
    g_free(l);
  }
  g_ptr_array_unref(labels);
}

static gint
label_cmp(gconstpointer a, gconstpointer b)
{
  const Label *x = *(Label *const *)a, *y = *(Label *const *)b;
  return strcmp(x->name, y->name);
}

/* Parses {a="b",...} at *p (just after '{'); labels receive the unescaped
 * values. */
static gboolean
parse_labels(Checker *c, const char **p, GPtrArray *labels)
{
  const char *s = *p;
  if (*s == '}') {
    *p = s + 1;
    return TRUE;
  }
  for (;;) {
    const char *n0 = s;
    while (*s && *s != '=' && *s != '}' && *s != ',' && *s != ' ')
      s++;
    if (!label_name_ok(n0, (gsize)(s - n0)))
      return fail(c, "bad label name '%.*s'", (int)(s - n0), n0);
    if (*s != '=' || s[1] != '"')
      return fail(c, "label '%.*s' needs =\"value\"", (int)(s - n0), n0);
    Label *l = g_new0(Label, 1);
    l->name = g_strndup(n0, (gsize)(s - n0));
    g_ptr_array_add(labels, l);
    for (guint i = 0; i + 1 < labels->len; i++)
      if (strcmp(((Label *)g_ptr_array_index(labels, i))->name, l->name) == 0)
        return fail(c, "label '%s' twice", l->name);
    s += 2;
    GString *v = g_string_new(NULL);
    while (*s && *s != '"') {
      if (*s == '\\') {
        s++;
        if (*s == '\\' || *s == '"')
          g_string_append_c(v, *s);
        else if (*s == 'n')
          g_string_append_c(v, '\n');
        else {
          g_string_free(v, TRUE);
          return fail(c, "label '%s': bad escape \\%c", l->name,
                      *s ? *s : '0');
        }
        s++;
      } else if (*s == '\n') {
        g_string_free(v, TRUE);
        return fail(c, "label '%s': raw newline", l->name);
      } else {
        g_string_append_c(v, *s++);
      }
    }
    if (*s != '"') {
      g_string_free(v, TRUE);
      return fail(c, "label '%s': unterminated value", l->name);
    }
    l->value = g_string_free(v, FALSE);
    s++;
    if (*s == ',') {
      s++;
      continue;
    }
    if (*s == '}') {
      *p = s + 1;
      return TRUE;
    }
    return fail(c, "expected ',' or '}' after label '%s'", l->name);
  }
}

static Family *
family_get(Checker *c, const char *name)
{
  Family *f = g_hash_table_lookup(c->families, name);
  if (!f) {
    f = g_new0(Family, 1);
    g_hash_table_insert(c->families, g_strdup(name), f);
  }
  return f;
}

static gboolean
comment_line(Checker *c, const char *line)
{
  gboolean help = g_str_has_prefix(line, "# HELP ");
  gboolean type = g_str_has_prefix(line, "# TYPE ");
  if (!help && !type)
    return TRUE; /* free comment */
  const char *n0 = line + 7;
  const char *n1 = n0;
  while (*n1 && *n1 != ' ')
    n1++;
  if (!metric_name_ok(n0, (gsize)(n1 - n0)))
    return fail(c, "bad metric name '%.*s'", (int)(n1 - n0), n0);
  char *name = g_strndup(n0, (gsize)(n1 - n0));
  Family *f = family_get(c, name);
  gboolean ok = TRUE;
  if (help) {
    if (f->has_help)
      ok = fail(c, "second HELP for '%s'", name);
    f->has_help = TRUE;
    if (*n1 != ' ' || !n1[1])
      ok = fail(c, "HELP of '%s' is empty", name);
    for (const char *p = n1; ok && *p; p++)
      if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
        ok = fail(c, "HELP of '%s': bad escape", name);
      else if (*p == '\\')
        p++;
  } else {
    const char *t = *n1 == ' ' ? n1 + 1 : "";
    if (f->has_type)
      ok = fail(c, "second TYPE for '%s'", name);
    else if (f->has_samples)
      ok = fail(c, "TYPE of '%s' after its samples", name);
    f->has_type = TRUE;
    if (strcmp(t, "counter") == 0)
      f->type = T_COUNTER;
    else if (strcmp(t, "gauge") == 0)
      f->type = T_GAUGE;
    else if (strcmp(t, "histogram") == 0)
      f->type = T_HISTOGRAM;
    else if (strcmp(t, "summary") == 0)
      f->type = T_SUMMARY;
    else if (strcmp(t, "untyped") == 0)
      f->type = T_UNTYPED;
    else
      ok = fail(c, "unknown TYPE '%s' for '%s'", t, name);
    if (ok && f->type == T_COUNTER && !g_str_has_suffix(name, "_total"))
      ok = fail(c, "counter '%s' must end in _total", name);
  }
  g_free(name);
  return ok;
}

/* The family a sample name belongs to (new string) and the suffix role. */
static char *
resolve(Checker *c, const char *name, const char **suffix)
{
  *suffix = "";
  Family *f = g_hash_table_lookup(c->families, name);
  if (f && f->has_type)
    return g_strdup(name); /* a bare histogram name is caught later */
  static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
  for (gsize i = 0; i < G_N_ELEMENTS(suffixes); i++) {
    if (!g_str_has_suffix(name, suffixes[i]))
      continue;
    char *stem = g_strndup(name, strlen(name) - strlen(suffixes[i]));
    Family *sf = g_hash_table_lookup(c->families, stem);
    if (sf && sf->has_type &&
        (sf->type == T_HISTOGRAM ||
         (sf->type == T_SUMMARY && i > 0))) {
      *suffix = suffixes[i];
      return stem;
    }
    g_free(stem);
  }
  return NULL;
}

static gboolean
sample_line(Checker *c, const char *line)
{
  const char *p = line;
  while (*p && *p != '{' && *p != ' ')
    p++;
  if (!metric_name_ok(line, (gsize)(p - line)))
    return fail(c, "bad metric name '%.*s'", (int)(p - line), line);
  char *name = g_strndup(line, (gsize)(p - line));
  GPtrArray *labels = g_ptr_array_new();
  gboolean ok = TRUE;
  const char *suffix = NULL;
  char *fam = NULL;
  if (*p == '{') {
    p++;
    ok = parse_labels(c, &p, labels);
  }
  if (ok && *p != ' ')
    ok = fail(c, "expected a space before the value of '%s'", name);
  double value = 0;
  if (ok) {
    p++;
    const char *v0 = p;
    while (*p && *p != ' ')
      p++;
    char *v = g_strndup(v0, (gsize)(p - v0));
    if (!parse_float(v, &value))
      ok = fail(c, "bad value '%s' of '%s'", v, name);
    g_free(v);
    if (ok && *p == ' ') {
      p++;
      if (!*p || strspn(p, "-0123456789") != strlen(p))
        ok = fail(c, "bad timestamp of '%s'", name);
    }
  }
  if (ok && !(fam = resolve(c, name, &suffix)))
    ok = fail(c, "sample '%s' has no TYPE before it", name);
  Family *f = ok ? g_hash_table_lookup(c->families, fam) : NULL;
  if (ok) {
    if (!c->current || strcmp(c->current, fam) != 0) {
      if (f->has_samples)
        ok = fail(c, "samples of '%s' are not together", fam);
      if (c->current) {
        Family *prev = g_hash_table_lookup(c->families, c->current);
        prev->closed = TRUE;
      }
      g_free(c->current);
      c->current = g_strdup(fam);
    }
    f->has_samples = TRUE;
  }
  if (ok && f->type == T_COUNTER && !(value >= 0))
    ok = fail(c, "counter '%s' is negative or NaN", name);
  const char *le = NULL;
  for (guint i = 0; ok && i < labels->len; i++) {
    Label *l = g_ptr_array_index(labels, i);
    if (strcmp(l->name, "le") == 0)
      le = l->value;
  }
  if (ok && le && !(f->type == T_HISTOGRAM && strcmp(suffix, "_bucket") == 0))
    ok = fail(c, "label le on '%s', not a histogram bucket", name);
  if (ok && f->type == T_HISTOGRAM && !*suffix)
    ok = fail(c, "histogram sample '%s' lacks _bucket/_sum/_count", name);
  /* The series, canonical: sorted labels. */
  if (ok) {
    g_ptr_array_sort(labels, label_cmp);
    GString *key = g_string_new(name);
    GString *group = g_string_new(fam);
    for (guint i = 0; i < labels->len; i++) {
      Label *l = g_ptr_array_index(labels, i);
      g_string_append_printf(key, "\x01%s\x02%s", l->name, l->value);
      if (strcmp(l->name, "le") != 0)
        g_string_append_printf(group, "\x01%s\x02%s", l->name, l->value);
    }
    if (g_hash_table_contains(c->series, key->str))
      ok = fail(c, "series '%s' appears twice", name);
    else
      g_hash_table_add(c->series, g_strdup(key->str));
    if (ok && f->type == T_HISTOGRAM) {
      HistGroup *h = g_hash_table_lookup(c->groups, group->str);
      if (!h) {
        h = g_new0(HistGroup, 1);
        h->last_le = -INFINITY;
        h->last_count = 0;
        g_hash_table_insert(c->groups, g_strdup(group->str), h);
      }
      if (strcmp(suffix, "_bucket") == 0) {
        double lev;
        if (!le)
          ok = fail(c, "bucket of '%s' without le", fam);
        else if (!parse_float(le, &lev) || isnan(lev))
          ok = fail(c, "bad le '%s' in '%s'", le, fam);
        else if (h->any_bucket && !(lev > h->last_le))
          ok = fail(c, "le '%s' of '%s' not increasing", le, fam);
        else if (h->any_bucket && value < h->last_count)
          ok = fail(c, "bucket counts of '%s' decrease at le '%s'", fam, le);
        else if (h->have_sum || h->have_count)
          ok = fail(c, "bucket of '%s' after its _sum/_count", fam);
        if (ok) {
          h->any_bucket = TRUE;
          h->last_le = lev;
          h->last_count = value;
          if (isinf(lev) && lev > 0) {
            h->have_inf = TRUE;
            h->inf_count = value;
          }
        }
      } else if (strcmp(suffix, "_sum") == 0) {
        h->have_sum = TRUE;
      } else {
        h->have_count = TRUE;
        h->count = value;
      }
    }
    g_string_free(key, TRUE);
    g_string_free(group, TRUE);
  }
  g_free(fam);
  g_free(name);
  labels_free(labels);
  return ok;
}

/* Prometheus' own `promtool check metrics` on text, when promtool is
 * installed (Debian's prometheus package; $SS_PROMTOOL names another):
 * NULL when it is content or absent, else what it said. */
static char *
promtool_check(const char *text, gsize len)
{
  const char *env = g_getenv("SS_PROMTOOL");
  g_autofree char *tool = env && *env ? g_strdup(env)
                                      : g_find_program_in_path("promtool");
  if (!tool)
    return NULL;
  char *argv[] = { tool, "check", "metrics", NULL };
  GPid pid;
  int in_fd, out_fd;
  GError *e = NULL;
  if (!g_spawn_async_with_pipes(NULL, argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &pid, &in_fd, &out_fd, NULL,
                                &e)) {
    char *why = g_strdup_printf("promtool: %s", e->message);
    g_error_free(e);
    return why;
  }
  /* promtool reads all of stdin before it writes: no deadlock. */
  for (gsize off = 0; off < len;) {
    ssize_t n = write(in_fd, text + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    off += (gsize)n;
  }
  close(in_fd);
  GString *out = g_string_new(NULL);
  char buf[4096];
  ssize_t n;
  while ((n = read(out_fd, buf, sizeof buf)) > 0 ||
         (n < 0 && errno == EINTR))
    if (n > 0)
      g_string_append_len(out, buf, n);
  close(out_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  g_spawn_close_pid(pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    g_string_free(out, TRUE);
    return NULL;
  }
  char *why = g_strdup_printf("promtool check metrics (exit %d): %s",
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                              out->str);
  g_string_free(out, TRUE);
  return why;
}

char *
prom_check(const char *text, gsize len)
{
  Checker c = { 0 };
  c.families = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  c.series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  c.groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (len == 0 || text[len - 1] != '\n') {
    c.line = 0;
    fail(&c, "the text must end with a newline");
  }
  if (memchr(text, '\0', len)) {
    c.line = 0;
    fail(&c, "NUL byte in the text");
  }
  gsize pos = 0;
  while (!c.error && pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    gsize end = nl ? (gsize)(nl - text) : len;
    char *line = g_strndup(text + pos, end - pos);
    c.line++;
    if (!g_utf8_validate(line, -1, NULL))
      fail(&c, "not UTF-8");
    else if (line[0] == '#')
      comment_line(&c, line);
    else if (line[0] == '\0')
      ; /* empty lines are allowed */
    else
      sample_line(&c, line);
    g_free(line);
    pos = end + 1;
  }
  c.line = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, c.families);
  while (!c.error && g_hash_table_iter_next(&it, &k, &v)) {
    Family *f = v;
    if (!f->has_help)
      fail(&c, "'%s' has no HELP", (char *)k);
    else if (!f->has_type)
      fail(&c, "'%s' has no TYPE", (char *)k);
  }
  g_hash_table_iter_init(&it, c.groups);
  while (!c.error && g_hash_table_iter_next(&it, &k, &v)) {
    HistGroup *h = v;
    char *shown = g_strdup(k);
    g_strdelimit(shown, "\x01\x02", ' ');
    if (!h->have_inf)
      fail(&c, "histogram '%s' has no +Inf bucket", shown);
    else if (!h->have_sum || !h->have_count)
      fail(&c, "histogram '%s' lacks _sum or _count", shown);
    else if (h->count != h->inf_count)
      fail(&c, "histogram '%s': _count %g != +Inf bucket %g", shown,
           h->count, h->inf_count);
    g_free(shown);
  }
  g_hash_table_unref(c.families);
  g_hash_table_unref(c.series);
  g_hash_table_unref(c.groups);
  g_free(c.current);
  if (!c.error)
    c.error = promtool_check(text, len);
  return c.error;
}

gboolean
prom_find(const char *text, const char *name, const char *labels,
          double *value)
{
  char *prefix = *labels ? g_strdup_printf("%s{%s} ", name, labels)
                         : g_strdup_printf("%s ", name);
  gboolean found = FALSE;
  const char *p = text;
  while (p && *p) {
    if (g_str_has_prefix(p, prefix)) {
      const char *v = p + strlen(prefix);
      const char *e = strchr(v, '\n');
      char *s = g_strndup(v, e ? (gsize)(e - v) : strlen(v));
      found = parse_float(s, value);
      g_free(s);
      break;
    }
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  g_free(prefix);
  return found;
}
