/* Unit tests for util: constant-time compare, signatures, tokens, header-safe text. */
#include "util.h"

#include <string.h>

static void test_ct_equal(void)
{
	g_assert_true(wb_ct_equal("abc", 3, "abc", 3));
	g_assert_false(wb_ct_equal("abc", 3, "abd", 3));
	g_assert_false(wb_ct_equal("abc", 3, "abcd", 4));
	g_assert_false(wb_ct_equal("", 0, "a", 1));
	g_assert_true(wb_ct_equal("", 0, "", 0));
}

static void test_signature(void)
{
	const char *body = "{\"object\":\"whatsapp_business_account\"}";
	/* Known answer, computed independently: HMAC-SHA256("s3cret", body). */
	g_autofree char *mac = wb_hmac_sha256_hex("s3cret", 6, body, strlen(body));
	g_assert_cmpuint(strlen(mac), ==, 64);
	g_autofree char *good = g_strconcat("sha256=", mac, NULL);
	g_autofree char *upper = g_ascii_strup(good, -1);
	char *upper_fixed = upper;
	memcpy(upper_fixed, "sha256=", 7);
	g_assert_true(wb_signature_ok("s3cret", good, body, strlen(body)));
	g_assert_true(wb_signature_ok("s3cret", upper_fixed, body, strlen(body)));
	g_assert_false(wb_signature_ok("s3cret", NULL, body, strlen(body)));
	g_assert_false(wb_signature_ok("s3cret", "", body, strlen(body)));
	g_assert_false(wb_signature_ok("s3cret", mac, body, strlen(body)));     /* no prefix */
	g_assert_false(wb_signature_ok("other", good, body, strlen(body)));     /* wrong key */
	g_assert_false(wb_signature_ok("s3cret", good, body, strlen(body) - 1)); /* changed body */
	g_autofree char *trunc = g_strndup(good, 70);
	g_assert_false(wb_signature_ok("s3cret", trunc, body, strlen(body)));
	g_autofree char *junk = g_strdup(good);
	junk[10] = 'z';
	g_assert_false(wb_signature_ok("s3cret", junk, body, strlen(body)));
}

/* The header's shape alone decides a 401 before the body is read. */
static const struct { const char *header; bool ok; } shapes[] = {
	{ "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true },
	{ "sha256=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", true },
	{ NULL, false },
	{ "", false },
	{ "sha256=", false },
	{ "sha256=00", false },
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false },
	{ "sha1=0123456789abcdef0123456789abcdef01234567", false },
	{ "SHA256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false },
	{ "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", false },
	{ "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", false },
	{ "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", false },
	{ "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef ", false },
	{ " sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false },
	{ "sha256= 123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false },
};

static void test_signature_shape(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
		if (wb_signature_shape_ok(shapes[i].header) != shapes[i].ok)
			g_error("shape of %s: want %s", shapes[i].header ? shapes[i].header : "(none)",
				shapes[i].ok ? "ok" : "refused");
		/* A header refused by its shape never verifies, whatever the body. */
		if (!shapes[i].ok)
			g_assert_false(wb_signature_ok("s3cret", shapes[i].header, "{}", 2));
	}
}

static void test_hmac_known_answer(void)
{
	/* RFC 4231 test case 2. */
	g_autofree char *mac = wb_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28);
	g_assert_cmpstr(mac, ==, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_reply_token(void)
{
	g_autofree char *a = wb_reply_token("secret", "BHP-2026-000001");
	g_autofree char *b = wb_reply_token("secret", "BHP-2026-000002");
	g_autofree char *c = wb_reply_token("other", "BHP-2026-000001");
	g_assert_cmpuint(strlen(a), ==, 10);
	g_assert_cmpstr(a, !=, b);
	g_assert_cmpstr(a, !=, c);
	g_autofree char *addr = wb_reply_address("complaint", "secret", "BHP-2026-000001",
						 "wa.police.example");
	g_autofree char *want = g_strdup_printf("complaint+BHP-2026-000001.%s@wa.police.example", a);
	g_assert_cmpstr(addr, ==, want);
}

static const struct { const char *in; size_t max; const char *out; } lines[] = {
	{ "plain", 78, "plain" },
	{ "  two  spaces\tand tab ", 78, "two spaces and tab" },
	{ "evil\r\nBcc: victim@example.org", 78, "evil Bcc: victim@example.org" },
	{ "nul-less\x01\x7f bell", 78, "nul-less bell" },
	{ "line\xe2\x80\xa8sep", 78, "line sep" },
	{ "abcdef", 3, "abc" },
	/* "ক্ষ" is KA + VIRAMA + SSA: one cluster, never cut inside. */
	{ "ab\xe0\xa6\x95\xe0\xa7\x8d\xe0\xa6\xb7", 3, "ab" },
	{ "ab\xe0\xa6\x95\xe0\xa7\x8d\xe0\xa6\xb7", 5, "ab\xe0\xa6\x95\xe0\xa7\x8d\xe0\xa6\xb7" },
	/* "কি" is KA + vowel sign I: the sign stays with its consonant. */
	{ "x\xe0\xa6\x95\xe0\xa6\xbf", 2, "x" },
	/* 👍🏽 (thumbs up + skin tone) stays whole. */
	{ "a\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 2, "a" },
	/* 🇮🇳 (two regional indicators) stays whole. */
	{ "a\xf0\x9f\x87\xae\xf0\x9f\x87\xb3", 2, "a" },
	{ "invalid \xff\xfe bytes", 78, "invalid \xef\xbf\xbd\xef\xbf\xbd bytes" },
	{ NULL, 10, "" },
};

static void test_clean_line(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
		g_autofree char *got = wb_clean_line(lines[i].in, lines[i].max);
		g_assert_cmpstr(got, ==, lines[i].out);
		g_assert_true(g_utf8_validate(got, -1, NULL));
		g_assert_null(strpbrk(got, "\r\n"));
	}
}

static void test_clean_text(void)
{
	const char raw[] = "line 1\r\nline\x00 2\x07\ttab";
	g_autofree char *t = wb_clean_text(raw, sizeof raw - 1, 1000);
	g_assert_cmpstr(t, ==, "line 1\nline 2\ttab"); /* NUL and BEL dropped, rest kept */
	g_autofree char *cut = wb_clean_text("\xe0\xa6\x95\xe0\xa6\x95", 6, 4);
	g_assert_cmpstr(cut, ==, "\xe0\xa6\x95"); /* never half a character */
}

static const struct { const char *in; bool keep_lines; const char *out; } escapes[] = {
	{ "plain text, বাংলা, हिन्दी 🙏", false, "plain text, বাংলা, हिन्दी 🙏" },
	/* A colour, a clear screen, a title (OSC ... BEL), CR, backspace. */
	{ "\x1b[31mred\x1b[2J", false, "\\x1b[31mred\\x1b[2J" },
	{ "\x1b]0;owned\x07", false, "\\x1b]0;owned\\x07" },
	{ "ok\rFAILED\b\b", false, "ok\\x0dFAILED\\x08\\x08" },
	{ "del\x7f", false, "del\\x7f" },
	/* C1 controls: CSI as a character (U+009B) and as a bare byte (not UTF-8). */
	{ "\xc2\x9b" "2J", false, "\\u009b2J" },
	{ "\x9b" "2J \xff", false, "\\x9b2J \\xff" },
	/* Bidirectional override and isolate, line separator, BOM. */
	{ "invoice\xe2\x80\xae" "fdp.exe", false, "invoice\\u202efdp.exe" },
	{ "\xe2\x81\xa6x\xe2\x81\xa9", false, "\\u2066x\\u2069" },
	{ "a\xe2\x80\xa8" "b\xef\xbb\xbf", false, "a\\u2028b\\ufeff" },
	/* A sequence cut short at the end. */
	{ "cut \xe0\xa6", false, "cut \\xe0\\xa6" },
	{ "two\nlines\tand tab", false, "two\\x0alines\\x09and tab" },
	{ "two\nlines\tand tab\r", true, "two\nlines\tand tab\\x0d" },
	{ NULL, false, "" },
};

static void test_escape_controls(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(escapes); i++) {
		g_autofree char *got = wb_escape_controls(escapes[i].in, escapes[i].keep_lines);
		g_assert_cmpstr(got, ==, escapes[i].out);
		g_assert_true(g_utf8_validate(got, -1, NULL));
	}
}

static void test_double_text(void)
{
	static const struct { double x; const char *out; } cases[] = {
		{ 22.5726459, "22.5726459" }, { -33.8688197, "-33.8688197" }, { 0.0, "0" },
		{ -0.0, "-0" }, { 88.0, "88" }, { 100.0, "100" }, { -180.0, "-180" },
		{ 0.1, "0.1" }, { 1e-7, "0.0000001" }, { -2.5e-8, "-0.000000025" },
		{ -179.99999999999997, "-179.99999999999997" }, { 1e21, "1000000000000000000000" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = wb_double_text(cases[i].x);
		g_assert_cmpstr(got, ==, cases[i].out);
	}
	/* Every double reads back as itself, the extremes included. */
	const double hard[] = { 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308,
				0.30000000000000004, 123456789.12345679 };
	for (size_t i = 0; i < G_N_ELEMENTS(hard); i++) {
		g_autofree char *got = wb_double_text(hard[i]);
		g_assert_true(g_ascii_strtod(got, NULL) == hard[i]);
		g_assert_null(strpbrk(got, "eE"));
	}
}

/* Encoded-words: whole characters, no base64 padding but in the last word (GMime joins
 * adjacent "B" words before decoding), a "Q" word where no aligned cut exists; decoding
 * all words gives the text back. */
static void test_rfc2047_words(void)
{
	GString *t = g_string_new("a");
	for (int i = 0; i < 6; i++)
		g_string_append(t, "ক্ষত্রিয় ক্ষত্রিয় ");
	g_autofree char *words = wb_rfc2047_words(t->str);
	g_auto(GStrv) list = g_strsplit(words, "\n ", -1);
	GString *back = g_string_new(NULL);
	bool q_seen = false;
	for (size_t i = 0; list[i]; i++) {
		const char *w = list[i];
		g_assert_cmpuint(strlen(w), <=, 75);
		g_assert_true(g_str_has_prefix(w, "=?UTF-8?") && g_str_has_suffix(w, "?="));
		g_autofree char *payload = g_strndup(w + 10, strlen(w) - 12);
		gsize before = back->len;
		if (w[8] == 'B') {
			g_assert_true(list[i + 1] == NULL || strchr(payload, '=') == NULL);
			gsize n;
			g_autofree guchar *d = g_base64_decode(payload, &n);
			g_string_append_len(back, (const char *)d, (gssize)n);
		} else {
			q_seen = true;
			for (const char *p = payload; *p; p++)
				if (*p == '=') {
					g_string_append_c(back, (char)g_ascii_strtoull((char[]){ p[1], p[2], 0 },
										 NULL, 16));
					p += 2;
				} else {
					g_string_append_c(back, *p == '_' ? ' ' : *p);
				}
		}
		g_assert_true(g_utf8_validate(back->str + before, (gssize)(back->len - before), NULL));
	}
	g_assert_true(q_seen);
	g_assert_cmpstr(back->str, ==, t->str);
	g_string_free(back, TRUE);
	g_string_free(t, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/util/ct_equal", test_ct_equal);
	g_test_add_func("/util/signature", test_signature);
	g_test_add_func("/util/signature_shape", test_signature_shape);
	g_test_add_func("/util/hmac_known_answer", test_hmac_known_answer);
	g_test_add_func("/util/reply_token", test_reply_token);
	g_test_add_func("/util/clean_line", test_clean_line);
	g_test_add_func("/util/clean_text", test_clean_text);
	g_test_add_func("/util/escape_controls", test_escape_controls);
	g_test_add_func("/util/double_text", test_double_text);
	g_test_add_func("/util/rfc2047_words", test_rfc2047_words);
	return g_test_run();
}
