/* Tests of server/shard.c: the fixed hash (known answers, computed by an
 * independent implementation of the formulas in shard.h, so that a change
 * of the function, which would move cameras between replicas on upgrade,
 * fails here), the spread of 10,000 ids over N shards, the streams that
 * move when N grows (about 1/(N+1), only to the new shard), and where K/N
 * come from in the environment. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shard.h"
#include "testutil.h"

#define N_IDS 10000

START_TEST(test_known_answers)
{
  /* FNV-1a 64's published vectors, then the weights and owners of the
   * formulas in shard.h as a separate Python implementation gives them. */
  ck_assert_uint_eq(shard_fnv1a64(""), 0xcbf29ce484222325ull);
  ck_assert_uint_eq(shard_fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  ck_assert_uint_eq(shard_fnv1a64("cam-1"), 0xe830a73a98735c66ull);
  ck_assert_uint_eq(shard_weight("cam-1", 0), 0x10aa0bca12de7f5aull);
  ck_assert_uint_eq(shard_weight("cam-1", 2), 0x06aa6d2c85c5a651ull);

  static const struct {
    const char *id;
    guint owner[6]; /* for N = 1, 2, 3, 4, 5, 16 */
  } cases[] = {
    { "door", { 0, 1, 2, 2, 2, 13 } },
    { "garage", { 0, 0, 0, 0, 0, 11 } },
    { "cam-1", { 0, 0, 0, 3, 4, 14 } },
    { "cam-2", { 0, 0, 2, 2, 2, 2 } },
    { "stream-1", { 0, 0, 2, 3, 4, 4 } },
    { "x", { 0, 1, 1, 3, 3, 8 } },
  };
  static const guint counts[6] = { 1, 2, 3, 4, 5, 16 };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    for (guint k = 0; k < 6; k++)
      ck_assert_msg(shard_owner(cases[i].id, counts[k]) ==
                        cases[i].owner[k],
                    "'%s' with N=%u: owner %u, expected %u", cases[i].id,
                    counts[k], shard_owner(cases[i].id, counts[k]),
                    cases[i].owner[k]);
}
END_TEST

/* Ids as users write them: a prefix and a counter. */
static void
make_id(char *buf, gsize cap, guint i)
{
  g_snprintf(buf, cap, "cam-%u", i);
}

/* 10,000 ids over N shards: every shard within 6 standard deviations of
 * N_IDS/N (binomial: sd = sqrt(n p (1-p)), 43 for N = 4). The function is
 * fixed, so this is deterministic: it fails only for a badly mixing hash
 * (plain FNV-1a of id + j put 40% on one shard of 4 in a trial). */
START_TEST(test_spread)
{
  guint n = (guint)_i;
  guint hits[64] = { 0 };
  char id[32];
  for (guint i = 0; i < N_IDS; i++) {
    make_id(id, sizeof id, i);
    guint o = shard_owner(id, n);
    ck_assert_uint_lt(o, n);
    hits[o]++;
  }
  double p = 1.0 / n;
  double expected = N_IDS * p;
  double sd = sqrt(N_IDS * p * (1 - p));
  for (guint j = 0; j < n; j++) {
    printf("N=%u shard %u: %u ids (expected %.0f +- %.0f)\n", n, j, hits[j],
           expected, sd);
    ck_assert_msg(fabs(hits[j] - expected) <= 6 * sd,
                  "N=%u: shard %u has %u of %u ids, expected %.0f", n, j,
                  hits[j], N_IDS, expected);
  }
}
END_TEST

/* Growing N to N+1: only the streams the new shard wins move, about
 * 1/(N+1) of them, and none moves between two old shards. */
START_TEST(test_growth_moves_a_fraction)
{
  guint n = (guint)_i;
  guint moved = 0;
  char id[32];
  for (guint i = 0; i < N_IDS; i++) {
    make_id(id, sizeof id, i);
    guint before = shard_owner(id, n), after = shard_owner(id, n + 1);
    if (before == after)
      continue;
    ck_assert_msg(after == n, "'%s' moved from shard %u to old shard %u "
                  "when N grew from %u", id, before, after, n);
    moved++;
  }
  double frac = (double)moved / N_IDS;
  double want = 1.0 / (n + 1);
  printf("N %u -> %u: %u of %u ids moved (%.4f, rendezvous promises "
         "%.4f)\n", n, n + 1, moved, N_IDS, frac, want);
  ck_assert_msg(fabs(frac - want) <= 0.02, "N %u -> %u moved %.4f, "
                "expected %.4f", n, n + 1, frac, want);
}
END_TEST

/* Shrinking also moves only the removed shard's streams. */
START_TEST(test_shrink_moves_only_the_removed)
{
  char id[32];
  for (guint i = 0; i < N_IDS; i++) {
    make_id(id, sizeof id, i);
    guint before = shard_owner(id, 4), after = shard_owner(id, 3);
    if (before != 3)
      ck_assert_msg(after == before, "'%s' moved from %u to %u", id, before,
                    after);
  }
}
END_TEST

static Shard *
from_env(const char *shard, const char *shards, const char *host,
         char **msg)
{
  char **env = g_new0(char *, 1);
  if (shard)
    env = g_environ_setenv(env, "STREAMSIGHT_SHARD", shard, TRUE);
  if (shards)
    env = g_environ_setenv(env, "STREAMSIGHT_SHARDS", shards, TRUE);
  if (host)
    env = g_environ_setenv(env, "HOSTNAME", host, TRUE);
  GError *e = NULL;
  Shard *s = shard_new_from_env(env, &e);
  g_strfreev(env);
  *msg = e ? g_strdup(e->message) : NULL;
  g_clear_error(&e);
  return s;
}

START_TEST(test_env)
{
  char *msg = NULL;
  Shard *s;

  s = from_env(NULL, NULL, "streamsight-1", &msg);
  ck_assert_ptr_null(s);
  ck_assert_ptr_null(msg); /* not sharded, not an error */

  s = from_env("1/3", NULL, NULL, &msg);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(shard_index(s), 1);
  ck_assert_uint_eq(shard_count(s), 3);
  ck_assert(shard_owns(s, "cam-02"));  /* owner 1 of 3 (test above) */
  ck_assert(!shard_owns(s, "cam-01")); /* owner 0 */
  json_t *j = shard_to_json(s);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "index")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 3);
  ck_assert_str_eq(json_string_value(json_object_get(j, "hash")),
                   SHARD_HASH_NAME);
  json_decref(j);
  shard_add_other(s, "cam-01", "front");
  ck_assert_uint_eq(shard_n_other(s), 1);
  j = shard_others_to_json(s);
  ck_assert_uint_eq(json_array_size(j), 1);
  json_t *o = json_array_get(j, 0);
  ck_assert_str_eq(json_string_value(json_object_get(o, "id")), "cam-01");
  ck_assert_int_eq(json_integer_value(json_object_get(o, "shard")), 0);
  ck_assert(json_is_false(json_object_get(o, "served_here")));
  ck_assert_str_eq(json_string_value(json_object_get(o, "state")),
                   "other_shard");
  json_decref(j);
  shard_free(s);

  /* K from a StatefulSet pod name. */
  s = from_env(NULL, "4", "streamsight-3", &msg);
  ck_assert_msg(s != NULL, "%s", msg);
  ck_assert_uint_eq(shard_index(s), 3);
  ck_assert_uint_eq(shard_count(s), 4);
  shard_free(s);
  s = from_env(NULL, "1", "my-cams-0", &msg);
  ck_assert_msg(s != NULL, "%s", msg);
  ck_assert_uint_eq(shard_index(s), 0);
  shard_free(s);
  /* Both, agreeing. */
  s = from_env("2/4", "4", "whatever", &msg);
  ck_assert_msg(s != NULL, "%s", msg);
  ck_assert_uint_eq(shard_index(s), 2);
  shard_free(s);

  static const struct {
    const char *shard, *shards, *host, *needle;
  } bad[] = {
    { "3/3", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { "1/0", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { "1", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { "-1/3", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { "1/3x", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { " 1/3", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { "0/1025", NULL, NULL, "STREAMSIGHT_SHARD: must be K/N" },
    { "0/99999999999999999999", NULL, NULL, "must be K/N" },
    { "1/3", "4", NULL, "STREAMSIGHT_SHARDS: '4' disagrees" },
    { NULL, "0", "s-0", "STREAMSIGHT_SHARDS: must be the number" },
    { NULL, "x", "s-0", "STREAMSIGHT_SHARDS: must be the number" },
    { NULL, "3", NULL, "HOSTNAME '' does not end in -K" },
    { NULL, "3", "streamsight", "HOSTNAME 'streamsight' does not end" },
    { NULL, "3", "streamsight-", "does not end in -K" },
    { NULL, "3", "streamsight-1a", "does not end in -K" },
    { NULL, "3", "streamsight-3", "ordinal 3 (HOSTNAME 'streamsight-3') is "
      "not below it" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    s = from_env(bad[i].shard, bad[i].shards, bad[i].host, &msg);
    ck_assert_msg(s == NULL, "case %u: accepted", i);
    ck_assert_msg(msg && strstr(msg, bad[i].needle),
                  "case %u: message '%s' lacks '%s'", i, msg ? msg : "(none)",
                  bad[i].needle);
    g_free(msg);
  }
}
END_TEST

static Suite *
shard_suite(void)
{
  Suite *s = suite_create("shard");
  TCase *tc = tcase_create("hash");
  tcase_add_test(tc, test_known_answers);
  tcase_add_loop_test(tc, test_spread, 2, 9);
  tcase_add_loop_test(tc, test_growth_moves_a_fraction, 1, 8);
  tcase_add_test(tc, test_shrink_moves_only_the_removed);
  suite_add_tcase(s, tc);
  tc = tcase_create("env");
  tcase_add_test(tc, test_env);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(shard_suite());
}
