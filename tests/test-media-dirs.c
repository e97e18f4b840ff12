/* media_dirs (pipeline/media-dirs.c): file:// and v4l2 paths allowed only
 * under the configured directories after realpath; ".." and symlink
 * escapes refused; one message for every refused path, whether it is
 * missing, a directory or a readable file. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "media-dirs.h"
#include "testutil.h"

/* A tree in the test's temporary directory:
 *   media/clip.mp4  media/sub/  media/out-link -> ../outside/secret.txt
 *   media/dir-link -> ../outside    outside/secret.txt  outside/dir/ */
static char *root, *media, *outside;

static char *
path_of(const char *base, const char *rel)
{
  return g_build_filename(base, rel, NULL);
}

static void
setup(void)
{
  g_autofree char *p = NULL;
  root = g_strdup_printf("%s/media-XXXXXX", tu_tmp_dir());
  ck_assert_ptr_nonnull(g_mkdtemp(root));
  media = path_of(root, "media");
  outside = path_of(root, "outside");
  ck_assert_int_eq(g_mkdir(media, 0700), 0);
  ck_assert_int_eq(g_mkdir(outside, 0700), 0);
  p = path_of(media, "clip.mp4");
  ck_assert(g_file_set_contents(p, "not really a clip", -1, NULL));
  g_free(p);
  p = path_of(media, "sub");
  ck_assert_int_eq(g_mkdir(p, 0700), 0);
  g_free(p);
  p = path_of(outside, "secret.txt");
  ck_assert(g_file_set_contents(p, "text", -1, NULL));
  g_free(p);
  p = path_of(outside, "dir");
  ck_assert_int_eq(g_mkdir(p, 0700), 0);
  g_free(p);
  p = path_of(media, "out-link");
  ck_assert_int_eq(symlink("../outside/secret.txt", p), 0);
  g_free(p);
  p = path_of(media, "dir-link");
  ck_assert_int_eq(symlink("../outside", p), 0);
}

static void
teardown(void)
{
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
  g_clear_pointer(&root, g_free);
  g_clear_pointer(&media, g_free);
  g_clear_pointer(&outside, g_free);
}

static MediaDirs *
dirs_of(const char *d)
{
  const char *const list[] = { d, NULL };
  GError *e = NULL;
  MediaDirs *m = media_dirs_new(list, &e);
  ck_assert_msg(m != NULL, "%s", e ? e->message : "");
  return m;
}

/* Resolves a config with that uri (and device); returns the error message
 * (new) or NULL when allowed, with the resolved path in *local. */
static char *
check(MediaDirs *m, const char *uri, const char *device, char **local)
{
  StreamConfig c;
  GError *e = NULL;
  char *msg = NULL, *out = NULL;
  stream_config_init(&c);
  c.name = g_strdup("x");
  c.uri = g_strdup(uri);
  c.device = g_strdup(device);
  ck_assert_msg(stream_config_validate(&c, &e), "%s: %s", uri,
                e ? e->message : "");
  if (!media_dirs_resolve(m, &c, &out, &e)) {
    ck_assert(g_error_matches(e, STREAM_CONFIG_ERROR,
                              STREAM_CONFIG_ERROR_FORBIDDEN));
    msg = g_strdup(e->message);
    g_error_free(e);
  }
  if (local)
    *local = out;
  else
    g_free(out);
  stream_config_clear(&c);
  return msg;
}

static char *
file_uri(const char *base, const char *rel)
{
  /* Built by hand: g_filename_to_uri would normalise nothing, but "rel"
   * may hold "..", which must reach the check as written. */
  return g_strdup_printf("file://%s/%s", base, rel);
}

START_TEST(test_allowed_files)
{
  g_autoptr(MediaDirs) m = dirs_of(media);
  const char *rels[] = { "clip.mp4", "sub", "sub/new.mp4", "not-yet.mp4",
                         "sub/../clip.mp4", "./clip.mp4", "sub//x.mp4" };
  for (guint i = 0; i < G_N_ELEMENTS(rels); i++) {
    g_autofree char *uri = file_uri(media, rels[i]);
    g_autofree char *local = NULL;
    g_autofree char *msg = check(m, uri, NULL, &local);
    ck_assert_msg(msg == NULL, "%s refused: %s", rels[i], msg);
    ck_assert_msg(g_str_has_prefix(local, media_dirs_list(m)[0]), "%s -> %s",
                  rels[i], local);
  }
  /* Percent-encoded names are decoded; the resolved path is returned. */
  g_autofree char *enc = file_uri(media, "cl%69p.mp4");
  g_autofree char *local = NULL;
  g_autofree char *msg = check(m, enc, NULL, &local);
  g_autofree char *want = path_of(media_dirs_list(m)[0], "clip.mp4");
  ck_assert_ptr_null(msg);
  ck_assert_str_eq(local, want);
  /* Other schemes read no local path. */
  g_autofree char *l2 = (char *)0x1;
  ck_assert_ptr_null(check(m, "rtsp://h/x", NULL, &l2));
  ck_assert_ptr_null(l2);
  ck_assert_ptr_null(check(m, "test:", NULL, NULL));
}
END_TEST

START_TEST(test_refused_files_one_message)
{
  g_autoptr(MediaDirs) m = dirs_of(media);
  g_autofree char *first = NULL;
  /* Missing, a directory, a readable text file, outside; then escapes. */
  g_autofree char *out_missing = file_uri(outside, "missing.mp4");
  g_autofree char *out_dir = file_uri(outside, "dir");
  g_autofree char *out_text = file_uri(outside, "secret.txt");
  g_autofree char *dotdot = file_uri(media, "../outside/secret.txt");
  g_autofree char *dotdot_enc = file_uri(media, "%2E%2E/outside/secret.txt");
  g_autofree char *dotdot_missing = file_uri(media, "nope/../../outside/x");
  g_autofree char *link = file_uri(media, "out-link");
  g_autofree char *dir_link = file_uri(media, "dir-link/secret.txt");
  g_autofree char *dir_link_missing = file_uri(media, "dir-link/missing");
  g_autofree char *prefix = g_strdup_printf("file://%s-evil/x.mp4", media);
  const char *uris[] = {
    out_missing, out_dir, out_text, dotdot, dotdot_enc, dotdot_missing,
    link, dir_link, dir_link_missing, prefix, "file:///etc/passwd",
    "file:///etc", "file:///no/such/file", "file:///..",
    "file://localhost/etc/hostname",
  };
  for (guint i = 0; i < G_N_ELEMENTS(uris); i++) {
    g_autofree char *msg = check(m, uris[i], NULL, NULL);
    ck_assert_msg(msg != NULL, "%s allowed", uris[i]);
    if (!first)
      first = g_strdup(msg);
    ck_assert_msg(strcmp(msg, first) == 0, "%s: \"%s\" differs from \"%s\"",
                  uris[i], msg, first);
  }
  ck_assert_msg(g_str_has_prefix(first, "uri: ") &&
                    strstr(first, "media_dirs") && !strstr(first, root),
                "%s", first);
}
END_TEST

START_TEST(test_v4l2)
{
  g_autoptr(MediaDirs) m = dirs_of(media);
  g_autofree char *under = g_strdup_printf("v4l2://%s/clip.mp4", media);
  g_autofree char *local = NULL;
  /* /dev/videoN whether it exists or not (no webcam here), also through
   * "..". */
  ck_assert_ptr_null(check(m, "v4l2:///dev/video0", NULL, &local));
  ck_assert_str_eq(local, "/dev/video0");
  ck_assert_ptr_null(check(m, "v4l2:///dev/video17", NULL, NULL));
  ck_assert_ptr_null(check(m, "v4l2:///dev/../dev/video3", NULL, NULL));
  ck_assert_ptr_null(check(m, "v4l2://", "/dev/video1", NULL));
  ck_assert_ptr_null(check(m, under, NULL, NULL));
  const char *bad[] = { "/dev/null", "/dev/video", "/dev/video0x",
                        "/dev/videoa", "/etc/passwd", "/dev/sda" };
  g_autofree char *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autofree char *uri = g_strdup_printf("v4l2://%s", bad[i]);
    g_autofree char *a = check(m, uri, NULL, NULL);
    g_autofree char *b = check(m, "v4l2://", bad[i], NULL);
    ck_assert_msg(a && b, "%s allowed", bad[i]);
    ck_assert_msg(g_str_has_prefix(a, "uri: "), "%s", a);
    ck_assert_msg(g_str_has_prefix(b, "device: "), "%s", b);
    if (!first)
      first = g_strdup(a);
    ck_assert_str_eq(a, first);
  }
}
END_TEST

START_TEST(test_new_errors)
{
  GError *e = NULL;
  g_autofree char *text = path_of(outside, "secret.txt");
  const char *missing[] = { media, "/no/such/dir", NULL };
  const char *file[] = { text, NULL };
  const char *empty_name[] = { "", NULL };
  ck_assert_ptr_null(media_dirs_new(missing, &e));
  ck_assert_msg(g_str_has_prefix(e->message, "[1]: '/no/such/dir'"), "%s",
                e->message);
  g_clear_error(&e);
  ck_assert_ptr_null(media_dirs_new(file, &e));
  ck_assert_msg(g_str_has_prefix(e->message, "[0]: "), "%s", e->message);
  g_clear_error(&e);
  ck_assert_ptr_null(media_dirs_new(empty_name, &e));
  g_clear_error(&e);

  /* No directory: no file at all, /dev/videoN still. */
  g_autoptr(MediaDirs) none = media_dirs_new(NULL, &e);
  ck_assert_ptr_nonnull(none);
  ck_assert_ptr_null(media_dirs_list(none)[0]);
  g_autofree char *uri = file_uri(media, "clip.mp4");
  g_autofree char *msg = check(none, uri, NULL, NULL);
  ck_assert_ptr_nonnull(msg);
  ck_assert_ptr_null(check(none, "v4l2:///dev/video0", NULL, NULL));

  /* The default: the working directory, resolved. */
  g_autofree char *cwd = g_get_current_dir();
  g_autofree char *real = realpath(cwd, NULL);
  g_autoptr(MediaDirs) here = media_dirs_new_cwd(&e);
  ck_assert_ptr_nonnull(here);
  ck_assert_str_eq(media_dirs_list(here)[0], real);

  /* A symlinked directory is stored resolved, and "/" allows everything. */
  g_autofree char *alias = path_of(root, "alias");
  ck_assert_int_eq(symlink("media", alias), 0);
  g_autoptr(MediaDirs) via = dirs_of(alias);
  g_autofree char *real_media = realpath(media, NULL);
  ck_assert_str_eq(media_dirs_list(via)[0], real_media);
  g_autoptr(MediaDirs) all = dirs_of("/");
  ck_assert_ptr_null(check(all, "file:///etc/passwd", NULL, NULL));
}
END_TEST

static Suite *
media_dirs_suite(void)
{
  Suite *s = suite_create("media-dirs");
  TCase *tc = tcase_create("resolve");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_allowed_files);
  tcase_add_test(tc, test_refused_files_one_message);
  tcase_add_test(tc, test_v4l2);
  tcase_add_test(tc, test_new_errors);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(media_dirs_suite());
}
