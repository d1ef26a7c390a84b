/* deliver: putting one rendered mail into a station's mailbox.
 *
 * Two back ends sit behind one small table: Maildir (the embedded default) and IMAP
 * APPEND (libetpan). A target is opened once per station and pass and reused for many
 * mails; the caller owns the target and closes it. Mails are given as complete RFC 5322
 * messages with CRLF line ends; a back end converts if its store wants otherwise.
 * Flags are IMAP's: system flags and keywords; the Maildir back end keeps keywords the
 * way Dovecot does (see deliver_maildir.c), so an IMAP server on the Maildir shows them. */
#ifndef WB_DELIVER_H
#define WB_DELIVER_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fail.h"


#define WB_DELIVER_ERROR (wb_deliver_error_quark())
GQuark wb_deliver_error_quark(void);
/* GError codes in WB_DELIVER_ERROR are enum wb_fail values. */

struct wb_delivered {
	uint32_t uidvalidity; /* 0 when the server did not say (no UIDPLUS) or for Maildir */
	uint32_t uid;
	char *location;       /* human-readable place: "imap://host/INBOX;UID=7" or a file path; owned */
};

struct wb_target;

struct wb_deliver_ops {
	const char *name; /* "maildir", "imap" */
	/* Connect / prepare. On failure returns NULL and sets error with a wb_fail code. */
	struct wb_target *(*open)(const struct wb_config *cfg, const struct wb_station *st,
				  GError **error);
	/* Is a mail with this Message-ID (without <>) already there? Used before re-delivering
	 * a mail whose earlier attempt may have succeeded before a crash. Returns 1 yes, 0 no,
	 * -1 error (error set). */
	int (*exists)(struct wb_target *t, const char *message_id, GError **error);
	/* Store one mail. flags: NULL-terminated IMAP keywords/flags to set, may be NULL.
	 * out is filled on success (caller frees out->location). */
	bool (*deliver)(struct wb_target *t, const char *mail, size_t len,
			const char *const *flags, struct wb_delivered *out, GError **error);
	/* Add IMAP keywords/flags (NULL-terminated, e.g. "$WA_Registered") to the mail whose
	 * Message-ID (without <>) is message_id. Returns 1 done (also when already set),
	 * 0 no such mail (yet), -1 error (error set with a wb_fail code). */
	int (*set_flags)(struct wb_target *t, const char *message_id, const char *const *flags,
			 GError **error);
	/* Take those flags away again (a later success clears $WA_SendFailed); the same
	 * results. A flag the mail does not carry is no error. */
	int (*clear_flags)(struct wb_target *t, const char *message_id,
			   const char *const *flags, GError **error);
	void (*close)(struct wb_target *t);
};

extern const struct wb_deliver_ops wb_deliver_maildir;
extern const struct wb_deliver_ops wb_deliver_imap;

/* The back end a station uses. */
const struct wb_deliver_ops *wb_deliver_for(const struct wb_station *st);

/* A Message-ID (without <>) both back ends accept: 1 to WB_MESSAGE_ID_MAX bytes of
 * printable ASCII without <>, quotes or backslash (safe to quote in an IMAP SEARCH). */
#define WB_MESSAGE_ID_MAX 998
bool wb_deliver_message_id_ok(const char *message_id);
/* The Message-ID of a mail (without <>) from its header, folded or not, with CRLF or LF
 * line ends; NULL when it has none. Newly allocated. */
char *wb_deliver_message_id_of(const char *mail, size_t len);

/* A flag deliver and set_flags can set: \Seen, \Answered, \Flagged, \Deleted or
 * \Draft (any case), or a keyword: an RFC 3501 atom of 1 to 100 bytes of printable
 * ASCII without atom-specials, like "$WA_Registered". */
bool wb_deliver_flag_ok(const char *flag);
bool wb_deliver_keyword_ok(const char *keyword);

/* Directory of the station's Maildir (resolved from deliver = maildir:PATH or the
 * default <data_dir>/mail/<station key>). Newly allocated. */
char *wb_deliver_maildir_path(const struct wb_config *cfg, const struct wb_station *st);

#endif
