/* util: small helpers GLib does not have, and thin wrappers that fix a policy once. */
#ifndef WB_UTIL_H
#define WB_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Constant-time equality of two byte strings (time depends on the lengths only). */
bool wb_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Lowercase hex SHA-256 of data. Newly allocated. */
char *wb_sha256_hex(const void *data, size_t len);

/* Lowercase hex HMAC-SHA256(key, data). Newly allocated. */
char *wb_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len);

/* Is an X-Hub-Signature-256 value of the one shape Meta sends: "sha256=" and 64 hex
 * digits (either case), nothing else? Decided from the header alone, before any body. */
bool wb_signature_shape_ok(const char *header);

/* Verify an X-Hub-Signature-256 value ("sha256=<64 lowercase or uppercase hex>") over
 * body with the app secret, in constant time. False for a missing or malformed value. */
bool wb_signature_ok(const char *secret, const char *header, const void *body, size_t len);

/* The short reply token for a complaint reference: first 10 chars of the lowercase
 * hex HMAC-SHA256(secret, ref). Newly allocated. */
char *wb_reply_token(const char *secret, const char *ref);

/* A complaint's reply address: "LOCAL+REF.TOKEN@DOMAIN". Newly allocated. */
char *wb_reply_address(const char *local, const char *secret, const char *ref,
		       const char *domain);

/* Valid UTF-8 copy of s (invalid sequences become U+FFFD), with every control
 * character (C0, DEL, C1, U+2028/2029) replaced by a space, bidirectional overrides and
 * isolates removed, runs of spaces collapsed,
 * trimmed, and cut to at most max_chars characters at a grapheme-cluster boundary.
 * Safe for any header. Newly allocated; "" for NULL. */
char *wb_clean_line(const char *s, size_t max_chars);

/* wb_clean_line() for a summary a reader may take at its word (a Subject): when the
 * clean line is longer than max_chars (at least 2), it is cut to at most max_chars - 1
 * characters at a grapheme-cluster boundary — at the last space when one lies in the
 * last third, so no word is shortened into another — and ends with "…" (U+2026); a line
 * that fits is returned whole, without one. Newly allocated; "" for NULL. */
char *wb_summary_line(const char *s, size_t max_chars);

/* s made safe to print on a terminal, for every string that came from outside (webhook
 * bodies, mail headers, answers of IMAP servers and the Graph API): each control
 * character (C0, DEL, C1, U+2028/2029, U+FEFF), each bidirectional embedding, override,
 * isolate or mark, and each byte that is not UTF-8 is shown as a visible escape, "\x1b"
 * for a byte or an ASCII control and "\u202e" for the others, so nothing can move the
 * cursor, recolour, retitle or reorder what an admin reads. With keep_lines, newlines
 * and tabs stay (messages of several lines). Newly allocated; "" for NULL. */
char *wb_escape_controls(const char *s, bool keep_lines);

/* Cut valid UTF-8 s to at most max_chars characters without splitting a grapheme
 * cluster (combining marks, ZWJ/ZWNJ sequences, Indic conjuncts through a virama,
 * emoji modifiers and flags stay whole). Returns the byte length to keep. */
size_t wb_grapheme_cut(const char *s, size_t max_chars);

/* Valid UTF-8 copy of text keeping newlines and tabs, other controls and NUL bytes
 * removed, CRLF made LF, capped at max_bytes (cut at a character boundary). Newly allocated. */
char *wb_clean_text(const char *s, size_t len, size_t max_bytes);

/* RFC 2047 "B" encoded-words for UTF-8 text, joined by "\n " (folded, one word a line).
 * Each word carries whole characters and a multiple of three bytes, so no word but the
 * last has base64 padding: GMime (and other decoders that join adjacent words before
 * decoding) would otherwise lose everything after the first "=". Where the text allows
 * no such cut, one character goes into a "Q" word of its own. Newly allocated. */
char *wb_rfc2047_words(const char *text);

/* x as the shortest decimal that reads back as exactly x, in plain notation: what a
 * sender wrote as 22.5726459, 2.25726459e1 or 22.57264590 shows as 22.5726459 (not
 * 22.572646, nor 22.572645900000001); 1e2 as 100, 1e-7 as 0.0000001. Newly allocated. */
char *wb_double_text(double x);

/* "HOST:PORT" or "[HOST]:PORT" (as [webhook] listen is written): the host without its
 * brackets (newly allocated), whether it had them, and a port of 1 to 5 digits from 1 to
 * 65535. False when the port is missing or bad; the host may then be anything. */
bool wb_split_host_port(const char *s, char **host, bool *bracketed, guint16 *port);

/* Read a whole file (or stdin for NULL/"-") up to cap bytes; error when larger. */
bool wb_read_all(const char *path, size_t cap, GBytes **out, GError **error);

/* Unix time t in the IANA zone (UTC when the zone is unknown); NULL when t is out of
 * range. */
GDateTime *wb_local_time(gint64 t, const char *zone);
/* t in the zone, formatted with g_date_time_format's fmt ("?" when it cannot be).
 * Newly allocated. */
char *wb_local_text(gint64 t, const char *zone, const char *fmt);
/* "Name <address>", or the address alone when name is NULL. Newly allocated. */
char *wb_name_addr(const char *name, const char *addr);
/* "7 December 2026, 05:13 IST": how notes and records give a time. */
char *wb_when_text(gint64 t, const char *zone);

/* Unix time of hour:00 local time in zone on the local day of now plus day_offset days;
 * G_MAXINT64 when there is no such time. The daily timers (the digest, the journal's
 * anchor) fire at the first pass at or after it. */
gint64 wb_local_hour_at(gint64 now, const char *zone, int day_offset, int hour);

/* Unix time now (seconds); tests may pin it with $WABRIDGE_NOW. */
gint64 wb_now(void);

#endif
