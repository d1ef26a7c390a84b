/* Unit tests for render: the mail of SPEC §5, parsed back with GMime. */
#include "mailtest.h"
#include "render.h"
#include "util.h"

#include <gmime/gmime.h>
#include <string.h>

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

static GBytes *render(struct wb_msg *m)
{
	g_autofree char *reply_to = g_strdup_printf("complaint+%s.0a1b2c3d4e@wa.police.test",
						    m->ref);
	struct wb_render_in in = {
		.domain = "wa.police.test", .timezone = "Asia/Kolkata", .reply_to = reply_to,
		.station = &station, .msg = m, .tpl = tpl,
	};
	g_autoptr(GError) err = NULL;
	GBytes *b = wb_render_mail(&in, &err);
	g_assert_no_error(err);
	g_assert_nonnull(b);
	return b;
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
	int rc = g_test_run();
	wb_templates_free(tpl);
	g_mime_shutdown();
	return rc;
}
