/* streamsight — the `train` subcommand. */
#ifndef SS_CMD_TRAIN_H
#define SS_CMD_TRAIN_H

/* Runs `streamsight train`; argv[0] is "train". Returns the process exit
 * status: 0 when the head was written, 1 when it could not be trained
 * (a class with fewer than 2 images, a write error), 2 for usage or model
 * errors. Main thread only. */
int cmd_train(int argc, char **argv);

#endif
