/* connreg: the listener's open connections, each with the deadline of the request it is
 * on, and the cut of those past it.
 *
 * A connection must deliver a whole request, headers and body, within `timeout` of its
 * start, or of the answer to its previous request on a keep-alive connection, however
 * slowly its bytes come. (libmicrohttpd's own timeout counts idle time only: a client
 * that sends a byte every few seconds never reaches it.) While the owner works on a
 * request (a commit, a probe) the connection has no deadline; the answer starts a new one.
 *
 * wb_connreg_reap() shuts the socket down (shutdown(2), SHUT_RDWR) of each connection
 * past its deadline; libmicrohttpd then reads the end of the stream on its own thread
 * and closes the connection the usual way, telling of it (MHD_CONNECTION_NOTIFY_CLOSED)
 * before it closes the descriptor. So a descriptor is only ever shut down while its
 * entry exists, under the registry's lock, which wb_connreg_remove() takes as well: a
 * descriptor number reused by a later connection is never hit.
 *
 * Entries are kept in deadline order (every deadline is now + timeout when set, and
 * the clock only moves forward), so a reap looks only at the connections it cuts.
 *
 * Thread-safe: any function from any thread. The lock is a leaf: nothing but
 * shutdown(2) is called under it, and libmicrohttpd holds none of its own locks when it
 * notifies a connection's start or close. Times are monotonic microseconds. */
#ifndef WB_CONNREG_H
#define WB_CONNREG_H

#include <glib.h>
#include <stdbool.h>

struct wb_connreg;
struct wb_conn; /* one connection; owned by the registry */

struct wb_connreg *wb_connreg_new(gint64 timeout_us);
/* Frees the registry; every connection must have been removed. */
void wb_connreg_free(struct wb_connreg *r);

/* A new connection on socket fd from peer address addr (text, copied); its deadline is
 * now + timeout. */
struct wb_conn *wb_connreg_add(struct wb_connreg *r, int fd, const char *addr, gint64 now);
/* The connection is closed (before its descriptor is): forget and free it. */
void wb_connreg_remove(struct wb_connreg *r, struct wb_conn *c);

/* The owner works on this connection's request: no deadline until _restart(). False
 * when the connection has already been cut (it is closing; do not start the work). */
bool wb_connreg_hold(struct wb_connreg *r, struct wb_conn *c);
/* A new deadline, now + timeout: after an answer, for the next request. */
void wb_connreg_restart(struct wb_connreg *r, struct wb_conn *c, gint64 now);

/* Shut down every connection past its deadline at now. Appends the peer address of
 * each (newly allocated) to cut when it is not NULL; returns how many were cut. */
unsigned wb_connreg_reap(struct wb_connreg *r, gint64 now, GPtrArray *cut);

/* The peer address given to _add(); lives as long as the connection. */
const char *wb_conn_addr(const struct wb_conn *c);
/* Connections registered now. */
unsigned wb_connreg_count(struct wb_connreg *r);

#endif
