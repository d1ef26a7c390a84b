/* store_split: "#new" in an officer's reply splits a message and the later ones off into
 * a new complaint, inside the reply's transaction (store.h, struct wb_split_in).
 *
 * Design rationale: exactly once rests on the reply's transaction. The reply row is
 * unique by its key and an accepted one is never carried out again; the splits row is
 * unique by reply too, and the checks that make a split possible (the complaint open,
 * the message one of its later ones) are made again here, under the write lock, so two
 * replies racing cannot split the same messages twice. The new complaint's first mail
 * is the bridge's (complaints.root): its first_wamid stays a real wamid, because it is
 * also what WhatsApp sends quote as their context. Messages still waiting are rendered
 * again, so they reach the mailbox with the new reference, under the new root; the
 * mails of the others stay where they are, and compose attaches them to the root mail. */
#include "store.h"
#include "store-priv.h"
#include "journal.h"
#include "util.h"

#include <string.h>
#include <unistd.h>

void wb_split_msg_free(gpointer p)
{
	struct wb_split_msg *m = p;
	if (!m)
		return;
	g_free(m->wamid);
	g_free(m->type);
	g_free(m->json);
	if (m->mail)
		g_bytes_unref(m->mail);
	g_free(m);
}

bool wb_store_split_probe(struct wb_store *s, const char *wamid, struct wb_split_probe *p,
			  GError **error)
{
	memset(p, 0, sizeof *p);
	db_stmt *st = sq_prep(s, "SELECT m.id, m.complaint_id, (SELECT count(*) FROM "
				   "messages e WHERE e.complaint_id = m.complaint_id AND (e.ts < "
				   "m.ts OR (e.ts = m.ts AND e.id < m.id))), (SELECT count(*) FROM "
				   "messages l WHERE l.complaint_id = m.complaint_id AND (l.ts > m.ts "
				   "OR (l.ts = m.ts AND l.id >= m.id))) FROM messages m WHERE "
				   "m.wamid = ?1 AND m.complaint_id IS NOT NULL", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, wamid);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		p->msg_id = db_col_int64(st, 0);
		p->complaint_id = db_col_int64(st, 1);
		p->earlier = (unsigned)db_col_int64(st, 2);
		p->moving = (unsigned)db_col_int64(st, 3);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "looking at a message");
}

/* The complaint as the split needs it, checked: open, and the message one of its later
 * ones. */
struct from {
	char *ref, *station, *citizen;
	gint64 ts;          /* the split message's */
	int64_t msg_id;
};

static void from_clear(struct from *f)
{
	g_free(f->ref);
	g_free(f->station);
	g_free(f->citizen);
}

static bool read_from(struct wb_store *s, int64_t complaint_id, const char *wamid,
		      struct from *f, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT c.ref, c.station, c.citizen, m.ts, m.id, (SELECT "
				   "count(*) FROM messages e WHERE e.complaint_id = c.id AND (e.ts < "
				   "m.ts OR (e.ts = m.ts AND e.id < m.id))) FROM complaints c JOIN "
				   "messages m ON m.complaint_id = c.id AND m.wamid = ?2 WHERE c.id = "
				   "?1 AND c.state = 'open'", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	sq_bind_text(st, 2, wamid);
	int rc = db_step(st);
	bool ok = rc == DB_ROW && db_col_int64(st, 5) > 0;
	if (ok) {
		f->ref = sq_col_text(st, 0);
		f->station = sq_col_text(st, 1);
		f->citizen = sq_col_text(st, 2);
		f->ts = db_col_int64(st, 3);
		f->msg_id = db_col_int64(st, 4);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return sq_fail(s, error, "reading a complaint to split");
	if (!ok)
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "complaint %" G_GINT64_FORMAT
			    " is no longer open with %s as one of its later messages (changed "
			    "meanwhile)", complaint_id, wamid);
	return ok;
}

/* Is it waiting for delivery, and nobody else working on it? Then it is rendered again. */
static bool waiting(db_stmt *st, gint64 now)
{
	const char *state = (const char *)db_col_text(st, 6);
	bool busy = wb_claim_held(db_col_text(st, 7), db_col_int64(st, 8), now);
	return !busy && (strcmp(state, WB_ST_RECEIVED) == 0 || strcmp(state, WB_ST_RENDERED) == 0 ||
			 strcmp(state, WB_ST_RETRY) == 0);
}

/* The messages that move, in time order; *again: which of them are rendered again. */
static GPtrArray *moving(struct wb_store *s, int64_t complaint_id, const struct from *f,
			 GArray *again, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id, ts, wamid, type, json, (SELECT mail FROM "
				   "rendered WHERE msg = m.id), state, claim_by, lease_until FROM "
				   "messages m WHERE complaint_id = ?1 AND (ts > ?2 OR (ts = ?2 AND "
				   "id >= ?3)) ORDER BY ts, id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, complaint_id);
	db_bind_int64(st, 2, f->ts);
	db_bind_int64(st, 3, f->msg_id);
	gint64 now = wb_now();
	GPtrArray *out = g_ptr_array_new_with_free_func(wb_split_msg_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct wb_split_msg *m = g_new0(struct wb_split_msg, 1);
		m->id = db_col_int64(st, 0);
		m->ts = db_col_int64(st, 1);
		m->wamid = sq_col_text(st, 2);
		m->type = sq_col_text(st, 3);
		m->json = sq_col_text(st, 4);
		bool wait = waiting(st, now);
		m->delivered = !wait && g_strcmp0((const char *)db_col_text(st, 6),
						  WB_ST_DELIVERED) == 0;
		if (!wait && db_col_type(st, 5) == DB_BLOB)
			m->mail = g_bytes_new(db_col_blob(st, 5),
					      (gsize)db_col_bytes(st, 5));
		g_array_append_val(again, wait);
		g_ptr_array_add(out, m);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		g_ptr_array_unref(out);
		sq_fail(s, error, "reading the messages to split off");
		return NULL;
	}
	return out;
}

static bool open_new(struct wb_store *s, const struct from *f, const struct wb_split_in *in,
		     gint64 last, int64_t *to_id, char **to_ref, GError **error)
{
	int year;
	int64_t seq;
	if (!wb_store_next_ref(s, f->station, in->code, f->ts, in->timezone, to_ref, &year, &seq,
			       error))
		return false;
	db_stmt *st = sq_prep(s, "INSERT INTO complaints (ref, station, citizen, year, seq, "
				   "first_wamid, opened_at, last_activity, root) VALUES (?1, ?2, ?3, "
				   "?4, ?5, ?6, ?7, ?8, ?9)", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, *to_ref);
	sq_bind_text(st, 2, f->station);
	sq_bind_text(st, 3, f->citizen);
	db_bind_int64(st, 4, year);
	db_bind_int64(st, 5, seq);
	sq_bind_text(st, 6, in->wamid);
	db_bind_int64(st, 7, f->ts);
	db_bind_int64(st, 8, MAX(last, f->ts));
	sq_bind_text(st, 9, in->root);
	if (!sq_step_done(s, st, error, "opening the split-off complaint"))
		return false;
	*to_id = db_last_id(s->db);
	return true;
}

static bool move_one(struct wb_store *s, const struct wb_split_msg *m, bool again,
		     int64_t to_id, const char *detail, GError **error)
{
	gint64 now = wb_now();
	db_stmt *st = sq_prep(s, "INSERT INTO events (at, message_id, old, new, detail) SELECT "
				   "?1, id, state, CASE WHEN ?4 <> 0 THEN 'received' ELSE state END, ?2 "
				   "FROM messages WHERE id = ?3", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, now);
	sq_bind_text(st, 2, detail);
	db_bind_int64(st, 3, m->id);
	db_bind_int64(st, 4, again);
	if (!sq_step_done(s, st, error, "recording an event"))
		return false;
	st = sq_prep(s, "DELETE FROM rendered WHERE msg = ?1 AND ?2 <> 0", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, m->id);
	db_bind_int64(st, 2, again);
	if (!sq_step_done(s, st, error, "letting a mail to be rendered again go"))
		return false;
	st = sq_prep(s, "UPDATE messages SET complaint_id = ?2, updated_at = ?4, state = CASE WHEN "
		     "?3 <> 0 THEN 'received' ELSE state END, next_at = CASE WHEN ?3 <> 0 THEN 0 ELSE "
		     "next_at END, claim_by = CASE WHEN ?3 <> 0 THEN NULL ELSE claim_by END WHERE id "
		     "= ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, m->id);
	db_bind_int64(st, 2, to_id);
	db_bind_int64(st, 3, again);
	db_bind_int64(st, 4, now);
	return sq_step_done(s, st, error, "moving a message to the split-off complaint");
}

static bool record(struct wb_store *s, int64_t from_id, int64_t to_id, int64_t reply_id,
		   const struct wb_split_in *in, unsigned moved, GError **error)
{
	db_stmt *st = sq_prep(s, "INSERT INTO splits (from_complaint, to_complaint, wamid, "
				   "moved, reply_id, officer, at) VALUES (?1, ?2, ?3, ?4, nullif(?5, "
				   "0), ?6, ?7)", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, from_id);
	db_bind_int64(st, 2, to_id);
	sq_bind_text(st, 3, in->wamid);
	db_bind_int64(st, 4, moved);
	db_bind_int64(st, 5, reply_id);
	sq_bind_text(st, 6, in->officer);
	db_bind_int64(st, 7, wb_now());
	if (!sq_step_done(s, st, error, "recording a split"))
		return false;
	/* The reply belongs to the new complaint now; the old one keeps its duty going. */
	st = sq_prep(s, "UPDATE replies SET complaint_id = ?2 WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, reply_id);
	db_bind_int64(st, 2, to_id);
	if (!sq_step_done(s, st, error, "moving the reply to the split-off complaint"))
		return false;
	st = sq_prep(s, "UPDATE complaints SET duty_at = 0 WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, from_id);
	return sq_step_done(s, st, error, "updating the complaint split from");
}

bool wb_store_split_in_txn(struct wb_store *s, int64_t complaint_id, int64_t reply_id,
			   const struct wb_split_in *in, int64_t *to_id,
			   const struct wb_outbox_in **send, const struct wb_outbox_in **held,
			   GError **error)
{
	struct from f = { 0 };
	if (!read_from(s, complaint_id, in->wamid, &f, error)) {
		from_clear(&f);
		return false;
	}
	g_autoptr(GArray) again = g_array_new(FALSE, FALSE, sizeof(bool));
	g_autoptr(GPtrArray) moved = moving(s, complaint_id, &f, again, error);
	g_autofree char *to_ref = NULL;
	bool ok = moved != NULL;
	if (ok && moved->len == 0) {
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "no message to split off");
		ok = false;
	}
	if (ok) {
		const struct wb_split_msg *last = moved->pdata[moved->len - 1];
		ok = open_new(s, &f, in, last->ts, to_id, &to_ref, error);
	}
	g_autofree char *detail = ok ? g_strdup_printf("split off from %s into %s by %s", f.ref,
						       to_ref, in->officer ? in->officer : "?")
				     : NULL;
	for (guint i = 0; ok && i < moved->len; i++)
		ok = move_one(s, moved->pdata[i], g_array_index(again, bool, i), *to_id, detail,
			      error);
	ok = ok && record(s, complaint_id, *to_id, reply_id, in, moved->len, error);
	g_autofree char *jd = ok ? g_strdup_printf("%u message%s from wamid %s on moved into %s",
		moved->len, moved->len == 1 ? "" : "s", in->wamid, to_ref) : NULL;
	ok = ok && wb_store_journal_add(s, "split", f.ref, to_ref, jd, error);
	struct wb_split_out out = { 0 };
	struct wb_split_facts facts = { .from_id = complaint_id, .to_id = ok ? *to_id : 0,
					.from_ref = f.ref, .to_ref = to_ref, .moved = moved };
	ok = ok && in->compose(in->ctx, &facts, &out, error) &&
	     wb_store_queue_mailops(s, out.ops, out.n_ops, error);
	if (ok) {
		*send = out.send;
		*held = out.held;
		g_message("complaint %s: %u message%s from %s on split off into %s by %s", f.ref,
			  moved->len, moved->len == 1 ? "" : "s", in->wamid, to_ref,
			  in->officer ? in->officer : "?");
	}
	from_clear(&f);
	return ok;
}
