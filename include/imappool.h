/* imappool: logged-in IMAP sessions kept for the next mail, never more than a bound.
 *
 * A state police runs hundreds of stations on one bridge, each station with its own
 * mailbox login. A session per station and pass made the cost grow with the stations
 * (a LOGIN, and on the server a process, for every station that got mail) and, in a
 * pass over many of them, as many sockets as stations at once. The pool holds at most
 * `max` sessions, all mailboxes together ([imap] max_connections):
 *  - A session belongs to a server and a login: host, port, TLS plan, trust anchors and
 *    user (the key), and the password. Stations that share an account share its
 *    sessions; each command names or selects its folder itself.
 *  - wb_imappool_take() hands out the most recently used idle session of that login, or
 *    opens one (connect, TLS, LOGIN: imapconn.c). When `max` are open, it first closes
 *    the least recently used idle session, of any login. When every session is in use it
 *    waits for one to come back, at most WB_IMAPCONN_TIMEOUT_S, then fails WB_FAIL_SOON.
 *  - Before an idle session is handed out again, its socket is looked at: one the server
 *    closed meanwhile (a restart, its own idle timeout, a BYE) is opened afresh, so the
 *    next mail does not fail for it. One idle for more than WB_IMAPCONN_IDLE_CHECK_S is
 *    also asked NOOP, and opened afresh when that fails (wb_imapconn_ready()).
 *  - wb_imappool_give() takes it back. A session that broke while in use (an error that
 *    left the protocol state unknown: wb_imapconn_fail() dropped it) is freed instead,
 *    so the next take opens a new one.
 *  - wb_imappool_reap() closes (LOGOUT) the sessions idle for the pool's idle time
 *    (WB_IMAPPOOL_IDLE_S for the shared pool); the daemon calls it between passes and
 *    sleeps no longer than wb_imappool_next_reap(). Short commands close what is left
 *    with wb_imappool_close_idle() before they exit.
 * Connecting, LOGIN and LOGOUT happen outside the pool's lock. A session counts against
 * `max` from the moment its place is taken, so the bound holds while it connects too.
 *
 * What the pool does not hold: the replies mailbox's session (replywatch.h: one, held
 * for IDLE) and the read-only sessions of verify, export and a transfer's copy
 * (mailsource.h: one at a time, closed after each station). So `serve` has at most
 * max + 2 sessions open at once; every process has a pool of its own.
 *
 * Thread-safe: every function from any thread. A session taken is its taker's alone
 * until it is given back. Times are monotonic microseconds. */
#ifndef WB_IMAPPOOL_H
#define WB_IMAPPOOL_H

#include <glib.h>
#include <stdbool.h>

#include "imapconn.h"

#define WB_IMAPPOOL_MAX_DEFAULT 16  /* [imap] max_connections unset */
#define WB_IMAPPOOL_IDLE_S      300 /* an unused session is closed after this long */

struct wb_imappool;

struct wb_imappool_stats {
	unsigned max;        /* the bound now */
	unsigned open;       /* sessions counted against it: idle, in use, connecting */
	unsigned idle;
	unsigned most_open;  /* the most open at once since the pool was made */
	guint64 logins;      /* sessions opened (connect and LOGIN) */
	guint64 reuses;      /* takes served by an idle session */
	guint64 evicted;     /* idle sessions closed to make room */
	guint64 expired;     /* idle sessions closed by wb_imappool_reap() */
	guint64 broken;      /* sessions given back broken, and freed */
};

struct wb_imappool *wb_imappool_new(unsigned max, gint64 idle_us);
/* Closes every idle session; none may be in use. p may be NULL. */
void wb_imappool_free(struct wb_imappool *p);

/* The process's pool (made at first use: WB_IMAPPOOL_MAX_DEFAULT, WB_IMAPPOOL_IDLE_S),
 * which IMAP delivery (deliver_imap.c) uses for every mailbox. Never freed. */
struct wb_imappool *wb_imappool_shared(void);

/* A new bound (at least 1): taken at once for new sessions; sessions over it are closed
 * as they come back. */
void wb_imappool_set_max(struct wb_imappool *p, unsigned max);

/* A usable, logged-in session for like's server and login (like is configured by
 * wb_imapconn_init() and never connected; it is only read). The session is the
 * caller's until wb_imappool_give(); errors are set in like's domain. NULL + error when
 * no session can be had (connect or login failed: the class imapconn.c gives; the pool
 * stayed full of busy sessions: WB_FAIL_SOON). */
struct wb_imapconn *wb_imappool_take(struct wb_imappool *p, const struct wb_imapconn *like,
				     GError **error);
/* Give a taken session back (NULL: nothing). */
void wb_imappool_give(struct wb_imappool *p, struct wb_imapconn *c);

/* Close the sessions idle since before now - idle time; returns how many. */
unsigned wb_imappool_reap(struct wb_imappool *p, gint64 now);
/* When the next idle session comes due for wb_imappool_reap(); 0 when none is idle. */
gint64 wb_imappool_next_reap(struct wb_imappool *p);
/* Close every idle session now (LOGOUT); returns how many. */
unsigned wb_imappool_close_idle(struct wb_imappool *p);

void wb_imappool_stats(struct wb_imappool *p, struct wb_imappool_stats *out);

#endif
