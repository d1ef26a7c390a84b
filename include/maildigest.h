/* maildigest: what a mail was when the bridge handed it to a mailbox, kept small enough
 * to stay in the state database after the mail's own bytes have left it.
 *
 * Design rationale: the mailbox holds the mail; the database keeps, per delivery, the
 * SHA-256 of the mail's bytes and a digest: every header as written (unfolded) and, for
 * every leaf MIME part, its type, file name, description, decoded size and the SHA-256
 * of its decoded content (for a base64 part, exactly the file's bytes). With that, `wabridge verify` can say more than "the bytes
 * differ": which header changed and from what, which attachment was swapped, which part
 * went missing; and it can tell a mail that mail software merely re-filed (an mbox's
 * "From " line, LF line ends in a Maildir, a client's status headers) from one whose
 * content was changed.
 *
 * Line ends: hashes are taken over a canonical form in which every line ends in CRLF
 * (a bare LF becomes CRLF; a CR not followed by LF stays). The bridge writes CRLF; a
 * Maildir stores LF; both hash alike. Text parts that are not base64 are hashed after
 * decoding with the same line-end rule, so a re-encoding that keeps the text keeps the
 * hash.
 *
 * The digest's JSON form (stored in deliveries.digest, journaled by its SHA-256):
 *   {"v":1,"sha256":HEX,"size":N,"headers":[[NAME,VALUE],...],
 *    "parts":[{"path":"1.2","type":"image/jpeg","name":"photo.jpg"|null,
 *              "desc":TEXT|null,"size":N,"sha256":HEX},...]} */
#ifndef WB_MAILDIGEST_H
#define WB_MAILDIGEST_H

#include <glib.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <stddef.h>

struct wb_mailpart {
	char *path;   /* "1", "1.2", "2.1.3": GMime's part path */
	char *type;   /* lowercase "type/subtype" */
	char *name;   /* file name, NULL if none */
	char *desc;   /* Content-Description, NULL if none */
	gsize size;   /* decoded bytes */
	char *sha256; /* lowercase hex of the decoded content (text: CRLF line ends) */
};

struct wb_maildigest {
	char *sha256;      /* of the whole mail, canonical line ends */
	gsize size;        /* canonical bytes */
	GPtrArray *headers; /* char *[2] {name, value}, in order, values unfolded and trimmed */
	GPtrArray *parts;   /* struct wb_mailpart * */
};

/* The canonical (CRLF) form of mail; newly allocated. */
GBytes *wb_mail_canonical(const void *mail, size_t len);
/* SHA-256 (lowercase hex) of the canonical form. */
char *wb_mail_sha256(const void *mail, size_t len);

/* The digest of a mail; NULL with error when it cannot be parsed as a mail at all.
 * *msg (may be NULL) gets the parsed message (unref it). Needs g_mime_init(). */
struct wb_maildigest *wb_maildigest_of(const void *mail, size_t len, GMimeMessage **msg,
				       GError **error);
void wb_maildigest_free(struct wb_maildigest *d);
typedef struct wb_maildigest wb_maildigest;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_maildigest, wb_maildigest_free)

char *wb_maildigest_json(const struct wb_maildigest *d);
/* Parse the JSON form; NULL with error when it is not one. */
struct wb_maildigest *wb_maildigest_from_json(const char *json, GError **error);

/* The decoded bytes of the leaf part at GMime part path (struct wb_mailpart.path), NULL
 * if there is none. */
GBytes *wb_mail_part_bytes(GMimeMessage *msg, const char *path);
/* The SHA-256 a medium's Content-Description names ("NAME; SHA-256 HEX", as the bridge
 * writes it), lowercase into out; false when it names none. */
bool wb_mailpart_claimed_sha256(const struct wb_mailpart *p, char out[65]);

/* The Message-ID without <>, NULL if the mail has none. Newly allocated. */
char *wb_maildigest_message_id(const struct wb_maildigest *d);

/* The value of header name (first occurrence, any case), NULL if absent; not copied. */
const char *wb_maildigest_header(const struct wb_maildigest *d, const char *name);

/* Compare the mail now with the mail as delivered. Each difference in content is one
 * line appended to diffs ("header Subject changed: was …, now …", "part 2 (photo.jpg,
 * image/jpeg) changed: sha256 …, was …", "part 3 (…) removed", "part 2.1 added");
 * headers that mail software adds when it files a mail (mbox Status, Thunderbird's
 * X-Mozilla-*, …) go to notes instead. Values from the mail are shown escaped and cut.
 * Returns the number of diffs added. */
guint wb_maildigest_compare(const struct wb_maildigest *was, const struct wb_maildigest *now,
			    GPtrArray *diffs, GPtrArray *notes);

#endif
