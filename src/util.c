/* util: constant-time compare, hashes, header-safe text, grapheme-safe cuts. */
#include "util.h"

#include <gio/gio.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool wb_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	size_t n = alen > blen ? alen : blen;
	unsigned char diff = alen != blen;

	/* Walk the longer length so timing does not reveal where the first difference is. */
	for (size_t i = 0; i < n; i++) {
		unsigned char cx = i < alen ? x[i] : 0;
		unsigned char cy = i < blen ? y[i] : 0;
		diff |= cx ^ cy;
	}
	return diff == 0;
}

char *wb_sha256_hex(const void *data, size_t len)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

char *wb_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len)
{
	g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, key, keylen);
	g_hmac_update(h, data, (gssize)len);
	return g_strdup(g_hmac_get_string(h));
}

bool wb_signature_shape_ok(const char *header)
{
	if (!header || strncmp(header, "sha256=", 7) != 0)
		return false;
	const char *hex = header + 7;
	size_t n = strspn(hex, "0123456789abcdefABCDEF");
	return n == 64 && hex[n] == '\0';
}

bool wb_signature_ok(const char *secret, const char *header, const void *body, size_t len)
{
	if (!secret || !wb_signature_shape_ok(header))
		return false;
	char lower[65];
	for (size_t i = 0; i < 64; i++)
		lower[i] = g_ascii_tolower(header[7 + i]);
	lower[64] = '\0';
	g_autofree char *want = wb_hmac_sha256_hex(secret, strlen(secret), body, len);
	return wb_ct_equal(want, 64, lower, 64);
}

char *wb_reply_token(const char *secret, const char *ref)
{
	g_autofree char *mac = wb_hmac_sha256_hex(secret, strlen(secret), ref, strlen(ref));
	return g_strndup(mac, 10);
}

char *wb_reply_address(const char *local, const char *secret, const char *ref,
		       const char *domain)
{
	g_autofree char *token = wb_reply_token(secret, ref);
	return g_strdup_printf("%s+%s.%s@%s", local, ref, token, domain);
}

/* Characters that never start a grapheme cluster: they attach to what precedes. */
static bool attaches_to_previous(gunichar c)
{
	if (c == 0x200C || c == 0x200D)                 /* ZWNJ, ZWJ */
		return true;
	if ((c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF)) /* variation sel. */
		return true;
	if (c >= 0x1F3FB && c <= 0x1F3FF)               /* emoji skin-tone modifiers */
		return true;
	if (c >= 0xE0020 && c <= 0xE007F)               /* emoji tag sequences */
		return true;
	switch (g_unichar_type(c)) {
	case G_UNICODE_SPACING_MARK:
	case G_UNICODE_ENCLOSING_MARK:
	case G_UNICODE_NON_SPACING_MARK:
		return true;
	default:
		return false;
	}
}

/* A virama (halant) or ZWJ joins the next character into the same cluster: Bengali and
 * Devanagari conjuncts (UAX #29 GB9c) and emoji ZWJ sequences. */
static bool joins_next(gunichar c)
{
	switch (c) {
	case 0x094D: case 0x09CD: case 0x0A4D: case 0x0ACD: case 0x0B4D:
	case 0x0BCD: case 0x0C4D: case 0x0CCD: case 0x0D4D: case 0x200D:
		return true;
	default:
		return false;
	}
}

static bool is_regional_indicator(gunichar c)
{
	return c >= 0x1F1E6 && c <= 0x1F1FF;
}

size_t wb_grapheme_cut(const char *s, size_t max_chars)
{
	const char *p = s, *keep = s;
	size_t chars = 0;
	gunichar prev = 0;
	bool ri_odd = false;

	while (*p) {
		gunichar c = g_utf8_get_char(p);
		bool boundary = p == s || !(attaches_to_previous(c) || joins_next(prev) ||
					    (is_regional_indicator(c) && ri_odd));
		if (boundary)
			keep = p;
		if (chars == max_chars)
			return (size_t)(keep - s);
		ri_odd = is_regional_indicator(c) ? !ri_odd : false;
		prev = c;
		p = g_utf8_next_char(p);
		chars++;
	}
	return (size_t)(p - s);
}

static bool is_control(gunichar c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029 ||
	       c == 0xFEFF;
}

/* Bidirectional embeddings, overrides and isolates: in a one-line name they can make
 * "invoice\u202Efdp.exe" read "invoiceexe.pdf". (ZWJ/ZWNJ stay: Bengali needs them.) */
static bool is_bidi_control(gunichar c)
{
	return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
	       (c >= 0x2066 && c <= 0x2069);
}

char *wb_clean_line(const char *s, size_t max_chars)
{
	if (!s)
		return g_strdup("");
	g_autofree char *valid = g_utf8_make_valid(s, -1);
	GString *out = g_string_sized_new(strlen(valid));
	bool space = true; /* drops leading spaces */

	for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (is_bidi_control(c))
			continue;
		if (is_control(c) || g_unichar_isspace(c)) {
			if (!space)
				g_string_append_c(out, ' ');
			space = true;
			continue;
		}
		g_string_append_unichar(out, c);
		space = false;
	}
	while (out->len && out->str[out->len - 1] == ' ')
		g_string_truncate(out, out->len - 1);
	g_string_truncate(out, wb_grapheme_cut(out->str, max_chars));
	while (out->len && out->str[out->len - 1] == ' ')
		g_string_truncate(out, out->len - 1);
	return g_string_free(out, FALSE);
}

char *wb_summary_line(const char *s, size_t max_chars)
{
	char *line = wb_clean_line(s, G_MAXSIZE);
	if (max_chars < 2)
		max_chars = 2;
	if (g_utf8_strlen(line, -1) <= (glong)max_chars)
		return line;
	size_t keep = wb_grapheme_cut(line, max_chars - 1);
	/* A space in the last third: cut there, so "at 9.30" does not read "at 9.3…". */
	const char *space = g_strrstr_len(line, (gssize)keep + 1, " ");
	if (space && g_utf8_strlen(line, space - line) >= (glong)(max_chars - 1) * 2 / 3)
		keep = (size_t)(space - line);
	while (keep && line[keep - 1] == ' ')
		keep--;
	line[keep] = '\0';
	char *out = g_strconcat(line, "\u2026", NULL);
	g_free(line);
	return out;
}

char *wb_escape_controls(const char *s, bool keep_lines)
{
	if (!s)
		return g_strdup("");
	GString *out = g_string_sized_new(strlen(s));
	for (const char *p = s; *p;) {
		gunichar c = g_utf8_get_char_validated(p, -1);
		if (c == (gunichar)-1 || c == (gunichar)-2) { /* not UTF-8: show the byte */
			g_string_append_printf(out, "\\x%02x", (unsigned char)*p++);
			continue;
		}
		const char *next = g_utf8_next_char(p);
		if (keep_lines && (c == '\n' || c == '\t'))
			g_string_append_c(out, (char)c);
		else if (c < 0x20 || c == 0x7f)
			g_string_append_printf(out, "\\x%02x", (unsigned)c);
		else if (is_control(c) || is_bidi_control(c))
			g_string_append_printf(out, "\\u%04x", (unsigned)c);
		else
			g_string_append_len(out, p, next - p);
		p = next;
	}
	return g_string_free(out, FALSE);
}

char *wb_clean_text(const char *s, size_t len, size_t max_bytes)
{
	/* NUL bytes are dropped first (a C string cannot hold them, and the text after one
	 * is still the sender's); then invalid sequences become U+FFFD. */
	g_autofree char *nonul = g_malloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\0')
			nonul[n++] = s[i];
	nonul[n] = '\0';
	g_autofree char *valid = g_utf8_make_valid(nonul, (gssize)n);
	GString *out = g_string_sized_new(MIN(n, max_bytes) + 1);

	for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == '\r')
			continue; /* CRLF and lone CR become LF via the '\n' that follows or not */
		if (is_control(c) && c != '\n' && c != '\t')
			continue;
		const char *next = g_utf8_next_char(p);
		if (out->len + (size_t)(next - p) > max_bytes)
			break;
		g_string_append_len(out, p, next - p);
	}
	return g_string_free(out, FALSE);
}

char *wb_rfc2047_words(const char *text)
{
	enum { MAX_BYTES = 45 }; /* 60 base64 characters + 12 of framing: a 73-octet line */
	GString *out = g_string_new(NULL);
	const char *p = text;
	while (*p) {
		const char *best = NULL, *q = p;
		/* The longest run of whole characters within MAX_BYTES whose length is a
		 * multiple of three (or the rest of the text, when it all fits). */
		while (*q) {
			const char *next = g_utf8_next_char(q);
			if (next - p > MAX_BYTES)
				break;
			q = next;
			if ((q - p) % 3 == 0)
				best = q;
		}
		if (out->len)
			g_string_append(out, "\n ");
		if (*q && !best) {
			/* No cut of whole characters within reach is a multiple of three (one
			 * ASCII character among three-byte ones, as in "a বাংলা…"): the first
			 * character goes alone into a "Q" word, which no decoder joins with
			 * the "B" words around it, and the next word starts realigned. */
			const char *next = g_utf8_next_char(p);
			g_string_append(out, "=?UTF-8?Q?");
			for (; p < next; p++)
				if (g_ascii_isalnum(*p))
					g_string_append_c(out, *p);
				else if (*p == ' ')
					g_string_append_c(out, '_');
				else
					g_string_append_printf(out, "=%02X", (unsigned char)*p);
			g_string_append(out, "?=");
			continue;
		}
		const char *end = !*q ? q : best;
		g_autofree char *b64 = g_base64_encode((const guchar *)p, (gsize)(end - p));
		g_string_append_printf(out, "=?UTF-8?B?%s?=", b64);
		p = end;
	}
	return g_string_free(out, FALSE);
}

char *wb_double_text(double x)
{
	if (!isfinite(x))
		return g_strdup(isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
	/* The fewest significant digits that read back as x (17 always do), then as many
	 * decimals as those digits reach below the point. */
	char sci[G_ASCII_DTOSTR_BUF_SIZE], fmt[16];
	int digits = 0;
	do {
		digits++;
		g_snprintf(fmt, sizeof fmt, "%%.%de", digits - 1);
		g_ascii_formatd(sci, sizeof sci, fmt, x);
	} while (digits < 17 && g_ascii_strtod(sci, NULL) != x);
	int exponent = atoi(strchr(sci, 'e') + 1);
	g_snprintf(fmt, sizeof fmt, "%%.%df", MAX(digits - 1 - exponent, 0));
	char plain[400]; /* at most "-0." and 324 decimals, or "-" and 309 digits */
	return g_strdup(g_ascii_formatd(plain, sizeof plain, fmt, x));
}

bool wb_split_host_port(const char *s, char **host, bool *bracketed, guint16 *port)
{
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : "";
	guint64 n = 0;
	size_t end = colon ? (size_t)(colon - s) : strlen(s);
	*bracketed = end >= 2 && s[0] == '[' && s[end - 1] == ']';
	*host = *bracketed ? g_strndup(s + 1, end - 2) : g_strndup(s, end);
	*port = 0;
	if (strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) ||
	    !g_ascii_string_to_unsigned(p, 10, 1, 65535, &n, NULL))
		return false;
	*port = (guint16)n;
	return true;
}

bool wb_read_all(const char *path, size_t cap, GBytes **out, GError **error)
{
	bool from_stdin = !path || strcmp(path, "-") == 0;
	FILE *f = from_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot open %s: %s", path, g_strerror(errno));
		return false;
	}
	GByteArray *buf = g_byte_array_new();
	unsigned char chunk[65536];
	size_t n;
	bool ok = true;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf->len + n > cap) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "%s is larger than the limit of %zu bytes",
				    from_stdin ? "input" : path, cap);
			ok = false;
			break;
		}
		g_byte_array_append(buf, chunk, (guint)n);
	}
	if (ok && ferror(f)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot read %s: %s",
			    from_stdin ? "input" : path, g_strerror(errno));
		ok = false;
	}
	if (!from_stdin)
		fclose(f);
	if (!ok) {
		g_byte_array_unref(buf);
		return false;
	}
	*out = g_byte_array_free_to_bytes(buf);
	return true;
}

gint64 wb_now(void)
{
	const char *pin = g_getenv("WABRIDGE_NOW");
	if (pin && *pin)
		return g_ascii_strtoll(pin, NULL, 10);
	return g_get_real_time() / G_USEC_PER_SEC;
}

GDateTime *wb_local_time(gint64 t, const char *zone)
{
	g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(t);
	if (!utc)
		return NULL;
	g_autoptr(GTimeZone) tz = zone ? g_time_zone_new_identifier(zone) : NULL;
	if (!tz)
		tz = g_time_zone_new_utc();
	return g_date_time_to_timezone(utc, tz);
}

gint64 wb_local_hour_at(gint64 now, const char *zone, int day_offset, int hour)
{
	g_autoptr(GDateTime) local = wb_local_time(now, zone);
	if (!local)
		return G_MAXINT64;
	g_autoptr(GDateTime) day = g_date_time_add_days(local, day_offset);
	g_autoptr(GTimeZone) tz = zone ? g_time_zone_new_identifier(zone) : NULL;
	g_autoptr(GDateTime) at = g_date_time_new(tz ? tz : g_date_time_get_timezone(local),
						  g_date_time_get_year(day),
						  g_date_time_get_month(day),
						  g_date_time_get_day_of_month(day), hour, 0, 0);
	return at ? g_date_time_to_unix(at) : G_MAXINT64;
}

char *wb_local_text(gint64 t, const char *zone, const char *fmt)
{
	g_autoptr(GDateTime) local = wb_local_time(t, zone);
	char *out = local ? g_date_time_format(local, fmt) : NULL;
	return out ? out : g_strdup("?");
}

char *wb_name_addr(const char *name, const char *addr)
{
	return name ? g_strdup_printf("%s <%s>", name, addr) : g_strdup(addr);
}

char *wb_when_text(gint64 t, const char *zone)
{
	return wb_local_text(t, zone, "%-d %B %Y, %H:%M %Z");
}
