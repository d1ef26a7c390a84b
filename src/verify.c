/* verify: bridge mail against the custody journal and the store (see verify.h). */
#include "verify.h"
#include "anchor.h"
#include "journal.h"
#include "maildigest.h"
#include "mailsource.h"
#include "util.h"

#include <jansson.h>
#include <string.h>
#include <sysexits.h>

struct run {
	const struct wb_config *cfg;
	struct wb_store *store;
	const char *station;  /* NULL: any */
	bool verbose;
	FILE *out;
	GHashTable *seen;     /* Message-IDs found */
	unsigned read, intact, refiled, altered, unknown, missing, anchors, anchors_bad;
	GError *fatal;        /* the store failed */
};

static char *shown(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
	return wb_escape_controls(valid, false);
}

/* ---- the message in the stored webhook body ------------------------------------------ */

/* The message object with id wamid in a webhook body (entry[].changes[].value.messages[]). */
static json_t *message_in(json_t *body, const char *wamid)
{
	size_t i, j, k;
	json_t *e, *c, *m;
	json_array_foreach(json_object_get(body, "entry"), i, e) {
		json_array_foreach(json_object_get(e, "changes"), j, c) {
			json_t *msgs = json_object_get(json_object_get(c, "value"), "messages");
			json_array_foreach(msgs, k, m) {
				const char *id = json_string_value(json_object_get(m, "id"));
				if (id && strcmp(id, wamid) == 0)
					return m;
			}
		}
	}
	return NULL;
}

/* Both sides in one form, so that only a change of content counts. */
static char *json_form(json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15) |
				JSON_ENCODE_ANY);
	char *out = g_strdup(t);
	free(t);
	return out;
}

/* The decoded bytes of the first part named name, NULL if none. */
static GBytes *part_named(GMimeMessage *msg, const struct wb_maildigest *now, const char *name)
{
	for (guint i = 0; i < now->parts->len; i++) {
		const struct wb_mailpart *p = now->parts->pdata[i];
		if (g_strcmp0(p->name, name) == 0)
			return wb_mail_part_bytes(msg, p->path);
	}
	return NULL;
}

/* X-Payload-SHA256 and whatsapp-message.json against the stored webhook body. */
static bool check_payload(struct run *r, const struct wb_delivery *d,
			  const struct wb_maildigest *now, GMimeMessage *msg, GPtrArray *diffs)
{
	const char *claimed = wb_maildigest_header(now, "X-Payload-SHA256");
	if (!claimed) {
		g_ptr_array_add(diffs, g_strdup("it has no X-Payload-SHA256 header"));
		return true;
	}
	g_autofree char *claimed_shown = shown(claimed);
	GError *e = NULL;
	int64_t journal_id = 0;
	g_autoptr(GBytes) body = wb_store_body_by_sha(r->store, claimed, &journal_id, &e);
	if (e) {
		g_propagate_error(&r->fatal, e);
		return false;
	}
	if (!body) {
		g_ptr_array_add(diffs, g_strdup_printf("X-Payload-SHA256 %s names a webhook body "
						       "the bridge never received", claimed_shown));
		return true;
	}
	gsize len;
	const char *data = g_bytes_get_data(body, &len);
	g_autofree char *sha = wb_sha256_hex(data, len);
	if (strcmp(sha, claimed) != 0)
		g_ptr_array_add(diffs, g_strdup_printf("the stored webhook body %s has changed: "
						       "it now hashes to %s", claimed_shown, sha));
	if (!journal_id)
		g_ptr_array_add(diffs, g_strdup_printf("the custody journal has no entry for the "
						       "webhook body %s", claimed_shown));
	if (d && d->payload_sha256 && strcmp(d->payload_sha256, claimed) != 0)
		g_ptr_array_add(diffs, g_strdup_printf("X-Payload-SHA256 is %s, but the message "
						       "came in the webhook body %s",
						       claimed_shown, d->payload_sha256));
	const char *wamid_h = wb_maildigest_header(now, "X-WhatsApp-Message-Id");
	const char *wamid = d && d->wamid ? d->wamid : wamid_h;
	g_autoptr(GBytes) part = part_named(msg, now, "whatsapp-message.json");
	if (!part) {
		g_ptr_array_add(diffs, g_strdup("its whatsapp-message.json part is gone"));
		return true;
	}
	json_t *b = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
	json_t *in_body = wamid ? message_in(b, wamid) : NULL;
	gsize plen;
	const char *pdata = g_bytes_get_data(part, &plen);
	json_t *p = json_loadb(pdata, plen, JSON_ALLOW_NUL, NULL);
	if (!in_body) {
		g_autofree char *w = shown(wamid ? wamid : "(none)");
		g_ptr_array_add(diffs, g_strdup_printf("the webhook body %s holds no message %s",
						       claimed_shown, w));
	} else if (!p) {
		g_ptr_array_add(diffs, g_strdup("its whatsapp-message.json is not JSON any more"));
	} else {
		g_autofree char *x = json_form(in_body), *y = json_form(p);
		if (strcmp(x, y) != 0)
			g_ptr_array_add(diffs, g_strdup("its whatsapp-message.json is not the "
							"message in the stored webhook body"));
	}
	json_decref(p);
	json_decref(b);
	return true;
}

/* Each medium against its own Content-Description and the hash recorded at fetch time. */
static void check_media(const struct wb_delivery *d, const struct wb_maildigest *now,
			GPtrArray *diffs)
{
	for (guint i = 0; i < now->parts->len; i++) {
		const struct wb_mailpart *p = now->parts->pdata[i];
		char said[65];
		if (!wb_mailpart_claimed_sha256(p, said))
			continue;
		g_autofree char *name = shown(p->name ? p->name : p->type);
		if (g_ascii_strcasecmp(said, p->sha256) != 0)
			g_ptr_array_add(diffs, g_strdup_printf("part %s (%s): its bytes hash to %s, "
							       "its Content-Description says %s",
							       p->path, name, p->sha256, said));
		if (d && d->media_sha256 && g_ascii_strcasecmp(d->media_sha256, p->sha256) != 0)
			g_ptr_array_add(diffs, g_strdup_printf("part %s (%s): its bytes hash to %s, "
							       "the medium fetched had %s", p->path,
							       name, p->sha256, d->media_sha256));
	}
}

/* The delivery record against its journal entry: an edited row no longer fits. */
static void check_record(const struct wb_delivery *d, GPtrArray *diffs)
{
	if (!d->journal_subject) {
		g_ptr_array_add(diffs, g_strdup_printf("its journal entry %" G_GINT64_FORMAT
						       " is gone", (gint64)d->journal_id));
		return;
	}
	g_autofree char *want_mail = g_strdup_printf("mail sha256 %s ", d->sha256);
	g_autofree char *digest_sha = wb_sha256_hex(d->digest, strlen(d->digest));
	g_autofree char *want_digest = g_strdup_printf("digest sha256 %s,", digest_sha);
	if (strcmp(d->journal_subject, d->message_id) != 0 ||
	    !strstr(d->journal_detail, want_mail) || !strstr(d->journal_detail, want_digest))
		g_ptr_array_add(diffs, g_strdup_printf("the store's record of its delivery no "
						       "longer fits journal entry %" G_GINT64_FORMAT
						       " (the database was changed)",
						       (gint64)d->journal_id));
}

/* The delivery this mail is checked against: the station's when one is named, else the
 * one whose bytes it has, else the latest. */
static const struct wb_delivery *pick(const struct run *r, GPtrArray *ds, const char *sha)
{
	const struct wb_delivery *best = NULL;
	for (guint i = 0; i < ds->len; i++) {
		const struct wb_delivery *d = ds->pdata[i];
		if (r->station && strcmp(d->station, r->station) != 0)
			continue;
		if (!best || strcmp(d->sha256, sha) == 0)
			best = d;
		if (strcmp(d->sha256, sha) == 0)
			break;
	}
	return best ? best : ds->len ? ds->pdata[ds->len - 1] : NULL;
}

static void say(struct run *r, const char *verdict, const char *where, const char *mid,
		const char *ref, GPtrArray *items)
{
	g_autofree char *w = shown(where);
	g_autofree char *m = mid ? shown(mid) : NULL;
	g_autofree char *f = ref ? shown(ref) : NULL;
	GString *line = g_string_new(NULL);
	g_string_printf(line, "%s: %s", verdict, w);
	if (m)
		g_string_append_printf(line, ": <%s>", m);
	if (f)
		g_string_append_printf(line, " [%s]", f);
	for (guint i = 0; items && i < items->len; i++)
		g_string_append_printf(line, "%s%s", i ? "; " : ": ",
				       (const char *)items->pdata[i]);
	fprintf(r->out, "%s\n", line->str);
	g_string_free(line, TRUE);
}

static bool bridge_like(const struct run *r, const struct wb_maildigest *d, const char *mid)
{
	return wb_maildigest_header(d, "X-Complaint-Ref") ||
	       wb_maildigest_header(d, "X-Payload-SHA256") ||
	       wb_maildigest_header(d, "X-WhatsApp-Message-Id") ||
	       (mid && r->cfg->domain && g_str_has_suffix(mid, r->cfg->domain) &&
		strchr(mid, '@') && strcmp(strrchr(mid, '@') + 1, r->cfg->domain) == 0);
}

static bool check_anchor(struct run *r, const char *where, GMimeMessage *msg, int *is)
{
	g_autoptr(GString) why = g_string_new(NULL);
	GError *e = NULL;
	*is = wb_anchor_check(r->store, msg, why, &e);
	if (*is == -2) {
		g_propagate_error(&r->fatal, e);
		return false;
	}
	if (*is < 0)
		return true;
	r->anchors++;
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	if (*is == 0) {
		r->anchors_bad++;
		g_ptr_array_add(items, g_strdup(why->str));
		say(r, "altered", where, "journal anchor", NULL, items);
	} else if (r->verbose) {
		say(r, "intact", where, "journal anchor", NULL, NULL);
	}
	return true;
}

static bool one_mail(const char *where, GBytes *mail, bool truncated, const char *skipped,
		     void *data, GError **error)
{
	(void)error;
	struct run *r = data;
	r->read++;
	if (!mail) {
		r->unknown++;
		g_autoptr(GPtrArray) why = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(why, g_strdup_printf("not read as a mail: %s", skipped));
		say(r, "unknown", where, NULL, NULL, why);
		return true;
	}
	gsize len;
	const char *bytes = g_bytes_get_data(mail, &len);
	g_autoptr(GError) perr = NULL;
	GMimeMessage *msg = NULL;
	g_autoptr(wb_maildigest) now = len ? wb_maildigest_of(bytes, len, &msg, &perr) : NULL;
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	if (!now || now->headers->len == 0) {
		r->unknown++;
		g_ptr_array_add(items, g_strdup(truncated ? "not a mail (the file ends inside it)"
							  : "not a mail"));
		say(r, "unknown", where, NULL, NULL, items);
		if (msg)
			g_object_unref(msg);
		return true;
	}
	int anchor = -1;
	if (!check_anchor(r, where, msg, &anchor)) {
		g_object_unref(msg);
		return false;
	}
	if (anchor >= 0) {
		g_object_unref(msg);
		return true;
	}
	g_autofree char *mid = wb_maildigest_message_id(now);
	const char *ref = wb_maildigest_header(now, "X-Complaint-Ref");
	GError *e = NULL;
	g_autoptr(GPtrArray) ds = mid ? wb_store_deliveries_of(r->store, mid, &e)
				      : g_ptr_array_new_with_free_func(wb_delivery_free);
	if (!ds) {
		g_propagate_error(&r->fatal, e);
		g_object_unref(msg);
		return false;
	}
	if (mid)
		g_hash_table_add(r->seen, g_strdup(mid));
	const struct wb_delivery *d = pick(r, ds, now->sha256);
	if (!d) {
		r->unknown++;
		if (bridge_like(r, now, mid))
			g_ptr_array_add(items, g_strdup("it looks like the bridge's mail, but the "
							"journal records no delivery of it"));
		else
			g_ptr_array_add(items, g_strdup("not the bridge's mail"));
		if (truncated)
			g_ptr_array_add(items, g_strdup("the file ends inside it"));
		say(r, "unknown", where, mid, ref, items);
		g_object_unref(msg);
		return true;
	}
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	if (truncated)
		g_ptr_array_add(items, g_strdup("the file ends inside it: it is cut short"));
	check_record(d, items);
	bool same = strcmp(now->sha256, d->sha256) == 0;
	if (!same) {
		g_autoptr(GError) je = NULL;
		g_autoptr(wb_maildigest) was = wb_maildigest_from_json(d->digest, &je);
		if (was)
			wb_maildigest_compare(was, now, items, notes);
		else
			g_ptr_array_add(items, g_strdup_printf("its bytes hash to %s, delivered were "
							       "%s", now->sha256, d->sha256));
	}
	check_media(d, now, items);
	if (d->msg && !check_payload(r, d, now, msg, items)) {
		g_object_unref(msg);
		return false;
	}
	g_object_unref(msg);
	const char *shown_ref = ref ? ref : d->ref;
	if (items->len) {
		r->altered++;
		say(r, "altered", where, mid, shown_ref, items);
	} else if (!same) {
		r->intact++;
		r->refiled++;
		if (r->verbose) {
			g_ptr_array_add(notes, g_strdup("content as delivered; filed by mail "
							"software"));
			say(r, "intact", where, mid, shown_ref, notes);
		}
	} else {
		r->intact++;
		if (r->verbose)
			say(r, "intact", where, mid, shown_ref, NULL);
	}
	return true;
}

/* Delivered to the station, per the journal, and not among the mails read. */
static bool report_missing(struct run *r)
{
	GError *e = NULL;
	g_autoptr(GPtrArray) ds = wb_store_deliveries(r->store, r->station, NULL, 0, G_MAXINT64,
						      &e);
	if (!ds) {
		g_propagate_error(&r->fatal, e);
		return false;
	}
	for (guint i = 0; i < ds->len; i++) {
		const struct wb_delivery *d = ds->pdata[i];
		if (g_hash_table_contains(r->seen, d->message_id))
			continue;
		r->missing++;
		g_autofree char *when = wb_when_text(d->at, r->cfg->timezone);
		g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
		g_autofree char *loc = shown(d->location ? d->location : "-");
		g_ptr_array_add(items, g_strdup_printf("delivered %s (%s, journal entry %"
						       G_GINT64_FORMAT ") to %s, not in the "
						       "mailbox", when, d->what,
						       (gint64)d->journal_id, loc));
		say(r, "missing", r->station, d->message_id, d->ref, items);
	}
	return true;
}

int wb_verify(const struct wb_config *cfg, struct wb_store *store, const char *station,
	      char *const *paths, bool verbose, FILE *out)
{
	struct run r = { .cfg = cfg, .store = store, .station = station, .verbose = verbose,
			 .out = out };
	const struct wb_station *st = NULL;
	if (station && !(st = wb_config_station_stored(cfg, station))) {
		g_autofree char *s = shown(station);
		fprintf(stderr, "wabridge: verify: no station '%s' in the configuration "
			"(wabridge status lists them)\n", s);
		return EX_NOINPUT;
	}
	r.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GError *e = NULL;
	bool ok = true;
	int rc = EX_OK;
	if (paths && paths[0]) {
		for (size_t i = 0; ok && paths[i]; i++)
			ok = wb_mailsource_path(paths[i], one_mail, &r, &e);
	} else if (st) {
		ok = wb_mailsource_station(cfg, st, one_mail, &r, &e);
	}
	if (!ok && r.fatal) {
		g_clear_error(&e);
		e = g_steal_pointer(&r.fatal);
	}
	if (ok && station)
		ok = report_missing(&r);
	if (!ok && !e && r.fatal)
		e = g_steal_pointer(&r.fatal);
	if (!ok) {
		rc = e && e->domain == WB_MAILSOURCE_ERROR && e->code == WB_MAILSOURCE_NO_INPUT
			? EX_NOINPUT : EX_TEMPFAIL;
		g_autofree char *m = shown(e ? e->message : "failed");
		fprintf(stderr, "wabridge: verify: %s\n", m);
		g_clear_error(&e);
	}
	fprintf(out, "%u mail%s read: %u intact", r.read, r.read == 1 ? "" : "s", r.intact);
	if (r.refiled)
		fprintf(out, " (%u of them re-filed by mail software, content unchanged)",
			r.refiled);
	fprintf(out, ", %u altered, %u unknown", r.altered, r.unknown);
	if (station)
		fprintf(out, "; %u missing", r.missing);
	if (r.anchors)
		fprintf(out, "; %u journal anchor%s, %u not fitting the journal", r.anchors,
			r.anchors == 1 ? "" : "s", r.anchors_bad);
	fprintf(out, "%s\n", ok ? "" : " (stopped early)");
	g_hash_table_destroy(r.seen);
	if (rc != EX_OK)
		return rc;
	return r.altered || r.unknown || r.missing || r.anchors_bad ? WB_VERIFY_PROBLEMS : EX_OK;
}
