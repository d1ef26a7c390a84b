/* store_reply: officers' replies, the outbox of WhatsApp sends and the operations on the
 * stations' mailboxes, in the same SQLite database as the rest of the store.
 *
 * Design rationale: a WhatsApp send cannot be undone or asked about afterwards (the
 * Graph API has no "did you get this?" call), so exactly-once rests on two rules. The
 * row is marked `sending` and committed before the request leaves; and a row found in
 * `sending` after a crash is never sent again on a guess: the status webhook echoes
 * "wb-outbox-<id>" (biz_opaque_callback_data) and settles it, and when none comes the row
 * becomes `unknown` and the station is told to check and reply again if need be. */
#include "store.h"
#include "store-priv.h"
#include "journal.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPAQUE_PREFIX "wb-outbox-"

/* ---- complaints ---------------------------------------------------------------------- */

void wb_complaint_free(struct wb_complaint *c)
{
	if (!c)
		return;
	g_free(c->ref);
	g_free(c->station);
	g_free(c->citizen);
	g_free(c->first_wamid);
	g_free(c->root);
	g_free(c->number);
	g_free(c->state);
	g_free(c);
}

struct wb_complaint *wb_store_complaint(struct wb_store *s, const char *ref, int64_t id,
					GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT c.id, c.ref, c.station, c.citizen, c.first_wamid, c.number, c.state, "
		"c.opened_at, c.last_activity, (SELECT max(m.ts) FROM messages m WHERE "
		"m.sender = c.citizen AND m.phone_number_id = (SELECT p.phone_number_id FROM "
		"messages p WHERE p.complaint_id = c.id ORDER BY p.id DESC LIMIT 1)), "
		"coalesce(c.root, c.first_wamid) "
		"FROM complaints c "
		"WHERE c.ref = ?1 OR c.id = ?2", error);
	if (!st)
		return NULL;
	g_autofree char *up = ref ? g_ascii_strup(ref, -1) : NULL;
	sq_bind_text(st, 1, up);
	db_bind_int64(st, 2, ref ? -1 : id);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		if (rc != DB_DONE) {
			sq_fail(s, error, "reading a complaint");
			return NULL;
		}
		if (ref)
			g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND, "no complaint %s", up);
		else
			g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND,
				    "no complaint %" G_GINT64_FORMAT, id);
		return NULL;
	}
	struct wb_complaint *c = g_new0(struct wb_complaint, 1);
	c->id = db_col_int64(st, 0);
	c->ref = sq_col_text(st, 1);
	c->station = sq_col_text(st, 2);
	c->citizen = sq_col_text(st, 3);
	c->first_wamid = sq_col_text(st, 4);
	c->number = sq_col_text(st, 5);
	c->state = sq_col_text(st, 6);
	c->opened_at = db_col_int64(st, 7);
	c->last_activity = db_col_int64(st, 8);
	c->last_inbound = db_col_int64(st, 9);
	c->root = sq_col_text(st, 10);
	db_reset(st);
	return c;
}

bool wb_store_complaint_of_mail(struct wb_store *s, const char *local, int64_t *id,
				GError **error)
{
	*id = 0;
	db_stmt *st;
	if (g_str_has_prefix(local, "wb-out-")) {
		char *end = NULL;
		gint64 n = g_ascii_strtoll(local + 7, &end, 10);
		if (end == local + 7 || n <= 0)
			return true;
		st = sq_prep(s, "SELECT complaint_id FROM outbox WHERE id = ?1", error);
		if (!st)
			return false;
		db_bind_int64(st, 1, n);
	} else {
		st = sq_prep(s, "SELECT complaint_id FROM messages WHERE wamid = ?1 AND "
			     "complaint_id IS NOT NULL UNION ALL SELECT id FROM complaints WHERE "
			     "root = ?1 LIMIT 1", error);
		if (!st)
			return false;
		sq_bind_text(st, 1, local);
	}
	int rc = db_step(st);
	if (rc == DB_ROW)
		*id = db_col_int64(st, 0);
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding a mail's complaint");
}

/* The first column of every row of a prepared, bound statement, as strings. */
static GPtrArray *column_texts(struct wb_store *s, db_stmt *st, const char *what,
			       GError **error)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW)
		g_ptr_array_add(out, sq_col_text(st, 0));
	db_reset(st);
	if (rc != DB_DONE) {
		g_ptr_array_unref(out);
		sq_fail(s, error, what);
		return NULL;
	}
	return out;
}

GPtrArray *wb_store_complaint_messages(struct wb_store *s, int64_t complaint_id,
				       unsigned max, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT json FROM messages WHERE complaint_id = ?1 "
				   "ORDER BY ts, id LIMIT ?2", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, complaint_id);
	db_bind_int64(st, 2, max);
	return column_texts(s, st, "reading a complaint's messages", error);
}

/* ---- replies ------------------------------------------------------------------------- */

bool wb_store_queue_mailops(struct wb_store *s, const struct wb_mailop_in *ops, size_t n,
			    GError **error)
{
	gint64 now = wb_now();
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ops[i].kind, "append") != 0 && strcmp(ops[i].kind, "copy") != 0) {
			/* A keyword's latest wish wins: an earlier flag or unflag of it on this
			 * mail is dropped (done or not), and this one goes last in line. */
			db_stmt *del = sq_prep(s, "DELETE FROM mailops WHERE station = ?1 AND "
						    "kind IN ('flag', 'unflag') AND message_id = ?2 "
						    "AND keyword = ?3", error);
			if (!del)
				return false;
			sq_bind_text(del, 1, ops[i].station);
			sq_bind_text(del, 2, ops[i].message_id);
			sq_bind_text(del, 3, ops[i].keyword);
			if (!sq_step_done(s, del, error, "replacing a keyword operation"))
				return false;
		}
		db_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO mailops (station, kind, "
					   "message_id, keyword, mail, source, created_at, updated_at) "
					   "VALUES (?1, ?2, ?3, coalesce(?4, ''), ?5, ?7, ?6, ?6)",
					   error);
		if (!st)
			return false;
		sq_bind_text(st, 1, ops[i].station);
		sq_bind_text(st, 2, ops[i].kind);
		sq_bind_text(st, 3, ops[i].message_id);
		sq_bind_text(st, 4, ops[i].keyword);
		if (ops[i].mail) {
			gsize len;
			const void *data = g_bytes_get_data(ops[i].mail, &len);
			db_bind_blob(st, 5, len ? data : "", len);
		}
		db_bind_int64(st, 6, now);
		sq_bind_text(st, 7, ops[i].source);
		if (!sq_step_done(s, st, error, "queueing a mailbox operation"))
			return false;
	}
	return true;
}

bool wb_store_queue_send(struct wb_store *s, int64_t reply_id, int64_t complaint_id,
			 const char *purpose, const struct wb_outbox_in *o, GError **error)
{
	db_stmt *st = sq_prep(s,
		"INSERT OR IGNORE INTO outbox (reply_id, complaint_id, station, phone_number_id, "
		"recipient, kind, lang, text, template, params, context_wamid, fallback_template, "
		"fallback_params, created_at, updated_at, state, last_error, purpose, words) SELECT "
		"nullif(?1, 0), c.id, "
		"c.station, (SELECT m.phone_number_id FROM messages m WHERE m.complaint_id = c.id "
		"ORDER BY m.id DESC LIMIT 1), c.citizen, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, "
		"CASE WHEN ?12 IS NOT NULL THEN 'failed' WHEN ?14 <> 0 THEN 'held' ELSE 'queued' END, "
		"?12, ?13, ?15 "
		"FROM complaints c WHERE c.id = ?2", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, reply_id);
	sq_bind_text(st, 13, purpose);
	db_bind_int64(st, 2, complaint_id);
	sq_bind_text(st, 3, o->kind);
	sq_bind_text(st, 4, o->lang);
	sq_bind_text(st, 5, o->text);
	sq_bind_text(st, 6, o->template_name);
	sq_bind_text(st, 7, o->params);
	sq_bind_text(st, 8, o->context_wamid);
	sq_bind_text(st, 9, o->fallback_template);
	sq_bind_text(st, 10, o->fallback_params);
	db_bind_int64(st, 11, wb_now());
	sq_bind_text(st, 12, o->fail_reason);
	db_bind_int64(st, 14, o->hold);
	db_bind_int64(st, 15, o->words);
	if (!sq_step_done(s, st, error, "queueing a WhatsApp send"))
		return false;
	if (db_changes(s->db) == 1)
		g_message("outbox %lld: %s%s%s to the citizen of complaint %" G_GINT64_FORMAT
			  " %s (%s)", (long long)db_last_id(s->db), o->kind,
			  purpose ? ", " : "", purpose ? purpose : "", complaint_id,
			  o->hold ? "held until the citizen writes again" : "queued", o->lang);
	return true;
}

static bool accept_effects(struct wb_store *s, const struct wb_reply_in *in, int64_t id,
			   GError **error)
{
	/* First the move, so that the send below is the new station's (its record goes
	 * into the new thread). */
	if (in->transfer && !wb_store_transfer_in_txn(s, in->complaint_id, id, in->transfer, error))
		return false;
	/* A split: the number and the send are the new complaint's. */
	int64_t cid = in->complaint_id;
	const struct wb_outbox_in *send = in->send, *held = in->held;
	if (in->split && !wb_store_split_in_txn(s, in->complaint_id, id, in->split, &cid, &send,
						&held, error))
		return false;
	db_stmt *st = sq_prep(s, "UPDATE complaints SET number = coalesce(?2, number), "
				   "last_activity = max(last_activity, ?3), duty_at = 0, "
				   "state = CASE WHEN ?4 <> 0 THEN 'closed' ELSE state END, "
				   "closed_reason = CASE WHEN ?4 <> 0 THEN 'officer' ELSE closed_reason END "
				   "WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, cid);
	sq_bind_text(st, 2, in->number);
	db_bind_int64(st, 3, wb_now());
	db_bind_int64(st, 4, in->close);
	if (!sq_step_done(s, st, error, "recording the complaint number"))
		return false;
	return (!send || wb_store_queue_send(s, id, cid, in->purpose, send, error)) &&
	       (!held || wb_store_queue_send(s, id, cid, in->purpose, held, error));
}

bool wb_store_add_reply(struct wb_store *s, const struct wb_reply_in *in, int64_t *reply_id,
			bool *already, GError **error)
{
	*already = false;
	*reply_id = 0;
	if (!sq_begin(s, error))
		return false;
	db_stmt *st = sq_prep(s, "SELECT id, state FROM replies WHERE key = ?1", error);
	if (!st)
		return sq_rollback(s);
	sq_bind_text(st, 1, in->key);
	int rc = db_step(st);
	int64_t id = rc == DB_ROW ? db_col_int64(st, 0) : 0;
	bool was_accepted = rc == DB_ROW &&
		strcmp((const char *)db_col_text(st, 1), WB_RS_ACCEPTED) == 0;
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return sq_fail(s, error, "looking up a reply") && sq_rollback(s);
	gint64 now = wb_now();
	if (was_accepted) {
		st = sq_prep(s, "UPDATE replies SET seen = seen + 1, updated_at = ?2 WHERE id = ?1",
			     error);
		if (!st)
			return sq_rollback(s);
		db_bind_int64(st, 1, id);
		db_bind_int64(st, 2, now);
		if (!sq_step_done(s, st, error, "counting a replayed reply"))
			return sq_rollback(s);
		*already = true;
		*reply_id = id;
		return sq_commit(s, error);
	}
	st = sq_prep(s,
		"INSERT INTO replies (key, sha256, mail, source, received_at, updated_at, sender, "
		"complaint_id, matched_by, state, reason, text, number, tags, sender_name) VALUES "
		"(?1, ?2, ?3, ?4, ?5, ?5, ?6, nullif(?7, 0), ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON "
		"CONFLICT (key) DO UPDATE SET seen = replies.seen + 1, updated_at = ?5, sender = ?6, "
		"complaint_id = nullif(?7, 0), matched_by = ?8, state = ?9, reason = ?10, text = "
		"?11, number = ?12, tags = ?13, sender_name = ?14", error);
	if (!st)
		return sq_rollback(s);
	sq_bind_text(st, 1, in->key);
	sq_bind_text(st, 2, in->sha256);
	db_bind_blob(st, 3, in->len ? in->mail : "", in->len);
	sq_bind_text(st, 4, in->source);
	db_bind_int64(st, 5, now);
	sq_bind_text(st, 6, in->sender);
	db_bind_int64(st, 7, in->complaint_id);
	sq_bind_text(st, 8, in->matched_by);
	sq_bind_text(st, 9, in->state);
	sq_bind_text(st, 10, in->reason);
	sq_bind_text(st, 11, in->text);
	sq_bind_text(st, 12, in->number);
	sq_bind_text(st, 13, in->tags);
	sq_bind_text(st, 14, in->sender_name);
	if (!sq_step_done(s, st, error, "storing a reply"))
		return sq_rollback(s);
	if (!id)
		id = db_last_id(s->db);
	g_autofree char *jd = g_strdup_printf("%s%s%s; from %s; mail sha256 %s; number %s", in->state,
		in->reason ? ": " : "", in->reason ? in->reason : "", in->sender ? in->sender : "-",
		in->sha256 ? in->sha256 : "-", in->number ? in->number : "-");
	if (!wb_journal_add_by(s, WB_REF_OF_COMPLAINT, in->complaint_id, "reply", in->key, jd,
			       error))
		return sq_rollback(s);
	if ((strcmp(in->state, WB_RS_ACCEPTED) == 0 && in->complaint_id &&
	     !accept_effects(s, in, id, error)) ||
	    !wb_store_queue_mailops(s, in->ops, in->n_ops, error) ||
	    !wb_store_queue_mailops(s, in->more_ops, in->n_more_ops, error))
		return sq_rollback(s);
	*reply_id = id;
	return sq_commit(s, error);
}

bool wb_store_refusals_since(struct wb_store *s, int64_t complaint_id, gint64 since,
			     const char *except_key, unsigned *n, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT count(*) FROM replies WHERE complaint_id = ?1 AND "
				   "state = '" WB_RS_UNAUTHORISED "' AND received_at >= ?2 AND "
				   "key IS DISTINCT FROM ?3", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	db_bind_int64(st, 2, since);
	sq_bind_text(st, 3, except_key);
	int rc = db_step(st);
	*n = rc == DB_ROW ? (unsigned)db_col_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW || sq_fail(s, error, "counting refused replies");
}

/* ---- the outbox ---------------------------------------------------------------------- */

void wb_outbox_free(struct wb_outbox *o)
{
	if (!o)
		return;
	char *texts[] = { o->station, o->phone_number_id, o->recipient, o->kind, o->lang, o->text,
			  o->template_name, o->params, o->context_wamid, o->state, o->noted,
			  o->wamid, o->request, o->last_error, o->ref, o->first_wamid, o->number,
			  o->officer, o->reply_key, o->purpose, o->officer_name, o->root };
	for (size_t i = 0; i < G_N_ELEMENTS(texts); i++)
		g_free(texts[i]);
	g_free(o);
}

struct wb_outbox *wb_store_outbox_get(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT o.id, o.reply_id, o.complaint_id, o.station, o.phone_number_id, "
		"o.recipient, o.kind, o.lang, o.text, o.template, o.params, o.context_wamid, "
		"o.state, o.noted, o.wamid, o.request, o.last_error, c.ref, c.first_wamid, "
		"CASE WHEN o.reply_id IS NULL THEN c.number ELSE r.number END, r.sender, r.key, "
		"o.purpose, o.attempts, o.error_code, o.accepted_at, r.sender_name, "
		"coalesce(c.root, c.first_wamid), o.kind = 'text' AND EXISTS (SELECT 1 FROM "
		"outbox x WHERE x.reply_id = o.reply_id AND x.kind = 'template') "
		"FROM outbox o JOIN complaints c ON c.id = "
		"o.complaint_id LEFT JOIN replies r ON r.id = o.reply_id WHERE o.id = ?1", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		if (rc == DB_DONE)
			g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND,
				    "no outbox row %" G_GINT64_FORMAT, id);
		else
			sq_fail(s, error, "reading the outbox");
		return NULL;
	}
	struct wb_outbox *o = g_new0(struct wb_outbox, 1);
	o->id = db_col_int64(st, 0);
	o->reply_id = db_col_int64(st, 1);
	o->complaint_id = db_col_int64(st, 2);
	char **texts[] = { &o->station, &o->phone_number_id, &o->recipient, &o->kind, &o->lang,
			   &o->text, &o->template_name, &o->params, &o->context_wamid, &o->state,
			   &o->noted, &o->wamid, &o->request, &o->last_error, &o->ref,
			   &o->first_wamid, &o->number, &o->officer, &o->reply_key, &o->purpose };
	for (int i = 0; i < (int)G_N_ELEMENTS(texts); i++)
		*texts[i] = sq_col_text(st, i + 3);
	o->attempts = db_col_int(st, 23);
	o->error_code = db_col_int(st, 24);
	o->accepted_at = db_col_int64(st, 25);
	o->officer_name = sq_col_text(st, 26);
	o->root = sq_col_text(st, 27);
	o->after_template = db_col_int(st, 28) != 0;
	db_reset(st);
	return o;
}

/* The next due send's id, 0 when none; -1 on error. */
static int64_t next_due(struct wb_store *s, gint64 now, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id FROM outbox WHERE state IN ('queued', 'retry') "
				   "AND next_at <= ?1 ORDER BY next_at, id LIMIT 1", error);
	if (!st)
		return -1;
	db_bind_int64(st, 1, now);
	int rc = db_step(st);
	int64_t id = rc == DB_ROW ? db_col_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? id : (sq_fail(s, error, "finding due sends"), -1);
}

struct wb_outbox *wb_store_outbox_take(struct wb_store *s, gint64 now, GError **error)
{
	/* Look first without the write lock (most passes find nothing), then again inside
	 * the transaction, where the answer holds. */
	int64_t id = next_due(s, now, error);
	if (id <= 0)
		return NULL;
	if (!wb_store_bridge_ready(s, error) || !sq_begin(s, error))
		return NULL;
	id = next_due(s, now, error);
	if (id <= 0) {
		sq_rollback(s);
		return NULL;
	}
	db_stmt *st;
	st = sq_prep(s, "UPDATE outbox SET state = 'sending', claim_by = ?2, sending_at = ?3, "
		     "lease_until = ?4, attempts = attempts + 1, updated_at = ?3 WHERE id = ?1",
		     error);
	if (!st) {
		sq_rollback(s);
		return NULL;
	}
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, wb_bridge_id());
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, now + wb_lease_seconds());
	if (!sq_step_done(s, st, error, "claiming a send") || !sq_commit(s, error)) {
		sq_rollback(s);
		return NULL;
	}
	return wb_store_outbox_get(s, id, error);
}

int wb_send_state_rank(const char *state)
{
	static const char *const order[] = { "accepted", "sent", "delivered", "read", "played" };
	if (!state)
		return -1;
	if (strcmp(state, "failed") == 0)
		return WB_RANK_FAILED;
	for (size_t i = 0; i < G_N_ELEMENTS(order); i++)
		if (strcmp(state, order[i]) == 0)
			return WB_RANK_ACCEPTED + (int)i;
	if (strcmp(state, "queued") == 0 || strcmp(state, "sending") == 0 ||
	    strcmp(state, "retry") == 0 || strcmp(state, "unknown") == 0)
		return WB_RANK_UNSENT;
	return -1;
}

/* After a 131047 (the 24-hour window closed), a text that carried a complaint number is
 * followed by the approved template with the same number. */
static bool queue_fallback(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s,
		"INSERT OR IGNORE INTO outbox (reply_id, complaint_id, station, phone_number_id, "
		"recipient, kind, lang, template, params, created_at, updated_at) SELECT reply_id, "
		"complaint_id, station, phone_number_id, recipient, 'template', lang, "
		"fallback_template, fallback_params, ?2, ?2 FROM outbox WHERE id = ?1 AND kind = "
		"'text' AND fallback_template IS NOT NULL AND reply_id IS NOT NULL", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, wb_now());
	if (!sq_step_done(s, st, error, "queueing the template after 131047"))
		return false;
	if (db_changes(s->db) == 1)
		g_message("outbox %" G_GINT64_FORMAT ": the 24-hour window had closed (131047); "
			  "outbox %lld sends the approved template instead", id,
			  (long long)db_last_id(s->db));
	return true;
}

/* After a 131047, the words an officer wrote wait for the citizen's next message (the
 * complaint number, if any, goes by the template queued above): the text row is `held`,
 * without its fallback, and goes out again once the citizen writes. */
static bool hold_words(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s,
		"UPDATE outbox SET state = 'held', fallback_template = NULL, fallback_params = "
		"NULL WHERE id = ?1 AND kind = 'text' AND purpose IS NULL AND words <> 0", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	if (!sq_step_done(s, st, error, "keeping an officer's words after 131047"))
		return false;
	if (db_changes(s->db) == 1)
		g_message("outbox %" G_GINT64_FORMAT ": the officer's words are kept and go when "
			  "the citizen writes again", id);
	return true;
}

bool wb_store_release_held(struct wb_store *s, int64_t complaint_id, GError **error)
{
	db_stmt *st = sq_prep(s, "UPDATE outbox SET state = 'queued', next_at = 0, "
				   "updated_at = ?2 WHERE complaint_id = ?1 AND state = 'held'",
				   error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	db_bind_int64(st, 2, wb_now());
	if (!sq_step_done(s, st, error, "releasing kept words"))
		return false;
	if (db_changes(s->db) > 0)
		g_message("complaint %" G_GINT64_FORMAT ": the citizen wrote again; %d kept "
			  "message(s) of officers queued", complaint_id, (int)db_changes(s->db));
	return true;
}

bool wb_store_outbox_unresolved(struct wb_store *s, int64_t complaint_id, unsigned *n,
				GError **error)
{
	/* A failed send is resolved by a later one of the same kind of sender (officers'
	 * replies, or the same purpose) that WhatsApp accepted. */
	db_stmt *st = sq_prep(s,
		"SELECT count(*) FROM outbox f WHERE f.complaint_id = ?1 AND f.state = 'failed' "
		"AND NOT EXISTS (SELECT 1 FROM outbox g WHERE g.complaint_id = f.complaint_id AND "
		"g.id > f.id AND g.purpose IS NOT DISTINCT FROM f.purpose AND g.state IN ('accepted', 'sent', "
		"'delivered', 'read', 'played'))", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	int rc = db_step(st);
	*n = rc == DB_ROW ? (unsigned)db_col_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW || sq_fail(s, error, "counting failed sends");
}

GPtrArray *wb_store_outbox_texts(struct wb_store *s, int64_t complaint_id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT text FROM outbox WHERE complaint_id = ?1 AND text "
				   "IS NOT NULL AND purpose IS NOT NULL ORDER BY id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, complaint_id);
	return column_texts(s, st, "reading what was sent to the citizen", error);
}

/* "title: details" of a failed status's first error. */
static char *status_error(const char *json, int code)
{
	json_t *v = json ? json_loads(json, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(v, "errors"), 0);
	const char *title = json_string_value(json_object_get(e, "title"));
	if (!title)
		title = json_string_value(json_object_get(e, "message"));
	const char *details = json_string_value(json_object_get(json_object_get(e, "error_data"),
								"details"));
	char *out = g_strdup_printf("WhatsApp reported failure %d%s%s%s%s", code,
				    title ? ": " : "", title ? title : "",
				    details ? " — " : "", details ? details : "");
	json_decref(v);
	char *clean = wb_clean_line(out, 400);
	g_free(out);
	return clean;
}

static bool set_wamid(struct wb_store *s, int64_t id, const char *wamid, GError **error)
{
	db_stmt *st = sq_prep(s, "UPDATE outbox SET wamid = ?2 WHERE id = ?1 AND wamid IS NULL",
				   error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, wamid);
	return sq_step_done(s, st, error, "reconciling a send");
}

bool wb_store_status_in_txn(struct wb_store *s, const struct wb_instatus *x, GError **error)
{
	int want = wb_send_state_rank(x->status);
	if (want < WB_RANK_ACCEPTED)
		return true; /* a status we do not track (deleted, warning, ...) */
	db_stmt *st = sq_prep(s, "SELECT id, state, wamid FROM outbox WHERE wamid = ?1",
				   error);
	if (!st)
		return false;
	sq_bind_text(st, 1, x->wamid);
	int rc = db_step(st);
	if (rc == DB_DONE && x->opaque && g_str_has_prefix(x->opaque, OPAQUE_PREFIX)) {
		/* Not known by its wamid: a send whose answer a crash lost, or one whose call
		 * has not returned yet. The echoed outbox id names it. */
		db_reset(st);
		char *end = NULL;
		const char *digits = x->opaque + strlen(OPAQUE_PREFIX);
		gint64 n = g_ascii_strtoll(digits, &end, 10);
		if (end == digits || *end || n <= 0)
			return true;
		st = sq_prep(s, "SELECT id, state, wamid FROM outbox WHERE id = ?1 AND "
			     "wamid IS NULL", error);
		if (!st)
			return false;
		db_bind_int64(st, 1, n);
		rc = db_step(st);
	}
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE || sq_fail(s, error, "finding a status's send");
	}
	int64_t id = db_col_int64(st, 0);
	g_autofree char *cur = sq_col_text(st, 1);
	bool reconciled = db_col_type(st, 2) == DB_NULL;
	db_reset(st);
	int have = wb_send_state_rank(cur);
	if (have == WB_RANK_FAILED || (want != WB_RANK_FAILED && want <= have))
		/* out of order or repeated: never backwards, but learn the wamid */
		return !reconciled || set_wamid(s, id, x->wamid, error);
	g_autofree char *why = want == WB_RANK_FAILED ? status_error(x->json, x->error_code) : NULL;
	st = sq_prep(s, "UPDATE outbox SET state = ?2, wamid = coalesce(wamid, ?3), "
		     "error_code = CASE WHEN ?4 > 0 THEN ?4 ELSE error_code END, "
		     "last_error = coalesce(?5, last_error), updated_at = ?6, "
		     "claim_by = CASE WHEN state = 'sending' THEN claim_by ELSE NULL END "
		     "WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, x->status);
	sq_bind_text(st, 3, x->wamid);
	db_bind_int64(st, 4, x->error_code);
	sq_bind_text(st, 5, why);
	db_bind_int64(st, 6, wb_now());
	g_autofree char *subject = g_strdup_printf("outbox %" G_GINT64_FORMAT, id);
	g_autofree char *jd = g_strdup_printf("%s → %s, wamid %s%s%s", cur, x->status, x->wamid,
					      why ? ": " : "", why ? why : "");
	if (!sq_step_done(s, st, error, "recording a send's status") ||
	    !wb_journal_add_by(s, WB_REF_OF_OUTBOX, id, "status", subject, jd, error))
		return false;
	g_log(G_LOG_DOMAIN, want == WB_RANK_FAILED ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
	      "outbox %" G_GINT64_FORMAT " %s: %s → %s%s%s%s", id, x->wamid, cur, x->status,
	      reconciled ? " (reconciled by biz_opaque_callback_data)" : "", why ? ": " : "",
	      why ? why : "");
	if (want == WB_RANK_FAILED && x->error_code == 131047)
		return queue_fallback(s, id, error) && hold_words(s, id, error);
	return true;
}

/* Statuses that came before the send's answer was recorded. */
static bool apply_early_statuses(struct wb_store *s, const char *wamid, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT status, ts, error_code, json, opaque FROM statuses "
				   "WHERE wamid = ?1 ORDER BY id", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, wamid);
	g_autoptr(GPtrArray) early = g_ptr_array_new_with_free_func(g_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct wb_instatus *x = g_new0(struct wb_instatus, 1);
		x->wamid = (char *)wamid;
		x->status = sq_col_text(st, 0);
		x->timestamp = db_col_int64(st, 1);
		x->error_code = db_col_int(st, 2);
		x->json = sq_col_text(st, 3);
		x->opaque = sq_col_text(st, 4);
		g_ptr_array_add(early, x);
	}
	db_reset(st);
	bool ok = rc == DB_DONE || sq_fail(s, error, "reading early statuses");
	for (guint i = 0; i < early->len; i++) {
		struct wb_instatus *x = early->pdata[i];
		ok = ok && wb_store_status_in_txn(s, x, error);
		g_free(x->status);
		g_free(x->json);
		g_free(x->opaque);
	}
	return ok;
}

bool wb_store_outbox_sent(struct wb_store *s, int64_t id, const char *wamid,
			  const char *request, const char *lang, GError **error)
{
	if (!sq_begin(s, error))
		return false;
	gint64 now = wb_now();
	db_stmt *st = sq_prep(s,
		"UPDATE outbox SET wamid = coalesce(wamid, ?2), request = ?3, accepted_at = ?4, "
		"updated_at = ?4, claim_by = NULL, last_error = NULL, lang = coalesce(?5, lang), "
		"state = CASE WHEN state IN "
		"('queued', 'sending', 'retry', 'unknown') THEN 'accepted' ELSE state END "
		"WHERE id = ?1", error);
	if (!st)
		return sq_rollback(s);
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, wamid);
	sq_bind_text(st, 3, request);
	db_bind_int64(st, 4, now);
	sq_bind_text(st, 5, lang);
	g_autofree char *subject = g_strdup_printf("outbox %" G_GINT64_FORMAT, id);
	g_autofree char *jd = g_strdup_printf("accepted by WhatsApp as %s", wamid ? wamid : "-");
	if (!sq_step_done(s, st, error, "recording a send") ||
	    !wb_journal_add_by(s, WB_REF_OF_OUTBOX, id, "send", subject, jd, error) ||
	    !apply_early_statuses(s, wamid, error))
		return sq_rollback(s);
	if (!sq_commit(s, error))
		return false;
	g_message("outbox %" G_GINT64_FORMAT ": sending → accepted by WhatsApp as %s", id, wamid);
	return true;
}

bool wb_store_outbox_failed(struct wb_store *s, int64_t id, const char *request,
			    int graph_code, const char *why, gint64 next_at, GError **error)
{
	if (!sq_begin(s, error))
		return false;
	bool final = next_at < 0;
	db_stmt *st = sq_prep(s,
		"UPDATE outbox SET state = CASE WHEN ?2 <> 0 THEN 'failed' ELSE 'retry' END, "
		"next_at = CASE WHEN ?2 <> 0 THEN next_at ELSE ?3 END, request = coalesce(?4, request), "
		"error_code = ?5, last_error = ?6, claim_by = NULL, updated_at = ?7 WHERE id = ?1 "
		"AND state = 'sending'", error);
	if (!st)
		return sq_rollback(s);
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, final);
	db_bind_int64(st, 3, next_at);
	sq_bind_text(st, 4, request);
	db_bind_int64(st, 5, graph_code);
	sq_bind_text(st, 6, why);
	db_bind_int64(st, 7, wb_now());
	g_autofree char *subject = g_strdup_printf("outbox %" G_GINT64_FORMAT, id);
	g_autofree char *jd = g_strdup_printf("%s (Graph code %d): %s", final ? "failed"
					      : "failed, will retry", graph_code, why ? why : "-");
	if (!sq_step_done(s, st, error, "recording a failed send") ||
	    (db_changes(s->db) &&
	     !wb_journal_add_by(s, WB_REF_OF_OUTBOX, id, "send", subject, jd, error)) ||
	    (final && graph_code == 131047 && (!queue_fallback(s, id, error) ||
						  !hold_words(s, id, error))))
		return sq_rollback(s);
	if (!sq_commit(s, error))
		return false;
	if (final)
		g_warning("outbox %" G_GINT64_FORMAT ": sending → failed: %s", id, why);
	else
		g_message("outbox %" G_GINT64_FORMAT ": sending → retry: %s", id, why);
	return true;
}

bool wb_store_outbox_expire(struct wb_store *s, gint64 now, gint64 grace, unsigned *n,
			    GError **error)
{
	*n = 0;
	db_stmt *st = sq_prep(s, "SELECT id, claim_by, lease_until FROM outbox WHERE state "
				   "= 'sending' AND sending_at <= ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, now - grace);
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		int64_t id = db_col_int64(st, 0);
		/* A live claimant (this bridge included) is still inside its call (it has a
		 * time-out). */
		const char *by = db_col_text(st, 1);
		if ((by && strcmp(by, wb_bridge_id()) == 0) ||
		    wb_claim_held(by, db_col_int64(st, 2), now))
			continue;
		g_array_append_val(ids, id);
	}
	db_reset(st);
	if (rc != DB_DONE)
		return sq_fail(s, error, "finding interrupted sends");
	for (guint i = 0; i < ids->len; i++) {
		int64_t id = g_array_index(ids, int64_t, i);
		st = sq_prep(s, "UPDATE outbox SET state = 'unknown', claim_by = NULL, updated_at "
			     "= ?2, last_error = 'the bridge stopped during the send and WhatsApp "
			     "has not confirmed it; it is not sent again by itself' WHERE id = ?1 "
			     "AND state = 'sending'", error);
		if (!st)
			return false;
		db_bind_int64(st, 1, id);
		db_bind_int64(st, 2, now);
		if (!sq_step_done(s, st, error, "marking an interrupted send"))
			return false;
		g_warning("outbox %" G_GINT64_FORMAT ": sending → unknown: interrupted and not "
			  "confirmed by WhatsApp within %" G_GINT64_FORMAT " s; not sent again",
			  id, grace);
		(*n)++;
	}
	return true;
}

GArray *wb_store_outbox_unnoted(struct wb_store *s, GError **error)
{
	return sq_ids(s, "SELECT id FROM outbox WHERE noted != state AND state NOT IN "
		      "('queued', 'sending', 'retry') ORDER BY id", "listing sends to note", error);
}

bool wb_store_outbox_noted(struct wb_store *s, int64_t id, const char *state,
			   const struct wb_mailop_in *ops, size_t n, GError **error)
{
	if (!sq_begin(s, error))
		return false;
	db_stmt *st = sq_prep(s, "UPDATE outbox SET noted = ?2 WHERE id = ?1", error);
	if (!st)
		return sq_rollback(s);
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, state);
	if (!sq_step_done(s, st, error, "noting a send") || !wb_store_queue_mailops(s, ops, n, error))
		return sq_rollback(s);
	return sq_commit(s, error);
}

/* ---- mailbox operations -------------------------------------------------------------- */

void wb_mailop_free(gpointer p)
{
	struct wb_mailop *op = p;
	if (!op)
		return;
	g_free(op->station);
	g_free(op->kind);
	g_free(op->message_id);
	g_free(op->keyword);
	g_free(op->source);
	if (op->mail)
		g_bytes_unref(op->mail);
	g_free(op);
}

GPtrArray *wb_store_mailops_due(struct wb_store *s, gint64 now, unsigned max, GError **error)
{
	/* Most passes find nothing: look before taking the write lock. */
	db_stmt *peek = sq_prep(s, "SELECT 1 FROM mailops WHERE state = 'pending' AND "
				     "next_at <= ?1 LIMIT 1", error);
	if (!peek)
		return NULL;
	db_bind_int64(peek, 1, now);
	int prc = db_step(peek);
	db_reset(peek);
	if (prc == DB_DONE)
		return g_ptr_array_new_with_free_func(wb_mailop_free);
	if (prc != DB_ROW) {
		sq_fail(s, error, "finding mailbox work");
		return NULL;
	}
	if (!sq_begin_claim(s, error))
		return NULL;
	db_stmt *st = sq_prep(s,
		"SELECT id, station, kind, message_id, keyword, mail, attempts, created_at, "
		"claim_by, lease_until, source FROM mailops WHERE state = 'pending' AND next_at <= ?1 "
		"AND " WB_CLAIMABLE " ORDER BY station, id LIMIT ?3" WB_SKIP_LOCKED, error);
	if (!st) {
		sq_rollback(s);
		return NULL;
	}
	db_bind_int64(st, 1, now);
	sq_bind_text(st, 2, wb_bridge_id());
	db_bind_int64(st, 3, max);
	GPtrArray *out = g_ptr_array_new_with_free_func(wb_mailop_free);
	int rc = DB_DONE;
	while (out->len < max && (rc = db_step(st)) == DB_ROW) {
		if (wb_claim_held(db_col_text(st, 8), db_col_int64(st, 9), now))
			continue; /* another live bridge is on it */
		struct wb_mailop *op = g_new0(struct wb_mailop, 1);
		op->id = db_col_int64(st, 0);
		op->station = sq_col_text(st, 1);
		op->kind = sq_col_text(st, 2);
		op->message_id = sq_col_text(st, 3);
		op->keyword = sq_col_text(st, 4);
		if (db_col_type(st, 5) == DB_BLOB)
			op->mail = g_bytes_new(db_col_blob(st, 5),
					       (gsize)db_col_bytes(st, 5));
		op->attempts = db_col_int(st, 6);
		op->created_at = db_col_int64(st, 7);
		op->source = sq_col_text(st, 10);
		g_ptr_array_add(out, op);
	}
	db_reset(st);
	bool ok = rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding mailbox work");
	for (guint i = 0; ok && i < out->len; i++) {
		st = sq_prep(s, "UPDATE mailops SET claim_by = ?2, lease_until = ?3 WHERE id = ?1",
			     error);
		ok = st != NULL;
		if (ok) {
			db_bind_int64(st, 1, ((struct wb_mailop *)out->pdata[i])->id);
			sq_bind_text(st, 2, wb_bridge_id());
			db_bind_int64(st, 3, now + wb_lease_seconds());
			ok = sq_step_done(s, st, error, "claiming mailbox work");
		}
	}
	if (!ok || !sq_commit(s, error)) {
		sq_rollback(s);
		g_ptr_array_unref(out);
		return NULL;
	}
	return out;
}

bool wb_store_mailop_set(struct wb_store *s, int64_t id, const char *state, const char *detail,
			 gint64 next_at, GError **error)
{
	db_stmt *st = sq_prep(s, "UPDATE mailops SET state = ?2, last_error = ?3, next_at = "
				   "max(?4, 0), attempts = attempts + CASE WHEN ?2 = 'done' THEN 0 ELSE 1 END, claim_by = "
				   "NULL, updated_at = ?5 WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, state);
	sq_bind_text(st, 3, detail);
	db_bind_int64(st, 4, next_at);
	db_bind_int64(st, 5, wb_now());
	return sq_step_done(s, st, error, "recording mailbox work");
}

bool wb_store_reply_pending(struct wb_store *s, unsigned *count, gint64 *soonest,
			    GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT (SELECT count(*) FROM outbox WHERE state IN ('queued', 'retry', 'sending')) "
		"+ (SELECT count(*) FROM mailops WHERE state = 'pending'), "
		"min(coalesce((SELECT min(next_at) FROM outbox WHERE state IN ('queued', 'retry')), "
		"9223372036854775807), coalesce((SELECT min(next_at) FROM mailops WHERE state = "
		"'pending'), 9223372036854775807))", error);
	if (!st)
		return false;
	bool ok = db_step(st) == DB_ROW;
	if (ok) {
		*count = (unsigned)db_col_int64(st, 0);
		gint64 m = db_col_int64(st, 1);
		*soonest = m == G_MAXINT64 ? 0 : m;
	} else {
		sq_fail(s, error, "counting pending sends");
	}
	db_reset(st);
	return ok;
}

bool wb_store_reply_report(struct wb_store *s, GString *out, GError **error)
{
	if (!sq_count_line(s, out, "Replies", "SELECT state, count(*) FROM replies GROUP BY "
			   "state ORDER BY state", error))
		return false;
	int rc;
	db_stmt *st = sq_prep(s, "SELECT r.id, r.received_at, r.source, coalesce(r.sender, '?'), r.state, "
		     "r.reason, c.ref FROM replies r LEFT JOIN complaints c ON c.id = "
		     "r.complaint_id WHERE r.state != 'accepted' ORDER BY r.id DESC LIMIT 20", error);
	if (!st)
		return false;
	while ((rc = db_step(st)) == DB_ROW) {
		g_autofree char *when = sq_time_text(db_col_int64(st, 1));
		g_autofree char *sender = sq_shown(st, 3), *reason = sq_shown(st, 5);
		g_autofree char *ref = sq_shown(st, 6);
		g_string_append_printf(out, "  reply %lld  %s  via %s from %s  %s%s%s: %s\n",
				       db_col_int64(st, 0), when, db_col_text(st, 2),
				       sender, db_col_text(st, 4), *ref ? " for " : "", ref,
				       reason);
	}
	db_reset(st);
	if (rc != DB_DONE)
		return sq_fail(s, error, "reporting replies");
	if (!sq_count_line(s, out, "WhatsApp sends", "SELECT state, count(*) FROM outbox GROUP "
			   "BY state ORDER BY state", error))
		return false;
	st = sq_prep(s, "SELECT o.id, c.ref, o.state, o.last_error, o.updated_at FROM outbox o "
		     "JOIN complaints c ON c.id = o.complaint_id WHERE o.state IN ('failed', "
		     "'unknown', 'retry', 'sending') ORDER BY o.id DESC LIMIT 20", error);
	if (!st)
		return false;
	while ((rc = db_step(st)) == DB_ROW) {
		g_autofree char *when = sq_time_text(db_col_int64(st, 4));
		g_autofree char *why = sq_shown(st, 3);
		g_string_append_printf(out, "  outbox %lld  %s  %s since %s: %s\n",
				       db_col_int64(st, 0), db_col_text(st, 1),
				       db_col_text(st, 2), when, *why ? why : "-");
	}
	db_reset(st);
	if (rc != DB_DONE)
		return sq_fail(s, error, "reporting sends");
	st = sq_prep(s, "SELECT count(*), sum(state = 'failed') FROM mailops WHERE state != "
		     "'done'", error);
	if (!st)
		return false;
	if (db_step(st) == DB_ROW && db_col_int64(st, 0) > 0)
		g_string_append_printf(out, "Mailbox notes and keywords not yet done: %lld (%lld "
				       "failed)\n", db_col_int64(st, 0),
				       db_col_int64(st, 1));
	db_reset(st);
	return true;
}
