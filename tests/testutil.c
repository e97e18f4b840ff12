#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
tu_data_dir(const char *why)
{
  const char *d = getenv("STREAMSIGHT_TEST_DATA");
  struct stat st;
  if (!d || !*d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
    printf("SKIP: %s: STREAMSIGHT_TEST_DATA is not set to the shared data "
           "folder\n", why ? why : "needs real data");
    return NULL;
  }
  return d;
}

bool
tu_data_path(const char *rel, char *buf, size_t cap)
{
  const char *d = getenv("STREAMSIGHT_TEST_DATA");
  if (!d || !*d) {
    printf("SKIP: %s: STREAMSIGHT_TEST_DATA is not set\n", rel);
    return false;
  }
  snprintf(buf, cap, "%s/%s", d, rel);
  if (access(buf, R_OK) != 0) {
    printf("SKIP: %s is absent\n", buf);
    return false;
  }
  return true;
}

void
tu_fixture_path(const char *rel, char *buf, size_t cap)
{
  const char *root = getenv("SS_SOURCE_ROOT");
  snprintf(buf, cap, "%s/tests/fixtures/%s", root ? root : ".", rel);
}

const char *
tu_tmp_dir(void)
{
  static char dir[256];
  if (!dir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/streamsight-test-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      abort();
    }
  }
  return dir;
}

int
tu_run_suite(Suite *s)
{
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
