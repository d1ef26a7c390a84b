/* testlib: tiny helpers shared by the unit test programs (header-only). */
#ifndef WB_TESTLIB_H
#define WB_TESTLIB_H

#include <glib.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sqlite3.h>

/* Contents of tests/fixtures/DIR/NAME (the runner sets WB_TOP; default: cwd). */
static inline GBytes *fixture_in(const char *dir, const char *name)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *path = g_build_filename(top ? top : ".", "tests", "fixtures", dir,
						 name, NULL);
	char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &data, &len, &err))
		g_error("fixture %s: %s", path, err->message);
	return g_bytes_new_take(data, len);
}

/* Contents of tests/fixtures/webhooks/NAME. */
static inline GBytes *fixture(const char *name)
{
	return fixture_in("webhooks", name);
}

/* ---- the state store of a test: SQLite, or the private PostgreSQL ------------------------
 *
 * WB_STATE_BACKEND=pg (tests/run-all.sh's PostgreSQL pass) puts each test's store in a
 * fresh database on the cluster of tests/lib/postgres.sh (WB_PG_DIR, WB_PG_PORT,
 * WB_PG_URL); otherwise it is the file <dir>/state.db. A test names its store by the
 * location test_state_location() gives, and reads or changes it behind the store's back
 * with the sql_* helpers, which take either kind of location: SQL that both speak. */

static inline bool test_state_pg(void)
{
	const char *b = g_getenv("WB_STATE_BACKEND");
	return b != NULL && strcmp(b, "pg") == 0;
}

/* Ends a test that is about SQLite itself (its file, WAL, PRAGMAs) on the PostgreSQL
 * pass, as skipped with the reason. */
#define SQLITE_ONLY(why)                                                                    \
	do {                                                                                \
		if (test_state_pg()) {                                                      \
			g_test_skip("SQLite only (" why "); this pass runs on PostgreSQL");  \
			return;                                                             \
		}                                                                           \
	} while (0)

static inline bool test_state_is_url(const char *loc)
{
	return g_str_has_prefix(loc, "postgresql://") || g_str_has_prefix(loc, "postgres://");
}

static inline void test_pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A connection to database db on the private cluster, as its superuser, through its
 * socket (no password there). */
static inline PGconn *test_pg_connect(const char *db)
{
	const char *dir = g_getenv("WB_PG_DIR"), *port = g_getenv("WB_PG_PORT");
	if (dir == NULL || port == NULL)
		g_error("WB_STATE_BACKEND=pg needs the private PostgreSQL: run tests/run-all.sh, or "
			"`sh tests/lib/postgres.sh start DIR` and "
			"eval \"$(sh tests/lib/postgres.sh env DIR)\"");
	const char *const keys[] = { "host", "port", "user", "dbname", "client_encoding", NULL };
	const char *const vals[] = { dir, port, "wbtest", db, "UTF8", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(c) != CONNECTION_OK)
		g_error("connecting to %s on the private PostgreSQL (%s): %s", db, dir,
			PQerrorMessage(c));
	PQsetNoticeProcessor(c, test_pg_quiet, NULL);
	return c;
}

/* The database of a location URL: after the last '/', up to a '?'. */
static inline char *test_pg_dbname(const char *loc)
{
	const char *slash = strrchr(loc, '/');
	g_assert_nonnull(slash);
	return g_strndup(slash + 1, strcspn(slash + 1, "?"));
}

/* On the cluster's own database: CREATE or DROP DATABASE. */
static inline void test_pg_admin(const char *sql)
{
	PGconn *c = test_pg_connect("postgres");
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		g_error("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* Where a test keeps its store: <dir>/state.db, or on the PostgreSQL pass the URL of a
 * new empty database (by TCP, as wabridge is configured in production; the password
 * comes from the cluster's libpq password file, PGPASSFILE, since a store opened without
 * a configuration has no state_password_file). Free it with test_state_drop(). */
static inline char *test_state_location(const char *dir)
{
	if (!test_state_pg())
		return g_build_filename(dir, "state.db", NULL);
	const char *base = g_getenv("WB_PG_URL"), *pgdir = g_getenv("WB_PG_DIR");
	if (base == NULL || pgdir == NULL)
		g_error("WB_STATE_BACKEND=pg needs WB_PG_URL and WB_PG_DIR (tests/lib/postgres.sh env)");
	if (g_getenv("PGPASSFILE") == NULL) {
		g_autofree char *pass = g_build_filename(pgdir, "pgpass", NULL);
		g_setenv("PGPASSFILE", pass, TRUE);
	}
	g_autofree char *name = g_strdup_printf("wbu_%08x%08x", g_random_int(), g_random_int());
	g_autofree char *sql = g_strdup_printf("CREATE DATABASE \"%s\"", name);
	test_pg_admin(sql);
	return g_strdup_printf("%s/%s", base, name);
}

/* Frees a location; on PostgreSQL also drops its database (unless WB_KEEP=1), so call it
 * once the store is closed. */
static inline void test_state_drop(char *loc)
{
	if (loc != NULL && test_state_is_url(loc) && g_strcmp0(g_getenv("WB_KEEP"), "1") != 0) {
		g_autofree char *name = test_pg_dbname(loc);
		g_autofree char *sql = g_strdup_printf("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
						       name);
		test_pg_admin(sql);
	}
	g_free(loc);
}

/* len bytes (NULs too) and a NUL after them, newly allocated. */
static inline char *test_bytes_dup(const void *data, size_t len)
{
	char *s = g_malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* A query on a location through a connection of its own: the first column of every row as
 * text (NULL for an SQL NULL), as SQLite gives it: truth values as "1"/"0", bytea as its
 * bytes. limit: at most this many rows (0: all). */
static inline GPtrArray *sql_column(const char *loc, const char *sql, guint limit)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	if (test_state_is_url(loc)) {
		g_autofree char *name = test_pg_dbname(loc);
		PGconn *c = test_pg_connect(name);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			g_error("%s: %s", sql, PQerrorMessage(c));
		for (int i = 0; i < PQntuples(r) && (limit == 0 || (guint)i < limit); i++) {
			const char *v = PQgetvalue(r, i, 0);
			if (PQgetisnull(r, i, 0)) {
				g_ptr_array_add(out, NULL);
			} else if (PQftype(r, 0) == 16) { /* bool */
				g_ptr_array_add(out, g_strdup(v[0] == 't' ? "1" : "0"));
			} else if (PQftype(r, 0) == 17) { /* bytea */
				size_t len = 0;
				unsigned char *raw = PQunescapeBytea((const unsigned char *)v, &len);
				g_assert_nonnull(raw);
				g_ptr_array_add(out, test_bytes_dup(raw, len));
				PQfreemem(raw);
			} else {
				g_ptr_array_add(out, g_strdup(v));
			}
		}
		PQclear(r);
		PQfinish(c);
		return out;
	}
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(loc, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		g_error("sqlite3_open_v2 %s: %s", loc, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_busy_timeout(db, 5000);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	int rc = SQLITE_ROW;
	while ((limit == 0 || out->len < limit) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		g_ptr_array_add(out, t ? test_bytes_dup(t, (size_t)sqlite3_column_bytes(st, 0)) : NULL);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		g_error("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* The first column of the first row as text, newly allocated; NULL for no row or NULL. */
static inline char *sql_text(const char *loc, const char *sql)
{
	g_autoptr(GPtrArray) col = sql_column(loc, sql, 1);
	return col->len > 0 && col->pdata[0] != NULL ? g_strdup(col->pdata[0]) : NULL;
}

/* The same as an integer: -1 when there is no row, 0 for NULL (as sqlite3_column_int64). */
static inline gint64 sql_int(const char *loc, const char *sql)
{
	g_autoptr(GPtrArray) col = sql_column(loc, sql, 1);
	if (col->len == 0)
		return -1;
	return col->pdata[0] != NULL ? g_ascii_strtoll(col->pdata[0], NULL, 10) : 0;
}

/* SQL (one or more statements) run on a location through a connection of its own, as
 * someone with access to the database would (tampering tests). */
static inline void sql_on_state(const char *loc, const char *sql)
{
	if (test_state_is_url(loc)) {
		g_autofree char *name = test_pg_dbname(loc);
		PGconn *c = test_pg_connect(name);
		PGresult *r = PQexec(c, sql);
		ExecStatusType st = PQresultStatus(r);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
			g_error("%s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return;
	}
	sqlite3 *db = NULL;
	g_assert_cmpint(sqlite3_open(loc, &db), ==, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		g_error("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* A BLOB literal for a location's SQL: X'..' on SQLite, '\x..'::bytea on PostgreSQL. */
static inline char *sql_blob_literal(const char *loc, const void *data, size_t len)
{
	GString *s = g_string_new(test_state_is_url(loc) ? "'\\x" : "X'");
	for (size_t i = 0; i < len; i++)
		g_string_append_printf(s, "%02x", ((const unsigned char *)data)[i]);
	g_string_append(s, test_state_is_url(loc) ? "'::bytea" : "'");
	return g_string_free(s, FALSE);
}

/* Does the store have this table? */
static inline bool sql_has_table(const char *loc, const char *table)
{
	g_autofree char *sql = test_state_is_url(loc)
		? g_strdup_printf("SELECT count(*) FROM pg_tables WHERE tablename = '%s' AND "
				  "schemaname NOT LIKE 'pg\\_%%' AND schemaname <> 'information_schema'", table)
		: g_strdup_printf("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
				  "name = '%s'", table);
	return sql_int(loc, sql) == 1;
}

/* How many schema objects (tables, indexes, sequences, views, triggers) the store has:
 * the same number before and after a reopen says no migration ran again. */
static inline gint64 sql_schema_objects(const char *loc)
{
	return sql_int(loc, test_state_is_url(loc)
		? "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
		  "c.relnamespace WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> "
		  "'information_schema') + (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)"
		: "SELECT count(*) FROM sqlite_schema");
}

/* Remove a directory tree (test scratch space); symlinks are removed, not followed. */
static inline void rm_rf(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	if (dir != NULL) {
		const char *name;
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *child = g_build_filename(path, name, NULL);
			struct stat st;
			if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
				rm_rf(child);
			else
				g_unlink(child);
		}
		g_dir_close(dir);
	}
	g_rmdir(path);
}

/* A loopback port nobody listens on: one bound and never listened on. Keep *fd open
 * while the port is used, so no other program can take it and answer. */
static inline int unanswered_port(int *fd)
{
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;

	g_assert_cmpint(bind(*fd, (struct sockaddr *)&a, sizeof a), ==, 0);
	g_assert_cmpint(getsockname(*fd, (struct sockaddr *)&a, &len), ==, 0);
	return ntohs(a.sin_port);
}

#endif
