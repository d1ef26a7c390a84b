/* dutymail: the escalation mail and the daily digest, with render.c's building blocks.
 *
 * Design rationale: each mail is decided once into plain data — a list of labelled facts,
 * a list of messages, a list of media, a list of digest rows, every string cleaned and
 * capped — and that data is then written twice, as text and as an HTML tree built with
 * libxml2 (text nodes only, so user text is always escaped). Headers go through
 * render.c's setters (encoded-words, no raw user text).
 *
 * The media of an escalation are taken from the mails the station received, parsed with
 * GMime, and written as new parts by wb_mail_media_part(), the very function that wrote
 * them for the station: same bytes, MIME type, file name and Content-Description. The
 * hash is computed again from the bytes, so what the superior reads always describes
 * what is attached; a stored mail that claims another hash is pointed out. Rebuilding
 * (instead of copying the parsed parts) also means nothing in a damaged stored mail can
 * shape this mail's headers. Times shown in the digest use English month names from a
 * table, so the plain-text columns stay ASCII whatever the locale. */
#include "dutymail.h"
#include "caps.h"
#include "render.h"
#include "replyparse.h"
#include "util.h"
#include "view.h"

#include <gmime/gmime.h>
#include <libxml/HTMLtree.h>
#include <string.h>

#define RULE "----------------------------------------------------------------------\n"
#define FOOTER "This mail was written by wabridge, the bridge between the station's WhatsApp " \
	"number and its mailbox. Replying to it writes to the station, not to the citizen."

/* ---- words and times ---------------------------------------------------------------- */

static const char *const months[12] = {
	"January", "February", "March", "April", "May", "June", "July", "August",
	"September", "October", "November", "December",
};

/* "6 December 2026" (long) or "6 Dec 14:05" in the zone. */
static char *day_text(gint64 t, const char *tz)
{
	g_autoptr(GDateTime) d = wb_local_time(t, tz);
	if (!d)
		return g_strdup("(unknown date)");
	return g_strdup_printf("%d %s %d", g_date_time_get_day_of_month(d),
			       months[g_date_time_get_month(d) - 1], g_date_time_get_year(d));
}

static char *short_time(gint64 t, const char *tz)
{
	g_autoptr(GDateTime) d = wb_local_time(t, tz);
	if (!d)
		return g_strdup("?");
	return g_strdup_printf("%d %.3s %02d:%02d", g_date_time_get_day_of_month(d),
			       months[g_date_time_get_month(d) - 1], g_date_time_get_hour(d),
			       g_date_time_get_minute(d));
}

/* As the station's mails show times (WB_WHEN_FORMAT). */
static char *when_text(gint64 t, const char *tz)
{
	g_autoptr(GDateTime) d = wb_local_time(t, tz);
	return d ? g_date_time_format(d, WB_WHEN_FORMAT) : g_strdup("(unknown time)");
}

/* "45 min", "26 h 10 min", "3 d 4 h"; negative spans as their size. */
static char *span_text(gint64 secs)
{
	if (secs < 0)
		secs = secs == G_MININT64 ? G_MAXINT64 : -secs;
	gint64 m = secs / 60, h = m / 60, d = h / 24;
	if (h == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT " min", m);
	if (h < 48)
		return m % 60 ? g_strdup_printf("%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min",
						h, m % 60)
			      : g_strdup_printf("%" G_GINT64_FORMAT " h", h);
	return h % 24 ? g_strdup_printf("%" G_GINT64_FORMAT " d %" G_GINT64_FORMAT " h", d, h % 24)
		      : g_strdup_printf("%" G_GINT64_FORMAT " d", d);
}

/* The same to the hour, for the digest's columns: "45 min", "26 h", "3 d 4 h". */
static char *span_short(gint64 secs)
{
	if (secs < 0)
		secs = secs == G_MININT64 ? G_MAXINT64 : -secs;
	gint64 h = secs / 3600;
	return h >= 48 ? span_text(secs - secs % 3600)
		       : h ? g_strdup_printf("%" G_GINT64_FORMAT " h", h) : span_text(secs);
}

/* "Name (+91 98300 12345)", or the number alone. */
static char *citizen_text(const char *profile_name, const char *digits, size_t name_chars)
{
	g_autofree char *name = wb_clean_line(profile_name, name_chars);
	g_autofree char *raw = wb_format_phone(digits ? digits : "");
	g_autofree char *number = wb_clean_line(raw, 64);
	return *name ? g_strdup_printf("%s (%s)", name, number) : g_strdup(number);
}

/* A message id we may write between angle brackets: printable ASCII, no brackets, one @. */
static bool msgid_ok(const char *id)
{
	if (!id || !*id || strlen(id) > 255)
		return false;
	for (const char *p = id; *p; p++)
		if (*p <= ' ' || *p >= 127 || *p == '<' || *p == '>')
			return false;
	const char *at = strchr(id, '@');
	return at && at != id && at[1] && !strchr(at + 1, '@');
}

static bool check_common(const struct wb_station *st, const char *from, const char *msgid,
			 const char *const *to, GError **error)
{
	const char *missing = !st || !st->name || !st->address ? "station"
		: !from || !*from ? "from" : !msgid_ok(msgid) ? "message_id"
		: !to || !to[0] ? "to" : NULL;
	if (missing)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the duty mail cannot be written: %s is missing or not valid", missing);
	return !missing;
}

/* ---- the headers both mails share ----------------------------------------------------- */

static GMimeMessage *new_mail(const char *from, const char *const *to,
			      const struct wb_station *st, const char *msgid, GDateTime *date)
{
	GMimeMessage *mail = g_mime_message_new(FALSE);
	g_autofree char *sender = wb_clean_line(from, WB_MAX_ADDR_CHARS);
	wb_mail_set_mailbox(mail, "From", "WhatsApp bridge", NULL, sender);
	for (size_t i = 0; to[i]; i++) {
		g_autofree char *addr = wb_clean_line(to[i], WB_MAX_ADDR_CHARS);
		if (*addr)
			g_mime_message_add_mailbox(mail, GMIME_ADDRESS_TYPE_TO, NULL, addr);
	}
	g_autofree char *station = wb_clean_line(st->name, 200);
	g_autofree char *reply = wb_clean_line(st->address, WB_MAX_ADDR_CHARS);
	wb_mail_set_mailbox(mail, "Reply-To", station, NULL, reply);
	g_mime_message_set_message_id(mail, msgid);
	if (date)
		g_mime_message_set_date(mail, date);
	GMimeObject *o = GMIME_OBJECT(mail);
	g_mime_object_set_header(o, "Auto-Submitted", "auto-generated", NULL);
	wb_mail_add_header(o, "X-Station", st->key ? st->key : st->code);
	return mail;
}

/* Set the body (and attachments, when any), encode it for a 7-bit wire, serialise. */
static GBytes *finish(GMimeMessage *mail, const char *plain, const char *html, GPtrArray *parts)
{
	GMimeObject *body = wb_mail_alternative(plain, html);
	g_mime_object_encode(body, GMIME_ENCODING_CONSTRAINT_7BIT);
	GMimeObject *top = body;
	if (parts && parts->len) {
		GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, body);
		g_object_unref(body);
		for (guint i = 0; i < parts->len; i++)
			g_mime_multipart_add(mixed, parts->pdata[i]);
		top = GMIME_OBJECT(mixed);
	}
	g_mime_message_set_mime_part(mail, top);
	g_object_unref(top);
	GBytes *out = wb_mail_serialize(mail);
	g_object_unref(mail);
	return out;
}

/* ---- HTML, built as a tree -------------------------------------------------------------- */

static xmlNode *el(xmlNode *parent, const char *name, const char *style, const char *text)
{
	xmlNode *n = xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
	if (style)
		xmlSetProp(n, (const xmlChar *)"style", (const xmlChar *)style);
	if (text)
		xmlNodeAddContent(n, (const xmlChar *)text); /* a text node: never markup */
	return n;
}

/* A document with <head> (charset, title) and a styled <body>; returns the body. */
static xmlNode *html_doc(xmlDoc **doc, const char *title)
{
	*doc = htmlNewDocNoDtD(NULL, NULL);
	xmlCreateIntSubset(*doc, (const xmlChar *)"html", NULL, NULL);
	xmlNode *root = xmlNewDocNode(*doc, NULL, (const xmlChar *)"html", NULL);
	xmlDocSetRootElement(*doc, root);
	xmlNode *head = el(root, "head", NULL, NULL);
	xmlSetProp(el(head, "meta", NULL, NULL), (const xmlChar *)"charset", (const xmlChar *)"utf-8");
	el(head, "title", NULL, title);
	return el(root, "body", "font-family: sans-serif; font-size: 14px; color: #111;", NULL);
}

static char *html_finish(xmlDoc *doc)
{
	char *out = wb_html_dump(doc);
	xmlFreeDoc(doc);
	return out;
}

/* ---- facts: label and value, written as text and as a table ------------------------------ */

struct fact {
	const char *label;
	char *value; /* cleaned; may hold newlines */
};

static void fact(GArray *facts, const char *label, char *value)
{
	struct fact f = { label, value };
	g_array_append_val(facts, f);
}

static void fact_clear(gpointer p)
{
	g_free(((struct fact *)p)->value);
}

/* Each further line of s, indented. */
static void append_indented(GString *out, const char *s, const char *indent)
{
	g_auto(GStrv) lines = g_strsplit(s, "\n", -1);
	for (size_t i = 0; lines[i]; i++)
		g_string_append_printf(out, "%s%s\n", indent, lines[i]);
}

static void facts_text(GString *out, GArray *facts)
{
	for (guint i = 0; i < facts->len; i++) {
		const struct fact *f = &g_array_index(facts, struct fact, i);
		if (strchr(f->value, '\n')) {
			g_string_append_printf(out, "%s:\n", f->label);
			append_indented(out, f->value, "    ");
		} else {
			g_autofree char *label = g_strconcat(f->label, ":", NULL);
			g_string_append_printf(out, "%-12s %s\n", label, f->value);
		}
	}
}

static void facts_html(xmlNode *body, GArray *facts)
{
	xmlNode *table = el(body, "table", "border-collapse: collapse; margin-bottom: 12px;", NULL);
	for (guint i = 0; i < facts->len; i++) {
		const struct fact *f = &g_array_index(facts, struct fact, i);
		xmlNode *tr = el(table, "tr", NULL, NULL);
		el(tr, "td", "padding: 2px 12px 2px 0; color: #555; vertical-align: top;", f->label);
		el(tr, "td", "white-space: pre-wrap;", f->value);
	}
}

/* ---- the escalation: why, and what to do ------------------------------------------------- */

static const struct why_row {
	const char *name;     /* X-Wabridge-Escalation */
	const char *headline;
	const char *todo;
} whys[] = {
	[WB_ESC_SERIOUS] = { "serious", "ESCALATED: a serious complaint",
		"Make sure the station has seen this complaint and is acting on it now; the "
		"citizen may be in danger. The station registers it and sends the complaint "
		"number by replying to the complaint's mail in its mailbox." },
	[WB_ESC_MANUAL] = { "manual", "ESCALATED by the station",
		"An officer of the station asks for your attention or decision (their words are "
		"above). Answer them by replying to this mail." },
	[WB_ESC_OVERDUE] = { "overdue", "OVERDUE: no complaint number yet",
		"Ask the station to register the complaint and send the complaint number: an "
		"officer replies to the complaint's mail in the station's mailbox with the number, "
		"and the bridge sends it to the citizen on WhatsApp." },
	[WB_ESC_LATE] = { "late", "OVERDUE, second tier: still no complaint number",
		"The station has not given a complaint number even after the first escalation. "
		"Please see that the complaint is registered now and the number sent to the "
		"citizen (an officer replies to the complaint's mail with the number)." },
};

const char *wb_escalation_why_name(enum wb_escalation_why why)
{
	return (unsigned)why < G_N_ELEMENTS(whys) ? whys[why].name : "manual";
}

static const struct why_row *why_of(enum wb_escalation_why why)
{
	return &whys[(unsigned)why < G_N_ELEMENTS(whys) ? why : WB_ESC_MANUAL];
}

/* "murder, acid" from the matched words, at most WB_DM_MAX_MATCHED of them. */
static char *matched_text(const char *const *matched)
{
	GString *out = g_string_new(NULL);
	for (size_t i = 0; matched && matched[i]; i++) {
		if (i == WB_DM_MAX_MATCHED) {
			g_string_append(out, ", …");
			break;
		}
		g_autofree char *w = wb_clean_line(matched[i], 40);
		if (*w)
			g_string_append_printf(out, "%s%s", out->len ? ", " : "", w);
	}
	return g_string_free(out, FALSE);
}

/* The first line of the first message with text, or "(no text)". */
static char *first_text(const struct wb_escalation_in *in)
{
	for (size_t i = 0; i < in->n_msgs && i < WB_DM_MAX_MESSAGES; i++) {
		const char *t = in->msgs[i].text;
		if (!t)
			continue;
		g_autofree char *clean = wb_clean_text(t, MIN(strlen(t), 4096u), 4096);
		g_strstrip(clean);
		size_t n = strcspn(clean, "\n");
		if (n)
			return g_strndup(clean, n);
	}
	return g_strdup("(no text)");
}

static char *escalation_summary(const struct wb_escalation_in *in)
{
	g_autofree char *first = first_text(in);
	g_autofree char *matched = matched_text(in->matched);
	g_autofree char *waited = g_strdup_printf("%" G_GINT64_FORMAT " h",
						  MAX(in->now - in->opened_at, 0) / 3600);
	g_autofree char *head = NULL;
	switch (in->why) {
	case WB_ESC_SERIOUS:
		head = *matched ? g_strdup_printf("ESCALATED (serious: %s)", matched)
				: g_strdup("ESCALATED (serious)");
		break;
	case WB_ESC_OVERDUE:
		head = g_strdup_printf("OVERDUE %s, no complaint number", waited);
		break;
	case WB_ESC_LATE:
		head = g_strdup_printf("OVERDUE %s (second tier), no complaint number", waited);
		break;
	default:
		head = g_strdup("ESCALATED by the station");
		break;
	}
	g_autofree char *summary = g_strdup_printf("%s: %s", head, first);
	return wb_clean_line(summary, WB_DM_SUBJECT_CHARS);
}

static char *why_text(const struct wb_escalation_in *in)
{
	g_autofree char *matched = matched_text(in->matched);
	g_autofree char *officer = wb_clean_line(in->officer, WB_DM_LINE_CHARS);
	switch (in->why) {
	case WB_ESC_SERIOUS:
		return g_strdup_printf("The complaint's messages name a serious offence%s%s%s; it "
				       "is escalated at once, on a clock of %d h.",
				       *matched ? " (matched: " : "", matched, *matched ? ")" : "",
				       in->sla_hours);
	case WB_ESC_OVERDUE:
	case WB_ESC_LATE:
		return g_strdup_printf("The citizen has waited past the station's clock of %d h "
				       "without a complaint number%s.", in->sla_hours,
				       in->why == WB_ESC_LATE ? ", and the first escalation "
				       "did not change that" : "");
	default:
		return g_strdup_printf("An officer of the station%s%s asked for this escalation "
				       "(#escalate in a reply).", *officer ? ", " : "", officer);
	}
}

static char *deadline_text(const struct wb_escalation_in *in)
{
	if (in->deadline <= 0)
		return g_strdup("(no deadline)");
	g_autofree char *when = when_text(in->deadline, in->timezone);
	g_autofree char *span = span_text(in->now - in->deadline);
	return in->now >= in->deadline ? g_strdup_printf("%s (overdue by %s)", when, span)
				       : g_strdup_printf("%s (in %s)", when, span);
}

static GArray *escalation_facts(const struct wb_escalation_in *in)
{
	GArray *f = g_array_new(FALSE, FALSE, sizeof(struct fact));
	g_array_set_clear_func(f, fact_clear);
	const struct wb_station *st = in->station;
	fact(f, "Why", why_text(in));
	fact(f, "Complaint", wb_clean_line(in->ref, 64));
	g_autofree char *name = wb_clean_line(st->name, 200);
	g_autofree char *code = wb_clean_line(st->code, 16);
	g_autofree char *addr = wb_clean_line(st->address, WB_MAX_ADDR_CHARS);
	fact(f, "Station", g_strdup_printf("%s (%s) <%s>", name, code, addr));
	fact(f, "Citizen", citizen_text(in->profile_name, in->citizen, WB_MAX_NAME_CHARS));
	fact(f, "Opened", when_text(in->opened_at, in->timezone));
	g_autofree char *waited = span_text(MAX(in->now - in->opened_at, 0));
	fact(f, "Waiting", g_strdup_printf("%s, against a clock of %d h", waited, in->sla_hours));
	fact(f, "Number due", deadline_text(in));
	fact(f, "State", wb_clean_line(in->state, WB_DM_LINE_CHARS));
	if (in->why == WB_ESC_MANUAL && in->officer)
		fact(f, "Officer", wb_clean_line(in->officer, WB_DM_LINE_CHARS));
	if (in->why == WB_ESC_MANUAL && in->officer_text && *in->officer_text)
		fact(f, "Officer's words", wb_clean_text(in->officer_text,
				strlen(in->officer_text), WB_MAX_TEXT_BYTES));
	return f;
}

/* ---- the escalation: the media from the station's mails ----------------------------------- */

struct media {
	struct wb_attachment a;
	char *claimed;  /* the SHA-256 the stored mail's Content-Description gives, or NULL */
	size_t msg;     /* its message, 0-based */
	bool attached;
};

static void media_free(gpointer p)
{
	struct media *m = p;
	g_free(m->a.filename);
	g_free(m->a.mime_type);
	g_bytes_unref(m->a.data);
	g_free(m->a.sha256);
	g_free(m->claimed);
	g_free(m);
}

/* RFC 2045 token characters: a parameter value of these alone needs no quotes. */
#define TOKEN_CHARS "!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~"

/* "type/subtype; name=value..." without the name parameter (the file name is set anew). */
static char *mime_type_of(GMimePart *p)
{
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(p));
	g_autofree char *base = g_mime_content_type_get_mime_type(ct);
	GString *out = g_string_new(base);
	GMimeParamList *params = g_mime_content_type_get_parameters(ct);
	for (int i = 0; params && i < g_mime_param_list_length(params); i++) {
		GMimeParam *prm = g_mime_param_list_get_parameter_at(params, i);
		const char *k = g_mime_param_get_name(prm), *v = g_mime_param_get_value(prm);
		if (!k || !v || g_ascii_strcasecmp(k, "name") == 0)
			continue;
		g_autofree char *kc = wb_clean_line(k, 40), *vc = wb_clean_line(v, 100);
		bool token = *vc && strspn(vc, TOKEN_CHARS) == strlen(vc);
		g_string_append_printf(out, "; %s=%s", kc, token ? vc : "\"");
		for (const char *c = vc; !token && *c; c++) {
			if (*c == '"' || *c == '\\')
				g_string_append_c(out, '\\');
			g_string_append_c(out, *c);
		}
		if (!token)
			g_string_append_c(out, '"');
	}
	return g_string_free(out, FALSE);
}

/* The 64 hex digits after "SHA-256 " in a Content-Description, or NULL. */
static char *claimed_hash(GMimePart *p)
{
	const char *d = g_mime_part_get_content_description(p);
	const char *h = d ? strstr(d, "SHA-256 ") : NULL;
	if (!h)
		return NULL;
	h += strlen("SHA-256 ");
	size_t n = strspn(h, "0123456789abcdefABCDEF");
	return n == 64 ? g_ascii_strdown(h, 64) : NULL;
}

static GBytes *decoded(GMimePart *p)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	if (!w)
		return NULL;
	GMimeStream *s = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, s);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	GBytes *b = g_bytes_new(ba->data, ba->len);
	g_object_unref(s);
	return b;
}

/* An attachment of a station's mail: a leaf part with a file name, not the JSON record. */
static struct media *media_of(GMimeObject *o, size_t msg)
{
	if (!GMIME_IS_PART(o))
		return NULL;
	GMimePart *p = GMIME_PART(o);
	const char *name = g_mime_part_get_filename(p);
	if (!name || strcmp(name, "whatsapp-message.json") == 0)
		return NULL;
	GBytes *data = decoded(p);
	if (!data)
		return NULL;
	struct media *m = g_new0(struct media, 1);
	m->a.filename = wb_safe_filename(name, "attachment");
	m->a.mime_type = mime_type_of(p);
	m->a.data = data;
	m->a.sha256 = wb_sha256_hex(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
	m->claimed = claimed_hash(p);
	m->msg = msg;
	return m;
}

/* The media of every message's mail, in time order. unreadable gets a line for each
 * stored mail that does not parse as a mail with a body and a Message-ID (which every
 * mail the bridge renders has). */
static GPtrArray *collect_media(const struct wb_escalation_in *in, GString *unreadable)
{
	GPtrArray *all = g_ptr_array_new_with_free_func(media_free);
	size_t n = MIN(in->n_msgs, (size_t)WB_DM_MAX_MESSAGES);
	for (size_t i = 0; i < n; i++) {
		if (!in->msgs[i].mail)
			continue;
		gsize len;
		const void *bytes = g_bytes_get_data(in->msgs[i].mail, &len);
		GMimeMessage *mail = wb_parse_mail(bytes, len);
		if (!mail || !g_mime_message_get_mime_part(mail) ||
		    !g_mime_message_get_message_id(mail)) {
			g_string_append_printf(unreadable, "- message %zu: its mail as stored could "
					       "not be read as a mail\n", i + 1);
			if (mail)
				g_object_unref(mail);
			continue;
		}
		GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(mail));
		do {
			struct media *m = media_of(g_mime_part_iter_get_current(it), i);
			if (m && all->len < WB_DM_MAX_MEDIA)
				g_ptr_array_add(all, m);
			else if (m)
				media_free(m);
		} while (g_mime_part_iter_next(it));
		g_mime_part_iter_free(it);
		g_object_unref(mail);
	}
	return all;
}

/* Attach in time order whatever still fits the budget. */
static void plan_budget(GPtrArray *media, size_t budget)
{
	size_t left = MIN(budget, (size_t)WB_MAX_MAIL_BYTES / 2);
	for (guint i = 0; i < media->len; i++) {
		struct media *m = media->pdata[i];
		size_t size = g_bytes_get_size(m->a.data);
		m->attached = size <= left;
		if (m->attached)
			left -= size;
	}
}

static char *media_line(const struct media *m, const struct wb_escalation_in *in)
{
	g_autofree char *size = g_format_size_full(g_bytes_get_size(m->a.data),
						   G_FORMAT_SIZE_IEC_UNITS);
	g_autofree char *when = when_text(in->msgs[m->msg].ts, in->timezone);
	g_autofree char *where = m->attached ? g_strdup("attached")
		: g_strdup_printf("not attached (over this mail's size limit); it is in the "
				  "station's mailbox, in the mail of message %zu (%s)", m->msg + 1, when);
	g_autofree char *claim = m->claimed && strcmp(m->claimed, m->a.sha256) != 0
		? g_strdup_printf("; NOTE: the station's mail gives SHA-256 %s", m->claimed)
		: g_strdup("");
	return g_strdup_printf("%s (%s, %s), SHA-256 %s: %s%s", m->a.filename, m->a.mime_type,
			       size, m->a.sha256, where, claim);
}

/* ---- the escalation: the bodies ------------------------------------------------------- */

struct shown_msg {
	char *when, *type, *text;
};

static struct shown_msg *shown_messages(const struct wb_escalation_in *in, size_t *n)
{
	*n = MIN(in->n_msgs, (size_t)WB_DM_MAX_MESSAGES);
	struct shown_msg *out = g_new0(struct shown_msg, *n + 1);
	for (size_t i = 0; i < *n; i++) {
		const struct wb_dm_message *m = &in->msgs[i];
		const char *t = m->text ? m->text : "";
		out[i].when = when_text(m->ts, in->timezone);
		out[i].type = wb_clean_line(m->type ? m->type : "unknown", 40);
		out[i].text = wb_clean_text(t, strlen(t), WB_MAX_TEXT_BYTES);
		if (!*out[i].text) {
			g_free(out[i].text);
			out[i].text = g_strdup("(no text)");
		}
	}
	return out;
}

static void shown_free(struct shown_msg *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(s[i].when);
		g_free(s[i].type);
		g_free(s[i].text);
	}
	g_free(s);
}

struct escalation {
	const struct wb_escalation_in *in;
	char *headline;
	GArray *facts;
	struct shown_msg *msgs;
	size_t n_msgs;
	GPtrArray *media;
	GString *unreadable;
};

static char *escalation_text(const struct escalation *e)
{
	const struct wb_escalation_in *in = e->in;
	GString *out = g_string_new(NULL);
	g_string_append_printf(out, "%s\n\n", e->headline);
	facts_text(out, e->facts);
	g_string_append_printf(out, "\nWhat to do: %s\n\n", why_of(in->why)->todo);
	g_string_append_printf(out, "Messages (%zu), oldest first\n" RULE, in->n_msgs);
	for (size_t i = 0; i < e->n_msgs; i++) {
		g_string_append_printf(out, "%zu. %s, %s\n", i + 1, e->msgs[i].when, e->msgs[i].type);
		append_indented(out, e->msgs[i].text, "    ");
		g_string_append_c(out, '\n');
	}
	if (in->n_msgs > e->n_msgs)
		g_string_append_printf(out, "(%zu more messages, in the station's mailbox)\n",
				       in->n_msgs - e->n_msgs);
	g_string_append(out, RULE);
	if (e->media->len)
		g_string_append(out, "Media\n");
	for (guint i = 0; i < e->media->len; i++) {
		g_autofree char *line = media_line(e->media->pdata[i], in);
		g_string_append_printf(out, "- %s\n", line);
	}
	if (e->unreadable->len)
		g_string_append_printf(out, "\nNot readable:\n%s", e->unreadable->str);
	g_string_append_printf(out, "\n%s\n", FOOTER);
	return g_string_free(out, FALSE);
}

static void messages_html(xmlNode *body, const struct escalation *e)
{
	g_autofree char *title = g_strdup_printf("Messages (%zu), oldest first", e->in->n_msgs);
	el(body, "h3", "font-size: 15px; margin: 16px 0 6px;", title);
	xmlNode *table = el(body, "table", "border-collapse: collapse; width: 100%;", NULL);
	const char *cell = "border-top: 1px solid #ddd; padding: 4px 8px; vertical-align: top;";
	for (size_t i = 0; i < e->n_msgs; i++) {
		xmlNode *tr = el(table, "tr", NULL, NULL);
		g_autofree char *n = g_strdup_printf("%zu", i + 1);
		el(tr, "td", cell, n);
		el(tr, "td", "border-top: 1px solid #ddd; padding: 4px 8px; vertical-align: top; "
			      "color: #555; font-size: 12px;", e->msgs[i].when);
		el(tr, "td", cell, e->msgs[i].type);
		el(tr, "td", "border-top: 1px solid #ddd; padding: 4px 8px; vertical-align: top; "
			      "white-space: pre-wrap;", e->msgs[i].text);
	}
	if (e->in->n_msgs > e->n_msgs) {
		g_autofree char *more = g_strdup_printf("(%zu more messages, in the station's "
							"mailbox)", e->in->n_msgs - e->n_msgs);
		el(body, "p", NULL, more);
	}
}

static char *escalation_html(const struct escalation *e, const char *title)
{
	xmlDoc *doc;
	xmlNode *body = html_doc(&doc, title);
	bool red = e->in->why != WB_ESC_MANUAL;
	el(body, "p", red ? "font-size: 16px; font-weight: bold; color: #b00;"
			  : "font-size: 16px; font-weight: bold;", e->headline);
	facts_html(body, e->facts);
	xmlNode *todo = el(body, "p", "border-left: 3px solid #b00; padding: 6px 12px;", NULL);
	el(todo, "b", NULL, "What to do: ");
	xmlNodeAddContent(todo, (const xmlChar *)why_of(e->in->why)->todo);
	messages_html(body, e);
	if (e->media->len) {
		el(body, "h3", "font-size: 15px; margin: 16px 0 6px;", "Media");
		xmlNode *ul = el(body, "ul", NULL, NULL);
		for (guint i = 0; i < e->media->len; i++) {
			g_autofree char *line = media_line(e->media->pdata[i], e->in);
			el(ul, "li", NULL, line);
		}
	}
	if (e->unreadable->len) {
		el(body, "p", "color: #b00;", "Not readable:");
		el(body, "pre", "white-space: pre-wrap;", e->unreadable->str);
	}
	el(body, "p", "color: #777; font-size: 12px; margin-top: 16px;", FOOTER);
	return html_finish(doc);
}

static void escalation_headers(GMimeMessage *mail, const struct wb_escalation_in *in,
			       const char *summary)
{
	GMimeObject *o = GMIME_OBJECT(mail);
	g_autofree char *ref = wb_clean_line(in->ref, 64);
	wb_mail_set_subject(mail, ref, summary);
	if (msgid_ok(in->thread_id)) {
		g_autofree char *thread = g_strdup_printf("<%s>", in->thread_id);
		g_mime_object_set_header(o, "In-Reply-To", thread, NULL);
		g_mime_object_set_header(o, "References", thread, NULL);
	}
	wb_mail_add_header(o, "X-Complaint-Ref", ref);
	wb_mail_add_header(o, "X-Wabridge-Escalation", wb_escalation_why_name(in->why));
	if (in->why == WB_ESC_SERIOUS) {
		g_mime_object_set_header(o, "Importance", "high", NULL);
		g_mime_object_set_header(o, "X-Priority", "1", NULL);
	}
}

/* The media parts, in time order, for those that fit the budget. */
static GPtrArray *media_parts(GPtrArray *media)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func(g_object_unref);
	for (guint i = 0; i < media->len; i++) {
		const struct media *m = media->pdata[i];
		if (m->attached)
			g_ptr_array_add(parts, wb_mail_media_part(&m->a, NULL));
	}
	return parts;
}

GBytes *wb_render_escalation(const struct wb_escalation_in *in, GError **error)
{
	if (!check_common(in->station, in->from, in->message_id, in->to, error))
		return NULL;
	if (!in->ref || !*in->ref || (in->n_msgs && !in->msgs)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the escalation cannot be written: no complaint reference or messages");
		return NULL;
	}
	struct escalation e = { .in = in, .headline = g_strdup(why_of(in->why)->headline),
				.facts = escalation_facts(in), .unreadable = g_string_new(NULL) };
	e.msgs = shown_messages(in, &e.n_msgs);
	e.media = collect_media(in, e.unreadable);
	plan_budget(e.media, in->media_budget);
	g_autofree char *summary = escalation_summary(in);
	g_autofree char *ref = wb_clean_line(in->ref, 64);
	g_autofree char *title = g_strdup_printf("[%s] %s", ref, summary);
	g_autofree char *plain = escalation_text(&e);
	g_autofree char *html = escalation_html(&e, title);

	g_autoptr(GDateTime) date = wb_local_time(in->now, in->timezone);
	GMimeMessage *mail = new_mail(in->from, in->to, in->station, in->message_id, date);
	escalation_headers(mail, in, summary);
	g_autoptr(GPtrArray) parts = media_parts(e.media);
	GBytes *out = finish(mail, plain, html, parts);

	g_free(e.headline);
	g_array_unref(e.facts);
	shown_free(e.msgs, e.n_msgs);
	g_ptr_array_unref(e.media);
	g_string_free(e.unreadable, TRUE);
	return out;
}

/* ---- the digest ------------------------------------------------------------------------ */

/* The state's highlight, by the first word found in it (case-insensitive). */
static const struct state_style {
	const char *word;
	const char *style;
} state_styles[] = {
	{ "overdue", "background: #fdd; color: #a00; font-weight: bold;" },
	{ "escalated", "background: #fde2c8; color: #8a3b00; font-weight: bold;" },
	{ "due soon", "background: #fff3c4; color: #6b5200;" },
	{ "unacknowledged", "background: #eee; color: #333; font-weight: bold;" },
	{ "delivered", "background: #ddf5dd; color: #1a6b1a;" },
	{ "number sent", "background: #dde9fb; color: #1f4f99;" },
};

#define OVERDUE_STYLE (state_styles[0].style)

static const char *style_of(const char *state, bool overdue)
{
	g_autofree char *low = g_ascii_strdown(state, -1);
	for (size_t i = 0; i < G_N_ELEMENTS(state_styles); i++)
		if (strstr(low, state_styles[i].word))
			return state_styles[i].style;
	return overdue ? OVERDUE_STYLE : "";
}

struct drow {
	char *ref, *who, *summary, *state, *number, *opened, *age, *due;
	bool serious, overdue;
};

static void drow_fill(struct drow *d, const struct wb_digest_row *r, const struct wb_digest_in *in)
{
	d->ref = wb_clean_line(r->ref, 64);
	d->who = citizen_text(r->profile_name, r->citizen, 60);
	d->summary = wb_clean_line(r->summary, WB_DM_SUMMARY_CHARS);
	d->state = wb_clean_line(r->state, WB_DM_LINE_CHARS);
	d->number = r->number ? wb_clean_line(r->number, WB_DM_LINE_CHARS) : NULL;
	if (d->number && !*d->number)
		g_clear_pointer(&d->number, g_free);
	d->opened = short_time(r->opened_at, in->timezone);
	d->age = span_short(MAX(in->now - r->opened_at, 0));
	d->serious = r->serious;
	d->overdue = !d->number && r->deadline > 0 && in->now >= r->deadline;
	g_autofree char *span = span_short(in->now - r->deadline);
	d->due = d->number || r->deadline <= 0 ? g_strdup("-")
		: d->overdue ? g_strdup_printf("%s ago", span) : g_strdup_printf("in %s", span);
}

static void drow_clear(struct drow *d)
{
	g_free(d->ref);
	g_free(d->who);
	g_free(d->summary);
	g_free(d->state);
	g_free(d->number);
	g_free(d->opened);
	g_free(d->age);
	g_free(d->due);
}

struct digest {
	const struct wb_digest_in *in;
	struct drow *rows;
	size_t n, overdue, serious;
	char *station, *day;
};

static char *digest_subject(const struct digest *d)
{
	size_t total = d->in->n_rows;
	if (total == 0)
		return g_strdup_printf("%s: no open complaints — digest for %s", d->station, d->day);
	g_autofree char *over = d->overdue ? g_strdup_printf("%zu overdue", d->overdue)
					   : g_strdup("none overdue");
	return g_strdup_printf("%s: %zu open complaint%s, %s — digest for %s", d->station, total,
			       total == 1 ? "" : "s", over, d->day);
}

/* Column widths of the plain table: every padded field is ASCII we made (references come
 * from station codes, times and spans from numbers), so characters are columns. */
struct widths {
	size_t n, ref, opened, age, due;
};

static size_t width(const char *s, size_t least)
{
	return MAX(least, (size_t)g_utf8_strlen(s, -1));
}

static struct widths widths_of(const struct digest *d)
{
	char n[32];
	snprintf(n, sizeof n, "%zu", d->n);
	struct widths w = { strlen(n), strlen("Reference"), strlen("Opened"), strlen("Age"),
			    strlen("Number due") };
	for (size_t i = 0; i < d->n; i++) {
		w.ref = width(d->rows[i].ref, w.ref);
		w.opened = width(d->rows[i].opened, w.opened);
		w.age = width(d->rows[i].age, w.age);
		w.due = width(d->rows[i].due, w.due);
	}
	return w;
}

/* Pad a column to its width, then two spaces. */
static void column(GString *out, const char *s, size_t w)
{
	g_string_append(out, s);
	for (size_t n = (size_t)g_utf8_strlen(s, -1); n < w; n++)
		g_string_append_c(out, ' ');
	g_string_append(out, "  ");
}

/* One block per complaint: an aligned line of ASCII fields ending with the state (free
 * text, so last), then the citizen, the summary and the number on lines of their own. */
static void digest_text_rows(GString *out, const struct digest *d)
{
	struct widths w = widths_of(d);
	column(out, "#", w.n);
	column(out, "Reference", w.ref);
	column(out, "Opened", w.opened);
	column(out, "Age", w.age);
	column(out, "Number due", w.due);
	g_string_append(out, "State\n");
	g_autofree char *indent = g_strnfill(w.n + 2, ' ');
	for (size_t i = 0; i < d->n; i++) {
		const struct drow *r = &d->rows[i];
		char n[32];
		snprintf(n, sizeof n, "%zu", i + 1);
		g_string_append_printf(out, "%*s  ", (int)w.n, n);
		column(out, r->ref, w.ref);
		column(out, r->opened, w.opened);
		column(out, r->age, w.age);
		column(out, r->due, w.due);
		g_string_append_printf(out, "%s%s\n", r->state, r->serious ? "  SERIOUS" : "");
		g_string_append_printf(out, "%s%s\n", indent, r->who);
		if (*r->summary)
			g_string_append_printf(out, "%s\u201c%s\u201d\n", indent, r->summary);
		if (r->number)
			g_string_append_printf(out, "%sComplaint number: %s\n", indent, r->number);
		g_string_append_c(out, '\n');
	}
}

static char *digest_counts(const struct digest *d)
{
	g_autoptr(GDateTime) now = wb_local_time(d->in->now, d->in->timezone);
	g_autofree char *at = now ? g_date_time_format(now, "%H:%M %Z") : g_strdup("?");
	return g_strdup_printf("%zu open, %zu overdue, %zu serious.\nOldest first; ages and "
			       "deadlines as of %s.", d->in->n_rows, d->overdue, d->serious, at);
}

static char *more_rows(const struct digest *d)
{
	return g_strdup_printf("(%zu more open complaints not listed here)", d->in->n_rows - d->n);
}

#define DIGEST_FOOTER "Written by wabridge. Each complaint's mails are in the station's\n" \
	"mailbox, threaded under its reference."

static char *digest_text(const struct digest *d, const char *title)
{
	GString *out = g_string_new(NULL);
	g_string_append_printf(out, "%s\n\n", title);
	if (d->in->n_rows == 0) {
		g_string_append_printf(out, "No open complaints at %s.\n\n%s\n", d->station,
				       DIGEST_FOOTER);
		return g_string_free(out, FALSE);
	}
	g_autofree char *counts = digest_counts(d);
	g_string_append_printf(out, "%s\n\n", counts);
	digest_text_rows(out, d);
	if (d->in->n_rows > d->n) {
		g_autofree char *more = more_rows(d);
		g_string_append_printf(out, "%s\n\n", more);
	}
	g_string_append_printf(out, "%s\n", DIGEST_FOOTER);
	return g_string_free(out, FALSE);
}

#define TH "text-align: left; padding: 4px 8px; border-bottom: 2px solid #999;"
#define TD "padding: 4px 8px; border-bottom: 1px solid #ddd; vertical-align: top;"

static void digest_html_row(xmlNode *table, const struct drow *r, size_t i)
{
	xmlNode *tr = el(table, "tr", NULL, NULL);
	g_autofree char *n = g_strdup_printf("%zu", i + 1);
	el(tr, "td", TD, n);
	el(tr, "td", TD " white-space: nowrap; font-weight: bold;", r->ref);
	g_autofree char *state_style = g_strconcat(TD " ", style_of(r->state, r->overdue), NULL);
	xmlNode *state = el(tr, "td", state_style, r->state);
	if (r->serious) {
		xmlNodeAddContent(state, (const xmlChar *)" ");
		el(state, "span", "background: #a00; color: #fff; font-weight: bold; padding: 0 4px;",
		   "SERIOUS");
	}
	el(tr, "td", TD, r->who);
	el(tr, "td", TD, r->summary);
	el(tr, "td", TD " white-space: nowrap;", r->opened);
	el(tr, "td", TD " white-space: nowrap;", r->age);
	el(tr, "td", r->overdue ? TD " white-space: nowrap; color: #a00; font-weight: bold;"
				: TD " white-space: nowrap;", r->due);
	el(tr, "td", TD, r->number ? r->number : "");
}

static char *digest_html(const struct digest *d, const char *title)
{
	xmlDoc *doc;
	xmlNode *body = html_doc(&doc, title);
	el(body, "p", "font-size: 16px; font-weight: bold;", title);
	if (d->in->n_rows == 0) {
		g_autofree char *none = g_strdup_printf("No open complaints at %s.", d->station);
		el(body, "p", NULL, none);
	} else {
		g_autofree char *counts = digest_counts(d);
		el(body, "p", "white-space: pre-wrap;", counts);
		xmlNode *table = el(body, "table", "border-collapse: collapse;", NULL);
		xmlNode *tr = el(table, "tr", NULL, NULL);
		static const char *const heads[] = { "#", "Reference", "State", "Citizen", "Summary",
						     "Opened", "Age", "Number due", "Number" };
		for (size_t i = 0; i < G_N_ELEMENTS(heads); i++)
			el(tr, "th", TH, heads[i]);
		for (size_t i = 0; i < d->n; i++)
			digest_html_row(table, &d->rows[i], i);
		if (d->in->n_rows > d->n) {
			g_autofree char *more = more_rows(d);
			el(body, "p", NULL, more);
		}
	}
	el(body, "p", "color: #777; font-size: 12px; margin-top: 16px;", DIGEST_FOOTER);
	return html_finish(doc);
}

GBytes *wb_render_digest(const struct wb_digest_in *in, GError **error)
{
	if (!check_common(in->station, in->from, in->message_id, in->to, error))
		return NULL;
	if (in->n_rows && !in->rows) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the digest cannot be written: rows are missing");
		return NULL;
	}
	struct digest d = { .in = in, .n = MIN(in->n_rows, (size_t)WB_DM_MAX_ROWS) };
	d.rows = g_new0(struct drow, d.n + 1);
	for (size_t i = 0; i < d.n; i++) {
		drow_fill(&d.rows[i], &in->rows[i], in);
		d.overdue += d.rows[i].overdue;
		d.serious += d.rows[i].serious;
	}
	d.station = wb_clean_line(in->station->name, 200);
	d.day = day_text(in->now, in->timezone);
	g_autofree char *subject = digest_subject(&d);
	g_autofree char *plain = digest_text(&d, subject);
	g_autofree char *html = digest_html(&d, subject);

	g_autoptr(GDateTime) date = wb_local_time(in->now, in->timezone);
	GMimeMessage *mail = new_mail(in->from, in->to, in->station, in->message_id, date);
	wb_mail_set_subject(mail, NULL, subject);
	g_autofree char *day = date ? g_date_time_format(date, "%Y-%m-%d") : g_strdup("unknown");
	wb_mail_add_header(GMIME_OBJECT(mail), "X-Wabridge-Digest", day);
	GBytes *out = finish(mail, plain, html, NULL);

	for (size_t i = 0; i < d.n; i++)
		drow_clear(&d.rows[i]);
	g_free(d.rows);
	g_free(d.station);
	g_free(d.day);
	return out;
}
