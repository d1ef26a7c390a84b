/* Unit tests for view: the per-type presentation of a WhatsApp message (view.h), safe
 * file names, the Ogg Opus duration of voice notes, and which types carry media. */
#include "view.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TS 1792051200 /* 2026-10-15 08:00:00 UTC: fallback file names say 20261015-133000 */
#define ZONE "Asia/Kolkata" /* the station's time, in which files are named */

/* An OpenStreetMap link, and a location case with nothing but coordinates: JSON values
 * la, lo (numbers, or strings in quotes) and what the mail must show for them. */
#define OSM(la, lo) "https://www.openstreetmap.org/?mlat=" la "&mlon=" lo "#map=18/" la "/" lo
#define LOCATION(name, la, lo, show_la, show_lo)                                           \
	{ .path = "location/" name, .type = "location",                                    \
	  .json = "{'type':'location','location':{'latitude':" la ",'longitude':" lo "}}", \
	  .label = "Location", .summary = "Location: " show_la ", " show_lo, .text = "",   \
	  .details = "Coordinates: " show_la ", " show_lo "\nMap: " OSM(show_la, show_lo),  \
	  .map_url = OSM(show_la, show_lo) }

/* ---- helpers ------------------------------------------------------------------------------ */

/* The tables write JSON with ' for " (payload text uses \u2019 for an apostrophe). */
static char *J(const char *s)
{
	char *out = g_strdup(s);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static char *sha256_hex(const void *data, size_t len)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

static bool has_control(const char *s, bool newline_ok)
{
	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (newline_ok && (c == '\n' || c == '\t'))
			continue;
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029)
			return true;
	}
	return false;
}

/* What view.h promises of every view, whatever the input. */
static void assert_view_invariants(const struct wb_view *v)
{
	const char *one_line[] = { v->label, v->summary, v->notice };
	for (size_t i = 0; i < G_N_ELEMENTS(one_line); i++) {
		g_assert_nonnull(one_line[i]);
		g_assert_true(g_utf8_validate(one_line[i], -1, NULL));
		g_assert_false(has_control(one_line[i], false));
	}
	g_assert_cmpstr(v->label, !=, "");
	g_assert_cmpstr(v->summary, !=, "");
	g_assert_cmpuint(g_utf8_strlen(v->summary, -1), <=, 78);
	const char *multi[] = { v->text, v->details };
	for (size_t i = 0; i < G_N_ELEMENTS(multi); i++) {
		g_assert_nonnull(multi[i]);
		g_assert_true(g_utf8_validate(multi[i], -1, NULL));
		g_assert_false(has_control(multi[i], true));
	}
	if (v->map_url)
		g_assert_true(g_str_has_prefix(v->map_url, "https://"));
	g_assert_nonnull(v->attachments);
	for (guint i = 0; i < v->attachments->len; i++) {
		const struct wb_attachment *a = v->attachments->pdata[i];
		g_assert_nonnull(a->filename);
		g_assert_cmpstr(a->filename, !=, "");
		g_assert_true(g_utf8_validate(a->filename, -1, NULL));
		g_assert_false(has_control(a->filename, false));
		g_assert_null(strpbrk(a->filename, "/\\"));
		g_assert_cmpuint(g_utf8_strlen(a->filename, -1), <=, 100);
		g_assert_nonnull(a->mime_type);
		g_assert_nonnull(a->data);
		gsize len;
		const void *d = g_bytes_get_data(a->data, &len);
		g_autofree char *hex = sha256_hex(d, len);
		g_assert_cmpstr(a->sha256, ==, hex);
	}
}

/* ---- media bytes -------------------------------------------------------------------------- */

static guint32 ogg_crc(const guchar *d, size_t n)
{
	guint32 crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (guint32)d[i] << 24;
		for (int b = 0; b < 8; b++)
			crc = crc & 0x80000000u ? crc << 1 ^ 0x04c11db7u : crc << 1;
	}
	return crc;
}

static void put_le(GByteArray *a, guint64 v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		guint8 b = (guint8)(v >> (8 * i));
		g_byte_array_append(a, &b, 1);
	}
}

/* One Ogg page holding one packet (shorter than 255 * 255 bytes), CRC filled in. */
static void ogg_page(GByteArray *out, guint8 flags, guint64 granule, guint32 seq,
		     const void *packet, size_t plen)
{
	GByteArray *p = g_byte_array_new();
	g_byte_array_append(p, (const guint8 *)"OggS", 4);
	put_le(p, 0, 1);          /* version */
	put_le(p, flags, 1);
	put_le(p, granule, 8);
	put_le(p, 0x5742a002, 4); /* serial */
	put_le(p, seq, 4);
	put_le(p, 0, 4);          /* CRC, filled below */
	put_le(p, plen / 255 + 1, 1);
	for (size_t i = 0; i < plen / 255; i++)
		put_le(p, 255, 1);
	put_le(p, plen % 255, 1);
	g_byte_array_append(p, packet, (guint)plen);
	guint32 crc = ogg_crc(p->data, p->len);
	for (int i = 0; i < 4; i++)
		p->data[22 + i] = (guint8)(crc >> (8 * i));
	g_byte_array_append(out, p->data, p->len);
	g_byte_array_unref(p);
}

/* A minimal Ogg Opus stream: OpusHead (with preskip), OpusTags, an audio page halfway and
 * a last page whose granule position is final_granule. *mid_page, *last_page: where the
 * two audio pages start. */
static GBytes *ogg_opus2(guint16 preskip, guint64 final_granule, size_t *mid_page,
			 size_t *last_page)
{
	GByteArray *out = g_byte_array_new();
	GByteArray *head = g_byte_array_new();
	g_byte_array_append(head, (const guint8 *)"OpusHead", 8);
	put_le(head, 1, 1);       /* version */
	put_le(head, 1, 1);       /* channels */
	put_le(head, preskip, 2);
	put_le(head, 48000, 4);   /* input rate */
	put_le(head, 0, 2);       /* gain */
	put_le(head, 0, 1);       /* mapping family */
	ogg_page(out, 0x02, 0, 0, head->data, head->len);
	g_byte_array_unref(head);
	static const char tags[] = "OpusTags\x04\0\0\0test\0\0\0\0";
	ogg_page(out, 0, 0, 1, tags, sizeof tags - 1);
	static const guint8 audio[] = { 0xfb, 0x06, 0xfb, 0x06, 0xfb, 0x06 };
	if (mid_page)
		*mid_page = out->len;
	ogg_page(out, 0, final_granule / 2, 2, audio, sizeof audio);
	if (last_page)
		*last_page = out->len;
	ogg_page(out, 0x04, final_granule, 3, audio, sizeof audio);
	return g_byte_array_free_to_bytes(out);
}

static GBytes *ogg_opus(guint16 preskip, guint64 final_granule, size_t *last_page)
{
	return ogg_opus2(preskip, final_granule, NULL, last_page);
}

enum media_kind { NO_MEDIA, FETCH_FAILED, JPEG, WEBP, OGG42, OGG75, NOT_OGG, MP3, MP4, PDF, TXT };

static GBytes *media_bytes(enum media_kind k)
{
	static const char jpeg[] = "\xff\xd8\xff\xdb\0\x43\0 fake jpeg for tests \xff\xd9";
	static const char webp[] = "RIFF\x16\0\0\0WEBPVP8L\x0a\0\0\0\x2f\0\0\0\0\0\0\0\0\0";
	static const char mp3[] = "ID3\x04\0\0\0\0\0\0\xff\xfb\x90\x64\0\0\0\0";
	static const char mp4[] = "\0\0\0\x18" "ftypisom\0\0\x02\0isommp41";
	static const char pdf[] = "%PDF-1.4\n% not much of a PDF\n%%EOF\n";
	static const char txt[] = "line one\nline two\r\n";
	switch (k) {
	case JPEG: return g_bytes_new_static(jpeg, sizeof jpeg - 1);
	case WEBP: return g_bytes_new_static(webp, sizeof webp - 1);
	case OGG42: return ogg_opus(312, 42 * 48000 + 312, NULL);
	case OGG75: return ogg_opus(3840, 75 * 48000 + 3840, NULL);
	case NOT_OGG: return g_bytes_new_static("RIFF....WAVEfmt ", 16);
	case MP3: return g_bytes_new_static(mp3, sizeof mp3 - 1);
	case MP4: return g_bytes_new_static(mp4, sizeof mp4 - 1);
	case PDF: return g_bytes_new_static(pdf, sizeof pdf - 1);
	case TXT: return g_bytes_new_static(txt, sizeof txt - 1);
	case NO_MEDIA:
	case FETCH_FAILED:
		break;
	}
	return NULL;
}

/* ---- the per-type table ------------------------------------------------------------------- */

struct att_want {
	const char *filename, *mime;
	const char *bytes; /* NULL: the media bytes */
};

struct view_case {
	const char *path, *type, *json;
	enum media_kind media;
	const char *mime;                  /* of the fetched media */
	const char *label, *summary, *text, *details, *notice, *map_url;
	bool is_media;
	guint n_att;
	struct att_want att[2];
};

#define VOICE_JSON "{'from':'919830770022','id':'wamid.V5','type':'audio','audio':{" \
	"'mime_type':'audio/ogg; codecs=opus','sha256':'c2hhMjU2','id':'3318402957716630'," \
	"'voice':true}}"
#define NOT_IN_RECORD "a message that is not in this complaint's record"
#define UNSUPPORTED_NOTICE_TAIL ". Ask the citizen to send it again as text, photo, voice " \
	"note or document. The message object is attached."

static const struct view_case cases[] = {
	{ .path = "text", .type = "text",
	  .json = "{'from':'919830770011','id':'wamid.V1','timestamp':'1792051200','type':'text',"
		  "'text':{'body':'আমার সাইকেল চুরি হয়েছে।\\nগড়িয়াহাট মোড়ে, রাত ৯টা।'}}",
	  .label = "Text message", .summary = "আমার সাইকেল চুরি হয়েছে।",
	  .text = "আমার সাইকেল চুরি হয়েছে।\nগড়িয়াহাট মোড়ে, রাত ৯টা।", .details = "" },
	/* CRLF becomes LF, blank first lines are skipped for the summary, controls go. */
	{ .path = "text/crlf_and_controls", .type = "text",
	  .json = "{'type':'text','text':{'body':'\\r\\n  \\r\\n  Help\\u001b[31m now\\u0007\\r\\nsecond\\tline'}}",
	  .label = "Text message", .summary = "Help[31m now",
	  .text = "\n  \n  Help[31m now\nsecond\tline", .details = "" },
	{ .path = "text/missing_body", .type = "text", .json = "{'type':'text','text':{}}",
	  .label = "Text message", .summary = "Text message", .text = "", .details = "",
	  .notice = "The message has no text; the message object is attached." },
	/* Markup in a caption is the citizen's text, kept as written (render escapes it). */
	{ .path = "image/caption_with_markup", .type = "image",
	  .json = "{'type':'image','image':{'caption':'<script>alert(1)</script> <b>ছিনতাই</b> & <img src=x onerror=y>',"
		  "'mime_type':'image/jpeg','sha256':'c2hh','id':'2209184736501928'}}",
	  .media = JPEG, .mime = "image/jpeg", .label = "Photo",
	  .summary = "Photo: <script>alert(1)</script> <b>ছিনতাই</b> & <img src=x onerror=y>",
	  .text = "<script>alert(1)</script> <b>ছিনতাই</b> & <img src=x onerror=y>", .details = "",
	  .is_media = true, .n_att = 1,
	  .att = { { "photo-20261015-133000.jpg", "image/jpeg", NULL } } },
	{ .path = "image/not_fetched", .type = "image",
	  .json = "{'type':'image','image':{'mime_type':'image/jpeg','id':'2209184736501929'}}",
	  .media = NO_MEDIA, .label = "Photo", .summary = "Photo", .text = "", .details = "",
	  .notice = "The photo could not be fetched from WhatsApp (it has not been fetched). "
		    "Media id 2209184736501929; the message object is attached.",
	  .is_media = true },
	{ .path = "image/fetch_failed", .type = "image",
	  .json = "{'type':'image','image':{'caption':'দেখুন','id':'2209184736501930'}}",
	  .media = FETCH_FAILED, .label = "Photo", .summary = "Photo: দেখুন", .text = "দেখুন", .details = "",
	  .notice = "The photo could not be fetched from WhatsApp (HTTP 404 from the media URL). "
		    "Media id 2209184736501930; the message object is attached.",
	  .is_media = true },
	{ .path = "audio/voice", .type = "audio", .json = VOICE_JSON,
	  .media = OGG42, .mime = "audio/ogg; codecs=opus",
	  .label = "Voice message (0:42)", .summary = "Voice message (0:42)", .text = "", .details = "",
	  .is_media = true, .n_att = 1,
	  .att = { { "voice-20261015-133000.ogg", "audio/ogg; codecs=opus", NULL } } },
	{ .path = "audio/voice_without_duration", .type = "audio", .json = VOICE_JSON,
	  .media = NOT_OGG, .mime = "audio/ogg; codecs=opus",
	  .label = "Voice message", .summary = "Voice message", .text = "", .details = "",
	  .is_media = true, .n_att = 1,
	  .att = { { "voice-20261015-133000.ogg", "audio/ogg; codecs=opus", NULL } } },
	{ .path = "audio/file", .type = "audio",
	  .json = "{'type':'audio','audio':{'mime_type':'audio/mpeg','id':'1','voice':false}}",
	  .media = MP3, .mime = "audio/mpeg", .label = "Audio", .summary = "Audio", .text = "",
	  .details = "", .is_media = true, .n_att = 1,
	  .att = { { "audio-20261015-133000.mp3", "audio/mpeg", NULL } } },
	{ .path = "audio/file_ogg", .type = "audio",
	  .json = "{'type':'audio','audio':{'mime_type':'audio/ogg','id':'1'}}",
	  .media = OGG75, .mime = "audio/ogg", .label = "Audio (1:15)", .summary = "Audio (1:15)",
	  .text = "", .details = "", .is_media = true, .n_att = 1,
	  .att = { { "audio-20261015-133000.ogg", "audio/ogg", NULL } } },
	{ .path = "video", .type = "video",
	  .json = "{'type':'video','video':{'caption':'Rash driving\\nbus WB-19 0042','mime_type':'video/mp4','id':'4'}}",
	  .media = MP4, .mime = "video/mp4", .label = "Video", .summary = "Video: Rash driving",
	  .text = "Rash driving\nbus WB-19 0042", .details = "", .is_media = true, .n_att = 1,
	  .att = { { "video-20261015-133000.mp4", "video/mp4", NULL } } },
	{ .path = "document/bengali_name", .type = "document",
	  .json = "{'type':'document','document':{'caption':'FIR copy','filename':'অভিযোগ.pdf',"
		  "'mime_type':'application/pdf','id':'5'}}",
	  .media = PDF, .mime = "application/pdf", .label = "Document: অভিযোগ.pdf", .summary = "Document: FIR copy",
	  .text = "FIR copy", .details = "", .is_media = true, .n_att = 1,
	  .att = { { "অভিযোগ.pdf", "application/pdf", NULL } } },
	{ .path = "document/no_name", .type = "document",
	  .json = "{'type':'document','document':{'mime_type':'application/pdf','id':'5'}}",
	  .media = PDF, .mime = "application/pdf", .label = "Document (no file name)",
	  .summary = "Document (no file name)", .text = "", .details = "", .is_media = true, .n_att = 1,
	  .att = { { "document-20261015-133000.pdf", "application/pdf", NULL } } },
	/* A NUL inside the name (JSON \u0000) is dropped, never cuts the name short. */
	{ .path = "document/nul_in_name", .type = "document",
	  .json = "{'type':'document','document':{'filename':'FIR\\u0000.pdf\\u0000.exe','mime_type':'text/plain','id':'5'}}",
	  .media = TXT, .mime = "text/plain", .label = "Document: FIR.pdf.exe",
	  .summary = "Document: FIR.pdf.exe", .text = "", .details = "", .is_media = true, .n_att = 1,
	  .att = { { "FIR.pdf.exe", "text/plain", NULL } } },
	{ .path = "document/only_nul", .type = "document",
	  .json = "{'type':'document','document':{'filename':'\\u0000','mime_type':'text/plain','id':'5'}}",
	  .media = TXT, .mime = "text/plain", .label = "Document (no file name)",
	  .summary = "Document (no file name)", .text = "", .details = "", .is_media = true, .n_att = 1,
	  .att = { { "document-20261015-133000.txt", "text/plain", NULL } } },
	{ .path = "document/path_and_newline_in_name", .type = "document",
	  .json = "{'type':'document','document':{'filename':'C:\\\\Users\\\\x\\\\..\\\\bad\\r\\nname<1>.pdf','id':'5'}}",
	  .media = PDF, .mime = "application/pdf", .label = "Document: bad name_1_.pdf",
	  .summary = "Document: bad name_1_.pdf", .text = "", .details = "", .is_media = true,
	  .n_att = 1, .att = { { "bad name_1_.pdf", "application/pdf", NULL } } },
	{ .path = "sticker", .type = "sticker",
	  .json = "{'type':'sticker','sticker':{'mime_type':'image/webp','id':'6','animated':false}}",
	  .media = WEBP, .mime = "image/webp", .label = "Sticker", .summary = "Sticker", .text = "",
	  .details = "", .is_media = true, .n_att = 1,
	  .att = { { "sticker-20261015-133000.webp", "image/webp", NULL } } },
	{ .path = "location/place", .type = "location",
	  .json = "{'type':'location','location':{'address':'Rashbehari Ave, Kolkata 700019',"
		  "'latitude':22.5187,'longitude':88.3656,'name':'গড়িয়াহাট মোড়','url':'https://maps.example/p'}}",
	  .label = "Location", .summary = "Location: গড়িয়াহাট মোড়", .text = "",
	  .details = "Place: গড়িয়াহাট মোড়\nAddress: Rashbehari Ave, Kolkata 700019\n"
		     "Coordinates: 22.5187, 88.3656\nMap: " OSM("22.5187", "88.3656"),
	  .map_url = OSM("22.5187", "88.3656") },
	LOCATION("bare_coordinates_as_strings", "'-33.8688'", "'151.2093'", "-33.8688", "151.2093"),
	/* Coordinates as Meta sent them, every decimal kept (7 is what WhatsApp sends), in
	 * whatever form the JSON number had; no exponent and no padding in what is shown. */
	LOCATION("seven_decimals", "22.5726459", "88.3638953", "22.5726459", "88.3638953"),
	LOCATION("negative", "-33.8688197", "-70.6692655", "-33.8688197", "-70.6692655"),
	LOCATION("zero_and_integers", "0", "-180", "0", "-180"),
	LOCATION("trailing_zeros", "22.50000", "88.0", "22.5", "88"),
	LOCATION("exponents", "2.25726459e1", "8.83638953E+1", "22.5726459", "88.3638953"),
	LOCATION("small_exponents", "1e-7", "-2.5E-8", "0.0000001", "-0.000000025"),
	LOCATION("fifteen_digits", "22.5726459123456", "-88.3638953000001", "22.5726459123456",
		 "-88.3638953000001"),
	LOCATION("strings_with_exponents", "'2.25726459e1'", "'1e2'", "22.5726459", "100"),
	{ .path = "location/huge_exponent", .type = "location",
	  .json = "{'type':'location','location':{'latitude':1e300,'longitude':-1e308}}",
	  .label = "Location", .summary = "Location", .text = "", .details = "",
	  .notice = "The location has no usable coordinates." },
	{ .path = "location/out_of_range", .type = "location",
	  .json = "{'type':'location','location':{'latitude':95,'longitude':'east','address':'Somewhere'}}",
	  .label = "Location", .summary = "Location: Somewhere", .text = "",
	  .details = "Address: Somewhere", .notice = "The location has no usable coordinates." },
	{ .path = "contacts/two_cards", .type = "contacts",
	  .json = "{'type':'contacts','contacts':[{'name':{'formatted_name':'Sourav Das','first_name':'Sourav',"
		  "'last_name':'Das'},'phones':[{'phone':'+91 98300 77044','wa_id':'919830077044','type':'CELL'}],"
		  "'emails':[{'email':'s.das@example.org'}],'org':{'company':'Das, Sen; Partners'}},"
		  "{'name':{'formatted_name':'পাড়ার ক্লাব'},'addresses':[{'city':'Kolkata'}]}]}",
	  .label = "2 contact cards", .summary = "Contacts: Sourav Das, পাড়ার ক্লাব", .text = "",
	  .details = "Contact: Sourav Das, +91 98300 77044\nContact: পাড়ার ক্লাব", .n_att = 2,
	  .att = { { "contact-1.vcf", "text/vcard; charset=utf-8",
		     "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sourav Das\r\nN:Das;Sourav;;;\r\n"
		     "TEL:+91 98300 77044\r\nEMAIL:s.das@example.org\r\nORG:Das\\, Sen\\; Partners\r\n"
		     "END:VCARD\r\n" },
		   { "contact-2.vcf", "text/vcard; charset=utf-8",
		     "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:পাড়ার ক্লাব\r\nN:;;;;\r\nEND:VCARD\r\n" } } },
	{ .path = "contacts/one_card", .type = "contacts",
	  .json = "{'type':'contacts','contacts':[{'name':{'formatted_name':'A\\r\\nB: C'},'phones':[{'phone':'100'}]}]}",
	  .label = "Contact card", .summary = "Contact: A B: C", .text = "", .details = "Contact: A B: C, 100",
	  .n_att = 1,
	  .att = { { "contact-1.vcf", "text/vcard; charset=utf-8",
		     "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A B: C\r\nN:;;;;\r\nTEL:100\r\nEND:VCARD\r\n" } } },
	{ .path = "interactive/button_reply", .type = "interactive",
	  .json = "{'type':'interactive','context':{'id':'wamid.OUT'},'interactive':{'type':'button_reply',"
		  "'button_reply':{'id':'visit-yes','title':'হ্যাঁ, আসতে পারি'}}}",
	  .label = "Reply to a menu", .summary = "Reply to a menu: হ্যাঁ, আসতে পারি", .text = "হ্যাঁ, আসতে পারি",
	  .details = "Choice id: visit-yes" },
	{ .path = "interactive/list_reply", .type = "interactive",
	  .json = "{'type':'interactive','interactive':{'type':'list_reply','list_reply':{'id':'cat-7',"
		  "'title':'Vehicle theft','description':'Car, scooter, bicycle'}}}",
	  .label = "Reply to a menu", .summary = "Reply to a menu: Vehicle theft", .text = "Vehicle theft",
	  .details = "Description: Car, scooter, bicycle\nChoice id: cat-7" },
	{ .path = "interactive/nfm_reply", .type = "interactive",
	  .json = "{'type':'interactive','interactive':{'type':'nfm_reply','nfm_reply':{'name':'flow',"
		  "'body':'Sent','response_json':'{\\'area\\':\\'Ballygunge\\'}'}}}",
	  .label = "Form reply", .summary = "Form reply: Sent", .text = "Sent",
	  .details = "Form answers: {\"area\":\"Ballygunge\"}" },
	{ .path = "button", .type = "button",
	  .json = "{'type':'button','button':{'payload':'CALL_ME_BACK','text':'Please call me'}}",
	  .label = "Button reply", .summary = "Button reply: Please call me", .text = "Please call me",
	  .details = "Button payload: CALL_ME_BACK" },
	{ .path = "reaction/emoji", .type = "reaction",
	  .json = "{'type':'reaction','reaction':{'message_id':'wamid.OUT1','emoji':'\\ud83d\\ude4f'}}",
	  .label = "Reaction 🙏", .summary = "Reaction 🙏",
	  .text = "The citizen reacted with 🙏 to " NOT_IN_RECORD ".", .details = "" },
	{ .path = "reaction/removed", .type = "reaction",
	  .json = "{'type':'reaction','reaction':{'message_id':'wamid.OUT1','emoji':''}}",
	  .label = "Reaction removed", .summary = "Reaction removed",
	  .text = "The citizen removed their reaction to " NOT_IN_RECORD ".", .details = "" },
	{ .path = "reaction/removed_no_emoji_key", .type = "reaction",
	  .json = "{'type':'reaction','reaction':{'message_id':'wamid.OUT1'}}",
	  .label = "Reaction removed", .summary = "Reaction removed",
	  .text = "The citizen removed their reaction to " NOT_IN_RECORD ".", .details = "" },
	{ .path = "order", .type = "order",
	  .json = "{'type':'order','order':{'catalog_id':'880','text':'Two copies of the FIR',"
		  "'product_items':[{'product_retailer_id':'fir','quantity':2,'item_price':10,'currency':'INR'},"
		  "{'product_retailer_id':'post','quantity':1,'item_price':25.5,'currency':'INR'}]}}",
	  .label = "Order", .summary = "Order: Two copies of the FIR", .text = "Two copies of the FIR",
	  .details = "Items: 2" },
	{ .path = "system", .type = "system",
	  .json = "{'type':'system','system':{'body':'User A changed from 919830770022 to 919830770099',"
		  "'new_wa_id':'919830770099','type':'user_changed_number'}}",
	  .label = "System notice", .summary = "System notice: User A changed from 919830770022 to 919830770099",
	  .text = "User A changed from 919830770022 to 919830770099", .details = "" },
	{ .path = "unsupported/with_errors", .type = "unsupported",
	  .json = "{'type':'unsupported','errors':[{'code':131051,'title':'Message type unknown',"
		  "'message':'Message type unknown','error_data':{'details':'Message type is currently not supported.'}}],"
		  "'unsupported':{'type':'poll'}}",
	  .label = "Unsupported message", .summary = "Unsupported message", .text = "",
	  .details = "WhatsApp says: Message type is currently not supported.",
	  .notice = "WhatsApp did not pass on this message's content (error 131051): Message type "
		    "unknown" UNSUPPORTED_NOTICE_TAIL },
	{ .path = "unsupported/bare", .type = "unsupported", .json = "{'type':'unsupported'}",
	  .label = "Unsupported message", .summary = "Unsupported message", .text = "", .details = "",
	  .notice = "WhatsApp did not pass on this message's content" UNSUPPORTED_NOTICE_TAIL },
	{ .path = "unknown/frobnicate", .type = "frobnicate",
	  .json = "{'type':'frobnicate','frobnicate':{'level':11}}",
	  .label = "Unsupported message (frobnicate)", .summary = "Unsupported message (frobnicate)",
	  .text = "", .details = "",
	  .notice = "WhatsApp did not pass on this message's content" UNSUPPORTED_NOTICE_TAIL },
	/* Not an object, not JSON at all, no JSON: a view all the same, never a crash. */
	{ .path = "broken/array", .type = "text", .json = "[1,2,3]",
	  .label = "Text message", .summary = "Text message", .text = "", .details = "",
	  .notice = "The message has no text; the message object is attached." },
	{ .path = "broken/invalid_json", .type = "image", .json = "{'type':'image','image':{",
	  .media = NO_MEDIA, .label = "Photo", .summary = "Photo", .text = "", .details = "",
	  .notice = "The photo could not be fetched from WhatsApp (it has not been fetched). "
		    "Media id missing; the message object is attached.", .is_media = true },
	{ .path = "broken/null_json", .type = "contacts", .json = NULL,
	  .label = "0 contact cards", .summary = "0 contact cards", .text = "", .details = "" },
	{ .path = "broken/type_object_is_a_string", .type = "location",
	  .json = "{'type':'location','location':'22.5,88.3'}",
	  .label = "Location", .summary = "Location", .text = "", .details = "",
	  .notice = "The location has no usable coordinates." },
};

static void test_view_case(gconstpointer data)
{
	const struct view_case *c = data;
	g_autofree char *json = c->json ? J(c->json) : NULL;
	g_autoptr(GBytes) bytes = media_bytes(c->media);
	g_autofree char *hex = NULL;
	struct wb_media_in media = { .mime_type = c->mime };
	if (bytes) {
		gsize len;
		const void *d = g_bytes_get_data(bytes, &len);
		hex = sha256_hex(d, len);
		media.data = bytes;
		media.sha256_hex = hex;
	}
	if (c->media == FETCH_FAILED)
		media.error = "HTTP 404 from the media URL";
	struct wb_view *v = wb_view_build(c->type, json, c->media == NO_MEDIA ? NULL : &media, TS, ZONE);
	g_assert_nonnull(v);
	assert_view_invariants(v);
	g_assert_cmpstr(v->label, ==, c->label);
	g_assert_cmpstr(v->summary, ==, c->summary);
	g_assert_cmpstr(v->text, ==, c->text);
	g_assert_cmpstr(v->details, ==, c->details);
	g_assert_cmpstr(v->notice, ==, c->notice ? c->notice : "");
	g_assert_cmpstr(v->map_url, ==, c->map_url);
	g_assert_cmpint(v->is_media, ==, c->is_media);
	g_assert_cmpuint(v->attachments->len, ==, c->n_att);
	for (guint i = 0; i < c->n_att; i++) {
		const struct wb_attachment *a = v->attachments->pdata[i];
		const struct att_want *w = &c->att[i];
		g_assert_cmpstr(a->filename, ==, w->filename);
		g_assert_cmpstr(a->mime_type, ==, w->mime);
		gsize len;
		const char *d = g_bytes_get_data(a->data, &len);
		if (w->bytes) {
			g_assert_cmpuint(len, ==, strlen(w->bytes));
			g_assert_true(memcmp(d, w->bytes, len) == 0);
		} else {
			g_assert_true(g_bytes_equal(a->data, bytes)); /* the original bytes, unchanged */
		}
		g_autofree char *want = sha256_hex(d, len);
		g_assert_cmpstr(a->sha256, ==, want);
	}
	wb_view_free(v);
}

/* The hash is computed when the caller has none; a given one is used as is. */
static void test_media_hash(void)
{
	g_autoptr(GBytes) b = media_bytes(PDF);
	g_autofree char *json = J("{'type':'document','document':{'filename':'x.pdf'}}");
	struct wb_media_in media = { .data = b, .mime_type = "application/pdf" };
	struct wb_view *v = wb_view_build("document", json, &media, TS, ZONE);
	g_assert_cmpuint(v->attachments->len, ==, 1);
	const struct wb_attachment *a = v->attachments->pdata[0];
	gsize len;
	const void *d = g_bytes_get_data(b, &len);
	g_autofree char *hex = sha256_hex(d, len);
	g_assert_cmpstr(a->sha256, ==, hex);
	wb_view_free(v);

	/* No MIME type from the fetch: application/octet-stream and a .bin fallback name. */
	media.mime_type = NULL;
	g_autofree char *json2 = J("{'type':'image','image':{}}");
	v = wb_view_build("image", json2, &media, TS, ZONE);
	a = v->attachments->pdata[0];
	g_assert_cmpstr(a->mime_type, ==, "application/octet-stream");
	g_assert_cmpstr(a->filename, ==, "photo-20261015-133000.bin");
	wb_view_free(v);
}

/* ---- subjects ------------------------------------------------------------------------------ */

static char *repeat(const char *head, const char *unit, int n)
{
	GString *s = g_string_new(head);
	for (int i = 0; i < n; i++)
		g_string_append(s, unit);
	return g_string_free(s, FALSE);
}

static struct wb_view *text_view(const char *type, const char *field, const char *text)
{
	json_t *o = json_pack("{s:s, s:{s:s}}", "type", type, type, field, text);
	char *json = json_dumps(o, 0);
	struct wb_view *v = wb_view_build(type, json, NULL, TS, ZONE);
	free(json);
	json_decref(o);
	assert_view_invariants(v);
	return v;
}

/* A cut summary is whole grapheme clusters of the text, then "…"; want_chars counts
 * them with the "…". */
static void assert_cut(const char *summary, const char *prefix, const char *text,
		       glong want_chars)
{
	g_assert_true(g_str_has_suffix(summary, "…"));
	g_assert_cmpint(g_utf8_strlen(summary, -1), ==, want_chars);
	g_assert_true(g_str_has_prefix(summary, prefix));
	g_autofree char *kept = g_strndup(summary + strlen(prefix),
					  strlen(summary) - strlen(prefix) - strlen("…"));
	g_assert_true(g_str_has_prefix(text, kept));
	/* What follows the cut in the text starts a new cluster: not a mark, ZWJ or virama's
	 * partner, nor the second half of a flag. */
	const char *next = text + strlen(kept);
	gunichar c = g_utf8_get_char(next), before = g_utf8_get_char(g_utf8_prev_char(next));
	g_assert_true(g_unichar_type(c) != G_UNICODE_NON_SPACING_MARK &&
		      g_unichar_type(c) != G_UNICODE_SPACING_MARK);
	g_assert_true(c != 0x200D && before != 0x200D && before != 0x09CD && before != 0x094D);
}

/* Cut at 78 characters with "…", at a grapheme boundary: a Bengali conjunct (ক্ষ), an
 * emoji ZWJ family, a Devanagari conjunct (स्त्री) and flags stay whole. */
static void test_summary_cut_graphemes(void)
{
	const struct { const char *head, *unit; int n; glong want; } tab[] = {
		{ "অ", "ক্ষ", 60, 1 + 3 * 25 + 1 },     /* 77 allowed before "…": 76 */
		{ "x", "👩‍👩‍👧‍👦", 20, 1 + 7 * 10 + 1 }, /* 7 code points a family */
		{ "अ", "स्त्री", 20, 1 + 6 * 12 + 1 },
		{ "x", "🇮🇳", 50, 1 + 2 * 38 + 1 },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(tab); i++) {
		g_autofree char *text = repeat(tab[i].head, tab[i].unit, tab[i].n);
		struct wb_view *v = text_view("text", "body", text);
		assert_cut(v->summary, "", text, tab[i].want);
		wb_view_free(v);
		/* The same after a kind's word. */
		v = text_view("image", "caption", text);
		g_assert_true(g_str_has_prefix(v->summary, "Photo: "));
		g_assert_true(g_str_has_suffix(v->summary, "…"));
		g_assert_cmpuint(g_utf8_strlen(v->summary, -1), <=, 78);
		wb_view_free(v);
	}
}

/* What fits is whole, without "…"; one more character and it is cut; words are not
 * shortened into other words ("9.30" never reads "9.3…"). */
static void test_summary_fits_and_words(void)
{
	g_autofree char *fits = g_strnfill(78, 'a'), *over = g_strnfill(79, 'a');
	struct wb_view *v = text_view("text", "body", fits);
	g_assert_cmpstr(v->summary, ==, fits);
	wb_view_free(v);
	v = text_view("text", "body", over);
	assert_cut(v->summary, "", over, 78);
	wb_view_free(v);
	/* Only the first line: the rest of a text is not a cut. */
	v = text_view("text", "body", "Scooter stolen\nnear the market, at 9.30 pm");
	g_assert_cmpstr(v->summary, ==, "Scooter stolen");
	wb_view_free(v);

	const char *words = "Please come quickly to the market near the Gariahat crossing at night, "
			    "at 9.30 pm, the men are back";
	v = text_view("text", "body", words); /* 77 characters end in "9.3" */
	g_assert_cmpstr(v->summary, ==, "Please come quickly to the market near the Gariahat crossing "
			"at night, at…");
	wb_view_free(v);
	const char *bn = "আমার স্কুটার গড়িয়াহাট মোড়ের কাছে বাজারের সামনে থেকে চুরি হয়ে গেছে, "
			 "দয়া করে তাড়াতাড়ি ব্যবস্থা নিন";
	v = text_view("text", "body", bn);
	g_autofree char *kept = g_strndup(v->summary, strlen(v->summary) - strlen("…"));
	g_assert_true(g_str_has_prefix(bn, kept));
	g_assert_true(bn[strlen(kept)] == ' '); /* cut between words */
	wb_view_free(v);
}

/* Hostile text: a cluster longer than the subject (a base with 300 marks), bidi
 * overrides, controls and a header injection stay one clean line of at most 78. */
static void test_summary_hostile(void)
{
	g_autofree char *zalgo = repeat("e", "\u0301", 300);
	const char *texts[] = { zalgo, "a\u202Eexe.pdf\u202C and more", "Help\rBcc: x@evil.test",
				"\u200D\u200D\u09CD", "👍🏽" };
	for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
		const char *types[] = { "text", "image" };
		for (size_t t = 0; t < G_N_ELEMENTS(types); t++) {
			struct wb_view *v = text_view(types[t], t ? "caption" : "body", texts[i]);
			g_assert_null(strstr(v->summary, "\u202E"));
			g_assert_cmpuint(g_utf8_strlen(v->summary, -1), <=, 78);
			wb_view_free(v);
		}
	}
}

/* Every kind of message that is not plain text says its kind in the subject. */
static void test_summary_kinds(void)
{
	const struct { const char *type, *json, *want; } tab[] = {
		{ "text", "{'type':'text','context':{'forwarded':true},'text':{'body':'KYC blocked\\nclick'}}",
		  "Forwarded: KYC blocked" },
		{ "text", "{'type':'text','context':{'frequently_forwarded':true},'text':{'body':'x'}}",
		  "Forwarded: x" },
		{ "text", "{'type':'text','context':{'forwarded':false},'text':{'body':'mine'}}", "mine" },
		{ "image", "{'type':'image','image':{'caption':'Signed\\nsecond'}}", "Photo: Signed" },
		{ "image", "{'type':'image','image':{}}", "Photo" },
		{ "video", "{'type':'video','video':{'caption':'bus'}}", "Video: bus" },
		{ "document", "{'type':'document','document':{'filename':'a.pdf'}}", "Document: a.pdf" },
		{ "document", "{'type':'document','document':{'filename':'a.pdf','caption':'FIR'}}",
		  "Document: FIR" },
		{ "sticker", "{'type':'sticker','sticker':{}}", "Sticker" },
		{ "location", "{'type':'location','location':{'latitude':22.5,'longitude':88.25}}",
		  "Location: 22.5, 88.25" },
		{ "location", "{'type':'location','location':{'address':'Rashbehari Ave'}}",
		  "Location: Rashbehari Ave" },
		{ "location", "{'type':'location','location':{}}", "Location" },
		{ "contacts", "{'type':'contacts','contacts':[{'name':{'formatted_name':'Rina'}}]}",
		  "Contact: Rina" },
		{ "reaction", "{'type':'reaction','reaction':{'emoji':'👍','message_id':'wamid.X'}}",
		  "Reaction 👍" },
		{ "system", "{'type':'system','system':{'body':'changed'}}", "System notice: changed" },
		{ "order", "{'type':'order','order':{'text':'two'}}", "Order: two" },
		{ "button", "{'type':'button','button':{'text':'Call'}}", "Button reply: Call" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(tab); i++) {
		g_autofree char *json = J(tab[i].json);
		struct wb_view *v = wb_view_build(tab[i].type, json, NULL, TS, ZONE);
		assert_view_invariants(v);
		g_assert_cmpstr(v->summary, ==, tab[i].want);
		wb_view_free(v);
	}
}

/* A reaction names its target as the caller describes it; never the wamid. */
static void test_reaction_target(void)
{
	g_autofree char *json = J("{'type':'reaction','reaction':{'emoji':'👍','message_id':'wamid.HBgSECRET'}}");
	struct wb_view *v = wb_view_build("reaction", json, NULL, TS, ZONE);
	g_assert_null(strstr(v->text, "wamid"));
	g_assert_null(strstr(v->details, "wamid"));
	wb_view_set_reaction_target(v, "your message of 15 Oct, 13:30: “Complaint No. 123/2026”");
	g_assert_cmpstr(v->text, ==, "The citizen reacted with 👍 to your message of 15 Oct, 13:30: "
			"“Complaint No. 123/2026”.");
	g_assert_cmpstr(v->summary, ==, "Reaction 👍 to your message of 15 Oct, 13:30: “Complaint No. "
			"123/2026”");
	/* A long target is cut with "…"; a hostile one stays one line. */
	g_autofree char *long_target = repeat("the citizen's photo of 15 Oct, 13:30: ", "অভিযোগ ", 40);
	wb_view_set_reaction_target(v, long_target);
	assert_view_invariants(v);
	g_assert_true(g_str_has_prefix(v->summary, "Reaction 👍 to the citizen's photo"));
	g_assert_true(g_str_has_suffix(v->summary, "…"));
	wb_view_set_reaction_target(v, "x\r\nBcc: evil@example.org\u202E");
	assert_view_invariants(v);
	g_assert_cmpstr(v->summary, ==, "Reaction 👍 to x Bcc: evil@example.org");
	wb_view_free(v);
	/* Not a reaction: nothing changes. */
	g_autofree char *tj = J("{'type':'text','text':{'body':'hello'}}");
	v = wb_view_build("text", tj, NULL, TS, ZONE);
	wb_view_set_reaction_target(v, "something");
	g_assert_cmpstr(v->text, ==, "hello");
	g_assert_cmpstr(v->summary, ==, "hello");
	wb_view_free(v);
}

/* Files without a name of their own are named in the station's time; UTC without a
 * zone or with one that does not exist. */
static void test_file_time_zone(void)
{
	g_autoptr(GBytes) b = media_bytes(JPEG);
	g_autofree char *json = J("{'type':'image','image':{}}");
	struct wb_media_in media = { .data = b, .mime_type = "image/jpeg" };
	const struct { const char *zone, *want; } tab[] = {
		{ "Asia/Kolkata", "photo-20261015-133000.jpg" },
		{ "America/New_York", "photo-20261015-040000.jpg" },
		{ NULL, "photo-20261015-080000.jpg" },
		{ "Not/A_Zone", "photo-20261015-080000.jpg" },
		{ "../../etc/passwd", "photo-20261015-080000.jpg" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(tab); i++) {
		struct wb_view *v = wb_view_build("image", json, &media, TS, tab[i].zone);
		const struct wb_attachment *a = v->attachments->pdata[0];
		g_assert_cmpstr(a->filename, ==, tab[i].want);
		wb_view_free(v);
	}
}

/* ---- wb_safe_filename ---------------------------------------------------------------------- */

static const struct { const char *in, *want; } filenames[] = {
	{ "../../etc/passwd", "passwd" },
	{ "a\\b\\c.pdf", "c.pdf" },
	{ "C:\\Users\\Rafiq\\Desktop\\FIR.pdf", "FIR.pdf" },
	{ "/absolute/path/", "fallback.bin" },
	{ "line1\r\nline2.pdf", "line1 line2.pdf" },
	{ "tab\there\x7f.pdf", "tab here .pdf" },
	{ "<script>.pdf", "_script_.pdf" },
	{ "a:b|c?d*e\"f;g>.pdf", "a_b_c_d_e_f_g_.pdf" },
	{ "...", "fallback.bin" },
	{ "..", "fallback.bin" },
	{ ".", "fallback.bin" },
	{ "", "fallback.bin" },
	{ "   ", "fallback.bin" },
	{ ".bashrc", "bashrc" },
	{ "...pdf", "pdf" },
	{ " . .hidden.txt", "hidden.txt" },
	{ "-rf.pdf", "rf.pdf" },
	{ "অভিযোগ.pdf", "অভিযোগ.pdf" },
	{ "সুভাষ মণ্ডল - অভিযোগ (১).docx", "সুভাষ মণ্ডল - অভিযোগ (১).docx" },
	{ "plain", "plain" },
	{ "photo 2026-10-14 21.00.jpg", "photo 2026-10-14 21.00.jpg" },
	{ "bad\xff\xfe.pdf", "bad\xef\xbf\xbd\xef\xbf\xbd.pdf" }, /* invalid UTF-8 → U+FFFD */
};

static void test_safe_filename_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(filenames); i++) {
		g_autofree char *got = wb_safe_filename(filenames[i].in, "fallback.bin");
		if (g_strcmp0(got, filenames[i].want) != 0)
			g_test_fail_printf("wb_safe_filename(\"%s\") = \"%s\", want \"%s\"",
					   filenames[i].in, got, filenames[i].want);
	}
	g_autofree char *null = wb_safe_filename(NULL, "fallback.bin");
	g_assert_cmpstr(null, ==, "fallback.bin");
}

/* Format controls that reorder what a mail client shows (U+202E makes "fdp.exe" read
 * "exe.pdf") are controls too: view.h promises no controls in a file name. */
static void test_safe_filename_bidi(void)
{
	static const char *const names[] = {
		"invoice\u202Efdp.exe", "a\u202Ab\u202Bc\u202Cd\u202De.pdf", "x\u2066y\u2067z\u2068w\u2069.pdf",
	};
	GString *kept = g_string_new(NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *got = wb_safe_filename(names[i], "fallback.bin");
		for (const char *p = got; *p; p = g_utf8_next_char(p)) {
			gunichar c = g_utf8_get_char(p);
			if ((c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069))
				g_string_append_printf(kept, " U+%04X", c);
		}
	}
	if (kept->len)
		g_test_fail_printf("wb_safe_filename() keeps bidirectional controls:%s", kept->str);
	g_string_free(kept, TRUE);
}

static void test_safe_filename_long(void)
{
	/* 296 ASCII characters and ".pdf": 96 of them and the extension. */
	g_autofree char *a296 = g_strnfill(296, 'a');
	g_autofree char *ascii = g_strconcat(a296, ".pdf", NULL);
	g_autofree char *got = wb_safe_filename(ascii, "f");
	g_assert_cmpuint(g_utf8_strlen(got, -1), ==, 100);
	g_assert_true(g_str_has_suffix(got, ".pdf"));
	g_assert_true(strncmp(got, a296, 96) == 0);

	/* "অ" then 99 conjuncts "ক্ষ" (3 code points each) and ".pdf": 302 characters. The cut
	 * at 96 would fall inside a conjunct; it must go back to 1 + 3 * 31 = 94. */
	GString *bn = g_string_new("অ");
	for (int i = 0; i < 99; i++)
		g_string_append(bn, "ক্ষ");
	g_autofree char *stem = g_strdup(bn->str);
	g_string_append(bn, ".pdf");
	g_autofree char *got_bn = wb_safe_filename(bn->str, "f");
	g_assert_true(g_utf8_validate(got_bn, -1, NULL));
	g_assert_cmpuint(g_utf8_strlen(got_bn, -1), <=, 100);
	g_assert_true(g_str_has_suffix(got_bn, ".pdf"));
	size_t keep = strlen(got_bn) - 4;
	g_assert_true(strncmp(got_bn, stem, keep) == 0); /* a prefix of the name */
	g_autofree char *kept = g_strndup(got_bn, keep);
	g_assert_true(g_str_has_suffix(kept, "ক্ষ")); /* ends on a whole conjunct */
	g_assert_cmpuint(g_utf8_strlen(kept, -1), ==, 94);
	g_string_free(bn, TRUE);

	/* No extension: 100 conjuncts (300 characters) → 33 whole ones (99 characters). */
	GString *noext = g_string_new(NULL);
	for (int i = 0; i < 100; i++)
		g_string_append(noext, "ক্ষ");
	g_autofree char *got_noext = wb_safe_filename(noext->str, "f");
	g_assert_cmpuint(g_utf8_strlen(got_noext, -1), ==, 99);
	g_assert_true(g_str_has_suffix(got_noext, "ক্ষ"));
	g_string_free(noext, TRUE);

	/* An "extension" longer than 10 characters is not one: a plain cut at 100. */
	g_autofree char *a290 = g_strnfill(290, 'b');
	g_autofree char *longext = g_strconcat(a290, ".averyveryverylongext", NULL);
	g_autofree char *got_le = wb_safe_filename(longext, "f");
	g_assert_cmpuint(g_utf8_strlen(got_le, -1), ==, 100);
	g_assert_true(strncmp(got_le, a290, 100) == 0);

	/* Every length from 95 to 110 around the limit, with a multi-byte extension. */
	for (int n = 90; n <= 110; n++) {
		g_autofree char *s = g_strnfill((gsize)n, 'c');
		g_autofree char *name = g_strconcat(s, ".নথি", NULL);
		g_autofree char *r = wb_safe_filename(name, "f");
		g_assert_true(g_utf8_validate(r, -1, NULL));
		g_assert_cmpuint(g_utf8_strlen(r, -1), <=, 100);
		g_assert_true(g_str_has_suffix(r, ".নথি"));
	}
}

/* ---- wb_ogg_opus_seconds -------------------------------------------------------------------- */

static void test_ogg_valid(void)
{
	size_t last = 0;
	g_autoptr(GBytes) b = ogg_opus(312, 42 * 48000 + 312, &last);
	gsize len;
	const guchar *d = g_bytes_get_data(b, &len);
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, 42);

	g_autoptr(GBytes) zero_skip = ogg_opus(0, 42 * 48000, NULL);
	d = g_bytes_get_data(zero_skip, &len);
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, 42);

	g_autoptr(GBytes) hour = ogg_opus(3840, 3600ull * 48000 + 3840, NULL);
	d = g_bytes_get_data(hour, &len);
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, 3600);

	g_autoptr(GBytes) short_note = ogg_opus(312, 312 + 12000, NULL); /* 0.25 s */
	d = g_bytes_get_data(short_note, &len);
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, 0);
}

/* Every prefix of a valid stream: -1 until the halfway audio page is complete, then the
 * duration up to the last complete page (a cut-off page does not count); never a read
 * past the end (ASan watches an exact-size copy of each prefix). */
static void test_ogg_prefixes(void)
{
	size_t mid = 0, last = 0;
	g_autoptr(GBytes) b = ogg_opus2(312, 42 * 48000 + 312, &mid, &last);
	gsize len;
	const guchar *d = g_bytes_get_data(b, &len);
	for (size_t n = 0; n <= len; n++) {
		guchar *copy = g_memdup2(d, n ? n : 1);
		int s = wb_ogg_opus_seconds(copy, n);
		g_free(copy);
		g_assert_cmpuint(mid, <, last);
		if (n < last)
			g_assert_cmpint(s, ==, -1);
		else if (n < len)
			g_assert_cmpint(s, ==, 21); /* the halfway page: (42 * 48000 + 312) / 2 */
		else
			g_assert_cmpint(s, ==, 42);
	}
}

static void set_granule(guchar *page, guint64 g)
{
	for (int i = 0; i < 8; i++)
		page[6 + i] = (guchar)(g >> (8 * i));
}

static void test_ogg_bad(void)
{
	g_assert_cmpint(wb_ogg_opus_seconds(NULL, 0), ==, -1);
	g_assert_cmpint(wb_ogg_opus_seconds("OggS", 4), ==, -1);

	size_t last = 0;
	g_autoptr(GBytes) b = ogg_opus(312, 42 * 48000 + 312, &last);
	gsize len;
	const guchar *orig = g_bytes_get_data(b, &len);
	guchar *d = g_memdup2(orig, len);

	/* Granule -1 means no packet ends on that page: the page before it counts. */
	set_granule(d + last, G_MAXUINT64);
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, wb_ogg_opus_seconds(d, last));
	memcpy(d, orig, len);
	/* Huge or impossible granule positions on the last page. */
	const guint64 bad_granules[] = { G_MAXUINT64 - 1, (guint64)1 << 63,
					 48000ull * 86400 * 2, 311, 0 };
	for (size_t i = 0; i < G_N_ELEMENTS(bad_granules); i++) {
		set_granule(d + last, bad_granules[i]);
		g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, -1);
	}
	memcpy(d, orig, len);

	/* Not Opus: the first packet is something else. */
	memcpy(d + 28, "OpusHeaX", 8);
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, -1);
	memcpy(d, orig, len);
	/* A segment count that puts the first packet past the end. */
	d[26] = 255;
	g_assert_cmpint(wb_ogg_opus_seconds(d, 300 < len ? 300 : len), ==, -1);
	memcpy(d, orig, len);
	/* Not Ogg. */
	d[0] = 'X';
	g_assert_cmpint(wb_ogg_opus_seconds(d, len), ==, -1);
	g_free(d);

	/* "OggS" and zeros, of every length up to 200. */
	guchar zeros[200] = { 0 };
	memcpy(zeros, "OggS", 4);
	for (size_t n = 0; n <= sizeof zeros; n++)
		g_assert_cmpint(wb_ogg_opus_seconds(zeros, n), ==, -1);

	/* Garbage, with and without a capture pattern in it. */
	GRand *r = g_rand_new_with_seed(20261015);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)g_rand_int_range(r, 0, 600);
		guchar *g = g_malloc(n + 1);
		for (size_t i = 0; i < n; i++)
			g[i] = (guchar)g_rand_int_range(r, 0, 256);
		if (round % 2 && n >= 4)
			memcpy(g, "OggS", 4);
		if (round % 4 == 1 && n >= 47) {
			g[26] = 0;
			memcpy(g + 27, "OpusHead", 8);
		}
		int s = wb_ogg_opus_seconds(g, n);
		g_assert_cmpint(s, >=, -1);
		g_assert_cmpint(s, <=, 86400);
		g_free(g);
	}
	g_rand_free(r);
}

/* The capture pattern "OggS" can occur inside audio data; the duration must come from the
 * last real page, not from four bytes of Opus that happen to spell it. */
static void test_ogg_capture_pattern_in_payload(void)
{
	size_t last = 0;
	g_autoptr(GBytes) b = ogg_opus(312, 42 * 48000 + 312, &last);
	gsize len;
	const guchar *d = g_bytes_get_data(b, &len);
	GByteArray *out = g_byte_array_new();
	g_byte_array_append(out, d, (guint)last);
	/* A last page whose packet holds what looks like a page header (granule 600 s). */
	guchar fake[64] = { 0 };
	memcpy(fake, "OggS", 4);
	set_granule(fake, 600ull * 48000 + 312);
	ogg_page(out, 0x04, 42 * 48000 + 312, 3, fake, sizeof fake);
	int s = wb_ogg_opus_seconds(out->data, out->len);
	if (s != 42)
		g_test_fail_printf("wb_ogg_opus_seconds() = %d, want 42: it took \"OggS\" inside the "
				   "last page's audio data for a page header", s);
	g_byte_array_unref(out);
}

/* ---- wb_view_media_ref ---------------------------------------------------------------------- */

static void test_media_ref(void)
{
	static const struct { const char *type, *json, *id, *sha, *mime; } media[] = {
		{ "image", "{'image':{'id':'2209184736501928','sha256':'X9O8dtyS+/=','mime_type':'image/jpeg'}}",
		  "2209184736501928", "X9O8dtyS+/=", "image/jpeg" },
		{ "audio", "{'audio':{'id':'33','sha256':'c2hh','mime_type':'audio/ogg; codecs=opus','voice':true}}",
		  "33", "c2hh", "audio/ogg; codecs=opus" },
		{ "video", "{'video':{'id':'44','mime_type':'video/mp4'}}", "44", NULL, "video/mp4" },
		{ "document", "{'document':{'id':'55','filename':'a.pdf','sha256':'ZA=='}}", "55", "ZA==", NULL },
		{ "sticker", "{'sticker':{'id':'66','mime_type':'image/webp','animated':true}}", "66", NULL, "image/webp" },
		{ "image", "{'image':'not an object'}", NULL, NULL, NULL },
		{ "image", "{'text':{'body':'the type object is missing'}}", NULL, NULL, NULL },
		{ "video", "not json", NULL, NULL, NULL },
		{ "audio", "[]", NULL, NULL, NULL },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(media); i++) {
		g_autofree char *json = J(media[i].json);
		g_autofree char *id = NULL, *sha = NULL, *mime = NULL;
		g_assert_true(wb_view_media_ref(media[i].type, json, &id, &sha, &mime));
		g_assert_cmpstr(id, ==, media[i].id);
		g_assert_cmpstr(sha, ==, media[i].sha);
		g_assert_cmpstr(mime, ==, media[i].mime);
	}
	static const char *const not_media[] = { "text", "location", "contacts", "interactive", "button",
						 "reaction", "order", "system", "unsupported", "unknown",
						 "frobnicate", "" };
	for (size_t i = 0; i < G_N_ELEMENTS(not_media); i++) {
		char *id = NULL, *sha = NULL, *mime = NULL;
		g_autofree char *json = g_strdup_printf("{\"%s\":{\"id\":\"77\"}}", not_media[i]);
		g_assert_false(wb_view_media_ref(not_media[i], json, &id, &sha, &mime));
		g_assert_null(id);
		g_assert_null(sha);
		g_assert_null(mime);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strconcat("/view/type/", cases[i].path, NULL);
		g_test_add_data_func(path, &cases[i], test_view_case);
	}
	g_test_add_func("/view/media_hash", test_media_hash);
	g_test_add_func("/view/summary/cut_graphemes", test_summary_cut_graphemes);
	g_test_add_func("/view/summary/fits_and_words", test_summary_fits_and_words);
	g_test_add_func("/view/summary/hostile", test_summary_hostile);
	g_test_add_func("/view/summary/kinds", test_summary_kinds);
	g_test_add_func("/view/reaction_target", test_reaction_target);
	g_test_add_func("/view/file_time_zone", test_file_time_zone);
	g_test_add_func("/view/safe_filename/table", test_safe_filename_table);
	g_test_add_func("/view/safe_filename/long", test_safe_filename_long);
	g_test_add_func("/view/safe_filename/bidi", test_safe_filename_bidi);
	g_test_add_func("/view/ogg/valid", test_ogg_valid);
	g_test_add_func("/view/ogg/prefixes", test_ogg_prefixes);
	g_test_add_func("/view/ogg/bad", test_ogg_bad);
	g_test_add_func("/view/ogg/capture_pattern_in_payload", test_ogg_capture_pattern_in_payload);
	g_test_add_func("/view/media_ref", test_media_ref);
	return g_test_run();
}
