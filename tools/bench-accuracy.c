/* streamsight-bench — what a loaded model computes (see bench.h): top-1 and
 * top-5 accuracy on labelled images (decoded as `streamsight classify`
 * does; only in builds with the image decoders of pipeline/), and the raw
 * logits of one input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef SS_BENCH_HAVE_PIPELINE
#include "image-classify.h"
#include "image-decode.h"
#endif

#define TOP_K 5

/* ---------------------------------------------------------- accuracy */

#ifdef SS_BENCH_HAVE_PIPELINE
/* Splits one CSV line into at most max fields (double quotes honoured, ""
 * inside quotes is a quote). Modifies line; returns the field count. */
static int
csv_split(char *line, char **fields, int max)
{
  int n = 0;
  char *p = line;
  while (n < max) {
    char *dst = p;
    fields[n++] = p;
    bool quoted = *p == '"';
    if (quoted)
      p++;
    for (;;) {
      if (quoted && *p == '"' && p[1] == '"') {
        *dst++ = '"';
        p += 2;
      } else if (quoted && *p == '"') {
        quoted = false;
        p++;
      } else if (!*p || *p == '\n' || *p == '\r' || (!quoted && *p == ',')) {
        break;
      } else {
        *dst++ = *p++;
      }
    }
    bool more = *p == ',';
    *dst = '\0';
    if (!more)
      break;
    p++;
  }
  return n;
}

#define CSV_MAX_FIELDS 32

int
bench_measure_accuracy(const struct ss_engine *e, const struct options *o,
                       struct result *r, struct ss_error *err)
{
  FILE *f = fopen(o->labels_csv, "r");
  if (!f)
    return ss_error_set(err, SS_EIO, "%s: %s", o->labels_csv,
                        strerror(errno));
  GError *gerr = NULL;
  ImageClassifier *c = image_classifier_new(e, &gerr);
  if (!c) {
    int rc = ss_error_set(err, SS_ENOMEM, "classifier: %s",
                          gerr ? gerr->message : "failed");
    g_clear_error(&gerr);
    fclose(f);
    return rc;
  }
  /* As `streamsight classify` and /classify decode: huge JPEGs are
   * DCT-scaled towards the model input (never the dev images). */
  const struct ss_model *m = engine_model(e);
  const ImageDecodeOptions dopts = {
    .target_side = MAX(model_input_width(m), model_input_height(m)),
  };
  char line[4096];
  char *fields[CSV_MAX_FIELDS];
  int col_file = -1, col_class = -1, rc = 0;
  long lineno = 0, top1 = 0, top5 = 0;
  if (!fgets(line, sizeof line, f)) {
    rc = ss_error_set(err, SS_EFORMAT, "%s: empty file", o->labels_csv);
    goto out;
  }
  lineno++;
  int nf = csv_split(line, fields, CSV_MAX_FIELDS);
  for (int i = 0; i < nf; i++) {
    if (!strcmp(fields[i], "file"))
      col_file = i;
    else if (!strcmp(fields[i], "class_index_0_999"))
      col_class = i;
  }
  if (col_file < 0 || col_class < 0) {
    rc = ss_error_set(err, SS_EFORMAT, "%s: header lacks the columns 'file' "
                      "and 'class_index_0_999'", o->labels_csv);
    goto out;
  }
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '\n' || line[0] == '\r' || !line[0])
      continue;
    nf = csv_split(line, fields, CSV_MAX_FIELDS);
    int cls;
    if (nf <= col_file || nf <= col_class ||
        !bench_parse_int(fields[col_class], 0, 999, &cls)) {
      rc = ss_error_set(err, SS_EFORMAT, "%s:%ld: bad row", o->labels_csv,
                        lineno);
      goto out;
    }
    char *path = g_build_filename(o->images_dir, fields[col_file], NULL);
    RgbImage img = { 0 };
    if (!image_decode_file_opts(path, &dopts, &img, &gerr)) {
      const char *msg = gerr ? gerr->message : "cannot decode";
      if (strstr(msg, path))
        fprintf(stderr, "streamsight-bench: %s (skipped)\n", msg);
      else
        fprintf(stderr, "streamsight-bench: %s: %s (skipped)\n", path, msg);
      g_clear_error(&gerr);
      g_free(path);
      r->images_failed++;
      continue;
    }
    struct prediction pred[TOP_K];
    int k = image_classifier_run(c, &img, o->crop, TOP_K, pred);
    rgb_image_clear(&img);
    g_free(path);
    r->images++;
    for (int i = 0; i < k; i++) {
      if (pred[i].index == cls) {
        top1 += i == 0;
        top5++;
        break;
      }
    }
  }
  if (r->images == 0) {
    rc = ss_error_set(err, SS_EINVAL, "%s: no image could be classified",
                      o->labels_csv);
    goto out;
  }
  r->top1 = (double)top1 / r->images;
  r->top5 = (double)top5 / r->images;
out:
  image_classifier_free(c);
  fclose(f);
  return rc;
}
#endif

/* ---------------------------------------------------------- logits dump */

int
bench_dump_logits(const struct ss_engine *e, const struct options *o,
                  struct ss_error *err)
{
  const struct ss_model *m = engine_model(e);
  size_t n_in = bench_input_floats(m), n_out = (size_t)model_num_outputs(m);
  struct ss_scratch *s = NULL;
  int rc = engine_scratch_new(e, &s, err);
  if (rc)
    return rc;
  float *in = bench_alloc_floats(n_in);
  float *logits = bench_alloc_floats(n_out);
  FILE *f = NULL;
  if (!in || !logits) {
    rc = ss_error_set(err, SS_ENOMEM, "out of memory");
    goto out;
  }
  if (o->input_path) {
    f = fopen(o->input_path, "rb");
    if (!f) {
      rc = ss_error_set(err, SS_EIO, "%s: %s", o->input_path,
                        strerror(errno));
      goto out;
    }
    size_t got = fread(in, sizeof(float), n_in, f);
    int extra = fgetc(f);
    fclose(f);
    f = NULL;
    if (got != n_in || extra != EOF) {
      rc = ss_error_set(err, SS_EFORMAT, "%s: expected exactly %zu float32 "
                        "values (%dx%dx3 NHWC)", o->input_path, n_in,
                        model_input_height(m), model_input_width(m));
      goto out;
    }
  } else {
    bench_fill_random_input(in, n_in, BENCH_SEED + 1);
  }
  engine_run(e, s, in, logits);
  f = fopen(o->logits_path, "wb");
  if (!f || fwrite(logits, sizeof(float), n_out, f) != n_out) {
    rc = ss_error_set(err, SS_EIO, "%s: %s", o->logits_path, strerror(errno));
    goto out;
  }
out:
  if (f && fclose(f) && !rc)
    rc = ss_error_set(err, SS_EIO, "%s: %s", o->logits_path, strerror(errno));
  free(in);
  free(logits);
  engine_scratch_free(s);
  return rc;
}
