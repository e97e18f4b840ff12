/* streamsight — the TCases of the streams suite that live outside
 * test-streams.c: test-streams-sources.c (sources other than the RTSP
 * camera) and test-streams-registry.c (the registry, its stream watch and
 * its limit). Each returns a new TCase holding its tests; test-streams.c
 * adds the fixture (stream-fixture.h's env, set up with the suite's seed)
 * and the timeout, as for its own TCases.
 */
#ifndef SS_TEST_STREAMS_H
#define SS_TEST_STREAMS_H

#include <check.h>

TCase *streams_sources_tcase(void);
TCase *streams_registry_tcase(void);

#endif
