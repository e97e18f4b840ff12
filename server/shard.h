/* streamsight — sharding the cameras across replicas with no coordinator.
 *
 * N replicas read one camera list; replica K serves the streams that
 * rendezvous (highest-random-weight) hashing of the stream id assigns to K.
 * Every replica computes the same answer from the id alone, so each stream
 * is served by exactly one replica, and growing N to N+1 moves only the
 * streams the new shard wins (about 1/(N+1) of them), never a stream from
 * one old shard to another.
 *
 * The hash is fixed and must stay so (a change would move cameras between
 * replicas on upgrade); it uses only 64-bit integer arithmetic on the id's
 * bytes, so every architecture agrees:
 *
 *   key       = FNV-1a 64 of the id's bytes
 *               (offset basis 0xcbf29ce484222325, prime 0x100000001b3)
 *   weight(j) = mix64(key + (j + 1) * 0x9e3779b97f4a7c15)
 *   mix64(z)  = SplitMix64's finaliser:
 *               z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *               z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *               z ^ (z >> 31)
 *   owner     = the shard j in 0..N-1 with the largest weight(j)
 *               (a tie, never seen in practice, goes to the smaller j)
 *
 * i.e. weight(j) is output j+1 of SplitMix64 seeded with the id's FNV-1a
 * hash. FNV-1a alone would not do: it mixes its last input byte poorly, so
 * appending j to the id would give correlated weights.
 *
 * Where K and N come from (shard_new_from_env): STREAMSIGHT_SHARD=K/N, or
 * STREAMSIGHT_SHARDS=N with K the number after the last '-' of HOSTNAME
 * (a StatefulSet's pod "streamsight-2" is K = 2).
 *
 * A Shard is built once at start-up (with the config's streams that belong
 * to the other shards) and is immutable afterwards: any thread may read it.
 */
#ifndef SS_SHARD_H
#define SS_SHARD_H

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* Most replicas one camera list may be split over. */
#define SHARD_COUNT_MAX 1024

#define SHARD_ERROR (shard_error_quark())
GQuark shard_error_quark(void);
typedef enum {
  SHARD_ERROR_INVALID, /* a bad STREAMSIGHT_SHARD(S) or HOSTNAME */
} ShardError;

/* The name of the hash above, shown in the API. */
#define SHARD_HASH_NAME "rendezvous-fnv1a64-splitmix64"

/* FNV-1a 64 of the string's bytes, and the weight of shard j for a stream
 * id (the formulas above). Pure. */
guint64 shard_fnv1a64(const char *s);
guint64 shard_weight(const char *id, guint j);
/* The shard in 0..count-1 that serves id (count >= 1). Pure. */
guint shard_owner(const char *id, guint count);

typedef struct Shard Shard;

/* From envp (as from g_get_environ()): NULL with no error when neither
 * STREAMSIGHT_SHARD nor STREAMSIGHT_SHARDS is set (not sharded). Errors
 * name the variable: "STREAMSIGHT_SHARD: must be K/N with 0 <= K < N <=
 * 1024", "STREAMSIGHT_SHARDS: HOSTNAME 'web' does not end in -K ...". */
Shard *shard_new_from_env(char **envp, GError **error);
void shard_free(Shard *s); /* NULL is allowed */

guint shard_index(const Shard *s);
guint shard_count(const Shard *s);
/* TRUE when this replica serves id. */
gboolean shard_owns(const Shard *s, const char *id);

/* Records a stream of the config that another shard serves (for the list
 * answer). Start-up only, before other threads read s. */
void shard_add_other(Shard *s, const char *id, const char *name);
guint shard_n_other(const Shard *s);

/* {"index", "count", "source", "hash"} (new reference). */
json_t *shard_to_json(const Shard *s);
/* [{"id", "name", "shard", "served_here": false, "state": "other_shard"}]
 * for the streams recorded with shard_add_other (new reference). */
json_t *shard_others_to_json(const Shard *s);

G_END_DECLS

#endif
