/* render: build the station's mail for one WhatsApp message with GMime and libxml2.
 *
 * Design rationale: nothing from the payload is ever pasted into a header or markup as
 * raw text. Names and subjects go through wb_clean_line() (no controls, capped,
 * grapheme-safe) and then GMime, which encodes them (RFC 2047) and folds the lines;
 * body text goes into text nodes of a parsed HTML template, so libxml2 escapes it, and
 * a link in it is an <a> node built here, whose visible text is the URL as written.
 *
 * What a reader sees first is the state line (where the complaint stands, what to do),
 * then what the citizen sent; ids and hashes stay in headers, Content-Description and
 * the JSON, not in the body. The message object itself is attached as
 * whatsapp-message.json, so the mailbox alone is a record, but out of the way: inside
 * the HTML branch of the multipart/alternative (readable() says why). Media are real
 * attachments next to it in multipart/mixed (mail_body()). */
#include "render.h"
#include "caps.h"
#include "util.h"
#include "view.h"
#include "webhook.h"

#include <gmime/gmime.h>
#include <jansson.h>
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/xmlsave.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small pure helpers ------------------------------------------------------------- */

char *wb_format_phone(const char *digits)
{
	if (!wb_is_digits(digits, 32))
		return g_strdup(digits ? digits : "");
	if (strlen(digits) == 12 && g_str_has_prefix(digits, "91"))
		return g_strdup_printf("+91 %.5s %.5s", digits + 2, digits + 7);
	return g_strdup_printf("+%s", digits);
}

/* ---- bodies from templates ---------------------------------------------------------- */

/* Replace {{name}} markers of tpl in one pass, appending to out; unknown names become
 * empty. */
static void fill_markers(GString *out, const char *tpl, GHashTable *values)
{
	const char *p = tpl;
	while (*p) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		if (!close) {
			g_string_append(out, p);
			break;
		}
		g_string_append_len(out, p, open - p);
		g_autofree char *name = g_strndup(open + 2, (gsize)(close - open - 2));
		const char *v = g_hash_table_lookup(values, g_strstrip(name));
		if (v)
			g_string_append(out, v);
		p = close + 2;
	}
}

static char *fill_text(const char *tpl, GHashTable *values)
{
	GString *out = g_string_sized_new(strlen(tpl) + 1024);
	fill_markers(out, tpl, values);
	return g_string_free(out, FALSE);
}

/* The name of a line that is exactly "{{<mark>name}}" (mark "?" or "/", or "" for a plain
 * marker), else NULL. Newly allocated. */
static char *line_marker(const char *line, const char *mark)
{
	size_t n = strlen(line), m = strlen(mark);
	if (n < 4 + m + 1 || strncmp(line, "{{", 2) || strncmp(line + 2, mark, m) ||
	    strcmp(line + n - 2, "}}"))
		return NULL;
	char *name = g_strndup(line + 2 + m, n - 4 - m);
	if (strpbrk(name, "{}?/") || !*g_strstrip(name))
		g_clear_pointer(&name, g_free);
	return name;
}

static bool has_value(GHashTable *values, const char *name)
{
	const char *v = g_hash_table_lookup(values, name);
	return v && *v;
}

/* A mail body from its text template, line by line (see render.h): sections
 * "{{?name}}" … "{{/name}}" kept only when name has a value, a line that is one empty
 * marker dropped, and the template's blank lines never doubled nor leading, so that
 * what is left out leaves no gap. Values are written as they are. */
static char *fill_body(const char *tpl, GHashTable *values)
{
	GString *out = g_string_sized_new(strlen(tpl) + 1024);
	g_auto(GStrv) lines = g_strsplit(tpl, "\n", -1);
	g_autofree char *skip = NULL; /* the section being left out */
	for (char **l = lines; *l; l++) {
		g_strchomp(*l); /* also a CR of a template written on Windows */
		g_autofree char *open = line_marker(*l, "?"), *close = line_marker(*l, "/");
		g_autofree char *only = line_marker(*l, "");
		if (skip) {
			if (close && strcmp(close, skip) == 0)
				g_clear_pointer(&skip, g_free);
			continue;
		}
		if (open && !has_value(values, open))
			skip = g_steal_pointer(&open);
		if (open || close || skip || (only && !has_value(values, only)))
			continue;
		if (!**l && (out->len == 0 || g_str_has_suffix(out->str, "\n\n")))
			continue;
		fill_markers(out, *l, values);
		if (l[1])
			g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}

/* ---- links in the citizen's text ---------------------------------------------------- */

/* Characters a link runs through: printable ASCII but for space and <>"`\^{}|, and
 * letters, digits and marks of other scripts (a Bengali path); any other punctuation,
 * symbol (emoji), space or format character ends it. */
static bool url_char(gunichar c)
{
	if (c < 0x80)
		return c > 0x20 && c < 0x7f && !strchr("<>\"`\\^{}|", (int)c);
	if (g_unichar_isalnum(c))
		return true;
	switch (g_unichar_type(c)) {
	case G_UNICODE_NON_SPACING_MARK:
	case G_UNICODE_SPACING_MARK:
	case G_UNICODE_ENCLOSING_MARK:
		return true;
	default:
		return false;
	}
}

/* Where a link may start: not inside a word or another URL. */
static bool link_may_start(const char *text, const char *p)
{
	if (p == text)
		return true;
	const char *prev = g_utf8_find_prev_char(text, p);
	gunichar c = prev ? g_utf8_get_char(prev) : ' ';
	return !(c < 0x80 && (g_ascii_isalnum((char)c) || strchr("@.:/_-+&=%~#?", (int)c)));
}

/* The length of the link prefix at p ("http://", "https://", "www."), 0 if none. */
static size_t link_prefix(const char *p)
{
	static const char *const prefixes[] = { "https://", "http://", "www." };
	for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++) {
		size_t n = strlen(prefixes[i]);
		if (g_ascii_strncasecmp(p, prefixes[i], n) == 0) {
			gunichar host = g_utf8_get_char_validated(p + n, -1);
			return host != (gunichar)-1 && host != (gunichar)-2 && host &&
			       g_unichar_isalnum(host) ? n : 0;
		}
	}
	return 0;
}

static size_t count_char(const char *s, size_t len, char c)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/* Drop what ends a sentence rather than the URL: .,;:!?'"*_~ and a closing bracket
 * that has no opening one in the URL. */
static size_t trim_link(const char *s, size_t len, size_t min)
{
	static const char pairs[][2] = { { '(', ')' }, { '[', ']' } };
	for (bool again = true; again && len > min;) {
		again = false;
		char last = s[len - 1];
		if (strchr(".,;:!?'\"*_~", last)) {
			len--;
			again = true;
		}
		for (size_t i = 0; !again && i < G_N_ELEMENTS(pairs); i++)
			if (last == pairs[i][1] &&
			    count_char(s, len, pairs[i][1]) > count_char(s, len, pairs[i][0])) {
				len--;
				again = true;
			}
	}
	return len;
}

bool wb_next_link(const char *text, size_t from, size_t *start, size_t *end)
{
	const char *p = text + from;
	while (*p) {
		size_t pre = link_may_start(text, p) ? link_prefix(p) : 0;
		if (!pre) {
			p = g_utf8_next_char(p);
			continue;
		}
		const char *e = p;
		while (*e && url_char(g_utf8_get_char(e)))
			e = g_utf8_next_char(e);
		size_t len = trim_link(p, (size_t)(e - p), pre);
		if (len > pre && len <= WB_MAX_LINK_BYTES) {
			*start = (size_t)(p - text);
			*end = *start + len;
			return true;
		}
		p = e; /* too long, or nothing after the prefix: all of it stays text */
	}
	return false;
}

char *wb_link_href(const char *link, size_t len)
{
	return g_ascii_strncasecmp(link, "www.", 4) == 0 ? g_strdup_printf("https://%.*s", (int)len,
									       link)
							 : g_strndup(link, len);
}

/* text as the children of parent: text nodes, and each link an <a href> whose own text
 * is the link exactly as written. Built node by node, so nothing in text is markup. */
static void add_linked_text(xmlNode *parent, const char *text)
{
	size_t from = 0, start, end;
	while (wb_next_link(text, from, &start, &end)) {
		if (start > from)
			xmlAddChild(parent, xmlNewTextLen((const xmlChar *)text + from, (int)(start - from)));
		g_autofree char *href = wb_link_href(text + start, end - start);
		xmlNode *a = xmlNewNode(NULL, (const xmlChar *)"a");
		xmlSetProp(a, (const xmlChar *)"href", (const xmlChar *)href);
		xmlAddChild(a, xmlNewTextLen((const xmlChar *)text + start, (int)(end - start)));
		xmlAddChild(parent, a);
		from = end;
	}
	xmlAddChild(parent, xmlNewText((const xmlChar *)text + from));
}

/* data-wb-src="field" → src="cid:VALUE"; data-wb-cid="field" → href="cid:VALUE";
 * data-wb-href="field" → href="VALUE" when it is an https URL. Values are ours (a
 * Content-ID, a map link built from numbers); the prefix check keeps anything else out
 * of a link. */
static void set_link(xmlNode *node, const char *marker, const char *attr, const char *prefix,
		     GHashTable *values)
{
	xmlChar *field = xmlGetProp(node, (const xmlChar *)marker);
	if (!field)
		return;
	const char *v = g_hash_table_lookup(values, (const char *)field);
	xmlFree(field);
	xmlUnsetProp(node, (const xmlChar *)marker);
	if (!v || !*v)
		return;
	g_autofree char *value = strcmp(prefix, "cid:") == 0 ? g_strconcat(prefix, v, NULL)
			: g_str_has_prefix(v, prefix) ? g_strdup(v) : NULL;
	if (value)
		xmlSetProp(node, (const xmlChar *)attr, (const xmlChar *)value);
}

static void fill_nodes(xmlNode *node, GHashTable *values)
{
	xmlNode *next;
	for (; node; node = next) {
		next = node->next;
		if (node->type != XML_ELEMENT_NODE)
			continue;
		xmlChar *cond = xmlGetProp(node, (const xmlChar *)"data-wb-if");
		if (cond) {
			const char *v = g_hash_table_lookup(values, (const char *)cond);
			xmlFree(cond);
			if (!v || !*v) {
				xmlUnlinkNode(node);
				xmlFreeNode(node);
				continue;
			}
			xmlUnsetProp(node, (const xmlChar *)"data-wb-if");
		}
		set_link(node, "data-wb-src", "src", "cid:", values);
		set_link(node, "data-wb-cid", "href", "cid:", values);
		set_link(node, "data-wb-href", "href", "https://", values);
		xmlChar *field = xmlGetProp(node, (const xmlChar *)"data-wb-links");
		if (field) {
			const char *v = g_hash_table_lookup(values, (const char *)field);
			xmlFree(field);
			xmlUnsetProp(node, (const xmlChar *)"data-wb-links");
			xmlNodeSetContent(node, NULL);
			add_linked_text(node, v ? v : "");
			continue;
		}
		field = xmlGetProp(node, (const xmlChar *)"data-wb");
		if (field) {
			const char *v = g_hash_table_lookup(values, (const char *)field);
			xmlFree(field);
			xmlUnsetProp(node, (const xmlChar *)"data-wb");
			/* Clear, then add a text node: xmlNodeAddContent never interprets markup. */
			xmlNodeSetContent(node, NULL);
			xmlNodeAddContent(node, (const xmlChar *)(v ? v : ""));
			continue;
		}
		fill_nodes(node->children, values);
	}
}

char *wb_html_dump(xmlDoc *doc)
{
	/* Serialise as UTF-8 text, not numeric entities, so the HTML part stays searchable. */
	xmlOutputBufferPtr ob = xmlAllocOutputBuffer(xmlFindCharEncodingHandler("UTF-8"));
	htmlDocContentDumpFormatOutput(ob, doc, "UTF-8", 0);
	xmlOutputBufferFlush(ob);
	xmlBufPtr data = ob->conv ? ob->conv : ob->buffer;
	char *out = g_strndup((const char *)xmlBufContent(data), xmlBufUse(data));
	xmlOutputBufferClose(ob);
	return out;
}

static char *fill_html(const char *tpl, GHashTable *values, GError **error)
{
	htmlDocPtr doc = htmlReadMemory(tpl, (int)strlen(tpl), NULL, "UTF-8",
					HTML_PARSE_NONET | HTML_PARSE_NOERROR |
					HTML_PARSE_NOWARNING | HTML_PARSE_NOBLANKS);
	if (!doc || !xmlDocGetRootElement(doc)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "the HTML mail template cannot be parsed");
		if (doc)
			xmlFreeDoc(doc);
		return NULL;
	}
	fill_nodes(xmlDocGetRootElement(doc), values);
	char *out = wb_html_dump(doc);
	xmlFreeDoc(doc);
	return out;
}

/* ---- the mail ----------------------------------------------------------------------- */

static GDateTime *message_time(const struct wb_render_in *in)
{
	return wb_local_time(in->msg->ts ? in->msg->ts : in->msg->received_at, in->timezone);
}

/* The sender as shown: the cleaned profile name (may be "") and "(+91 98300 12345)". */
static void sender_parts(const struct wb_msg *m, char **name, char **who)
{
	g_autofree char *number = m->wa_id ? wb_format_phone(m->wa_id) : g_strdup(m->sender);
	*name = wb_clean_line(m->profile_name, WB_MAX_NAME_CHARS);
	*who = g_strdup_printf("(%s)", number);
}

static bool needs_encoding(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return true;
	return strstr(s, "=?") != NULL;
}

/* Set a header whose folded wire form we write ourselves (GMime still parses the plain
 * value, so the message object agrees with what is written). */
static void set_raw_header(GMimeObject *o, const char *name, const char *value, const char *raw)
{
	g_mime_object_set_header(o, name, value, "utf-8");
	GMimeHeader *h = g_mime_header_list_get_header(g_mime_object_get_header_list(o), name);
	g_autofree char *folded = g_strconcat(raw, "\n", NULL);
	g_mime_header_set_raw_value(h, folded);
}

/* An address header with one mailbox whose display name is name + " " + suffix.
 * A non-ASCII name becomes encoded-words from wb_rfc2047_words() (see there why not
 * GMime's encoder); the ASCII suffix follows as a quoted-string, so that no decoder has
 * to join encoded-words inside a phrase (some insert a space there). */
void wb_mail_set_mailbox(GMimeMessage *mail, const char *header, const char *name,
				 const char *suffix, const char *addr)
{
	GMimeObject *o = GMIME_OBJECT(mail);
	g_autofree char *display = suffix && *name ? g_strdup_printf("%s %s", name, suffix)
						 : g_strdup(suffix ? suffix : name);
	InternetAddress *ia = internet_address_mailbox_new(display, addr);
	g_autofree char *plain = internet_address_to_string(ia, NULL, FALSE);
	g_object_unref(ia);
	if (!needs_encoding(name)) {
		g_mime_object_set_header(o, header, plain, NULL);
		return;
	}
	g_autofree char *words = wb_rfc2047_words(name);
	g_autofree char *raw = suffix ? g_strdup_printf(" %s \"%s\"\n <%s>", words, suffix, addr)
				      : g_strdup_printf(" %s\n <%s>", words, addr);
	set_raw_header(o, header, plain, raw);
}

/* "Subject: [REF] summary": a non-ASCII summary as our own encoded-words, on a line of
 * its own after the ASCII reference. */
void wb_mail_set_subject(GMimeMessage *mail, const char *ref, const char *summary)
{
	g_autofree char *subject = ref ? g_strdup_printf("[%s] %s", ref, summary)
				       : g_strdup(summary);
	if (!needs_encoding(summary)) {
		g_mime_message_set_subject(mail, subject, "utf-8");
		return;
	}
	g_autofree char *words = wb_rfc2047_words(summary);
	g_autofree char *raw = ref ? g_strdup_printf(" [%s]\n %s", ref, words)
				   : g_strdup_printf(" %s", words);
	set_raw_header(GMIME_OBJECT(mail), "Subject", subject, raw);
}

void wb_mail_add_header(GMimeObject *o, const char *name, const char *value)
{
	g_autofree char *clean = wb_clean_line(value, 900);
	g_mime_object_set_header(o, name, clean, "utf-8");
}

static void set_headers(GMimeMessage *mail, const struct wb_render_in *in, const char *summary,
			GDateTime *when)
{
	const struct wb_msg *m = in->msg;
	const struct wb_station *st = in->station;
	GMimeObject *o = GMIME_OBJECT(mail);

	wb_mail_set_subject(mail, m->ref, summary);
	g_mime_message_set_date(mail, when);
	g_autofree char *msgid = wb_message_id(m->wamid, in->domain);
	g_mime_message_set_message_id(mail, msgid);
	g_autofree char *local = g_ascii_strdown(m->sender, -1);
	g_autofree char *from = g_strdup_printf("wa-%s@%s", local, in->domain);
	g_autofree char *name = NULL, *who = NULL;
	sender_parts(m, &name, &who);
	wb_mail_set_mailbox(mail, "From", name, who, from);
	g_autofree char *station = wb_clean_line(st->name, 200);
	wb_mail_set_mailbox(mail, "To", station, NULL, st->address);
	g_mime_message_add_mailbox(mail, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, in->reply_to);

	if (m->thread_root) {
		g_autofree char *root = wb_message_id(m->thread_root, in->domain);
		g_autofree char *parent = m->reply_parent && strcmp(m->reply_parent, m->thread_root)
			? wb_message_id(m->reply_parent, in->domain) : NULL;
		g_autofree char *irt = g_strdup_printf("<%s>", parent ? parent : root);
		g_autofree char *refs = parent ? g_strdup_printf("<%s> <%s>", root, parent)
					       : g_strdup_printf("<%s>", root);
		g_mime_object_set_header(o, "In-Reply-To", irt, NULL);
		g_mime_object_set_header(o, "References", refs, NULL);
	}
	g_mime_object_set_header(o, "Auto-Submitted", "auto-generated", NULL);
	wb_mail_add_header(o, "X-WhatsApp-Message-Id", m->wamid);
	wb_mail_add_header(o, "X-WhatsApp-From", m->sender);
	wb_mail_add_header(o, "X-WhatsApp-Phone-Number-Id", m->phone_number_id);
	wb_mail_add_header(o, "X-WhatsApp-Type", m->type);
	wb_mail_add_header(o, "X-Complaint-Ref", m->ref);
	wb_mail_add_header(o, "X-Station", st->key);
	wb_mail_add_header(o, "X-Payload-SHA256", m->payload_sha256);
}

static GMimePart *text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);
	g_mime_text_part_set_text(p, text);
	return GMIME_PART(p);
}

/* The JSON record: an attachment (so a client offers to save it) with a Content-ID (so
 * the HTML can link to it inside multipart/related). */
static GMimePart *json_part(const char *json, const char *cid)
{
	json_t *v = json_loads(json, JSON_ALLOW_NUL, NULL);
	char *pretty = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				       JSON_REAL_PRECISION(15)) : NULL;
	const char *body = pretty ? pretty : json;
	GMimePart *p = g_mime_part_new_with_type("application", "json");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(p), "charset", "utf-8");
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(body, strlen(body));
	GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_object_unref(s);
	g_mime_part_set_filename(p, "whatsapp-message.json");
	g_mime_object_set_disposition(GMIME_OBJECT(p), GMIME_DISPOSITION_ATTACHMENT);
	g_mime_part_set_content_description(p, "whatsapp-message.json; the WhatsApp message object "
						  "as received");
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_part_set_content_id(p, cid);
	free(pretty);
	json_decref(v);
	return p;
}

static void put(GHashTable *v, const char *key, char *value)
{
	g_hash_table_insert(v, (gpointer)key, value);
}

static char *human_size(gsize n)
{
	return g_format_size_full(n, G_FORMAT_SIZE_IEC_UNITS);
}

/* "- photo-20261015-133000.jpg (image/jpeg, 12.3 KiB)" one a line: what a reader needs
 * to find a file; hashes are for the archivist, in Content-Description and the JSON. */
static char *attachment_lines(const struct wb_view *v)
{
	GString *out = g_string_new(NULL);
	for (guint i = 0; i < v->attachments->len; i++) {
		const struct wb_attachment *a = v->attachments->pdata[i];
		g_autofree char *size = human_size(g_bytes_get_size(a->data));
		g_string_append_printf(out, "%s- %s (%s, %s)", i ? "\n" : "", a->filename,
				       a->mime_type, size);
	}
	return g_string_free(out, FALSE);
}

/* The state line(s) the caller gives, as clean text of a few lines; "" when blank. */
static char *state_text(const char *state)
{
	return state ? g_strstrip(wb_clean_text(state, strlen(state), WB_MAX_STATE_BYTES))
		     : g_strdup("");
}

#define JSON_NAME "whatsapp-message.json"
#define REGISTER_HINT "To register this complaint, reply to this mail with the complaint " \
	"number (for example \u201cComplaint No. 123/2026\u201d); wabridge sends it to the citizen."

/* The values the templates can show. All strings are cleaned UTF-8. */
static GHashTable *template_values(const struct wb_render_in *in, const struct wb_view *v,
				   const char *display, GDateTime *when, const char *json_cid)
{
	const struct wb_msg *m = in->msg;
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	char *state = state_text(in->state_line);
	put(t, "hint", g_strdup(*state ? "" : REGISTER_HINT));
	put(t, "state", state);
	put(t, "ref", g_strdup(m->ref));
	put(t, "station", wb_clean_line(in->station->name, 200));
	put(t, "sender", g_strdup(display));
	put(t, "when", g_date_time_format(when, WB_WHEN_FORMAT));
	put(t, "type_label", g_strdup(v->label));
	put(t, "text", g_strdup(v->text));
	put(t, "details", g_strdup(v->details));
	put(t, "forwarded", g_strdup(m->forwarded ?
		"Forwarded message: the citizen forwarded this, they did not write it." : ""));
	put(t, "notice", g_strdup(v->notice));
	put(t, "attachments", attachment_lines(v));
	put(t, "map_url", g_strdup(v->map_url ? v->map_url : ""));
	put(t, "json_name", g_strdup(JSON_NAME));
	put(t, "json_cid", g_strdup(json_cid));
	return t;
}

/* Where a part's bytes are read from when the mail is written: the attachment's file
 * when it has one (a spooled medium: read a block at a time, never held), else a copy of
 * its bytes. A file that cannot be opened reads as nothing; its write then fails
 * (wb_render_mail_to_fd() checks the part's size). */
static GMimeStream *content_stream(const struct wb_attachment *a, GError **error)
{
	if (a->path) {
		int fd = open(a->path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return g_mime_stream_fs_new(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot read %s: %s",
			    a->path, g_strerror(errno));
		return NULL;
	}
	gsize len;
	const void *data = g_bytes_get_data(a->data, &len);
	return g_mime_stream_mem_new_with_buffer(data, len);
}

/* A media attachment with its original bytes; the SHA-256 in Content-Description. The
 * file name goes through GMime, which writes it RFC 2231-encoded when not ASCII. NULL
 * with error when its file cannot be opened. */
static GMimePart *media_part(const struct wb_attachment *a, const char *cid, GError **error)
{
	GMimeStream *s = content_stream(a, error);
	if (!s)
		return NULL;
	GMimeContentType *ct = g_mime_content_type_parse(NULL, a->mime_type);
	GMimePart *p = g_mime_part_new_with_type(g_mime_content_type_get_media_type(ct),
						 g_mime_content_type_get_media_subtype(ct));
	GMimeParamList *params = g_mime_content_type_get_parameters(ct);
	for (int i = 0; i < g_mime_param_list_length(params); i++) {
		GMimeParam *prm = g_mime_param_list_get_parameter_at(params, i);
		g_mime_object_set_content_type_parameter(GMIME_OBJECT(p), g_mime_param_get_name(prm),
							 g_mime_param_get_value(prm));
	}
	g_object_unref(ct);
	GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_object_unref(s);
	g_mime_part_set_filename(p, a->filename);
	g_mime_object_set_disposition(GMIME_OBJECT(p), cid ? GMIME_DISPOSITION_INLINE
							   : GMIME_DISPOSITION_ATTACHMENT);
	/* The name first (clients that show a description show it instead of the file
	 * name), then the hash an archivist checks. */
	g_autofree char *desc = g_strdup_printf("%s; SHA-256 %s", a->filename, a->sha256);
	if (needs_encoding(a->filename)) {
		g_autofree char *named = g_strconcat(a->filename, ";", NULL);
		g_autofree char *words = wb_rfc2047_words(named);
		g_autofree char *raw = g_strdup_printf(" %s\n SHA-256 %s", words, a->sha256);
		set_raw_header(GMIME_OBJECT(p), "Content-Description", desc, raw);
	} else {
		g_mime_part_set_content_description(p, desc);
	}
	/* base64 for every medium, text too: quoted-printable would turn a text file's LF
	 * into CRLF on the way, and the bytes would no longer match their SHA-256. */
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	if (cid)
		g_mime_part_set_content_id(p, cid);
	return p;
}

GMimePart *wb_mail_media_part(const struct wb_attachment *a, const char *cid)
{
	return media_part(a, cid, NULL);
}

GBytes *wb_mail_serialize(GMimeMessage *mail)
{
	GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	GByteArray *buf = g_byte_array_new();
	GMimeStream *s = g_mime_stream_mem_new_with_byte_array(buf);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	g_mime_object_write_to_stream(GMIME_OBJECT(mail), fo, s);
	g_object_unref(s);
	g_mime_format_options_free(fo);
	return g_byte_array_free_to_bytes(buf);
}

/* The readable part, and the JSON record out of the reader's way:
 *
 *   multipart/alternative
 *     text/plain
 *     multipart/related; type="text/html"
 *       text/html               (its footer links to the record by cid:)
 *       application/json        (attachment; Content-ID)
 *
 * Not multipart/mixed: Thunderbird marks every top-level multipart/mixed with a paperclip,
 * and a complaint of text alone has nothing a reader would open. Not a top-level
 * multipart/related around the alternative either: mutt (and other readers that take
 * multipart/related for mixed) then print the record's attachment banner under the text.
 * Inside the HTML branch, a reader that shows the plain text never meets the record, an
 * HTML reader shows the body and a link to it, and every client's attachment view (mutt's
 * "v") still lists it. record may be NULL: then plain and HTML alone. New reference. */
static GMimeObject *readable(const char *plain, const char *html, GMimePart *record)
{
	GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
	GMimePart *p1 = text_part("plain", plain), *p2 = text_part("html", html);
	g_mime_multipart_add(alt, GMIME_OBJECT(p1));
	g_object_unref(p1);
	if (!record) {
		g_mime_multipart_add(alt, GMIME_OBJECT(p2));
		g_object_unref(p2);
		return GMIME_OBJECT(alt);
	}
	GMimeMultipart *rel = g_mime_multipart_new_with_subtype("related");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(rel), "type", "text/html");
	g_mime_multipart_add(rel, GMIME_OBJECT(p2));
	g_mime_multipart_add(rel, GMIME_OBJECT(record));
	g_object_unref(p2);
	g_mime_multipart_add(alt, GMIME_OBJECT(rel));
	g_object_unref(rel);
	return GMIME_OBJECT(alt);
}

GMimeObject *wb_mail_alternative(const char *plain, const char *html)
{
	return readable(plain, html, NULL);
}

/* The readable part alone, or, when there are files, multipart/mixed of it and each
 * file as an attachment: every client lists those and saves one with a click, and
 * Thunderbird and Roundcube show an image attachment under the body. Images are not
 * shown inline by cid as well: that needs them inside multipart/related, where
 * Thunderbird leaves them out of the attachment list, and the bytes are not sent twice. */
static GMimeObject *mail_body(GMimeObject *body, const GPtrArray *files, GError **error)
{
	if (!files || files->len == 0)
		return g_object_ref(body);
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mixed, body);
	for (guint i = 0; i < files->len; i++) {
		GMimePart *p = media_part(files->pdata[i], NULL, error);
		if (!p) {
			g_object_unref(mixed);
			return NULL;
		}
		g_mime_multipart_add(mixed, GMIME_OBJECT(p));
		g_object_unref(p);
	}
	return GMIME_OBJECT(mixed);
}

/* The body of the mail, 7bit: GMime picks quoted-printable or base64 per part, which
 * also keeps every line under 998 octets whatever the citizen wrote. Takes top. */
static void set_body(GMimeMessage *mail, GMimeObject *top)
{
	g_mime_message_set_mime_part(mail, top);
	g_mime_object_encode(top, GMIME_ENCODING_CONSTRAINT_7BIT);
	g_object_unref(top);
}

/* The mail on the wire. Takes mail and top. */
static GBytes *finish(GMimeMessage *mail, GMimeObject *top)
{
	set_body(mail, top);
	GBytes *out = wb_mail_serialize(mail);
	g_object_unref(mail);
	return out;
}

/* The mail of a message. NULL with error on a broken template or a medium's file that
 * cannot be opened. */
static GMimeMessage *build_mail(const struct wb_render_in *in, GError **error)
{
	const struct wb_msg *m = in->msg;
	struct wb_media_in media = { .data = m->media, .path = in->media_path,
				     .mime_type = m->media_mime, .sha256_hex = m->media_sha256,
				     .error = m->media_error };
	struct wb_view *v = wb_view_build(m->type, m->json, &media, m->ts ? m->ts : m->received_at,
					  in->timezone);
	if (in->reaction_target && *in->reaction_target)
		wb_view_set_reaction_target(v, in->reaction_target);
	g_autoptr(GDateTime) when = message_time(in);
	g_autofree char *name = NULL, *who = NULL;
	sender_parts(m, &name, &who);
	g_autofree char *display = *name ? g_strdup_printf("%s %s", name, who) : g_strdup(who);
	g_autofree char *msgid = wb_message_id(m->wamid, in->domain);
	g_autofree char *cid = g_strconcat("record.", msgid, NULL);
	g_autoptr(GHashTable) values = template_values(in, v, display, when, cid);
	g_autofree char *plain = fill_body(in->tpl->text, values);
	g_autofree char *html = fill_html(in->tpl->html, values, error);
	if (!html) {
		wb_view_free(v);
		return NULL;
	}
	GMimePart *record = json_part(m->json, cid);
	GMimeObject *body = readable(plain, html, record);
	g_object_unref(record);
	GMimeObject *top = mail_body(body, v->attachments, error);
	g_object_unref(body);
	if (!top) {
		wb_view_free(v);
		return NULL;
	}
	GMimeMessage *mail = g_mime_message_new(FALSE);
	set_headers(mail, in, v->summary, when);
	wb_view_free(v);
	set_body(mail, top);
	return mail;
}

GBytes *wb_render_mail(const struct wb_render_in *in, GError **error)
{
	GMimeMessage *mail = build_mail(in, error);
	if (!mail)
		return NULL;
	GBytes *out = wb_mail_serialize(mail);
	g_object_unref(mail);
	return out;
}

/* Through a buffer of a block at a time: GMime's filters hand on a few kB per write. */
bool wb_render_mail_to_fd(const struct wb_render_in *in, int fd, GError **error)
{
	GMimeMessage *mail = build_mail(in, error);
	if (!mail)
		return false;
	GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	GMimeStream *file = g_mime_stream_fs_new(fd);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(file), FALSE);
	GMimeStream *s = g_mime_stream_buffer_new(file, GMIME_STREAM_BUFFER_BLOCK_WRITE);
	errno = 0;
	bool ok = g_mime_object_write_to_stream(GMIME_OBJECT(mail), fo, s) >= 0 &&
		  g_mime_stream_flush(s) == 0;
	int err = errno ? errno : EIO;
	g_object_unref(s);
	g_object_unref(file);
	g_mime_format_options_free(fo);
	g_object_unref(mail);
	if (!ok)
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot write the mail: %s", g_strerror(err));
	return ok;
}

/* ---- the bridge's own notes ---------------------------------------------------------- */

char *wb_fill_text(const char *tpl, const char *const *fields)
{
	g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	for (size_t i = 0; fields[i] && fields[i + 1]; i += 2)
		put(values, fields[i], g_strdup(fields[i + 1]));
	return fill_text(tpl, values);
}

static GMimePart *named_json_part(const char *name, const char *json, const char *cid)
{
	GMimePart *p = json_part(json, cid);
	g_mime_part_set_filename(p, name);
	g_autofree char *desc = g_strdup_printf("%s; exactly what the bridge sent to the "
						"WhatsApp Cloud API", name);
	g_mime_part_set_content_description(p, desc);
	return p;
}

GBytes *wb_render_note(const struct wb_note_in *in, GError **error)
{
	g_autoptr(GDateTime) when = wb_local_time(in->when, in->timezone);
	g_autoptr(GHashTable) v = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	g_autofree char *cid = in->json ? g_strconcat("record.", in->message_id, NULL) : NULL;
	put(v, "state", state_text(in->state_line));
	put(v, "json_name", in->json ? wb_safe_filename(in->json_name, "record.json") : g_strdup(""));
	put(v, "json_cid", g_strdup(cid ? cid : ""));
	put(v, "title", wb_clean_line(in->title, 300));
	put(v, "ref", g_strdup(in->ref));
	put(v, "station", wb_clean_line(in->station->name, 200));
	put(v, "when", g_date_time_format(when, WB_WHEN_FORMAT));
	put(v, "body", wb_clean_text(in->body, strlen(in->body), 64 * 1024));
	put(v, "sent_label", g_strdup(in->sent ? in->sent_label : ""));
	put(v, "sent", in->sent ? wb_clean_text(in->sent, strlen(in->sent), 64 * 1024)
			      : g_strdup(""));
	g_autofree char *plain = fill_body(in->tpl->note_text, v);
	g_autofree char *html = fill_html(in->tpl->note_html, v, error);
	if (!html)
		return NULL;

	GMimeMessage *mail = g_mime_message_new(FALSE);
	GMimeObject *o = GMIME_OBJECT(mail);
	g_autofree char *summary = wb_clean_line(in->summary, 200);
	wb_mail_set_subject(mail, in->ref, summary);
	g_mime_message_set_date(mail, when);
	g_mime_message_set_message_id(mail, in->message_id);
	g_autofree char *from = g_strdup_printf("wabridge@%s", in->domain);
	wb_mail_set_mailbox(mail, "From", "WhatsApp bridge", NULL, from);
	g_autofree char *station = wb_clean_line(in->station->name, 200);
	wb_mail_set_mailbox(mail, "To", station, NULL, in->station->address);
	if (in->reply_to)
		g_mime_message_add_mailbox(mail, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, in->reply_to);
	if (in->thread_root) {
		g_autofree char *root = wb_message_id(in->thread_root, in->domain);
		g_autofree char *ref = g_strdup_printf("<%s>", root);
		g_mime_object_set_header(o, "In-Reply-To", ref, NULL);
		g_mime_object_set_header(o, "References", ref, NULL);
	}
	g_mime_object_set_header(o, "Auto-Submitted", "auto-generated", NULL);
	wb_mail_add_header(o, "X-Complaint-Ref", in->ref);
	wb_mail_add_header(o, "X-Station", in->station->key);
	for (size_t i = 0; in->headers && in->headers[i] && in->headers[i + 1]; i += 2)
		wb_mail_add_header(o, in->headers[i], in->headers[i + 1]);

	GMimePart *pj = in->json ? named_json_part(g_hash_table_lookup(v, "json_name"), in->json,
						   cid) : NULL;
	GMimeObject *top = readable(plain, html, pj);
	if (pj)
		g_object_unref(pj);
	return finish(mail, top);
}

GBytes *wb_render_thread_note(const struct wb_config *cfg, const struct wb_station *st,
			      const char *ref, const char *first_wamid, const char *msgid,
			      const char *summary, const char *title, const char *body,
			      const char *const *headers, GError **error)
{
	g_autofree char *reply_to = wb_reply_address(cfg->replies_address, cfg->token_secret,
						     ref, cfg->domain);
	struct wb_note_in in = {
		.domain = cfg->domain, .timezone = cfg->timezone, .station = st, .ref = ref,
		.thread_root = first_wamid, .message_id = msgid, .reply_to = reply_to,
		.summary = summary, .when = wb_now(), .title = title, .body = body,
		.headers = headers, .tpl = cfg->tpl,
	};
	return wb_render_note(&in, error);
}
