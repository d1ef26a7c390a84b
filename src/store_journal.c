/* store_journal: the custody journal (journal.h), an append-only hash chain.
 *
 * Design rationale:
 * - The entry is written by the store function that makes its event true, inside that
 *   function's transaction: the event and its entry commit together or not at all, and
 *   the write lock of BEGIN IMMEDIATE orders the entries (the previous hash is read in
 *   the same transaction, so two processes cannot both chain onto the same entry).
 *   Within one write transaction the last entry is the one this connection added last,
 *   no other writer running until it ends: the next one chains onto it from memory (a
 *   batch of webhook bodies reads the journal once, not once a body: a round trip each
 *   on PostgreSQL).
 * - The id is part of the hashed form, so an entry moved to another place or a gap left
 *   by a deleted one shows: the next entry's prev no longer matches.
 * - Verification reads the whole chain in one statement, a consistent snapshot under WAL,
 *   and hashes the bytes exactly as stored (sqlite3_column_bytes), so a text that
 *   someone wrote with a NUL in it through the sqlite3 shell is still checked whole. */
#include "journal.h"
#include "store-priv.h"
#include "util.h"

#include <string.h>

static void netstring(GString *g, const char *x, size_t len)
{
	g_string_append_printf(g, "%zu:", len);
	g_string_append_len(g, x, (gssize)len);
	g_string_append_c(g, ',');
}

static void netstring_num(GString *g, int64_t v)
{
	char num[32];
	int len = g_snprintf(num, sizeof num, "%" G_GINT64_FORMAT, (gint64)v);
	netstring(g, num, (size_t)len);
}

GString *wb_journal_canonical(int64_t id, gint64 at, const char *kind, const char *ref,
			      size_t ref_len, const char *subject, size_t subject_len,
			      const char *detail, size_t detail_len, const char *prev)
{
	GString *g = g_string_sized_new(128 + ref_len + subject_len + detail_len);
	g_string_append(g, "wabridge-journal-1\n");
	netstring_num(g, id);
	netstring_num(g, at);
	netstring(g, kind, strlen(kind));
	if (ref)
		netstring(g, ref, ref_len);
	else
		g_string_append(g, "N,");
	netstring(g, subject, subject_len);
	netstring(g, detail, detail_len);
	netstring(g, prev, strlen(prev));
	return g;
}

static char *entry_hash(int64_t id, gint64 at, const char *kind, const char *ref,
			size_t ref_len, const char *subject, size_t subject_len,
			const char *detail, size_t detail_len, const char *prev)
{
	g_autoptr(GString) g = wb_journal_canonical(id, at, kind, ref, ref_len, subject,
						    subject_len, detail, detail_len, prev);
	return wb_sha256_hex(g->str, g->len);
}

/* The entries being added, with their ids and hashes, for db_step_each(). */
struct adding {
	const struct sq_journal_entry *e;
	int64_t id0;
	gint64 at;
	char **prev, **hash;
};

static void bind_entry(db_stmt *st, size_t i, void *data)
{
	const struct adding *a = data;
	db_bind_int64(st, 1, a->id0 + (int64_t)i);
	db_bind_int64(st, 2, a->at);
	sq_bind_text(st, 3, a->e[i].kind);
	sq_bind_text(st, 4, a->e[i].ref);
	sq_bind_text(st, 5, a->e[i].subject);
	sq_bind_text(st, 6, a->e[i].detail);
	sq_bind_text(st, 7, a->prev[i]);
	sq_bind_text(st, 8, a->hash[i]);
}

bool sq_journal_add_many(struct wb_store *s, const struct sq_journal_entry *e, size_t n,
			 GError **error)
{
	if (n == 0)
		return true;
	if (!db_in_txn(s->db)) {
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "state database %s: a journal "
			    "entry (%s) outside the transaction of its event", s->path, e[0].kind);
		return false;
	}
	uint64_t txn = db_write_txn(s->db);
	struct adding a = { .e = e, .prev = g_new0(char *, n + 1), .hash = g_new0(char *, n) };
	db_stmt *st;
	bool ok = true;
	if (txn != 0 && txn == s->journal_txn && s->journal_hash) {
		a.id0 = s->journal_last + 1;
		a.prev[0] = g_strdup(s->journal_hash);
	} else {
		st = sq_prep(s, "SELECT id, hash FROM journal ORDER BY id DESC LIMIT 1", error);
		int rc = st ? db_step(st) : DB_ERROR;
		a.id0 = rc == DB_ROW ? db_col_int64(st, 0) + 1 : 1;
		a.prev[0] = rc == DB_ROW ? sq_col_text(st, 1) : NULL;
		if (st)
			db_reset(st);
		if (!a.prev[0])
			a.prev[0] = g_strdup(WB_JOURNAL_GENESIS);
		if (st && rc != DB_ROW && rc != DB_DONE)
			ok = sq_fail(s, error, "reading the journal's last entry");
		ok = ok && st;
	}
	a.at = wb_now();
	for (size_t i = 0; ok && i < n; i++) {
		a.hash[i] = entry_hash(a.id0 + (int64_t)i, a.at, e[i].kind, e[i].ref,
				       e[i].ref ? strlen(e[i].ref) : 0, e[i].subject,
				       strlen(e[i].subject), e[i].detail, strlen(e[i].detail),
				       a.prev[i]);
		a.prev[i + 1] = a.hash[i];
	}
	if (ok) {
		st = sq_prep(s, "INSERT INTO journal (id, at, kind, ref, subject, detail, prev, "
			     "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", error);
		ok = st && (db_step_each(st, n, bind_entry, NULL, &a) ||
			    sq_fail(s, error, "adding a journal entry"));
	}
	if (ok) {
		s->journal_last = a.id0 + (int64_t)n - 1;
		s->journal_txn = txn;
		g_free(s->journal_hash);
		s->journal_hash = g_strdup(a.hash[n - 1]);
	}
	g_free(a.prev[0]); /* the others are the hashes */
	for (size_t i = 0; i < n; i++)
		g_free(a.hash[i]);
	g_free(a.prev);
	g_free(a.hash);
	return ok;
}

bool wb_store_journal_add(struct wb_store *s, const char *kind, const char *ref,
			  const char *subject, const char *detail, GError **error)
{
	struct sq_journal_entry e = { kind, ref, subject, detail };
	return sq_journal_add_many(s, &e, 1, error);
}

void wb_journal_check_clear(struct wb_journal_check *c)
{
	g_clear_pointer(&c->bad_kind, g_free);
	g_clear_pointer(&c->why, g_free);
}

/* A text column's bytes as stored (NULL for NULL; "" stands in for an empty text). */
static const char *col_bytes(db_stmt *st, int col, size_t *len)
{
	const char *t = (const char *)db_col_text(st, col);
	*len = t ? (size_t)db_col_bytes(st, col) : 0;
	return t;
}

/* Does row (id, …) fit after the entry whose id and hash were last_id and expect? Sets
 * out->why when not. */
static bool entry_fits(db_stmt *st, int64_t last_id, const char *expect,
		       struct wb_journal_check *out)
{
	int64_t id = db_col_int64(st, 0);
	size_t kl, rl, sl, dl, pl, hl;
	const char *kind = col_bytes(st, 2, &kl), *ref = col_bytes(st, 3, &rl);
	const char *subject = col_bytes(st, 4, &sl), *detail = col_bytes(st, 5, &dl);
	const char *prev = col_bytes(st, 6, &pl), *hash = col_bytes(st, 7, &hl);
	g_autofree char *want = entry_hash(id, db_col_int64(st, 1), kind ? kind : "",
					   ref, rl, subject ? subject : "", sl,
					   detail ? detail : "", dl, prev ? prev : "");
	if (!hash || strcmp(hash, want) != 0)
		out->why = g_strdup("its hash does not match its contents: the entry was "
				    "altered");
	else if (!prev || strcmp(prev, expect) != 0)
		out->why = id != last_id + 1
			? g_strdup_printf("its prev does not match the hash of entry %" G_GINT64_FORMAT
					  ": entries %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT
					  " are missing (deleted)", last_id, last_id + 1, id - 1)
			: g_strdup_printf("its prev does not match the hash of entry %" G_GINT64_FORMAT
					  ": the chain was rewritten or an entry replaced", last_id);
	return out->why == NULL;
}

bool wb_store_journal_verify(struct wb_store *s, struct wb_journal_check *out, GError **error)
{
	memset(out, 0, sizeof *out);
	g_strlcpy(out->head, WB_JOURNAL_GENESIS, sizeof out->head);
	db_stmt *st = sq_prep(s, "SELECT id, at, kind, ref, subject, detail, prev, hash "
				   "FROM journal ORDER BY id", error);
	if (!st)
		return false;
	int64_t last_id = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		out->checked++;
		if (!entry_fits(st, last_id, out->head, out)) {
			out->bad_id = db_col_int64(st, 0);
			out->bad_at = db_col_int64(st, 1);
			out->bad_kind = sq_col_text(st, 2);
			break;
		}
		last_id = db_col_int64(st, 0);
		g_strlcpy(out->head, (const char *)db_col_text(st, 7), sizeof out->head);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return sq_fail(s, error, "reading the journal");
	return true;
}

bool wb_store_journal_show(struct wb_store *s, const char *ref, int limit, GString *out,
			   unsigned *n, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id, at, kind, ref, subject, detail FROM (SELECT * "
				   "FROM journal WHERE ?1 IS NULL OR ref = ?1 ORDER BY id DESC "
				   "LIMIT ?2) AS recent ORDER BY id", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, ref);
	db_bind_int64(st, 2, limit > 0 ? limit : G_MAXINT64);
	*n = 0;
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		g_autofree char *at = sq_time_text(db_col_int64(st, 1));
		g_autofree char *kind = sq_shown(st, 2), *eref = sq_shown(st, 3);
		g_autofree char *subject = sq_shown(st, 4), *detail = sq_shown(st, 5);
		g_string_append_printf(out, "%" G_GINT64_FORMAT "  %s  %s  %s  %s  %s\n",
				       (gint64)db_col_int64(st, 0), at, kind,
				       *eref ? eref : "-", subject, detail);
		(*n)++;
	}
	db_reset(st);
	return rc == DB_DONE || sq_fail(s, error, "reading the journal");
}

bool wb_journal_add_by(struct wb_store *s, const char *ref_sql, int64_t id, const char *kind,
		       const char *subject, const char *detail, GError **error)
{
	db_stmt *st = sq_prep(s, ref_sql, error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	g_autofree char *ref = rc == DB_ROW ? sq_col_text(st, 0) : NULL;
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return sq_fail(s, error, "finding a journal entry's complaint");
	return wb_store_journal_add(s, kind, ref, subject, detail, error);
}

bool wb_store_journal_head(struct wb_store *s, struct wb_journal_head *out, GError **error)
{
	memset(out, 0, sizeof *out);
	g_strlcpy(out->hash, WB_JOURNAL_GENESIS, sizeof out->hash);
	db_stmt *st = sq_prep(s, "SELECT id, at, hash, (SELECT count(*) FROM journal) "
				   "FROM journal ORDER BY id DESC LIMIT 1", error);
	if (!st)
		return false;
	int rc = db_step(st);
	if (rc == DB_ROW) {
		out->id = db_col_int64(st, 0);
		out->at = db_col_int64(st, 1);
		const char *h = (const char *)db_col_text(st, 2);
		g_strlcpy(out->hash, h ? h : "", sizeof out->hash);
		out->count = db_col_int64(st, 3);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "reading the "
								 "journal's last entry");
}

bool wb_store_journal_last(struct wb_store *s, const char *kind, int64_t *id, gint64 *at,
			   GError **error)
{
	*id = 0;
	*at = 0;
	db_stmt *st = sq_prep(s, "SELECT id, at FROM journal WHERE kind = ?1 ORDER BY id "
				   "DESC LIMIT 1", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, kind);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		*id = db_col_int64(st, 0);
		*at = db_col_int64(st, 1);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "reading the "
								 "journal");
}

int wb_store_journal_entry(struct wb_store *s, int64_t id, char **stored, char **computed,
			   int64_t *max, GError **error)
{
	*stored = *computed = NULL;
	*max = 0;
	db_stmt *st = sq_prep(s, "SELECT id, at, kind, ref, subject, detail, prev, hash "
				   "FROM journal WHERE id = ?1", error);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		size_t kl, rl, sl, dl, pl, hl;
		const char *kind = col_bytes(st, 2, &kl), *ref = col_bytes(st, 3, &rl);
		const char *subject = col_bytes(st, 4, &sl), *detail = col_bytes(st, 5, &dl);
		const char *prev = col_bytes(st, 6, &pl), *hash = col_bytes(st, 7, &hl);
		*computed = entry_hash(id, db_col_int64(st, 1), kind ? kind : "", ref, rl,
				       subject ? subject : "", sl, detail ? detail : "", dl,
				       prev ? prev : "");
		*stored = g_strndup(hash ? hash : "", hl);
	}
	db_reset(st);
	if (rc == DB_ROW)
		return 1;
	if (rc != DB_DONE) {
		sq_fail(s, error, "reading a journal entry");
		return -1;
	}
	struct wb_journal_head head;
	if (!wb_store_journal_head(s, &head, error))
		return -1;
	*max = head.id;
	return 0;
}

bool wb_store_journal_anchor(struct wb_store *s, const char *head, const char *detail,
			     gint64 not_since, bool *added, GError **error)
{
	*added = false;
	if (!sq_begin(s, error))
		return false;
	int64_t last_id;
	gint64 last_at;
	if (!wb_store_journal_last(s, "anchor", &last_id, &last_at, error))
		return sq_rollback(s);
	if (not_since > 0 && last_id && last_at >= not_since)
		return sq_commit(s, error);
	if (!wb_store_journal_add(s, "anchor", NULL, head, detail, error))
		return sq_rollback(s);
	if (!sq_commit(s, error))
		return false;
	*added = true;
	return true;
}

void wb_journal_entry_free(gpointer p)
{
	struct wb_journal_entry *e = p;
	if (!e)
		return;
	g_free(e->kind);
	g_free(e->ref);
	g_free(e->subject);
	g_free(e->detail);
	g_free(e->prev);
	g_free(e->hash);
	g_free(e);
}

struct wb_journal_entry *wb_store_journal_get(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id, at, kind, ref, subject, detail, prev, hash "
				   "FROM journal WHERE id = ?1", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, id);
	int rc = db_step(st);
	struct wb_journal_entry *e = NULL;
	if (rc == DB_ROW) {
		e = g_new0(struct wb_journal_entry, 1);
		e->id = db_col_int64(st, 0);
		e->at = db_col_int64(st, 1);
		e->kind = sq_col_text(st, 2);
		e->ref = sq_col_text(st, 3);
		e->subject = sq_col_text(st, 4);
		e->detail = sq_col_text(st, 5);
		e->prev = sq_col_text(st, 6);
		e->hash = sq_col_text(st, 7);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		sq_fail(s, error, "reading a journal entry");
	return e;
}

bool wb_store_journal_ids_of(struct wb_store *s, const char *ref, GArray *ids, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id FROM journal WHERE ref = ?1 ORDER BY id", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, ref);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		int64_t id = db_col_int64(st, 0);
		g_array_append_val(ids, id);
	}
	db_reset(st);
	return rc == DB_DONE || sq_fail(s, error, "reading the journal");
}
