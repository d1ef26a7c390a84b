/* serve: the daemon. The listener (listener.h) answers Meta (SPEC §3) and hands what
 * may block to serve's own threads: the committer (bodies, group commit) and the prober
 * (/healthz, /metrics). A worker thread delivers what was committed; the listener never
 * waits for delivery. */
#ifndef WB_SERVE_H
#define WB_SERVE_H

#include "config.h"

/* Run until SIGTERM/SIGINT. Takes ownership of cfg (SIGHUP replaces it with a fresh load
 * of config_path; NULL means the embedded defaults). Returns a sysexits code. */
int wb_serve(struct wb_config *cfg, const char *config_path);

#endif
