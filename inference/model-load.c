/* streamsight — model_load(): a model file to a model, by content, through
 * the TFLite or the safetensors loader. Kept apart from model.c so the
 * loaders form a plain DAG: model-load.c -> {tflite,safetensors}-load.c ->
 * model.c (the model object they build), with no way back. */
#include "model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-util.h"
#include "model-graph.h"
#include "safetensors-load.h"
#include "tflite-load.h"

/* Model files larger than this are refused before reading: the largest
 * MobileNet (V2 1.4 float32) is about 25 MB. */
#define MODEL_FILE_MAX_BYTES (256u * 1024 * 1024)

static void
name_from_path(const char *path, char *name, size_t cap)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(name, cap, "%s", base);
  char *dot = strrchr(name, '.');
  if (dot && dot != name)
    *dot = '\0';
}

int
model_load(const char *path, struct ss_model **out, struct ss_error *err)
{
  uint8_t *data;
  size_t size;
  int rc = file_read_all(path, MODEL_FILE_MAX_BYTES, &data, &size, err);
  if (rc)
    return rc;
  char name[SS_NAME_MAX];
  name_from_path(path, name, sizeof name);
  if (tflite_sniff(data, size))
    rc = model_load_tflite_buffer(data, size, name, out, err);
  else if (safetensors_sniff(data, size))
    rc = model_load_safetensors_buffer(data, size, name, 0, out, err);
  else
    rc = ss_error_set(err, SS_EFORMAT,
                      "not a TFLite or safetensors file (%zu bytes)", size);
  free(data);
  if (rc)
    return ss_error_prefix(err, rc, "%s", path);
  return 0;
}
