/* Unit tests for dutymail: the escalation and the digest, parsed back with GMime. The
 * station's mails that an escalation takes its media from are rendered by wb_render_mail()
 * from the golden fixtures, as the pipeline would deliver them. */
#include "dutymail.h"
#include "mailtest.h"
#include "testlib.h"
#include "render.h"
#include "util.h"

#include <gmime/gmime.h>
#include <string.h>

#define DOMAIN "wa.police.test"
#define REF "BHP-2026-000042"
#define OPENED 1792051200 /* 2026-10-15 08:00:00 UTC = 13:30 IST */

static char st_key[] = "bhowanipore", st_name[] = "Bhowanipore Police Station", st_code[] = "BHP",
	    st_pnid[] = "441880000100101", st_address[] = "bhowanipore.ps@police.test";
static const struct wb_station station = {
	.key = st_key, .name = st_name, .code = st_code, .phone_number_id = st_pnid,
	.address = st_address,
};
static const char *const to[] = { "dc.south@police.test", "jtcp@police.test", NULL };

static struct wb_templates *tpl;

/* ---- the station's mails, rendered for real ---------------------------------------------- */

static GBytes *golden(const char *name)
{
	return fixture_in("golden", name);
}

static GBytes *station_mail(const char *type, const char *json, gint64 ts, GBytes *media,
			    const char *mime)
{
	struct wb_msg m = {
		.id = 1, .wamid = g_strdup_printf("wamid.T%" G_GINT64_FORMAT, ts),
		.station = st_key, .phone_number_id = st_pnid, .sender = (char *)"919830111222",
		.wa_id = (char *)"919830111222", .profile_name = (char *)"তনুশ্রী বসু",
		.type = (char *)type, .json = (char *)json, .ts = ts, .received_at = ts + 2,
		.ref = (char *)REF, .payload_sha256 = (char *)"00",
		.thread_root = ts == OPENED ? NULL : (char *)"wamid.ROOT",
		.media = media, .media_mime = (char *)mime,
	};
	g_autofree char *hex = media ? wb_sha256_hex(g_bytes_get_data(media, NULL),
						     g_bytes_get_size(media)) : NULL;
	m.media_sha256 = hex;
	struct wb_render_in in = {
		.domain = DOMAIN, .timezone = "Asia/Kolkata",
		.reply_to = "complaint+" REF ".0a1b2c3d4e@" DOMAIN, .station = &station, .msg = &m,
		.tpl = tpl,
	};
	g_autoptr(GError) err = NULL;
	GBytes *b = wb_render_mail(&in, &err);
	g_assert_no_error(err);
	g_free(m.wamid);
	return b;
}

static GBytes *golden_mail(const char *name, const char *type, gint64 ts, const char *mime)
{
	g_autofree char *jn = g_strconcat(name, ".json", NULL);
	g_autoptr(GBytes) json = golden(jn);
	g_autofree char *js = g_strndup(g_bytes_get_data(json, NULL), g_bytes_get_size(json));
	g_autoptr(GBytes) media = NULL;
	if (mime) {
		g_autofree char *mn = g_strconcat(name, ".media", NULL);
		media = golden(mn);
	}
	return station_mail(type, js, ts, media, mime);
}

/* A complaint of five messages: a text, a photo, a document with a Bengali name, two
 * contact cards, and a large video. */
struct complaint {
	struct wb_dm_message msgs[5];
	GBytes *big;
};

static void complaint_init(struct complaint *c)
{
	static const char text_json[] = "{\"type\":\"text\",\"text\":{\"body\":"
		"\"আমার স্কুটার চুরি হয়েছে।\\nগাড়ির নম্বর WB-02\"}}";
	GByteArray *big = g_byte_array_new();
	for (guint i = 0; i < 300000; i++) {
		guint8 b = (guint8)(i * 2654435761u >> 13);
		g_byte_array_append(big, &b, 1);
	}
	c->big = g_byte_array_free_to_bytes(big);
	c->msgs[0] = (struct wb_dm_message){ OPENED, "text",
		"আমার স্কুটার চুরি হয়েছে।\nগাড়ির নম্বর WB-02",
		station_mail("text", text_json, OPENED, NULL, NULL) };
	c->msgs[1] = (struct wb_dm_message){ OPENED + 120, "image",
		"Signed complaint – সই করা অভিযোগপত্র",
		golden_mail("image", "image", OPENED + 120, "image/jpeg") };
	c->msgs[2] = (struct wb_dm_message){ OPENED + 420, "document", "FIR copy, please check",
		golden_mail("document", "document", OPENED + 420, "application/pdf") };
	c->msgs[3] = (struct wb_dm_message){ OPENED + 600, "contacts", "2 contact cards",
		golden_mail("contacts", "contacts", OPENED + 600, NULL) };
	c->msgs[4] = (struct wb_dm_message){ OPENED + 900, "video", "",
		station_mail("video", "{\"type\":\"video\",\"video\":{\"id\":\"77\","
			     "\"mime_type\":\"video/mp4\"}}", OPENED + 900, c->big, "video/mp4") };
}

static void complaint_clear(struct complaint *c)
{
	for (size_t i = 0; i < G_N_ELEMENTS(c->msgs); i++)
		g_bytes_unref(c->msgs[i].mail);
	g_bytes_unref(c->big);
}

static const char *const matched[] = { "murder", "acid", NULL };

static struct wb_escalation_in escalation(const struct complaint *c, enum wb_escalation_why why)
{
	return (struct wb_escalation_in){
		.domain = DOMAIN, .timezone = "Asia/Kolkata", .from = "wabridge@police.test",
		.to = to, .station = &station, .ref = REF, .citizen = "919830111222",
		.profile_name = "তনুশ্রী বসু", .message_id = "esc-42-1@" DOMAIN, .why = why,
		.matched = matched, .opened_at = OPENED, .now = OPENED + 26 * 3600 + 600,
		.deadline = OPENED + 24 * 3600, .sla_hours = 24, .state = "no complaint number yet",
		.msgs = c->msgs, .n_msgs = G_N_ELEMENTS(c->msgs), .media_budget = 100u << 20,
	};
}

static GBytes *render_escalation(const struct wb_escalation_in *in)
{
	g_autoptr(GError) err = NULL;
	GBytes *b = wb_render_escalation(in, &err);
	g_assert_no_error(err);
	g_assert_nonnull(b);
	assert_wire_form(b);
	return b;
}

static const char *addr_at(InternetAddressList *l, int i)
{
	InternetAddress *a = internet_address_list_get_address(l, i);
	return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
}

/* The attachments of a mail other than whatsapp-message.json, in order. */
static GPtrArray *attachments(GMimeMessage *msg)
{
	GPtrArray *out = g_ptr_array_new();
	GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
	do {
		GMimeObject *o = g_mime_part_iter_get_current(it);
		const char *name = GMIME_IS_PART(o) ? g_mime_part_get_filename(GMIME_PART(o)) : NULL;
		if (name && strcmp(name, "whatsapp-message.json") != 0)
			g_ptr_array_add(out, o);
	} while (g_mime_part_iter_next(it));
	g_mime_part_iter_free(it);
	return out;
}

/* ---- the escalation ---------------------------------------------------------------------- */

static void test_escalation_headers(void)
{
	struct complaint c;
	complaint_init(&c);
	struct wb_escalation_in in = escalation(&c, WB_ESC_SERIOUS);
	g_autoptr(GBytes) b = render_escalation(&in);
	GMimeMessage *msg = parse(b);
	GMimeObject *o = GMIME_OBJECT(msg);

	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "[" REF "] ESCALATED (serious: murder, "
			"acid): আমার স্কুটার চুরি হয়েছে।");
	g_assert_cmpstr(g_mime_object_get_header(o, "Importance"), ==, "high");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Priority"), ==, "1");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Wabridge-Escalation"), ==, "serious");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Complaint-Ref"), ==, REF);
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Station"), ==, "bhowanipore");
	g_assert_cmpstr(g_mime_object_get_header(o, "Auto-Submitted"), ==, "auto-generated");
	g_assert_null(g_mime_object_get_header(o, "In-Reply-To")); /* the first escalation */
	g_assert_null(g_mime_object_get_header(o, "References"));
	g_assert_cmpstr(g_mime_message_get_message_id(msg), ==, "esc-42-1@" DOMAIN);
	g_assert_cmpstr(addr_at(g_mime_message_get_from(msg), 0), ==, "wabridge@police.test");
	InternetAddressList *tl = g_mime_message_get_to(msg);
	g_assert_cmpint(internet_address_list_length(tl), ==, 2);
	g_assert_cmpstr(addr_at(tl, 0), ==, "dc.south@police.test");
	g_assert_cmpstr(addr_at(tl, 1), ==, "jtcp@police.test");
	InternetAddressList *rt = g_mime_message_get_reply_to(msg);
	g_assert_cmpint(internet_address_list_length(rt), ==, 1);
	g_assert_cmpstr(addr_at(rt, 0), ==, "bhowanipore.ps@police.test");
	g_assert_cmpstr(internet_address_get_name(internet_address_list_get_address(rt, 0)), ==,
			"Bhowanipore Police Station");
	GDateTime *date = g_mime_message_get_date(msg);
	g_assert_cmpint(g_date_time_to_unix(date), ==, in.now);
	g_assert_cmpint(g_date_time_get_utc_offset(date), ==, (gint64)19800 * G_USEC_PER_SEC);
	g_object_unref(msg);
	complaint_clear(&c);
}

/* The other reasons: no priority headers, threaded on the first escalation, the subject
 * and body each reason calls for. */
static void test_escalation_kinds(void)
{
	static const struct {
		enum wb_escalation_why why;
		const char *name, *subject, *body;
	} cases[] = {
		{ WB_ESC_MANUAL, "manual", "[" REF "] ESCALATED by the station: আমার",
		  "oc.bhowanipore@police.test" },
		{ WB_ESC_OVERDUE, "overdue", "[" REF "] OVERDUE 26 h, no complaint number: আমার",
		  "Waiting:     26 h 10 min, against a clock of 24 h" },
		{ WB_ESC_LATE, "late", "[" REF "] OVERDUE 26 h (second tier), no complaint number: ",
		  "the first escalation did not change that" },
	};
	struct complaint c;
	complaint_init(&c);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct wb_escalation_in in = escalation(&c, cases[i].why);
		in.thread_id = "esc-42-1@" DOMAIN;
		in.officer = "oc.bhowanipore@police.test";
		in.officer_text = "Please send a team.\nThe victim is at home.";
		g_autoptr(GBytes) b = render_escalation(&in);
		GMimeMessage *msg = parse(b);
		GMimeObject *o = GMIME_OBJECT(msg);
		g_assert_null(g_mime_object_get_header(o, "Importance"));
		g_assert_null(g_mime_object_get_header(o, "X-Priority"));
		g_assert_cmpstr(g_mime_object_get_header(o, "X-Wabridge-Escalation"), ==, cases[i].name);
		g_assert_cmpstr(g_mime_object_get_header(o, "In-Reply-To"), ==, "<esc-42-1@" DOMAIN ">");
		g_assert_cmpstr(g_mime_object_get_header(o, "References"), ==, "<esc-42-1@" DOMAIN ">");
		g_assert_true(g_str_has_prefix(g_mime_message_get_subject(msg), cases[i].subject));
		g_autofree char *plain = part_text(msg, "plain");
		g_assert_nonnull(strstr(plain, cases[i].body));
		if (cases[i].why == WB_ESC_MANUAL)
			g_assert_nonnull(strstr(plain, "Officer's words:\n    Please send a team.\n"
						       "    The victim is at home.\n"));
		else
			g_assert_null(strstr(plain, "Please send a team."));
		g_object_unref(msg);
	}
	complaint_clear(&c);
}

static void test_escalation_bodies(void)
{
	struct complaint c;
	complaint_init(&c);
	struct wb_escalation_in in = escalation(&c, WB_ESC_OVERDUE);
	g_autoptr(GBytes) b = render_escalation(&in);
	GMimeMessage *msg = parse(b);
	g_autofree char *plain = part_text(msg, "plain");
	g_autofree char *html = part_text(msg, "html");
	const char *facts[] = { "Complaint:   " REF, "Bhowanipore Police Station (BHP) "
				"<bhowanipore.ps@police.test>", "তনুশ্রী বসু (+91 98301 11222)",
				"Opened:      Thursday, 15 October 2026, 13:30:00 IST (UTC+05:30)",
				"Friday, 16 October 2026, 13:30:00 IST (UTC+05:30) (overdue by 2 h 10 min)",
				"State:       no complaint number yet", "What to do: Ask the station" };
	for (size_t i = 0; i < G_N_ELEMENTS(facts); i++)
		g_assert_nonnull(strstr(plain, facts[i]));
	/* Every message, in time order, with its time in the zone and its type. */
	const char *order[] = { "1. Thursday, 15 October 2026, 13:30:00 IST (UTC+05:30), text\n"
				"    আমার স্কুটার চুরি হয়েছে।\n    গাড়ির নম্বর WB-02\n",
				"2. Thursday, 15 October 2026, 13:32:00 IST (UTC+05:30), image\n"
				"    Signed complaint – সই করা অভিযোগপত্র\n",
				"3. Thursday, 15 October 2026, 13:37:00 IST", "FIR copy, please check",
				"4. Thursday, 15 October 2026, 13:40:00 IST", "2 contact cards",
				"5. Thursday, 15 October 2026, 13:45:00 IST (UTC+05:30), video\n"
				"    (no text)\n" };
	const char *at = plain;
	for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
		const char *p = strstr(at, order[i]);
		g_assert_nonnull(p);
		at = p;
	}
	const char *hat = html;
	const char *hs[] = { "আমার স্কুটার চুরি হয়েছে।", "Signed complaint", "FIR copy",
			     "2 contact cards", "13:45:00 IST" };
	for (size_t i = 0; i < G_N_ELEMENTS(hs); i++) {
		const char *p = strstr(hat, hs[i]);
		g_assert_nonnull(p);
		hat = p;
	}
	g_assert_nonnull(strstr(html, "<table"));
	g_object_unref(msg);
	complaint_clear(&c);
}

/* Every attachment of the station's mails but the JSON record, with the same bytes, type,
 * name and Content-Description; over the budget, listed instead. */
static void test_escalation_media(void)
{
	struct complaint c;
	complaint_init(&c);
	g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) want_parts = g_ptr_array_new();
	for (size_t i = 0; i < G_N_ELEMENTS(c.msgs); i++) {
		GMimeMessage *sm = parse(c.msgs[i].mail);
		g_ptr_array_add(want, sm);
		g_autoptr(GPtrArray) a = attachments(sm);
		for (guint k = 0; k < a->len; k++)
			g_ptr_array_add(want_parts, a->pdata[k]);
	}
	g_assert_cmpuint(want_parts->len, ==, 5); /* photo, pdf, 2 vCards, video */

	struct wb_escalation_in in = escalation(&c, WB_ESC_SERIOUS);
	for (int round = 0; round < 2; round++) {
		in.media_budget = round == 0 ? 100u << 20 : 100000; /* the video is 300 000 bytes */
		g_autoptr(GBytes) b = render_escalation(&in);
		GMimeMessage *msg = parse(b);
		g_autoptr(GPtrArray) got = attachments(msg);
		g_assert_cmpuint(got->len, ==, round == 0 ? 5 : 4);
		for (guint i = 0; i < got->len; i++) {
			GMimePart *w = want_parts->pdata[i], *g = got->pdata[i];
			g_assert_cmpstr(g_mime_part_get_filename(g), ==, g_mime_part_get_filename(w));
			g_assert_cmpstr(g_mime_part_get_content_description(g), ==,
					g_mime_part_get_content_description(w));
			g_autofree char *wt = g_mime_content_type_get_mime_type(
				g_mime_object_get_content_type(GMIME_OBJECT(w)));
			g_autofree char *gt = g_mime_content_type_get_mime_type(
				g_mime_object_get_content_type(GMIME_OBJECT(g)));
			g_assert_cmpstr(gt, ==, wt);
			g_autoptr(GBytes) wb = part_bytes(w), gb = part_bytes(g);
			g_assert_true(g_bytes_equal(wb, gb));
			g_autofree char *hex = wb_sha256_hex(g_bytes_get_data(gb, NULL),
							     g_bytes_get_size(gb));
			g_assert_true(g_str_has_suffix(g_mime_part_get_content_description(g), hex));
		}
		g_autofree char *plain = part_text(msg, "plain");
		g_autofree char *vhex = wb_sha256_hex(g_bytes_get_data(c.big, NULL), 300000);
		g_autofree char *line = g_strdup_printf("- video-20261015-134500.mp4 (video/mp4, "
							"293.0\u00a0KiB), SHA-256 %s: %s", vhex,
							round == 0 ? "attached\n" : "not attached");
		g_assert_nonnull(strstr(plain, line));
		if (round == 1)
			g_assert_nonnull(strstr(plain, "it is in the station's mailbox, in the mail of "
						       "message 5"));
		g_assert_null(strstr(plain, "NOTE: the station's mail gives"));
		g_object_unref(msg);
	}
	complaint_clear(&c);
}

/* Hostile names, texts, words and stored mails: a safe rendering, never a new header. */
static void test_escalation_hostile(void)
{
	struct complaint c;
	complaint_init(&c);
	GString *huge = g_string_new(NULL);
	for (int i = 0; i < 200000; i++)
		g_string_append(huge, "ক্ষ ");
	static const char bad_utf8[] = "bad \xff\xfe utf8 \xe0\xa6 cut\r\nBcc: x@evil.org";
	const char *evil_words[] = { "murder\r\nBcc: y@evil.org", "<b>acid</b>", NULL };
	static const char garbage_mail[] = "\x00\x01garbage\r\n\r\n--x--\xff";
	static const char broken_mail[] = "Message-ID: <b@x>\r\nContent-Type: multipart/mixed; "
		"boundary=a\r\n\r\n--a\r\nContent-Type: image/png; name=x.png\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n--a";
	g_autoptr(GBytes) garbage = g_bytes_new_static(garbage_mail, sizeof garbage_mail - 1);
	g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
	g_autoptr(GBytes) broken = g_bytes_new_static(broken_mail, sizeof broken_mail - 1);
	c.msgs[0].text = "<script>alert(1)</script>\r\nSubject: injected";
	c.msgs[1].text = bad_utf8;
	c.msgs[2].text = huge->str;
	g_bytes_unref(c.msgs[2].mail);
	c.msgs[2].mail = garbage; /* borrowed: cleared before complaint_clear() */
	g_bytes_unref(c.msgs[3].mail);
	c.msgs[3].mail = empty;
	g_bytes_unref(c.msgs[4].mail);
	c.msgs[4].mail = broken;
	c.msgs[4].type = "vid\r\neo";

	struct wb_escalation_in in = escalation(&c, WB_ESC_SERIOUS);
	in.profile_name = "Eve\r\nBcc: victim@example.org <script>";
	in.matched = evil_words;
	in.state = "open\r\nX-Evil: 1";
	in.thread_id = "bad>\r\nBcc: z@evil.org";
	in.citizen = "91\r\nBcc: w@evil.org";
	g_autoptr(GBytes) b = render_escalation(&in);
	GMimeMessage *msg = parse(b);
	GMimeObject *o = GMIME_OBJECT(msg);
	g_assert_null(g_mime_object_get_header(o, "Bcc"));
	g_assert_null(g_mime_object_get_header(o, "X-Evil"));
	g_assert_null(g_mime_object_get_header(o, "In-Reply-To")); /* not a message id */
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Complaint-Ref"), ==, REF);
	const char *subject = g_mime_message_get_subject(msg);
	g_assert_true(g_str_has_prefix(subject, "[" REF "] ESCALATED (serious: murder Bcc: "
					"y@evil.org, <b>acid</b>): <script>alert(1)</script>"));
	g_assert_null(strpbrk(subject, "\r\n"));
	g_autofree char *html = part_text(msg, "html");
	g_assert_null(strstr(html, "<script>"));
	g_assert_null(strstr(html, "<b>acid"));
	g_assert_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_true(g_utf8_validate(plain, -1, NULL));
	g_assert_nonnull(strstr(plain, "bad \xef\xbf\xbd\xef\xbf\xbd utf8"));
	g_assert_nonnull(strstr(plain, "message 3: its mail as stored could not be read"));
	g_assert_nonnull(strstr(plain, "message 4: its mail as stored could not be read"));
	g_autoptr(GPtrArray) got = attachments(msg);
	g_assert_cmpuint(got->len, ==, 2); /* the photo and whatever x.png decodes to */
	g_assert_cmpuint(g_bytes_get_size(b), <, 2u << 20); /* the huge text is capped */
	g_object_unref(msg);
	g_string_free(huge, TRUE);
	c.msgs[2].mail = c.msgs[3].mail = c.msgs[4].mail = NULL;
	complaint_clear(&c);
}

/* A long Bengali first text: the subject is cut at a grapheme boundary, and every
 * encoded-word decodes to whole characters on its own. */
static void test_escalation_subject_bengali(void)
{
	GString *t = g_string_new(NULL);
	for (int i = 0; i < 60; i++)
		g_string_append(t, "ক্ষত্রিয় ");
	struct wb_dm_message m = { OPENED, "text", t->str, NULL };
	struct complaint c;
	complaint_init(&c);
	struct wb_escalation_in in = escalation(&c, WB_ESC_SERIOUS);
	in.msgs = &m;
	in.n_msgs = 1;
	g_autoptr(GBytes) b = render_escalation(&in);
	GMimeMessage *msg = parse(b);
	const char *subject = g_mime_message_get_subject(msg);
	g_assert_true(g_utf8_validate(subject, -1, NULL));
	const char *summary = subject + strlen("[" REF "] ");
	g_autofree char *full = g_strdup_printf("ESCALATED (serious: murder, acid): %s", t->str);
	size_t n = strlen(summary);
	g_assert_cmpuint(n, <, strlen(full));
	g_assert_true(strncmp(full, summary, n) == 0);
	size_t chars = (size_t)g_utf8_strlen(summary, -1);
	g_assert_cmpuint(chars, <=, 140);
	/* Cut between clusters: no mark, virama or joiner on either side of the cut. */
	gunichar next = g_utf8_get_char(full + n);
	gunichar last = g_utf8_get_char(g_utf8_find_prev_char(summary, summary + n));
	g_assert_false(g_unichar_ismark(next));
	g_assert_cmpuint(last, !=, 0x09CD);
	g_assert_cmpuint(next, !=, 0x200D);
	g_assert_cmpuint(wb_grapheme_cut(full, 140), >=, n);
	/* The raw header: each encoded-word alone is valid UTF-8. */
	g_autofree char *wire = g_strndup(g_bytes_get_data(b, NULL), g_bytes_get_size(b));
	const char *h = strstr(wire, "\r\nSubject:");
	g_assert_nonnull(h);
	const char *end = strstr(h + 2, "\r\n");
	while (end[2] == ' ' || end[2] == '\t')
		end = strstr(end + 2, "\r\n");
	int words = 0;
	for (const char *w = strstr(h, "=?"); w && w < end; w = strstr(w + 2, "=?")) {
		const char *q = strstr(w, "?B?");
		g_assert_nonnull(q);
		const char *e = strstr(q + 3, "?=");
		g_autofree char *b64 = g_strndup(q + 3, (gsize)(e - q - 3));
		gsize dl;
		g_autofree guchar *dec = g_base64_decode(b64, &dl);
		g_assert_true(g_utf8_validate((const char *)dec, (gssize)dl, NULL));
		words++;
		w = e;
	}
	g_assert_cmpint(words, >, 1);
	g_object_unref(msg);
	complaint_clear(&c);
	g_string_free(t, TRUE);
}

static void test_escalation_refused(void)
{
	struct complaint c;
	complaint_init(&c);
	struct wb_escalation_in in = escalation(&c, WB_ESC_SERIOUS);
	const char *bad_ids[] = { NULL, "", "no-at-sign", "a b@c", "<x@y>" };
	for (size_t i = 0; i < G_N_ELEMENTS(bad_ids); i++) {
		in.message_id = bad_ids[i];
		g_autoptr(GError) err = NULL;
		g_assert_null(wb_render_escalation(&in, &err));
		g_assert_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	}
	in = escalation(&c, WB_ESC_SERIOUS);
	in.ref = NULL;
	g_autoptr(GError) err = NULL;
	g_assert_null(wb_render_escalation(&in, &err));
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr(wb_escalation_why_name(WB_ESC_LATE), ==, "late");
	complaint_clear(&c);
}

/* ---- the digest ---------------------------------------------------------------------------- */

#define NOW (OPENED + 2 * 86400 + 1800) /* 17 October 2026, 14:00 IST */

static GBytes *render_digest(const struct wb_digest_row *rows, size_t n)
{
	const char *dto[] = { "bhowanipore.ps@police.test", "dc.south@police.test", NULL };
	struct wb_digest_in in = {
		.domain = DOMAIN, .timezone = "Asia/Kolkata", .from = "wabridge@police.test",
		.to = dto, .station = &station, .message_id = "digest-bhp-20261017@" DOMAIN,
		.now = NOW, .rows = rows, .n_rows = n,
	};
	g_autoptr(GError) err = NULL;
	GBytes *b = wb_render_digest(&in, &err);
	g_assert_no_error(err);
	g_assert_nonnull(b);
	assert_wire_form(b);
	return b;
}

static const struct wb_digest_row rows[] = {
	{ "BHP-2026-000042", "919830111222", "তনুশ্রী বসু", "আমার স্কুটার চুরি হয়েছে।",
	  OPENED, OPENED + 4 * 3600, "escalated", NULL, true },
	{ "BHP-2026-000043", "919830222333", NULL, "<script>alert(1)</script>",
	  OPENED + 3600, OPENED + 25 * 3600, "overdue", NULL, false },
	{ "BHP-2026-000047", "447700900123", "Ann\r\nBcc: x@evil.org", "Lost phone",
	  NOW - 3 * 3600, NOW + 21 * 3600, "unacknowledged", NULL, false },
	{ "BHP-2026-000048", "919830444555", "রাহুল দাস", "",
	  NOW - 1800, NOW + 86400 - 1800, "number delivered", "123/2026", false },
};

static void test_digest(void)
{
	g_autoptr(GBytes) b = render_digest(rows, G_N_ELEMENTS(rows));
	GMimeMessage *msg = parse(b);
	GMimeObject *o = GMIME_OBJECT(msg);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "Bhowanipore Police Station: 4 open "
			"complaints, 2 overdue — digest for 17 October 2026");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Station"), ==, "bhowanipore");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Wabridge-Digest"), ==, "2026-10-17");
	g_assert_cmpstr(g_mime_object_get_header(o, "Auto-Submitted"), ==, "auto-generated");
	g_assert_null(g_mime_object_get_header(o, "Bcc"));
	g_assert_null(g_mime_object_get_header(o, "Importance"));
	InternetAddressList *tl = g_mime_message_get_to(msg);
	g_assert_cmpint(internet_address_list_length(tl), ==, 2);
	g_assert_cmpstr(addr_at(tl, 0), ==, "bhowanipore.ps@police.test");
	g_assert_cmpint(g_date_time_to_unix(g_mime_message_get_date(msg)), ==, NOW);

	g_autofree char *plain = part_text(msg, "plain");
	/* Rows in order; on each first line the state starts at the same column, and the
	 * ASCII lines fit 80 columns. */
	const char *firsts[] = {
		"\n1  BHP-2026-000042  15 Oct 13:30  2 d     44 h ago    escalated  SERIOUS\n",
		"\n2  BHP-2026-000043  15 Oct 14:30  47 h    23 h ago    overdue\n",
		"\n3  BHP-2026-000047  17 Oct 11:00  3 h     in 21 h     unacknowledged\n",
		"\n4  BHP-2026-000048  17 Oct 13:30  30 min  -           number delivered\n",
	};
	const char *at = strstr(plain, "\n#  Reference        Opened        Age     Number due  "
				       "State\n");
	g_assert_nonnull(at);
	for (size_t i = 0; i < G_N_ELEMENTS(firsts); i++) {
		const char *p = strstr(at, firsts[i]);
		g_assert_nonnull(p);
		g_assert_cmpuint(strlen(firsts[i]), <=, 82);
		at = p;
	}
	g_assert_nonnull(strstr(plain, "\n   তনুশ্রী বসু (+91 98301 11222)\n   “আমার স্কুটার চুরি হয়েছে।”\n"));
	g_assert_nonnull(strstr(plain, "\n   Ann Bcc: x@evil.org (+447700900123)\n"));
	g_assert_nonnull(strstr(plain, "\n   Complaint number: 123/2026\n"));
	g_assert_nonnull(strstr(plain, "4 open, 2 overdue, 1 serious.\nOldest first; ages and "
				       "deadlines as of 14:00 IST.\n"));
	g_auto(GStrv) lines = g_strsplit(plain, "\n", -1);
	for (size_t i = 1; lines[i]; i++) /* all but the title fit mutt's 80 columns */
		g_assert_cmpint(g_utf8_strlen(lines[i], -1), <=, 80);

	g_autofree char *html = part_text(msg, "html");
	g_assert_nonnull(strstr(html, "<table"));
	g_assert_null(strstr(html, "<script>"));
	g_assert_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	const char *h = html;
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		const char *p = strstr(h, rows[i].ref);
		g_assert_nonnull(p);
		h = p;
	}
	/* The overdue state in red, the delivered one in green, the serious badge. */
	g_assert_nonnull(strstr(html, "color: #a00; font-weight: bold;\">overdue</td>"));
	g_assert_nonnull(strstr(html, "color: #1a6b1a;\">number delivered</td>"));
	g_assert_nonnull(strstr(html, ">SERIOUS</span>"));
	g_object_unref(msg);
}

static void test_digest_empty(void)
{
	g_autoptr(GBytes) b = render_digest(NULL, 0);
	GMimeMessage *msg = parse(b);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "Bhowanipore Police Station: no open "
			"complaints — digest for 17 October 2026");
	g_autofree char *plain = part_text(msg, "plain");
	g_assert_nonnull(strstr(plain, "No open complaints at Bhowanipore Police Station."));
	g_assert_null(strstr(plain, "Reference"));
	g_autofree char *html = part_text(msg, "html");
	g_assert_nonnull(strstr(html, "No open complaints at Bhowanipore Police Station."));
	g_assert_null(strstr(html, "<table"));
	g_object_unref(msg);

	g_autoptr(GBytes) one = render_digest(&rows[3], 1);
	msg = parse(one);
	g_assert_cmpstr(g_mime_message_get_subject(msg), ==, "Bhowanipore Police Station: 1 open "
			"complaint, none overdue — digest for 17 October 2026");
	g_object_unref(msg);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_autoptr(GError) err = NULL;
	tpl = wb_templates_load(NULL, &err);
	g_assert_no_error(err);
	g_test_add_func("/dutymail/escalation/headers", test_escalation_headers);
	g_test_add_func("/dutymail/escalation/kinds", test_escalation_kinds);
	g_test_add_func("/dutymail/escalation/bodies", test_escalation_bodies);
	g_test_add_func("/dutymail/escalation/media", test_escalation_media);
	g_test_add_func("/dutymail/escalation/hostile", test_escalation_hostile);
	g_test_add_func("/dutymail/escalation/subject_bengali", test_escalation_subject_bengali);
	g_test_add_func("/dutymail/escalation/refused", test_escalation_refused);
	g_test_add_func("/dutymail/digest/rows", test_digest);
	g_test_add_func("/dutymail/digest/empty", test_digest_empty);
	int rc = g_test_run();
	wb_templates_free(tpl);
	g_mime_shutdown();
	return rc;
}
