/* streamsight-bench, the command line: runs the built binary (SS_BENCH_EXE)
 * on tiny configurations and checks what it prints against the library
 * (MACs and parameters of mobilenet_build, the engine's steps), that every
 * bad flag exits 2 with a message naming the flag, and, with real data, that
 * a TFLite file loads and the accuracy mode scores the dev images. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "mobilenet.h"
#include "testutil.h"

#define MAX_ARGS 32

struct run {
  int status; /* exit code, or 128 + signal */
  char *out;  /* stdout, NUL-terminated (owned) */
  char *err;  /* stderr */
};

static char *
slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f, "%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  ck_assert(buf);
  ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Runs the bench with a NULL-terminated argument list (without argv[0]). */
static struct run
run_bench(const char *const *args)
{
  const char *exe = getenv("SS_BENCH_EXE");
  ck_assert_msg(exe && *exe, "SS_BENCH_EXE is not set (run through meson)");
  const char *argv[MAX_ARGS + 2] = { exe };
  int n = 1;
  for (; args[n - 1]; n++) {
    ck_assert(n <= MAX_ARGS);
    argv[n] = args[n - 1];
  }
  argv[n] = NULL;
  char out_path[512], err_path[512];
  snprintf(out_path, sizeof out_path, "%s/bench.out", tu_tmp_dir());
  snprintf(err_path, sizeof err_path, "%s/bench.err", tu_tmp_dir());
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
      _exit(126);
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  int st;
  ck_assert(waitpid(pid, &st, 0) == pid);
  struct run r = {
    .status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
    .out = slurp(out_path),
    .err = slurp(err_path),
  };
  printf("$ %s", exe);
  for (int i = 1; argv[i]; i++)
    printf(" %s", argv[i]);
  printf("  -> exit %d\n%s%s", r.status, r.out, r.err);
  return r;
}

static void
run_free(struct run *r)
{
  free(r->out);
  free(r->err);
}

/* Parses line `idx` (0-based) of the output as one JSON object. */
static json_t *
json_line(const char *out, int idx)
{
  const char *p = out;
  for (int i = 0; i < idx; i++) {
    p = strchr(p, '\n');
    ck_assert_msg(p, "output has fewer than %d lines", idx + 1);
    p++;
  }
  const char *end = strchr(p, '\n');
  size_t len = end ? (size_t)(end - p) : strlen(p);
  json_error_t jerr;
  json_t *j = json_loadb(p, len, 0, &jerr);
  ck_assert_msg(j && json_is_object(j), "line %d is not a JSON object: %s",
                idx, jerr.text);
  return j;
}

static int
count_lines(const char *s)
{
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static double
num(const json_t *o, const char *key)
{
  const json_t *v = json_object_get(o, key);
  ck_assert_msg(json_is_number(v), "key '%s' is not a number", key);
  return json_number_value(v);
}

static struct ss_model *
build(enum model_arch arch, float alpha, int res)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(mobilenet_build(arch, alpha, res, MODEL_PAD_RULE_SYMMETRIC,
                                1000, &m, &err) == 0, "%s", err.message);
  return m;
}

/* The configuration of the brief: every key present, counts equal to the
 * library's, timings positive. */
START_TEST(test_tiny_json)
{
  const char *args[] = { "--arch", "v2", "--alpha", "0.35", "--res", "96",
                         "--runs", "3", "--warmup", "1", "--threads", "2",
                         "--duration", "0.2", "--json", NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(count_lines(r.out), 1);
  json_t *j = json_line(r.out, 0);
  struct ss_model *m = build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96);

  ck_assert_str_eq(json_string_value(json_object_get(j, "arch")),
                   "mobilenet_v2");
  ck_assert(fabs(num(j, "alpha") - 0.35) < 1e-4);
  ck_assert_int_eq((int)num(j, "resolution"), 96);
  const char *k = json_string_value(json_object_get(j, "kernels"));
  ck_assert_msg(k && (!strcmp(k, "ref") || !strcmp(k, "avx2")), "kernels %s",
                k ? k : "(none)");
  ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(j, "macs")),
                    model_macs(m));
  ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(j, "params")),
                    model_params(m));
  json_t *lat = json_object_get(j, "latency_ms");
  ck_assert(json_is_object(lat));
  double med = num(lat, "median"), p90 = num(lat, "p90");
  ck_assert_msg(med > 0 && p90 >= med && p90 < 10000, "median %g p90 %g", med,
                p90);
  ck_assert_int_eq((int)num(j, "threads"), 2);
  ck_assert_msg(num(j, "throughput_ips") > 0, "throughput");
  ck_assert(json_is_null(json_object_get(j, "top1")));
  ck_assert(json_is_null(json_object_get(j, "top5")));
  ck_assert(json_is_null(json_object_get(j, "fma_peak_gflops")));
  model_unref(m);
  json_decref(j);
  run_free(&r);
}
END_TEST

/* A grid prints one object per (arch, alpha, res), in that order; --runs 0
 * and --duration 0 give nulls; --kernels ref is honoured. */
START_TEST(test_grid)
{
  const char *args[] = { "--arch", "v1,v2", "--alpha", "0.25", "--res",
                         "64,96", "--runs", "1", "--warmup", "0",
                         "--duration", "0", "--kernels", "ref", "--json",
                         NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(count_lines(r.out), 4);
  static const struct { const char *arch; enum model_arch a; int res; } want[] = {
    { "mobilenet_v1", MODEL_ARCH_MOBILENET_V1, 64 },
    { "mobilenet_v1", MODEL_ARCH_MOBILENET_V1, 96 },
    { "mobilenet_v2", MODEL_ARCH_MOBILENET_V2, 64 },
    { "mobilenet_v2", MODEL_ARCH_MOBILENET_V2, 96 },
  };
  for (int i = 0; i < 4; i++) {
    json_t *j = json_line(r.out, i);
    struct ss_model *m = build(want[i].a, 0.25f, want[i].res);
    ck_assert_str_eq(json_string_value(json_object_get(j, "arch")),
                     want[i].arch);
    ck_assert_int_eq((int)num(j, "resolution"), want[i].res);
    ck_assert_str_eq(json_string_value(json_object_get(j, "kernels")), "ref");
    ck_assert_msg((uint64_t)json_integer_value(json_object_get(j, "macs")) ==
                  model_macs(m), "line %d: MACs", i);
    ck_assert(num(json_object_get(j, "latency_ms"), "median") > 0);
    ck_assert(json_is_null(json_object_get(j, "threads")));
    ck_assert(json_is_null(json_object_get(j, "throughput_ips")));
    model_unref(m);
    json_decref(j);
  }
  run_free(&r);
}
END_TEST

/* --profile: one entry per engine step, with the engine's MACs, times that
 * add up to about the latency, and a measured FMA peak. */
START_TEST(test_profile)
{
  const char *args[] = { "--arch", "v1", "--alpha", "0.25", "--res", "64",
                         "--runs", "5", "--warmup", "1", "--duration", "0",
                         "--profile", "--json", NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  json_t *j = json_line(r.out, 0);
  struct ss_model *m = build(MODEL_ARCH_MOBILENET_V1, 0.25f, 64);
  struct ss_engine *e = NULL;
  struct ss_error err = { 0 };
  kern_init();
  ck_assert_msg(engine_new(m, KERN_ISA_AUTO, &e, &err) == 0, "%s",
                err.message);
  json_t *prof = json_object_get(j, "profile");
  ck_assert(json_is_array(prof));
  ck_assert_int_eq((int)json_array_size(prof), engine_num_steps(e));
  uint64_t macs = 0;
  for (int i = 0; i < engine_num_steps(e); i++) {
    struct engine_step_info si;
    engine_step_info(e, i, &si);
    json_t *s = json_array_get(prof, (size_t)i);
    ck_assert_str_eq(json_string_value(json_object_get(s, "kind")), si.kind);
    ck_assert_str_eq(json_string_value(json_object_get(s, "name")), si.name);
    ck_assert_msg((uint64_t)json_integer_value(json_object_get(s, "macs")) ==
                  si.macs, "step %d macs", i);
    ck_assert_msg(num(s, "time_ms") >= 0, "step %d time", i);
    macs += si.macs;
  }
  /* Convolutions and the classifier are the whole count. */
  ck_assert_uint_eq(macs, model_macs(m));
  ck_assert_msg(num(j, "profile_total_ms") > 0, "profile total");
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    /* Any x86 core with FMA does well over 5 GFLOP/s (one 8-lane FMA per
     * cycle at 1 GHz is 16) and none does 1000. */
    double peak = num(j, "fma_peak_gflops");
    ck_assert_msg(peak > 5 && peak < 1000, "peak %g", peak);
    double share = num(j, "peak_share");
    ck_assert_msg(share > 0 && share <= 1.0, "share %g", share);
    /* a float network is measured against the FMA peak */
    ck_assert_str_eq(json_string_value(json_object_get(j, "peak_kind")),
                     "fma");
  }
  engine_free(e);
  model_unref(m);
  json_decref(j);
  run_free(&r);
}
END_TEST

/* The human-readable table has a header and one row per configuration. */
START_TEST(test_human_table)
{
  const char *args[] = { "--arch", "v2", "--alpha", "0.25,0.5", "--res", "64",
                         "--runs", "1", "--warmup", "0", "--duration", "0",
                         NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "MMACs") && strstr(r.out, "img/s"), "header");
  ck_assert_msg(strstr(r.out, "mobilenet_v2_0.25_64") &&
                strstr(r.out, "mobilenet_v2_0.5_64"), "rows");
  run_free(&r);
}
END_TEST

/* Every bad command line exits 2 and names the flag at fault. */
static const struct {
  const char *args[6];
  const char *flag;
} bad[] = {
  { { "--bogus" }, "--bogus" },
  { { "--runs", "abc" }, "--runs" },
  { { "--runs=-1" }, "--runs" },
  { { "--threads", "0" }, "--threads" },
  { { "--kernels", "fast" }, "--kernels" },
  { { "--arch", "v3" }, "--arch" },
  { { "--alpha", "0" }, "--alpha" },
  { { "--alpha", "1.0,,x" }, "--alpha" },
  { { "--res", "7" }, "--res" },
  { { "--duration", "-1" }, "--duration" },
  { { "--crop", "1.5" }, "--crop" },
  { { "--model" }, "--model" },
  { { "--model", "x.tflite", "--arch", "v1" }, "--arch" },
  { { "--labels", "labels.txt" }, "--labels" },
  { { "--model", "x", "--images", "dir" }, "--images" },
  { { "--json=yes" }, "--json" },
  { { "--samples" }, "--samples" },
  { { "stray" }, "stray" },
};

START_TEST(test_bad_flags)
{
  struct run r = run_bench(bad[_i].args);
  ck_assert_msg(r.status == 2, "case %d (%s): exit %d", _i, bad[_i].flag,
                r.status);
  ck_assert_msg(strstr(r.err, bad[_i].flag), "case %d: stderr lacks '%s'",
                _i, bad[_i].flag);
  ck_assert_msg(r.out[0] == '\0', "case %d: printed on stdout", _i);
  run_free(&r);
}
END_TEST

/* A model that cannot be loaded is a failure (1), not a usage error. */
START_TEST(test_missing_model)
{
  char path[512];
  snprintf(path, sizeof path, "%s/no-such-model.tflite", tu_tmp_dir());
  const char *args[] = { "--model", path, "--runs", "1", NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 1);
  ck_assert_msg(strstr(r.err, path), "stderr names the file");
  run_free(&r);
}
END_TEST

/* A loaded safetensors file (the golden fixture): the model's own counts,
 * and --logits-out writes num_outputs floats. */
START_TEST(test_model_safetensors)
{
  char path[512], logits[512];
  tu_fixture_path("golden/mobilenet_v2_0.25_64.safetensors", path,
                  sizeof path);
  if (access(path, R_OK) != 0) {
    printf("SKIP: %s is absent\n", path);
    return;
  }
  snprintf(logits, sizeof logits, "%s/logits.f32", tu_tmp_dir());
  const char *args[] = { "--model", path, "--runs", "2", "--warmup", "0",
                         "--duration", "0", "--fp32", "--logits-out", logits,
                         "--json", NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  json_t *j = json_line(r.out, 0);
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_msg(model_load(path, &m, &err) == 0, "%s", err.message);
  ck_assert_str_eq(json_string_value(json_object_get(j, "arch")),
                   "mobilenet_v2");
  ck_assert_int_eq((int)num(j, "resolution"), model_input_width(m));
  ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(j, "macs")),
                    model_macs(m));
  struct stat st;
  ck_assert(stat(logits, &st) == 0);
  ck_assert_int_eq(st.st_size, (off_t)model_num_outputs(m) * 4);
  model_unref(m);
  json_decref(j);
  run_free(&r);
}
END_TEST

/* The released TFLite MobileNetV2 (real data): loads, runs, counts match the
 * paper (300 M MACs plus the 1001st class). */
START_TEST(test_model_tflite)
{
  char path[512];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", path,
                    sizeof path))
    return;
  const char *args[] = { "--model", path, "--runs", "1", "--warmup", "0",
                         "--duration", "0", "--json", NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  json_t *j = json_line(r.out, 0);
  ck_assert_str_eq(json_string_value(json_object_get(j, "arch")),
                   "mobilenet_v2");
  ck_assert_int_eq((int)num(j, "resolution"), 224);
  ck_assert(json_is_true(json_object_get(j, "quantized_weights")));
  double macs = num(j, "macs") / 1e6;
  ck_assert_msg(fabs(macs - 300) < 1.5, "%.2f M MACs", macs);
  ck_assert(num(json_object_get(j, "latency_ms"), "median") > 0);
  json_decref(j);
  run_free(&r);
}
END_TEST

#ifdef SS_BENCH_HAVE_PIPELINE
/* Accuracy mode on a fifth of the dev images (every 5th row of labels.csv:
 * 40 images, so that the sanitizer build, ~1 s per inference, stays within
 * the timeout). TFLite itself scores 88.5% / 97.0% on all 200 with this file
 * (shared/reference); a wrong class offset or CSV column would give about 0%.
 * 70% / 85% leaves room for a 40-image sample and the float-vs-integer
 * flips. */
START_TEST(test_accuracy)
{
  char model[512], dir[512], csv[512], sub[512];
  if (!tu_data_path("models/mobilenet_v2_1.0_224_quant.tflite", model,
                    sizeof model) ||
      !tu_data_path("images/dev/labels.csv", csv, sizeof csv))
    return;
  snprintf(dir, sizeof dir, "%s/images/dev", getenv("STREAMSIGHT_TEST_DATA"));
  snprintf(sub, sizeof sub, "%s/labels-subset.csv", tu_tmp_dir());
  FILE *in = fopen(csv, "r"), *out = fopen(sub, "w");
  ck_assert(in && out);
  char line[1024];
  int row = 0, kept = 0;
  while (fgets(line, sizeof line, in)) {
    if (row == 0 || (row - 1) % 5 == 0) { /* header, then every 5th image */
      fputs(line, out);
      kept += row > 0;
    }
    row++;
  }
  fclose(in);
  ck_assert_int_eq(fclose(out), 0);
  ck_assert_int_eq(kept, 40);
  const char *args[] = { "--model", model, "--images", dir, "--labels-csv",
                         sub, "--runs", "1", "--warmup", "0", "--duration",
                         "0", "--json", NULL };
  struct run r = run_bench(args);
  ck_assert_int_eq(r.status, 0);
  json_t *j = json_line(r.out, 0);
  double top1 = num(j, "top1"), top5 = num(j, "top5");
  ck_assert_int_eq((int)num(j, "images"), kept);
  ck_assert_int_eq((int)num(j, "images_failed"), 0);
  ck_assert_msg(top1 >= 0.70 && top5 >= 0.85 && top5 >= top1,
                "top1 %.3f top5 %.3f", top1, top5);
  json_decref(j);
  run_free(&r);
}
END_TEST
#endif

static Suite *
bench_suite(void)
{
  Suite *s = suite_create("bench");
  TCase *tc = tcase_create("json");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tiny_json);
  tcase_add_test(tc, test_grid);
  tcase_add_test(tc, test_profile);
  tcase_add_test(tc, test_human_table);
  suite_add_tcase(s, tc);

  tc = tcase_create("flags");
  tcase_add_loop_test(tc, test_bad_flags, 0, (int)(sizeof bad / sizeof *bad));
  tcase_add_test(tc, test_missing_model);
  suite_add_tcase(s, tc);

  tc = tcase_create("model");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_model_safetensors);
  tcase_add_test(tc, test_model_tflite);
#ifdef SS_BENCH_HAVE_PIPELINE
  tcase_add_test(tc, test_accuracy);
#endif
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(bench_suite());
}
