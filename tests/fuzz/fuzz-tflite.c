/* streamsight — libFuzzer harness: the TFLite loader from bytes
 * (model_load_tflite_buffer, with and without clamp_qrange), then the
 * engine on whatever it accepts. Seeds: the .tflite files of tests/fixtures/tflite/ and
 * real models (scripts/fuzz.sh); dictionary tflite.dict. */
#include <string.h>

#include "fuzz-model.h"
#include "fuzz.h"
#include "tflite-load.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  fuzz_model_init();
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  /* The sniffer must agree with the loader's own identifier check. */
  int sniff = tflite_sniff(data, size);
  FUZZ_CHECK(sniff == (size >= 8 && memcmp(data + 4, "TFL3", 4) == 0),
             "tflite_sniff %d", sniff);

  /* The last byte picks the option, so both paths get mutated inputs. */
  struct tflite_load_opts opts = { .clamp_qrange = size && (data[size - 1] & 1) };
  int rc = model_load_tflite_buffer_opts(data, size, "fuzz", &opts, &m, &err);
  if (rc == 0)
    FUZZ_CHECK(sniff, "loaded a buffer without the TFL3 identifier");
  fuzz_model_check(rc, &err, m);
  return 0;
}
