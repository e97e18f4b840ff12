/* streamsight — what the libFuzzer harnesses in tests/fuzz/ share.
 *
 * Each harness defines LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize
 * when it needs set-up) and is linked either with libFuzzer (clang
 * -fsanitize=fuzzer: scripts/fuzz.sh) or with replay-main.c, which feeds it
 * the files of the directories given on the command line: that is how the
 * committed seeds and crash regressions run in the normal test suite, under
 * gcc and in the ASan/UBSan build.
 *
 * FUZZ_CHECK states a property the code under test promises (an error
 * always has a message, a loaded model has a positive input size, ...); a
 * violation prints the condition and aborts, which libFuzzer reports as a
 * crash. It is independent of NDEBUG.
 */
#ifndef SS_FUZZ_H
#define SS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__,         \
              __LINE__, #cond);                                            \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      abort();                                                             \
    }                                                                      \
  } while (0)

#endif
