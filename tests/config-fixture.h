/* streamsight — what the suites of server/config.c share (test-config.c,
 * test-config-validation.c, test-config-files.c): loading a config text,
 * temporary files, two streams as the registry hands them over.
 */
#ifndef SS_CONFIG_FIXTURE_H
#define SS_CONFIG_FIXTURE_H

#include <glib.h>

#include "config.h"

/* Loads text over the defaults; returns the config or NULL with *msg set
 * (caller frees). */
ServerConfig *load(const char *text, char **msg);

/* A unique file path in the test's temporary directory. */
char *tmp_path(const char *name);

char *read_file(const char *path);

/* Two streams as the registry would hand them over. */
void make_streams(GPtrArray **configs, GPtrArray **ids);

void free_streams(GPtrArray *configs, GPtrArray *ids);

#endif
