/* streamsight — where local sources may be read from (see media-dirs.h). */
#include "media-dirs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct MediaDirs {
  gatomicrefcount ref;
  char **dirs; /* resolved, NULL-terminated */
};

/* Deepest recursion of resolve_lenient: one level per missing trailing
 * component. A URI is at most STREAM_URI_MAX bytes, so this is generous. */
#define RESOLVE_DEPTH_MAX 64

static const char refused_file[] =
  "local files are allowed only under the directories listed in media_dirs";
static const char refused_v4l2[] =
  "v4l2 devices are allowed only as /dev/videoN or under the directories "
  "listed in media_dirs";

static MediaDirs *
media_dirs_alloc(GPtrArray *dirs)
{
  MediaDirs *m = g_new0(MediaDirs, 1);
  g_atomic_ref_count_init(&m->ref);
  g_ptr_array_add(dirs, NULL);
  m->dirs = (char **)g_ptr_array_free(dirs, FALSE);
  return m;
}

MediaDirs *
media_dirs_new(const char *const *dirs, GError **error)
{
  GPtrArray *arr = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; dirs && dirs[i]; i++) {
    struct stat st;
    char *r = dirs[i][0] ? realpath(dirs[i], NULL) : NULL;
    if (!r || stat(r, &st) != 0 || !S_ISDIR(st.st_mode)) {
      g_set_error(error, STREAM_CONFIG_ERROR, STREAM_CONFIG_ERROR_INVALID,
                  "[%u]: '%s' is not an existing directory", i, dirs[i]);
      free(r);
      g_ptr_array_unref(arr);
      return NULL;
    }
    g_ptr_array_add(arr, g_strdup(r));
    free(r);
  }
  g_ptr_array_set_free_func(arr, NULL);
  return media_dirs_alloc(arr);
}

MediaDirs *
media_dirs_new_cwd(GError **error)
{
  g_autofree char *cwd = g_get_current_dir();
  const char *const dirs[] = { cwd, NULL };
  return media_dirs_new(dirs, error);
}

MediaDirs *
media_dirs_ref(MediaDirs *m)
{
  g_atomic_ref_count_inc(&m->ref);
  return m;
}

void
media_dirs_unref(MediaDirs *m)
{
  if (!m || !g_atomic_ref_count_dec(&m->ref))
    return;
  g_strfreev(m->dirs);
  g_free(m);
}

const char *const *
media_dirs_list(const MediaDirs *m)
{
  return (const char *const *)m->dirs;
}

/* realpath() that also resolves a path whose last components do not exist
 * (yet): the deepest existing ancestor is resolved and the rest appended,
 * provided none of it is "." or "..". A path that does not exist must be
 * placed by where it would be, or the check would refuse a clip that is
 * still being copied and, worse, answer differently for paths that exist
 * and paths that do not. NULL when nothing can be resolved. */
static char *
resolve_lenient(const char *path, int depth)
{
  g_autofree char *trimmed = NULL, *dir = NULL, *base = NULL;
  g_autofree char *parent = NULL;
  char *r;
  gsize n;

  if (path[0] != '/' || depth > RESOLVE_DEPTH_MAX)
    return NULL;
  r = realpath(path, NULL);
  if (r) {
    char *copy = g_strdup(r);
    free(r);
    return copy;
  }
  /* "/a/b//" -> "/a/b", so that basename and dirname see the last name. */
  trimmed = g_strdup(path);
  n = strlen(trimmed);
  while (n > 1 && trimmed[n - 1] == '/')
    trimmed[--n] = '\0';
  if (strcmp(trimmed, "/") == 0)
    return NULL;
  base = g_path_get_basename(trimmed);
  dir = g_path_get_dirname(trimmed);
  if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
      strcmp(dir, trimmed) == 0)
    return NULL;
  parent = resolve_lenient(dir, depth + 1);
  if (!parent)
    return NULL;
  return g_build_filename(parent, base, NULL);
}

static gboolean
under(const char *path, const char *dir)
{
  gsize n = strlen(dir);
  if (strcmp(dir, "/") == 0)
    return TRUE;
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static gboolean
in_dirs(const MediaDirs *m, const char *resolved)
{
  for (int i = 0; m->dirs[i]; i++)
    if (under(resolved, m->dirs[i]))
      return TRUE;
  return FALSE;
}

/* /dev/videoN: where V4L2 capture devices live (udev's /dev/v4l/by-id/...
 * names are symlinks to these and resolve to them). */
static gboolean
is_dev_video(const char *resolved)
{
  const char *p = resolved + strlen("/dev/video");
  if (!g_str_has_prefix(resolved, "/dev/video") || !*p)
    return FALSE;
  for (; *p; p++)
    if (!g_ascii_isdigit(*p))
      return FALSE;
  return TRUE;
}

static gboolean
refuse(GError **error, const char *field, const char *why)
{
  g_set_error(error, STREAM_CONFIG_ERROR, STREAM_CONFIG_ERROR_FORBIDDEN,
              "%s: %s", field, why);
  return FALSE;
}

gboolean
media_dirs_resolve(const MediaDirs *m, const StreamConfig *c,
                   char **local_path, GError **error)
{
  const char *scheme = stream_config_uri_scheme(c->uri);
  g_autofree char *path = NULL, *resolved = NULL;

  if (g_strcmp0(scheme, "file") == 0) {
    path = g_filename_from_uri(c->uri, NULL, NULL);
    resolved = path ? resolve_lenient(path, 0) : NULL;
    if (!resolved || !in_dirs(m, resolved))
      return refuse(error, "uri", refused_file);
  } else if (g_strcmp0(scheme, "v4l2") == 0) {
    const char *field = c->device ? "device" : "uri";
    if (c->device)
      path = g_strdup(c->device);
    else
      g_uri_split(c->uri, G_URI_FLAGS_NONE, NULL, NULL, NULL, NULL, &path,
                  NULL, NULL, NULL);
    resolved = path ? resolve_lenient(path, 0) : NULL;
    if (!resolved || !(is_dev_video(resolved) || in_dirs(m, resolved)))
      return refuse(error, field, refused_v4l2);
  }
  *local_path = g_steal_pointer(&resolved);
  return TRUE;
}
