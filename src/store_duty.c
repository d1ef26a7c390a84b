/* store_duty: the rows behind the station's duty (duty.h): which complaints need a look,
 * what a complaint's clock stands at, the duties that fired, and the mail the bridge
 * sends by SMTP.
 *
 * Design rationale: a duty fires exactly once because its row (UNIQUE per station,
 * complaint, kind and key) is inserted in the same transaction as everything it causes
 * (the WhatsApp send, the notes and keywords for the mailbox, the escalation mail). A
 * second process, or the same one after a crash, that decides the same finds the row
 * there and its whole transaction changes nothing. Which complaints to look at is kept
 * in complaints.duty_at (the next time anything can be due, 0 when a message came), so
 * a pass reads only those, through an index, however many complaints are open. */
#include "store.h"
#include "store-priv.h"
#include "journal.h"
#include "util.h"

#include <string.h>
#include <unistd.h>

void wb_duty_case_free(struct wb_duty_case *c)
{
	if (!c)
		return;
	g_free(c->ref);
	g_free(c->station);
	g_free(c->citizen);
	g_free(c->first_wamid);
	g_free(c->root);
	g_free(c->number);
	g_free(c->serious);
	g_free(c->profile_name);
	g_free(c->escalate_by);
	g_free(c->escalate_text);
	g_strfreev(c->done);
	g_free(c);
}

GArray *wb_store_duty_due(struct wb_store *s, gint64 now, unsigned max, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id FROM complaints WHERE state = 'open' AND "
				   "duty_at <= ?1 ORDER BY duty_at, id LIMIT ?2", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, max);
	return sq_step_ids(s, st, "finding complaints whose duty is due", error);
}

/* The state of the complaint's number: 2 delivered (or read), 1 sent to the citizen but
 * not yet confirmed delivered, 0 not sent. *at: when it was delivered. */
static bool number_state(struct wb_store *s, int64_t id, int *state, gint64 *at,
			 GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT max(CASE WHEN o.state IN ('delivered', 'read', 'played') THEN 2 "
		"WHEN o.state IN ('accepted', 'sent') THEN 1 ELSE 0 END), "
		"min(CASE WHEN o.state IN ('delivered', 'read', 'played') THEN coalesce((SELECT "
		"min(x.ts) FROM statuses x WHERE x.wamid = o.wamid AND x.status IN ('delivered', "
		"'read', 'played')), o.updated_at) END) "
		"FROM outbox o JOIN replies r ON r.id = o.reply_id "
		"WHERE o.complaint_id = ?1 AND r.number IS NOT NULL", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	*state = rc == DB_ROW ? db_col_int(st, 0) : 0;
	*at = rc == DB_ROW ? db_col_int64(st, 1) : 0;
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ||
	       sq_fail(s, error, "reading whether the number was delivered");
}

static char **duties_done(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT kind FROM duties WHERE complaint_id = ?1 "
				   "ORDER BY id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, id);
	GStrvBuilder *b = g_strv_builder_new();
	int rc;
	while ((rc = db_step(st)) == DB_ROW)
		g_strv_builder_add(b, (const char *)db_col_text(st, 0));
	db_reset(st);
	char **out = g_strv_builder_end(b);
	g_strv_builder_unref(b);
	if (rc != DB_DONE) {
		g_strfreev(out);
		sq_fail(s, error, "reading a complaint's duties");
		return NULL;
	}
	return out;
}

struct wb_duty_case *wb_store_duty_case(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT c.id, c.ref, c.station, c.citizen, c.first_wamid, c.number, c.serious, "
		"c.opened_at, c.escalated_at, c.scanned_msg, c.state, "
		"(SELECT max(m.ts) FROM messages m WHERE m.complaint_id = c.id), "
		"(SELECT count(*) FROM messages m WHERE m.complaint_id = c.id AND m.type IN "
		"('image', 'document')), "
		"(SELECT m.profile_name FROM messages m WHERE m.complaint_id = c.id AND "
		"m.profile_name IS NOT NULL ORDER BY m.id DESC LIMIT 1), r.sender, r.text, "
		"coalesce(c.root, c.first_wamid) "
		"FROM complaints c LEFT JOIN replies r ON r.id = (SELECT min(x.id) FROM replies x "
		"WHERE x.complaint_id = c.id AND x.state = 'accepted' AND x.tags LIKE "
		"'%#escalate%') WHERE c.id = ?1", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		if (rc == DB_DONE)
			g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND,
				    "no complaint %" G_GINT64_FORMAT, id);
		else
			sq_fail(s, error, "reading a complaint's duty");
		return NULL;
	}
	struct wb_duty_case *c = g_new0(struct wb_duty_case, 1);
	c->id = db_col_int64(st, 0);
	c->ref = sq_col_text(st, 1);
	c->station = sq_col_text(st, 2);
	c->citizen = sq_col_text(st, 3);
	c->first_wamid = sq_col_text(st, 4);
	c->number = sq_col_text(st, 5);
	c->serious = sq_col_text(st, 6);
	c->opened_at = db_col_int64(st, 7);
	c->escalated_at = db_col_int64(st, 8);
	c->scanned_msg = db_col_int64(st, 9);
	c->open = strcmp((const char *)db_col_text(st, 10), "open") == 0;
	c->last_inbound = db_col_int64(st, 11);
	c->has_paper = db_col_int64(st, 12) > 0;
	c->profile_name = sq_col_text(st, 13);
	c->escalate_by = sq_col_text(st, 14);
	c->escalate_text = sq_col_text(st, 15);
	c->root = sq_col_text(st, 16);
	db_reset(st);
	int ns = 0;
	if (!number_state(s, id, &ns, &c->delivered_at, error) ||
	    !(c->done = duties_done(s, id, error))) {
		wb_duty_case_free(c);
		return NULL;
	}
	c->number_sent = ns >= 1;
	c->number_delivered = ns == 2;
	return c;
}

GArray *wb_store_open_ids(struct wb_store *s, GError **error)
{
	return sq_ids(s, "SELECT id FROM complaints WHERE state = 'open' ORDER BY station, "
		      "opened_at, id", "listing open complaints", error);
}

GArray *wb_store_station_open(struct wb_store *s, const char *station, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id FROM complaints WHERE station = ?1 AND state = "
				   "'open' ORDER BY opened_at, id", error);
	if (!st)
		return NULL;
	sq_bind_text(st, 1, station);
	return sq_step_ids(s, st, "listing a station's open complaints", error);
}

bool wb_duty_case_has(const struct wb_duty_case *c, const char *kind)
{
	return c->done && g_strv_contains((const char *const *)c->done, kind);
}

void wb_store_msg_text_free(gpointer p)
{
	struct wb_store_msg_text *m = p;
	g_free(m->type);
	g_free(m->json);
	g_free(m->held_by);
	g_free(m->message_id);
	if (m->mail)
		g_bytes_unref(m->mail);
	g_free(m);
}

GPtrArray *wb_store_complaint_texts(struct wb_store *s, int64_t complaint_id, int64_t after,
				    bool with_mail, GError **error)
{
	/* Two statements: the scan of every new message (without mail) must not pay for
	 * finding where each mail went. */
	db_stmt *st = with_mail
		? sq_prep(s, "SELECT m.id, m.ts, m.type, m.json, (SELECT mail FROM rendered WHERE "
			  "msg = m.id), d.station, d.message_id FROM messages m LEFT JOIN "
			  "deliveries d ON d.id = (SELECT max(x.id) FROM deliveries x WHERE x.msg "
			  "= m.id) WHERE m.complaint_id = ?1 AND m.id > ?2 AND ?3 <> 0 ORDER BY m.ts, "
			  "m.id", error)
		: sq_prep(s, "SELECT id, ts, type, json, NULL, NULL, NULL FROM messages WHERE "
			  "complaint_id = ?1 AND id > ?2 AND ?3 = 0 ORDER BY ts, id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, complaint_id);
	db_bind_int64(st, 2, after);
	db_bind_int64(st, 3, with_mail);
	GPtrArray *out = g_ptr_array_new_with_free_func(wb_store_msg_text_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct wb_store_msg_text *m = g_new0(struct wb_store_msg_text, 1);
		m->id = db_col_int64(st, 0);
		m->ts = db_col_int64(st, 1);
		m->type = sq_col_text(st, 2);
		m->json = sq_col_text(st, 3);
		if (db_col_type(st, 4) == DB_BLOB)
			m->mail = g_bytes_new(db_col_blob(st, 4),
					      (gsize)db_col_bytes(st, 4));
		m->held_by = sq_col_text(st, 5);
		m->message_id = sq_col_text(st, 6);
		g_ptr_array_add(out, m);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		g_ptr_array_unref(out);
		sq_fail(s, error, "reading a complaint's messages");
		return NULL;
	}
	return out;
}

static bool add_mailouts(struct wb_store *s, int64_t duty_id, const struct wb_duty_in *in,
			 gint64 now, GError **error)
{
	for (size_t i = 0; i < in->n_mails; i++) {
		const struct wb_mailout_in *m = &in->mails[i];
		db_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO mailout (duty_id, complaint_id, "
					   "station, kind, message_id, rcpts, mail, created_at, "
					   "updated_at) VALUES (?1, nullif(?2, 0), ?3, ?4, ?5, ?6, ?7, "
					   "?8, ?8)", error);
		if (!st)
			return false;
		db_bind_int64(st, 1, duty_id);
		db_bind_int64(st, 2, in->complaint_id);
		sq_bind_text(st, 3, in->station);
		sq_bind_text(st, 4, m->kind);
		sq_bind_text(st, 5, m->message_id);
		g_autofree char *rcpts = g_strjoinv(",", (char **)m->rcpts);
		sq_bind_text(st, 6, rcpts);
		gsize len;
		const void *data = g_bytes_get_data(m->mail, &len);
		db_bind_blob(st, 7, len ? data : "", len);
		db_bind_int64(st, 8, now);
		if (!sq_step_done(s, st, error, "queueing a mail to send"))
			return false;
		if (db_changes(s->db) == 1)
			g_message("mail %s (%s) to %s queued", m->message_id, m->kind, rcpts);
	}
	return true;
}

bool wb_store_duty_fire(struct wb_store *s, const struct wb_duty_in *in, bool *fired,
			GError **error)
{
	*fired = false;
	gint64 now = wb_now();
	if (!sq_begin(s, error))
		return false;
	/* A complaint's duty is its own wherever it is now: one that fired before a
	 * transfer does not fire again at the new station. */
	db_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO duties (complaint_id, station, kind, "
				   "key, at, detail) SELECT ?1, ?2, ?3, coalesce(?4, ''), ?5, ?6 "
				   "WHERE ?1 = 0 OR NOT EXISTS (SELECT 1 FROM duties WHERE "
				   "complaint_id = ?1 AND kind = ?3 AND key = coalesce(?4, ''))",
				   error);
	if (!st)
		return sq_rollback(s);
	db_bind_int64(st, 1, in->complaint_id);
	sq_bind_text(st, 2, in->station);
	sq_bind_text(st, 3, in->kind);
	sq_bind_text(st, 4, in->key);
	db_bind_int64(st, 5, now);
	sq_bind_text(st, 6, in->detail);
	if (!sq_step_done(s, st, error, "recording a duty"))
		return sq_rollback(s);
	if (db_changes(s->db) == 0) /* fired before, by this process or another */
		return sq_commit(s, error);
	int64_t duty_id = db_last_id(s->db);
	g_autofree char *subject = g_strdup_printf("%s%s%s", in->kind, in->key ? " " : "",
						   in->key ? in->key : "");
	g_autofree char *jd = g_strdup_printf("station %s%s%s%s", in->station,
		in->detail ? ": " : "", in->detail ? in->detail : "",
		in->escalate || in->serious ? " (escalated)" : "");
	if (!wb_store_journal_add(s, "duty", in->ref, subject, jd, error))
		return sq_rollback(s);
	if (in->serious || in->escalate) {
		st = sq_prep(s, "UPDATE complaints SET serious = coalesce(?2, serious), "
			     "escalated_at = coalesce(escalated_at, ?3) WHERE id = ?1", error);
		if (!st)
			return sq_rollback(s);
		db_bind_int64(st, 1, in->complaint_id);
		sq_bind_text(st, 2, in->serious);
		db_bind_int64(st, 3, now);
		if (!sq_step_done(s, st, error, "marking a complaint escalated"))
			return sq_rollback(s);
	}
	if ((in->send && !wb_store_queue_send(s, 0, in->complaint_id, in->purpose, in->send,
					      error)) ||
	    !wb_store_queue_mailops(s, in->ops, in->n_ops, error) ||
	    !add_mailouts(s, duty_id, in, now, error))
		return sq_rollback(s);
	if (!sq_commit(s, error))
		return false;
	*fired = true;
	g_message("duty %s%s%s of %s fired%s%s", in->kind, in->key ? " " : "",
		  in->key ? in->key : "", in->ref ? in->ref : in->station,
		  in->detail ? ": " : "", in->detail ? in->detail : "");
	return true;
}

bool wb_store_duty_next(struct wb_store *s, const struct wb_duty_next *items, size_t n,
			GError **error)
{
	if (!n)
		return true;
	if (!sq_begin(s, error))
		return false;
	for (size_t i = 0; i < n; i++) {
		db_stmt *st = sq_prep(s, "UPDATE complaints SET duty_at = CASE WHEN duty_at = 0 "
					   "AND scanned_msg < (SELECT coalesce(max(id), 0) FROM "
					   "messages WHERE complaint_id = ?1 AND id > ?3) THEN 0 ELSE "
					   "?2 END, scanned_msg = max(scanned_msg, ?3) WHERE id = ?1",
					   error);
		if (!st)
			return sq_rollback(s);
		db_bind_int64(st, 1, items[i].complaint_id);
		db_bind_int64(st, 2, items[i].duty_at);
		db_bind_int64(st, 3, items[i].scanned_msg);
		if (!sq_step_done(s, st, error, "scheduling a complaint's duty"))
			return sq_rollback(s);
	}
	return sq_commit(s, error);
}

bool wb_store_duty_soonest(struct wb_store *s, gint64 *soonest, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT min(duty_at) FROM complaints WHERE state = 'open' "
				   "AND duty_at < ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, G_MAXINT64);
	int rc = db_step(st);
	*soonest = rc == DB_ROW ? db_col_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW || sq_fail(s, error, "reading when duty is next due");
}

GHashTable *wb_store_digests_on(struct wb_store *s, const char *date, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT station FROM duties WHERE complaint_id = 0 AND "
				   "kind = 'digest' AND key = ?1", error);
	if (!st)
		return NULL;
	sq_bind_text(st, 1, date);
	GHashTable *out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	int rc;
	while ((rc = db_step(st)) == DB_ROW)
		g_hash_table_add(out, sq_col_text(st, 0));
	db_reset(st);
	if (rc != DB_DONE) {
		g_hash_table_unref(out);
		sq_fail(s, error, "reading the day's digests");
		return NULL;
	}
	return out;
}

/* ---- mail sent by SMTP --------------------------------------------------------------- */

void wb_mailout_free(struct wb_mailout *m)
{
	if (!m)
		return;
	g_free(m->station);
	g_free(m->kind);
	g_free(m->message_id);
	g_strfreev(m->rcpts);
	if (m->mail)
		g_bytes_unref(m->mail);
	g_free(m);
}

struct wb_mailout *wb_store_mailout_take(struct wb_store *s, gint64 now, GError **error)
{
	if (!sq_begin_claim(s, error))
		return NULL;
	db_stmt *st = sq_prep(s, "SELECT id, station, kind, message_id, rcpts, mail, "
				   "attempts, created_at, claim_by, coalesce(complaint_id, 0), "
				   "lease_until FROM mailout WHERE state = 'pending' AND next_at <= ?1 "
				   "AND " WB_CLAIMABLE " ORDER BY next_at, id LIMIT 1" WB_SKIP_LOCKED,
				   error);
	if (!st) {
		sq_rollback(s);
		return NULL;
	}
	db_bind_int64(st, 1, now);
	sq_bind_text(st, 2, wb_bridge_id());
	struct wb_mailout *m = NULL;
	int rc;
	while (!m && (rc = db_step(st)) == DB_ROW) {
		if (wb_claim_held(db_col_text(st, 8), db_col_int64(st, 10), now))
			continue;
		m = g_new0(struct wb_mailout, 1);
		m->id = db_col_int64(st, 0);
		m->station = sq_col_text(st, 1);
		m->kind = sq_col_text(st, 2);
		m->message_id = sq_col_text(st, 3);
		g_autofree char *rcpts = sq_col_text(st, 4);
		m->rcpts = g_strsplit(rcpts ? rcpts : "", ",", -1);
		m->mail = g_bytes_new(db_col_blob(st, 5), (gsize)db_col_bytes(st, 5));
		m->attempts = db_col_int(st, 6);
		m->created_at = db_col_int64(st, 7);
		m->complaint_id = db_col_int64(st, 9);
	}
	db_reset(st);
	if (!m) {
		if (rc != DB_DONE)
			sq_fail(s, error, "finding mail to send");
		sq_rollback(s);
		return NULL;
	}
	st = sq_prep(s, "UPDATE mailout SET claim_by = ?2, lease_until = ?3 WHERE id = ?1", error);
	if (!st) {
		sq_rollback(s);
		wb_mailout_free(m);
		return NULL;
	}
	db_bind_int64(st, 1, m->id);
	sq_bind_text(st, 2, wb_bridge_id());
	db_bind_int64(st, 3, now + wb_lease_seconds());
	if (!sq_step_done(s, st, error, "claiming a mail to send") || !sq_commit(s, error)) {
		sq_rollback(s);
		wb_mailout_free(m);
		return NULL;
	}
	return m;
}

bool wb_store_mailout_set(struct wb_store *s, int64_t id, const char *state, const char *detail,
			  gint64 next_at, GError **error)
{
	db_stmt *st = sq_prep(s, "UPDATE mailout SET state = ?2, last_error = ?3, "
				   "next_at = ?4, attempts = attempts + 1, claim_by = NULL, "
				   "updated_at = ?5 WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, state);
	sq_bind_text(st, 3, detail);
	db_bind_int64(st, 4, next_at);
	db_bind_int64(st, 5, wb_now());
	return sq_step_done(s, st, error, "recording a mail's outcome");
}

bool wb_store_mailout_pending(struct wb_store *s, unsigned *count, gint64 *soonest,
			      GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT count(*), min(next_at) FROM mailout WHERE state = "
				   "'pending'", error);
	if (!st)
		return false;
	int rc = db_step(st);
	*count = rc == DB_ROW ? (unsigned)db_col_int64(st, 0) : 0;
	*soonest = rc == DB_ROW ? db_col_int64(st, 1) : 0;
	db_reset(st);
	return rc == DB_ROW || sq_fail(s, error, "counting mail to send");
}

bool wb_store_duty_report(struct wb_store *s, GString *out, GError **error)
{
	if (!sq_count_line(s, out, "Duties kept", "SELECT kind, count(*) FROM duties GROUP BY "
			   "kind ORDER BY kind", error) ||
	    !sq_count_line(s, out, "Mail to superiors", "SELECT CASE state WHEN 'pending' THEN "
			   "'waiting' ELSE state END, count(*) FROM mailout GROUP BY state "
			   "ORDER BY state", error))
		return false;
	db_stmt *st = sq_prep(s, "SELECT m.id, m.kind, coalesce(c.ref, m.station), m.rcpts, "
				   "m.state, m.attempts, m.last_error FROM mailout m LEFT JOIN "
				   "complaints c ON c.id = m.complaint_id WHERE m.state != 'sent' "
				   "ORDER BY m.id DESC LIMIT 20", error);
	if (!st)
		return false;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		g_autofree char *ref = sq_shown(st, 2), *rcpts = sq_shown(st, 3);
		g_autofree char *why = sq_shown(st, 6);
		const char *state = (const char *)db_col_text(st, 4);
		g_string_append_printf(out, "  mail %lld  %s for %s to %s  %s after %d attempt%s: "
				       "%s\n", db_col_int64(st, 0), db_col_text(st, 1),
				       ref, rcpts, strcmp(state, "pending") == 0 ? "waiting" : state,
				       db_col_int(st, 5),
				       db_col_int(st, 5) == 1 ? "" : "s", *why ? why : "-");
	}
	db_reset(st);
	return rc == DB_DONE || sq_fail(s, error, "reporting mail to superiors");
}
