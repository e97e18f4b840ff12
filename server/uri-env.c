#include "uri-env.h"

#include <gio/gio.h>
#include <string.h>

gboolean
uri_env_has_refs(const char *uri)
{
  return uri && strstr(uri, "${") != NULL;
}

static gboolean
name_is_valid(const char *s, gsize len)
{
  if (len == 0 || len > URI_ENV_NAME_MAX ||
      !(g_ascii_isalpha(s[0]) || s[0] == '_'))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!(g_ascii_isalnum(s[i]) || s[i] == '_'))
      return FALSE;
  return TRUE;
}

gboolean
uri_env_expand(const char *uri, char **envp, char **out, GError **error)
{
  GString *res = g_string_new(NULL);
  const char *p = uri;
  const char *ref;
  while ((ref = strstr(p, "${")) != NULL) {
    g_string_append_len(res, p, ref - p);
    const char *name = ref + 2;
    const char *end = strchr(name, '}');
    if (!end) {
      g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                          "'${' without a closing '}'");
      goto fail;
    }
    gsize len = (gsize)(end - name);
    if (!name_is_valid(name, len)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "${...}: a variable name is 1..%d characters of "
                  "[A-Za-z_][A-Za-z0-9_]*", URI_ENV_NAME_MAX);
      goto fail;
    }
    char *var = g_strndup(name, len);
    const char *value = g_environ_getenv(envp, var);
    if (!value) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "${%s} is not set in the environment", var);
      g_free(var);
      goto fail;
    }
    g_free(var);
    char *escaped = g_uri_escape_string(value, NULL, FALSE);
    g_string_append(res, escaped);
    g_free(escaped);
    p = end + 1;
  }
  g_string_append(res, p);
  *out = g_string_free(res, FALSE);
  return TRUE;

fail:
  g_string_free(res, TRUE);
  return FALSE;
}
