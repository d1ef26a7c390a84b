/* listener: the HTTP front of `serve` (SPEC §3), on libmicrohttpd's event loop.
 *
 * Threads. A few event threads (libmicrohttpd's internal epoll, two per core, at least
 * four) carry every connection, and nothing blocks on them. Work that may block, such as
 * committing a body, the write probe of /healthz or the gauges of /metrics, goes to the
 * owner as a struct wb_work (ops->submit) while its connection is suspended: it then
 * holds no thread, only its memory, until the owner answers with wb_work_done() from a
 * thread of its own. So a slow disk delays the requests waiting for it and no others,
 * and every body waiting at one moment can go into one commit. Two more threads: the
 * acceptor takes new connections and moves each to a descriptor of FD_SETSIZE or more
 * (those below stay for the store, IMAP and the Graph API: libetpan waits with
 * select(2), which cannot take a higher one); the reaper cuts requests past their
 * deadline and writes the summaries of the refusal log.
 *
 * Refused from the headers alone, before a byte of the body is read:
 *   404/405  another path or method;
 *   400      two Content-Length headers;
 *   413      a Content-Length over [webhook] max_body (or one that is not a number);
 *   401      with an app secret: X-Hub-Signature-256 missing, or not "sha256=" and 64
 *            hex digits;
 *   503      the body does not fit in [webhook] body_memory, or in the share of it one
 *            peer address may hold (budget.h); Meta retries.
 * After the body: 401 for a wrong signature, 413 when a chunked body grows past
 * max_body, 503 when it outgrows the budget.
 *
 * Limits (connreg.h, budget.h): max_connections open at once, max_connections_per_ip
 * from one address (0: off), request_timeout for a whole request, body_memory for the
 * bodies in flight, WB_CONN_MEMORY for everything else of a connection. They are read at
 * start; a reload that changes them takes a restart. Refusals are logged through a rate
 * limit (ratelog.h) and each is counted in /metrics.
 *
 * Config: the owner's current configuration is taken for each request (ops->config_get)
 * and given back when the request ends, so a reload never changes a request in flight. */
#ifndef WB_LISTENER_H
#define WB_LISTENER_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

enum wb_work_kind {
	WB_WORK_COMMIT,  /* store the body (verified or not); answer 200, or 503 */
	WB_WORK_HEALTH,  /* GET /healthz */
	WB_WORK_METRICS, /* GET /metrics */
};

/* One suspended request's work; owned by the listener. */
struct wb_work;

enum wb_work_kind wb_work_kind(const struct wb_work *w);
/* WB_WORK_COMMIT: the raw body, as received, and whether its signature was checked. */
const void *wb_work_body(const struct wb_work *w, size_t *len);
bool wb_work_verified(const struct wb_work *w);
/* The answer. Any thread, once per work; text is copied, content_type kept by
 * reference (a static string). After this call the work is the listener's again: do
 * not touch it. */
void wb_work_done(struct wb_work *w, unsigned status, const char *content_type,
		  const char *text, size_t len);

struct wb_listener_ops {
	/* The configuration in force, and a reference to give back to config_put. Called
	 * on event threads: must not block. */
	const struct wb_config *(*config_get)(void *owner, void **ref);
	void (*config_put)(void *owner, void *ref);
	/* Take work for a thread of the owner's; must not block (queue it). */
	void (*submit)(void *owner, struct wb_work *w);
};

struct wb_listener;

/* Listen on cfg->listen. NULL (logged) when the address is bad or cannot be bound.
 * Raises the soft limit of open files to the hard limit first, and takes fewer than
 * max_connections (logged) when even that leaves too few descriptors. */
struct wb_listener *wb_listener_start(const struct wb_config *cfg,
				      const struct wb_listener_ops *ops, void *owner);

/* Whether cfg asks for limits other than those l started with and keeps (the connection
 * limits, request_timeout, body_memory and one address's share of it). */
bool wb_listener_limits_differ(const struct wb_listener *l, const struct wb_config *cfg);

/* Stop: no new connections are accepted, and new requests on open ones are closed
 * unanswered; requests in flight get up to
 * min(request_timeout, WB_DRAIN_GRACE_S) to finish, and every work handed out is waited
 * for (the owner must go on answering until this returns); then every connection is
 * closed and the listener freed. */
void wb_listener_stop(struct wb_listener *l);

#endif
