/* streamsight — heads in JSON and ranked (head-json.h). */
#include "head-json.h"

json_t *
head_cv_to_json(const struct ss_head *h, const struct head_cv *cv)
{
  json_t *o = json_object();
  json_object_set_new(o, "folds", json_integer(cv->folds));
  json_object_set_new(o, "examples", json_integer(cv->n));
  json_object_set_new(o, "accuracy", json_real(cv->accuracy));
  json_t *classes = json_array();
  json_t *confusion = json_array();
  for (int c = 0; c < cv->n_classes; c++) {
    json_t *e = json_object();
    json_object_set_new(e, "class", json_string(head_class_name(h, c)));
    json_object_set_new(e, "examples", json_integer(cv->class_count[c]));
    json_object_set_new(e, "accuracy", json_real(cv->class_accuracy[c]));
    json_array_append_new(classes, e);
    json_t *row = json_array();
    for (int p = 0; p < cv->n_classes; p++)
      json_array_append_new(row,
                            json_integer(cv->confusion[c * cv->n_classes + p]));
    json_array_append_new(confusion, row);
  }
  json_object_set_new(o, "classes", classes);
  json_object_set_new(o, "confusion", confusion);
  return o;
}
