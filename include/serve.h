/* serve: the daemon. A libmicrohttpd listener answers Meta (SPEC §3) and a worker thread
 * delivers what was accepted; the listener never waits for delivery. */
#ifndef WB_SERVE_H
#define WB_SERVE_H

#include "config.h"

/* Run until SIGTERM/SIGINT. cfg is the listener's configuration; config_path (NULL for
 * the embedded defaults) is loaded again for the worker, which owns its own copy.
 * Returns a sysexits code. */
int wb_serve(struct wb_config *cfg, const char *config_path);

#endif
