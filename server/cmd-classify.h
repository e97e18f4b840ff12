/* streamsight — the `classify` subcommand. */
#ifndef SS_CMD_CLASSIFY_H
#define SS_CMD_CLASSIFY_H

/* Runs `streamsight classify`; argv[0] is "classify". Returns the process
 * exit status: 0 when every image was classified, 1 when some failed, 2 for
 * usage or model errors. Main thread only. */
int cmd_classify(int argc, char **argv);

#endif
