/* render: build the station's mail for one WhatsApp message with GMime and libxml2.
 *
 * Design rationale: nothing from the payload is ever pasted into a header or markup as
 * raw text. Names and subjects go through wb_clean_line() (no controls, capped,
 * grapheme-safe) and then GMime, which encodes them (RFC 2047) and folds the lines;
 * body text goes into text nodes of a parsed HTML template, so libxml2 escapes it.
 * The mail is multipart/mixed: the readable multipart/alternative first, then the
 * message object itself as whatsapp-message.json, so the mailbox alone is a record. */
#include "render.h"
#include "caps.h"
#include "util.h"
#include "webhook.h"

#include <gio/gio.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/xmlsave.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCE_DIR "/org/wabridge/templates/"

/* ---- templates ---------------------------------------------------------------------- */

static char *load_one(const char *dir, const char *name, GError **error)
{
	if (dir) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		char *text = NULL;
		gsize len = 0;
		if (!g_file_get_contents(path, &text, &len, error))
			return NULL;
		if (!g_utf8_validate(text, (gssize)len, NULL)) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "template %s is not valid UTF-8", path);
			g_free(text);
			return NULL;
		}
		return text;
	}
	g_autofree char *rpath = g_strconcat(RESOURCE_DIR, name, NULL);
	GBytes *b = g_resources_lookup_data(rpath, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
	if (!b)
		return NULL;
	gsize len;
	const char *data = g_bytes_get_data(b, &len);
	char *text = g_strndup(data, len);
	g_bytes_unref(b);
	return text;
}

struct wb_templates *wb_templates_load(const char *dir, GError **error)
{
	struct wb_templates *t = g_new0(struct wb_templates, 1);
	t->text = load_one(dir, "mail.txt", error);
	t->html = t->text ? load_one(dir, "mail.html", error) : NULL;
	if (!t->html) {
		wb_templates_free(t);
		return NULL;
	}
	return t;
}

void wb_templates_free(struct wb_templates *t)
{
	if (!t)
		return;
	g_free(t->text);
	g_free(t->html);
	g_free(t);
}

/* ---- small pure helpers ------------------------------------------------------------- */

char *wb_message_id(const char *wamid, const char *domain)
{
	if (wb_is_dot_atom(wamid))
		return g_strdup_printf("%s@%s", wamid, domain);
	g_autofree char *h = wb_sha256_hex(wamid, strlen(wamid));
	return g_strdup_printf("%s.wa@%s", h, domain);
}

char *wb_format_phone(const char *digits)
{
	if (!wb_is_digits(digits, 32))
		return g_strdup(digits ? digits : "");
	if (strlen(digits) == 12 && g_str_has_prefix(digits, "91"))
		return g_strdup_printf("+91 %.5s %.5s", digits + 2, digits + 7);
	return g_strdup_printf("+%s", digits);
}

/* One row per WhatsApp message type: the label people see, and where its text lives. */
struct type_row {
	const char *type;
	const char *label;
	const char *text_key; /* member of the type's object holding text or caption */
	bool has_media;
};

static const struct type_row type_rows[] = {
	{ "text", "Text message", "body", false },
	{ "image", "Photo", "caption", true },
	{ "audio", "Audio", NULL, true },
	{ "video", "Video", "caption", true },
	{ "document", "Document", "caption", true },
	{ "sticker", "Sticker", NULL, true },
	{ "location", "Location", NULL, false },
	{ "contacts", "Contact card", NULL, false },
	{ "interactive", "Reply to a menu", NULL, false },
	{ "button", "Button reply", "text", false },
	{ "reaction", "Reaction", NULL, false },
	{ "order", "Order", NULL, false },
	{ "system", "System notice", "body", false },
};

static const struct type_row *type_row(const char *type)
{
	for (size_t i = 0; i < G_N_ELEMENTS(type_rows); i++)
		if (strcmp(type_rows[i].type, type) == 0)
			return &type_rows[i];
	return NULL;
}

/* The type's object inside the message JSON ({"type":"image","image":{…}}). */
static json_t *type_object(json_t *msg, const char *type)
{
	json_t *o = json_object_get(msg, type);
	return json_is_object(o) ? o : NULL;
}

static char *member_text(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return NULL;
	return wb_clean_text(json_string_value(v), json_string_length(v), WB_MAX_TEXT_BYTES);
}

/* The readable label: "Photo", "Voice message", "Document: name.pdf", … */
static char *type_label(const char *type, json_t *msg)
{
	const struct type_row *row = type_row(type);
	json_t *obj = type_object(msg, type);
	if (!row)
		return g_strdup_printf("Unsupported message (%s)", type);
	if (strcmp(type, "audio") == 0 && json_is_true(json_object_get(obj, "voice")))
		return g_strdup("Voice message");
	if (strcmp(type, "document") == 0) {
		g_autofree char *name = member_text(obj, "filename");
		g_autofree char *clean = wb_clean_line(name, 60);
		if (*clean)
			return g_strdup_printf("Document: %s", clean);
	}
	return g_strdup(row->label);
}

/* The message's text or caption, cleaned; NULL when it has none. */
static char *message_text(const char *type, json_t *msg)
{
	const struct type_row *row = type_row(type);
	if (!row || !row->text_key)
		return NULL;
	char *t = member_text(type_object(msg, type), row->text_key);
	if (t && !*t)
		g_clear_pointer(&t, g_free);
	return t;
}

char *wb_summary(const char *type, const char *json)
{
	json_t *msg = json ? json_loads(json, JSON_ALLOW_NUL, NULL) : NULL;
	g_autofree char *text = message_text(type, msg);
	char *out = NULL;
	if (text) {
		/* The first line that has something on it. */
		g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
		for (char **l = lines; *l && !out; l++) {
			out = wb_clean_line(*l, WB_MAX_SUBJECT_CHARS);
			if (!*out)
				g_clear_pointer(&out, g_free);
		}
	}
	if (!out) {
		g_autofree char *label = type_label(type, msg);
		out = wb_clean_line(label, WB_MAX_SUBJECT_CHARS);
	}
	json_decref(msg);
	return out;
}

/* ---- bodies from templates ---------------------------------------------------------- */

/* Replace {{name}} markers in one pass; unknown names become empty. */
static char *fill_text(const char *tpl, GHashTable *values)
{
	GString *out = g_string_sized_new(strlen(tpl) + 1024);
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
	return g_string_free(out, FALSE);
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
		xmlChar *field = xmlGetProp(node, (const xmlChar *)"data-wb");
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
	/* Serialise as UTF-8 text, not numeric entities, so the HTML part stays searchable. */
	xmlOutputBufferPtr ob = xmlAllocOutputBuffer(xmlFindCharEncodingHandler("UTF-8"));
	htmlDocContentDumpFormatOutput(ob, doc, "UTF-8", 0);
	xmlOutputBufferFlush(ob);
	xmlBufPtr data = ob->conv ? ob->conv : ob->buffer;
	char *out = g_strndup((const char *)xmlBufContent(data), xmlBufUse(data));
	xmlOutputBufferClose(ob);
	xmlFreeDoc(doc);
	return out;
}

/* ---- the mail ----------------------------------------------------------------------- */

static GDateTime *message_time(const struct wb_render_in *in)
{
	gint64 t = in->msg->ts ? in->msg->ts : in->msg->received_at;
	g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(t);
	g_autoptr(GTimeZone) tz = g_time_zone_new_identifier(in->timezone);
	if (!tz)
		tz = g_time_zone_new_utc();
	return g_date_time_to_timezone(utc, tz);
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
static void set_mailbox(GMimeMessage *mail, const char *header, const char *name,
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

static void add_header(GMimeObject *o, const char *name, const char *value)
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

	g_autofree char *subject = g_strdup_printf("[%s] %s", m->ref, summary);
	if (needs_encoding(summary)) {
		g_autofree char *words = wb_rfc2047_words(summary);
		g_autofree char *raw = g_strdup_printf(" [%s]\n %s", m->ref, words);
		set_raw_header(o, "Subject", subject, raw);
	} else {
		g_mime_message_set_subject(mail, subject, "utf-8");
	}
	g_mime_message_set_date(mail, when);
	g_autofree char *msgid = wb_message_id(m->wamid, in->domain);
	g_mime_message_set_message_id(mail, msgid);
	g_autofree char *local = g_ascii_strdown(m->sender, -1);
	g_autofree char *from = g_strdup_printf("wa-%s@%s", local, in->domain);
	g_autofree char *name = NULL, *who = NULL;
	sender_parts(m, &name, &who);
	set_mailbox(mail, "From", name, who, from);
	g_autofree char *station = wb_clean_line(st->name, 200);
	set_mailbox(mail, "To", station, NULL, st->address);
	g_autofree char *reply_to = g_strdup_printf("%s+%s.%s@%s", in->reply_local, m->ref,
						    in->token, in->domain);
	g_mime_message_add_mailbox(mail, GMIME_ADDRESS_TYPE_REPLY_TO, NULL, reply_to);

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
	add_header(o, "X-WhatsApp-Message-Id", m->wamid);
	add_header(o, "X-WhatsApp-From", m->sender);
	add_header(o, "X-WhatsApp-Phone-Number-Id", m->phone_number_id);
	add_header(o, "X-WhatsApp-Type", m->type);
	add_header(o, "X-Complaint-Ref", m->ref);
	add_header(o, "X-Station", st->key);
	add_header(o, "X-Payload-SHA256", m->payload_sha256);
}

static GMimePart *text_part(const char *subtype, const char *text)
{
	GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);
	g_mime_text_part_set_text(p, text);
	return GMIME_PART(p);
}

static GMimePart *json_part(const char *json)
{
	json_t *v = json_loads(json, JSON_ALLOW_NUL, NULL);
	char *pretty = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
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
	g_mime_part_set_content_description(p, "The WhatsApp message object as received");
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	free(pretty);
	json_decref(v);
	return p;
}

static void put(GHashTable *v, const char *key, char *value)
{
	g_hash_table_insert(v, (gpointer)key, value);
}

/* The values the templates can show. All strings are cleaned UTF-8. */
static GHashTable *template_values(const struct wb_render_in *in, json_t *msg,
				   const char *display, GDateTime *when)
{
	const struct wb_msg *m = in->msg;
	GHashTable *v = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	g_autofree char *text = message_text(m->type, msg);
	bool text_type = strcmp(m->type, "text") == 0;

	put(v, "ref", g_strdup(m->ref));
	put(v, "station", wb_clean_line(in->station->name, 200));
	put(v, "sender", g_strdup(display));
	put(v, "when", g_date_time_format(when, "%A, %-d %B %Y, %H:%M:%S %Z (UTC%:z)"));
	put(v, "type_label", type_label(m->type, msg));
	put(v, "text", g_strdup(text ? text : "(no text)"));
	put(v, "forwarded", g_strdup(m->forwarded ?
		"Forwarded message: the citizen forwarded this, they did not write it." : ""));
	put(v, "notice", text_type ? g_strdup("") : g_strdup_printf(
		"This WhatsApp message is of type \"%s\". This version of wabridge does not yet "
		"fetch or show its content here; the complete message is attached as "
		"whatsapp-message.json and nothing was dropped.", m->type));
	put(v, "attachments", g_strdup("- whatsapp-message.json (the WhatsApp message object)"));
	put(v, "wamid", g_strdup(m->wamid));
	put(v, "payload_sha256", g_strdup(m->payload_sha256 ? m->payload_sha256 : ""));
	return v;
}

static GBytes *serialize(GMimeMessage *mail)
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

GBytes *wb_render_mail(const struct wb_render_in *in, GError **error)
{
	const struct wb_msg *m = in->msg;
	json_t *msg = json_loads(m->json, JSON_ALLOW_NUL, NULL);
	g_autoptr(GDateTime) when = message_time(in);
	g_autofree char *name = NULL, *who = NULL;
	sender_parts(m, &name, &who);
	g_autofree char *display = *name ? g_strdup_printf("%s %s", name, who) : g_strdup(who);
	g_autofree char *summary = wb_summary(m->type, m->json);
	g_autoptr(GHashTable) values = template_values(in, msg, display, when);
	g_autofree char *plain = fill_text(in->tpl->text, values);
	g_autofree char *html = fill_html(in->tpl->html, values, error);
	json_decref(msg);
	if (!html)
		return NULL;

	GMimeMessage *mail = g_mime_message_new(FALSE);
	set_headers(mail, in, summary, when);

	GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
	GMimePart *p1 = text_part("plain", plain), *p2 = text_part("html", html);
	g_mime_multipart_add(alt, GMIME_OBJECT(p1));
	g_mime_multipart_add(alt, GMIME_OBJECT(p2));
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	GMimePart *pj = json_part(m->json);
	g_mime_multipart_add(mixed, GMIME_OBJECT(alt));
	g_mime_multipart_add(mixed, GMIME_OBJECT(pj));
	g_mime_message_set_mime_part(mail, GMIME_OBJECT(mixed));
	/* 7bit on the wire: GMime picks quoted-printable or base64 per part, which also
	 * keeps every line under 998 octets whatever the citizen wrote. */
	g_mime_object_encode(GMIME_OBJECT(mixed), GMIME_ENCODING_CONSTRAINT_7BIT);
	g_object_unref(p1);
	g_object_unref(p2);
	g_object_unref(pj);
	g_object_unref(alt);
	g_object_unref(mixed);

	GBytes *out = serialize(mail);
	g_object_unref(mail);
	return out;
}
