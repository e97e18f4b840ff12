/* streamsight — libFuzzer harness: the safetensors loader from bytes
 * (model_load_safetensors_buffer), then the engine on whatever it accepts.
 *
 * The first input byte chooses how the rest is used:
 * - even: the rest is the file, as is (truncations, bad offsets, ...);
 * - odd: the rest is the 8-byte length and the JSON header, and the harness
 *   appends the zero-filled data section the header's data_offsets ask for
 *   (at most FUZZ_ST_DATA_MAX bytes). A real model's header is a few KiB
 *   while its weights are hundreds of KiB, so this lets the mutations land
 *   on the header, where the parsing is, and still reach a full load.
 * Seeds: scripts/fuzz.sh writes both forms of tests/fixtures/golden/
 * *.safetensors; dictionary safetensors.dict. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-model.h"
#include "fuzz.h"
#include "safetensors-load.h"

#define FUZZ_ST_DATA_MAX (8u << 20)
/* Headers above this are left as they are (the loader's own limit is far
 * above; parsing a huge mutant header twice only slows the fuzzer). */
#define FUZZ_ST_HEADER_MAX (1u << 20)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  fuzz_model_init();
  return 0;
}

/* The end of the data section the header describes, or 0. */
static size_t
header_data_end(const uint8_t *file, size_t size)
{
  if (size < 8)
    return 0;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = (n << 8) | file[i];
  if (n > FUZZ_ST_HEADER_MAX || n > size - 8)
    return 0;
  json_t *h = json_loadb((const char *)file + 8, (size_t)n, 0, NULL);
  if (!json_is_object(h)) {
    json_decref(h);
    return 0;
  }
  json_int_t end = 0;
  const char *key;
  json_t *entry;
  json_object_foreach(h, key, entry) {
    json_t *off = json_object_get(entry, "data_offsets");
    json_t *e = json_array_get(off, 1);
    if (json_is_integer(e) && json_integer_value(e) > end)
      end = json_integer_value(e);
  }
  json_decref(h);
  if (end > (json_int_t)FUZZ_ST_DATA_MAX)
    end = FUZZ_ST_DATA_MAX;
  return 8 + (size_t)n + (size_t)end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const uint8_t *file = data + 1;
  size_t file_size = size - 1;
  uint8_t *padded = NULL;
  if (data[0] & 1) {
    size_t want = header_data_end(file, file_size);
    if (want > file_size) {
      padded = calloc(1, want);
      FUZZ_CHECK(padded, "out of memory");
      memcpy(padded, file, file_size);
      file = padded;
      file_size = want;
    }
  }

  struct ss_model *m = NULL;
  struct ss_error err = { 0 };
  int sniff = safetensors_sniff(file, file_size);
  int rc = model_load_safetensors_buffer(file, file_size, NULL, 0, &m, &err);
  if (rc == 0)
    FUZZ_CHECK(sniff, "loaded a buffer safetensors_sniff rejects");
  free(padded);
  fuzz_model_check(rc, &err, m);
  return 0;
}
