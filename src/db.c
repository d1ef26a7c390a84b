/* db: SQLite and PostgreSQL behind one interface (see include/db.h).
 *
 * Design rationale:
 * - SQLite's own calls, one for one: the interface is shaped after them, so the store's
 *   code reads as it did and costs nothing more on the embedded default.
 * - PostgreSQL: each statement is prepared on the server once per connection (named
 *   "wN"), with the types its first use bound (whole numbers int8, blobs bytea, text
 *   and NULL left for the server to infer from the SQL), then executed with every value
 *   but blobs sent as text, so a later use binding a number where the first bound NULL
 *   still fits. Results come back as text (bytea as hex, decoded when read).
 * - Write transactions take one advisory lock (DB_LOCK_KEY) until their end: the
 *   store's transactions were written for SQLite, where one writer runs at a time, and
 *   the custody journal's hash chain needs exactly that. Waiting for it ends after
 *   lock_timeout (ten seconds, as SQLite's busy wait) with a conflict worth retrying.
 * - A connection that broke (a restarted server, a standby promoted behind the same
 *   address) is opened again at the next statement outside a transaction; statements are
 *   prepared again on the new one.
 * - Round trips are what a write transaction costs on PostgreSQL (each wakes the
 *   server's process, and the write lock is held meanwhile): db_step_each() sends one
 *   statement for many parameter sets in libpq's pipeline mode, and a NOTIFY goes with
 *   the COMMIT. A batch of webhook bodies takes five round trips, not four a body. */
#include "db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The advisory lock every write transaction holds: "wabr" in ASCII. */
#define DB_LOCK_KEY "2002870642"

/* PostgreSQL's type OIDs (catalog/pg_type.h, stable since forever). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define OID_TEXT 25

struct wb_db {
	bool pg;
	char *name;
	GHashTable *stmts; /* const char *sql -> db_stmt * */
	/* SQLite */
	sqlite3 *lite;
	/* PostgreSQL */
	PGconn *conn;
	unsigned gen;   /* bumped at every (re)connection: statements prepare again */
	unsigned next_name;
	bool txn;
	char *notify; /* NOTIFY of this channel, sent with this transaction's COMMIT */
	int64_t changes;
	char *err;
	bool err_busy;
	/* both */
	uint64_t txns;      /* db_begin() transactions begun */
	uint64_t write_txn; /* the current one's number, 0 when none (db_write_txn) */
};

struct db_stmt {
	struct wb_db *db;
	const char *sql;
	sqlite3_stmt *lite;
	/* PostgreSQL */
	char *pgsql;
	int nparams;
	GArray *used; /* gboolean per parameter: does the SQL name it? */
	char name[16];
	unsigned prepared_gen; /* 0: not prepared on this connection */
	char **values;
	int *lengths, *formats;
	Oid *types;
	bool *owned;
	char (*nums)[24];
	PGresult *res;
	int row, nrows;
	unsigned char **blobs; /* decoded bytea of the current row, per column */
	size_t *bloblen;
	int ncols;
};

/* ---- helpers -------------------------------------------------------------------------- */

bool db_location_is_pg(const char *location)
{
	if (!location)
		return false;
	return g_str_has_prefix(location, "postgresql://") ||
	       g_str_has_prefix(location, "postgres://") ||
	       (strstr(location, "dbname=") != NULL && strchr(location, '/') == NULL);
}

static void pg_set_error(struct wb_db *db, const PGresult *res, const char *fallback)
{
	g_free(db->err);
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = db->conn ? PQerrorMessage(db->conn) : NULL;
	if (!msg || !*msg)
		msg = fallback;
	db->err = g_strstrip(g_strdup(msg));
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	db->err_busy = (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
				  strcmp(state, "55P03") == 0 || g_str_has_prefix(state, "08"))) ||
		       (db->conn && PQstatus(db->conn) == CONNECTION_BAD);
}

/* postgresql://user:secret@host/db -> postgresql://user:***@host/db */
char *db_shown_location(const char *location)
{
	GRegex *re = g_regex_new("^([a-z]+://[^:/@]*):[^@/]*@", 0, 0, NULL);
	char *shown = g_regex_replace(re, location, -1, 0, "\\1:***@", 0, NULL);
	g_regex_unref(re);
	GRegex *kv = g_regex_new("password=[^ &]*", 0, 0, NULL);
	char *out = g_regex_replace_literal(kv, shown ? shown : location, -1, 0, "password=***",
					    0, NULL);
	g_regex_unref(kv);
	g_free(shown);
	return out ? out : g_strdup(location);
}

static void pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* NOTICEs ("relation already exists, skipping") are not news */
}

static bool pg_setup(struct wb_db *db)
{
	PQsetNoticeProcessor(db->conn, pg_quiet, NULL);
	PGresult *res = PQexec(db->conn, "SET lock_timeout = '10s'; SET client_min_messages = "
				  "warning; SET TIME ZONE 'UTC'");
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		pg_set_error(db, res, "setting up the session");
	PQclear(res);
	db->gen++;
	return ok;
}

/* Before a statement outside a transaction: a broken connection is opened again. */
static bool pg_alive(struct wb_db *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK)
		return true;
	if (db->txn) {
		pg_set_error(db, NULL, "the connection broke inside a transaction");
		return false;
	}
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		pg_set_error(db, NULL, "cannot connect again");
		return false;
	}
	g_message("state database %s: connected again", db->name);
	return pg_setup(db);
}

/* ---- opening ------------------------------------------------------------------------- */

/* Waiting for another connection's write lock: SQLite's own busy timeout sleeps in steps
 * of up to 100 ms, far longer than the transactions here last, which shows as webhook
 * latency. Poll finely instead, for up to ten seconds. */
static int busy_wait(void *data, int attempts)
{
	(void)data;
	if (attempts >= 10900) /* 1000 × 0.1 ms, then 1 ms steps: ten seconds in all */
		return 0;
	g_usleep(attempts < 1000 ? 100 : 1000);
	return 1;
}

static void stmt_free(gpointer p);

static struct wb_db *db_new(bool pg, const char *name)
{
	struct wb_db *db = g_new0(struct wb_db, 1);
	db->pg = pg;
	db->name = pg ? db_shown_location(name) : g_strdup(name);
	db->stmts = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, stmt_free);
	return db;
}

static struct wb_db *open_sqlite(const char *path, char **errmsg)
{
	g_autofree char *dir = g_path_get_dirname(path);
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		*errmsg = g_strdup_printf("cannot create the state directory %s: %s", dir,
					  g_strerror(errno));
		return NULL;
	}
	struct wb_db *db = db_new(false, path);
	if (sqlite3_open_v2(path, &db->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*errmsg = g_strdup_printf("state database %s: cannot open: %s", path,
					  db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
		db_close(db);
		return NULL;
	}
	sqlite3_busy_handler(db->lite, busy_wait, NULL);
	sqlite3_extended_result_codes(db->lite, 1);
	return db;
}

static struct wb_db *open_pg(const char *location, const char *password, char **errmsg)
{
	struct wb_db *db = db_new(true, location);
	/* Defaults the URI may override: a server that vanished (a failover) is noticed
	 * within about a minute, not at the kernel's two hours. */
	const char *keys[] = { "connect_timeout", "application_name", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			       "dbname", password ? "password" : NULL, NULL };
	const char *vals[] = { "10", "wabridge", "30", "10", "3", "60000", location, password,
			       NULL };
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		*errmsg = g_strdup_printf("state database %s: cannot connect: %s", db->name,
					  db->conn ? g_strstrip(PQerrorMessage(db->conn))
						   : "out of memory");
		db_close(db);
		return NULL;
	}
	if (!pg_setup(db)) {
		*errmsg = g_strdup_printf("state database %s: %s", db->name, db->err);
		db_close(db);
		return NULL;
	}
	return db;
}

struct wb_db *db_open(const char *location, const char *password, char **errmsg)
{
	*errmsg = NULL;
	return db_location_is_pg(location) ? open_pg(location, password, errmsg)
					   : open_sqlite(location, errmsg);
}

void db_close(struct wb_db *db)
{
	if (!db)
		return;
	if (db->stmts)
		g_hash_table_destroy(db->stmts);
	if (db->lite)
		sqlite3_close(db->lite);
	if (db->conn)
		PQfinish(db->conn);
	g_free(db->name);
	g_free(db->err);
	g_free(db->notify);
	g_free(db);
}

bool db_pg(const struct wb_db *db)
{
	return db->pg;
}

const char *db_name(const struct wb_db *db)
{
	return db->name;
}

void *db_sqlite(struct wb_db *db)
{
	return db->lite;
}

const char *db_errmsg(struct wb_db *db)
{
	if (!db->pg)
		return sqlite3_errmsg(db->lite);
	return db->err ? db->err : "no error";
}

bool db_busy(struct wb_db *db)
{
	if (!db->pg) {
		int code = sqlite3_extended_errcode(db->lite) & 0xff;
		return code == SQLITE_BUSY || code == SQLITE_LOCKED;
	}
	return db->err_busy;
}

/* ---- statements ------------------------------------------------------------------------ */

/* Does the call whose '(' is at open have more than one argument? */
static bool several_args(const char *open)
{
	int depth = 0;
	char quote = 0;
	for (const char *p = open; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (--depth == 0)
				return false;
		} else if (*p == ',' && depth == 1) {
			return true;
		}
	}
	return false;
}

static bool word_at(const char *sql, const char *p, const char *word)
{
	size_t n = strlen(word);
	return g_ascii_strncasecmp(p, word, n) == 0 &&
	       (p == sql || !(g_ascii_isalnum(p[-1]) || p[-1] == '_'));
}

/* SQLite's words in PostgreSQL's: `?N` and `?` become `$N`; max() and min() of several
 * values greatest() and least(); INSERT OR IGNORE an INSERT ... ON CONFLICT DO NOTHING;
 * a comment "/\*pg: TEXT*\/" becomes TEXT (SQL that SQLite has no words for, such as
 * FOR UPDATE SKIP LOCKED). Quoted text and identifiers are left alone. */
static char *pg_sql(const char *sql, int *nparams, GArray *used)
{
	GString *out = g_string_sized_new(strlen(sql) + 32);
	int next = 0, max = 0;
	char quote = 0;
	bool ignore = false;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			g_string_append_c(out, *p);
			continue;
		}
		if (*p == '\'' || *p == '"') {
			quote = *p;
			g_string_append_c(out, *p);
			continue;
		}
		if (strncmp(p, "/*pg:", 5) == 0) { /* PostgreSQL's alone: the text itself */
			const char *end = strstr(p, "*/");
			if (end) {
				g_string_append_len(out, p + 5, end - (p + 5));
				p = end + 1;
				continue;
			}
		}
		if (word_at(sql, p, "INSERT OR IGNORE INTO ")) {
			g_string_append(out, "INSERT INTO ");
			p += strlen("INSERT OR IGNORE INTO ") - 1;
			ignore = true;
			continue;
		}
		if ((word_at(sql, p, "max(") || word_at(sql, p, "min(")) && several_args(p + 3)) {
			g_string_append(out, g_ascii_tolower(p[1]) == 'a' ? "greatest" : "least");
			p += 2;
			continue;
		}
		if (*p != '?') {
			g_string_append_c(out, *p);
			continue;
		}
		int n;
		if (g_ascii_isdigit(p[1])) {
			char *end;
			n = (int)strtol(p + 1, &end, 10);
			p = end - 1;
		} else {
			n = ++next;
		}
		if (n > max)
			max = n;
		if (n > 0 && (guint)n > used->len)
			g_array_set_size(used, (guint)n);
		if (n > 0)
			g_array_index(used, gboolean, n - 1) = TRUE;
		g_string_append_printf(out, "$%d", n);
	}
	if (ignore)
		g_string_append(out, " ON CONFLICT DO NOTHING");
	*nparams = max;
	return g_string_free(out, false);
}

static void pg_clear_result(db_stmt *st)
{
	if (st->res)
		PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	st->nrows = 0;
	for (int i = 0; i < st->ncols; i++) {
		g_free(st->blobs[i]);
	}
	g_free(st->blobs);
	g_free(st->bloblen);
	st->blobs = NULL;
	st->bloblen = NULL;
	st->ncols = 0;
}

static void pg_unbind(db_stmt *st)
{
	for (int i = 0; i < st->nparams; i++) {
		if (st->owned[i])
			g_free(st->values[i]);
		st->values[i] = NULL;
		st->owned[i] = false;
		st->lengths[i] = 0;
		st->formats[i] = 0;
		st->types[i] = 0;
	}
}

static void stmt_free(gpointer p)
{
	db_stmt *st = p;
	if (st->lite)
		sqlite3_finalize(st->lite);
	if (st->pgsql) {
		pg_clear_result(st);
		pg_unbind(st);
		g_free(st->pgsql);
		g_free(st->values);
		g_free(st->lengths);
		g_free(st->formats);
		g_free(st->types);
		g_free(st->owned);
		g_free(st->nums);
		g_array_unref(st->used);
	}
	g_free(st);
}

bool db_exec(struct wb_db *db, const char *sql)
{
	if (!db->pg) {
		char *msg = NULL;
		if (sqlite3_exec(db->lite, sql, NULL, NULL, &msg) == SQLITE_OK)
			return true;
		sqlite3_free(msg); /* sqlite3_errmsg() still says it */
		return false;
	}
	if (!pg_alive(db))
		return false;
	PGresult *res = PQexec(db->conn, sql);
	ExecStatusType rs = PQresultStatus(res);
	bool ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
	if (!ok)
		pg_set_error(db, res, "running a statement");
	PQclear(res);
	return ok;
}

db_stmt *db_prep(struct wb_db *db, const char *sql)
{
	db_stmt *st = g_hash_table_lookup(db->stmts, sql);
	if (st) {
		db_reset(st);
		if (db->pg)
			pg_unbind(st);
		else
			sqlite3_clear_bindings(st->lite);
		return st;
	}
	st = g_new0(db_stmt, 1);
	st->db = db;
	st->sql = sql;
	if (!db->pg) {
		if (sqlite3_prepare_v2(db->lite, sql, -1, &st->lite, NULL) != SQLITE_OK) {
			g_free(st);
			return NULL;
		}
	} else {
		st->used = g_array_new(FALSE, TRUE, sizeof(gboolean));
		st->pgsql = pg_sql(sql, &st->nparams, st->used);
		int n = st->nparams ? st->nparams : 1;
		st->values = g_new0(char *, n);
		st->lengths = g_new0(int, n);
		st->formats = g_new0(int, n);
		st->types = g_new0(Oid, n);
		st->owned = g_new0(bool, n);
		st->nums = g_malloc0(sizeof *st->nums * (size_t)n);
		st->row = -1;
		g_snprintf(st->name, sizeof st->name, "w%u", ++db->next_name);
	}
	g_hash_table_insert(db->stmts, (gpointer)sql, st);
	return st;
}

void db_reset(db_stmt *st)
{
	if (st->lite)
		sqlite3_reset(st->lite);
	else
		pg_clear_result(st);
}

static bool pg_param(db_stmt *st, int i)
{
	if (i < 1 || i > st->nparams) {
		g_warning("state database: parameter %d of a statement with %d: %s", i,
			  st->nparams, st->sql);
		return false;
	}
	if (st->owned[i - 1])
		g_free(st->values[i - 1]);
	st->owned[i - 1] = false;
	return true;
}

void db_bind_int64(db_stmt *st, int i, int64_t v)
{
	if (st->lite) {
		sqlite3_bind_int64(st->lite, i, v);
		return;
	}
	if (!pg_param(st, i))
		return;
	g_snprintf(st->nums[i - 1], sizeof st->nums[0], "%" G_GINT64_FORMAT, v);
	st->values[i - 1] = st->nums[i - 1];
	st->types[i - 1] = OID_INT8;
	st->formats[i - 1] = 0;
}

void db_bind_text(db_stmt *st, int i, const char *v)
{
	if (st->lite) {
		if (v)
			sqlite3_bind_text(st->lite, i, v, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st->lite, i);
		return;
	}
	if (!pg_param(st, i))
		return;
	/* PostgreSQL's text is valid UTF-8 or refused; what comes from outside is checked
	 * before it gets here, and anything that slipped through is kept readable. */
	st->values[i - 1] = !v ? NULL : g_utf8_validate(v, -1, NULL) ? g_strdup(v)
								   : g_utf8_make_valid(v, -1);
	st->owned[i - 1] = v != NULL;
	st->types[i - 1] = 0;
	st->formats[i - 1] = 0;
}

void db_bind_blob(db_stmt *st, int i, const void *p, size_t n)
{
	if (st->lite) {
		sqlite3_bind_blob64(st->lite, i, n ? p : "", n, SQLITE_STATIC);
		return;
	}
	if (!pg_param(st, i))
		return;
	st->values[i - 1] = n ? (char *)p : (char *)"";
	st->lengths[i - 1] = (int)n;
	st->types[i - 1] = OID_BYTEA;
	st->formats[i - 1] = 1;
}

void db_bind_null(db_stmt *st, int i)
{
	if (st->lite) {
		sqlite3_bind_null(st->lite, i);
		return;
	}
	if (!pg_param(st, i))
		return;
	st->values[i - 1] = NULL;
	st->types[i - 1] = 0;
	st->formats[i - 1] = 0;
}

/* Prepare st on the server with the types its parameters were bound with. A parameter
 * the server cannot type from the SQL alone ("?3 IS NULL" where NULL was bound) is
 * declared text and the statement prepared again; inside a transaction each try is
 * wrapped in a savepoint, since a failed one would abort the whole transaction. */
static bool pg_prepare(db_stmt *st)
{
	struct wb_db *db = st->db;
	/* A number the SQL skips ("?9" with no "?8") has no type to infer: text. */
	for (int i = 0; i < st->nparams; i++)
		if (!g_array_index(st->used, gboolean, i))
			st->types[i] = OID_TEXT;
	bool guard = db->txn;
	for (int tries = 0; tries <= st->nparams; tries++) {
		if (guard && !db_exec(db, "SAVEPOINT wb_prepare"))
			return false;
		PGresult *res = PQprepare(db->conn, st->name, st->pgsql, st->nparams, st->types);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		const char *state = ok ? NULL : PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = ok ? NULL : PQresultErrorMessage(res);
		const char *dollar = msg ? strchr(msg, '$') : NULL;
		int n = dollar ? atoi(dollar + 1) : 0;
		bool again = state && (strcmp(state, "42P18") == 0 || strcmp(state, "42P08") == 0) &&
			     n >= 1 && n <= st->nparams &&
			     st->types[n - 1] != OID_TEXT;
		if (!ok && !again)
			pg_set_error(db, res, "preparing a statement");
		PQclear(res);
		if (guard && !db_exec(db, ok ? "RELEASE SAVEPOINT wb_prepare"
					     : "ROLLBACK TO SAVEPOINT wb_prepare"))
			return false;
		if (ok) {
			st->prepared_gen = db->gen;
			return true;
		}
		if (!again)
			return false;
		st->types[n - 1] = OID_TEXT;
	}
	return false;
}

/* A statement's successful result becomes st's, positioned on its first row. */
static int pg_attach(db_stmt *st, PGresult *res)
{
	const char *tuples = PQcmdTuples(res);
	if (tuples && *tuples)
		st->db->changes = g_ascii_strtoll(tuples, NULL, 10);
	st->res = res;
	st->row = 0;
	st->nrows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
	st->ncols = PQnfields(res);
	st->blobs = g_new0(unsigned char *, st->ncols ? st->ncols : 1);
	st->bloblen = g_new0(size_t, st->ncols ? st->ncols : 1);
	return st->nrows > 0 ? DB_ROW : DB_DONE;
}

static int pg_run(db_stmt *st)
{
	struct wb_db *db = st->db;
	if (!pg_alive(db))
		return DB_ERROR;
	if (st->prepared_gen != db->gen && !pg_prepare(st))
		return DB_ERROR;
	PGresult *res = PQexecPrepared(db->conn, st->name, st->nparams,
				       (const char *const *)st->values, st->lengths, st->formats,
				       0);
	ExecStatusType rs = PQresultStatus(res);
	if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
		pg_set_error(db, res, "running a statement");
		PQclear(res);
		return DB_ERROR;
	}
	return pg_attach(st, res);
}

int db_step(db_stmt *st)
{
	if (st->lite) {
		int rc = sqlite3_step(st->lite);
		return rc == SQLITE_ROW ? DB_ROW : rc == SQLITE_DONE ? DB_DONE : DB_ERROR;
	}
	if (!st->res)
		return pg_run(st);
	for (int i = 0; i < st->ncols; i++)
		g_clear_pointer(&st->blobs[i], g_free);
	if (st->row + 1 < st->nrows) {
		st->row++;
		return DB_ROW;
	}
	st->row = st->nrows;
	return DB_DONE;
}

static void unbind(db_stmt *st)
{
	if (st->lite)
		sqlite3_clear_bindings(st->lite);
	else
		pg_unbind(st);
}

/* Read what the server answers to a pipeline of sent statements and its sync: each
 * statement's result goes to row() while all went well; the first error is kept. */
static bool pg_pipeline_results(db_stmt *st, size_t sent, db_each_fn row, void *data, bool ok)
{
	struct wb_db *db = st->db;
	for (size_t i = 0; i < sent; i++) {
		PGresult *res = PQgetResult(db->conn);
		if (!res) { /* the connection failed */
			if (ok)
				pg_set_error(db, NULL, "reading a statement's result");
			return false;
		}
		ExecStatusType rs = PQresultStatus(res);
		if (ok && (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK)) {
			if (pg_attach(st, res) == DB_ROW && row)
				row(st, i, data);
			pg_clear_result(st);
		} else {
			/* the first failure; the statements after it answer PIPELINE_ABORTED */
			if (ok)
				pg_set_error(db, res, "running a statement");
			ok = false;
			PQclear(res);
		}
		while ((res = PQgetResult(db->conn)) != NULL) /* the NULL that ends each one */
			PQclear(res);
	}
	PGresult *res;
	while ((res = PQgetResult(db->conn)) != NULL) {
		bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		if (sync)
			break;
	}
	return ok;
}

bool db_step_each(db_stmt *st, size_t n, db_each_fn bind, db_each_fn row, void *data)
{
	struct wb_db *db = st->db;
	if (!db->pg || n < 2) {
		for (size_t i = 0; i < n; i++) {
			db_reset(st);
			unbind(st);
			bind(st, i, data);
			int rc = db_step(st);
			if (rc == DB_ROW && row)
				row(st, i, data);
			db_reset(st);
			if (rc == DB_ERROR)
				return false;
		}
		return true;
	}
	if (!pg_alive(db))
		return false;
	db_reset(st);
	pg_unbind(st);
	bind(st, 0, data); /* the first set's types prepare the statement */
	if (st->prepared_gen != db->gen && !pg_prepare(st)) {
		pg_unbind(st);
		return false;
	}
	if (!PQenterPipelineMode(db->conn)) {
		pg_set_error(db, NULL, "entering pipeline mode");
		pg_unbind(st);
		return false;
	}
	/* libpq copies the values into its buffer as each is sent: they can go after */
	bool ok = true;
	size_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			pg_unbind(st);
			bind(st, i, data);
		}
		if (!PQsendQueryPrepared(db->conn, st->name, st->nparams,
					 (const char *const *)st->values, st->lengths, st->formats,
					 0)) {
			pg_set_error(db, NULL, "sending a statement");
			ok = false;
			break;
		}
		sent++;
	}
	pg_unbind(st);
	if (PQpipelineSync(db->conn)) {
		ok = pg_pipeline_results(st, sent, row, data, ok);
	} else {
		if (ok)
			pg_set_error(db, NULL, "sending a statement");
		ok = false;
	}
	if (!PQexitPipelineMode(db->conn)) {
		if (ok)
			pg_set_error(db, NULL, "leaving pipeline mode");
		ok = false;
	}
	return ok;
}

static bool pg_has(db_stmt *st, int i)
{
	return st->res && i >= 0 && i < st->ncols && st->row >= 0 && st->row < st->nrows &&
	       !PQgetisnull(st->res, st->row, i);
}

enum db_type db_col_type(db_stmt *st, int i)
{
	if (st->lite) {
		switch (sqlite3_column_type(st->lite, i)) {
		case SQLITE_INTEGER: return DB_INT;
		case SQLITE_FLOAT: return DB_FLOAT;
		case SQLITE_TEXT: return DB_TEXT;
		case SQLITE_BLOB: return DB_BLOB;
		default: return DB_NULL;
		}
	}
	if (!pg_has(st, i))
		return DB_NULL;
	switch (PQftype(st->res, i)) {
	case OID_BOOL: case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
		return DB_INT;
	case OID_FLOAT4: case OID_FLOAT8:
		return DB_FLOAT;
	case OID_NUMERIC:
		return strchr(PQgetvalue(st->res, st->row, i), '.') ? DB_FLOAT : DB_INT;
	case OID_BYTEA:
		return DB_BLOB;
	default:
		return DB_TEXT;
	}
}

long long db_col_int64(db_stmt *st, int i)
{
	if (st->lite)
		return sqlite3_column_int64(st->lite, i);
	if (!pg_has(st, i))
		return 0;
	const char *v = PQgetvalue(st->res, st->row, i);
	if (PQftype(st->res, i) == OID_BOOL)
		return *v == 't';
	return g_ascii_strtoll(v, NULL, 10);
}

int db_col_int(db_stmt *st, int i)
{
	return (int)db_col_int64(st, i);
}

static const unsigned char *pg_bytea(db_stmt *st, int i, size_t *len)
{
	if (!st->blobs[i]) {
		const unsigned char *hex = (const unsigned char *)PQgetvalue(st->res, st->row, i);
		size_t n = 0;
		unsigned char *raw = PQunescapeBytea(hex, &n);
		/* copied with a trailing NUL, so that the bytes also read as text */
		st->blobs[i] = g_malloc(n + 1);
		if (raw)
			memcpy(st->blobs[i], raw, n);
		else
			n = 0;
		st->blobs[i][n] = 0;
		st->bloblen[i] = n;
		PQfreemem(raw);
	}
	*len = st->bloblen[i];
	return st->blobs[i];
}

const char *db_col_text(db_stmt *st, int i)
{
	if (st->lite)
		return (const char *)sqlite3_column_text(st->lite, i);
	if (!pg_has(st, i))
		return NULL;
	if (PQftype(st->res, i) == OID_BOOL)
		return *PQgetvalue(st->res, st->row, i) == 't' ? "1" : "0";
	if (PQftype(st->res, i) == OID_BYTEA) {
		size_t n;
		const unsigned char *b = pg_bytea(st, i, &n);
		return memchr(b, 0, n) ? "" : (const char *)b;
	}
	return PQgetvalue(st->res, st->row, i);
}

const void *db_col_blob(db_stmt *st, int i)
{
	if (st->lite)
		return sqlite3_column_blob(st->lite, i);
	if (!pg_has(st, i))
		return NULL;
	if (PQftype(st->res, i) == OID_BYTEA) {
		size_t n;
		return pg_bytea(st, i, &n);
	}
	return PQgetvalue(st->res, st->row, i);
}

size_t db_col_bytes(db_stmt *st, int i)
{
	if (st->lite)
		return (size_t)sqlite3_column_bytes(st->lite, i);
	if (!pg_has(st, i))
		return 0;
	if (PQftype(st->res, i) == OID_BYTEA) {
		size_t n;
		pg_bytea(st, i, &n);
		return n;
	}
	return (size_t)PQgetlength(st->res, st->row, i);
}

int64_t db_changes(struct wb_db *db)
{
	return db->pg ? db->changes : sqlite3_changes(db->lite);
}

int64_t db_last_id(struct wb_db *db)
{
	if (!db->pg)
		return sqlite3_last_insert_rowid(db->lite);
	db_stmt *st = db_prep(db, "SELECT lastval()");
	int64_t id = st && db_step(st) == DB_ROW ? db_col_int64(st, 0) : 0;
	if (st)
		db_reset(st);
	return id;
}

/* ---- transactions ------------------------------------------------------------------------ */

bool db_begin(struct wb_db *db)
{
	db->write_txn = 0;
	if (!db->pg) {
		if (!db_exec(db, "BEGIN IMMEDIATE"))
			return false;
	} else {
		if (!db_exec(db, "BEGIN; SELECT pg_advisory_xact_lock(" DB_LOCK_KEY ")")) {
			db_rollback(db);
			return false;
		}
		db->txn = true;
	}
	db->write_txn = ++db->txns;
	return true;
}

bool db_begin_shared(struct wb_db *db)
{
	db->write_txn = 0;
	if (!db->pg)
		return db_exec(db, "BEGIN IMMEDIATE");
	if (!db_exec(db, "BEGIN"))
		return false;
	db->txn = true;
	return true;
}

uint64_t db_write_txn(struct wb_db *db)
{
	return db_in_txn(db) ? db->write_txn : 0;
}

bool db_commit(struct wb_db *db)
{
	if (!db->pg) {
		if (db_exec(db, "COMMIT"))
			return true;
		sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
		return false;
	}
	db->write_txn = 0;
	/* A NOTIFY of this transaction goes in the same round trip: on an error in it the
	 * COMMIT is not run, and the transaction is rolled back below. */
	g_autofree char *sql = db->notify ? g_strdup_printf("NOTIFY %s; COMMIT", db->notify)
					  : NULL;
	g_clear_pointer(&db->notify, g_free);
	PGresult *res = PQexec(db->conn, sql ? sql : "COMMIT");
	/* COMMIT of a transaction that failed answers ROLLBACK, not an error */
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK &&
		  strcmp(PQcmdStatus(res), "COMMIT") == 0;
	if (!ok) {
		pg_set_error(db, res, "the transaction failed and was rolled back");
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			g_free(db->err);
			db->err = g_strdup("the transaction failed and was rolled back");
		}
	}
	PQclear(res);
	db->txn = false;
	if (!ok && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(PQexec(db->conn, "ROLLBACK"));
	return ok;
}

void db_rollback(struct wb_db *db)
{
	db->write_txn = 0;
	if (!db->pg) {
		sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	db->txn = false;
	g_clear_pointer(&db->notify, g_free);
	if (PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(PQexec(db->conn, "ROLLBACK"));
}

bool db_in_txn(struct wb_db *db)
{
	if (!db->pg)
		return !sqlite3_get_autocommit(db->lite);
	return db->txn;
}

/* ---- schema ----------------------------------------------------------------------------- */

bool db_get_version(struct wb_db *db, int *version)
{
	*version = 0;
	if (db->pg &&
	    !db_exec(db, "CREATE TABLE IF NOT EXISTS wabridge_schema (version BIGINT NOT NULL)"))
		return false;
	db_stmt *st = db->pg ? db_prep(db, "SELECT max(version) FROM wabridge_schema")
			     : db_prep(db, "PRAGMA user_version");
	if (!st)
		return false;
	int rc = db_step(st);
	if (rc == DB_ROW)
		*version = db_col_int(st, 0);
	db_reset(st);
	return rc == DB_ROW;
}

bool db_set_version(struct wb_db *db, int version)
{
	g_autofree char *sql = db->pg
		? g_strdup_printf("DELETE FROM wabridge_schema; INSERT INTO wabridge_schema "
				  "VALUES (%d)", version)
		: g_strdup_printf("PRAGMA user_version = %d", version);
	return db_exec(db, sql);
}

char *db_pg_ddl(const char *sql)
{
	static const struct { const char *from, *to; } words[] = {
		{ "\\bINTEGER PRIMARY KEY\\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" },
		{ "\\bINTEGER\\b", "BIGINT" },
		{ "\\bBLOB\\b", "BYTEA" },
	};
	char *out = g_strdup(sql);
	for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
		GRegex *re = g_regex_new(words[i].from, 0, 0, NULL);
		char *next = g_regex_replace_literal(re, out, -1, 0, words[i].to, 0, NULL);
		g_regex_unref(re);
		g_free(out);
		out = next;
	}
	return out;
}

/* ---- LISTEN / NOTIFY ---------------------------------------------------------------------- */

bool db_notify(struct wb_db *db, const char *channel)
{
	if (!db->pg)
		return true;
	if (db->txn) { /* sent with the COMMIT: no round trip of its own */
		g_free(db->notify);
		db->notify = g_strdup(channel);
		return true;
	}
	g_autofree char *sql = g_strdup_printf("NOTIFY %s", channel);
	return db_exec(db, sql);
}

bool db_listen(struct wb_db *db, const char *channel)
{
	if (!db->pg)
		return true;
	g_autofree char *sql = g_strdup_printf("LISTEN %s", channel);
	return db_exec(db, sql);
}

int db_listen_fd(struct wb_db *db)
{
	return db->pg && db->conn ? PQsocket(db->conn) : -1;
}

bool db_connected(struct wb_db *db)
{
	return !db->pg || (db->conn && PQstatus(db->conn) == CONNECTION_OK);
}

bool db_drain(struct wb_db *db)
{
	if (!db->pg || !db->conn)
		return false;
	if (!PQconsumeInput(db->conn)) {
		pg_set_error(db, NULL, "reading notifications");
		return false;
	}
	bool any = false;
	PGnotify *n;
	while ((n = PQnotifies(db->conn))) {
		any = true;
		PQfreemem(n);
	}
	return any;
}
