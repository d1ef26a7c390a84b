/* render: one stored WhatsApp message → one RFC 5322 mail (SPEC §5). Pure: everything it
 * needs is passed in, nothing is read from the network, the store or the clock.
 *
 * The plain and HTML bodies come from templates (built in, or files an admin restyles):
 * the text template's {{field}} markers are replaced in one pass; the HTML template is
 * parsed with libxml2 and each element carrying data-wb="field" gets the value as a text
 * node, so user text is always escaped; an element with data-wb-if="field" is dropped
 * when that field is empty. */
#ifndef WB_RENDER_H
#define WB_RENDER_H

#include <glib.h>

#include "config.h"
#include "store.h"

struct wb_templates {
	char *text;
	char *html;
};

/* Load mail.txt and mail.html from dir, or the built-in ones when dir is NULL. */
struct wb_templates *wb_templates_load(const char *dir, GError **error);
void wb_templates_free(struct wb_templates *t);

struct wb_render_in {
	const char *domain;         /* right side of Message-IDs and addresses */
	const char *timezone;       /* IANA zone for Date: and the body */
	const char *reply_local;    /* [replies] address, e.g. "complaint" */
	const char *token;          /* reply token for the complaint reference */
	const struct wb_station *station;
	const struct wb_msg *msg;   /* with ref, thread_root, reply_parent, payload_sha256 */
	const struct wb_templates *tpl;
};

/* The complete mail, CRLF line ends. NULL with error only on a broken template. */
GBytes *wb_render_mail(const struct wb_render_in *in, GError **error);

/* "<wamid>@<domain>" when the wamid is dot-atom text, else "<sha256 of it>.wa@<domain>".
 * Without angle brackets. Newly allocated. */
char *wb_message_id(const char *wamid, const char *domain);

/* "+91 98300 12345" for Indian numbers, "+<digits>" otherwise. Newly allocated. */
char *wb_format_phone(const char *digits);

#endif
