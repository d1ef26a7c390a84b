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

/* Languages of citizen-facing messages, in the order of wb_templates.citizen_*. */
enum wb_lang { WB_LANG_BN, WB_LANG_HI, WB_LANG_EN, WB_LANG_COUNT };

struct wb_templates {
	char *text;               /* mail.txt: a citizen's message as mail */
	char *html;               /* mail.html */
	char *note_text;          /* note.txt: the bridge's own notes in a thread */
	char *note_html;          /* note.html */
	/* What the citizen receives on WhatsApp inside the 24-hour window, by language:
	 * citizen-registered.LANG.txt (with {{number}}) and citizen-message.LANG.txt
	 * (an officer's message without a number); fields station, number, ref, text. */
	char *citizen_registered[WB_LANG_COUNT];
	char *citizen_message[WB_LANG_COUNT];
};

/* "bn", "hi", "en"; and back (-1 for anything else). */
const char *wb_lang_code(enum wb_lang l);
int wb_lang_parse(const char *code);

/* Load the templates from dir, or the built-in ones when dir is NULL; a file missing
 * from dir is taken from the built-in set. */
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

/* A note of the bridge's own in a complaint's thread (what was sent to the citizen, a
 * failure): From the bridge, To the station, threaded under the complaint's first mail,
 * plain and HTML from note.txt/note.html, optionally one JSON attachment. */
struct wb_note_in {
	const char *domain, *timezone;
	const struct wb_station *station;
	const char *ref;
	const char *thread_root;      /* the complaint's first wamid */
	const char *message_id;       /* this note's, without <> */
	const char *reply_to;         /* the complaint's reply address */
	const char *summary;          /* the subject after "[REF] " */
	gint64 when;
	const char *title, *body;     /* body: plain text, lines */
	const char *sent_label, *sent; /* the message as the citizen receives it, or NULL */
	const char *json_name, *json; /* one attachment, or NULL */
	const char *const *headers;   /* extra headers: name, value, ..., NULL */
	const struct wb_templates *tpl;
};
GBytes *wb_render_note(const struct wb_note_in *in, GError **error);

/* Fill {{field}} markers of a text template: fields are name, value, ..., NULL.
 * Newly allocated. */
char *wb_fill_text(const char *tpl, const char *const *fields);

/* "<wamid>@<domain>" when the wamid is dot-atom text, else "<sha256 of it>.wa@<domain>".
 * Without angle brackets. Newly allocated. */
char *wb_message_id(const char *wamid, const char *domain);

/* "+91 98300 12345" for Indian numbers, "+<digits>" otherwise. Newly allocated. */
char *wb_format_phone(const char *digits);

#endif
