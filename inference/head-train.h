/* streamsight — teaching a head (head.h) from examples: multinomial
 * logistic regression with L2 regularisation, trained by L-BFGS, and
 * stratified k-fold cross-validation.
 *
 * The objective, over examples (x_i, y_i) with class-balanced weights
 * w_i = 1 / (K * n_{y_i}) (each class weighs the same in total, whatever
 * its number of examples):
 *
 *   L(W, b) = sum_i w_i * (logsumexp(W x_i + b) - (W x_i + b)_{y_i})
 *             + l2 / 2 * |W|^2
 *
 * The bias is not regularised. Training is deterministic: the same examples
 * in the same order give the same bits. Single-threaded; callers run it off
 * any latency-sensitive thread.
 */
#ifndef SS_HEAD_TRAIN_H
#define SS_HEAD_TRAIN_H

#include <stdbool.h>

#include "error.h"
#include "head.h"

/* Features are L2-normalised, so |x| = 1: 1e-2 keeps the weights of a
 * separable problem finite without blunting a few hundred examples. The
 * dev images' "animal vs. other" head (MobileNetV2 1.0 224 quant, 5-fold)
 * is flat around it: 92.0% at 1e-4, 92.5% at 1e-3, 93.5% at 1e-2, 92.5% at
 * 1e-1; the stronger end suits the dozen examples a camera is taught. */
#define HEAD_TRAIN_DEFAULT_L2 1e-2
#define HEAD_TRAIN_DEFAULT_MAX_ITER 500
#define HEAD_TRAIN_DEFAULT_FOLDS 5
/* Examples a head is trained on at most (memory: n x dim floats). */
#define HEAD_TRAIN_MAX_EXAMPLES 100000

struct head_train_options {
  double l2;    /* 0: HEAD_TRAIN_DEFAULT_L2; must be >= 0 and finite */
  int max_iter; /* 0: HEAD_TRAIN_DEFAULT_MAX_ITER */
};

struct head_train_stats {
  int iterations;   /* L-BFGS iterations done */
  int evaluations;  /* objective + gradient evaluations */
  double loss;      /* final objective */
  double grad_norm; /* final max |gradient| */
  bool converged;   /* grad_norm under tolerance (else max_iter or stall) */
};

/* Trains h's weights (replacing them) on n examples: x is n x head_dim(h)
 * floats (row-major), y their class indices. Every class needs at least 2
 * examples: otherwise SS_EINVAL naming the class. opts and stats may be
 * NULL. h is written only on success. */
int head_train(struct ss_head *h, const float *x, const int *y, int n,
               const struct head_train_options *opts,
               struct head_train_stats *stats, struct ss_error *err);

/* Cross-validation of the same training. */
struct head_cv {
  int folds;              /* folds used: min(asked, largest class count) */
  int n_classes;
  int n;                  /* examples */
  double accuracy;        /* correct / n over all held-out predictions */
  int *class_count;       /* n_classes: examples per class */
  double *class_accuracy; /* n_classes: recall of each class */
  int *confusion;         /* n_classes^2: [true * n_classes + predicted] */
};

/* Stratified k-fold: within each class, the r-th example (in input order)
 * is held out in fold r % folds; each fold is trained on the others as
 * head_train does and predicts its held-out examples. Same checks as
 * head_train (folds >= 2). *out is a new result (head_cv_free). h is only
 * read (its shape and class names). */
int head_cross_validate(const struct ss_head *h, const float *x, const int *y,
                        int n, int folds, const struct head_train_options *opts,
                        struct head_cv **out, struct ss_error *err);
void head_cv_free(struct head_cv *cv); /* NULL is allowed */

/* The objective above and its gradient at params (W, n_classes x dim,
 * then b, n_classes; doubles), for tests. grad may be NULL. All classes
 * present; y in range. */
double head_train_objective(const float *x, const int *y, int n, int dim,
                            int n_classes, double l2, const double *params,
                            double *grad);

#endif
