/* db: the state's SQL connection, on SQLite or PostgreSQL, behind one small interface.
 *
 * The store (src/store*.c) writes its SQL once, in the common dialect of both: `?N`
 * parameters, ON CONFLICT, RETURNING, IS DISTINCT FROM. Where the two differ (a
 * function name, a maintenance PRAGMA) the store says so with db_pg() and two literals.
 *
 * - A statement is prepared once per connection and cached by its SQL literal's
 *   address (every call site passes a string literal); db_prep() hands it back reset,
 *   its parameters unbound.
 * - Parameters are numbered from 1. Text is copied when bound; a blob is NOT copied:
 *   its bytes must stay put until the statement has been stepped to its end or reset.
 * - db_step() runs the statement at its first call; on PostgreSQL all rows come back
 *   then, and each later call moves to the next one. A column's text or blob lives
 *   until the next db_step()/db_reset() of that statement.
 * - db_begin() starts a write transaction that excludes every other writer of the same
 *   state, on this host or another (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction
 *   holding one advisory lock until its end), so the store's read-then-write steps and
 *   the custody journal's hash chain see one writer at a time. db_begin_shared() starts
 *   one that does not: for claims of work, whose rows are locked one by one
 *   (FOR UPDATE SKIP LOCKED), so that bridges do not queue behind each other for them.
 * - Errors: the functions return false / DB_ERROR; db_errmsg() says why and
 *   db_busy() tells a conflict worth retrying (locked, a serialization failure, a
 *   deadlock) from anything else. A PostgreSQL connection that broke is opened again at
 *   the next statement outside a transaction. */
#ifndef WB_DB_H
#define WB_DB_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wb_db;
typedef struct db_stmt db_stmt;

enum { DB_ERROR = 1, DB_ROW = 100, DB_DONE = 101 };
enum db_type { DB_NULL, DB_INT, DB_FLOAT, DB_TEXT, DB_BLOB };

/* Is this a PostgreSQL location (postgresql:// or postgres:// URI, or key=value words
 * with dbname=)? Everything else is a SQLite file's path. */
bool db_location_is_pg(const char *location);

/* Open a state: a SQLite file (created, with its directory) or a PostgreSQL database.
 * password: PostgreSQL's (NULL: none, or from the URI, ~/.pgpass, PGPASSWORD). On
 * failure sets *errmsg (newly allocated). */
struct wb_db *db_open(const char *location, const char *password, char **errmsg);
void db_close(struct wb_db *db);
/* A location fit for a log line: a password in a URI shown as ***. Newly allocated. */
char *db_shown_location(const char *location);

bool db_pg(const struct wb_db *db);      /* PostgreSQL? */
/* The location as shown in messages: the path, or the URI without its password. */
const char *db_name(const struct wb_db *db);
void *db_sqlite(struct wb_db *db);       /* the sqlite3 handle; NULL on PostgreSQL */

/* Run SQL without parameters or rows (several statements allowed). */
bool db_exec(struct wb_db *db, const char *sql);
db_stmt *db_prep(struct wb_db *db, const char *sql);
void db_reset(db_stmt *st);

void db_bind_int64(db_stmt *st, int i, int64_t v);
void db_bind_text(db_stmt *st, int i, const char *v); /* NULL binds NULL */
void db_bind_blob(db_stmt *st, int i, const void *p, size_t n);
void db_bind_null(db_stmt *st, int i);

int db_step(db_stmt *st); /* DB_ROW, DB_DONE or DB_ERROR */

/* Run st once for each of n sets of parameters, in order: bind(st, i, data) binds the
 * i-th (on a statement reset and unbound; a blob's bytes must stay put until this
 * returns), and row(st, i, data), if given, reads the first row it returned (not called
 * when none). On PostgreSQL all n go to the server before any answer is read (libpq's
 * pipeline mode): one round trip instead of n. False at the first error (db_errmsg),
 * after which the transaction is to be rolled back (on PostgreSQL the statements after
 * it did not run; on SQLite none after it ran). */
typedef void (*db_each_fn)(db_stmt *st, size_t i, void *data);
bool db_step_each(db_stmt *st, size_t n, db_each_fn bind, db_each_fn row, void *data);

enum db_type db_col_type(db_stmt *st, int i);
long long db_col_int64(db_stmt *st, int i); /* long long, as SQLite's, for %lld */
int db_col_int(db_stmt *st, int i);
const char *db_col_text(db_stmt *st, int i); /* NULL for NULL */
const void *db_col_blob(db_stmt *st, int i);
size_t db_col_bytes(db_stmt *st, int i);

/* Rows the last INSERT, UPDATE or DELETE changed. */
int64_t db_changes(struct wb_db *db);
/* The id the last INSERT that added a row gave it (call only after one did: on
 * PostgreSQL an INSERT that added nothing still used up an id). */
int64_t db_last_id(struct wb_db *db);

bool db_begin(struct wb_db *db);
bool db_begin_shared(struct wb_db *db);
bool db_commit(struct wb_db *db); /* rolls back when the commit fails */
void db_rollback(struct wb_db *db);
bool db_in_txn(struct wb_db *db);
/* The number of the transaction db_begin() started, while it lasts; 0 outside one and
 * in one db_begin_shared() started. No other writer runs until it ends, so what it read
 * of the state stays true until then (the journal's last entry, for one). */
uint64_t db_write_txn(struct wb_db *db);

const char *db_errmsg(struct wb_db *db);
bool db_busy(struct wb_db *db);

/* The schema's version (SQLite: PRAGMA user_version; PostgreSQL: a one-row table),
 * read and set inside a db_begin() transaction. */
bool db_get_version(struct wb_db *db, int *version);
bool db_set_version(struct wb_db *db, int version);

/* A schema change written in SQLite's words, in PostgreSQL's: INTEGER becomes BIGINT,
 * BLOB BYTEA, and an INTEGER PRIMARY KEY an identity column. Newly allocated. */
char *db_pg_ddl(const char *sql);

/* LISTEN/NOTIFY on PostgreSQL (no-ops on SQLite): db_notify() inside a transaction is
 * delivered at its commit (and sent with it, in the same round trip; a NOTIFY that
 * fails then fails the commit). db_listen_fd() is the socket to poll; db_drain() reads what
 * came and says whether anything did. */
bool db_notify(struct wb_db *db, const char *channel);
bool db_listen(struct wb_db *db, const char *channel);
int db_listen_fd(struct wb_db *db);
bool db_drain(struct wb_db *db);
/* Is the connection up? (SQLite: always.) */
bool db_connected(struct wb_db *db);

#endif
