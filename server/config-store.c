/* streamsight — the config file's atomic write-back (ConfigStore): the
 * streams as the registry holds them go back into the file the server read,
 * through a temporary file, fsync and rename, so a crash leaves the old file
 * or the new one, never half of either. Moved out of config.c, which reads
 * and checks the file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "uri-env.h"

struct ConfigStore {
  GMutex lock; /* protects everything below; held across a whole write */
  char *path;
  json_t *root;       /* the file's keys as read; "streams" replaced */
  guint64 writes_ok;
  guint64 writes_failed;
  char *last_error;   /* of the last write, NULL after a success */
  ConfigFault fault;
  /* Stream name -> the file's uri with ${NAME} references, as read: written
   * back instead of the expanded URI (which holds the secret) while the
   * stream still has the URI it expands to. Fixed after creation. */
  GHashTable *uri_templates;
};

/* Removes the temporary files of writes that a crash or a kill interrupted
 * (".NAME.tmp-XXXXXX" beside the file, see write_atomic): each holds a full
 * copy of the streams, camera credentials included, and nothing else ever
 * removes them. Runs at start-up, before this process writes; a second
 * server on the same file is not supported anyway (each would overwrite
 * the other's streams). */
static void
remove_stale_temp_files(const char *path)
{
  char *dir = g_path_get_dirname(path);
  char *base = g_path_get_basename(path);
  char *prefix = g_strdup_printf(".%s.tmp-", base);
  gsize plen = strlen(prefix);
  guint removed = 0;
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    if (strncmp(name, prefix, plen) != 0 || strlen(name) != plen + 6)
      continue;
    char *full = g_build_filename(dir, name, NULL);
    if (unlink(full) == 0)
      removed++;
    g_free(full);
  }
  if (d)
    g_dir_close(d);
  if (removed)
    g_message("config: removed %u temporary file%s left in %s by an "
              "interrupted write", removed, removed == 1 ? "" : "s", dir);
  g_free(prefix);
  g_free(base);
  g_free(dir);
}

/* A config file others may read holds camera credentials in the open: say
 * so at start-up. The mode is not changed here (the file is the user's);
 * the next write-back makes it 0600. */
static void
warn_if_readable_by_others(const char *path)
{
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0077))
    g_warning("config: %s is readable by others (mode %03o) and may hold "
              "camera credentials: chmod 600 it (the server writes it "
              "0600 at the next change)", path,
              (unsigned)(st.st_mode & 0777));
}

ConfigStore *
config_store_new(const char *path, json_t *root)
{
  remove_stale_temp_files(path);
  warn_if_readable_by_others(path);
  ConfigStore *s = g_new0(ConfigStore, 1);
  g_mutex_init(&s->lock);
  s->path = g_strdup(path);
  s->root = root ? json_deep_copy(root) : json_object();
  s->uri_templates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           g_free);
  size_t i;
  json_t *item;
  json_array_foreach(json_object_get(s->root, "streams"), i, item) {
    const char *name = json_string_value(json_object_get(item, "name"));
    const char *uri = json_string_value(json_object_get(item, "uri"));
    if (name && uri_env_has_refs(uri))
      g_hash_table_replace(s->uri_templates, g_strdup(name), g_strdup(uri));
  }
  return s;
}

void
config_store_free(ConfigStore *s)
{
  if (!s)
    return;
  g_mutex_clear(&s->lock);
  g_free(s->path);
  json_decref(s->root);
  g_hash_table_unref(s->uri_templates);
  g_free(s->last_error);
  g_free(s);
}

const char *
config_store_path(ConfigStore *s)
{
  return s->path;
}

void
config_store_status(ConfigStore *s, guint64 *writes_ok, guint64 *writes_failed,
                    char **last_error)
{
  g_mutex_lock(&s->lock);
  if (writes_ok)
    *writes_ok = s->writes_ok;
  if (writes_failed)
    *writes_failed = s->writes_failed;
  if (last_error)
    *last_error = g_strdup(s->last_error);
  g_mutex_unlock(&s->lock);
}

void
config_store_set_fault(ConfigStore *s, ConfigFault fault)
{
  g_mutex_lock(&s->lock);
  s->fault = fault;
  g_mutex_unlock(&s->lock);
}

static gboolean
io_error(GError **error, const char *path, const char *what, int err)
{
  g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_IO, "%s: %s: %s", path, what,
              g_strerror(err));
  return FALSE;
}

static gboolean
write_all(int fd, const char *data, gsize len, ConfigFault fault)
{
  if (fault == CONFIG_FAULT_WRITE_ENOSPC) {
    /* Half the data reaches the disk, then the disk is full. */
    gsize half = len / 2;
    if (half && write(fd, data, half) < 0)
      return FALSE;
    errno = ENOSPC;
    return FALSE;
  }
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return FALSE;
    }
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* Writes data to path atomically (see config.h). */
static gboolean
write_atomic(const char *path, const char *data, gsize len, ConfigFault fault,
             GError **error)
{
  char *dir = g_path_get_dirname(path);
  char *base = g_path_get_basename(path);
  char *tmp = g_strdup_printf("%s/.%s.tmp-XXXXXX", dir, base);
  gboolean ok = FALSE;
  /* The file holds camera credentials: owner read/write only, whatever
   * the mode of the file it replaces (a 0640 or 0644 file becomes 0600 on
   * the next write). The temporary file is created 0600, so it is never
   * readable by others, not even before the fchmod, which only undoes an
   * unusual umask that took the owner's own bits. */
  const mode_t mode = 0600;

  int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, (int)mode);
  if (fd < 0) {
    io_error(error, path, "cannot create a temporary file", errno);
    goto out_free;
  }
  if (fchmod(fd, mode) != 0) {
    io_error(error, path, "cannot set the mode of the temporary file", errno);
    goto fail_unlink;
  }
  if (!write_all(fd, data, len, fault)) {
    io_error(error, path, "cannot write the temporary file", errno);
    goto fail_unlink;
  }
  if (fsync(fd) != 0) {
    io_error(error, path, "cannot sync the temporary file", errno);
    goto fail_unlink;
  }
  if (fault == CONFIG_FAULT_CRASH_BEFORE_RENAME)
    _exit(CONFIG_FAULT_EXIT_CODE);
  if (close(fd) != 0) {
    fd = -1;
    io_error(error, path, "cannot close the temporary file", errno);
    goto fail_unlink;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    io_error(error, path, "cannot rename the temporary file over it", errno);
    goto fail_unlink;
  }
  /* The rename is durable once the directory is synced. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) {
    int err = errno;
    if (dfd >= 0)
      close(dfd);
    io_error(error, dir, "cannot sync the directory", err);
    goto out_free; /* the new file is in place, maybe not durable yet */
  }
  close(dfd);
  ok = TRUE;
  goto out_free;

fail_unlink:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
out_free:
  g_free(tmp);
  g_free(base);
  g_free(dir);
  return ok;
}

/* The uri to write for c: the file's ${NAME} form when it still expands
 * to c's URI, else c's URI. */
static const char *
uri_to_write(ConfigStore *s, const StreamConfig *c)
{
  const char *tmpl = g_hash_table_lookup(s->uri_templates, c->name);
  if (!tmpl)
    return c->uri;
  char **env = g_get_environ();
  char *expanded = NULL;
  gboolean same = uri_env_expand(tmpl, env, &expanded, NULL) &&
                  strcmp(expanded, c->uri) == 0;
  g_strfreev(env);
  if (expanded)
    memset(expanded, 0, strlen(expanded));
  g_free(expanded);
  return same ? tmpl : c->uri;
}

/* Writes the streams (configs and ids: parallel arrays) with every other key
 * of the file as read. Call with s->lock held. */
static gboolean
write_locked(ConfigStore *s, GPtrArray *configs, GPtrArray *ids,
             GError **error)
{
  GError *e = NULL;
  json_t *arr = json_array();
  for (guint i = 0; i < configs->len; i++) {
    const StreamConfig *c = g_ptr_array_index(configs, i);
    const char *id = ids ? g_ptr_array_index(ids, i) : NULL;
    json_t *obj = json_object();
    if (id)
      json_object_set_new(obj, "id", json_string(id));
    json_object_set_new(obj, "name", json_string(c->name));
    json_object_set_new(obj, "uri", json_string(uri_to_write(s, c)));
    config_stream_options_to_json(obj, c, TRUE);
    json_array_append_new(arr, obj);
  }
  json_object_set_new(s->root, "streams", arr);

  char *text = json_dumps(s->root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
  gboolean ok = FALSE;
  if (!text) {
    g_set_error(&e, CONFIG_ERROR, CONFIG_ERROR_IO, "%s: out of memory",
                s->path);
  } else {
    GString *buf = g_string_new(text);
    g_string_append_c(buf, '\n');
    free(text);
    ok = write_atomic(s->path, buf->str, buf->len, s->fault, &e);
    g_string_free(buf, TRUE);
  }

  if (ok) {
    if (s->last_error)
      g_message("config: %s written again after a failure", s->path);
    s->writes_ok++;
    g_clear_pointer(&s->last_error, g_free);
  } else {
    /* Logged once per run of failures, not once per change. */
    if (!s->last_error)
      g_warning("config: streams not saved: %s (the old file is unchanged)",
                e->message);
    s->writes_failed++;
    g_free(s->last_error);
    s->last_error = g_strdup(e->message);
    g_propagate_error(error, e);
  }
  return ok;
}

gboolean
config_store_write(ConfigStore *s, GPtrArray *configs, GPtrArray *ids,
                   GError **error)
{
  g_mutex_lock(&s->lock);
  gboolean ok = write_locked(s, configs, ids, error);
  g_mutex_unlock(&s->lock);
  return ok;
}

/* Writes the registry's streams to the file now. */
static gboolean
config_store_save(ConfigStore *s, Registry *r, GError **error)
{
  GPtrArray *configs = NULL, *ids = NULL;
  g_mutex_lock(&s->lock);
  /* Copied under the store lock so that concurrent saves write in the order
   * of the snapshots they took: the last writer has the newest. */
  registry_copy_configs(r, &configs, &ids);
  gboolean ok = write_locked(s, configs, ids, error);
  g_mutex_unlock(&s->lock);
  g_ptr_array_unref(configs);
  g_ptr_array_unref(ids);
  return ok;
}

void
config_store_registry_changed(Registry *r, gpointer user)
{
  config_store_save(user, r, NULL);
}
