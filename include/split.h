/* split: the two mails of a "#new" split (reply.c, store.h struct wb_split_in).
 *
 * Pure: the configuration, the station, the references and the moved messages in; mail
 * bytes out; no store, no network (the time comes in as `when`). The old thread gets a
 * short note (its subject alone tells the story: "[OLD] Split: 2 messages moved to new
 * complaint NEW") naming the officer, each moved message by its time and first line, and
 * the new reference. The new complaint's first mail is the root mail: "[NEW] summary"
 * of the split message, "Split from OLD by … on …", each moved message's text, and the
 * moved messages' mails as delivered, attached as message/rfc822 parts, so the media and
 * the evidence travel with it. Its Reply-To is NEW's reply address. */
#ifndef WB_SPLIT_H
#define WB_SPLIT_H

#include <glib.h>

#include "config.h"
#include "store.h"

struct wb_split_words {
	const struct wb_config *cfg;
	const struct wb_station *st;
	const char *from_ref, *from_root;  /* the old complaint and its first mail */
	const char *to_ref, *root;         /* the new one and its root mail (local parts) */
	const char *officer;               /* "Name <addr>", or the address */
	const char *text;                  /* the officer's words, may be "" */
	gint64 when;                       /* of the split */
	const GPtrArray *moved;            /* of struct wb_split_msg *, in time order */
};

/* The note in the old thread (Message-ID msgid, without <>). NULL + error on a broken
 * note template. */
GBytes *wb_split_note(const struct wb_split_words *w, const char *msgid, GError **error);
/* The root mail of the new complaint (Message-ID <root@domain>). */
GBytes *wb_split_root(const struct wb_split_words *w, GError **error);

/* The Subject summary of the split message: its delivered mail's subject without the
 * "[REF] ", else what its view says. Newly allocated. */
char *wb_split_summary(const struct wb_split_msg *m);

#endif
