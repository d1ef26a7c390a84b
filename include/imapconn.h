/* imapconn: one IMAP client connection (libetpan's mailimap), shared by IMAP delivery
 * (deliver_imap.c) and the watched replies mailbox (replywatch.c).
 *
 * Design:
 * - A connection is configured once (URL, trust anchors, login) and then connected,
 *   dropped and reconnected as often as needed. Any error that leaves the protocol state
 *   unknown drops the session; wb_imapconn_ready() then connects afresh, as it does for
 *   a session idle for WB_IMAPCONN_IDLE_CHECK_S that fails a NOOP. Every connect, TLS
 *   handshake, read and write times out after WB_IMAPCONN_TIMEOUT_S (libetpan's
 *   per-session timeout): a hanging server cannot hang us.
 * - TLS and plain text follow the rules of tls.h: imaps:// is TLS from the start;
 *   imap:// uses STARTTLS whenever the server offers it; TLS is always verified (pin,
 *   ca_file or the system CAs, host name included) after the handshake and before LOGIN
 *   sends the password. A server offering no STARTTLS gets the login in plain text only
 *   on loopback or with [imap] allow_plaintext = true; otherwise nothing secret is sent
 *   and the connect fails. A certificate or STARTTLS refusal is WB_FAIL_LATER: it needs
 *   a human, not a quick retry.
 * - Failures are classified as in isync's drv_imap.c: network trouble and BYE are
 *   WB_FAIL_SOON; refused logins, [OVERQUOTA], [UNAVAILABLE], [SERVERBUG], [NOPERM]
 *   and TLS problems need time or a human (WB_FAIL_LATER); other NO and BAD answers
 *   get the class the caller names for the command (on_no).
 * - Error messages read "imap HOST:PORT (user USER): WHAT: DETAIL" with the server's
 *   text cut and cleaned, never a password (we install no protocol logger, and LOGIN's
 *   arguments never reach a message).
 * - libetpan writes with send(2) without MSG_NOSIGNAL: the program must ignore SIGPIPE,
 *   or a server closing the connection under a write kills the process.
 *
 * The struct is open: its users call mailimap_* on conn->imap between the helpers. */
#ifndef WB_IMAPCONN_H
#define WB_IMAPCONN_H

#include <glib.h>
#include <libetpan/libetpan.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fail.h"
#include "tls.h"

#ifndef WB_IMAPCONN_TIMEOUT_S     /* -D override: a quick manual test of a hanging server */
#define WB_IMAPCONN_TIMEOUT_S    30 /* connect, TLS handshake, each read and write */
#endif
#define WB_IMAPCONN_IDLE_CHECK_S 60 /* NOOP a session idle this long before reusing it */

struct wb_imapconn {
	GQuark domain;       /* of the errors set, e.g. WB_DELIVER_ERROR */
	char *host;          /* without [] for IPv6 */
	uint16_t port;
	struct wb_tls_plan plan; /* TLS or plain text, from the URL (tls.h) */
	char *ca_file;       /* NULL: system CAs */
	char *fingerprint;   /* lowercase hex without ':', NULL when unset */
	char *user;
	char *password;
	mailimap *imap;      /* NULL while disconnected */
	gint64 last_used;    /* monotonic time of the last command that worked */
	unsigned generation; /* counts sessions opened: a change means a new session */
};

/* Configure c (zeroed by the caller) from cfg's [imap] url, ca_file, tls_fingerprint and
 * allow_plaintext and the given login; connects nothing. On failure error is set (WB_FAIL_LATER) and c
 * must still be cleared. user and password may be NULL (taken as ""). */
bool wb_imapconn_init(struct wb_imapconn *c, GQuark domain, const struct wb_config *cfg,
		      const char *user, const char *password, GError **error);
/* Configure c (zeroed by the caller) as like is configured: the same server, trust
 * anchors, login and error domain; connects nothing. */
void wb_imapconn_init_like(struct wb_imapconn *c, const struct wb_imapconn *like);
/* Send LOGOUT without waiting for the answer, then drop the session: a polite end that
 * costs no round trip (the pool closing a session to make room for another). */
void wb_imapconn_leave(struct wb_imapconn *c);
/* LOGOUT if connected, drop, free and wipe the password. c may be cleared twice. */
void wb_imapconn_clear(struct wb_imapconn *c);

/* Connect, secure (TLS or STARTTLS, verified as configured) and log in. */
bool wb_imapconn_connect(struct wb_imapconn *c, GError **error);
/* A usable, logged-in session: the current one if it still answers, else a new one. */
bool wb_imapconn_ready(struct wb_imapconn *c, GError **error);
/* Has the server kept quiet since the last answer: nothing buffered, nothing to read,
 * no end of stream? A session idle in a pool that fails this was closed by the server
 * (a restart, its idle timeout, a BYE) and is of no use. Costs no round trip. */
bool wb_imapconn_quiet(const struct wb_imapconn *c);
/* Forget the session without a word: mailimap_free() would send LOGOUT first and, on a
 * dead or hanging connection, wait a whole timeout for the answer. */
void wb_imapconn_drop(struct wb_imapconn *c);

/* Set error for libetpan result r of `what`, drop the session if it can no longer be
 * trusted, and return false. on_no: the class of a NO or BAD without a deciding code. */
bool wb_imapconn_fail(struct wb_imapconn *c, GError **error, int r, enum wb_fail on_no,
		      const char *what);
/* An error found by us rather than the server; drops nothing. Returns false. */
G_GNUC_PRINTF(4, 5)
bool wb_imapconn_fail_local(const struct wb_imapconn *c, GError **error, enum wb_fail f,
			    const char *fmt, ...);
/* Is the session unusable after libetpan result r? */
bool wb_imapconn_unusable(int r);

/* The RFC 5530 response code atom of the last tagged response, NULL if none. */
const char *wb_imapconn_code(const struct wb_imapconn *c);
/* Did the last tagged response carry [TRYCREATE]? */
bool wb_imapconn_trycreate(const struct wb_imapconn *c);
/* Does the server announce capability name (asking for the list if not known yet)? */
bool wb_imapconn_has_capability(struct wb_imapconn *c, const char *name);

/* "imap://host:port/FOLDER;UIDVALIDITY=v;UID=n" (RFC 5092; the folder URL-escaped; the
 * UID part only when both are known, not 0). Newly allocated. */
char *wb_imapconn_url(const struct wb_imapconn *c, const char *folder, uint32_t uidvalidity,
		      uint32_t uid);
/* IMAP's modified UTF-7 (RFC 3501 5.1.3) for a mailbox name; NULL for invalid UTF-8. */
char *wb_imapconn_mutf7(const char *utf8);
/* After SELECT or EXAMINE of folder_wire failed with NO: does the folder exist at all?
 * 1 yes, 0 no, -1 error (set). */
int wb_imapconn_listed(struct wb_imapconn *c, const char *folder_wire, GError **error);

/* A flag list for APPEND or STORE: system flags (\Seen \Answered \Flagged \Deleted
 * \Draft) and keywords (wb_deliver_keyword_ok). NULL + error (WB_FAIL_FINAL for a flag
 * that cannot be set) otherwise. flags may be NULL: an empty list. */
struct mailimap_flag_list *wb_imapconn_flag_list(const struct wb_imapconn *c,
						 const char *const *flags, GError **error);
/* UID STORE set +FLAGS.SILENT list: adds the flags, answering nothing. Takes set and
 * list (either may be NULL after an allocation failure: out of memory). what names the
 * command in an error ("UID STORE 7 in INBOX"). */
bool wb_imapconn_store_add(struct wb_imapconn *c, struct mailimap_set *set,
			   struct mailimap_flag_list *list, const char *what, GError **error);
/* The same with -FLAGS.SILENT: takes the flags away. */
bool wb_imapconn_store_remove(struct wb_imapconn *c, struct mailimap_set *set,
			      struct mailimap_flag_list *list, const char *what, GError **error);
/* The static attribute of that type (MAILIMAP_MSG_ATT_UID, _BODY_SECTION, ...) of one
 * message in a FETCH response, NULL if it has none. */
const struct mailimap_msg_att_static *wb_imapconn_att_static(const struct mailimap_msg_att *att,
							     int type);
/* The flags of one message in a FETCH response, as "\Seen", "\Recent", "$Keyword" ...
 * NULL-terminated and newly allocated (g_strfreev); empty when it has none. */
char **wb_imapconn_att_flags(const struct mailimap_msg_att *att);
/* Does the list hold flag? Compared without case, as IMAP compares flags. */
bool wb_imapconn_flags_have(char *const *flags, const char *flag);

#endif
