/* streamsight — a main() for the fuzz harnesses without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line, and
 * on every regular file inside the directories named there (not recursive,
 * in name order). Exits 0 when every input ran (a crash aborts the
 * process); exits 1 when no input was found or a path cannot be read, so a
 * test pointed at a wrong directory fails instead of passing empty. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Replayed inputs are small files; a larger one is a mistake. */
#define REPLAY_MAX_BYTES (64u << 20)

/* libFuzzer calls LLVMFuzzerInitialize only when it is defined. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int
run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)REPLAY_MAX_BYTES) {
    fprintf(stderr, "replay: %s: unreadable or larger than %u bytes\n", path,
            REPLAY_MAX_BYTES);
    fclose(f);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  /* An exact-size heap copy, so that ASan sees reads past the end. */
  uint8_t *data = malloc(size ? size : 1);
  if (!data || fread(data, 1, size, f) != size) {
    fprintf(stderr, "replay: %s: read failed\n", path);
    free(data);
    fclose(f);
    return -1;
  }
  fclose(f);
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

static int
cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_dir(const char *dir, int *count)
{
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown)
        abort();
      names = grown;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n > 1) /* qsort(NULL, 0, ...) is undefined */
    qsort(names, n, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(dir) + strlen(names[i]) + 2;
    char *path = malloc(len);
    snprintf(path, len, "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(path) != 0)
        rc = -1;
      else
        (*count)++;
    }
    free(path);
    free(names[i]);
  }
  free(names);
  return rc;
}

int
main(int argc, char **argv)
{
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  int count = 0, rc = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      rc = 1;
    } else if (S_ISDIR(st.st_mode)) {
      if (run_dir(argv[i], &count) != 0)
        rc = 1;
    } else if (run_file(argv[i]) == 0) {
      count++;
    } else {
      rc = 1;
    }
  }
  if (count == 0) {
    fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  printf("replay: %d inputs ran without a crash\n", count);
  return rc;
}
