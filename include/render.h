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
#include <gmime/gmime.h>
#include <libxml/tree.h>

#include "config.h"
#include "store.h"
#include "templates.h"
#include "view.h"

/* Times in mail bodies (g_date_time_format). */
#define WB_WHEN_FORMAT "%A, %-d %B %Y, %H:%M:%S %Z (UTC%:z)"

struct wb_render_in {
	const char *domain;         /* right side of Message-IDs and addresses */
	const char *timezone;       /* IANA zone for Date: and the body */
	const char *reply_to;       /* the complaint's reply address (wb_reply_address()) */
	const struct wb_station *station;
	const struct wb_msg *msg;   /* with ref, thread_root, reply_parent, payload_sha256 */
	const struct wb_templates *tpl;
	const char *state_line;      /* where the complaint stands (first in the body), or NULL */
	const char *reaction_target; /* a reaction's target in words, or NULL */
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

/* A note in the thread of complaint ref (first mail first_wamid) in st's mailbox, with
 * the configuration's domain, zone, templates and the complaint's reply address, dated
 * now; no attachment. */
GBytes *wb_render_thread_note(const struct wb_config *cfg, const struct wb_station *st,
			      const char *ref, const char *first_wamid, const char *msgid,
			      const char *summary, const char *title, const char *body,
			      const char *const *headers, GError **error);

/* Fill {{field}} markers of a text template: fields are name, value, ..., NULL.
 * Newly allocated. */
char *wb_fill_text(const char *tpl, const char *const *fields);

/* "+91 98300 12345" for Indian numbers, "+<digits>" otherwise. Newly allocated. */
char *wb_format_phone(const char *digits);

/* ---- the building blocks, shared with the other renderers (dutymail.c) ---------------
 * Each takes text that may be hostile and keeps it out of the header's structure. */

/* Subject: "[ref] summary", or summary alone when ref is NULL. summary must already be
 * one clean line (wb_clean_line()); non-ASCII is written as our own encoded-words. */
void wb_mail_set_subject(GMimeMessage *mail, const char *ref, const char *summary);

/* header: one mailbox whose display name is name (cleaned, may be "") + " " + suffix
 * (ASCII, or NULL). */
void wb_mail_set_mailbox(GMimeMessage *mail, const char *header, const char *name,
			 const char *suffix, const char *addr);

/* Set an unstructured header to value made one clean line (at most 900 characters). */
void wb_mail_add_header(GMimeObject *o, const char *name, const char *value);

/* multipart/alternative of a UTF-8 plain text and HTML. New reference. */
GMimeObject *wb_mail_alternative(const char *plain, const char *html);

/* A media attachment with its original bytes, base64, its file name and "NAME; SHA-256
 * HEX" in Content-Description; inline with that Content-ID when cid is not NULL. */
GMimePart *wb_mail_media_part(const struct wb_attachment *a, const char *cid);

/* The message on the wire: CRLF line ends. */
GBytes *wb_mail_serialize(GMimeMessage *mail);

/* An HTML document as UTF-8 text (not numeric entities). Newly allocated. */
char *wb_html_dump(xmlDoc *doc);

#endif
