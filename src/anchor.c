/* anchor: the journal's head mailed to the archive mailbox (anchor.h).
 *
 * Design rationale:
 * - No table of its own: the anchors are entries of the journal (kind anchor), so the
 *   record that an anchor was written is itself chained, and "was today's written?" is
 *   the time of the last anchor entry against today's anchor_hour.
 * - The archive is a station to the delivery back ends (cfg->archive, filled by
 *   config.c), so IMAP and Maildir work exactly as for the stations' mail, TLS rules and
 *   all; the anchor is one APPEND or one Maildir file.
 * - Mail first, entry second: the entry says where the mail went, so it can only be
 *   written after. A crash in between costs at most a mail without an entry, found again
 *   by its Message-ID (derived from the head, never from a counter) on the next try.
 * - The daily anchor's entry is added under the write lock only when no anchor entry was
 *   written since today's anchor_hour (wb_store_journal_anchor), so `serve` and a `run`
 *   racing each other journal one between them.
 * - A failed daily anchor is tried again after ANCHOR_RETRY_S, remembered in the process
 *   (serve passes often; a mail server that is down is not asked at every pass); `run`
 *   tries at each run. status shows it missing from the journal alone. */
#include "anchor.h"
#include "caps.h"
#include "deliver.h"
#include "journal.h"
#include "render.h"
#include "util.h"

#include <string.h>

#define ANCHOR_RETRY_S 600
#define NEVER G_MAXINT64

G_LOCK_DEFINE_STATIC(retry);
static gint64 retry_at; /* a failed daily anchor is not tried again before this */

bool wb_anchor_configured(const struct wb_config *cfg)
{
	return cfg->archive_deliver != NULL && cfg->archive_deliver[0] != '\0';
}

char *wb_anchor_message_id(int64_t entry, const char *head, const char *domain)
{
	return g_strdup_printf("anchor-%" G_GINT64_FORMAT "-%.12s@%s", (gint64)entry, head,
			       domain);
}

void wb_anchor_result_clear(struct wb_anchor_result *r)
{
	g_clear_pointer(&r->message_id, g_free);
	g_clear_pointer(&r->location, g_free);
}

/* 64 lowercase hex digits. */
static bool is_hash(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 64 && s[n] == '\0';
}

static char *utc_text(gint64 t)
{
	return wb_local_text(t, "UTC", "%Y-%m-%d %H:%M:%SZ");
}

/* ---- the mail ----------------------------------------------------------------------- */

static char *anchor_body(const struct wb_anchor_in *in, const char *folder)
{
	GString *b = g_string_new(NULL);
	g_autofree char *written = utc_text(in->now);
	g_autofree char *written_local = wb_when_text(in->now, in->timezone);
	g_string_append_printf(b,
		"This mail is an anchor of the custody journal of wabridge, the bridge\n"
		"between WhatsApp and the police stations' mailboxes\n"
		"(%s). The bridge wrote it by itself; nobody needs to answer it.\n"
		"Keep it as it is: do not edit, move or delete it.\n\n", in->domain);
	g_string_append_printf(b, "  Journal head:    %s\n", in->head);
	if (in->entry > 0) {
		g_autofree char *at = utc_text(in->entry_at);
		g_autofree char *at_local = wb_when_text(in->entry_at, in->timezone);
		g_string_append_printf(b, "  Anchored entry:  %" G_GINT64_FORMAT " (the journal's "
				       "last; it held %" G_GINT64_FORMAT " entr%s)\n",
				       (gint64)in->entry, (gint64)in->entries,
				       in->entries == 1 ? "y" : "ies");
		g_string_append_printf(b, "  Entry written:   %s (%s)\n", at, at_local);
	} else {
		g_string_append(b, "  Anchored entry:  0 (the journal was empty: the head is the\n"
				   "                   genesis hash, 64 zeros)\n");
	}
	g_string_append_printf(b, "  Anchor written:  %s (%s)\n", written, written_local);
	if (in->bad_id)
		g_string_append_printf(b, "  Chain then:      BROKEN at entry %" G_GINT64_FORMAT
				       " (wabridge journal verify says why)\n", (gint64)in->bad_id);
	else
		g_string_append_printf(b, "  Chain then:      intact, %" G_GINT64_FORMAT " entr%s "
				       "checked\n", (gint64)in->checked,
				       in->checked == 1 ? "y" : "ies");
	g_string_append(b,
		"\nWhat it is: the custody journal is a hash chain in the bridge's database.\n"
		"Each entry's hash covers its contents and the hash of the entry before it,\n"
		"so the head above stands for every entry up to the anchored one. This mail\n"
		"keeps a copy of it outside the bridge's database, where the bridge's own\n"
		"administrators should not be able to change it.\n\n"
		"How to check it:\n"
		"  - On the bridge host, `wabridge journal verify` must say \"intact\".\n");
	g_string_append_printf(b,
		"  - `wabridge verify` on this folder compares every anchor mail in it with\n"
		"    the journal: entry %" G_GINT64_FORMAT " must still hash to the head above.\n"
		"    The folder: %s\n\n", (gint64)in->entry, folder);
	g_string_append_printf(b,
		"Every later entry of the journal must chain from this hash: entry %" G_GINT64_FORMAT
		"\nnames it as its prev, and `journal verify` follows the chain from there to\n"
		"the head. If entry %" G_GINT64_FORMAT " no longer hashes to it, the journal was "
		"rewritten\nafter this mail was written.\n", (gint64)in->entry + 1, (gint64)in->entry);
	return g_string_free(b, FALSE);
}

GBytes *wb_anchor_mail(const struct wb_anchor_in *in, GError **error)
{
	const char *bad = !in->domain || !*in->domain ? "domain"
		: !in->from || !*in->from ? "from" : !in->to || !*in->to ? "to"
		: !in->head || !is_hash(in->head) ? "head" : in->entry < 0 ? "entry" : NULL;
	g_autofree char *msgid = bad ? NULL : wb_anchor_message_id(in->entry, in->head,
								   in->domain);
	if (!bad && !wb_deliver_message_id_ok(msgid))
		bad = "domain";
	if (bad) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the anchor mail cannot be written: its %s is missing or not valid; "
			    "check [bridge] domain, [smtp] from and [archive] address", bad);
		return NULL;
	}
	GMimeMessage *mail = g_mime_message_new(FALSE);
	g_autofree char *from = wb_clean_line(in->from, WB_MAX_ADDR_CHARS);
	g_autofree char *to = wb_clean_line(in->to, WB_MAX_ADDR_CHARS);
	wb_mail_set_mailbox(mail, "From", "WhatsApp bridge", NULL, from);
	g_mime_message_add_mailbox(mail, GMIME_ADDRESS_TYPE_TO, NULL, to);
	g_mime_message_set_message_id(mail, msgid);
	g_autoptr(GDateTime) date = wb_local_time(in->now, in->timezone);
	if (date)
		g_mime_message_set_date(mail, date);
	g_autofree char *subject = g_strdup_printf("wabridge journal anchor: entry %" G_GINT64_FORMAT
						   ", head %.16s\u2026", (gint64)in->entry,
						   in->head);
	wb_mail_set_subject(mail, NULL, subject);
	GMimeObject *o = GMIME_OBJECT(mail);
	g_mime_object_set_header(o, "Auto-Submitted", "auto-generated", NULL);
	g_autofree char *entry = g_strdup_printf("%" G_GINT64_FORMAT, (gint64)in->entry);
	g_autofree char *entries = g_strdup_printf("%" G_GINT64_FORMAT, (gint64)in->entries);
	g_mime_object_set_header(o, "X-Journal-Entry", entry, NULL);
	g_mime_object_set_header(o, "X-Journal-Head", in->head, NULL);
	g_mime_object_set_header(o, "X-Journal-Entries", entries, NULL);
	g_autofree char *folder = wb_clean_line(in->folder && *in->folder ? in->folder
						: "the archive folder", 200);
	g_autofree char *body = anchor_body(in, folder);
	GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(part, body);
	g_mime_object_encode(GMIME_OBJECT(part), GMIME_ENCODING_CONSTRAINT_7BIT);
	g_mime_message_set_mime_part(mail, GMIME_OBJECT(part));
	g_object_unref(part);
	GBytes *out = wb_mail_serialize(mail);
	g_object_unref(mail);
	return out;
}

/* ---- writing one -------------------------------------------------------------------- */

/* Where the archive is, in words: the Maildir, or the IMAP server and folder. */
static char *archive_place(const struct wb_config *cfg)
{
	const struct wb_station *ar = &cfg->archive;
	if (ar->deliver == WB_DELIVER_MAILDIR)
		return wb_deliver_maildir_path(cfg, ar);
	return g_strdup_printf("%s/%s", cfg->imap_url ? cfg->imap_url : "imap:",
			       ar->folder ? ar->folder : "INBOX");
}

/* Put the mail into the archive, unless it is there already. */
static bool put(const struct wb_config *cfg, GBytes *mail, struct wb_anchor_result *out,
		GError **error)
{
	const struct wb_station *ar = &cfg->archive;
	const struct wb_deliver_ops *ops = wb_deliver_for(ar);
	struct wb_target *t = ops->open(cfg, ar, error);
	if (!t)
		return false;
	int there = ops->exists(t, out->message_id, error);
	bool ok = there >= 0;
	if (there == 1) {
		out->found = true;
		out->location = archive_place(cfg);
	} else if (there == 0) {
		gsize len;
		const char *data = g_bytes_get_data(mail, &len);
		struct wb_delivered d = { 0 };
		ok = ops->deliver(t, data, len, NULL, &d, error);
		out->location = d.location;
	}
	ops->close(t);
	return ok;
}

bool wb_anchor_write(const struct wb_config *cfg, struct wb_store *s, gint64 not_since,
		     struct wb_anchor_result *out, GError **error)
{
	memset(out, 0, sizeof *out);
	if (!wb_anchor_configured(cfg)) {
		g_set_error(error, WB_CONFIG_ERROR, 1, "[archive] deliver is not set, so the "
			    "journal has nowhere to be anchored; set it to imap (with imap_user "
			    "and imap_password_file) or maildir:/path/to/Maildir, a mailbox the "
			    "bridge's administrators cannot change (contrib/wabridge.conf.example)");
		return false;
	}
	struct wb_journal_head head;
	struct wb_journal_check jc;
	if (!wb_store_journal_head(s, &head, error) || !wb_store_journal_verify(s, &jc, error))
		return false;
	if (jc.bad_id)
		g_warning("journal anchor: the chain is BROKEN at entry %" G_GINT64_FORMAT ": %s; "
			  "the anchor records the head as it stands and says so", (gint64)jc.bad_id,
			  jc.why);
	out->entry = head.id;
	g_strlcpy(out->head, head.hash, sizeof out->head);
	out->message_id = wb_anchor_message_id(head.id, head.hash, cfg->domain);
	const struct wb_station *ar = &cfg->archive;
	struct wb_anchor_in in = {
		.domain = cfg->domain, .timezone = cfg->timezone, .from = cfg->smtp_from,
		.to = ar->address, .entry = head.id, .entry_at = head.at, .head = head.hash,
		.entries = head.count, .now = wb_now(), .folder = ar->deliver == WB_DELIVER_IMAP
		? ar->folder : ar->maildir, .checked = jc.checked, .bad_id = jc.bad_id,
	};
	g_autoptr(GBytes) mail = wb_anchor_mail(&in, error);
	wb_journal_check_clear(&jc);
	if (!mail)
		return false;
	if (!put(cfg, mail, out, error)) {
		g_autofree char *place = archive_place(cfg);
		g_prefix_error(error, "the archive mailbox (%s): ", place);
		return false;
	}
	g_autofree char *detail = g_strdup_printf("entry %" G_GINT64_FORMAT ", mail <%s> in %s%s",
						  (gint64)head.id, out->message_id, out->location
						  ? out->location : "?", out->found
						  ? " (there from an earlier attempt)" : "");
	return wb_store_journal_anchor(s, head.hash, detail, not_since, &out->journaled, error);
}

/* ---- daily -------------------------------------------------------------------------- */

bool wb_anchor_pass(const struct wb_config *cfg, struct wb_store *s, gint64 now,
		    gint64 *next, unsigned *waiting, GError **error)
{
	if (!wb_anchor_configured(cfg) || cfg->anchor_hour < 0)
		return true;
	gint64 today_at = wb_local_hour_at(now, cfg->timezone, 0, cfg->anchor_hour);
	if (today_at == NEVER)
		return true;
	if (now < today_at) {
		*next = MIN(*next, today_at);
		return true;
	}
	gint64 tomorrow_at = wb_local_hour_at(now, cfg->timezone, 1, cfg->anchor_hour);
	int64_t last_id;
	gint64 last_at;
	if (!wb_store_journal_last(s, "anchor", &last_id, &last_at, error))
		return false;
	if (last_id && last_at >= today_at) {
		*next = MIN(*next, tomorrow_at);
		return true;
	}
	G_LOCK(retry);
	gint64 not_before = retry_at;
	G_UNLOCK(retry);
	if (now < not_before) {
		(*waiting)++;
		*next = MIN(*next, not_before);
		return true;
	}
	GError *e = NULL;
	struct wb_anchor_result r;
	if (!wb_anchor_write(cfg, s, today_at, &r, &e)) {
		wb_anchor_result_clear(&r);
		if (e->domain == WB_STORE_ERROR) {
			g_propagate_error(error, e);
			return false;
		}
		g_warning("journal anchor: today's anchor could not be written: %s; tried again "
			  "in %d min", e->message, ANCHOR_RETRY_S / 60);
		g_error_free(e);
		G_LOCK(retry);
		retry_at = now + ANCHOR_RETRY_S;
		G_UNLOCK(retry);
		(*waiting)++;
		*next = MIN(*next, now + ANCHOR_RETRY_S);
		return true;
	}
	G_LOCK(retry);
	retry_at = 0;
	G_UNLOCK(retry);
	if (r.journaled)
		g_message("journal anchor: entry %" G_GINT64_FORMAT ", head %s, written to %s",
			  (gint64)r.entry, r.head, r.location ? r.location : "?");
	wb_anchor_result_clear(&r);
	*next = MIN(*next, tomorrow_at);
	return true;
}

bool wb_anchor_report(const struct wb_config *cfg, struct wb_store *s, GString *out,
		      GError **error)
{
	g_string_append(out, "Journal anchors:");
	if (!wb_anchor_configured(cfg)) {
		g_string_append(out, " off ([archive] deliver is not set)\n");
		return true;
	}
	int64_t last_id;
	gint64 last_at;
	if (!wb_store_journal_last(s, "anchor", &last_id, &last_at, error))
		return false;
	g_autofree char *place = archive_place(cfg);
	g_autofree char *shown = wb_escape_controls(place, false);
	if (cfg->anchor_hour < 0)
		g_string_append_printf(out, " on demand only (anchor_hour = -1), to %s\n", shown);
	else
		g_string_append_printf(out, " daily at %02d:00 %s, to %s\n", cfg->anchor_hour,
				       cfg->timezone, shown);
	if (last_id) {
		g_autofree char *at = wb_local_text(last_at, cfg->timezone, "%Y-%m-%d %H:%M %Z");
		g_string_append_printf(out, "  last: journal entry %" G_GINT64_FORMAT " at %s\n",
				       (gint64)last_id, at);
	} else {
		g_string_append(out, "  none written yet\n");
	}
	gint64 now = wb_now();
	gint64 today_at = cfg->anchor_hour < 0 ? NEVER
			  : wb_local_hour_at(now, cfg->timezone, 0, cfg->anchor_hour);
	if (now >= today_at && !(last_id && last_at >= today_at)) {
		g_autofree char *due = wb_local_text(today_at, cfg->timezone, "%Y-%m-%d %H:%M %Z");
		g_string_append_printf(out, "  MISSING: today's anchor was due at %s and has not "
				       "been written; the log says why, and `wabridge journal "
				       "anchor` tries now and prints the error\n", due);
	}
	return true;
}

/* ---- checking one ------------------------------------------------------------------- */

/* A header's value, trimmed; NULL when the mail has none. Newly allocated. */
static char *header(GMimeMessage *msg, const char *name)
{
	const char *v = g_mime_object_get_header(GMIME_OBJECT(msg), name);
	return v ? g_strstrip(g_strdup(v)) : NULL;
}

int wb_anchor_check(struct wb_store *s, GMimeMessage *msg, GString *why, GError **error)
{
	g_autofree char *entry_v = header(msg, "X-Journal-Entry");
	g_autofree char *head_v = header(msg, "X-Journal-Head");
	if (!entry_v || !head_v)
		return -1;
	guint64 entry = 0;
	bool digits = entry_v[0] && strspn(entry_v, "0123456789") == strlen(entry_v) &&
		      strlen(entry_v) <= 19;
	if (!digits || !g_ascii_string_to_unsigned(entry_v, 10, 0, G_MAXINT64, &entry, NULL)) {
		g_autofree char *shown = wb_clean_line(entry_v, 40);
		g_string_printf(why, "X-Journal-Entry \"%s\" is not an entry number", shown);
		return 0;
	}
	g_autofree char *head = g_ascii_strdown(head_v, -1);
	if (!is_hash(head)) {
		g_autofree char *shown = wb_clean_line(head_v, 80);
		g_string_printf(why, "X-Journal-Head \"%s\" is not a SHA-256 (64 hex digits)",
				shown);
		return 0;
	}
	if (entry == 0) {
		if (strcmp(head, WB_JOURNAL_GENESIS) == 0)
			return 1;
		g_string_printf(why, "the anchor names entry 0 (an empty journal), whose head is "
				"the genesis hash, but says %s", head);
		return 0;
	}
	g_autofree char *stored = NULL, *computed = NULL;
	int64_t max = 0;
	int found = wb_store_journal_entry(s, (int64_t)entry, &stored, &computed, &max, error);
	if (found < 0)
		return -2;
	if (found == 0) {
		g_string_printf(why, "no such entry: the journal has no entry %" G_GUINT64_FORMAT
				" (its last is %" G_GINT64_FORMAT "); entries were deleted or the "
				"journal replaced", entry, (gint64)max);
		return 0;
	}
	if (strcmp(stored, head) != 0) {
		g_autofree char *shown = wb_escape_controls(stored, false);
		g_string_printf(why, "the journal's entry %" G_GUINT64_FORMAT " now hashes to %s, "
				"the anchor says %s", entry, shown, head);
		return 0;
	}
	if (strcmp(computed, head) != 0) {
		g_string_printf(why, "the journal's entry %" G_GUINT64_FORMAT " keeps the anchored "
				"hash %s, but its contents now hash to %s: the entry was altered",
				entry, head, computed);
		return 0;
	}
	return 1;
}
