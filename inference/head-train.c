/* streamsight — L-BFGS for a head's multinomial logistic regression, and
 * stratified k-fold cross-validation. See head-train.h for the objective.
 *
 * Sizes: a few hundred examples x 1280 features x a few classes. One
 * objective + gradient evaluation is 2 n dim K multiply-adds (0.5 M for
 * 200 x 1280 x 2); L-BFGS needs tens to a couple of hundred of them, so a
 * head trains in milliseconds to tenths of a second on one core. Plain
 * loops in double: the problem is small and determinism matters more than
 * the last factor of two.
 */
#include "head-train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* L-BFGS memory: 10 pairs is the usual choice (Nocedal & Wright, 7.2);
 * more does not help a problem this well conditioned. */
#define LBFGS_M 10
/* Stop when max |gradient| falls below this. The loss is a weighted mean
 * (weights sum to 1), so this is relative to a loss of order 1; scores
 * then agree with the exact optimum to about 1e-4. */
#define LBFGS_GRAD_TOL 1e-5
/* Armijo sufficient-decrease constant and the backtracking factor. */
#define LS_C1 1e-4
#define LS_SHRINK 0.5
#define LS_MAX_STEPS 40

/* One training problem: the examples it sees (indices into x) and their
 * class-balanced weights. */
struct problem {
  const float *x;
  const int *y;
  const int *idx; /* n indices into x / y */
  int n;
  int dim;
  int k;
  double l2;
  double *wt;   /* n: weight of each example */
  double *z;    /* k: scratch scores */
};

static double
dot_fd(const float *x, const double *w, int d)
{
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int j = 0;
  for (; j + 4 <= d; j += 4) {
    s0 += x[j] * w[j];
    s1 += x[j + 1] * w[j + 1];
    s2 += x[j + 2] * w[j + 2];
    s3 += x[j + 3] * w[j + 3];
  }
  for (; j < d; j++)
    s0 += x[j] * w[j];
  return (s0 + s1) + (s2 + s3);
}

/* f(params) and, when grad is not NULL, its gradient. */
static double
objective(const struct problem *p, const double *params, double *grad)
{
  const int d = p->dim, k = p->k;
  const double *w = params, *b = params + (size_t)k * d;
  size_t np = (size_t)k * (d + 1);
  if (grad)
    memset(grad, 0, np * sizeof *grad);
  double *gb = grad ? grad + (size_t)k * d : NULL;
  double f = 0;
  for (int ii = 0; ii < p->n; ii++) {
    const int i = p->idx[ii];
    const float *xi = p->x + (size_t)i * d;
    double max = -INFINITY;
    for (int c = 0; c < k; c++) {
      p->z[c] = dot_fd(xi, w + (size_t)c * d, d) + b[c];
      if (p->z[c] > max)
        max = p->z[c];
    }
    double sum = 0;
    for (int c = 0; c < k; c++)
      sum += exp(p->z[c] - max);
    double lse = max + log(sum);
    f += p->wt[ii] * (lse - p->z[p->y[i]]);
    if (!grad)
      continue;
    for (int c = 0; c < k; c++) {
      double g = p->wt[ii] * (exp(p->z[c] - lse) - (c == p->y[i]));
      double *gw = grad + (size_t)c * d;
      for (int j = 0; j < d; j++)
        gw[j] += g * xi[j];
      gb[c] += g;
    }
  }
  double reg = 0;
  for (size_t j = 0; j < (size_t)k * d; j++) {
    reg += w[j] * w[j];
    if (grad)
      grad[j] += p->l2 * w[j];
  }
  return f + 0.5 * p->l2 * reg;
}

static double
vdot(const double *a, const double *b, size_t n)
{
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

static double
vmaxabs(const double *a, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(a[i]) > m)
      m = fabs(a[i]);
  return m;
}

/* Minimises the problem's objective from params (updated in place) with
 * L-BFGS and a backtracking Armijo line search (the objective is convex,
 * so sufficient decrease is enough; pairs with no positive curvature are
 * skipped). Returns 0, or SS_ENOMEM. */
static int
lbfgs(const struct problem *p, double *x, int max_iter,
      struct head_train_stats *st)
{
  const size_t np = (size_t)p->k * (p->dim + 1);
  /* g, d, x_new, g_new, then M pairs s and y. */
  double *mem = calloc(np * (4 + 2 * LBFGS_M), sizeof *mem);
  if (!mem)
    return SS_ENOMEM;
  double *g = mem, *d = g + np, *xn = d + np, *gn = xn + np;
  double *s = gn + np, *yv = s + np * LBFGS_M;
  double rho[LBFGS_M], alpha[LBFGS_M];
  int head = 0, count = 0;

  *st = (struct head_train_stats){ 0 };
  double f = objective(p, x, g);
  st->evaluations = 1;
  double gmax = vmaxabs(g, np);
  int it = 0;
  while (gmax > LBFGS_GRAD_TOL && it < max_iter) {
    /* Two-loop recursion: d = -H g. */
    for (size_t j = 0; j < np; j++)
      d[j] = -g[j];
    for (int c = 0; c < count; c++) {
      int m = (head - 1 - c + LBFGS_M) % LBFGS_M;
      alpha[m] = rho[m] * vdot(s + m * np, d, np);
      for (size_t j = 0; j < np; j++)
        d[j] -= alpha[m] * yv[m * np + j];
    }
    double step = 1.0;
    if (count > 0) {
      int m = (head - 1 + LBFGS_M) % LBFGS_M;
      double gamma = vdot(s + m * np, yv + m * np, np) /
                     vdot(yv + m * np, yv + m * np, np);
      for (size_t j = 0; j < np; j++)
        d[j] *= gamma;
    } else {
      /* First step: a unit move in the steepest direction's scale. */
      step = 1.0 / sqrt(vdot(g, g, np));
    }
    for (int c = count - 1; c >= 0; c--) {
      int m = (head - 1 - c + LBFGS_M) % LBFGS_M;
      double beta = rho[m] * vdot(yv + m * np, d, np);
      for (size_t j = 0; j < np; j++)
        d[j] += (alpha[m] - beta) * s[m * np + j];
    }
    double slope = vdot(g, d, np);
    if (!(slope < 0)) {
      /* Not a descent direction (rounding): restart from steepest descent. */
      count = 0;
      for (size_t j = 0; j < np; j++)
        d[j] = -g[j];
      slope = -vdot(g, g, np);
      step = 1.0 / sqrt(-slope);
    }
    double fn = f;
    int ls;
    for (ls = 0; ls < LS_MAX_STEPS; ls++) {
      for (size_t j = 0; j < np; j++)
        xn[j] = x[j] + step * d[j];
      fn = objective(p, xn, gn);
      st->evaluations++;
      if (fn <= f + LS_C1 * step * slope)
        break;
      step *= LS_SHRINK;
    }
    if (ls == LS_MAX_STEPS)
      break; /* no decrease left at double precision: a stall */
    /* The new pair. */
    double *sm = s + head * np, *ym = yv + head * np;
    for (size_t j = 0; j < np; j++) {
      sm[j] = xn[j] - x[j];
      ym[j] = gn[j] - g[j];
    }
    double sy = vdot(sm, ym, np);
    if (sy > 1e-12 * vdot(ym, ym, np)) {
      rho[head] = 1.0 / sy;
      head = (head + 1) % LBFGS_M;
      if (count < LBFGS_M)
        count++;
    }
    memcpy(x, xn, np * sizeof *x);
    memcpy(g, gn, np * sizeof *g);
    f = fn;
    gmax = vmaxabs(g, np);
    it++;
  }
  st->iterations = it;
  st->loss = f;
  st->grad_norm = gmax;
  st->converged = gmax <= LBFGS_GRAD_TOL;
  free(mem);
  return 0;
}

/* Checks the examples: labels in range, features finite. */
static int
check_examples(const float *x, const int *y, int n, int dim, int k,
               struct ss_error *err)
{
  if (n < 1 || n > HEAD_TRAIN_MAX_EXAMPLES)
    return ss_error_set(err, SS_EINVAL, "%d examples: 1 to %d allowed", n,
                        HEAD_TRAIN_MAX_EXAMPLES);
  if (!x || !y)
    return ss_error_set(err, SS_EINVAL, "no examples");
  for (int i = 0; i < n; i++) {
    if (y[i] < 0 || y[i] >= k)
      return ss_error_set(err, SS_EINVAL,
                          "example %d: class %d is not in 0..%d", i, y[i],
                          k - 1);
    const float *xi = x + (size_t)i * dim;
    for (int j = 0; j < dim; j++)
      if (!isfinite(xi[j]))
        return ss_error_set(err, SS_EINVAL,
                            "example %d: feature %d is not finite", i, j);
  }
  return 0;
}

/* Each class needs 2 examples: one to learn from and one to check on in
 * cross-validation; with 1, "trained" would mean "memorised". */
static int
check_class_counts(const struct ss_head *h, const int *y, int n,
                   struct ss_error *err)
{
  const int k = head_num_classes(h);
  for (int c = 0; c < k; c++) {
    int cnt = 0;
    for (int i = 0; i < n; i++)
      cnt += y[i] == c;
    if (cnt < 2)
      return ss_error_set(err, SS_EINVAL,
                          "class '%s' has %d example%s: every class needs at "
                          "least 2",
                          head_class_name(h, c), cnt, cnt == 1 ? "" : "s");
  }
  return 0;
}

static int
resolve_options(const struct head_train_options *opts, double *l2,
                int *max_iter, struct ss_error *err)
{
  *l2 = opts && opts->l2 != 0 ? opts->l2 : HEAD_TRAIN_DEFAULT_L2;
  *max_iter = opts && opts->max_iter > 0 ? opts->max_iter
                                         : HEAD_TRAIN_DEFAULT_MAX_ITER;
  if (!(*l2 >= 0) || !isfinite(*l2))
    return ss_error_set(err, SS_EINVAL, "l2 must be a finite value >= 0");
  return 0;
}

/* What head_train and head_cross_validate check first: the options (l2
 * and max_iter resolved), the examples and the counts of their classes. */
static int
check_inputs(const struct ss_head *h, const float *x, const int *y, int n,
             const struct head_train_options *opts, double *l2,
             int *max_iter, struct ss_error *err)
{
  int rc = resolve_options(opts, l2, max_iter, err);
  if (rc || (rc = check_examples(x, y, n, head_dim(h), head_num_classes(h),
                                 err)))
    return rc;
  return check_class_counts(h, y, n, err);
}

/* Trains on the examples idx[0..m-1] from zero weights; params gets W then
 * b (k x (dim + 1) doubles). Classes absent from idx get no weight. */
static int
train_subset(const float *x, const int *y, const int *idx, int m, int dim,
             int k, double l2, int max_iter, double *params,
             struct head_train_stats *st)
{
  int *count = calloc((size_t)k, sizeof *count);
  double *wt = malloc((size_t)m * sizeof *wt);
  double *z = malloc((size_t)k * sizeof *z);
  int rc = SS_ENOMEM;
  if (!count || !wt || !z)
    goto out;
  int present = 0;
  for (int i = 0; i < m; i++)
    if (count[y[idx[i]]]++ == 0)
      present++;
  for (int i = 0; i < m; i++)
    wt[i] = 1.0 / ((double)present * count[y[idx[i]]]);
  struct problem p = { .x = x, .y = y, .idx = idx, .n = m, .dim = dim,
                       .k = k, .l2 = l2, .wt = wt, .z = z };
  memset(params, 0, (size_t)k * (dim + 1) * sizeof *params);
  rc = lbfgs(&p, params, max_iter, st);
out:
  free(count);
  free(wt);
  free(z);
  return rc;
}

int
head_train(struct ss_head *h, const float *x, const int *y, int n,
           const struct head_train_options *opts,
           struct head_train_stats *stats, struct ss_error *err)
{
  const int d = head_dim(h), k = head_num_classes(h);
  double l2;
  int max_iter;
  int rc = check_inputs(h, x, y, n, opts, &l2, &max_iter, err);
  if (rc)
    return rc;
  size_t np = (size_t)k * (d + 1);
  double *params = malloc(np * sizeof *params);
  int *idx = malloc((size_t)n * sizeof *idx);
  if (!params || !idx) {
    rc = ss_error_set(err, SS_ENOMEM, "training: out of memory");
    goto out;
  }
  for (int i = 0; i < n; i++)
    idx[i] = i;
  struct head_train_stats st;
  if (train_subset(x, y, idx, n, d, k, l2, max_iter, params, &st)) {
    rc = ss_error_set(err, SS_ENOMEM, "training: out of memory");
    goto out;
  }
  float *w = head_weights(h), *b = head_bias(h);
  for (size_t j = 0; j < (size_t)k * d; j++)
    w[j] = (float)params[j];
  for (int c = 0; c < k; c++)
    b[c] = (float)params[(size_t)k * d + c];
  if (stats)
    *stats = st;
out:
  free(params);
  free(idx);
  return rc;
}

void
head_cv_free(struct head_cv *cv)
{
  if (!cv)
    return;
  free(cv->class_count);
  free(cv->class_accuracy);
  free(cv->confusion);
  free(cv);
}

/* The predicted class of x under params: the highest score, ties to the
 * lower index. */
static int
predict(const double *params, const float *x, int dim, int k)
{
  const double *b = params + (size_t)k * dim;
  int best = 0;
  double best_z = -INFINITY;
  for (int c = 0; c < k; c++) {
    double z = dot_fd(x, params + (size_t)c * dim, dim) + b[c];
    if (z > best_z) {
      best_z = z;
      best = c;
    }
  }
  return best;
}

int
head_cross_validate(const struct ss_head *h, const float *x, const int *y,
                    int n, int folds, const struct head_train_options *opts,
                    struct head_cv **out, struct ss_error *err)
{
  const int d = head_dim(h), k = head_num_classes(h);
  double l2;
  int max_iter;
  int rc = check_inputs(h, x, y, n, opts, &l2, &max_iter, err);
  if (rc)
    return rc;
  if (folds < 2)
    return ss_error_set(err, SS_EINVAL, "%d folds: at least 2", folds);

  struct head_cv *cv = calloc(1, sizeof *cv);
  int *fold = malloc((size_t)n * sizeof *fold);
  int *train = malloc((size_t)n * sizeof *train);
  int *rank = calloc((size_t)k, sizeof *rank);
  double *params = malloc((size_t)k * (d + 1) * sizeof *params);
  if (!cv || !fold || !train || !rank || !params)
    goto fail_nomem;
  cv->n_classes = k;
  cv->n = n;
  cv->class_count = calloc((size_t)k, sizeof *cv->class_count);
  cv->class_accuracy = calloc((size_t)k, sizeof *cv->class_accuracy);
  cv->confusion = calloc((size_t)k * k, sizeof *cv->confusion);
  if (!cv->class_count || !cv->class_accuracy || !cv->confusion)
    goto fail_nomem;

  int largest = 0;
  for (int i = 0; i < n; i++)
    if (++cv->class_count[y[i]] > largest)
      largest = cv->class_count[y[i]];
  /* More folds than the largest class has examples would leave folds
   * with nothing to hold out. */
  cv->folds = folds < largest ? folds : largest;
  for (int i = 0; i < n; i++)
    fold[i] = rank[y[i]]++ % cv->folds;

  int correct = 0;
  for (int f = 0; f < cv->folds; f++) {
    int m = 0;
    for (int i = 0; i < n; i++)
      if (fold[i] != f)
        train[m++] = i;
    struct head_train_stats st;
    if (train_subset(x, y, train, m, d, k, l2, max_iter, params, &st))
      goto fail_nomem;
    for (int i = 0; i < n; i++) {
      if (fold[i] != f)
        continue;
      int pc = predict(params, x + (size_t)i * d, d, k);
      cv->confusion[y[i] * k + pc]++;
      correct += pc == y[i];
    }
  }
  cv->accuracy = (double)correct / n;
  for (int c = 0; c < k; c++)
    cv->class_accuracy[c] =
        (double)cv->confusion[c * k + c] / cv->class_count[c];
  free(fold);
  free(train);
  free(rank);
  free(params);
  *out = cv;
  return 0;

fail_nomem:
  head_cv_free(cv);
  free(fold);
  free(train);
  free(rank);
  free(params);
  return ss_error_set(err, SS_ENOMEM, "cross-validation: out of memory");
}

double
head_train_objective(const float *x, const int *y, int n, int dim,
                     int n_classes, double l2, const double *params,
                     double *grad)
{
  int *idx = malloc((size_t)n * sizeof *idx);
  int *count = calloc((size_t)n_classes, sizeof *count);
  double *wt = malloc((size_t)n * sizeof *wt);
  double *z = malloc((size_t)n_classes * sizeof *z);
  double f = NAN;
  if (idx && count && wt && z) {
    for (int i = 0; i < n; i++) {
      idx[i] = i;
      count[y[i]]++;
    }
    for (int i = 0; i < n; i++)
      wt[i] = 1.0 / ((double)n_classes * count[y[i]]);
    struct problem p = { .x = x, .y = y, .idx = idx, .n = n, .dim = dim,
                         .k = n_classes, .l2 = l2, .wt = wt, .z = z };
    f = objective(&p, params, grad);
  }
  free(idx);
  free(count);
  free(wt);
  free(z);
  return f;
}
