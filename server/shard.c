#include "shard.h"

#include <string.h>

G_DEFINE_QUARK(streamsight-shard-error-quark, shard_error)

#define FNV1A64_OFFSET 0xcbf29ce484222325ull
#define FNV1A64_PRIME 0x100000001b3ull
/* SplitMix64's increment (2^64 / golden ratio) and finaliser constants. */
#define SPLITMIX64_GAMMA 0x9e3779b97f4a7c15ull
#define SPLITMIX64_MUL1 0xbf58476d1ce4e5b9ull
#define SPLITMIX64_MUL2 0x94d049bb133111ebull
/* Digits of K in a pod name: SHARD_COUNT_MAX - 1 has 4. */
#define SHARD_INDEX_DIGITS_MAX 4

typedef struct {
  char *id;
  char *name;
  guint owner;
} OtherStream;

struct Shard {
  guint index;
  guint count;
  char *source;
  GPtrArray *others; /* OtherStream*, config order; fixed after start-up */
};

guint64
shard_fnv1a64(const char *s)
{
  guint64 h = FNV1A64_OFFSET;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= FNV1A64_PRIME;
  }
  return h;
}

static guint64
mix64(guint64 z)
{
  z = (z ^ (z >> 30)) * SPLITMIX64_MUL1;
  z = (z ^ (z >> 27)) * SPLITMIX64_MUL2;
  return z ^ (z >> 31);
}

static guint64
weight_of_key(guint64 key, guint j)
{
  return mix64(key + ((guint64)j + 1) * SPLITMIX64_GAMMA);
}

guint64
shard_weight(const char *id, guint j)
{
  return weight_of_key(shard_fnv1a64(id), j);
}

guint
shard_owner(const char *id, guint count)
{
  g_assert(count >= 1);
  guint64 key = shard_fnv1a64(id);
  guint best = 0;
  guint64 best_w = weight_of_key(key, 0);
  for (guint j = 1; j < count; j++) {
    guint64 w = weight_of_key(key, j);
    if (w > best_w) { /* strictly: a tie keeps the smaller j */
      best = j;
      best_w = w;
    }
  }
  return best;
}

static void
other_free(gpointer p)
{
  OtherStream *o = p;
  g_free(o->id);
  g_free(o->name);
  g_free(o);
}

/* index < count <= SHARD_COUNT_MAX. source: where K/N came from, shown in
 * the API (copied). */
static Shard *
shard_new(guint index, guint count, const char *source)
{
  g_assert(count >= 1 && count <= SHARD_COUNT_MAX && index < count);
  Shard *s = g_new0(Shard, 1);
  s->index = index;
  s->count = count;
  s->source = g_strdup(source);
  s->others = g_ptr_array_new_with_free_func(other_free);
  return s;
}

void
shard_free(Shard *s)
{
  if (!s)
    return;
  g_free(s->source);
  g_ptr_array_unref(s->others);
  g_free(s);
}

/* A decimal number of 1..max_digits digits and nothing else. */
static gboolean
parse_digits(const char *s, gsize len, guint max_digits, guint *out)
{
  guint v = 0;
  if (len == 0 || len > max_digits)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (!g_ascii_isdigit(s[i]))
      return FALSE;
    v = v * 10 + (guint)(s[i] - '0');
  }
  *out = v;
  return TRUE;
}

static Shard *
invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static Shard *
invalid(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, SHARD_ERROR, SHARD_ERROR_INVALID, msg);
  g_free(msg);
  return NULL;
}

Shard *
shard_new_from_env(char **envp, GError **error)
{
  const char *kn = g_environ_getenv(envp, "STREAMSIGHT_SHARD");
  const char *n_only = g_environ_getenv(envp, "STREAMSIGHT_SHARDS");
  guint k = 0, n = 0;

  if (kn && *kn) {
    const char *slash = strchr(kn, '/');
    if (!slash || !parse_digits(kn, (gsize)(slash - kn),
                                SHARD_INDEX_DIGITS_MAX, &k) ||
        !parse_digits(slash + 1, strlen(slash + 1),
                      SHARD_INDEX_DIGITS_MAX, &n) ||
        n < 1 || n > SHARD_COUNT_MAX || k >= n)
      return invalid(error, "STREAMSIGHT_SHARD: must be K/N with 0 <= K < N "
                     "<= %d (e.g. 1/3), not '%.32s'", SHARD_COUNT_MAX, kn);
    if (n_only && *n_only) {
      guint n2 = 0;
      if (!parse_digits(n_only, strlen(n_only), SHARD_INDEX_DIGITS_MAX, &n2) ||
          n2 != n)
        return invalid(error, "STREAMSIGHT_SHARDS: '%.32s' disagrees with "
                       "STREAMSIGHT_SHARD=%u/%u (set one of them)", n_only,
                       k, n);
    }
    return shard_new(k, n, "STREAMSIGHT_SHARD");
  }
  if (!n_only || !*n_only)
    return NULL;
  if (!parse_digits(n_only, strlen(n_only), SHARD_INDEX_DIGITS_MAX, &n) ||
      n < 1 || n > SHARD_COUNT_MAX)
    return invalid(error, "STREAMSIGHT_SHARDS: must be the number of "
                   "replicas, 1..%d, not '%.32s'", SHARD_COUNT_MAX, n_only);
  /* K is the StatefulSet ordinal: the digits after the pod name's last
   * '-'. */
  const char *host = g_environ_getenv(envp, "HOSTNAME");
  const char *dash = host ? strrchr(host, '-') : NULL;
  if (!dash || !parse_digits(dash + 1, strlen(dash + 1),
                             SHARD_INDEX_DIGITS_MAX, &k))
    return invalid(error, "STREAMSIGHT_SHARDS: HOSTNAME '%.64s' does not end "
                   "in -K (a StatefulSet pod's ordinal); set "
                   "STREAMSIGHT_SHARD=K/N instead", host ? host : "");
  if (k >= n)
    return invalid(error, "STREAMSIGHT_SHARDS=%u: this pod's ordinal %u "
                   "(HOSTNAME '%.64s') is not below it: set "
                   "STREAMSIGHT_SHARDS to the number of replicas", n, k,
                   host);
  return shard_new(k, n, "STREAMSIGHT_SHARDS+HOSTNAME");
}

guint
shard_index(const Shard *s)
{
  return s->index;
}

guint
shard_count(const Shard *s)
{
  return s->count;
}

gboolean
shard_owns(const Shard *s, const char *id)
{
  return shard_owner(id, s->count) == s->index;
}

void
shard_add_other(Shard *s, const char *id, const char *name)
{
  OtherStream *o = g_new0(OtherStream, 1);
  o->id = g_strdup(id);
  o->name = g_strdup(name);
  o->owner = shard_owner(id, s->count);
  g_ptr_array_add(s->others, o);
}

guint
shard_n_other(const Shard *s)
{
  return s->others->len;
}

json_t *
shard_to_json(const Shard *s)
{
  json_t *o = json_object();
  json_object_set_new(o, "index", json_integer(s->index));
  json_object_set_new(o, "count", json_integer(s->count));
  json_object_set_new(o, "source", json_string(s->source));
  json_object_set_new(o, "hash", json_string(SHARD_HASH_NAME));
  return o;
}

json_t *
shard_others_to_json(const Shard *s)
{
  json_t *arr = json_array();
  for (guint i = 0; i < s->others->len; i++) {
    const OtherStream *o = g_ptr_array_index(s->others, i);
    json_t *x = json_object();
    json_object_set_new(x, "id", json_string(o->id));
    json_object_set_new(x, "name", json_string(o->name));
    json_object_set_new(x, "shard", json_integer(o->owner));
    json_object_set_new(x, "served_here", json_false());
    json_object_set_new(x, "state", json_string("other_shard"));
    json_array_append_new(arr, x);
  }
  return arr;
}
