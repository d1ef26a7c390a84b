/* store: the state (SQLite or PostgreSQL, through db.h), migrations, and the one
 * state-change function.
 *
 * Design rationale:
 * - A commit that returned is durable (SQLite: WAL with synchronous=FULL; PostgreSQL:
 *   its own commit), which is what lets a webhook be answered 200 right after
 *   wb_store_add_body().
 * - Bodies are deduplicated by SHA-256: Meta retries the same bytes for days; we keep
 *   them once with a count instead of once per retry.
 * - Work is claimed per message by a bridge until its lease runs out (claim_by,
 *   lease_until; store_bridges.c), so two runs, a run and a daemon, or bridges on
 *   several hosts never take the same message; the claim of a bridge that is gone is
 *   free again. A message left in "delivering" by a dead bridge may or may not be in the
 *   mailbox: the caller checks the mailbox before delivering it again.
 * - Prepared statements are cached by their SQL text's address (every call site passes
 *   a string literal), reset on each use (db.c). */
#include "store.h"
#include "store-priv.h"
#include "caps.h"
#include "journal.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

G_DEFINE_QUARK(wb-store-error-quark, wb_store_error)


/* Schema versions, applied in order; PRAGMA user_version counts how many are in. */
static const char *const migrations[] = {
	/* 1: bodies, messages, complaints, events */
	"CREATE TABLE bodies ("
	"  id INTEGER PRIMARY KEY,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  body BLOB NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  verified INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  seen INTEGER NOT NULL DEFAULT 1,"
	"  state TEXT NOT NULL DEFAULT 'new'," /* new | expanded | bad */
	"  error TEXT);"
	"CREATE INDEX bodies_state ON bodies(state);"
	"CREATE TABLE complaints ("
	"  id INTEGER PRIMARY KEY,"
	"  ref TEXT NOT NULL UNIQUE,"
	"  station TEXT NOT NULL,"
	"  citizen TEXT NOT NULL,"
	"  year INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  first_wamid TEXT NOT NULL,"
	"  opened_at INTEGER NOT NULL,"
	"  last_activity INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'open'," /* open | closed */
	"  closed_reason TEXT,"
	"  number TEXT);"
	"CREATE INDEX complaints_citizen ON complaints(station, citizen, state);"
	"CREATE TABLE station_seq ("
	"  station TEXT NOT NULL, year INTEGER NOT NULL, last INTEGER NOT NULL,"
	"  PRIMARY KEY (station, year));"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  wamid TEXT NOT NULL UNIQUE,"
	"  body_id INTEGER NOT NULL REFERENCES bodies(id),"
	"  station TEXT,"
	"  phone_number_id TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  wa_id TEXT, user_id TEXT, profile_name TEXT,"
	"  ts INTEGER NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  context_id TEXT,"
	"  forwarded INTEGER NOT NULL DEFAULT 0,"
	"  json TEXT NOT NULL,"
	"  complaint_id INTEGER REFERENCES complaints(id),"
	"  state TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  claim_pid INTEGER, claimed_at INTEGER,"
	"  mail BLOB,"
	"  location TEXT, uidvalidity INTEGER, uid INTEGER,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE INDEX messages_work ON messages(state, next_at);"
	"CREATE INDEX messages_complaint ON messages(complaint_id);"
	"CREATE TABLE statuses ("
	"  id INTEGER PRIMARY KEY,"
	"  wamid TEXT NOT NULL, status TEXT NOT NULL, ts INTEGER NOT NULL,"
	"  error_code INTEGER NOT NULL DEFAULT 0, body_id INTEGER NOT NULL, json TEXT NOT NULL,"
	"  UNIQUE (wamid, status));"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, message_id INTEGER,"
	"  old TEXT, new TEXT NOT NULL, detail TEXT);",
	/* 2: a one-row table that /healthz writes to prove the store takes writes */
	"CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);",
	/* 3: what became of each message's media (the bytes themselves are in the mail) */
	"CREATE TABLE media ("
	"  message_id INTEGER PRIMARY KEY REFERENCES messages(id),"
	"  mime_type TEXT, sha256 TEXT, size INTEGER, error TEXT, at INTEGER NOT NULL);",
	/* 4: officers' replies, the outbox of WhatsApp sends, and operations on the
	 * stations' mailboxes (bridge notes appended, keywords set) */
	"ALTER TABLE statuses ADD COLUMN opaque TEXT;"
	"CREATE TABLE replies ("
	"  id INTEGER PRIMARY KEY,"
	"  key TEXT NOT NULL UNIQUE,"       /* "<Message-ID> from", else sha256:HEX */
	"  sha256 TEXT NOT NULL,"
	"  mail BLOB NOT NULL,"
	"  source TEXT NOT NULL,"           /* pipe | imap */
	"  received_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  seen INTEGER NOT NULL DEFAULT 1,"
	"  sender TEXT,"
	"  complaint_id INTEGER REFERENCES complaints(id),"
	"  matched_by TEXT,"                /* token | thread | subject */
	"  state TEXT NOT NULL,"            /* accepted | unauthorised | unmatched | empty | unparsable */
	"  reason TEXT,"
	"  text TEXT, number TEXT, tags TEXT);"
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  reply_id INTEGER REFERENCES replies(id),"
	"  complaint_id INTEGER NOT NULL REFERENCES complaints(id),"
	"  station TEXT NOT NULL, phone_number_id TEXT NOT NULL, recipient TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"             /* text | template */
	"  lang TEXT NOT NULL,"
	"  text TEXT, template TEXT, params TEXT, context_wamid TEXT,"
	"  fallback_template TEXT, fallback_params TEXT,"
	/* queued | sending | retry | accepted | sent | delivered | read | played | failed |
	 * unknown (a send interrupted by a crash and never confirmed: not sent again) | held
	 * (from 8: an officer's words waiting for the citizen to write again) */
	"  state TEXT NOT NULL DEFAULT 'queued',"
	"  noted TEXT NOT NULL DEFAULT 'queued'," /* the state the mailbox shows */
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT, error_code INTEGER NOT NULL DEFAULT 0,"
	"  wamid TEXT UNIQUE, request TEXT,"
	"  claim_pid INTEGER, sending_at INTEGER, accepted_at INTEGER,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  UNIQUE (reply_id, kind));"
	"CREATE INDEX outbox_work ON outbox(state, next_at);"
	"CREATE INDEX outbox_unnoted ON outbox(id) WHERE noted != state;"
	"CREATE TABLE mailops ("
	"  id INTEGER PRIMARY KEY,"
	"  station TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"             /* append | flag */
	"  message_id TEXT NOT NULL,"       /* the mail appended, or the mail to flag */
	"  keyword TEXT NOT NULL DEFAULT '',"
	"  mail BLOB,"
	"  state TEXT NOT NULL DEFAULT 'pending'," /* pending | done | failed */
	"  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT, claim_pid INTEGER, claimed_at INTEGER,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  UNIQUE (kind, message_id, keyword));"
	"CREATE INDEX mailops_work ON mailops(state, next_at);",
	/* 5: a complaint's replies, for its history and for counting refused ones */
	"CREATE INDEX replies_complaint ON replies(complaint_id, state, received_at);",
	/* 6: the station's duty (duty.h): each timer or escalation that fired, once per
	 * complaint; mail the bridge sends by SMTP; transfers between stations; the
	 * purpose of an outbox row that no officer wrote (ack, reminder, transfer); and a
	 * mailbox operation is unique per station, so the same mail may be placed in two
	 * stations' mailboxes (a transfer) */
	"ALTER TABLE complaints ADD COLUMN duty_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE complaints ADD COLUMN scanned_msg INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE complaints ADD COLUMN serious TEXT;"     /* the words that matched */
	"ALTER TABLE complaints ADD COLUMN escalated_at INTEGER;" /* serious or #escalate */
	"CREATE INDEX complaints_duty ON complaints(state, duty_at);"
	"CREATE TABLE duties ("
	"  id INTEGER PRIMARY KEY,"
	"  complaint_id INTEGER NOT NULL DEFAULT 0," /* 0: a station's (the digest) */
	"  station TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"   /* ack | due_soon | overdue_note | overdue (the first
				   * tier) | escalate_late | serious | manual | reminder |
				   * digest */
	"  key TEXT NOT NULL DEFAULT ''," /* digest: the local date */
	"  at INTEGER NOT NULL,"
	"  detail TEXT,"
	"  UNIQUE (station, complaint_id, kind, key));"
	"CREATE INDEX duties_complaint ON duties(complaint_id);"
	"CREATE TABLE mailout ("
	"  id INTEGER PRIMARY KEY,"
	"  duty_id INTEGER REFERENCES duties(id),"
	"  complaint_id INTEGER,"
	"  station TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"   /* escalation | digest */
	"  message_id TEXT NOT NULL UNIQUE,"
	"  rcpts TEXT NOT NULL,"  /* comma-separated */
	"  mail BLOB NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'pending'," /* pending | sent | failed */
	"  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT, claim_pid INTEGER, claimed_at INTEGER,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE INDEX mailout_work ON mailout(state, next_at);"
	"CREATE TABLE transfers ("
	"  id INTEGER PRIMARY KEY,"
	"  complaint_id INTEGER NOT NULL REFERENCES complaints(id),"
	"  from_station TEXT NOT NULL, to_station TEXT NOT NULL,"
	"  reply_id INTEGER REFERENCES replies(id), officer TEXT, reason TEXT,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX transfers_from ON transfers(from_station, complaint_id);"
	"ALTER TABLE outbox ADD COLUMN purpose TEXT;" /* NULL: an officer's reply */
	"CREATE UNIQUE INDEX outbox_purpose ON outbox(complaint_id, purpose, coalesce(reply_id, 0)) "
	"  WHERE purpose IS NOT NULL;"
	"CREATE TABLE mailops_new ("
	"  id INTEGER PRIMARY KEY,"
	"  station TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  message_id TEXT NOT NULL,"
	"  keyword TEXT NOT NULL DEFAULT '',"
	"  mail BLOB,"
	"  state TEXT NOT NULL DEFAULT 'pending',"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT, claim_pid INTEGER, claimed_at INTEGER,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  UNIQUE (station, kind, message_id, keyword));"
	"INSERT INTO mailops_new SELECT * FROM mailops;"
	"DROP TABLE mailops;"
	"ALTER TABLE mailops_new RENAME TO mailops;"
	"CREATE INDEX mailops_work ON mailops(state, next_at);",
	/* 7: "#new" splits a message and the later ones off into a new complaint (store.h,
	 * struct wb_split_in); such a complaint's first mail is the bridge's, its
	 * Message-ID local part in root (NULL: the first message's wamid, as before) */
	"ALTER TABLE complaints ADD COLUMN root TEXT;"
	"CREATE UNIQUE INDEX complaints_root ON complaints(root) WHERE root IS NOT NULL;"
	"CREATE TABLE splits ("
	"  id INTEGER PRIMARY KEY,"
	"  from_complaint INTEGER NOT NULL REFERENCES complaints(id),"
	"  to_complaint INTEGER NOT NULL UNIQUE REFERENCES complaints(id),"
	"  wamid TEXT NOT NULL,"            /* the message that starts the new complaint */
	"  moved INTEGER NOT NULL,"         /* how many messages moved */
	"  reply_id INTEGER UNIQUE REFERENCES replies(id), officer TEXT,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX splits_from ON splits(from_complaint);",
	/* 8: the officer's name as their mail gave it, for the records in the thread; an
	 * outbox row may be `held` (an officer's words that wait for the citizen's next
	 * message, since outside the 24-hour window only a template may go) */
	"ALTER TABLE replies ADD COLUMN sender_name TEXT;"
	"ALTER TABLE outbox ADD COLUMN words INTEGER NOT NULL DEFAULT 0;" /* beyond the number */
	"CREATE INDEX outbox_held ON outbox(complaint_id) WHERE state = 'held';",
	/* 9: the custody journal (journal.h): append-only, each entry hashing the one
	 * before it; written only by wb_store_journal_add() */
	"CREATE TABLE journal ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  ref TEXT,"
	"  subject TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  prev TEXT NOT NULL,"
	"  hash TEXT NOT NULL);"
	"CREATE INDEX journal_ref ON journal(ref) WHERE ref IS NOT NULL;",
	/* 10: every mail placed in a mailbox, with what proves it (store_deliveries.c);
	 * a mailbox operation may copy a mail from another station's mailbox (a transfer
	 * of a complaint whose mails have left the database) */
	"CREATE TABLE deliveries ("
	"  id INTEGER PRIMARY KEY,"
	"  station TEXT NOT NULL,"
	"  message_id TEXT NOT NULL,"       /* without <> */
	"  ref TEXT,"
	"  what TEXT NOT NULL,"             /* message | note | copy */
	"  msg INTEGER REFERENCES messages(id),"
	"  location TEXT, uidvalidity INTEGER NOT NULL DEFAULT 0, uid INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER NOT NULL,"
	"  sha256 TEXT NOT NULL,"           /* canonical bytes (maildigest.h) */
	"  digest BLOB NOT NULL,"           /* headers and parts, hashed: JSON, deflated */
	"  at INTEGER NOT NULL,"
	"  journal_id INTEGER NOT NULL,"    /* its "delivered" entry */
	"  UNIQUE (station, message_id));"
	"CREATE INDEX deliveries_ref ON deliveries(ref);"
	"CREATE INDEX deliveries_at ON deliveries(station, at);"
	"CREATE INDEX deliveries_msg ON deliveries(msg) WHERE msg IS NOT NULL;"
	"CREATE INDEX deliveries_message_id ON deliveries(message_id);"
	"ALTER TABLE mailops ADD COLUMN source TEXT;"
	/* the day's anchor is looked for at every pass (anchor.c) */
	"CREATE INDEX journal_kind ON journal(kind, id);"
	/* a rendered mail waits for its delivery in a table of its own: deleted there
	 * once delivered, it gives whole pages back, where clearing a column of messages
	 * would leave every page of that table part-empty */
	"CREATE TABLE rendered ("
	"  msg INTEGER PRIMARY KEY REFERENCES messages(id),"
	"  mail BLOB NOT NULL);"
	"INSERT INTO rendered SELECT id, mail FROM messages WHERE mail IS NOT NULL;"
	"ALTER TABLE messages DROP COLUMN mail;",
	/* 11: several bridges on one state (store_bridges.c): each bridge process has a row;
	 * work is claimed by a bridge (claim_by, its id) until its lease runs out
	 * (lease_until), no longer by a process id that only one host can check */
	"CREATE TABLE bridges ("
	"  id TEXT PRIMARY KEY,"            /* NODE:PID:START */
	"  node TEXT NOT NULL, pid INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL, seen_at INTEGER NOT NULL, lease_until INTEGER NOT NULL,"
	"  version TEXT NOT NULL, what TEXT NOT NULL,"
	"  stopped_at INTEGER);"
	"CREATE INDEX bridges_node ON bridges(node) WHERE stopped_at IS NULL;"
	"ALTER TABLE messages ADD COLUMN claim_by TEXT;"
	"ALTER TABLE messages ADD COLUMN lease_until INTEGER;"
	"ALTER TABLE messages DROP COLUMN claim_pid;"
	"ALTER TABLE messages DROP COLUMN claimed_at;"
	"ALTER TABLE outbox ADD COLUMN claim_by TEXT;"
	"ALTER TABLE outbox ADD COLUMN lease_until INTEGER;"
	"ALTER TABLE outbox DROP COLUMN claim_pid;"
	"ALTER TABLE mailops ADD COLUMN claim_by TEXT;"
	"ALTER TABLE mailops ADD COLUMN lease_until INTEGER;"
	"ALTER TABLE mailops DROP COLUMN claim_pid;"
	"ALTER TABLE mailops DROP COLUMN claimed_at;"
	"ALTER TABLE mailout ADD COLUMN claim_by TEXT;"
	"ALTER TABLE mailout ADD COLUMN lease_until INTEGER;"
	"ALTER TABLE mailout DROP COLUMN claim_pid;"
	"ALTER TABLE mailout DROP COLUMN claimed_at;"
	"CREATE INDEX messages_claim ON messages(claim_by) WHERE claim_by IS NOT NULL;"
	"CREATE INDEX outbox_claim ON outbox(claim_by) WHERE claim_by IS NOT NULL;"
	"CREATE INDEX mailops_claim ON mailops(claim_by) WHERE claim_by IS NOT NULL;"
	"CREATE INDEX mailout_claim ON mailout(claim_by) WHERE claim_by IS NOT NULL;",
};

bool sq_fail(struct wb_store *s, GError **error, const char *what)
{
	g_set_error(error, WB_STORE_ERROR, db_busy(s->db) ? WB_STORE_BUSY : WB_STORE_FAILED,
		    "state database %s: %s: %s", s->path, what, db_errmsg(s->db));
	return false;
}

bool sq_exec(struct wb_store *s, const char *sql, GError **error)
{
	return db_exec(s->db, sql) || sq_fail(s, error, "running a statement");
}

db_stmt *sq_prep(struct wb_store *s, const char *sql, GError **error)
{
	db_stmt *st = db_prep(s->db, sql);
	if (!st)
		sq_fail(s, error, "preparing a statement");
	return st;
}

void sq_bind_text(db_stmt *st, int i, const char *v)
{
	db_bind_text(st, i, v);
}

char *sq_col_text(db_stmt *st, int i)
{
	return g_strdup(db_col_text(st, i));
}

/* Run a prepared statement that returns no rows. */
bool sq_step_done(struct wb_store *s, db_stmt *st, GError **error, const char *what)
{
	int rc = db_step(st);
	db_reset(st);
	return rc == DB_DONE || rc == DB_ROW || sq_fail(s, error, what);
}

bool sq_begin(struct wb_store *s, GError **error)
{
	return db_begin(s->db) || sq_fail(s, error, "beginning a transaction");
}

bool sq_begin_claim(struct wb_store *s, GError **error)
{
	if (!wb_store_bridge_ready(s, error))
		return false;
	return db_begin_shared(s->db) || sq_fail(s, error, "beginning a transaction");
}

bool sq_commit(struct wb_store *s, GError **error)
{
	return db_commit(s->db) || sq_fail(s, error, "committing");
}

bool sq_rollback(struct wb_store *s)
{
	db_rollback(s->db);
	return false;
}

static bool schema_version(struct wb_store *s, int *version, GError **error)
{
	return db_get_version(s->db, version) || sq_fail(s, error, "reading the schema version");
}

static bool too_new(struct wb_store *s, int have, GError **error)
{
	int want = (int)G_N_ELEMENTS(migrations);
	if (have <= want)
		return false;
	g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED,
		    "state database %s has schema version %d, newer than this wabridge (%d): use "
		    "a newer wabridge or restore a backup", s->path, have, want);
	return true;
}

/* Each step reads the version inside its own write transaction, so two processes
 * opening a new database at once do not both apply the same migration. */
static bool migrate(struct wb_store *s, GError **error)
{
	for (;;) {
		int have;
		if (!sq_begin(s, error))
			return false;
		if (!schema_version(s, &have, error) || too_new(s, have, error))
			return sq_rollback(s);
		if (have == (int)G_N_ELEMENTS(migrations))
			return sq_commit(s, error);
		g_autofree char *sql = db_pg(s->db) ? db_pg_ddl(migrations[have])
						     : g_strdup(migrations[have]);
		if (!sq_exec(s, sql, error))
			return sq_rollback(s);
		if (!db_set_version(s->db, have + 1))
			return sq_fail(s, error, "setting the schema version") || sq_rollback(s);
		if (!sq_commit(s, error))
			return false;
		g_info("state database %s: schema migrated to version %d", s->path, have + 1);
	}
}

static bool pragma_int(struct wb_store *s, const char *sql, int64_t *v, GError **error)
{
	db_stmt *st = sq_prep(s, sql, error);
	if (!st)
		return false;
	bool ok = db_step(st) == DB_ROW;
	if (ok)
		*v = db_col_int64(st, 0);
	else
		sq_fail(s, error, sql);
	db_reset(st);
	return ok;
}

/* A database created before auto_vacuum was set (NONE) never shrinks: freed pages are
 * reused, but the file keeps the largest size it ever had. The only way to change that
 * is a VACUUM, which rewrites the whole database: it takes a while and needs room for
 * about two copies of the live data (a temporary copy, then every page once through the
 * WAL). Without that room it is not tried, as a VACUUM that fills the disk would fail
 * the daemon's own writes meanwhile. A failure is logged and the store works on as it
 * is: a full disk must not stop the bridge; the next open tries again. */
static void convert_auto_vacuum(struct wb_store *s)
{
	int64_t pages = 0, free_pages = 0, page_size = 0;
	GError *err = NULL;
	if (sqlite3_db_readonly(db_sqlite(s->db), "main") != 0 ||
	    !pragma_int(s, "PRAGMA page_count", &pages, &err) ||
	    !pragma_int(s, "PRAGMA freelist_count", &free_pages, &err) ||
	    !pragma_int(s, "PRAGMA page_size", &page_size, &err)) {
		if (err)
			g_warning("%s", err->message);
		g_clear_error(&err);
		return;
	}
	guint64 live = (guint64)(pages - free_pages) * (guint64)page_size;
	g_autofree char *dir = g_path_get_dirname(s->path);
	struct statvfs fs;
	if (statvfs(dir, &fs) == 0 && (guint64)fs.f_bavail * fs.f_frsize < 2 * live + (8 << 20)) {
		g_warning("state database %s: not converted to auto_vacuum = incremental (a VACUUM "
			  "that needs about %" G_GUINT64_FORMAT " MiB free in %s, which has %"
			  G_GUINT64_FORMAT " MiB): the file will not shrink; tried again at the next "
			  "start", s->path, (2 * live >> 20) + 8, dir,
			  (guint64)fs.f_bavail * fs.f_frsize >> 20);
		return;
	}
	gint64 t0 = g_get_monotonic_time();
	if (!sq_exec(s, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM", &err)) {
		g_warning("%s: not converted to auto_vacuum = incremental (VACUUM failed); the "
			  "file will not shrink; tried again at the next start", err->message);
		g_error_free(err);
		return;
	}
	/* The WAL now holds every page: copy them home and let the WAL file go. */
	sqlite3_wal_checkpoint_v2(db_sqlite(s->db), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	int64_t after = 0;
	pragma_int(s, "PRAGMA page_count", &after, NULL);
	g_message("state database %s: converted to auto_vacuum = incremental (VACUUM, once, in "
		  "%.1f s): %" G_GINT64_FORMAT " MiB, was %" G_GINT64_FORMAT " MiB", s->path,
		  (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC,
		  after * page_size >> 20, pages * page_size >> 20);
}

struct wb_store *wb_store_open(const char *path, GError **error)
{
	return wb_store_open_as(path, NULL, error);
}

/* PostgreSQL: the schema is read and migrated inside one locked transaction per step
 * (migrate), so bridges starting together do not both apply a migration. */
static bool open_pg(struct wb_store *s, GError **error)
{
	int have = 0;
	if (!sq_begin(s, error))
		return false;
	bool ok = schema_version(s, &have, error) && !too_new(s, have, error);
	db_rollback(s->db);
	return ok && migrate(s, error);
}

static bool open_sqlite(struct wb_store *s, GError **error)
{
	int have = 0;
	int64_t auto_vacuum = 0, tables = 0;
	/* Refuse a newer schema before touching the file (journal mode included).
	 * auto_vacuum lives in the file's first page: for a new database it must come before
	 * anything writes that page, and switching to WAL does. On a database that has tables
	 * it changes nothing by itself (convert_auto_vacuum), and once set on the connection
	 * PRAGMA auto_vacuum answers with what was set: the file's own value is read before. */
	if (!schema_version(s, &have, error) || too_new(s, have, error) ||
	    !pragma_int(s, "PRAGMA auto_vacuum", &auto_vacuum, error) ||
	    !pragma_int(s, "SELECT count(*) FROM sqlite_schema", &tables, error) ||
	    !sq_exec(s, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
		  "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", error) ||
	    !migrate(s, error))
		return false;
	if (auto_vacuum == 0 && tables > 0)
		convert_auto_vacuum(s);
	return true;
}

struct wb_store *wb_store_open_cfg(const struct wb_config *cfg, GError **error)
{
	return wb_store_open_as(cfg->state, cfg->state_password, error);
}

struct wb_store *wb_store_open_as(const char *location, const char *password, GError **error)
{
	char *why = NULL;
	struct wb_db *db = db_open(location, password, &why);
	if (!db) {
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "%s", why);
		g_free(why);
		return NULL;
	}
	struct wb_store *s = g_new0(struct wb_store, 1);
	s->db = db;
	s->path = g_strdup(db_name(db));
	if (!(db_pg(db) ? open_pg(s, error) : open_sqlite(s, error))) {
		wb_store_close(s);
		return NULL;
	}
	return s;
}

void wb_store_close(struct wb_store *s)
{
	if (!s)
		return;
	if (s->squeezer)
		g_object_unref(s->squeezer);
	db_close(s->db);
	g_free(s->path);
	g_free(s->journal_hash);
	g_free(s);
}

/* Bodies being stored, for db_step_each(). */
struct storing {
	struct wb_body_in *in;
	char **sha;
	bool *fresh, *got;
	const char *source;
	gint64 now;
};

static void bind_body(db_stmt *st, size_t i, void *data)
{
	const struct storing *b = data;
	sq_bind_text(st, 1, b->sha[i]);
	db_bind_blob(st, 2, b->in[i].len ? b->in[i].body : "", b->in[i].len);
	db_bind_int64(st, 3, (int64_t)b->in[i].len);
	db_bind_int64(st, 4, b->in[i].verified);
	sq_bind_text(st, 5, b->source);
	db_bind_int64(st, 6, b->now);
}

static void body_row(db_stmt *st, size_t i, void *data)
{
	const struct storing *b = data;
	b->in[i].body_id = db_col_int64(st, 0);
	b->fresh[i] = db_col_int64(st, 1) == 1;
	b->got[i] = true;
}

/* Insert (or count again) each body and read back its id, then journal the first
 * arrival of each (Meta's retries of the same bytes are counted, not journaled); inside
 * a transaction. On PostgreSQL the bodies go in one round trip, their entries in
 * another. fresh: each body's bytes were new (n of them). */
static bool insert_bodies(struct wb_store *s, struct wb_body_in *in, size_t n,
			  const char *source, gint64 now, bool *fresh, GError **error)
{
	struct storing b = { .in = in, .sha = g_new0(char *, n), .fresh = fresh,
			     .got = g_new0(bool, n), .source = source, .now = now };
	for (size_t i = 0; i < n; i++)
		b.sha[i] = wb_sha256_hex(in[i].body, in[i].len);
	db_stmt *st = sq_prep(s, "INSERT INTO bodies (sha256, body, size, verified, source, "
				"received_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT "
				"(sha256) DO UPDATE SET seen = bodies.seen + 1, last_seen = ?6 "
				"RETURNING id, seen", error);
	bool ok = st && (db_step_each(st, n, bind_body, body_row, &b) ||
			 sq_fail(s, error, "storing a webhook body"));
	for (size_t i = 0; ok && i < n; i++)
		if (!b.got[i]) {
			g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "state database %s: "
				    "storing a webhook body gave back no id", s->path);
			ok = false;
		}
	struct sq_journal_entry *e = g_new0(struct sq_journal_entry, n);
	char **detail = g_new0(char *, n);
	size_t k = 0;
	for (size_t i = 0; ok && i < n; i++) {
		if (!fresh[i])
			continue;
		detail[k] = g_strdup_printf("%zu bytes from %s, signature %s", in[i].len, source,
					    in[i].verified ? "verified" : "not verified");
		e[k] = (struct sq_journal_entry){ "body", NULL, b.sha[i], detail[k] };
		k++;
	}
	ok = ok && sq_journal_add_many(s, e, k, error);
	for (size_t i = 0; i < n; i++) {
		g_free(b.sha[i]);
		g_free(detail[i]);
	}
	g_free(b.sha);
	g_free(b.got);
	g_free(detail);
	g_free(e);
	return ok;
}

bool wb_store_begin_bodies(struct wb_store *s, GError **error)
{
	return sq_begin(s, error);
}

bool wb_store_commit_bodies(struct wb_store *s, struct wb_body_in *items, size_t n,
			    const char *source, GError **error)
{
	g_autofree bool *fresh = g_new0(bool, n ? n : 1);
	if (!insert_bodies(s, items, n, source, wb_now(), fresh, error))
		return sq_rollback(s);
	/* the other bridges hear of them with the commit (no round trip of its own) */
	if (!wb_store_notify(s, error))
		return sq_rollback(s);
	return sq_commit(s, error);
}

bool wb_store_add_bodies(struct wb_store *s, struct wb_body_in *items, size_t n,
			 const char *source, GError **error)
{
	return wb_store_begin_bodies(s, error) &&
	       wb_store_commit_bodies(s, items, n, source, error);
}

bool wb_store_add_body(struct wb_store *s, const void *body, size_t len, bool verified,
		       const char *source, int64_t *body_id, bool *is_new, GError **error)
{
	struct wb_body_in in = { .body = body, .len = len, .verified = verified };
	bool fresh = false;
	if (!sq_begin(s, error))
		return false;
	if (!insert_bodies(s, &in, 1, source, wb_now(), &fresh, error))
		return sq_rollback(s);
	*body_id = in.body_id;
	if (is_new)
		*is_new = fresh;
	return sq_commit(s, error);
}

bool wb_store_body_bad(struct wb_store *s, int64_t body_id, const char *reason, GError **error)
{
	db_stmt *st = sq_prep(s, "UPDATE bodies SET state = 'bad', error = ?2 WHERE id = ?1",
				error);
	if (!st)
		return false;
	db_bind_int64(st, 1, body_id);
	sq_bind_text(st, 2, reason);
	if (!sq_step_done(s, st, error, "marking a body bad"))
		return false;
	g_warning("webhook body %" G_GINT64_FORMAT " kept as bad: %s", body_id, reason);
	return true;
}

/* Next sequence number of a station in a year; inside the caller's transaction. */
static bool next_seq(struct wb_store *s, const char *station, int year, int64_t *seq,
		     GError **error)
{
	db_stmt *st = sq_prep(s, "INSERT INTO station_seq (station, year, last) VALUES "
				"(?1, ?2, 1) ON CONFLICT (station, year) DO UPDATE SET "
				"last = station_seq.last + 1 RETURNING last", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, station);
	db_bind_int64(st, 2, year);
	bool ok = db_step(st) == DB_ROW;
	if (ok)
		*seq = db_col_int64(st, 0);
	else
		sq_fail(s, error, "taking a complaint number");
	db_reset(st);
	return ok;
}

static int year_of(gint64 ts, const char *zone)
{
	g_autoptr(GDateTime) local = wb_local_time(ts, zone);
	return local ? g_date_time_get_year(local) : 1970;
}

bool wb_store_next_ref(struct wb_store *s, const char *station, const char *code, gint64 ts,
		       const char *zone, char **ref, int *year, int64_t *seq, GError **error)
{
	*year = year_of(ts, zone);
	if (!next_seq(s, station, *year, seq, error))
		return false;
	*ref = g_strdup_printf("%s-%04d-%06" G_GINT64_FORMAT, code, *year, *seq);
	return true;
}

/* The open complaint of this citizen at this station, or a new one (the old one closes
 * when it has been idle longer than complaint_idle_days). Inside a transaction. */
/* A reaction is a note on the message it reacts to, never a complaint of its own: the
 * complaint of that message when it is one of this citizen's, else the citizen's latest
 * complaint at this station (open or not). Only a citizen with none gets a new one. */
static bool reaction_complaint(struct wb_store *s, const struct wb_station *stn,
			       const struct wb_inmsg *m, int64_t *complaint_id, GError **error)
{
	*complaint_id = 0;
	if (strcmp(m->type, "reaction") != 0)
		return true;
	db_stmt *st = sq_prep(s, "SELECT coalesce((SELECT complaint_id FROM messages WHERE "
				"wamid = ?1 AND station = ?2 AND sender = ?3), (SELECT max(id) FROM "
				"complaints WHERE station = ?2 AND citizen = ?3))", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, m->reacts_to);
	sq_bind_text(st, 2, stn->key);
	sq_bind_text(st, 3, m->sender);
	int rc = db_step(st);
	if (rc == DB_ROW && db_col_type(st, 0) != DB_NULL)
		*complaint_id = db_col_int64(st, 0);
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding a reaction's complaint");
}

static bool complaint_for(struct wb_store *s, const struct wb_config *cfg,
			  const struct wb_station *stn, const struct wb_inmsg *m, gint64 ts,
			  int64_t *complaint_id, GError **error)
{
	if (!reaction_complaint(s, stn, m, complaint_id, error))
		return false;
	if (*complaint_id)
		return true;
	gint64 idle = (gint64)cfg->complaint_idle_days * 86400;
	/* Also a complaint transferred away from this station: the citizen keeps writing
	 * to the number they know, and it reaches the station that holds it now. */
	db_stmt *st = sq_prep(s, "SELECT id, last_activity FROM complaints WHERE station = ?1 "
				"AND citizen = ?2 AND state = 'open' UNION ALL SELECT c.id, "
				"c.last_activity FROM transfers t JOIN complaints c ON c.id = "
				"t.complaint_id WHERE t.from_station = ?1 AND c.citizen = ?2 AND "
				"c.state = 'open' ORDER BY 1 DESC LIMIT 1", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, stn->key);
	sq_bind_text(st, 2, m->sender);
	int rc = db_step(st);
	int64_t open_id = rc == DB_ROW ? db_col_int64(st, 0) : 0;
	gint64 last = rc == DB_ROW ? db_col_int64(st, 1) : 0;
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return sq_fail(s, error, "finding the citizen's complaint");

	if (open_id && ts - last <= idle) {
		st = sq_prep(s, "UPDATE complaints SET last_activity = max(last_activity, ?2), "
			  "duty_at = 0 WHERE id = ?1", error);
		if (!st)
			return false;
		db_bind_int64(st, 1, open_id);
		db_bind_int64(st, 2, ts);
		*complaint_id = open_id;
		return sq_step_done(s, st, error, "updating a complaint");
	}
	if (open_id) {
		st = sq_prep(s, "UPDATE complaints SET state = 'closed', closed_reason = 'idle' "
			  "WHERE id = ?1", error);
		if (!st)
			return false;
		db_bind_int64(st, 1, open_id);
		if (!sq_step_done(s, st, error, "closing an idle complaint"))
			return false;
	}
	int year;
	int64_t seq;
	g_autofree char *ref = NULL;
	if (!wb_store_next_ref(s, stn->key, stn->code, ts, cfg->timezone, &ref, &year, &seq, error))
		return false;
	st = sq_prep(s, "INSERT INTO complaints (ref, station, citizen, year, seq, first_wamid, "
		  "opened_at, last_activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, ref);
	sq_bind_text(st, 2, stn->key);
	sq_bind_text(st, 3, m->sender);
	db_bind_int64(st, 4, year);
	db_bind_int64(st, 5, seq);
	sq_bind_text(st, 6, m->wamid);
	db_bind_int64(st, 7, ts);
	if (!sq_step_done(s, st, error, "opening a complaint"))
		return false;
	*complaint_id = db_last_id(s->db);
	g_message("complaint %s opened at %s for %s", ref, stn->key, m->sender);
	return true;
}

static bool add_event(struct wb_store *s, int64_t msg_id, const char *old, const char *new,
		      const char *detail, GError **error)
{
	db_stmt *st = sq_prep(s, "INSERT INTO events (at, message_id, old, new, detail) "
				"VALUES (?1, ?2, ?3, ?4, ?5)", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, wb_now());
	db_bind_int64(st, 2, msg_id);
	sq_bind_text(st, 3, old);
	sq_bind_text(st, 4, new);
	sq_bind_text(st, 5, detail);
	return sq_step_done(s, st, error, "recording an event");
}

/* The station that holds the complaint now, into *stn (a transferred complaint's message
 * goes to its new station's mailbox), unless that one is no longer configured. */
static bool holder(struct wb_store *s, const struct wb_config *cfg, int64_t complaint_id,
		   const struct wb_station **stn, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT station FROM complaints WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, complaint_id);
	int rc = db_step(st);
	const char *key = rc == DB_ROW ? (const char *)db_col_text(st, 0) : NULL;
	const struct wb_station *now = key && strcmp(key, (*stn)->key) != 0
		? wb_config_station_stored(cfg, key) : NULL;
	if (now)
		*stn = now;
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding a complaint's station");
}

/* Insert one message; *added false when its wamid is already known. */
static bool add_message(struct wb_store *s, const struct wb_config *cfg, int64_t body_id,
			const struct wb_inmsg *m, bool *added, bool *unrouted, GError **error)
{
	gint64 now = wb_now();
	gint64 ts = m->timestamp ? m->timestamp : now;
	const struct wb_station *stn = wb_config_station_for(cfg, m->phone_number_id);
	int64_t complaint_id = 0;

	db_stmt *st = sq_prep(s, "SELECT 1 FROM messages WHERE wamid = ?1", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, m->wamid);
	int rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW) {
		*added = false;
		return true;
	}
	if (stn && (!complaint_for(s, cfg, stn, m, ts, &complaint_id, error) ||
		    !holder(s, cfg, complaint_id, &stn, error)))
		return false;
	/* The citizen's message opens the 24-hour window again: officers' words that
	 * waited for it go now (a message Meta delivers late opens nothing). */
	if (complaint_id && now - ts < WB_WINDOW_SECONDS &&
	    !wb_store_release_held(s, complaint_id, error))
		return false;
	st = sq_prep(s, "INSERT INTO messages (wamid, body_id, station, phone_number_id, sender, "
		  "wa_id, user_id, profile_name, ts, received_at, type, context_id, forwarded, "
		  "json, complaint_id, state, updated_at, last_error) VALUES (?1, ?2, ?3, ?4, ?5, "
		  "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?10, ?17)", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, m->wamid);
	db_bind_int64(st, 2, body_id);
	sq_bind_text(st, 3, stn ? stn->key : NULL);
	sq_bind_text(st, 4, m->phone_number_id);
	sq_bind_text(st, 5, m->sender);
	sq_bind_text(st, 6, m->wa_id);
	sq_bind_text(st, 7, m->user_id);
	sq_bind_text(st, 8, m->profile_name);
	db_bind_int64(st, 9, ts);
	db_bind_int64(st, 10, now);
	sq_bind_text(st, 11, m->type);
	sq_bind_text(st, 12, m->context_id);
	db_bind_int64(st, 13, m->forwarded);
	sq_bind_text(st, 14, m->json);
	if (complaint_id)
		db_bind_int64(st, 15, complaint_id);
	sq_bind_text(st, 16, stn ? WB_ST_RECEIVED : WB_ST_UNROUTED);
	g_autofree char *why = stn ? NULL :
		g_strdup_printf("no station has phone_number_id %s; add a [station:…] group "
				"with it, the message is kept", m->phone_number_id);
	sq_bind_text(st, 17, why);
	if (!sq_step_done(s, st, error, "storing a message"))
		return false;
	int64_t id = db_last_id(s->db);
	*added = true;
	*unrouted = stn == NULL;
	wb_metrics_message(m->type);
	if (!add_event(s, id, NULL, stn ? WB_ST_RECEIVED : WB_ST_UNROUTED, why, error))
		return false;
	if (stn)
		g_message("message %" G_GINT64_FORMAT " %s from %s to %s: → %s", id, m->wamid,
			  m->sender, stn->key, WB_ST_RECEIVED);
	else
		g_warning("message %" G_GINT64_FORMAT " %s: → %s: %s", id, m->wamid,
			  WB_ST_UNROUTED, why);
	return true;
}

static bool add_status(struct wb_store *s, int64_t body_id, const struct wb_instatus *x,
		       GError **error)
{
	db_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO statuses (wamid, status, ts, "
				"error_code, body_id, json, opaque) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, x->wamid);
	sq_bind_text(st, 2, x->status);
	db_bind_int64(st, 3, x->timestamp);
	db_bind_int64(st, 4, x->error_code);
	db_bind_int64(st, 5, body_id);
	sq_bind_text(st, 6, x->json);
	sq_bind_text(st, 7, x->opaque);
	return sq_step_done(s, st, error, "storing a status") && wb_store_status_in_txn(s, x, error);
}

/* One body's messages and statuses, inside the caller's transaction. */
static bool expand_in_txn(struct wb_store *s, const struct wb_config *cfg, int64_t body_id,
			  const struct wb_payload *p, struct wb_expand_counts *c, GError **error)
{
	for (guint i = 0; i < p->messages->len; i++) {
		bool added = false, unrouted = false;
		if (!add_message(s, cfg, body_id, p->messages->pdata[i], &added, &unrouted, error))
			return false;
		c->added += added;
		c->duplicates += !added;
		c->unrouted += unrouted;
	}
	for (guint i = 0; i < p->statuses->len; i++) {
		if (!add_status(s, body_id, p->statuses->pdata[i], error))
			return false;
		c->statuses++;
	}
	g_autofree char *problems = NULL;
	if (p->problems->len) {
		g_ptr_array_add(p->problems, NULL);
		problems = g_strjoinv("; ", (char **)p->problems->pdata);
		g_ptr_array_remove_index(p->problems, p->problems->len - 1);
		g_warning("webhook body %" G_GINT64_FORMAT ": skipped items: %s", body_id, problems);
	}
	db_stmt *st = sq_prep(s, "UPDATE bodies SET state = 'expanded', error = ?2 WHERE id = ?1",
				error);
	if (!st)
		return false;
	db_bind_int64(st, 1, body_id);
	sq_bind_text(st, 2, problems);
	return sq_step_done(s, st, error, "marking a body expanded");
}

bool wb_store_expand(struct wb_store *s, const struct wb_config *cfg, int64_t body_id,
		     const struct wb_payload *p, struct wb_expand_counts *counts, GError **error)
{
	struct wb_expand_counts c = { 0 };
	if (!sq_begin(s, error))
		return false;
	if (!expand_in_txn(s, cfg, body_id, p, &c, error))
		return sq_rollback(s);
	if (!sq_commit(s, error))
		return false;
	if (counts)
		*counts = c;
	return true;
}

/* Bodies being expanded, for db_step_each(): which are still new. */
struct expanding {
	const struct wb_expand_item *items;
	bool *fresh;
};

static void bind_item(db_stmt *st, size_t i, void *data)
{
	db_bind_int64(st, 1, ((const struct expanding *)data)->items[i].body_id);
}

static void item_new(db_stmt *st, size_t i, void *data)
{
	(void)st;
	((struct expanding *)data)->fresh[i] = true;
}

bool wb_store_expand_many(struct wb_store *s, const struct wb_config *cfg,
			  const struct wb_expand_item *items, size_t n, GError **error)
{
	struct wb_expand_counts c = { 0 };
	if (!sq_begin(s, error))
		return false;
	/* Bodies another bridge (or process) expanded since they were listed are passed
	 * over: one round trip for all rather than every message of each looked up again. */
	g_autofree bool *fresh = g_new0(bool, n ? n : 1);
	struct expanding e = { items, fresh };
	db_stmt *st = sq_prep(s, "SELECT 1 FROM bodies WHERE id = ?1 AND state = 'new'", error);
	if (!st || !db_step_each(st, n, bind_item, item_new, &e)) {
		if (st)
			sq_fail(s, error, "reading which bodies are new");
		return sq_rollback(s);
	}
	for (size_t i = 0; i < n; i++) {
		if (!fresh[i])
			continue;
		bool ok = items[i].payload
			? expand_in_txn(s, cfg, items[i].body_id, items[i].payload, &c, error)
			: wb_store_body_bad(s, items[i].body_id, items[i].bad_reason, error);
		if (!ok)
			return sq_rollback(s);
	}
	return sq_commit(s, error);
}

GArray *sq_ids(struct wb_store *s, const char *sql, const char *what, GError **error)
{
	db_stmt *st = sq_prep(s, sql, error);
	return st ? sq_step_ids(s, st, what, error) : NULL;
}

GArray *sq_step_ids(struct wb_store *s, db_stmt *st, const char *what, GError **error)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		int64_t id = db_col_int64(st, 0);
		g_array_append_val(ids, id);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		g_array_unref(ids);
		sq_fail(s, error, what);
		return NULL;
	}
	return ids;
}

GArray *wb_store_unexpanded_bodies(struct wb_store *s, GError **error)
{
	return sq_ids(s, "SELECT id FROM bodies WHERE state = 'new' ORDER BY id",
		      "listing new bodies", error);
}

GBytes *wb_store_body(struct wb_store *s, int64_t body_id, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT body FROM bodies WHERE id = ?1", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, body_id);
	GBytes *b = NULL;
	int rc = db_step(st);
	if (rc == DB_ROW)
		b = g_bytes_new(db_col_blob(st, 0), (gsize)db_col_bytes(st, 0));
	else if (rc == DB_DONE)
		g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND, "no body %" G_GINT64_FORMAT,
			    body_id);
	else
		sq_fail(s, error, "reading a body");
	db_reset(st);
	return b;
}

GArray *wb_store_claim(struct wb_store *s, unsigned max, gint64 now, GError **error)
{
	if (!sq_begin_claim(s, error))
		return NULL;
	db_stmt *st = sq_prep(s, "SELECT id, claim_by, lease_until FROM messages WHERE state "
				"IN ('received', 'rendered', 'retry', 'delivering') AND next_at <= ?1 "
				"AND " WB_CLAIMABLE " ORDER BY id LIMIT ?3" WB_SKIP_LOCKED, error);
	if (!st) {
		sq_rollback(s);
		return NULL;
	}
	db_bind_int64(st, 1, now);
	sq_bind_text(st, 2, wb_bridge_id());
	db_bind_int64(st, 3, max);
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
	int rc = DB_DONE;
	while (ids->len < max && (rc = db_step(st)) == DB_ROW) {
		int64_t id = db_col_int64(st, 0);
		if (wb_claim_held(db_col_text(st, 1), db_col_int64(st, 2), now))
			continue;
		g_array_append_val(ids, id);
	}
	db_reset(st);
	bool ok = rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding due messages");
	for (guint i = 0; ok && i < ids->len; i++) {
		st = sq_prep(s, "UPDATE messages SET claim_by = ?2, lease_until = ?3 WHERE id = ?1",
			  error);
		ok = st != NULL;
		if (ok) {
			db_bind_int64(st, 1, g_array_index(ids, int64_t, i));
			sq_bind_text(st, 2, wb_bridge_id());
			db_bind_int64(st, 3, now + wb_lease_seconds());
			ok = sq_step_done(s, st, error, "claiming a message");
		}
	}
	if (!ok || !sq_commit(s, error)) {
		sq_rollback(s);
		g_array_unref(ids);
		return NULL;
	}
	return ids;
}

void wb_msg_free(struct wb_msg *m)
{
	if (!m)
		return;
	g_free(m->wamid);
	g_free(m->station);
	g_free(m->phone_number_id);
	g_free(m->sender);
	g_free(m->wa_id);
	g_free(m->user_id);
	g_free(m->profile_name);
	g_free(m->type);
	g_free(m->json);
	g_free(m->context_id);
	g_free(m->state);
	g_free(m->last_error);
	g_free(m->payload_sha256);
	g_free(m->ref);
	g_free(m->thread_root);
	g_free(m->reply_parent);
	if (m->mail)
		g_bytes_unref(m->mail);
	if (m->media)
		g_bytes_unref(m->media);
	g_free(m->media_mime);
	g_free(m->media_sha256);
	g_free(m->media_error);
	g_free(m);
}

struct wb_msg *wb_store_message(struct wb_store *s, int64_t id, GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT m.id, m.wamid, m.station, m.phone_number_id, m.sender, m.wa_id, m.user_id, "
		"m.profile_name, m.type, m.json, m.context_id, m.state, m.last_error, b.sha256, "
		"m.ts, m.received_at, m.attempts, m.forwarded, m.complaint_id, c.ref, "
		"coalesce(c.root, c.first_wamid), (SELECT r.mail FROM rendered r WHERE r.msg = m.id), "
		"coalesce((SELECT p.wamid FROM messages p WHERE p.wamid = m.context_id), "
		" (SELECT 'wb-out-' || o.id FROM outbox o WHERE o.wamid = m.context_id)) "
		"FROM messages m JOIN bodies b ON b.id = m.body_id "
		"LEFT JOIN complaints c ON c.id = m.complaint_id WHERE m.id = ?1", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, id);
	if (db_step(st) != DB_ROW) {
		db_reset(st);
		g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND,
			    "no message %" G_GINT64_FORMAT, id);
		return NULL;
	}
	struct wb_msg *m = g_new0(struct wb_msg, 1);
	char **texts[] = { &m->wamid, &m->station, &m->phone_number_id, &m->sender, &m->wa_id,
			   &m->user_id, &m->profile_name, &m->type, &m->json, &m->context_id,
			   &m->state, &m->last_error, &m->payload_sha256 };
	m->id = db_col_int64(st, 0);
	for (int i = 0; i < (int)G_N_ELEMENTS(texts); i++)
		*texts[i] = sq_col_text(st, i + 1);
	m->ts = db_col_int64(st, 14);
	m->received_at = db_col_int64(st, 15);
	m->attempts = db_col_int(st, 16);
	m->forwarded = db_col_int(st, 17);
	m->complaint_id = db_col_int64(st, 18);
	m->ref = sq_col_text(st, 19);
	m->thread_root = sq_col_text(st, 20);
	if (m->thread_root && strcmp(m->thread_root, m->wamid) == 0)
		g_clear_pointer(&m->thread_root, g_free);
	if (db_col_type(st, 21) == DB_BLOB)
		m->mail = g_bytes_new(db_col_blob(st, 21), (gsize)db_col_bytes(st, 21));
	m->reply_parent = sq_col_text(st, 22);
	db_reset(st);
	return m;
}

static bool record_media(struct wb_store *s, int64_t id, const struct wb_media_facts *f,
			 GError **error)
{
	db_stmt *st = sq_prep(s, "INSERT INTO media (message_id, mime_type, sha256, size, error, "
				"at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (message_id) DO UPDATE "
				"SET mime_type = ?2, sha256 = ?3, size = ?4, error = ?5, at = ?6", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, id);
	sq_bind_text(st, 2, f->mime_type);
	sq_bind_text(st, 3, f->sha256);
	db_bind_int64(st, 4, f->size);
	sq_bind_text(st, 5, f->error);
	db_bind_int64(st, 6, wb_now());
	return sq_step_done(s, st, error, "recording media");
}

/* One change inside the caller's transaction; *line gets its log line (logged only
 * once the transaction has committed). */
/* A mail delivered to a station that no longer holds its complaint (it was on its way
 * when the complaint was transferred, store_transfer.c): placed in the mailbox of the
 * station that holds it now. */
static bool follow_transfer(struct wb_store *s, const struct wb_change *c, GError **error)
{
	if (!c->message_id || strcmp(c->state, WB_ST_DELIVERED) != 0)
		return true;
	/* A spooled mail (pipeline.c) has no bytes here: copied from the mailbox it went to. */
	db_stmt *st = sq_prep(s, "INSERT OR IGNORE INTO mailops (station, kind, message_id, "
				"mail, source, created_at, updated_at) SELECT c.station, CASE WHEN "
				"r.mail IS NULL THEN 'copy' ELSE 'append' END, ?2, r.mail, CASE WHEN "
				"r.mail IS NULL THEN m.station END, ?3, ?3 FROM messages m JOIN "
				"complaints c ON c.id = m.complaint_id LEFT JOIN rendered r ON r.msg = "
				"m.id WHERE m.id = ?1 AND c.station != m.station",
				error);
	if (!st)
		return false;
	db_bind_int64(st, 1, c->id);
	sq_bind_text(st, 2, c->message_id);
	db_bind_int64(st, 3, wb_now());
	if (!sq_step_done(s, st, error, "following a transferred complaint"))
		return false;
	if (db_changes(s->db))
		g_message("message %" G_GINT64_FORMAT ": its complaint was transferred meanwhile; "
			  "the mail is placed in the new station's mailbox too", c->id);
	return true;
}

/* A mail in a mailbox: recorded with where it went (location, UIDVALIDITY/UID) and what
 * proves it, journaled, and its bytes let go: the mailbox holds them now
 * (store_deliveries.c). follow_transfer() has taken its copy in this transaction. */
static bool record_delivered(struct wb_store *s, const struct wb_change *c, const char *ref,
			     const char *wamid, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT (SELECT mail FROM rendered WHERE msg = m.id), "
				"location, uidvalidity, uid, station FROM messages m WHERE id = ?1",
				error);
	if (!st)
		return false;
	db_bind_int64(st, 1, c->id);
	if (db_step(st) != DB_ROW) {
		db_reset(st);
		return sq_fail(s, error, "reading a delivered mail");
	}
	g_autoptr(GBytes) mail = db_col_type(st, 0) == DB_BLOB
		? g_bytes_new(db_col_blob(st, 0), (gsize)db_col_bytes(st, 0)) : NULL;
	g_autofree char *location = sq_col_text(st, 1);
	gint64 uidvalidity = db_col_int64(st, 2), uid = db_col_int64(st, 3);
	g_autofree char *station = sq_col_text(st, 4);
	db_reset(st);
	/* A spooled mail (pipeline.c) never had its bytes here: its digest says it all. */
	if (!mail && !c->digest) {
		g_autofree char *mid = c->message_id ? g_strdup(c->message_id)
						     : g_strdup_printf("(wamid %s)", wamid);
		g_autofree char *detail = g_strdup_printf("%s UIDVALIDITY %lld UID %lld, mail "
			"sha256 - (its bytes were not kept)", location ? location : "-",
			(long long)uidvalidity, (long long)uid);
		return wb_store_journal_add(s, "delivered", ref, mid, detail, error);
	}
	struct wb_delivery_in d = {
		.station = station ? station : "-", .message_id = c->message_id, .ref = ref,
		.what = "message", .msg = c->id, .mail = mail, .location = location,
		.uidvalidity = uidvalidity, .uid = uid, .digest = c->digest,
	};
	if (!wb_store_delivery_in_txn(s, &d, error))
		return false;
	st = sq_prep(s, "DELETE FROM rendered WHERE msg = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, c->id);
	return sq_step_done(s, st, error, "letting a delivered mail's bytes go");
}

/* A rendered mail, kept until it is delivered (record_delivered lets it go). */
static bool keep_rendered(struct wb_store *s, int64_t id, GBytes *mail, GError **error)
{
	db_stmt *st = sq_prep(s, "INSERT INTO rendered (msg, mail) VALUES (?1, ?2) ON CONFLICT "
			      "(msg) DO UPDATE SET mail = ?2", error);
	if (!st)
		return false;
	gsize len;
	const void *data = g_bytes_get_data(mail, &len);
	db_bind_int64(st, 1, id);
	db_bind_blob(st, 2, len ? data : "", len);
	return sq_step_done(s, st, error, "keeping a rendered mail");
}

static bool change_in_txn(struct wb_store *s, const struct wb_change *c, char **line,
			  GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT m.state, m.wamid, c.ref FROM messages m LEFT JOIN "
				"complaints c ON c.id = m.complaint_id WHERE m.id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, c->id);
	if (db_step(st) != DB_ROW) {
		db_reset(st);
		g_set_error(error, WB_STORE_ERROR, WB_STORE_NOT_FOUND,
			    "no message %" G_GINT64_FORMAT, c->id);
		return false;
	}
	g_autofree char *old = sq_col_text(st, 0);
	g_autofree char *wamid = sq_col_text(st, 1);
	g_autofree char *ref = sq_col_text(st, 2);
	db_reset(st);
	/* The claim lasts while the claimant is still working on the message; a waiting or
	 * finished message is free. */
	bool keep_claim = strcmp(c->state, WB_ST_RENDERED) == 0 ||
			  strcmp(c->state, WB_ST_DELIVERING) == 0;
	bool is_problem = strcmp(c->state, WB_ST_FAILED) == 0 || strcmp(c->state, WB_ST_RETRY) == 0;
	st = sq_prep(s, "UPDATE messages SET state = ?2, updated_at = ?3, "
		  "last_error = CASE WHEN ?4 <> 0 THEN ?5 ELSE last_error END, "
		  "claim_by = CASE WHEN ?6 <> 0 THEN claim_by ELSE NULL END, "
		  "attempts = attempts + CASE WHEN ?7 >= 0 THEN 1 ELSE 0 END, "
		  "next_at = CASE WHEN ?7 >= 0 THEN ?7 ELSE next_at END, "
		  "location = coalesce(?9, location), "
		  "uidvalidity = CASE WHEN ?9 IS NULL THEN uidvalidity ELSE ?10 END, "
		  "uid = CASE WHEN ?9 IS NULL THEN uid ELSE ?11 END WHERE id = ?1", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, c->id);
	sq_bind_text(st, 2, c->state);
	db_bind_int64(st, 3, wb_now());
	db_bind_int64(st, 4, is_problem);
	sq_bind_text(st, 5, c->detail);
	db_bind_int64(st, 6, keep_claim);
	db_bind_int64(st, 7, c->next_at);
	sq_bind_text(st, 9, c->location);
	db_bind_int64(st, 10, c->uidvalidity);
	db_bind_int64(st, 11, c->uid);
	if (!sq_step_done(s, st, error, "changing a message's state") ||
	    (c->mail && !keep_rendered(s, c->id, c->mail, error)) ||
	    !add_event(s, c->id, old, c->state, c->detail, error) ||
	    (c->media && !record_media(s, c->id, c->media, error)) ||
	    !follow_transfer(s, c, error) ||
	    (strcmp(c->state, WB_ST_DELIVERED) == 0 && strcmp(old, WB_ST_DELIVERED) != 0 &&
	     !record_delivered(s, c, ref, wamid, error)))
		return false;
	*line = g_strdup_printf("message %" G_GINT64_FORMAT " %s [%s]: %s → %s%s%s", c->id, wamid,
				ref ? ref : "-", old, c->state, c->detail ? ": " : "",
				c->detail ? c->detail : "");
	return true;
}

bool wb_store_apply(struct wb_store *s, const struct wb_change *changes, size_t n,
		    GError **error)
{
	if (n == 0)
		return true;
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	if (!sq_begin(s, error))
		return false;
	for (size_t i = 0; i < n; i++) {
		char *line = NULL;
		if (!change_in_txn(s, &changes[i], &line, error))
			return sq_rollback(s);
		g_ptr_array_add(lines, line);
	}
	if (!sq_commit(s, error))
		return false;
	for (size_t i = 0; i < n; i++) {
		GLogLevelFlags level = strcmp(changes[i].state, WB_ST_FAILED) == 0
			? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE;
		g_log(G_LOG_DOMAIN, level, "%s", (const char *)lines->pdata[i]);
	}
	return true;
}

bool wb_store_set_state(struct wb_store *s, int64_t msg_id, const char *new_state,
			GError **error, const char *detail_fmt, ...)
{
	g_autofree char *detail = NULL;
	if (detail_fmt) {
		va_list ap;
		va_start(ap, detail_fmt);
		detail = g_strdup_vprintf(detail_fmt, ap);
		va_end(ap);
	}
	struct wb_change c = { .id = msg_id, .state = new_state, .detail = detail, .next_at = -1 };
	return wb_store_apply(s, &c, 1, error);
}

char *wb_retry_detail(const char *why, gint64 next_at)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(next_at);
	g_autofree char *when = t ? g_date_time_format_iso8601(t) : g_strdup("?");
	return g_strdup_printf("%s (next try %s)", why, when);
}

bool wb_store_pending(struct wb_store *s, unsigned *count, gint64 *soonest, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT count(*), min(next_at) FROM messages WHERE state = "
				"'retry'", error);
	if (!st)
		return false;
	bool ok = db_step(st) == DB_ROW;
	if (ok) {
		*count = (unsigned)db_col_int64(st, 0);
		*soonest = db_col_int64(st, 1);
	} else {
		sq_fail(s, error, "counting pending work");
	}
	db_reset(st);
	return ok;
}

char *sq_time_text(gint64 t)
{
	g_autoptr(GDateTime) d = t > 0 ? g_date_time_new_from_unix_utc(t) : NULL;
	return d ? g_date_time_format(d, "%Y-%m-%d %H:%M:%SZ") : g_strdup("-");
}

char *sq_shown(db_stmt *st, int col)
{
	return wb_escape_controls((const char *)db_col_text(st, col), false);
}

bool sq_count_line(struct wb_store *s, GString *out, const char *label, const char *sql,
		   GError **error)
{
	db_stmt *st = sq_prep(s, sql, error);
	if (!st)
		return false;
	g_string_append_printf(out, "%s:", label);
	int rc, rows = 0;
	while ((rc = db_step(st)) == DB_ROW)
		g_string_append_printf(out, "%s %lld %s", rows++ ? "," : "",
				       db_col_int64(st, 1), db_col_text(st, 0));
	db_reset(st);
	g_string_append(out, rows ? "\n" : " none yet\n");
	return rc == DB_DONE || sq_fail(s, error, "reporting counts");
}

static bool report_stations(struct wb_store *s, GString *out, GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT coalesce(station, '(unrouted)'), "
		"count(*) FILTER (WHERE state IN ('received','rendered','retry','delivering')), "
		"min(CASE WHEN state IN ('received','rendered','retry','delivering') THEN received_at END), "
		"count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = "
		"'failed'), count(*) FILTER (WHERE state = 'unrouted'), "
		"(SELECT last_error FROM messages x WHERE x.station IS NOT DISTINCT FROM m.station AND "
		"  x.state IN ('retry','failed','unrouted') ORDER BY x.updated_at DESC LIMIT 1), "
		"(SELECT count(*) FROM complaints c WHERE c.station = m.station AND c.state = 'open') "
		"FROM messages m GROUP BY station ORDER BY station", error);
	if (!st)
		return false;
	g_string_append(out, "Stations:\n");
	int rc, rows = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		g_autofree char *oldest = sq_time_text(db_col_int64(st, 2));
		g_autofree char *station = sq_shown(st, 0);
		g_string_append_printf(out, "  %s: queue %lld (oldest %s), delivered %lld, failed "
				       "%lld, unrouted %lld, open complaints %lld\n",
				       station, db_col_int64(st, 1),
				       oldest, db_col_int64(st, 3), db_col_int64(st, 4),
				       db_col_int64(st, 5), db_col_int64(st, 7));
		if (db_col_type(st, 6) != DB_NULL) {
			g_autofree char *last = sq_shown(st, 6);
			g_string_append_printf(out, "    last error: %s\n", last);
		}
		rows++;
	}
	db_reset(st);
	if (!rows)
		g_string_append(out, "  (no messages yet)\n");
	return rc == DB_DONE || sq_fail(s, error, "reporting stations");
}

static bool report_bad_bodies(struct wb_store *s, GString *out, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id, received_at, sha256, size, state, error FROM bodies "
				"WHERE state = 'bad' OR error IS NOT NULL ORDER BY id DESC LIMIT 50",
				error);
	if (!st)
		return false;
	int rc, rows = 0;
	while ((rc = db_step(st)) == DB_ROW) {
		if (!rows++)
			g_string_append(out, "Webhook bodies kept for inspection:\n");
		g_autofree char *when = sq_time_text(db_col_int64(st, 1));
		g_autofree char *why = sq_shown(st, 5);
		g_string_append_printf(out, "  body %lld  %s  sha256 %s  %lld bytes  %s: %s\n",
				       db_col_int64(st, 0), when, db_col_text(st, 2),
				       db_col_int64(st, 3), db_col_text(st, 4), why);
	}
	db_reset(st);
	return rc == DB_DONE || sq_fail(s, error, "reporting bad bodies");
}

bool wb_store_report(struct wb_store *s, GString *out, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT count(*), coalesce(sum(seen), 0), "
				"count(*) FILTER (WHERE state = 'bad') FROM bodies", error);
	if (!st)
		return false;
	if (db_step(st) == DB_ROW)
		g_string_append_printf(out, "Webhook bodies: %lld stored (%lld received with "
				       "retries), %lld bad\n", db_col_int64(st, 0),
				       db_col_int64(st, 1), db_col_int64(st, 2));
	db_reset(st);
	return report_stations(s, out, error) && report_bad_bodies(s, out, error);
}

bool wb_store_gauges(struct wb_store *s, gint64 now, int64_t *queue_depth,
		     int64_t *oldest_unregistered, GError **error)
{
	db_stmt *st = sq_prep(s,
		"SELECT (SELECT count(*) FROM messages WHERE state IN ('received', 'rendered', "
		"'delivering', 'retry')), (SELECT min(opened_at) FROM complaints WHERE state = "
		"'open' AND number IS NULL)", error);
	if (!st)
		return false;
	bool ok = db_step(st) == DB_ROW;
	if (ok) {
		*queue_depth = db_col_int64(st, 0);
		*oldest_unregistered = db_col_type(st, 1) == DB_NULL ? 0 :
			MAX(now - db_col_int64(st, 1), 0);
	} else {
		sq_fail(s, error, "reading gauges");
	}
	db_reset(st);
	return ok;
}

bool wb_store_writable(struct wb_store *s)
{
	/* SQLite opens a file it cannot write read-only without saying so, and a full disk
	 * shows only when a page is written: commit a real (one-row) write. */
	if ((!db_pg(s->db) && sqlite3_db_readonly(db_sqlite(s->db), "main") != 0) ||
	    !sq_begin(s, NULL))
		return false;
	db_stmt *st = sq_prep(s, "INSERT INTO health (id, at) VALUES (1, ?1) ON CONFLICT (id) "
			      "DO UPDATE SET at = excluded.at", NULL);
	if (!st)
		return sq_rollback(s);
	db_bind_int64(st, 1, g_get_real_time());
	if (!sq_step_done(s, st, NULL, "probing"))
		return sq_rollback(s);
	return sq_commit(s, NULL);
}

/* ---- giving space back ------------------------------------------------------------------- */

/* Pages freed (mail cleared once delivered) are reused by new rows but stay in the file.
 * Giving them back moves pages from the end of the file into free ones and truncates,
 * which is worth it only once a fair amount is free: GIVE_BACK_MIN pages (1 MiB at 4 KiB
 * pages; below that the next rows reuse them anyway). Steps of GIVE_BACK_STEP pages (4
 * MiB), each its own transaction, keep the write lock short so that the daemon's webhook
 * commits get in between; after GIVE_BACK_BUDGET_US the rest waits for the next pass.
 * In WAL mode the file itself shrinks at a checkpoint: a passive one (it waits for no
 * one) right after, so that the space is back now rather than at the next automatic one. */
#define GIVE_BACK_MIN 256
#define GIVE_BACK_STEP "1024"
#define GIVE_BACK_BUDGET_US (2 * G_USEC_PER_SEC)

#define SETTLE_BATCH 200

bool wb_store_give_back(struct wb_store *s, GError **error)
{
	if (db_in_txn(s->db)) {
		g_set_error(error, WB_STORE_ERROR, WB_STORE_FAILED, "state database %s: space is "
			    "not given back inside a transaction", s->path);
		return false;
	}
	/* Mails delivered before deliveries were recorded (an upgraded database) are
	 * recorded and let go first, a batch a pass. */
	if (!wb_store_settle_delivered(s, SETTLE_BATCH, NULL, error))
		return false;
	if (db_pg(s->db)) /* PostgreSQL's autovacuum does this on the server */
		return true;
	gint64 until = g_get_monotonic_time() + GIVE_BACK_BUDGET_US;
	int64_t first = -1, free_pages = 0, prev = -1;
	for (;;) {
		if (!pragma_int(s, "PRAGMA freelist_count", &free_pages, error))
			return false;
		if (first < 0)
			first = free_pages;
		/* No progress: auto_vacuum is not incremental (an old database whose conversion
		 * failed), where incremental_vacuum does nothing. */
		if (free_pages <= GIVE_BACK_MIN || free_pages == prev ||
		    g_get_monotonic_time() > until)
			break;
		if (!sq_exec(s, "PRAGMA incremental_vacuum(" GIVE_BACK_STEP ")", error))
			return false;
		prev = free_pages;
	}
	if (first == free_pages)
		return true;
	sqlite3_wal_checkpoint_v2(db_sqlite(s->db), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	int64_t page_size = 0;
	pragma_int(s, "PRAGMA page_size", &page_size, NULL);
	g_info("state database %s: %" G_GINT64_FORMAT " kB given back to the disk, %"
	       G_GINT64_FORMAT " kB left free", s->path, (first - free_pages) * page_size >> 10,
	       free_pages * page_size >> 10);
	return true;
}
