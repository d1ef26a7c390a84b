/* render: one stored WhatsApp message → one RFC 5322 mail (SPEC §5). Pure: everything it
 * needs is passed in, nothing is read from the network, the store or the clock.
 *
 * The plain and HTML bodies come from templates (built in, or files an admin restyles).
 * Text templates (mail.txt, note.txt): {{field}} markers are replaced in one pass; a
 * line that is one marker whose field is empty is left out, and so is everything from a
 * line "{{?field}}" to a line "{{/field}}" when field is empty (the marker lines never
 * show); the template's own blank lines are never doubled nor leading. HTML templates
 * are parsed with libxml2: an element with data-wb="field" gets the value as a text node
 * (so user text is always escaped), data-wb-links="field" the same with each http(s) or
 * www. link of it as an <a href> (wb_next_link), data-wb-cid="field" an href="cid:VALUE",
 * data-wb-href="field" the value as href when it is an https URL; an element with
 * data-wb-if="field" is dropped when that field is empty.
 *
 * Fields of mail.*: state (the caller's state line), hint (the register hint, only when
 * there is no state line), text, forwarded, details, notice, attachments (one line each:
 * name, type, size), type_label, sender, when, ref, station, map_url, json_name and
 * json_cid (the attached message object). Of note.*: state, title, ref, station, when,
 * body, sent_label, sent, json_name and json_cid (empty without an attachment). */
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
	/* Where the complaint stands and what the station is to do, one or two short lines
	 * ("NEW – not yet registered. Reply … by Mon 7 Dec, 14:00 IST."): the first thing
	 * of both bodies. NULL or "": the register hint is shown instead, near the end. */
	const char *state_line;
	/* A reaction's target for people ("your message of 15 Oct, 13:30: “…”"); NULL: the
	 * mail says the message is not in the complaint's record. Other types ignore it. */
	const char *reaction_target;
	/* The file msg->media maps (a spooled medium, spool.h), or NULL: the attachment's
	 * bytes are then read from that file while the mail is written. */
	const char *media_path;
};

/* The complete mail, CRLF line ends. NULL with error on a broken template, or (G_IO_ERROR)
 * when the medium's file cannot be read. */
GBytes *wb_render_mail(const struct wb_render_in *in, GError **error);

/* The same mail written to fd (a spool file) from its current offset, a block at a time:
 * neither the medium nor the mail is held in memory. fd stays open and is not synced.
 * False with error as wb_render_mail(), or G_IO_ERROR when the file takes no more (a full
 * disk). */
bool wb_render_mail_to_fd(const struct wb_render_in *in, int fd, GError **error);

/* A note of the bridge's own in a complaint's thread (what was sent to the citizen, a
 * failure): From the bridge, To the station, threaded under the complaint's first mail,
 * plain and HTML from note.txt/note.html, optionally one JSON attachment, placed like a
 * mail's whatsapp-message.json (see render.c): no paperclip, linked from the HTML. */
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
	const char *state_line;       /* shown first, as in a mail; NULL or "" for none */
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
 * Every line is kept (citizen texts; the line rules above are for mail bodies).
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

/* The next link in text at or after byte from: [*start, *end) is an http:// or https://
 * URL or a www. name, starting after a space or punctuation (not inside a word or
 * another URL), followed by a letter or digit, running to a space, a quote, <, > or
 * punctuation other than ASCII's, with trailing .,;:!?'"*_~ and unbalanced ) or ] left
 * out; at most WB_MAX_LINK_BYTES (a longer one stays text). No other scheme is ever a
 * link. False when there is none. text: valid UTF-8. */
bool wb_next_link(const char *text, size_t from, size_t *start, size_t *end);

/* The href of such a link: as written, https:// before a www. name. Newly allocated. */
char *wb_link_href(const char *link, size_t len);

/* A media attachment with its original bytes, base64, its file name (Content-Disposition:
 * attachment) and "NAME; SHA-256 HEX" in Content-Description; inline with that
 * Content-ID when cid is not NULL. */
GMimePart *wb_mail_media_part(const struct wb_attachment *a, const char *cid);

/* The message on the wire: CRLF line ends. */
GBytes *wb_mail_serialize(GMimeMessage *mail);

/* An HTML document as UTF-8 text (not numeric entities). Newly allocated. */
char *wb_html_dump(xmlDoc *doc);

#endif
