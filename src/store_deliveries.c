/* store_deliveries: every mail the bridge placed in a mailbox (table deliveries), recorded
 * and journaled in the transaction that records the delivery, and the rendered bytes let
 * go once they are in the mailbox (bounded state).
 *
 * Design rationale: the mailbox holds the mail, so after delivery the database keeps what
 * proves and explains it rather than the bytes themselves: where it went (station,
 * mailbox, UIDVALIDITY/UID), the SHA-256 of its canonical bytes, and its digest
 * (maildigest.h: each header and each part hashed). The journal entry "delivered" names
 * the mail's hash and the digest's hash, so a record edited in the table no longer
 * fits the chain. A retry still has its bytes: they are cleared only in the transaction
 * that records the delivery. The webhook bodies stay: they are the evidence, and small. */
#include "journal.h"
#include "maildigest.h"
#include "store.h"
#include "store-priv.h"
#include "util.h"

#include <gio/gio.h>
#include <string.h>

/* A digest is kept deflated (zlib's raw format, through GIO): JSON of a mail's headers
 * and parts halves, and a row of the deliveries table then shares its page with others
 * instead of taking one of its own. Its journaled hash is of the JSON text. */
static GBytes *squeezed(struct wb_store *s, const char *text)
{
	/* zlib's state is a few hundred kB, allocated and cleared: made once per store
	 * (reset per digest costs a fraction of making it anew). */
	if (!s->squeezer)
		s->squeezer = G_OBJECT(g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_RAW, 6));
	GConverter *c = G_CONVERTER(s->squeezer);
	g_converter_reset(c);
	GByteArray *out = g_byte_array_new();
	const char *p = text;
	gsize left = strlen(text);
	guint8 buf[16384];
	GConverterResult r = G_CONVERTER_CONVERTED;
	while (r == G_CONVERTER_CONVERTED) {
		gsize read = 0, written = 0;
		r = g_converter_convert(c, p, left, buf, sizeof buf, G_CONVERTER_INPUT_AT_END,
					&read, &written, NULL);
		p += read;
		left -= read;
		g_byte_array_append(out, buf, (guint)written);
	}
	/* Deflating text in memory cannot fail short of memory, which aborts anyway. */
	g_assert(r == G_CONVERTER_FINISHED);
	return g_byte_array_free_to_bytes(out);
}

static char *inflated(db_stmt *st, int col)
{
	if (db_col_type(st, col) != DB_BLOB)
		return sq_col_text(st, col);
	gsize n = (gsize)db_col_bytes(st, col);
	g_autoptr(GConverter) c = G_CONVERTER(g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_RAW));
	GByteArray *out = g_byte_array_new();
	const guint8 *p = db_col_blob(st, col);
	guint8 buf[16384];
	GConverterResult r = G_CONVERTER_CONVERTED;
	while (r == G_CONVERTER_CONVERTED && out->len <= (16u << 20)) {
		gsize read = 0, written = 0;
		r = g_converter_convert(c, p, n, buf, sizeof buf, G_CONVERTER_INPUT_AT_END, &read,
					&written, NULL);
		p += read;
		n -= read;
		g_byte_array_append(out, buf, (guint)written);
	}
	if (r != G_CONVERTER_FINISHED) {
		g_byte_array_unref(out);
		return g_strdup(""); /* not a digest: verify says the record does not fit */
	}
	g_byte_array_append(out, (const guint8 *)"", 1);
	return (char *)g_byte_array_free(out, FALSE);
}

static void mime_ready(void)
{
	static gsize once;
	if (g_once_init_enter(&once)) {
		g_mime_init();
		g_once_init_leave(&once, 1);
	}
}

/* Record one mail placed in station's mailbox, inside the caller's transaction. */
bool wb_store_delivery_in_txn(struct wb_store *s, const struct wb_delivery_in *d,
			      GError **error)
{
	gsize len = 0;
	const void *mail = d->mail ? g_bytes_get_data(d->mail, &len) : NULL;
	g_autoptr(GError) perr = NULL;
	g_autoptr(wb_maildigest) dg = NULL;
	if (d->digest)
		dg = wb_maildigest_from_json(d->digest, NULL);
	if (!dg && !mail) {
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "a delivery of %s to %s came "
			    "with neither its bytes nor a digest", d->message_id ? d->message_id
			    : "a mail", d->station);
		return false;
	}
	if (!dg) {
		mime_ready();
		dg = wb_maildigest_of(mail, len, NULL, &perr);
	}
	if (!dg) {
		/* The bridge rendered it; a mail GMime cannot read at all is a bug, not a
		 * reason to lose the record of where it went. */
		dg = g_new0(struct wb_maildigest, 1);
		dg->headers = g_ptr_array_new();
		dg->parts = g_ptr_array_new();
		dg->sha256 = wb_mail_sha256(mail, len);
		dg->size = len;
	}
	/* A Message-ID the caller did not know is the mail's own. */
	g_autofree char *own_id = d->message_id ? NULL : wb_maildigest_message_id(dg);
	const char *message_id = d->message_id ? d->message_id : own_id ? own_id
				 : d->fallback_id ? d->fallback_id : "-";
	g_autofree char *json = wb_maildigest_json(dg);
	g_autofree char *json_sha = wb_sha256_hex(json, strlen(json));
	const char *ref = d->ref ? d->ref : wb_maildigest_header(dg, "X-Complaint-Ref");
	g_autofree char *detail = g_strdup_printf(
		"%s UIDVALIDITY %lld UID %lld, mail sha256 %s (%zu bytes), digest sha256 %s, "
		"mailbox of %s%s%s", d->location ? d->location : "-", (long long)d->uidvalidity,
		(long long)d->uid, dg->sha256, (size_t)dg->size, json_sha, d->station,
		d->note ? ", " : "", d->note ? d->note : "");
	if (!wb_store_journal_add(s, "delivered", ref, message_id, detail, error))
		return false;
	int64_t journal_id = s->journal_last;
	db_stmt *st = sq_prep(s, "INSERT INTO deliveries (station, message_id, ref, what, msg, "
		"location, uidvalidity, uid, size, sha256, digest, at, journal_id) VALUES (?1, ?2, "
		"?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (station, message_id) "
		"DO UPDATE SET ref = ?3, what = ?4, msg = ?5, location = ?6, uidvalidity = ?7, "
		"uid = ?8, size = ?9, sha256 = ?10, digest = ?11, at = ?12, journal_id = ?13", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, d->station);
	sq_bind_text(st, 2, message_id);
	sq_bind_text(st, 3, ref);
	sq_bind_text(st, 4, d->what);
	if (d->msg > 0)
		db_bind_int64(st, 5, d->msg);
	sq_bind_text(st, 6, d->location);
	db_bind_int64(st, 7, d->uidvalidity);
	db_bind_int64(st, 8, d->uid);
	db_bind_int64(st, 9, (int64_t)dg->size);
	sq_bind_text(st, 10, dg->sha256);
	g_autoptr(GBytes) packed = squeezed(s, json);
	db_bind_blob(st, 11, g_bytes_get_data(packed, NULL), g_bytes_get_size(packed));
	db_bind_int64(st, 12, wb_now());
	db_bind_int64(st, 13, journal_id);
	return sq_step_done(s, st, error, "recording a delivery");
}

bool wb_store_mailop_delivered(struct wb_store *s, const struct wb_mailop *op, GBytes *mail,
			       const char *location, uint32_t uidvalidity, uint32_t uid,
			       const char *note, GError **error)
{
	if (!sq_begin(s, error))
		return false;
	db_stmt *st = sq_prep(s, "UPDATE mailops SET state = 'done', last_error = NULL, "
				   "mail = NULL, claim_by = NULL, updated_at = ?2 WHERE id = ?1",
				   error);
	if (!st)
		return sq_rollback(s);
	db_bind_int64(st, 1, op->id);
	db_bind_int64(st, 2, wb_now());
	if (!sq_step_done(s, st, error, "recording mailbox work"))
		return sq_rollback(s);
	if (mail) {
		struct wb_delivery_in d = {
			.station = op->station, .message_id = op->message_id,
			.what = strcmp(op->kind, "copy") == 0 ? "copy" : "note", .mail = mail,
			.location = location, .uidvalidity = uidvalidity, .uid = uid, .note = note,
		};
		if (!wb_store_delivery_in_txn(s, &d, error))
			return sq_rollback(s);
	}
	return sq_commit(s, error);
}

/* Mails delivered before deliveries were recorded (an upgraded database) still hold
 * their bytes: record them as they are and let the bytes go, a batch at a time. */
static bool settle_old(struct wb_store *s, const char *pick, bool messages, unsigned max,
		       unsigned *done, GError **error)
{
	g_autoptr(GArray) ids = sq_ids(s, pick, "finding delivered mails", error);
	if (!ids)
		return false;
	for (guint i = 0; i < ids->len && *done < max; i++, (*done)++) {
		int64_t id = g_array_index(ids, int64_t, i);
		if (!sq_begin(s, error))
			return false;
		db_stmt *st = sq_prep(s, messages
			? "SELECT m.station, m.wamid, c.ref, m.location, m.uidvalidity, m.uid, "
			  "r.mail FROM messages m JOIN rendered r ON r.msg = m.id LEFT JOIN "
			  "complaints c ON c.id = m.complaint_id WHERE m.id = ?1"
			: "SELECT station, message_id, NULL, NULL, 0, 0, mail FROM mailops WHERE "
			  "id = ?1 AND mail IS NOT NULL", error);
		if (!st)
			return sq_rollback(s);
		db_bind_int64(st, 1, id);
		if (db_step(st) != DB_ROW) {
			db_reset(st);
			if (!sq_commit(s, error))
				return false;
			continue;
		}
		g_autofree char *station = sq_col_text(st, 0);
		g_autofree char *key = sq_col_text(st, 1);
		g_autofree char *ref = sq_col_text(st, 2);
		g_autofree char *location = sq_col_text(st, 3);
		gint64 uidvalidity = db_col_int64(st, 4), uid = db_col_int64(st, 5);
		g_autoptr(GBytes) mail = g_bytes_new(db_col_blob(st, 6),
						     (gsize)db_col_bytes(st, 6));
		db_reset(st);
		/* A message's Message-ID is read from its mail by the record itself (the
		 * wamid if it has none); a mailbox operation names its own. */
		struct wb_delivery_in d = {
			.station = station, .message_id = messages ? NULL : key,
			.fallback_id = key, .ref = ref,
			.what = messages ? "message" : "note", .msg = messages ? id : 0,
			.mail = mail, .location = location, .uidvalidity = uidvalidity, .uid = uid,
			.note = "recorded after an upgrade",
		};
		st = sq_prep(s, messages ? "DELETE FROM rendered WHERE msg = ?1"
					 : "UPDATE mailops SET mail = NULL WHERE id = ?1", error);
		if (!st)
			return sq_rollback(s);
		db_bind_int64(st, 1, id);
		if (!wb_store_delivery_in_txn(s, &d, error) ||
		    !sq_step_done(s, st, error, "letting a delivered mail's bytes go") ||
		    !sq_commit(s, error))
			return sq_rollback(s);
	}
	return true;
}

bool wb_store_settle_delivered(struct wb_store *s, unsigned max, unsigned *settled,
			       GError **error)
{
	unsigned done = 0;
	bool ok = settle_old(s, "SELECT m.id FROM messages m JOIN rendered r ON r.msg = m.id "
			     "WHERE m.state = 'delivered' ORDER BY m.id LIMIT 1000", true, max,
			     &done, error) &&
		  settle_old(s, "SELECT id FROM mailops WHERE state = 'done' AND mail IS NOT "
			     "NULL ORDER BY id LIMIT 1000", false, max, &done, error);
	if (settled)
		*settled = done;
	return ok;
}

/* ---- reading deliveries (verify, export) ------------------------------------------- */

void wb_delivery_free(gpointer p)
{
	struct wb_delivery *d = p;
	if (!d)
		return;
	g_free(d->station);
	g_free(d->message_id);
	g_free(d->ref);
	g_free(d->what);
	g_free(d->location);
	g_free(d->sha256);
	g_free(d->digest);
	g_free(d->journal_subject);
	g_free(d->journal_detail);
	g_free(d->wamid);
	g_free(d->payload_sha256);
	g_free(d->media_sha256);
	g_free(d->json);
	g_free(d);
}

#define DELIVERY_COLUMNS \
	"d.id, d.station, d.message_id, d.ref, d.what, d.location, d.uidvalidity, d.uid, " \
	"d.size, d.sha256, d.digest, d.at, d.journal_id, j.subject, j.detail, m.wamid, " \
	"b.sha256, md.sha256, m.json, coalesce(m.id, 0) FROM deliveries d " \
	"LEFT JOIN journal j ON j.id = d.journal_id LEFT JOIN messages m ON m.id = d.msg " \
	"LEFT JOIN bodies b ON b.id = m.body_id LEFT JOIN media md ON md.message_id = m.id "

static struct wb_delivery *delivery_row(db_stmt *st)
{
	struct wb_delivery *d = g_new0(struct wb_delivery, 1);
	d->id = db_col_int64(st, 0);
	d->station = sq_col_text(st, 1);
	d->message_id = sq_col_text(st, 2);
	d->ref = sq_col_text(st, 3);
	d->what = sq_col_text(st, 4);
	d->location = sq_col_text(st, 5);
	d->uidvalidity = db_col_int64(st, 6);
	d->uid = db_col_int64(st, 7);
	d->size = db_col_int64(st, 8);
	d->sha256 = sq_col_text(st, 9);
	d->digest = inflated(st, 10);
	d->at = db_col_int64(st, 11);
	d->journal_id = db_col_int64(st, 12);
	d->journal_subject = sq_col_text(st, 13);
	d->journal_detail = sq_col_text(st, 14);
	d->wamid = sq_col_text(st, 15);
	d->payload_sha256 = sq_col_text(st, 16);
	d->media_sha256 = sq_col_text(st, 17);
	d->json = sq_col_text(st, 18);
	d->msg = db_col_int64(st, 19);
	return d;
}

static GPtrArray *delivery_rows(struct wb_store *s, db_stmt *st, GError **error)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(wb_delivery_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW)
		g_ptr_array_add(out, delivery_row(st));
	db_reset(st);
	if (rc != DB_DONE) {
		g_ptr_array_unref(out);
		sq_fail(s, error, "reading deliveries");
		return NULL;
	}
	return out;
}

GPtrArray *wb_store_deliveries_of(struct wb_store *s, const char *message_id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT " DELIVERY_COLUMNS "WHERE d.message_id = ?1 "
				   "ORDER BY d.id", error);
	if (!st)
		return NULL;
	sq_bind_text(st, 1, message_id);
	return delivery_rows(s, st, error);
}

GPtrArray *wb_store_deliveries(struct wb_store *s, const char *station, const char *ref,
			       gint64 from, gint64 to, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT " DELIVERY_COLUMNS "WHERE (?1 IS NULL OR d.station "
				   "= ?1) AND (?2 IS NULL OR d.ref = ?2) AND d.at >= ?3 AND d.at < "
				   "?4 ORDER BY d.id", error);
	if (!st)
		return NULL;
	sq_bind_text(st, 1, station);
	sq_bind_text(st, 2, ref);
	db_bind_int64(st, 3, from);
	db_bind_int64(st, 4, to);
	return delivery_rows(s, st, error);
}

GBytes *wb_store_body_by_sha(struct wb_store *s, const char *sha256, int64_t *journal_id,
			     GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT b.body, (SELECT min(j.id) FROM journal j WHERE "
				   "j.kind = 'body' AND j.subject = b.sha256) FROM bodies b WHERE "
				   "b.sha256 = ?1", error);
	if (!st)
		return NULL;
	sq_bind_text(st, 1, sha256);
	int rc = db_step(st);
	GBytes *body = NULL;
	if (rc == DB_ROW) {
		body = g_bytes_new(db_col_blob(st, 0), (gsize)db_col_bytes(st, 0));
		if (journal_id)
			*journal_id = db_col_int64(st, 1);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		sq_fail(s, error, "reading a webhook body");
	return body;
}
