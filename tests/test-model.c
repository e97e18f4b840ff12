/* Builders: architecture shapes, MAC and parameter counts against the papers'
 * tables, channel rounding, padding rules, labels parsing. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mobilenet.h"
#include "model-graph.h"
#include "testutil.h"

static struct ss_model *
build(enum model_arch arch, float alpha, int res, int classes)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  int rc = mobilenet_build(arch, alpha, res, MODEL_PAD_RULE_SYMMETRIC, classes,
                           &m, &err);
  ck_assert_msg(rc == 0, "build %s %g %d: %s", model_arch_name(arch),
                (double)alpha, res, err.message);
  return m;
}

/* MobileNetV1 paper, tables 6 and 7 (ImageNet, 1000 classes): millions of
 * mult-adds and parameters, as printed (rounded). */
static const struct {
  float alpha;
  int res;
  double macs_m, params_m;
} v1_table[] = {
  { 1.0f, 224, 569, 4.2 }, { 0.75f, 224, 325, 2.6 }, { 0.5f, 224, 149, 1.3 },
  { 0.25f, 224, 41, 0.5 }, { 1.0f, 192, 418, 4.2 }, { 1.0f, 160, 290, 4.2 },
  { 1.0f, 128, 186, 4.2 },
};

START_TEST(test_v1_paper_counts)
{
  struct ss_model *m = build(MODEL_ARCH_MOBILENET_V1, v1_table[_i].alpha,
                             v1_table[_i].res, 1000);
  double macs = model_macs(m) / 1e6, params = model_params(m) / 1e6;
  printf("V1 %.2f/%d: %.1f M MACs (paper %.0f), %.3f M params (paper %.1f)\n",
         (double)v1_table[_i].alpha, v1_table[_i].res, macs,
         v1_table[_i].macs_m, params, v1_table[_i].params_m);
  /* The paper rounds to whole millions of MACs and 0.1 M parameters. */
  ck_assert_msg(fabs(macs - v1_table[_i].macs_m) < 1.0,
                "row %d: %.2f M MACs vs %.0f", _i, macs, v1_table[_i].macs_m);
  ck_assert_msg(fabs(params - v1_table[_i].params_m) <= 0.05 + 1e-9,
                "row %d: %.3f M params vs %.1f", _i, params,
                v1_table[_i].params_m);
  model_unref(m);
}
END_TEST

START_TEST(test_v2_paper_counts)
{
  /* MobileNetV2 paper, table 4: 1.0/224 = 300 M MACs, 3.4 M params; TF-slim's
   * table gives the unrounded 3.47 M. */
  struct ss_model *m = build(MODEL_ARCH_MOBILENET_V2, 1.0f, 224, 1000);
  double macs = model_macs(m) / 1e6, params = model_params(m) / 1e6;
  printf("V2 1.0/224: %.1f M MACs, %.3f M params\n", macs, params);
  ck_assert_msg(fabs(macs - 300) < 1.5, "%.2f M MACs", macs);
  ck_assert_msg(params >= 3.4 && fabs(params - 3.47) < 0.03, "%.3f M params", params);
  model_unref(m);
}
END_TEST

START_TEST(test_v2_channels)
{
  /* torchvision's mobilenet_v2(width_mult=0.35): first conv 16, last 1280;
   * 1.4: first 48, last 1792. */
  struct ss_model *m = build(MODEL_ARCH_MOBILENET_V2, 0.35f, 96, 1000);
  ck_assert_int_eq(m->layers[0].cout, 16);
  ck_assert_int_eq(m->values[m->layers[m->n_layers - 1].in].c, 1280);
  model_unref(m);
  m = build(MODEL_ARCH_MOBILENET_V2, 1.4f, 224, 1000);
  ck_assert_int_eq(m->layers[0].cout, 48);
  ck_assert_int_eq(m->values[m->layers[m->n_layers - 1].in].c, 1792);
  /* 17 inverted residual blocks, 10 of them with a residual add */
  int adds = 0;
  for (int i = 0; i < m->n_layers; i++)
    adds += m->layers[i].kind == MODEL_LAYER_ADD;
  ck_assert_int_eq(adds, 10);
  model_unref(m);
  ck_assert_int_eq(mobilenet_make_divisible(32 * 0.35f, 8), 16);
  ck_assert_int_eq(mobilenet_make_divisible(24 * 0.5f, 8), 16);
  ck_assert_int_eq(mobilenet_make_divisible(16 * 0.25f, 8), 8);
  ck_assert_int_eq(mobilenet_make_divisible(1280 * 1.4f, 8), 1792);
}
END_TEST

START_TEST(test_pads)
{
  int a, b;
  model_conv_pads(MODEL_PAD_RULE_TF_SAME, 224, 3, 2, &a, &b);
  ck_assert_int_eq(a, 0);
  ck_assert_int_eq(b, 1);
  model_conv_pads(MODEL_PAD_RULE_TF_SAME, 7, 3, 2, &a, &b);
  ck_assert_int_eq(a, 1);
  ck_assert_int_eq(b, 1);
  model_conv_pads(MODEL_PAD_RULE_TF_SAME, 14, 3, 1, &a, &b);
  ck_assert_int_eq(a, 1);
  ck_assert_int_eq(b, 1);
  model_conv_pads(MODEL_PAD_RULE_SYMMETRIC, 224, 3, 2, &a, &b);
  ck_assert_int_eq(a, 1);
  ck_assert_int_eq(b, 1);
  ck_assert_int_eq(model_conv_out_size(224, 3, 2, 1, 1), 112);
  ck_assert_int_eq(model_conv_out_size(224, 3, 2, 0, 1), 112);
}
END_TEST

START_TEST(test_bad_arguments)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  ck_assert_int_ne(mobilenet_build(MODEL_ARCH_MOBILENET_V2, 0.0f, 224,
                                   MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err),
                   0);
  ck_assert_ptr_null(m);
  ck_assert(strstr(err.message, "width multiplier") != NULL);
  ck_assert_int_ne(mobilenet_build(MODEL_ARCH_MOBILENET_V1, 1.0f, 8,
                                   MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err),
                   0);
  ck_assert(strstr(err.message, "resolution") != NULL);
  ck_assert_int_ne(mobilenet_build(MODEL_ARCH_UNKNOWN, 1.0f, 224,
                                   MODEL_PAD_RULE_SYMMETRIC, 1000, &m, &err),
                   0);
}
END_TEST

START_TEST(test_labels)
{
  struct ss_model *m = build(MODEL_ARCH_MOBILENET_V1, 0.25f, 96, 1001);
  struct ss_error err = { 0 };
  ck_assert_int_eq(model_class_offset(m), 1);
  ck_assert_int_eq(model_num_classes(m), 1000);
  /* 1001 lines with background first: background dropped */
  char buf[16 * 1024];
  size_t n = 0;
  n += (size_t)snprintf(buf + n, sizeof buf - n, "background\n");
  for (int i = 0; i < 1000; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "class %d\r\n", i);
  ck_assert_int_eq(model_set_labels_text(m, buf, n, &err), 0);
  ck_assert_str_eq(model_label(m, 0), "class 0");
  ck_assert_str_eq(model_label(m, 999), "class 999");
  ck_assert_ptr_null(model_label(m, 1000));
  ck_assert_ptr_null(model_label(m, -1));
  /* wrong count: clear error, old labels kept */
  ck_assert_int_eq(model_set_labels_text(m, "a\nb\n", 4, &err), SS_EMISMATCH);
  ck_assert_msg(strstr(err.message, "2 lines") != NULL, "%s", err.message);
  ck_assert_str_eq(model_label(m, 5), "class 5");
  model_unref(m);
}
END_TEST

static Suite *
model_suite(void)
{
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("counts");
  tcase_add_loop_test(tc, test_v1_paper_counts, 0,
                      (int)(sizeof v1_table / sizeof v1_table[0]));
  tcase_add_test(tc, test_v2_paper_counts);
  suite_add_tcase(s, tc);
  tc = tcase_create("shapes");
  tcase_add_test(tc, test_v2_channels);
  tcase_add_test(tc, test_pads);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_labels);
  suite_add_tcase(s, tc);
  return s;
}

int
main(void)
{
  return tu_run_suite(model_suite());
}
