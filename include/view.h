/* view: what one WhatsApp message shows a station — label, text, notices, attachments —
 * decided per message type from the message object and its fetched media. Pure: no
 * MIME, no I/O; render.c turns a view into a mail.
 *
 * Types are dispatched through one table (text, image, audio, video, document, sticker,
 * location, contacts, interactive, button, reaction, order, system, unsupported, and
 * anything unknown), so a new type is one row and one function. Every string in a view
 * is valid UTF-8 without controls other than newlines in text; filenames are sanitised. */
#ifndef WB_VIEW_H
#define WB_VIEW_H

#include <glib.h>
#include <stdbool.h>

struct wb_attachment {
	char *filename;       /* sanitised, never empty */
	char *mime_type;      /* "audio/ogg; codecs=opus" */
	GBytes *data;         /* the original bytes, unchanged */
	char *sha256;         /* lowercase hex of data */
	char *path;           /* the file data maps (a spooled medium), or NULL: the renderer
			       * then reads the bytes from the file, not the mapping */
};

struct wb_view {
	char *label;          /* "Photo", "Voice message (0:42)", "Document: GD.pdf", … */
	char *summary;        /* for the Subject: one line that names the kind of message when it
			       * is not plain text ("Photo: <caption>", "Location: <place>",
			       * "Forwarded: <text>"), at most WB_MAX_SUBJECT_CHARS, "…" where cut */
	char *text;           /* what the citizen wrote (text, caption, choice…); may be "" */
	char *details;        /* further lines (location, contact cards, reply ids); may be "" */
	char *notice;         /* a warning for the station (media missing, unsupported); "" if none */
	char *map_url;        /* https link for a location, else NULL */
	char *reaction;       /* a reaction's emoji, "" when one was removed; else NULL */
	bool is_media;        /* the type carries a media object */
	GPtrArray *attachments; /* of struct wb_attachment *, owned */
};

/* The message's media as fetched (data and its facts), or why it could not be. */
struct wb_media_in {
	GBytes *data;             /* NULL when not fetched */
	const char *path;         /* the file data maps, or NULL (wb_attachment.path) */
	const char *mime_type;
	const char *sha256_hex;
	const char *error;        /* final fetch failure, shown as a notice */
};

/* json: the message object as received; media may be NULL. ts names files that have no
 * name of their own, in the IANA zone (the station's local time: photo-20261015-133000.jpg;
 * UTC when the zone is NULL or unknown). */
struct wb_view *wb_view_build(const char *type, const char *json,
			      const struct wb_media_in *media, gint64 ts, const char *zone);

/* A reaction's view names the message reacted to by target, a description for people
 * ("your message of 15 Oct, 13:30: “…”"); without one (NULL, or not a reaction's view)
 * it says the message is not in the complaint's record. The text and the summary
 * change; the wamid never shows (it is in the message object). */
void wb_view_set_reaction_target(struct wb_view *v, const char *target);
void wb_view_free(struct wb_view *v);

/* Does this type carry a media object to fetch? Its id and hash (base64) when so. */
bool wb_view_media_ref(const char *type, const char *json, char **media_id, char **sha256_b64,
		       char **mime_type);

/* A file name safe in any mail client and file system: no directories, controls, NUL or
 * reserved characters, no leading dots, at most 100 characters (the extension kept),
 * fallback when nothing usable is left. Newly allocated. */
char *wb_safe_filename(const char *name, const char *fallback);

/* Duration in seconds of an Ogg Opus file (a WhatsApp voice note), or -1. */
int wb_ogg_opus_seconds(const void *data, size_t len);

#endif
