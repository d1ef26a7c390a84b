/* anchor: the custody journal's head, mailed to an archive mailbox ([archive]) once a day
 * and on demand, so that a copy of the chain's state lives outside the bridge's own
 * database (README: Journal anchors).
 *
 * An anchor mail is small plain text: From the bridge ([smtp] from), To [archive]
 * address, Date now, Auto-Submitted: auto-generated, Message-ID
 * <anchor-ENTRY-HEAD12@domain> (the same head anchored twice is the same mail, kept once
 * by the mailbox), Subject "wabridge journal anchor: entry N, head HEAD16…", headers
 * X-Journal-Entry: N, X-Journal-Head: <64 hex>, X-Journal-Entries: <count>; the body says
 * in words what it is and how to check it. An empty journal is anchored too: entry 0,
 * head WB_JOURNAL_GENESIS.
 *
 * The mail is put into the archive mailbox first (the delivery back ends of deliver.h,
 * with [archive] as their station), then the anchor is journaled: an entry of kind
 * anchor, subject the anchored head, detail the anchored entry and where the mail went.
 * A crash between the two leaves a mail without its entry; the next attempt finds the
 * mail by its Message-ID (when the head has not moved) and journals it then.
 *
 * Daily: the first pass of `serve` or `run` at or after anchor_hour local time writes one,
 * unless an anchor entry was journaled since that hour today (on demand or by another
 * process): one a day, across crashes and parallel runs. A failed one is tried again on
 * a later pass and shown by `status`. */
#ifndef WB_ANCHOR_H
#define WB_ANCHOR_H

#include <glib.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/* What an anchor mail says. */
struct wb_anchor_in {
	const char *domain, *timezone;
	const char *from, *to;
	int64_t entry;          /* the anchored entry's id; 0: the journal was empty */
	gint64 entry_at;        /* its time (0 for entry 0) */
	const char *head;       /* its hash, 64 lowercase hex */
	int64_t entries;        /* entries in the journal */
	gint64 now;
	const char *folder;     /* where it goes, named in the body ("Journal") */
	int64_t checked;        /* journal verify when written: entries checked */
	int64_t bad_id;         /* … and the first that did not fit (0: intact) */
};

/* The anchor mail (CRLF line ends), or NULL with error when a field is missing or bad.
 * Pure: nothing from the store, the network or the clock. */
GBytes *wb_anchor_mail(const struct wb_anchor_in *in, GError **error);

/* "<anchor-ENTRY-HEAD12@domain>" without the brackets. Newly allocated. */
char *wb_anchor_message_id(int64_t entry, const char *head, const char *domain);

/* Is [archive] configured (deliver set)? */
bool wb_anchor_configured(const struct wb_config *cfg);

struct wb_anchor_result {
	int64_t entry;          /* the anchored entry */
	char head[65];
	char *message_id;       /* without <> */
	char *location;         /* where the mail is ("imap://host/Journal;UID=7", a path) */
	bool found;             /* the mail was already there from an earlier attempt */
	bool journaled;         /* false: another process journaled today's anchor first */
};
void wb_anchor_result_clear(struct wb_anchor_result *r);

/* Write one anchor of the journal's head now and journal it. not_since > 0: the daily
 * anchor; it is not journaled when an anchor entry was written at or after not_since.
 * False with error: WB_STORE_ERROR (the store failed), WB_DELIVER_ERROR with a wb_fail
 * code (the archive mailbox could not be reached or written; nothing was journaled), or
 * WB_CONFIG_ERROR when [archive] is not configured. */
bool wb_anchor_write(const struct wb_config *cfg, struct wb_store *s, gint64 not_since,
		     struct wb_anchor_result *out, GError **error);

/* The daily anchor in a pass of `serve` or `run`: written when due (see above). *next
 * becomes at most when it is next due (a failed one: tried again in 10 minutes);
 * *waiting + 1 while it is missing after a failure (logged as a warning). False only when the store fails. */
bool wb_anchor_pass(const struct wb_config *cfg, struct wb_store *s, gint64 now,
		    gint64 *next, unsigned *waiting, GError **error);

/* For `status`: the last anchor, and today's when it is due and missing. */
bool wb_anchor_report(const struct wb_config *cfg, struct wb_store *s, GString *out,
		      GError **error);

/* Is msg an anchor mail (has X-Journal-Head and X-Journal-Entry)? If so, compare with the
 * journal: 1 the entry exists and its hash equals the anchored head; 0 it does not fit
 * (why says: no such entry / the journal's entry N now hashes to X, the anchor says Y);
 * -1 not an anchor mail. -2 with error set when the store fails. Entry 0 fits the
 * genesis hash alone (the anchor of an empty journal). The header values may be
 * anything: a value that is not an entry number or a SHA-256 does not fit. */
int wb_anchor_check(struct wb_store *s, GMimeMessage *msg, GString *why, GError **error);

#endif
