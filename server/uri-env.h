/* streamsight — "${NAME}" in the camera URIs of the config file, replaced
 * by the environment variable NAME, percent-encoded.
 *
 * So that a camera's password can live in a secret store (a Kubernetes
 * Secret, a systemd credential, docker's --env-file) while the camera list
 * itself is shared and readable:
 *
 *   {"id": "door", "name": "door",
 *    "uri": "rtsp://viewer:${DOOR_PASSWORD}@192.168.1.64/Streaming/101"}
 *
 * The value is percent-encoded (everything but RFC 3986's unreserved
 * characters), which is right both in the user info and in a query
 * parameter (?password=${PW}): a password with '@', ':' or '/' needs no
 * care. NAME is [A-Za-z_][A-Za-z0-9_]*. A URI cannot hold "${" otherwise
 * ('{' is not a URI character), so no escape is needed. Only the config
 * file is expanded, never a URI sent over the API (a client could
 * otherwise read the server's environment through a camera of its own).
 *
 * Pure functions; any thread.
 */
#ifndef SS_URI_ENV_H
#define SS_URI_ENV_H

#include <glib.h>

G_BEGIN_DECLS

#define URI_ENV_NAME_MAX 128

/* TRUE when uri holds "${". */
gboolean uri_env_has_refs(const char *uri);

/* Replaces every ${NAME} of uri with the percent-encoded value of NAME in
 * envp (as from g_get_environ()). *out: a new string. Errors (domain
 * G_IO_ERROR, code G_IO_ERROR_INVALID_ARGUMENT) name the variable, never a
 * value: "${DOOR_PASSWORD} is not set in the environment", "'${' without
 * a closing '}'", "${...}: a variable name is [A-Za-z_][A-Za-z0-9_]*". */
gboolean uri_env_expand(const char *uri, char **envp, char **out,
                        GError **error);

G_END_DECLS

#endif
