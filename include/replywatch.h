/* replywatch: the watched replies mailbox ([replies] mode = imap).
 *
 * Officers' reply mails land in an IMAP folder that the bridge watches: it logs in as
 * [replies] imap_user on the server of [imap] url (TLS, STARTTLS, CA file and
 * fingerprint pin exactly as for delivery: imapconn.h) and selects [replies] folder.
 * Every mail there is handed to a handler once; what became of it is kept on the server
 * as keywords, so a restart, a second look or another client see the same state:
 *   $WB_Processed   handled, never handed over again (with \Seen when it went well)
 *   $WB_Rejected    kept as rejected (too big, unreadable, or the handler said so)
 * A mail the handler could not handle yet (WB_REPLY_RETRY) keeps no mark and is handed
 * over again at the next poll.
 *
 * The server's answers are hostile input: a mail is fetched with BODY.PEEK[]<0.N> so
 * that no more than WB_REPLY_MAIL_MAX (+1) bytes are asked for, and its size is checked
 * before the body is fetched at all. For tests, $WB_REPLY_MAIL_MAX_TEST (a byte count)
 * lowers that cap; it can never raise it.
 *
 * Errors are GErrors in WB_REPLYWATCH_ERROR with enum wb_fail codes. Not thread-safe: one
 * watcher is used by one thread (stop may be set from another). */
#ifndef WB_REPLYWATCH_H
#define WB_REPLYWATCH_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "fail.h"

#define WB_REPLYWATCH_ERROR (wb_replywatch_error_quark())
GQuark wb_replywatch_error_quark(void);

#define WB_REPLY_MAIL_MAX (32u << 20)

/* The keywords the watcher sets. */
#define WB_REPLY_KW_PROCESSED "$WB_Processed"
#define WB_REPLY_KW_REJECTED "$WB_Rejected"

enum wb_reply_verdict {
	WB_REPLY_DONE,     /* handled (sent, queued, or already seen): mark processed */
	WB_REPLY_REJECTED, /* kept in the store as rejected: mark processed and rejected */
	WB_REPLY_RETRY,    /* temporary failure: leave it, try again next poll */
};
/* mail: the whole message as the server has it (CRLF line ends as a rule), len bytes,
 * at most WB_REPLY_MAIL_MAX; valid during the call only. */
typedef enum wb_reply_verdict (*wb_reply_handler)(const void *mail, size_t len, void *data);

struct wb_replywatch;

/* Connect, log in as replies_imap_user and select replies_folder (TLS, STARTTLS, CA
 * file and fingerprint pin exactly as for delivery). NULL + error (wb_fail code). */
struct wb_replywatch *wb_replywatch_open(const struct wb_config *cfg, GError **error);

/* Every mail in the folder without the $WB_Processed keyword and not \Deleted, oldest
 * UID first: fetch it (BODY.PEEK[], at most WB_REPLY_MAIL_MAX bytes; larger ones are
 * marked $WB_Processed $WB_Rejected and logged without calling h), call h, and mark
 * by its verdict: DONE → +FLAGS ($WB_Processed \Seen); REJECTED → +FLAGS
 * ($WB_Processed $WB_Rejected); RETRY → nothing. *handled counts mails given to h.
 * stop (may be NULL) is read between mails. False + error when the connection fails
 * (the caller reopens later).
 * Mail that arrives while h runs is seen in the same call: the folder is searched again
 * (after a NOOP) until no unprocessed mail above the highest UID handed over is left.
 * A session the server dropped since the last call is reopened (and the folder
 * reselected) first. handled may be NULL. */
bool wb_replywatch_poll(struct wb_replywatch *w, wb_reply_handler h, void *data,
			const gint *stop, unsigned *handled, GError **error);

/* Wait for news: IDLE (RFC 2177) when the server offers it and cfg->imap_idle, until the
 * server reports EXISTS/RECENT/FETCH, timeout_s passes, or *stop becomes non-zero
 * (checked at least once a second); without IDLE just sleeps in 1 s steps. Returns true
 * when it is time to poll again; false + error when the connection broke.
 * One IDLE lasts at most 25 minutes (RFC 2177 asks for less than 29), so a longer
 * timeout_s returns true early. stop may be NULL. */
bool wb_replywatch_wait(struct wb_replywatch *w, int timeout_s, const gint *stop,
			GError **error);

/* Does wb_replywatch_wait() use IDLE (the server offers it and [imap] idle is on)?
 * Without it the caller should wait less long between polls. */
bool wb_replywatch_idles(struct wb_replywatch *w);

/* LOGOUT and free; w may be NULL. */
void wb_replywatch_close(struct wb_replywatch *w);

#endif
