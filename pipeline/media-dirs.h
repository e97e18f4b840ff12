/* streamsight — where local sources may be read from.
 *
 * file:// clips and v4l2 devices are paths on the server's machine. A client
 * allowed to add streams must not be able to read any media the server's
 * user can read, nor probe the file system through them (a stream's
 * last_error would tell "No such file" from "is a directory"). So a local
 * path is allowed only when, resolved with realpath (no ".." or symlink
 * escape), it lies under one of the configured directories; a v4l2 device
 * also when it resolves to /dev/videoN (webcams work out of the box). Every
 * refusal carries the same message, whether the path exists or not.
 *
 * Immutable once made, shared by reference (the server config, the registry
 * and each stream hold one); any thread.
 */
#ifndef SS_MEDIA_DIRS_H
#define SS_MEDIA_DIRS_H

#include <glib.h>

#include "stream-config.h"

G_BEGIN_DECLS

typedef struct MediaDirs MediaDirs;

/* dirs: NULL-terminated paths (absolute or relative to the working
 * directory), each resolved now; an empty list allows no file at all (v4l2
 * /dev/videoN only). Fails when one is not an existing directory, with a
 * message "[i]: ..." for the caller to prefix with the key. */
MediaDirs *media_dirs_new(const char *const *dirs, GError **error);
/* The process's working directory alone (the default). */
MediaDirs *media_dirs_new_cwd(GError **error);
MediaDirs *media_dirs_ref(MediaDirs *m);
void media_dirs_unref(MediaDirs *m); /* NULL is allowed */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MediaDirs, media_dirs_unref)

/* The resolved directories (borrowed, NULL-terminated, live as long as m). */
const char *const *media_dirs_list(const MediaDirs *m);

/* The local path a stream of config c would read (the file of a file://
 * URI, the v4l2 device), resolved: *local_path (newly allocated) when it is
 * allowed; NULL for sources that read no local path (rtsp, http, test:).
 * FALSE with STREAM_CONFIG_ERROR_FORBIDDEN when it is not allowed; the
 * message names the field ("uri: " or "device: ") and is the same for every
 * refused path. Run at POST time, at config load, and again before each
 * attempt (a symlink may have changed since). c must be valid
 * (stream_config_validate). */
gboolean media_dirs_resolve(const MediaDirs *m, const StreamConfig *c,
                            char **local_path, GError **error);

G_END_DECLS

#endif
