/* view: per-type presentation of a WhatsApp message (see view.h). */
#include "view.h"
#include "caps.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers ---------------------------------------------------------------------- */

static json_t *obj_of(json_t *msg, const char *key)
{
	json_t *o = json_object_get(msg, key);
	return json_is_object(o) ? o : NULL;
}

/* A string member as clean text (newlines kept), or NULL when absent or empty. */
static char *text_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return NULL;
	char *t = wb_clean_text(json_string_value(v), json_string_length(v), WB_MAX_TEXT_BYTES);
	if (!*t)
		g_clear_pointer(&t, g_free);
	return t;
}

/* A string member as one clean line (for labels and lists), "" when absent. */
static char *line_of(json_t *obj, const char *key, size_t max)
{
	json_t *v = json_object_get(obj, key);
	return wb_clean_line(json_is_string(v) ? json_string_value(v) : NULL, max);
}

static bool number_of(json_t *obj, const char *key, double *out)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) { /* Meta is not consistent about numbers */
		char *end = NULL;
		*out = g_ascii_strtod(json_string_value(v), &end);
		return end && *end == '\0' && end != json_string_value(v);
	}
	return false;
}

static void add_line(GString *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void add_line(GString *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (s->len)
		g_string_append_c(s, '\n');
	g_string_append_vprintf(s, fmt, ap);
	va_end(ap);
}

/* ---- file names ------------------------------------------------------------------------- */

char *wb_safe_filename(const char *name, const char *fallback)
{
	if (!name)
		return g_strdup(fallback);
	/* Only the last path component, whichever separator the sender's system used. */
	const char *base = name;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	g_autofree char *line = wb_clean_line(base, 400);
	GString *out = g_string_new(NULL);
	for (const char *p = line; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c < 0x80 && strchr("<>:\"|?*;", (int)c))
			g_string_append_c(out, '_');
		else
			g_string_append_unichar(out, c);
	}
	while (out->len && (out->str[0] == '.' || out->str[0] == ' ' || out->str[0] == '-'))
		g_string_erase(out, 0, 1);
	/* At most 100 characters, keeping a short extension. */
	const char *dot = strrchr(out->str, '.');
	glong ext = dot && g_utf8_strlen(dot, -1) <= 10 ? g_utf8_strlen(dot, -1) : 0;
	if (g_utf8_strlen(out->str, -1) > 100) {
		g_autofree char *e = g_strdup(ext ? dot : "");
		g_string_truncate(out, wb_grapheme_cut(out->str, (size_t)(100 - ext)));
		g_string_append(out, e);
	}
	if (out->len == 0 || (dot == out->str && out->len == (gsize)strlen(dot) && !ext)) {
		g_string_free(out, TRUE);
		return g_strdup(fallback);
	}
	return g_string_free(out, FALSE);
}

static const struct { const char *mime, *ext; } extensions[] = {
	{ "image/jpeg", "jpg" }, { "image/png", "png" }, { "image/webp", "webp" },
	{ "image/gif", "gif" }, { "audio/ogg", "ogg" }, { "audio/mpeg", "mp3" },
	{ "audio/mp4", "m4a" }, { "audio/aac", "aac" }, { "audio/amr", "amr" },
	{ "video/mp4", "mp4" }, { "video/3gpp", "3gp" }, { "application/pdf", "pdf" },
	{ "text/plain", "txt" }, { "text/vcard", "vcf" },
};

static const char *extension_for(const char *mime)
{
	size_t n = mime ? strcspn(mime, "; ") : 0;
	for (size_t i = 0; i < G_N_ELEMENTS(extensions); i++)
		if (n == strlen(extensions[i].mime) && g_ascii_strncasecmp(mime, extensions[i].mime, n) == 0)
			return extensions[i].ext;
	return "bin";
}

/* ---- Ogg Opus duration ------------------------------------------------------------------ */

static guint64 le64(const unsigned char *p)
{
	guint64 v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Walks the pages from the start (the capture pattern can occur inside audio data, so
 * searching for it is not enough), following the first stream's serial number; the
 * last complete page's granule position counts 48 kHz samples from the start. */
int wb_ogg_opus_seconds(const void *data, size_t len)
{
	const unsigned char *d = data;
	if (len < 27 || memcmp(d, "OggS", 4) != 0 || d[4] != 0)
		return -1;
	size_t head = 27 + (size_t)d[26];
	if (head + 19 > len || memcmp(d + head, "OpusHead", 8) != 0)
		return -1;
	unsigned preskip = (unsigned)d[head + 10] | (unsigned)d[head + 11] << 8;
	guint32 serial = (guint32)le64(d + 14) & 0xffffffffu;
	guint64 last = G_MAXUINT64;
	size_t pos = 0;
	while (pos + 27 <= len && memcmp(d + pos, "OggS", 4) == 0 && d[pos + 4] == 0) {
		size_t nseg = d[pos + 26], body = 0;
		if (pos + 27 + nseg > len)
			break;
		for (size_t i = 0; i < nseg; i++)
			body += d[pos + 27 + i];
		if (pos + 27 + nseg + body > len)
			break; /* a cut-off page does not count */
		guint64 granule = le64(d + pos + 6);
		if (((guint32)le64(d + pos + 14) & 0xffffffffu) == serial && granule != G_MAXUINT64)
			last = granule;
		pos += 27 + nseg + body;
	}
	if (last == G_MAXUINT64 || last < preskip || last > 48000ull * 86400)
		return -1;
	return (int)((last - preskip + 24000) / 48000);
}

/* ---- per-type views ----------------------------------------------------------------------- */

struct ctx {
	struct wb_view *v;
	json_t *msg, *obj;        /* the message, and its type's object (may be NULL) */
	const char *type;
	const struct wb_media_in *media;
	gint64 ts;
	const char *zone;
	const char *kind;         /* the Subject's word before the text; NULL: the label */
	GString *details;
};

/* stem names a file that has no name of its own; noun names the medium in a notice. */
static void media_view(struct ctx *c, const char *label, const char *stem, const char *noun)
{
	c->v->is_media = true;
	c->v->label = g_strdup(label);
	if (!c->kind)
		c->kind = label;
	c->v->text = text_of(c->obj, "caption");
	if (!c->media || !c->media->data) {
		const char *why = c->media && c->media->error ? c->media->error
							     : "it has not been fetched";
		g_autofree char *id = line_of(c->obj, "id", 64);
		c->v->notice = g_strdup_printf("The %s could not be fetched from WhatsApp (%s). "
					       "Media id %s; the message object is attached.",
					       noun, why, *id ? id : "missing");
		return;
	}
	struct wb_attachment *a = g_new0(struct wb_attachment, 1);
	const char *mime = c->media->mime_type ? c->media->mime_type : "application/octet-stream";
	g_autoptr(GDateTime) t = wb_local_time(c->ts, c->zone);
	g_autofree char *stamp = t ? g_date_time_format(t, "%Y%m%d-%H%M%S") : g_strdup("0");
	g_autofree char *fallback = g_strdup_printf("%s-%s.%s", stem, stamp, extension_for(mime));
	g_autofree char *given = text_of(c->obj, "filename");
	a->filename = wb_safe_filename(given, fallback);
	a->mime_type = g_strdup(mime);
	a->data = g_bytes_ref(c->media->data);
	a->path = g_strdup(c->media->path);
	gsize len;
	const void *bytes = g_bytes_get_data(a->data, &len);
	a->sha256 = c->media->sha256_hex ? g_strdup(c->media->sha256_hex) : wb_sha256_hex(bytes, len);
	g_ptr_array_add(c->v->attachments, a);
}

/* Forwarded text is not the citizen's own words: the Subject says so first. */
static bool forwarded(json_t *msg)
{
	json_t *ctx = obj_of(msg, "context");
	return json_is_true(json_object_get(ctx, "forwarded")) ||
	       json_is_true(json_object_get(ctx, "frequently_forwarded"));
}

static void view_text(struct ctx *c)
{
	c->v->label = g_strdup("Text message");
	c->kind = forwarded(c->msg) ? "Forwarded" : "";
	c->v->text = text_of(c->obj, "body");
	if (!c->v->text)
		c->v->notice = g_strdup("The message has no text; the message object is attached.");
}

static void view_image(struct ctx *c) { media_view(c, "Photo", "photo", "photo"); }
static void view_video(struct ctx *c) { media_view(c, "Video", "video", "video"); }
static void view_sticker(struct ctx *c) { media_view(c, "Sticker", "sticker", "sticker"); }

static void view_audio(struct ctx *c)
{
	bool voice = json_is_true(json_object_get(c->obj, "voice"));
	media_view(c, voice ? "Voice message" : "Audio", voice ? "voice" : "audio",
		   voice ? "voice note" : "audio file");
	if (c->v->attachments->len) {
		struct wb_attachment *a = c->v->attachments->pdata[0];
		gsize len;
		const void *d = g_bytes_get_data(a->data, &len);
		int s = wb_ogg_opus_seconds(d, len);
		if (s >= 0) {
			g_free(c->v->label);
			c->v->label = g_strdup_printf("%s (%d:%02d)", voice ? "Voice message" : "Audio",
						      s / 60, s % 60);
		}
	}
}

static void view_document(struct ctx *c)
{
	g_autofree char *given = text_of(c->obj, "filename");
	g_autofree char *name = wb_safe_filename(given, "");
	g_autofree char *label = *name ? g_strdup_printf("Document: %s", name)
				       : g_strdup("Document (no file name)");
	c->kind = "Document"; /* "Document: <caption>"; without one, the label with the name */
	media_view(c, label, "document", "document");
}

static void view_location(struct ctx *c)
{
	double lat, lon;
	c->v->label = g_strdup("Location");
	g_autofree char *name = line_of(c->obj, "name", 200);
	g_autofree char *address = line_of(c->obj, "address", 400);
	if (*name)
		add_line(c->details, "Place: %s", name);
	if (*address)
		add_line(c->details, "Address: %s", address);
	if (number_of(c->obj, "latitude", &lat) && number_of(c->obj, "longitude", &lon) &&
	    lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
		g_autofree char *la = wb_double_text(lat), *lo = wb_double_text(lon);
		add_line(c->details, "Coordinates: %s, %s", la, lo);
		c->v->map_url = g_strdup_printf("https://www.openstreetmap.org/?mlat=%s&mlon=%s"
						"#map=18/%s/%s", la, lo, la, lo);
		add_line(c->details, "Map: %s", c->v->map_url);
		if (!*name && !*address) {
			g_autofree char *at = g_strdup_printf("Location: %s, %s", la, lo);
			c->v->summary = wb_summary_line(at, WB_MAX_SUBJECT_CHARS);
		}
	} else {
		c->v->notice = g_strdup("The location has no usable coordinates.");
	}
	/* The place is in the details once; the subject names it. */
	if (*name || *address) {
		g_autofree char *at = g_strdup_printf("Location: %s", *name ? name : address);
		c->v->summary = wb_summary_line(at, WB_MAX_SUBJECT_CHARS);
	}
	c->v->text = g_strdup("");
}

/* One shared contact card as a vCard 3.0, with every value escaped (RFC 6350 §3.4). */
static void vcard_value(GString *out, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (strchr(",;\\", *p))
			g_string_append_c(out, '\\');
		g_string_append_c(out, *p);
	}
}

static char *vcard(json_t *card, char **display)
{
	json_t *name = json_object_get(card, "name");
	g_autofree char *formatted = line_of(name, "formatted_name", 200);
	GString *v = g_string_new("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:");
	vcard_value(v, *formatted ? formatted : "(no name)");
	g_autofree char *first = line_of(name, "first_name", 100);
	g_autofree char *last = line_of(name, "last_name", 100);
	g_string_append(v, "\r\nN:");
	vcard_value(v, last);
	g_string_append_c(v, ';');
	vcard_value(v, first);
	g_string_append(v, ";;;\r\n");
	GString *shown = g_string_new(*formatted ? formatted : "(no name)");
	size_t i;
	json_t *ph;
	json_array_foreach(json_object_get(card, "phones"), i, ph) {
		g_autofree char *num = line_of(ph, "phone", 40);
		if (!*num)
			continue;
		g_string_append(v, "TEL:");
		vcard_value(v, num);
		g_string_append(v, "\r\n");
		g_string_append_printf(shown, ", %s", num);
	}
	json_t *em;
	json_array_foreach(json_object_get(card, "emails"), i, em) {
		g_autofree char *mail = line_of(em, "email", 200);
		if (*mail) {
			g_string_append(v, "EMAIL:");
			vcard_value(v, mail);
			g_string_append(v, "\r\n");
		}
	}
	json_t *org = json_object_get(card, "org");
	g_autofree char *company = line_of(org, "company", 200);
	if (*company) {
		g_string_append(v, "ORG:");
		vcard_value(v, company);
		g_string_append(v, "\r\n");
	}
	g_string_append(v, "END:VCARD\r\n");
	*display = g_string_free(shown, FALSE);
	return g_string_free(v, FALSE);
}

static void view_contacts(struct ctx *c)
{
	json_t *cards = json_object_get(c->msg, "contacts");
	size_t n = json_is_array(cards) ? json_array_size(cards) : 0;
	c->v->label = n == 1 ? g_strdup("Contact card") : g_strdup_printf("%zu contact cards", n);
	c->v->text = g_strdup("");
	GString *names = g_string_new(NULL);
	for (size_t i = 0; i < n && i < 50; i++) {
		g_autofree char *shown = NULL;
		char *card = vcard(json_array_get(cards, i), &shown);
		add_line(c->details, "Contact: %s", shown);
		g_autofree char *fn = line_of(json_object_get(json_array_get(cards, i), "name"),
					      "formatted_name", 200);
		g_string_append_printf(names, "%s%s", i ? ", " : "", *fn ? fn : "(no name)");
		struct wb_attachment *a = g_new0(struct wb_attachment, 1);
		a->filename = g_strdup_printf("contact-%zu.vcf", i + 1);
		a->mime_type = g_strdup("text/vcard; charset=utf-8");
		a->data = g_bytes_new_take(card, strlen(card));
		a->sha256 = wb_sha256_hex(card, strlen(card));
		g_ptr_array_add(c->v->attachments, a);
	}
	g_autofree char *subject = g_strdup_printf("%s: %s", n == 1 ? "Contact" : "Contacts",
						   names->str);
	if (n)
		c->v->summary = wb_summary_line(subject, WB_MAX_SUBJECT_CHARS);
	g_string_free(names, TRUE);
}

static void view_interactive(struct ctx *c)
{
	g_autofree char *kind = line_of(c->obj, "type", 40);
	json_t *reply = obj_of(c->obj, kind);
	c->v->label = g_strdup("Reply to a menu");
	if (strcmp(kind, "nfm_reply") == 0) {
		g_free(c->v->label);
		c->v->label = g_strdup("Form reply");
		c->v->text = text_of(reply, "body");
		g_autofree char *resp = text_of(reply, "response_json");
		if (resp)
			add_line(c->details, "Form answers: %s", resp);
		return;
	}
	g_autofree char *title = line_of(reply, "title", 200);
	g_autofree char *id = line_of(reply, "id", 200);
	g_autofree char *desc = line_of(reply, "description", 200);
	c->v->text = g_strdup(*title ? title : "(no title)");
	if (*desc)
		add_line(c->details, "Description: %s", desc);
	if (*id)
		add_line(c->details, "Choice id: %s", id);
}

static void view_button(struct ctx *c)
{
	c->v->label = g_strdup("Button reply");
	c->v->text = text_of(c->obj, "text");
	g_autofree char *payload = line_of(c->obj, "payload", 200);
	if (*payload)
		add_line(c->details, "Button payload: %s", payload);
}

/* The message reacted to is named by its wamid only, which means nothing to a reader:
 * the caller describes it (wb_view_set_reaction_target); the wamid stays in the JSON. */
static void view_reaction(struct ctx *c)
{
	c->v->reaction = line_of(c->obj, "emoji", 16);
	c->v->label = *c->v->reaction ? g_strdup_printf("Reaction %s", c->v->reaction)
				      : g_strdup("Reaction removed");
	wb_view_set_reaction_target(c->v, NULL);
}

void wb_view_set_reaction_target(struct wb_view *v, const char *target)
{
	if (!v->reaction)
		return;
	g_autofree char *what = target ? wb_clean_line(target, 400) : g_strdup("");
	const char *to = *what ? what : "a message that is not in this complaint's record";
	g_free(v->text);
	v->text = *v->reaction ? g_strdup_printf("The citizen reacted with %s to %s.", v->reaction, to)
			       : g_strdup_printf("The citizen removed their reaction to %s.", to);
	g_autofree char *subject = *what ? g_strdup_printf("%s to %s", v->label, what)
					 : g_strdup(v->label);
	g_free(v->summary);
	v->summary = wb_summary_line(subject, WB_MAX_SUBJECT_CHARS);
}

static void view_order(struct ctx *c)
{
	json_t *items = json_object_get(c->obj, "product_items");
	c->v->label = g_strdup("Order");
	c->v->text = text_of(c->obj, "text");
	add_line(c->details, "Items: %zu", json_is_array(items) ? json_array_size(items) : (size_t)0);
}

static void view_system(struct ctx *c)
{
	c->v->label = g_strdup("System notice");
	c->v->text = text_of(c->obj, "body");
}

/* unsupported, unknown, and every type this table does not know */
static void view_unsupported(struct ctx *c)
{
	c->v->label = strcmp(c->type, "unsupported") == 0 || strcmp(c->type, "unknown") == 0
		? g_strdup("Unsupported message") : g_strdup_printf("Unsupported message (%s)", c->type);
	c->v->text = g_strdup("");
	json_t *e = json_array_get(json_object_get(c->msg, "errors"), 0);
	g_autofree char *title = line_of(e, "title", 200);
	g_autofree char *details = line_of(obj_of(e, "error_data"), "details", 400);
	json_t *code = json_object_get(e, "code");
	GString *n = g_string_new("WhatsApp did not pass on this message's content");
	if (json_is_integer(code))
		g_string_append_printf(n, " (error %" JSON_INTEGER_FORMAT ")", json_integer_value(code));
	if (*title)
		g_string_append_printf(n, ": %s", title);
	g_string_append(n, ". Ask the citizen to send it again as text, photo, voice note or "
			"document. The message object is attached.");
	c->v->notice = g_string_free(n, FALSE);
	if (*details)
		add_line(c->details, "WhatsApp says: %s", details);
}

static const struct type_row {
	const char *type;
	void (*build)(struct ctx *c);
	bool media;
} rows[] = {
	{ "text", view_text, false },
	{ "image", view_image, true },
	{ "audio", view_audio, true },
	{ "video", view_video, true },
	{ "document", view_document, true },
	{ "sticker", view_sticker, true },
	{ "location", view_location, false },
	{ "contacts", view_contacts, false },
	{ "interactive", view_interactive, false },
	{ "button", view_button, false },
	{ "reaction", view_reaction, false },
	{ "order", view_order, false },
	{ "system", view_system, false },
};

static const struct type_row *row_for(const char *type)
{
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
		if (strcmp(rows[i].type, type) == 0)
			return &rows[i];
	return NULL;
}

bool wb_view_media_ref(const char *type, const char *json, char **media_id, char **sha256_b64,
		       char **mime_type)
{
	const struct type_row *row = row_for(type);
	if (!row || !row->media)
		return false;
	json_t *msg = json_loads(json, JSON_ALLOW_NUL, NULL);
	json_t *obj = obj_of(msg, type);
	*media_id = text_of(obj, "id");
	*sha256_b64 = text_of(obj, "sha256");
	*mime_type = text_of(obj, "mime_type");
	json_decref(msg);
	return true;
}

/* The first non-blank line of the text after the kind's word ("Photo: …"), or the label
 * alone when there is no text; cut with "…" at a grapheme boundary. */
static void summarise(struct wb_view *v, const char *kind)
{
	if (v->summary)
		return; /* the type chose its own */
	g_autofree char *first = NULL;
	g_auto(GStrv) lines = g_strsplit(v->text ? v->text : "", "\n", -1);
	for (char **l = lines; *l && !first; l++) {
		first = wb_clean_line(*l, WB_MAX_TEXT_BYTES);
		if (!*first)
			g_clear_pointer(&first, g_free);
	}
	if (!kind)
		kind = v->label;
	g_autofree char *line = !first ? g_strdup(v->label)
		: *kind ? g_strdup_printf("%s: %s", kind, first) : g_strdup(first);
	v->summary = wb_summary_line(line, WB_MAX_SUBJECT_CHARS);
}

static void attachment_free(gpointer p)
{
	struct wb_attachment *a = p;
	g_free(a->filename);
	g_free(a->mime_type);
	if (a->data)
		g_bytes_unref(a->data);
	g_free(a->sha256);
	g_free(a->path);
	g_free(a);
}

struct wb_view *wb_view_build(const char *type, const char *json,
			      const struct wb_media_in *media, gint64 ts, const char *zone)
{
	struct wb_view *v = g_new0(struct wb_view, 1);
	v->attachments = g_ptr_array_new_with_free_func(attachment_free);
	json_t *msg = json_loads(json ? json : "null", JSON_ALLOW_NUL, NULL);
	struct ctx c = { .v = v, .msg = msg, .obj = obj_of(msg, type), .type = type,
			 .media = media, .ts = ts, .zone = zone,
			 .details = g_string_new(NULL) };
	const struct type_row *row = row_for(type);
	(row ? row->build : view_unsupported)(&c);
	if (!v->text)
		v->text = g_strdup("");
	if (!v->notice)
		v->notice = g_strdup("");
	v->details = g_string_free(c.details, FALSE);
	summarise(v, c.kind);
	json_decref(msg);
	return v;
}

void wb_view_free(struct wb_view *v)
{
	if (!v)
		return;
	g_free(v->label);
	g_free(v->summary);
	g_free(v->text);
	g_free(v->details);
	g_free(v->notice);
	g_free(v->map_url);
	g_free(v->reaction);
	g_ptr_array_unref(v->attachments);
	g_free(v);
}
