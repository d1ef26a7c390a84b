/* pipeline: the bridge's work, shared by `ingest`, `run` and `serve`.
 *
 * wb_accept() takes one webhook body: verify (done by the caller), store durably, then
 * parse and expand into messages. wb_pass() works through everything due: expands
 * bodies a crash left unexpanded, renders, and delivers each message, scheduling
 * retries by failure class. A message with a medium goes through files in the spool
 * (spool.h), never through memory whole. */
#ifndef WB_PIPELINE_H
#define WB_PIPELINE_H

#include <glib.h>
#include <stdbool.h>

#include "config.h"
#include "render.h"
#include "store.h"

enum wb_accept_result {
	WB_ACCEPT_STORED,     /* stored and expanded (messages may be duplicates or unrouted) */
	WB_ACCEPT_BAD,        /* stored, but kept as bad: not JSON or not a webhook */
	WB_ACCEPT_NOT_STORED, /* the store failed: nothing is kept, the sender must retry */
};

struct wb_accept_info {
	int64_t body_id;
	struct wb_expand_counts counts;
	char *reason;         /* for WB_ACCEPT_BAD / NOT_STORED; owned by the caller */
};

enum wb_accept_result wb_accept(const struct wb_config *cfg, struct wb_store *store,
				const void *body, size_t len, bool verified, const char *source,
				struct wb_accept_info *info);

struct wb_pass_result {
	unsigned delivered, retrying, failed, expanded;
	unsigned waiting;  /* still waiting for a retry after the pass */
};

/* One pass over all due work. stop (may be NULL) is read between messages: once it is
 * non-zero the pass ends after the message in hand. False only when the store fails. */
bool wb_pass(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
	     struct wb_pass_result *res, GError **error);

/* Removes from [bridge] spool_dir what crashes and moved complaints left (spool.h):
 * temporary files of processes that are gone, and mails no waiting message needs.
 * wb_pass() calls it in the first pass of a process and then once an hour. Returns how
 * many files went. */
unsigned wb_pipeline_sweep_spool(const struct wb_config *cfg, struct wb_store *store);

/* Seconds to wait before the next attempt, by failure class and attempts so far. */
gint64 wb_backoff(int fail_class, int attempts);

#endif
