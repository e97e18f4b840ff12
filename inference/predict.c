#include "predict.h"

#include "kernels/kernels.h"

int
predict_top_k(const struct ss_model *m, const float *logits, float *probs,
              int k, struct prediction *out)
{
  kern_ops_ref()->softmax((size_t)model_num_outputs(m), logits, probs);
  return predict_rank(m, probs, k, out);
}

int
predict_rank(const struct ss_model *m, const float *probs, int k,
             struct prediction *out)
{
  const int n = model_num_outputs(m);
  const int off = model_class_offset(m);
  int classes = n - off;
  if (k > classes)
    k = classes;
  if (k < 0)
    k = 0;
  int have = 0;
  /* Insertion into a sorted list of k: k is small (top-5 typically). */
  for (int c = 0; c < classes; c++) {
    float p = probs[c + off];
    if (have == k && !(p > out[k - 1].score))
      continue;
    int pos = have < k ? have++ : k - 1;
    while (pos > 0 && p > out[pos - 1].score) {
      out[pos] = out[pos - 1];
      pos--;
    }
    out[pos] = (struct prediction){ .index = c, .score = p };
  }
  return have;
}
