/* mailtest: parse a rendered mail back with GMime and check its wire form, for the unit
 * tests of the renderers (header-only). */
#ifndef WB_MAILTEST_H
#define WB_MAILTEST_H

#include <glib.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <string.h>

static inline GMimeMessage *parse(GBytes *b)
{
	gsize len;
	const char *d = g_bytes_get_data(b, &len);
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(d, len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	g_assert_nonnull(msg);
	return msg;
}

/* Every line ends in CRLF, is at most 998 octets and holds no NUL, and the header block
 * is pure ASCII. */
static inline void assert_wire_form(GBytes *b)
{
	gsize len;
	const char *d = g_bytes_get_data(b, &len);
	const char *end = d + len, *line = d;
	bool in_header = true;
	g_assert_cmpuint(len, >, 0);
	g_assert_true(d[len - 1] == '\n');
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		g_assert_nonnull(nl);
		g_assert_true(nl > line && nl[-1] == '\r');
		g_assert_cmpint(nl - line - 1, <=, 998);
		if (nl - line == 1)
			in_header = false;
		for (const char *c = line; c < nl; c++) {
			g_assert_true(*c != '\0');
			g_assert_true(!in_header || (unsigned char)*c < 0x80);
		}
		line = nl + 1;
	}
}

/* The first text part of that subtype, decoded, with LF line ends. Newly allocated. */
static inline char *part_text(GMimeMessage *msg, const char *subtype)
{
	GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
	char *out = NULL;
	do {
		GMimeObject *o = g_mime_part_iter_get_current(it);
		GMimeContentType *ct = g_mime_object_get_content_type(o);
		if (GMIME_IS_TEXT_PART(o) && g_mime_content_type_is_type(ct, "text", subtype))
			out = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
	} while (!out && g_mime_part_iter_next(it));
	g_mime_part_iter_free(it);
	if (!out)
		g_error("the mail has no text/%s part", subtype);
	/* Text parts are canonical CRLF on the wire; compare with LF. */
	char *w = out;
	for (const char *r = out; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	return out;
}

/* A part's content, decoded. */
static inline GBytes *part_bytes(GMimePart *p)
{
	GMimeStream *s = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(p), s);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	GBytes *b = g_bytes_new(ba->data, ba->len);
	g_object_unref(s);
	return b;
}

/* The text a reader sees of an HTML body: the body's text without its tags (attributes
 * such as a cid: href are not seen), the basic entities undone. Newly allocated. */
static inline char *visible(const char *html)
{
	GString *out = g_string_new(NULL);
	const char *body = strstr(html, "<body");
	bool in_tag = false;
	for (const char *p = body ? body : html; *p; p++) {
		if (*p == '<')
			in_tag = true;
		else if (*p == '>')
			in_tag = false;
		else if (!in_tag)
			g_string_append_c(out, *p);
	}
	g_string_replace(out, "&lt;", "<", 0);
	g_string_replace(out, "&gt;", ">", 0);
	g_string_replace(out, "&quot;", "\"", 0);
	g_string_replace(out, "&amp;", "&", 0);
	return g_string_free(out, FALSE);
}

#endif
