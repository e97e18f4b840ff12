/* placeholder until the TFLite reader lands (this session) */
#include "tflite-load.h"

#include <string.h>

int
tflite_sniff(const uint8_t *data, size_t size)
{
  return size >= 8 && memcmp(data + 4, "TFL3", 4) == 0;
}

int
model_load_tflite_buffer(const uint8_t *data, size_t size, const char *name,
                         struct ss_model **out, struct ss_error *err)
{
  (void)data; (void)size; (void)name; (void)out;
  return ss_error_set(err, SS_EUNSUPPORTED, "TFLite loading is not built yet");
}
