/* store_transfer: a complaint moving to another station ("#transfer CODE" in an officer's
 * reply), inside the reply's transaction, and the record of its transfers.
 *
 * Design rationale: after the transfer every mail of the complaint must be in the new
 * station's mailbox, and none may be lost to a delivery that was under way. A message
 * still waiting (received, rendered, retry) is moved: its station changes and it is
 * rendered again, so it goes to the new mailbox only. A message whose mail exists and
 * that is (or may be) in the old mailbox already has that mail placed in the new one as
 * a mailbox operation, under the same Message-ID, so the thread holds together. A
 * message that another live process is delivering right now keeps its station: its
 * delivery records the Message-ID (wb_change.message_id) and, seeing that the
 * complaint has moved, places the mail in the new mailbox in the same transaction. */
#include "store.h"
#include "store-priv.h"
#include "journal.h"
#include "util.h"

#include <string.h>
#include <unistd.h>

struct moved {
	int64_t id;
	char *wamid, *state;
	GBytes *mail;          /* NULL: not rendered yet */
	bool busy;             /* claimed by another live process */
};

static void moved_free(gpointer p)
{
	struct moved *m = p;
	g_free(m->wamid);
	g_free(m->state);
	if (m->mail)
		g_bytes_unref(m->mail);
	g_free(m);
}

static GPtrArray *complaint_mails(struct wb_store *s, int64_t complaint_id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT m.id, m.wamid, m.state, r.mail, m.claim_by, "
				   "m.lease_until FROM messages m LEFT JOIN rendered r ON r.msg = m.id "
				   "WHERE m.complaint_id = ?1 ORDER BY m.id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, complaint_id);
	gint64 now = wb_now();
	GPtrArray *out = g_ptr_array_new_with_free_func(moved_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct moved *m = g_new0(struct moved, 1);
		m->id = db_col_int64(st, 0);
		m->wamid = sq_col_text(st, 1);
		m->state = sq_col_text(st, 2);
		if (db_col_type(st, 3) == DB_BLOB)
			m->mail = g_bytes_new(db_col_blob(st, 3),
					      (gsize)db_col_bytes(st, 3));
		m->busy = wb_claim_held(db_col_text(st, 4), db_col_int64(st, 5), now);
		g_ptr_array_add(out, m);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		g_ptr_array_unref(out);
		sq_fail(s, error, "reading a complaint's mails");
		return NULL;
	}
	return out;
}

static bool waiting(const struct moved *m)
{
	return !m->busy && (strcmp(m->state, WB_ST_RECEIVED) == 0 ||
			    strcmp(m->state, WB_ST_RENDERED) == 0 ||
			    strcmp(m->state, WB_ST_RETRY) == 0);
}

/* A waiting message goes to the new station, to be rendered again for its mailbox. */
static bool move_message(struct wb_store *s, const struct moved *m,
			 const struct wb_transfer_in *t, GError **error)
{
	db_stmt *st = sq_prep(s, "DELETE FROM rendered WHERE msg = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, m->id);
	if (!sq_step_done(s, st, error, "letting a mail to be rendered again go"))
		return false;
	st = sq_prep(s, "UPDATE messages SET station = ?2, state = 'received', "
		     "next_at = 0, claim_by = NULL, updated_at = ?3 WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, m->id);
	sq_bind_text(st, 2, t->to_station);
	db_bind_int64(st, 3, wb_now());
	if (!sq_step_done(s, st, error, "moving a message to another station"))
		return false;
	g_autofree char *detail = g_strdup_printf("the complaint was transferred from %s to %s: "
						  "the mail goes to %s's mailbox", t->from_station,
						  t->to_station, t->to_station);
	st = sq_prep(s, "INSERT INTO events (at, message_id, old, new, detail) VALUES (?1, ?2, "
		     "?3, 'received', ?4)", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, wb_now());
	db_bind_int64(st, 2, m->id);
	sq_bind_text(st, 3, m->state);
	sq_bind_text(st, 4, detail);
	if (!sq_step_done(s, st, error, "recording an event"))
		return false;
	g_message("message %" G_GINT64_FORMAT " %s: %s → received: %s", m->id, m->wamid,
		  m->state, detail);
	return true;
}

/* The station whose mailbox got msgid last (the complaint may have moved before). */
static bool holder(struct wb_store *s, const char *msgid, const struct wb_transfer_in *t,
		   char **station, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT station FROM deliveries WHERE message_id = ?1 AND "
				   "station != ?2 ORDER BY id DESC LIMIT 1", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, msgid);
	sq_bind_text(st, 2, t->to_station);
	int rc = db_step(st);
	*station = rc == DB_ROW ? sq_col_text(st, 0) : g_strdup(t->from_station);
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding a mail's mailbox");
}

static bool move_mails(struct wb_store *s, int64_t complaint_id, const struct wb_transfer_in *t,
		       GError **error)
{
	g_autoptr(GPtrArray) mails = complaint_mails(s, complaint_id, error);
	if (!mails)
		return false;
	for (guint i = 0; i < mails->len; i++) {
		const struct moved *m = mails->pdata[i];
		if (waiting(m)) {
			if (!move_message(s, m, t, error))
				return false;
			continue;
		}
		bool delivered = strcmp(m->state, WB_ST_DELIVERED) == 0;
		if (!m->mail && !delivered)
			continue; /* being rendered right now: its delivery places it */
		g_autofree char *msgid = wb_message_id(m->wamid, t->domain);
		g_autofree char *source = NULL;
		if (!m->mail && !holder(s, msgid, t, &source, error))
			return false;
		/* Delivered mails have left the database (store_deliveries.c): copied from
		 * the mailbox that holds them. */
		struct wb_mailop_in op = { .station = t->to_station,
					   .kind = m->mail ? "append" : "copy",
					   .message_id = msgid, .mail = m->mail, .source = source };
		if (!wb_store_queue_mailops(s, &op, 1, error))
			return false;
	}
	/* A complaint split off by #new starts with the bridge's root mail: it goes along. */
	db_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO mailops (station, kind, message_id, "
				   "mail, source, created_at, updated_at) SELECT ?2, CASE WHEN "
				   "o.mail IS NULL THEN 'copy' ELSE 'append' END, o.message_id, "
				   "o.mail, o.station, ?3, ?3 FROM mailops o JOIN complaints c ON o.message_id = "
				   "c.root || '@' || ?4 WHERE c.id = ?1 AND o.kind = 'append' AND "
				   "o.station = ?5", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	sq_bind_text(st, 2, t->to_station);
	db_bind_int64(st, 3, wb_now());
	sq_bind_text(st, 4, t->domain);
	sq_bind_text(st, 5, t->from_station);
	return sq_step_done(s, st, error, "placing a split complaint's first mail");
}

bool wb_store_transfer_in_txn(struct wb_store *s, int64_t complaint_id, int64_t reply_id,
			      const struct wb_transfer_in *t, GError **error)
{
	gint64 now = wb_now();
	db_stmt *st = sq_prep(s, "UPDATE complaints SET station = ?3, duty_at = 0 WHERE id = "
				   "?1 AND station = ?2 AND state = 'open'", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	sq_bind_text(st, 2, t->from_station);
	sq_bind_text(st, 3, t->to_station);
	if (!sq_step_done(s, st, error, "transferring a complaint"))
		return false;
	if (db_changes(s->db) != 1) {
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "complaint %" G_GINT64_FORMAT
			    " is no longer open at station %s (changed meanwhile)", complaint_id,
			    t->from_station);
		return false;
	}
	st = sq_prep(s, "INSERT INTO transfers (complaint_id, from_station, to_station, reply_id, "
		     "officer, reason, at) VALUES (?1, ?2, ?3, nullif(?4, 0), ?5, ?6, ?7)", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	sq_bind_text(st, 2, t->from_station);
	sq_bind_text(st, 3, t->to_station);
	db_bind_int64(st, 4, reply_id);
	sq_bind_text(st, 5, t->officer);
	sq_bind_text(st, 6, t->reason);
	db_bind_int64(st, 7, now);
	g_autofree char *subject = g_strdup_printf("%s → %s", t->from_station, t->to_station);
	g_autofree char *jd = g_strdup_printf("by %s (reply %" G_GINT64_FORMAT "): %s",
		t->officer ? t->officer : "?", reply_id, t->reason ? t->reason : "-");
	if (!sq_step_done(s, st, error, "recording a transfer") ||
	    !wb_journal_add_by(s, WB_REF_OF_COMPLAINT, complaint_id, "transfer", subject, jd,
			       error) ||
	    !move_mails(s, complaint_id, t, error))
		return false;
	g_message("complaint %" G_GINT64_FORMAT ": station %s → %s (transferred by %s)",
		  complaint_id, t->from_station, t->to_station, t->officer ? t->officer : "?");
	return true;
}

static void transfer_free(gpointer p)
{
	struct wb_transfer *t = p;
	g_free(t->from_station);
	g_free(t->to_station);
	g_free(t->officer);
	g_free(t->reason);
	g_free(t);
}

GPtrArray *wb_store_transfers(struct wb_store *s, int64_t complaint_id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT from_station, to_station, officer, reason, at FROM "
				   "transfers WHERE complaint_id = ?1 ORDER BY at, id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, complaint_id);
	GPtrArray *out = g_ptr_array_new_with_free_func(transfer_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct wb_transfer *t = g_new0(struct wb_transfer, 1);
		t->from_station = sq_col_text(st, 0);
		t->to_station = sq_col_text(st, 1);
		t->officer = sq_col_text(st, 2);
		t->reason = sq_col_text(st, 3);
		t->at = db_col_int64(st, 4);
		g_ptr_array_add(out, t);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		g_ptr_array_unref(out);
		sq_fail(s, error, "reading a complaint's transfers");
		return NULL;
	}
	return out;
}
