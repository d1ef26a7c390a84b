/* Golden-file tests of the mail (SPEC §5): for each message type, the message object in
 * tests/fixtures/golden/NAME.json (and its media in NAME.media, if any) is rendered with
 * wb_render_mail() and compared byte for byte with NAME.eml, MIME boundaries masked as
 * BOUNDARY-1, BOUNDARY-2, … in order of appearance. The rendered mail is then parsed
 * back with GMime and checked against what went in.
 *
 * A deliberate change of the mail is one command and a reviewed diff:
 *
 *     WB_GOLDEN_UPDATE=1 WB_TOP=$PWD build/san/test-golden && git diff tests/fixtures/golden
 */
#include "mailtest.h"
#include "render.h"
#include "store.h"

#include <gmime/gmime.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define REF    "BHP-2026-000417"
#define DOMAIN "wa.police.test"
#define ROOT   "wamid.GAw5MTk4MzA3NzAwMjIVAgASGBQxNjdFMUQ0QzBCOUE1MkYzOUEwMAA="
/* What the pipeline would say: the state line of an open complaint, and the message a
 * reaction is to (reaction-removed has none: its target is not in the record). */
#define STATE  "NOT REGISTERED \u2013 reply to this mail with the complaint number by Fri " \
	"16 Oct, 13:30 IST (24 h left)."
#define TARGET "the citizen's message of 15 Oct, 13:31: \u201cPhone stolen\u201d"

static char st_key[] = "bhowanipore", st_name[] = "Bhowanipore Police Station", st_code[] = "BHP",
	    st_pnid[] = "441880000100101", st_address[] = "bhowanipore.ps@police.test";
static const struct wb_station station = {
	.key = st_key, .name = st_name, .code = st_code, .phone_number_id = st_pnid,
	.address = st_address,
};

static struct wb_templates *tpl;

/* What each golden message must show once parsed back. files: the attachments besides
 * whatsapp-message.json, in the order of the mail; files[0] is the media when there is a
 * NAME.media (named in the station's time, Asia/Kolkata). */
static const struct golden {
	const char *name;
	const char *profile;   /* profile name of the sender; NULL when the payload had none */
	const char *summary;   /* the Subject after "[REF] " */
	const char *plain_has; /* in the text/plain part */
	const char *files[3];
} goldens[] = {
	{ "text", "মিতালী পাল", "আমার সাইকেল চুরি হয়েছে।",
	  "আমার সাইকেল চুরি হয়েছে।\nগড়িয়াহাট মোড়ে, ১৪ অক্টোবর রাত ৯টা নাগাদ। লাল রঙের, সামনে ঝুড়ি আছে।",
	  { NULL } },
	{ "text-forwarded", "Arjun Roy", "Forwarded: Your KYC is <b>blocked</b>! <script>alert('x')</script>",
	  "Forwarded message: the citizen forwarded this, they did not write it.\n", { NULL } },
	{ "image", "ফরিদা বেগম", "Photo: Signed complaint – সই করা অভিযোগপত্র",
	  "Signed complaint – সই করা অভিযোগপত্র", { "photo-20261015-133200.jpg" } },
	{ "image-missing", "মিতালী পাল", "Photo",
	  "The photo could not be fetched from WhatsApp (the media URL has expired). Media id "
	  "2209184736501929; the message object is attached.", { NULL } },
	{ "audio-voice", "Arjun Roy", "Voice message (0:42)", "Type: Voice message (0:42)",
	  { "voice-20261015-133400.ogg" } },
	{ "audio-file", "ফরিদা বেগম", "Audio", "Type: Audio\n", { "audio-20261015-133500.mp3" } },
	{ "video", "মিতালী পাল", "Video: Rash driving on Rashbehari Avenue, bus WB-19 0042",
	  "Rash driving on Rashbehari Avenue, bus WB-19 0042", { "video-20261015-133600.mp4" } },
	{ "document", "Arjun Roy", "Document: FIR copy, please check", "Type: Document: অভিযোগপত্র ১৪-১০.pdf",
	  { "অভিযোগপত্র ১৪-১০.pdf" } },
	{ "document-text", "ফরিদা বেগম", "Document: stolen_ items.txt", "Type: Document: stolen_ items.txt",
	  { "stolen_ items.txt" } },
	{ "sticker", "মিতালী পাল", "Sticker", "Type: Sticker", { "sticker-20261015-133900.webp" } },
	{ "location", "Arjun Roy", "Location: গড়িয়াহাট মোড়",
	  "Place: গড়িয়াহাট মোড়\nAddress: Rashbehari Ave & Gariahat Rd, Ballygunge, Kolkata 700019\n"
	  "Coordinates: 22.5187459, 88.3656213\n"
	  "Map: https://www.openstreetmap.org/?mlat=22.5187459&mlon=88.3656213#map=18/22.5187459/88.3656213",
	  { NULL } },
	{ "contacts", "ফরিদা বেগম", "Contacts: Sourav Das, পাড়ার ক্লাব অফিস",
	  "Contact: Sourav Das, +91 98300 77044\nContact: পাড়ার ক্লাব অফিস",
	  { "contact-1.vcf", "contact-2.vcf" } },
	{ "interactive-button", "মিতালী পাল", "Reply to a menu: হ্যাঁ, আসতে পারি", "হ্যাঁ, আসতে পারি", { NULL } },
	{ "interactive-list", "Arjun Roy", "Reply to a menu: Vehicle theft",
	  "Description: Car, scooter, bicycle\nChoice id: cat-theft-vehicle", { NULL } },
	{ "interactive-nfm", "ফরিদা বেগম", "Form reply: Sent", "\"area\":\"Ballygunge\"", { NULL } },
	{ "button", "মিতালী পাল", "Button reply: Please call me", "Button payload: CALL_ME_BACK", { NULL } },
	{ "reaction", "Arjun Roy", "Reaction 👍🏽 to " TARGET, "The citizen reacted with 👍🏽 to " TARGET ".",
	  { NULL } },
	{ "reaction-removed", "ফরিদা বেগম", "Reaction removed",
	  "The citizen removed their reaction to a message that is not in this "
	  "complaint's record.", { NULL } },
	{ "order", "মিতালী পাল", "Order: Two copies of the FIR, please", "Items: 2", { NULL } },
	{ "system", NULL, "System notice: User A changed from 919830770022 to 919830770099",
	  "User A changed from 919830770022 to 919830770099", { NULL } },
	{ "unsupported", "ফরিদা বেগম", "Unsupported message",
	  "WhatsApp did not pass on this message's content (error 131051): Message type unknown.",
	  { NULL } },
	{ "unknown", "মিতালী পাল", "Unsupported message (frobnicate)", "Type: Unsupported message (frobnicate)",
	  { NULL } },
};

/* ---- files -------------------------------------------------------------------------------- */

static char *golden_path(const char *name, const char *ext)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *file = g_strconcat(name, ext, NULL);
	return g_build_filename(top ? top : ".", "tests", "fixtures", "golden", file, NULL);
}

/* The file's bytes, or NULL when it does not exist. */
static GBytes *read_optional(const char *name, const char *ext)
{
	g_autofree char *path = golden_path(name, ext);
	char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &data, &len, &err)) {
		if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_error("%s: %s", path, err->message);
		return NULL;
	}
	return g_bytes_new_take(data, len);
}

static char *sha256_hex(const void *data, size_t len)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

static const char *str_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- the message as the pipeline would hand it to render ---------------------------------- */

static struct wb_msg *golden_msg(const struct golden *g, json_t *obj, const char *json,
				 GBytes *media)
{
	struct wb_msg *m = g_new0(struct wb_msg, 1);
	m->id = 1;
	m->wamid = g_strdup(str_at(obj, "id"));
	m->station = g_strdup(st_key);
	m->phone_number_id = g_strdup(st_pnid);
	m->sender = g_strdup(str_at(obj, "from"));
	m->wa_id = g_strdup(str_at(obj, "from"));
	m->profile_name = g_strdup(g->profile);
	m->type = g_strdup(str_at(obj, "type"));
	m->json = g_strdup(json);
	m->ts = g_ascii_strtoll(str_at(obj, "timestamp"), NULL, 10);
	m->received_at = m->ts + 3;
	m->ref = g_strdup(REF);
	m->payload_sha256 = sha256_hex(json, strlen(json)); /* stands in for the webhook body's */
	g_assert_nonnull(m->wamid);
	g_assert_nonnull(m->sender);
	g_assert_nonnull(m->type);
	g_assert_cmpint(m->ts, >, 0);
	json_t *ctx = json_object_get(obj, "context");
	m->forwarded = json_is_true(json_object_get(ctx, "forwarded"));
	if (str_at(ctx, "id")) {
		m->context_id = g_strdup(str_at(ctx, "id"));
		m->thread_root = g_strdup(ROOT);
		m->reply_parent = g_strdup(str_at(ctx, "id"));
	}
	json_t *typed = json_object_get(obj, m->type);
	if (media) {
		m->media = g_bytes_ref(media);
		m->media_mime = g_strdup(str_at(typed, "mime_type"));
		gsize len;
		const void *d = g_bytes_get_data(media, &len);
		m->media_sha256 = sha256_hex(d, len);
	} else if (str_at(typed, "id") && str_at(typed, "mime_type")) {
		m->media_error = g_strdup("the media URL has expired");
	}
	return m;
}

static GBytes *render(const struct wb_msg *m)
{
	g_autofree char *reply_to = g_strdup_printf("complaint+%s.5e0c1a9b7d@%s", m->ref, DOMAIN);
	struct wb_render_in in = {
		.domain = DOMAIN, .timezone = "Asia/Kolkata", .reply_to = reply_to,
		.station = &station, .msg = m, .tpl = tpl, .state_line = STATE,
		.reaction_target = strcmp(m->type, "reaction") == 0 &&
				   strstr(m->json, "\"emoji\": \"\"") == NULL ? TARGET : NULL,
	};
	g_autoptr(GError) err = NULL;
	GBytes *b = wb_render_mail(&in, &err);
	g_assert_no_error(err);
	g_assert_nonnull(b);
	return b;
}

/* ---- masking and comparing ---------------------------------------------------------------- */

/* Every boundary="…" value, in order of first appearance, replaced everywhere. */
static GString *mask_boundaries(GBytes *mail)
{
	gsize len;
	const char *d = g_bytes_get_data(mail, &len);
	GString *out = g_string_new_len(d, (gssize)len);
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	static const char key[] = "boundary=";
	for (const char *p = g_strstr_len(d, (gssize)len, key); p;
	     p = g_strstr_len(p + 1, (gssize)(len - (gsize)(p + 1 - d)), key)) {
		const char *v = p + strlen(key), *end;
		if (*v == '"') {
			v++;
			end = memchr(v, '"', len - (gsize)(v - d));
		} else {
			end = v;
			while (end < d + len && !strchr(" \t\r\n;", *end))
				end++;
		}
		g_assert_nonnull(end);
		g_autofree char *b = g_strndup(v, (gsize)(end - v));
		g_assert_cmpuint(strlen(b), >=, 8);
		bool known = false;
		for (guint i = 0; i < seen->len; i++)
			known = known || strcmp(seen->pdata[i], b) == 0;
		if (!known)
			g_ptr_array_add(seen, g_steal_pointer(&b));
	}
	for (guint i = 0; i < seen->len; i++) {
		g_autofree char *with = g_strdup_printf("BOUNDARY-%u", i + 1);
		g_string_replace(out, seen->pdata[i], with, 0);
	}
	return out;
}

static void compare_golden(const char *name, const GString *got)
{
	g_autofree char *path = golden_path(name, ".eml");
	if (g_strcmp0(g_getenv("WB_GOLDEN_UPDATE"), "1") == 0) {
		g_autoptr(GError) err = NULL;
		if (!g_file_set_contents(path, got->str, (gssize)got->len, &err))
			g_error("%s: %s", path, err->message);
		g_test_message("rewrote %s", path);
		return;
	}
	g_autoptr(GBytes) want = read_optional(name, ".eml");
	if (!want) {
		g_test_fail_printf("%s is missing; WB_GOLDEN_UPDATE=1 writes it", path);
		return;
	}
	gsize wlen;
	const char *w = g_bytes_get_data(want, &wlen);
	if (wlen == got->len && memcmp(w, got->str, wlen) == 0)
		return;
	/* Where it starts to differ, line by line, and the whole mail to diff against. */
	size_t at = 0, line = 1, bol = 0;
	while (at < wlen && at < got->len && w[at] == got->str[at]) {
		if (w[at] == '\n') {
			line++;
			bol = at + 1;
		}
		at++;
	}
	const char *we = memchr(w + bol, '\n', wlen - bol);
	const char *ge = memchr(got->str + bol, '\n', got->len - bol);
	int wl = (int)((we ? we : w + wlen) - (w + bol)), gl = (int)((ge ? ge : got->str + got->len) - (got->str + bol));
	g_autofree char *actual = g_strdup_printf("%s/wb-golden-%s.eml", g_get_tmp_dir(), name);
	g_file_set_contents(actual, got->str, (gssize)got->len, NULL);
	g_test_fail_printf("%s differs from the rendered mail at line %zu:\n  want: %.*s\n  got:  %.*s\n"
			   "the rendered mail is in %s (diff it; WB_GOLDEN_UPDATE=1 accepts it)",
			   path, line, wl, w + bol, gl, got->str + bol, actual);
}

/* ---- parsing back ------------------------------------------------------------------------- */

struct leaf {
	GMimeObject *part, *parent;
};

static void collect_leaves(GMimeObject *o, GMimeObject *parent, GArray *out)
{
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			collect_leaves(g_mime_multipart_get_part(mp, i), o, out);
		return;
	}
	struct leaf l = { o, parent };
	g_array_append_val(out, l);
}

/* A text part's text with CRLF made LF (text is canonical CRLF on the wire). */
static char *text_of(GMimeObject *o)
{
	char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
	char *w = t;
	for (const char *r = t; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	return t;
}

static bool is_type(GMimeObject *o, const char *type, const char *subtype)
{
	return g_mime_content_type_is_type(g_mime_object_get_content_type(o), type, subtype);
}

/* The part's Content-Type equals the payload's mime_type, parameters included. */
static void assert_content_type(GMimeObject *o, const char *want)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	GMimeContentType *w = g_mime_content_type_parse(NULL, want);
	g_assert_cmpstr(g_mime_content_type_get_media_type(ct), ==, g_mime_content_type_get_media_type(w));
	g_assert_cmpstr(g_mime_content_type_get_media_subtype(ct), ==,
			g_mime_content_type_get_media_subtype(w));
	GMimeParamList *wp = g_mime_content_type_get_parameters(w);
	for (int i = 0; i < g_mime_param_list_length(wp); i++) {
		GMimeParam *p = g_mime_param_list_get_parameter_at(wp, i);
		g_assert_cmpstr(g_mime_content_type_get_parameter(ct, g_mime_param_get_name(p)), ==,
				g_mime_param_get_value(p));
	}
	g_object_unref(w);
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static void check_parsed(const struct golden *g, const struct wb_msg *m, json_t *obj, GBytes *media,
			 GBytes *mail)
{
	gsize rawlen;
	const char *raw = g_bytes_get_data(mail, &rawlen);
	g_autofree char *rawz = g_strndup(raw, rawlen);
	GMimeMessage *msg = parse(mail);
	GMimeObject *top = GMIME_OBJECT(msg);

	/* Headers. */
	g_autofree char *subject = g_strconcat("[" REF "] ", g->summary, NULL);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, subject);
	g_autofree char *msgid = g_strconcat(m->wamid, "@" DOMAIN, NULL);
	g_assert_cmpstr(g_mime_message_get_message_id(msg), ==, msgid);
	GDateTime *date = g_mime_message_get_date(msg);
	g_assert_nonnull(date);
	g_assert_cmpint(g_date_time_to_unix(date), ==, m->ts);
	g_assert_cmpint(g_date_time_get_utc_offset(date), ==, (GTimeSpan)(5 * 3600 + 1800) * G_USEC_PER_SEC);
	InternetAddress *from = internet_address_list_get_address(g_mime_message_get_from(msg), 0);
	g_autofree char *from_addr = g_strdup_printf("wa-%s@" DOMAIN, m->sender);
	g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(from)), ==, from_addr);
	g_assert_true(g_str_has_prefix(internet_address_get_name(from), g->profile ? g->profile : "(+91 "));
	g_assert_cmpstr(g_mime_object_get_header(top, "X-WhatsApp-Type"), ==, m->type);
	g_assert_cmpstr(g_mime_object_get_header(top, "X-WhatsApp-Message-Id"), ==, m->wamid);
	g_assert_cmpstr(g_mime_object_get_header(top, "X-Payload-SHA256"), ==, m->payload_sha256);
	g_assert_cmpstr(g_mime_object_get_header(top, "Auto-Submitted"), ==, "auto-generated");
	if (m->reply_parent) {
		g_autofree char *irt = g_strdup_printf("<%s@" DOMAIN ">", m->reply_parent);
		g_autofree char *parent = g_strdup_printf("%s@" DOMAIN, m->reply_parent);
		g_assert_cmpstr(g_mime_object_get_header(top, "In-Reply-To"), ==, irt);
		GMimeReferences *refs = g_mime_references_parse(NULL,
			g_mime_object_get_header(top, "References"));
		g_assert_cmpint(g_mime_references_length(refs), ==, 2);
		g_assert_cmpstr(g_mime_references_get_message_id(refs, 0), ==, ROOT "@" DOMAIN);
		g_assert_cmpstr(g_mime_references_get_message_id(refs, 1), ==, parent);
		g_mime_references_free(refs);
	} else {
		g_assert_null(g_mime_object_get_header(top, "In-Reply-To"));
	}

	/* The tree: multipart/alternative of the plain text and multipart/related of the
	 * HTML and the JSON; in multipart/mixed with the files when there are any, else
	 * alone (no paperclip for a mail without files). */
	guint n_want = 0;
	while (n_want < G_N_ELEMENTS(g->files) && g->files[n_want])
		n_want++;
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	GMimeObject *alt = body;
	if (n_want) {
		g_assert_true(is_type(body, "multipart", "mixed"));
		alt = g_mime_multipart_get_part(GMIME_MULTIPART(body), 0);
	}
	g_assert_true(is_type(alt, "multipart", "alternative"));
	g_assert_cmpint(g_mime_multipart_get_count(GMIME_MULTIPART(alt)), ==, 2);
	GMimeObject *rel = g_mime_multipart_get_part(GMIME_MULTIPART(alt), 1);
	g_assert_true(is_type(rel, "multipart", "related"));
	g_assert_cmpstr(g_mime_object_get_content_type_parameter(rel, "type"), ==, "text/html");
	g_autoptr(GArray) leaves = g_array_new(FALSE, FALSE, sizeof(struct leaf));
	collect_leaves(body, NULL, leaves);
	GMimeObject *plain = NULL, *html = NULL;
	struct leaf *jl = NULL;
	g_autoptr(GPtrArray) files = g_ptr_array_new();
	for (guint i = 0; i < leaves->len; i++) {
		struct leaf *l = &g_array_index(leaves, struct leaf, i);
		const char *fn = g_mime_part_get_filename(GMIME_PART(l->part));
		if (!fn && is_type(l->part, "text", "plain") && !plain)
			plain = l->part;
		else if (!fn && is_type(l->part, "text", "html") && !html)
			html = l->part;
		else if (l->parent == rel && !jl)
			jl = l;
		else
			g_ptr_array_add(files, l);
	}
	g_assert_true(g_mime_multipart_get_part(GMIME_MULTIPART(alt), 0) == plain);
	g_assert_true(g_mime_multipart_get_part(GMIME_MULTIPART(rel), 0) == html);
	g_assert_nonnull(jl);
	g_assert_nonnull(plain);
	g_assert_nonnull(html);
	g_autofree char *plain_text = text_of(plain);
	g_autofree char *html_text = text_of(html);
	if (!strstr(plain_text, g->plain_has))
		g_error("text/plain lacks \"%s\":\n%s", g->plain_has, plain_text);
	/* Whatever the citizen wrote (a text's body, a caption) is there, unchanged. */
	json_t *typed = json_object_get(obj, m->type);
	const char *wrote = str_at(typed, strcmp(m->type, "text") == 0 ? "body" : "caption");
	if (wrote && !strstr(plain_text, wrote))
		g_error("text/plain lacks what the citizen wrote, \"%s\":\n%s", wrote, plain_text);
	g_assert_null(strstr(html_text, "<script")); /* the template has none: any is the payload's */
	g_assert_null(strstr(html_text, "data-wb"));
	/* What a reader sees first is the state line, in both bodies. */
	g_assert_true(g_str_has_prefix(plain_text, STATE "\n\n"));
	const char *body_start = strstr(html_text, "<body");
	g_assert_nonnull(body_start);
	const char *banner = strchr(body_start, '>');
	g_assert_true(g_str_has_prefix(banner, ">\n<p style="));
	g_assert_nonnull(strstr(banner, "\">" STATE "</p>"));
	g_assert_true(strstr(banner, STATE) < strstr(banner, "</p>"));
	/* No ids, hashes or empty boxes in what a reader sees; no hint when a state is given. */
	const char *unseen[] = { m->wamid, m->payload_sha256, "(no text)", "(no caption)",
				 "SHA-256", "To register this complaint" };
	g_autofree char *html_seen = visible(html_text);
	for (size_t i = 0; i < G_N_ELEMENTS(unseen); i++) {
		if (strstr(plain_text, unseen[i]) || strstr(html_seen, unseen[i]))
			g_error("%s: the body shows \"%s\"", g->name, unseen[i]);
	}

	/* Files: the expected names in order. */
	g_assert_cmpuint(files->len, ==, n_want);
	bool non_ascii_name = false;
	for (guint i = 0; i < n_want; i++) {
		struct leaf *l = files->pdata[i];
		GMimePart *p = GMIME_PART(l->part);
		g_assert_cmpstr(g_mime_part_get_filename(p), ==, g->files[i]);
		non_ascii_name = non_ascii_name || !is_ascii(g->files[i]);
		g_assert_true(GMIME_IS_PART(l->part));
		g_autoptr(GBytes) bytes = part_bytes(GMIME_PART(l->part));
		gsize len;
		const void *d = g_bytes_get_data(bytes, &len);
		g_autofree char *hex = sha256_hex(d, len);
		g_autofree char *desc = g_strconcat(g->files[i], "; SHA-256 ", hex, NULL);
		if (!(i == 0 && media)) /* the media's own checks follow */
			g_assert_cmpstr(g_mime_part_get_content_description(p), ==, desc);
		if (i == 0 && media) {
			/* The media: its original bytes and the payload's MIME type. */
			if (!g_bytes_equal(bytes, media)) {
				g_autofree char *copy = g_strndup(d, len);
				g_autofree char *got = g_strescape(copy, NULL);
				g_test_fail_printf("%s: the attached %s decodes to %zu bytes that differ "
						   "from the %zu media bytes: \"%s\"", g->name,
						   g->files[i], len, g_bytes_get_size(media), got);
			}
			g_autofree char *media_hex = sha256_hex(g_bytes_get_data(media, NULL),
								g_bytes_get_size(media));
			g_autofree char *media_desc = g_strconcat(g->files[i], "; SHA-256 ", media_hex,
								  NULL);
			if (g_strcmp0(g_mime_part_get_content_description(p), media_desc) != 0)
				g_test_fail_printf("%s: Content-Description is not the media's hash %s",
						   g->name, media_hex);
			assert_content_type(l->part, str_at(json_object_get(obj, m->type), "mime_type"));
		}
		/* A real attachment of the top multipart/mixed, listed in the body by name. */
		g_assert_true(l->parent == body);
		g_assert_cmpstr(g_mime_object_get_disposition(l->part), ==, "attachment");
		g_assert_null(g_mime_object_get_content_id(l->part));
		g_autofree char *listed = g_strdup_printf("- %s (", g->files[i]);
		g_assert_nonnull(strstr(plain_text, listed));
	}
	g_assert_null(strstr(html_text, "src=\"cid:")); /* no image by cid: it is an attachment */
	/* RFC 2231 on the wire: filename*= or, split in continuations, filename*0*=. */
	if (non_ascii_name)
		g_assert_true(strstr(rawz, "filename*=") || strstr(rawz, "filename*0*="));

	/* The message object, attached, linked from the HTML, parses back to the same JSON. */
	g_assert_cmpstr(g_mime_object_get_disposition(jl->part), ==, "attachment");
	g_autofree char *href = g_strdup_printf("href=\"cid:%s\"",
						g_mime_object_get_content_id(jl->part));
	g_assert_nonnull(strstr(html_text, href));
	g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(jl->part)), ==, "whatsapp-message.json");
	g_assert_true(is_type(jl->part, "application", "json"));
	g_assert_true(GMIME_IS_PART(jl->part));
	g_autoptr(GBytes) jb = part_bytes(GMIME_PART(jl->part));
	json_error_t jerr;
	json_t *back = json_loadb(g_bytes_get_data(jb, NULL), g_bytes_get_size(jb), 0, &jerr);
	if (!back)
		g_error("whatsapp-message.json does not parse: %s", jerr.text);
	g_assert_true(json_equal(back, obj));
	json_decref(back);
	g_object_unref(msg);
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void test_golden(gconstpointer data)
{
	const struct golden *g = data;
	g_autoptr(GBytes) jbytes = read_optional(g->name, ".json");
	if (!jbytes)
		g_error("tests/fixtures/golden/%s.json is missing", g->name);
	g_autofree char *json = g_strndup(g_bytes_get_data(jbytes, NULL), g_bytes_get_size(jbytes));
	json_error_t jerr;
	json_t *obj = json_loads(json, 0, &jerr);
	if (!json_is_object(obj))
		g_error("%s.json: not a JSON object: %s", g->name, jerr.text);
	g_autoptr(GBytes) media = read_optional(g->name, ".media");
	struct wb_msg *m = golden_msg(g, obj, json, media);

	g_autoptr(GBytes) mail = render(m);
	assert_wire_form(mail);
	GString *masked = mask_boundaries(mail);
	compare_golden(g->name, masked);
	g_string_free(masked, TRUE);

	/* Nothing but the boundaries varies: a second rendering masks to the same bytes. */
	g_autoptr(GBytes) again = render(m);
	GString *m1 = mask_boundaries(mail), *m2 = mask_boundaries(again);
	g_assert_true(g_string_equal(m1, m2));
	g_string_free(m1, TRUE);
	g_string_free(m2, TRUE);

	check_parsed(g, m, obj, media, mail);
	json_decref(obj);
	wb_msg_free(m);
}

/* Every NAME.json of the directory has a case here, and every NAME.eml a NAME.json. */
static void test_fixture_set(void)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *dir = g_build_filename(top ? top : ".", "tests", "fixtures", "golden", NULL);
	g_autoptr(GError) err = NULL;
	GDir *d = g_dir_open(dir, 0, &err);
	g_assert_no_error(err);
	const char *f;
	guint n_json = 0;
	while ((f = g_dir_read_name(d))) {
		const char *dot = strrchr(f, '.');
		if (!dot || (strcmp(dot, ".json") && strcmp(dot, ".eml") && strcmp(dot, ".media")))
			continue;
		g_autofree char *stem = g_strndup(f, (gsize)(dot - f));
		bool listed = false;
		for (size_t i = 0; i < G_N_ELEMENTS(goldens); i++)
			listed = listed || strcmp(goldens[i].name, stem) == 0;
		if (!listed)
			g_test_fail_printf("%s/%s has no case in test-golden.c", dir, f);
		n_json += strcmp(dot, ".json") == 0;
	}
	g_dir_close(d);
	g_assert_cmpuint(n_json, ==, G_N_ELEMENTS(goldens));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_autoptr(GError) err = NULL;
	tpl = wb_templates_load(NULL, &err);
	g_assert_no_error(err);
	g_test_add_func("/golden/fixture_set", test_fixture_set);
	for (size_t i = 0; i < G_N_ELEMENTS(goldens); i++) {
		g_autofree char *path = g_strconcat("/golden/mail/", goldens[i].name, NULL);
		g_test_add_data_func(path, &goldens[i], test_golden);
	}
	int rc = g_test_run();
	wb_templates_free(tpl);
	g_mime_shutdown();
	return rc;
}
