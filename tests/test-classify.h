/* streamsight — the TCase of the classify suite that lives outside
 * test-classify.c: test-classify-cli.c's "cli" (the built binary's
 * `classify` command), a new TCase with its timeout and tests. */
#ifndef SS_TEST_CLASSIFY_H
#define SS_TEST_CLASSIFY_H

#include <check.h>

TCase *classify_cli_tcase(void);

#endif
