/* streamsight — the `embed` subcommand. */
#ifndef SS_CMD_EMBED_H
#define SS_CMD_EMBED_H

/* Runs `streamsight embed`; argv[0] is "embed". Returns the process exit
 * status: 0 when every image was embedded, 1 when some failed, 2 for usage
 * or model errors. Main thread only. */
int cmd_embed(int argc, char **argv);

#endif
