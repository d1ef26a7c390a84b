/* replyparse: what an officer wrote in a reply, and the complaint number in it.
 *
 * Pure: a mail's bytes in, the new text, the complaint number and the officer's tags
 * out; no store, no network, no clock. `wabridge parse-reply` runs it alone.
 *
 * The new text comes from text/plain, or from text/html (through libxml2) when that is
 * all there is. Removed: quoted lines ("> "), blockquotes and the quote containers of
 * Gmail, Outlook (desktop and web), Apple Mail, Thunderbird, K-9 and Roundcube;
 * attribution lines ("On … wrote:"), header blocks ("From: … Sent: …", two-line, bold or
 * squashed onto one line), separators ("-----Original Message-----", "Begin forwarded
 * message:"), signatures ("-- "), phone and app footers ("Sent from my iPhone", "Get
 * Outlook for Android") and gateway banners ("[EXTERNAL]", disclaimers), in the
 * languages of the EU, Arabic, Vietnamese, Chinese, Japanese, Korean, Russian, Bengali
 * and Hindi. An answer on the attribution's line, below a top footer or between quotes
 * is kept. Where each rule cut is in the result's cuts.
 *
 * The complaint number is found by the default patterns of SPEC §6 ("Complaint No.
 * 123/2026", "GDE No 45", "GD 1234/26", "অভিযোগ নং ১২৩/২০২৬", "शिकायत संख्या ४५",
 * "#GD 123/26") plus the station's extra patterns (first capture group is the number),
 * with Bengali and Devanagari digits turned into ASCII digits. Tags: #escalate, #close,
 * #new, #transfer CODE (case-insensitive, not inside a word: "abc#new", "#newspaper"
 * are none). */
#ifndef WB_REPLYPARSE_H
#define WB_REPLYPARSE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#define WB_REPLY_ERROR (wb_reply_error_quark())
GQuark wb_reply_error_quark(void);
enum { WB_REPLY_UNPARSABLE = 1 }; /* not a mail, or no text part at all */

/* Where a rule of the parser dropped lines: line is the line number (from 1) in the
 * body's text (the text/plain part, or the text made from the HTML one), rule one of
 * "quote", "attribution", "header-block", "separator", "signature", "footer", "banner"
 * (a static string). At most WB_REPLY_MAX_CUTS are kept, in the order of the lines. */
struct wb_reply_cut {
	unsigned line;
	const char *rule;
};

struct wb_reply {
	char *text;           /* the officer's new text, plain, trimmed; may be "" */
	struct wb_reply_cut *cuts; /* why the rest of the body is not in text */
	size_t n_cuts;
	char *number;         /* the complaint number ("123/2026"), ASCII digits, or NULL */
	bool escalate, close;
	bool split;           /* #new: the message answered starts a new complaint */
	char *transfer_to;    /* station code from the first "#transfer CODE", or NULL */
	unsigned transfers;   /* how many "#transfer CODE" tags there were */
	/* from the headers, for the caller's matching (never trusted for sending) */
	char *from_addr;      /* lowercase addr-spec of From:, or NULL */
	char *from_name;      /* its display name, one clean line, or NULL */
	char *to_addrs;       /* every To/Cc/Delivered-To addr-spec, space separated */
	char *in_reply_to;    /* Message-IDs without <>, space separated (In-Reply-To, References) */
	char *answers;        /* the mail it answers: In-Reply-To, else the last References
			       * entry (without <>), or NULL */
	char *subject;        /* decoded */
	char *message_id;     /* the reply's own Message-ID without <>, or NULL */
	char **auth_results;  /* Authentication-Results values as written (folded), topmost
			       * first, NULL-terminated: at most WB_AUTHRES_MAX_FIELDS + 1, one
			       * more than the cap, so that a mail with too many shows */
};

/* extra_patterns: NULL-terminated regexes (may be NULL), each with one capture group. */
struct wb_reply *wb_reply_parse(const void *mail, size_t len, const char *const *extra_patterns,
				GError **error);
void wb_reply_free(struct wb_reply *r);

/* The number alone, from any text (used by wb_reply_parse on the new text). */
char *wb_reply_find_number(const char *text, const char *const *extra_patterns);

/* Does the officer's text say more than the complaint number? The number's phrase and
 * words that only say it is registered ("registered", "নথিভুক্ত হয়েছে", "दर्ज की गई")
 * do not count; any other word does. Decides whether words are kept for the citizen
 * when only the template with the number can go. */
bool wb_reply_has_words(const char *text, const char *const *extra_patterns);

/* The safety net after parsing: whether text (normally a wb_reply's text) still carries
 * a sign that it is not the officer's own words: a line starting with '>', an
 * attribution ("On … wrote:" with a date or an address, in any language the parser
 * knows), a forward or original-message separator, or a quoted header line (a "From:"
 * label or its translation with an address, two header lines together, or a header
 * block squashed onto one line). When true and why is not NULL, *why names the sign and
 * the line in plain English (newly allocated; NULL when false). NULL text: false. */
bool wb_reply_text_suspicious(const char *text, char **why);

/* Bengali (০-৯) and Devanagari (०-९) digits to ASCII. Newly allocated. */
char *wb_ascii_digits(const char *s);

/* A mail's bytes parsed with GMime, or NULL when they do not start with a header field
 * (GMime would take any junk for a mail). Needs g_mime_init(); unref the result. */
typedef struct _GMimeMessage GMimeMessage;
GMimeMessage *wb_parse_mail(const void *mail, size_t len);
/* The same from a seekable stream, read where it stands: the message's parts read their
 * content from it later, so it keeps a reference to it. */
typedef struct _GMimeStream GMimeStream;
GMimeMessage *wb_parse_mail_stream(GMimeStream *st);

#endif
