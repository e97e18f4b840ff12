/* streamsight — the `serve` subcommand (the default: the HTTP server with
 * its camera streams) and `healthcheck` (for Docker's HEALTHCHECK, no curl
 * needed). */
#ifndef SS_SERVE_H
#define SS_SERVE_H

/* Runs `streamsight serve`; argv[0] is "serve". Returns the exit status: 0
 * after a clean shutdown on SIGINT/SIGTERM, 1 when the server could not
 * start (model, port, TLS files), 2 for usage or config errors. Main thread
 * only; runs the default GLib main context. */
int cmd_serve(int argc, char **argv);

/* Runs `streamsight healthcheck [--url URL] [--timeout S]`: one plain HTTP
 * GET (default http://127.0.0.1:$STREAMSIGHT_PORT/healthz); exit status 0
 * on a 200 answer, 1 otherwise, 2 for usage errors. */
int cmd_healthcheck(int argc, char **argv);

#endif
