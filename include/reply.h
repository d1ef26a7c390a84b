/* reply: one officer's reply mail taken in (SPEC §6 steps 1–5 up to the queued send).
 *
 * Shared by `wabridge reply` (MTA pipe) and the watched replies mailbox. The complaint
 * is found by the reply-address token (complaint+REF.TOKEN@domain, verified in constant
 * time), else by In-Reply-To/References naming one of the bridge's mails, else by the
 * "[REF]" tag in the subject. A token that does not verify is refused. Otherwise the
 * reply is accepted only when the sender matches the station's `officers` and the reply
 * proves itself: a token that verifies, or, when it matched without one, an
 * Authentication-Results field of a trusted authserv-id ([replies] trusted_authserv_id)
 * that vouches for the From: domain (see authres.h). A reply refused at that step is
 * told to the station by a note in the complaint's thread (at most
 * WB_MAX_REFUSAL_NOTES a complaint a day). The citizen is only ever messaged at the
 * number stored for the complaint, never at an address or number taken from the mail.
 * "#transfer CODE" from an officer moves the complaint to the station with that code
 * (store.h, struct wb_transfer_in), with a note in both threads and the citizen told
 * (outbox purpose "transfer", instead of the ordinary reply); a transfer that cannot be
 * done (unknown code, its own station, a closed complaint, with #close, a #transfer
 * without exactly one code) changes nothing, is kept as refused (65) and told in the
 * thread. An officer of a station the complaint was transferred away from is refused
 * (77), told in that station's thread. "#new" in a reply to the mail of a citizen's
 * message splits that message and the later ones off into a new complaint (store.h,
 * struct wb_split_in; the mails in split.h); the reply, its number and its send then
 * belong to the new complaint. A #new that cannot be done (no such message of this
 * open complaint, its first message, with #transfer or #close) is refused like a
 * transfer (65), told in the thread.
 * Every mail is kept in the store with what became of it, whatever the outcome. */
#ifndef WB_REPLY_H
#define WB_REPLY_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "render.h"
#include "store.h"

enum wb_reply_outcome {
	WB_RA_OK,        /* accepted (its send queued), or a replay of an accepted reply */
	WB_RA_BAD,       /* not a mail, or nothing in it: no text, number or tag (65) */
	WB_RA_NO_MATCH,  /* no complaint matches (67) */
	WB_RA_FORBIDDEN, /* not an officer of the station, no proof, or a forged token (77) */
	WB_RA_TEMP,      /* the store failed: nothing is lost, try again (75) */
};

struct wb_reply_result {
	enum wb_reply_outcome outcome;
	int64_t reply_id;
	bool replay;        /* the same mail was accepted before: nothing new happened */
	bool noted;         /* refused, and a note for the complaint's thread is queued */
	char *message;      /* one line: what happened and, when refused, what to do */
};
void wb_reply_result_clear(struct wb_reply_result *r);

/* source: "pipe" or "imap". envelope (may be NULL): NULL-terminated envelope recipients,
 * searched for the token like To/Cc/Delivered-To. */
enum wb_reply_outcome wb_reply_take(const struct wb_config *cfg, struct wb_store *store,
				    const void *mail, size_t len,
				    const char *source, const char *const *envelope,
				    struct wb_reply_result *res);

struct wb_replywatch;

/* The watched replies mailbox ([replies] mode = imap): every mail not yet processed goes
 * through wb_reply_take and is marked by its outcome (a temporary failure leaves it for
 * the next poll). w: an open watch to use, or NULL to connect for this poll alone.
 * *taken counts mails handled. False + error when the mailbox cannot be reached. */
bool wb_reply_poll_mailbox(const struct wb_config *cfg, struct wb_store *store,
			   struct wb_replywatch *w,
			   const gint *stop, unsigned *taken, GError **error);

/* The sysexits code of an outcome: 0, 65, 67, 77, 75. */
int wb_reply_exit_code(enum wb_reply_outcome o);

/* The citizen's language from the script of their messages (message objects as JSON):
 * Bengali, Devanagari or Latin letters, whichever is most; fallback when none. */
enum wb_lang wb_guess_lang(const GPtrArray *messages_json, enum wb_lang fallback);

/* Does addr (lowercase) match one of the glob patterns (lowercase)? */
bool wb_officer_ok(const char *const *patterns, const char *addr);

#endif
