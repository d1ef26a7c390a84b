/* replykeys: what a parsed reply names for finding its complaint, before any lookup.
 *
 * Pure: the parsed reply (replyparse.h), the envelope recipients and the bridge's reply
 * address, mail domain and reply secret in; no store, no network, no clock. Out: the
 * reply address with its reference and whether its token verifies, the bridge's mails
 * the reply answers (In-Reply-To, References), the "[REF]" of its subject, and the key
 * that recognises the same mail again. reply.c looks them up in the store in that
 * order: token, thread, subject. Nothing here is trusted for sending. */
#ifndef WB_REPLYKEYS_H
#define WB_REPLYKEYS_H

#include <stdbool.h>

#include "replyparse.h"

struct wb_reply_keys {
	/* The first address of To, Cc, Delivered-To, then the envelope (lowercased), of
	 * the form <replies_address>+REF.TOKEN@<domain> in any case, or NULL. */
	char *token_addr;
	char *token_ref;   /* its REF, uppercase; NULL when there is no token_addr */
	bool token_ok;     /* its TOKEN is wb_reply_token(secret, REF) (constant time) */
	/* NULL-terminated: the local parts of the In-Reply-To/References Message-IDs at
	 * <domain> (any case), in order; the bridge's Message-IDs are <local@domain>. */
	char **thread_ids;
	char *subject_ref; /* REF from "[REF]" in the subject, or NULL */
	/* "<message-id> sender" when the mail has a Message-ID, else NULL (the caller keys
	 * it by its SHA-256): the same mail again (an MTA retry, a second copy) has the same
	 * Message-ID and sender, and someone else's mail that reuses the ID does not. */
	char *mail_key;
};

/* envelope: NULL-terminated envelope recipients (may be NULL), any bytes: they come
 * from the MTA's command line. The first WB_REPLY_MAX_ADDRS are looked at. */
struct wb_reply_keys *wb_reply_keys_new(const struct wb_reply *r, const char *const *envelope,
					const char *replies_address, const char *domain,
					const char *token_secret);
void wb_reply_keys_free(struct wb_reply_keys *k);

#endif
