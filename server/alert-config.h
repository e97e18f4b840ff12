/* streamsight — a stream's alert rules as JSON (the config file, POST and
 * PATCH /api/v1/streams): "alerts": [{"class", "min_score",
 * "min_duration_s", "clear_after_s"}], and back.
 *
 * Pure functions; any thread.
 */
#ifndef SS_ALERT_CONFIG_H
#define SS_ALERT_CONFIG_H

#include <glib.h>
#include <jansson.h>

#include "alert-rule.h"

G_BEGIN_DECLS

/* Reads v (a JSON array of rule objects; null = none) into a new array of
 * *n rules (NULL when empty). Every rule is validated; errors name the key
 * path after prefix ("streams[0].alerts[2].min_score: ..."). On failure
 * nothing is written. */
gboolean alert_config_from_json(json_t *v, const char *prefix,
                                AlertRule **out, guint *n, GError **error);

/* The rules as a JSON array (new reference). */
json_t *alert_config_to_json(const AlertRule *rules, guint n);

G_END_DECLS

#endif
