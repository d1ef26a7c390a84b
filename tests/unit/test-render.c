/* Unit tests for render: the mail of SPEC §5, parsed back with GMime. */
#include "mailtest.h"
#include "render.h"
#include "util.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char st_key[] = "bhowanipore", st_name[] = "Bhowanipore Police Station", st_code[] = "BHP",
	    st_pnid[] = "441880000100101", st_address[] = "bhowanipore.ps@police.test";
static struct wb_station station = {
	.key = st_key, .name = st_name, .code = st_code, .phone_number_id = st_pnid,
	.address = st_address,
};

static struct wb_templates *tpl;

static struct wb_msg *sample(const char *name, const char *text_json)
{
	struct wb_msg *m = g_new0(struct wb_msg, 1);
	m->id = 1;
	m->wamid = g_strdup("wamid.HBgMOTE5ODMwMTExMjIyFQIAEhgUQkQ0RjE3QTI5QzBFNTU4MTIzQUIA");
	m->station = g_strdup("bhowanipore");
	m->phone_number_id = g_strdup("441880000100101");
	m->sender = g_strdup("919830111222");
	m->wa_id = g_strdup("919830111222");
	m->profile_name = g_strdup(name);
	m->type = g_strdup("text");
	m->json = g_strdup_printf("{\"from\":\"919830111222\",\"type\":\"text\",\"text\":{\"body\":%s}}",
				  text_json);
	m->ts = 1792051200; /* 2026-10-15 08:00:00 UTC = 13:30 IST */
	m->received_at = 1792051205;
	m->ref = g_strdup("BHP-2026-000001");
	m->payload_sha256 = g_strdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	return m;
}

static GBytes *render_with(struct wb_msg *m, const char *state, const char *target)
{
	g_autofree char *reply_to = g_strdup_printf("complaint+%s.0a1b2c3d4e@wa.police.test",
						    m->ref);
	struct wb_render_in in = {
		.domain = "wa.police.test", .timezone = "Asia/Kolkata", .reply_to = reply_to,
		.station = &station, .msg = m, .tpl = tpl, .state_line = state,
		.reaction_target = target,
	};
	g_autoptr(GError) err = NULL;
	GBytes *b = wb_render_mail(&in, &err);
	g_assert_no_error(err);
	g_assert_nonnull(b);
	return b;
}

static GBytes *render(struct wb_msg *m)
{
	return render_with(m, NULL, NULL);
}

static void test_headers(void)
{
	struct wb_msg *m = sample("তনুশ্রী বসু", "\"স্কুটার চুরি হয়েছে।\\nগাড়ির নম্বর WB-02\"");
	g_autoptr(GBytes) b = render(m);
	assert_wire_form(b);
	GMimeMessage *msg = parse(b);
	GMimeObject *o = GMIME_OBJECT(msg);

	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[BHP-2026-000001] স্কুটার চুরি হয়েছে।");
	InternetAddress *from = internet_address_list_get_address(g_mime_message_get_from(msg), 0);
	g_assert_cmpstr(internet_address_get_name(from), ==, "তনুশ্রী বসু (+91 98301 11222)");
	g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(from)), ==,
			"wa-919830111222@wa.police.test");
	g_assert_cmpstr(g_mime_message_get_message_id(msg), ==,
			"wamid.HBgMOTE5ODMwMTExMjIyFQIAEhgUQkQ0RjE3QTI5QzBFNTU4MTIzQUIA@wa.police.test");
	InternetAddress *rt = internet_address_list_get_address(g_mime_message_get_reply_to(msg), 0);
	g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(rt)), ==,
			"complaint+BHP-2026-000001.0a1b2c3d4e@wa.police.test");
	InternetAddress *to = internet_address_list_get_address(g_mime_message_get_to(msg), 0);
	g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(to)), ==,
			"bhowanipore.ps@police.test");
	GDateTime *date = g_mime_message_get_date(msg);
	g_assert_cmpint(g_date_time_to_unix(date), ==, 1792051200);
	g_assert_cmpint(g_date_time_get_utc_offset(date), ==, (gint64)(5 * 3600 + 1800) * G_USEC_PER_SEC);
	g_assert_cmpstr(g_mime_object_get_header(o, "Auto-Submitted"), ==, "auto-generated");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-WhatsApp-Message-Id"), ==, m->wamid);
	g_assert_cmpstr(g_mime_object_get_header(o, "X-WhatsApp-From"), ==, "919830111222");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-WhatsApp-Phone-Number-Id"), ==, "441880000100101");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-WhatsApp-Type"), ==, "text");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Complaint-Ref"), ==, "BHP-2026-000001");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Station"), ==, "bhowanipore");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Payload-SHA256"), ==, m->payload_sha256);
	g_assert_null(g_mime_object_get_header(o, "In-Reply-To")); /* first mail of its thread */

	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, "স্কুটার চুরি হয়েছে।\nগাড়ির নম্বর WB-02"));
	g_assert_nonnull(strstr(plain, "BHP-2026-000001"));
	g_autofree char *html = part_text(msg, "html");
	g_assert_nonnull(strstr(html, "স্কুটার চুরি হয়েছে।"));
	g_assert_null(strstr(html, "data-wb"));
	g_object_unref(msg);
	wb_msg_free(m);
}

static void test_threading(void)
{
	struct wb_msg *m = sample("A", "\"more\"");
	m->thread_root = g_strdup("wamid.ROOT");
	g_autoptr(GBytes) b = render(m);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To"), ==,
			"<wamid.ROOT@wa.police.test>");
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(msg), "References"), ==,
			"<wamid.ROOT@wa.police.test>");
	g_object_unref(msg);
	/* A WhatsApp reply to another message of the thread references both. */
	m->reply_parent = g_strdup("wamid.MID");
	g_autoptr(GBytes) b2 = render(m);
	msg = parse(b2);
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To"), ==,
			"<wamid.MID@wa.police.test>");
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(msg), "References"), ==,
			"<wamid.ROOT@wa.police.test> <wamid.MID@wa.police.test>");
	g_object_unref(msg);
	wb_msg_free(m);
}

static void test_hostile_name_and_text(void)
{
	g_autofree char *long_name = g_strnfill(5000, 'N');
	const char *names[] = { "Eve\r\nBcc: victim@example.org", "\"quoted\" <x@y> \\ name",
				long_name, "", "=?utf-8?q?fake?=" };
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		struct wb_msg *m = sample(names[i], "\"<script>alert(1)</script> & <b>bold</b>\"");
		g_autoptr(GBytes) b = render(m);
		assert_wire_form(b);
		GMimeMessage *msg = parse(b);
		g_assert_null(g_mime_object_get_header(GMIME_OBJECT(msg), "Bcc"));
		InternetAddressList *fl = g_mime_message_get_from(msg);
		g_assert_cmpint(internet_address_list_length(fl), ==, 1);
		InternetAddress *from = internet_address_list_get_address(fl, 0);
		g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(from)), ==,
				"wa-919830111222@wa.police.test");
		const char *shown = internet_address_get_name(from);
		g_assert_null(strpbrk(shown, "\r\n"));
		g_assert_cmpuint(g_utf8_strlen(shown, -1), <=, 128 + 20);
		g_autofree char *html = part_text(msg, "html");
		g_assert_null(strstr(html, "<script>"));
		g_assert_null(strstr(html, "<b>bold"));
		g_assert_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;"));
		g_object_unref(msg);
		wb_msg_free(m);
	}
}

static void test_long_text(void)
{
	/* 4096 characters of Bengali on one line: 12 KiB of UTF-8. */
	GString *t = g_string_new(NULL);
	for (int i = 0; i < 4096; i++)
		g_string_append(t, i % 7 ? "অ" : " ");
	g_autofree char *quoted = g_strdup_printf("\"%s\"", t->str);
	struct wb_msg *m = sample("L", quoted);
	g_autoptr(GBytes) b = render(m);
	assert_wire_form(b);
	GMimeMessage *msg = parse(b);
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, t->str)); /* all of it, unchanged */
	const char *subject = g_mime_message_get_subject(msg);
	g_assert_cmpuint(g_utf8_strlen(subject, -1), <=, 78 + 18);
	g_assert_true(g_utf8_validate(subject, -1, NULL));
	g_object_unref(msg);
	wb_msg_free(m);
	g_string_free(t, TRUE);
}

static void test_placeholder_for_other_types(void)
{
	struct wb_msg *m = sample("P", "\"x\"");
	g_free(m->type);
	g_free(m->json);
	m->type = g_strdup("image");
	m->json = g_strdup("{\"type\":\"image\",\"image\":{\"id\":\"1\",\"caption\":\"সই করা অভিযোগ\"}}");
	m->media_error = g_strdup("the media id is unknown");
	g_autoptr(GBytes) b = render(m);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[BHP-2026-000001] Photo: সই করা অভিযোগ");
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, "Photo"));
	g_assert_nonnull(strstr(plain, "whatsapp-message.json"));
	g_assert_nonnull(strstr(plain, "The photo could not be fetched from WhatsApp (the media id is "
				       "unknown). Media id 1"));
	g_object_unref(msg);

	g_free(m->type);
	g_free(m->json);
	m->type = g_strdup("something_new");
	m->json = g_strdup("{\"type\":\"something_new\"}");
	g_autoptr(GBytes) b2 = render(m);
	msg = parse(b2);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==,
			"[BHP-2026-000001] Unsupported message (something_new)");
	g_object_unref(msg);
	wb_msg_free(m);
}

static void test_json_attachment(void)
{
	struct wb_msg *m = sample("J", "\"টেস্ট\"");
	g_autoptr(GBytes) b = render(m);
	GMimeMessage *msg = parse(b);
	GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
	GMimePart *att = NULL;
	do {
		GMimeObject *o = g_mime_part_iter_get_current(it);
		if (GMIME_IS_PART(o) && g_strcmp0(g_mime_part_get_filename(GMIME_PART(o)),
						  "whatsapp-message.json") == 0)
			att = GMIME_PART(o);
	} while (!att && g_mime_part_iter_next(it));
	g_mime_part_iter_free(it);
	g_assert_nonnull(att);
	g_autoptr(GBytes) raw = part_bytes(att);
	g_autofree char *json = g_strndup(g_bytes_get_data(raw, NULL), g_bytes_get_size(raw));
	g_assert_nonnull(strstr(json, "টেস্ট"));
	g_assert_nonnull(strstr(json, "\"from\": \"919830111222\""));
	g_object_unref(msg);
	wb_msg_free(m);
}

static void test_message_id_and_phone(void)
{
	g_autofree char *a = wb_message_id("wamid.AB+/=", "d.test");
	g_assert_cmpstr(a, ==, "wamid.AB+/=@d.test");
	g_autofree char *b = wb_message_id("wamid..bad", "d.test");
	g_assert_true(g_str_has_suffix(b, ".wa@d.test"));
	g_assert_cmpuint(strlen(b), ==, 64 + strlen(".wa@d.test"));
	g_autofree char *p1 = wb_format_phone("919830012345");
	g_assert_cmpstr(p1, ==, "+91 98300 12345");
	g_autofree char *p2 = wb_format_phone("447700900123");
	g_assert_cmpstr(p2, ==, "+447700900123");
}

/* The bridge's own note in a thread: threaded, From the bridge, the sent text verbatim
 * (Bengali), hostile text escaped, the request attached; a citizen text template fills. */
static void test_note(void)
{
	const char *headers[] = { "X-Wabridge-Outbox", "7", "X-Evil", "a\r\nBcc: x@evil.org", NULL };
	struct wb_note_in in = {
		.domain = "wa.police.test", .timezone = "Asia/Kolkata", .station = &station,
		.ref = "BHP-2026-000001", .thread_root = "wamid.ROOT1",
		.message_id = "wb-out-7@wa.police.test",
		.reply_to = "complaint+BHP-2026-000001.0a1b2c3d4e@wa.police.test",
		.summary = "Sent to the citizen: অভিযোগ নম্বর 123/2026\r\nBcc: x@evil.org",
		.when = 1792051200, .title = "Record", .body = "Line one\n<b>not bold</b>",
		.sent_label = "Sent:", .sent = "আপনার অভিযোগ নম্বর: 123/2026",
		.json_name = "whatsapp-request.json", .json = "{\"to\":\"919830111222\"}",
		.headers = headers, .tpl = tpl,
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) b = wb_render_note(&in, &err);
	g_assert_no_error(err);
	assert_wire_form(b);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_message_get_message_id(msg), ==, "wb-out-7@wa.police.test");
	GMimeObject *o = GMIME_OBJECT(msg);
	g_assert_cmpstr(g_mime_object_get_header(o, "In-Reply-To"), ==, "<wamid.ROOT1@wa.police.test>");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Complaint-Ref"), ==, "BHP-2026-000001");
	g_assert_cmpstr(g_mime_object_get_header(o, "Auto-Submitted"), ==, "auto-generated");
	g_assert_null(g_mime_object_get_header(o, "Bcc"));
	const char *subject = g_mime_message_get_subject(msg);
	g_assert_true(g_str_has_prefix(subject, "[BHP-2026-000001] Sent to the citizen: অভিযোগ নম্বর"));
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, "আপনার অভিযোগ নম্বর: 123/2026"));
	g_autofree char *html = part_text(msg, "html");
	g_assert_nonnull(strstr(html, "&lt;b&gt;not bold&lt;/b&gt;"));
	g_assert_null(strstr(html, "<b>not bold"));
	bool json = false;
	GMimePartIter *it = g_mime_part_iter_new(o);
	do {
		GMimeObject *p = g_mime_part_iter_get_current(it);
		if (GMIME_IS_PART(p) && g_strcmp0(g_mime_part_get_filename(GMIME_PART(p)),
						  "whatsapp-request.json") == 0)
			json = true;
	} while (g_mime_part_iter_next(it));
	g_mime_part_iter_free(it);
	g_assert_true(json);
	g_object_unref(msg);

	const char *fields[] = { "station", "Bhowanipore", "number", "123/2026", "ref", "BHP-1",
				 "text", "{{number}} stays", NULL };
	for (int l = 0; l < WB_LANG_COUNT; l++) {
		g_autofree char *t = wb_fill_text(tpl->citizen_registered[l], fields);
		g_assert_nonnull(strstr(t, "123/2026"));
		g_assert_nonnull(strstr(t, "{{number}} stays")); /* one pass: values are not re-read */
		g_assert_null(strstr(t, "{{station}}"));
	}
}

/* ---- what a reader sees ------------------------------------------------------------------ */

static struct wb_msg *typed(const char *type, const char *json)
{
	struct wb_msg *m = sample("T", "\"x\"");
	g_free(m->type);
	g_free(m->json);
	m->type = g_strdup(type);
	m->json = g_strdup(json);
	return m;
}

/* The state line is the first thing of both bodies, escaped, and replaces the hint; without
 * one, the hint is there. */
static void test_state_line(void)
{
	const char *state = "NEW – not yet registered. Reply to this mail with the complaint number "
			    "by Mon 7 Dec, 14:00 IST.\n<b>Overdue</b> & \"late\"\r\nBcc: x@evil.test";
	struct wb_msg *m = sample("S", "\"মোবাইল চুরি\"");
	g_autoptr(GBytes) b = render_with(m, state, NULL);
	assert_wire_form(b);
	GMimeMessage *msg = parse(b);
	g_assert_null(g_mime_object_get_header(GMIME_OBJECT(msg), "Bcc"));
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_true(g_str_has_prefix(plain, "NEW – not yet registered. Reply to this mail with the "
					      "complaint number by Mon 7 Dec, 14:00 IST.\n<b>Overdue</b> & "
					      "\"late\"\nBcc: x@evil.test\n\nমোবাইল চুরি\n"));
	g_assert_null(strstr(plain, "To register this complaint"));
	g_autofree char *html = part_text(msg, "html");
	const char *body = strstr(html, "<body");
	g_assert_nonnull(body);
	const char *first = strchr(body, '>') + 1;
	while (*first == '\n')
		first++;
	g_assert_true(g_str_has_prefix(first, "<p style=\""));
	g_assert_nonnull(strstr(first, "font-weight: bold"));
	const char *text = strchr(first, '>') + 1;
	g_assert_true(g_str_has_prefix(text, "NEW – not yet registered."));
	g_assert_nonnull(strstr(html, "&lt;b&gt;Overdue&lt;/b&gt; &amp; \"late\""));
	g_assert_null(strstr(html, "<b>Overdue"));
	g_autofree char *seen = visible(html);
	g_assert_null(strstr(seen, "To register this complaint"));
	g_object_unref(msg);

	/* No state line (NULL or empty): no banner, the hint is the fallback. */
	const char *none[] = { NULL, "", " \n " };
	for (size_t i = 0; i < G_N_ELEMENTS(none); i++) {
		g_autoptr(GBytes) b2 = render_with(m, none[i], NULL);
		msg = parse(b2);
		g_autofree char *p2 = part_text(msg, "plain");
		g_autofree char *h2 = part_text(msg, "html");
		g_assert_true(g_str_has_prefix(p2, "মোবাইল চুরি\n"));
		g_assert_nonnull(strstr(p2, "To register this complaint, reply to this mail"));
		g_assert_nonnull(strstr(h2, "To register this complaint, reply to this mail"));
		g_assert_null(strstr(h2, "font-weight: bold; font-size: 15px"));
		g_object_unref(msg);
	}
	wb_msg_free(m);
}

/* No empty box, no ids or hashes in the body; a text-only mail is not multipart/mixed but
 * carries whatsapp-message.json, as an attachment the HTML links to by cid. */
static void test_quiet_text_mail(void)
{
	struct wb_msg *m = sample("Q", "\"\"");
	g_autoptr(GBytes) b = render_with(m, "NEW", NULL);
	GMimeMessage *msg = parse(b);
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(top), "multipart",
						  "alternative"));
	g_autofree char *plain = part_text(msg, "plain");
	g_autofree char *html = part_text(msg, "html");
	g_autofree char *seen = visible(html);
	const char *never[] = { "(no text)", "(no caption)", m->wamid, m->payload_sha256, "SHA-256",
				"Attachments:" };
	for (size_t i = 0; i < G_N_ELEMENTS(never); i++) {
		g_assert_null(strstr(plain, never[i]));
		g_assert_null(strstr(seen, never[i]));
	}
	g_assert_nonnull(strstr(plain, "The message has no text"));
	GMimePart *json = NULL;
	GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
	do {
		GMimeObject *o = g_mime_part_iter_get_current(it);
		if (GMIME_IS_PART(o) && g_strcmp0(g_mime_part_get_filename(GMIME_PART(o)),
						  "whatsapp-message.json") == 0)
			json = GMIME_PART(o);
	} while (!json && g_mime_part_iter_next(it));
	g_mime_part_iter_free(it);
	g_assert_nonnull(json);
	g_assert_cmpstr(g_mime_object_get_disposition(GMIME_OBJECT(json)), ==, "attachment");
	g_autofree char *href = g_strdup_printf("<a href=\"cid:%s\">whatsapp-message.json</a>",
						g_mime_object_get_content_id(GMIME_OBJECT(json)));
	g_assert_nonnull(strstr(html, href));
	g_object_unref(msg);
	wb_msg_free(m);
}

/* A photo is an attachment of the top multipart/mixed, named in the station's time
 * (08:00 UTC is 13:30 in Kolkata), listed by name, type and size, without its hash. */
static void test_media_attachment(void)
{
	static const char jpeg[] = "\xff\xd8\xff\xe0 not really a JPEG \xff\xd9";
	struct wb_msg *m = typed("image", "{\"type\":\"image\",\"image\":{\"id\":\"1\","
				 "\"caption\":\"সই করা\"}}");
	m->media = g_bytes_new_static(jpeg, sizeof jpeg - 1);
	m->media_mime = g_strdup("image/jpeg");
	g_autoptr(GBytes) b = render_with(m, "NEW", NULL);
	assert_wire_form(b);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[BHP-2026-000001] Photo: সই করা");
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(top), "multipart",
						  "mixed"));
	GMimeMultipart *mixed = GMIME_MULTIPART(top);
	g_assert_cmpint(g_mime_multipart_get_count(mixed), ==, 2);
	GMimeObject *photo = g_mime_multipart_get_part(mixed, 1);
	g_assert_cmpstr(g_mime_object_get_disposition(photo), ==, "attachment");
	g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(photo)), ==, "photo-20261015-133000.jpg");
	g_assert_null(g_mime_object_get_content_id(photo));
	g_autofree char *hex = wb_sha256_hex(jpeg, sizeof jpeg - 1);
	g_autofree char *desc = g_strdup_printf("photo-20261015-133000.jpg; SHA-256 %s", hex);
	g_assert_cmpstr(g_mime_part_get_content_description(GMIME_PART(photo)), ==, desc);
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, "Attachments:\n- photo-20261015-133000.jpg (image/jpeg, 25 bytes)\n"));
	g_assert_null(strstr(plain, hex));
	g_autofree char *html = part_text(msg, "html");
	g_assert_null(strstr(html, hex));
	g_assert_null(strstr(html, "<img"));
	/* The state line, then the caption, then the list. */
	g_assert_true(strstr(plain, "NEW") < strstr(plain, "সই করা"));
	g_assert_true(strstr(plain, "সই করা") < strstr(plain, "Attachments:"));
	g_object_unref(msg);
	wb_msg_free(m);
}

/* A medium in a file (a spooled one): the mail written to a descriptor reads it from
 * there, and carries exactly its bytes, as the mail rendered in memory does. */
static void test_media_from_file(void)
{
	const gsize size = 3u << 20;
	g_autofree guint8 *data = g_malloc(size);
	GRand *r = g_rand_new_with_seed(14);
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)g_rand_int_range(r, 0, 256);
	g_rand_free(r);
	g_autofree char *media = NULL, *out = NULL;
	int mfd = g_file_open_tmp("wb-render-media-XXXXXX", &media, NULL);
	g_assert_cmpint(mfd, >=, 0);
	g_assert_cmpint(write(mfd, data, size), ==, (gssize)size);
	close(mfd);
	struct wb_msg *m = typed("document", "{\"type\":\"document\",\"document\":{\"id\":\"1\","
				 "\"filename\":\"GD copy.pdf\"}}");
	g_autoptr(GMappedFile) mf = g_mapped_file_new(media, FALSE, NULL);
	m->media = g_mapped_file_get_bytes(mf);
	m->media_mime = g_strdup("application/pdf");
	g_autofree char *reply_to = g_strdup("complaint+BHP-2026-000001.0a1b2c3d4e@wa.police.test");
	struct wb_render_in in = {
		.domain = "wa.police.test", .timezone = "Asia/Kolkata", .reply_to = reply_to,
		.station = &station, .msg = m, .tpl = tpl, .media_path = media,
	};
	int fd = g_file_open_tmp("wb-render-mail-XXXXXX", &out, NULL);
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_render_mail_to_fd(&in, fd, &err));
	g_assert_no_error(err);
	close(fd);
	GBytes *in_memory = wb_render_mail(&in, &err);
	g_assert_no_error(err);
	GBytes *written = NULL;
	g_assert_true(wb_read_all(out, 16u << 20, &written, NULL));
	assert_wire_form(written);
	GBytes *mails[] = { written, in_memory };
	for (int i = 0; i < 2; i++) {
		GMimeMessage *msg = parse(mails[i]);
		GMimeObject *doc = g_mime_multipart_get_part(
			GMIME_MULTIPART(g_mime_message_get_mime_part(msg)), 1);
		g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(doc)), ==, "GD copy.pdf");
		g_autoptr(GBytes) got = part_bytes(GMIME_PART(doc));
		g_assert_cmpuint(g_bytes_get_size(got), ==, size);
		g_assert_cmpmem(g_bytes_get_data(got, NULL), size, data, size);
		g_object_unref(msg);
	}
	/* the same mail but for its MIME boundaries */
	g_assert_cmpuint(g_bytes_get_size(written), ==, g_bytes_get_size(in_memory));
	g_bytes_unref(written);
	g_bytes_unref(in_memory);

	/* a medium's file that is gone, and a descriptor that takes no more */
	g_autofree char *gone = g_strconcat(media, ".gone", NULL);
	in.media_path = gone;
	fd = open(out, O_WRONLY | O_TRUNC);
	g_assert_false(wb_render_mail_to_fd(&in, fd, &err));
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(err->message, gone));
	close(fd);
	g_clear_error(&err);
	in.media_path = media;
	fd = open("/dev/full", O_WRONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_false(wb_render_mail_to_fd(&in, fd, &err));
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
	close(fd);
	unlink(media);
	unlink(out);
	wb_msg_free(m);
}

/* A reaction names what it is to as the caller says, and never shows the wamid. */
static void test_reaction(void)
{
	struct wb_msg *m = typed("reaction", "{\"type\":\"reaction\",\"reaction\":{\"emoji\":\"👍\","
				 "\"message_id\":\"wamid.HBgSECRETTARGET\"}}");
	const char *target = "your message of 15 Oct, 13:30: “Complaint No. 123/2026 <b>”";
	g_autoptr(GBytes) b = render_with(m, NULL, target);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[BHP-2026-000001] Reaction 👍 to your "
			"message of 15 Oct, 13:30: “Complaint No. 123/2026 <b>”");
	g_autofree char *plain = part_text(msg, "plain");
	g_autofree char *html = part_text(msg, "html");
	g_autofree char *seen = visible(html);
	g_assert_nonnull(strstr(plain, "The citizen reacted with 👍 to your message of 15 Oct, 13:30"));
	g_assert_nonnull(strstr(html, "“Complaint No. 123/2026 &lt;b&gt;”"));
	g_assert_null(strstr(plain, "wamid.HBgSECRETTARGET"));
	g_assert_null(strstr(seen, "wamid.HBgSECRETTARGET"));
	g_object_unref(msg);
	g_autoptr(GBytes) b2 = render_with(m, NULL, NULL);
	msg = parse(b2);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[BHP-2026-000001] Reaction 👍");
	g_autofree char *p2 = part_text(msg, "plain");
	g_assert_nonnull(strstr(p2, "The citizen reacted with 👍 to a message that is not in this "
				    "complaint's record."));
	g_assert_null(strstr(p2, "wamid.HBgSECRETTARGET"));
	g_object_unref(msg);
	wb_msg_free(m);
}

/* ---- links ------------------------------------------------------------------------------- */

/* text → its links as "HREF=TEXT" joined by " | ". */
static const struct { const char *text, *want; } links[] = {
	{ "see https://example.org/a?b=1&c=2.", "https://example.org/a?b=1&c=2=https://example.org/a?b=1&c=2" },
	{ "(https://en.wikipedia.org/wiki/Foo_(bar))",
	  "https://en.wikipedia.org/wiki/Foo_(bar)=https://en.wikipedia.org/wiki/Foo_(bar)" },
	{ "https://x.in/a), and", "https://x.in/a=https://x.in/a" },
	{ "visit www.kolkatapolice.gov.in, now", "https://www.kolkatapolice.gov.in=www.kolkatapolice.gov.in" },
	{ "two: http://a.in and WWW.B.IN!", "http://a.in=http://a.in | https://WWW.B.IN=WWW.B.IN" },
	{ "HTTPS://EXAMPLE.ORG/X?", "HTTPS://EXAMPLE.ORG/X=HTTPS://EXAMPLE.ORG/X" },
	{ "*https://x.in/p* _www.y.in_", "https://x.in/p=https://x.in/p" },
	{ "দেখুন https://x.in/পথ। এখানে", "https://x.in/পথ=https://x.in/পথ" },
	{ "'https://q.in/a'", "https://q.in/a=https://q.in/a" },
	{ "“https://q.in/b”", "https://q.in/b=https://q.in/b" },
	{ "https://a.b/\"onmouseover=\"alert(1)", "https://a.b/=https://a.b/" },
	{ "https://a.b/<script>alert(1)</script>", "https://a.b/=https://a.b/" },
	{ "https://\"><script>alert(1)</script>", "" },
	{ "javascript:alert(1)", "" },
	{ "JaVaScRiPt:alert('https')", "" },
	{ "data:text/html;base64,PHNjcmlwdD4=", "" },
	{ "vbscript:msgbox ftp://x.in file:///etc/passwd mailto:a@b.in", "" },
	{ "xhttps://a.in foo.www.b.in mail@www.c.in /www.d.in", "" },
	{ "http:// https://", "" },
	{ "https://-x.in www.", "" },
	{ "javascript:https://x.in", "" },
	{ "", "" },
};

static char *links_of(const char *text)
{
	GString *out = g_string_new(NULL);
	size_t from = 0, start, end;
	while (wb_next_link(text, from, &start, &end)) {
		g_assert_cmpuint(start, >=, from);
		g_assert_cmpuint(end, >, start);
		g_autofree char *href = wb_link_href(text + start, end - start);
		g_string_append_printf(out, "%s%s=%.*s", out->len ? " | " : "", href,
				       (int)(end - start), text + start);
		from = end;
	}
	return g_string_free(out, FALSE);
}

static void test_links_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(links); i++) {
		g_autofree char *got = links_of(links[i].text);
		if (strcmp(got, links[i].want) != 0)
			g_error("links of \"%s\": want \"%s\", got \"%s\"", links[i].text, links[i].want, got);
	}
}

/* Over 2000 bytes a URL stays text, and nothing inside it becomes a link either. */
static void test_links_long(void)
{
	GString *url = g_string_new("https://x.in/");
	while (url->len < 2000)
		g_string_append(url, "a");
	g_autofree char *fits = links_of(url->str);
	g_assert_cmpuint(strlen(fits), ==, 2 * 2000 + 1);
	g_string_append(url, "b/?u=https://www.evil.in/");
	g_autofree char *over = links_of(url->str);
	g_assert_cmpstr(over, ==, "");
	g_string_free(url, TRUE);
}

/* In the HTML: anchors built as nodes (escaped href, the URL as written as the visible
 * text), hostile text makes no markup and no other link; the plain text is unchanged. */
static void test_links_in_html(void)
{
	const char *text = "Fraud site https://kyc.example/login?id=7&ref=\"x\" and www.pay-now.example. "
			   "<a href=\"javascript:alert(1)\">click</a> javascript:alert(2) "
			   "https://a.b/\"><script>alert(3)</script>";
	json_t *s = json_string(text);
	char *quoted = json_dumps(s, JSON_ENCODE_ANY);
	struct wb_msg *m = sample("L", quoted);
	free(quoted);
	json_decref(s);
	g_autoptr(GBytes) b = render(m);
	GMimeMessage *msg = parse(b);
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, text));
	g_autofree char *html = part_text(msg, "html");
	g_assert_nonnull(strstr(html, "<a href=\"https://kyc.example/login?id=7&amp;ref=\">"
				      "https://kyc.example/login?id=7&amp;ref=</a>"));
	g_assert_nonnull(strstr(html, "<a href=\"https://www.pay-now.example\">www.pay-now.example</a>"));
	g_assert_nonnull(strstr(html, "<a href=\"https://a.b/\">https://a.b/</a>"));
	g_assert_null(strstr(html, "<script"));
	g_assert_null(strstr(html, "javascript:alert(1)\">"));
	g_assert_null(strstr(html, "<a href=\"javascript"));
	g_assert_nonnull(strstr(html, "&lt;a href=\"javascript:alert(1)\"&gt;click&lt;/a&gt;"));
	/* Every href of the mail: https or http, or the record's cid. */
	guint anchors = 0;
	for (const char *p = strstr(html, "<a href=\""); p; p = strstr(p + 1, "<a href=\"")) {
		const char *v = p + 9;
		g_assert_true(g_str_has_prefix(v, "https://") || g_str_has_prefix(v, "cid:"));
		anchors++;
	}
	g_assert_cmpuint(anchors, ==, 4);
	g_autofree char *seen = visible(html);
	g_assert_nonnull(strstr(seen, text)); /* every character still there, as written */
	g_object_unref(msg);
	wb_msg_free(m);
}

/* A location's map link: in full, as its own visible text, a link. */
static void test_map_link(void)
{
	struct wb_msg *m = typed("location", "{\"type\":\"location\",\"location\":{\"latitude\":22.5,"
				 "\"longitude\":88.25,\"name\":\"Gariahat\"}}");
	g_autoptr(GBytes) b = render(m);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[BHP-2026-000001] Location: Gariahat");
	g_autofree char *html = part_text(msg, "html");
	const char *url = "https://www.openstreetmap.org/?mlat=22.5&amp;mlon=88.25#map=18/22.5/88.25";
	g_autofree char *a = g_strdup_printf("<a href=\"%s\">%s</a>", url, url);
	g_assert_nonnull(strstr(html, a));
	g_assert_null(strstr(html, "Open the location on a map"));
	g_object_unref(msg);
	wb_msg_free(m);
}

/* A note: the state line first; its JSON placed like a mail's (no multipart/mixed). */
static void test_note_state_and_record(void)
{
	struct wb_note_in in = {
		.domain = "wa.police.test", .timezone = "Asia/Kolkata", .station = &station,
		.ref = "BHP-2026-000001", .thread_root = "wamid.ROOT1",
		.message_id = "wb-out-8@wa.police.test", .summary = "Sent to the citizen",
		.when = 1792051200, .title = "Sent", .body = "Body",
		.json_name = "../whatsapp-request.json", .json = "{\"to\":\"919830111222\"}",
		.tpl = tpl, .state_line = "REGISTERED as 123/2026 – number delivered <i>",
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) b = wb_render_note(&in, &err);
	g_assert_no_error(err);
	assert_wire_form(b);
	GMimeMessage *msg = parse(b);
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(top), "multipart",
						  "alternative"));
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_true(g_str_has_prefix(plain, "REGISTERED as 123/2026 – number delivered <i>\n\nSent\n"));
	g_assert_nonnull(strstr(plain, "Attached: whatsapp-request.json\n"));
	g_autofree char *html = part_text(msg, "html");
	g_assert_nonnull(strstr(html, ">REGISTERED as 123/2026 – number delivered &lt;i&gt;</p>"));
	g_assert_nonnull(strstr(html, "<a href=\"cid:record.wb-out-8@wa.police.test\">"
				      "whatsapp-request.json</a>"));
	g_object_unref(msg);

	in.state_line = NULL;
	in.json = NULL;
	g_autoptr(GBytes) b2 = wb_render_note(&in, &err);
	g_assert_no_error(err);
	msg = parse(b2);
	g_autofree char *p2 = part_text(msg, "plain");
	g_assert_true(g_str_has_prefix(p2, "Sent\n"));
	g_assert_null(strstr(p2, "Attached:"));
	g_autofree char *h2 = part_text(msg, "html");
	g_assert_null(strstr(h2, "cid:"));
	g_object_unref(msg);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_autoptr(GError) err = NULL;
	tpl = wb_templates_load(NULL, &err);
	g_assert_no_error(err);
	g_test_add_func("/render/headers", test_headers);
	g_test_add_func("/render/threading", test_threading);
	g_test_add_func("/render/hostile_name_and_text", test_hostile_name_and_text);
	g_test_add_func("/render/long_text", test_long_text);
	g_test_add_func("/render/placeholder_for_other_types", test_placeholder_for_other_types);
	g_test_add_func("/render/json_attachment", test_json_attachment);
	g_test_add_func("/render/message_id_and_phone", test_message_id_and_phone);
	g_test_add_func("/render/note", test_note);
	g_test_add_func("/render/note_state_and_record", test_note_state_and_record);
	g_test_add_func("/render/state_line", test_state_line);
	g_test_add_func("/render/quiet_text_mail", test_quiet_text_mail);
	g_test_add_func("/render/media_attachment", test_media_attachment);
	g_test_add_func("/render/media_from_file", test_media_from_file);
	g_test_add_func("/render/reaction", test_reaction);
	g_test_add_func("/render/links/table", test_links_table);
	g_test_add_func("/render/links/long", test_links_long);
	g_test_add_func("/render/links/in_html", test_links_in_html);
	g_test_add_func("/render/links/map", test_map_link);
	int rc = g_test_run();
	wb_templates_free(tpl);
	g_mime_shutdown();
	return rc;
}
