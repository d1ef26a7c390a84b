/* store-priv: what the parts of the store (src/store.c, src/store_reply.c) share.
 * Not for other modules: they use store.h. */
#ifndef WB_STORE_PRIV_H
#define WB_STORE_PRIV_H

#include <glib.h>
#include <glib-object.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "store.h"
#include "webhook.h"

struct wb_store {
	struct wb_db *db;  /* SQLite or PostgreSQL (db.h) */
	char *path;        /* as shown in messages: no password */
	GObject *squeezer; /* the digests' deflater (store_deliveries.c), made once, reset per use */
	gint64 beat_at;    /* this connection's last heartbeat (store_bridges.c), 0: none yet */
	int64_t journal_last; /* the id of the last journal entry this connection added */
	/* ... and its hash, with the write transaction that added it (db_write_txn): while
	 * that lasts, the next entry chains onto it without reading it back */
	uint64_t journal_txn;
	char *journal_hash;
};

/* In a claim's WHERE: a row nobody holds, this bridge holds, or whose lease ran out
 * (?1: now, ?2: this bridge's id). */
#define WB_CLAIMABLE "(claim_by IS NULL OR claim_by = ?2 OR lease_until <= ?1)"
/* After a claim's SELECT: on PostgreSQL, rows another bridge is claiming right now are
 * passed over rather than waited for (db.c turns the comment into SQL there). */
#define WB_SKIP_LOCKED " /*pg: FOR UPDATE SKIP LOCKED*/"

/* A bridge's heartbeat, when due (store_bridges.c): registers this process and renews its
 * leases; every claim comes here first. */
bool wb_store_bridge_ready(struct wb_store *s, GError **error);

/* Set error from the database's last error (WB_STORE_BUSY when locked); returns false. */
bool sq_fail(struct wb_store *s, GError **error, const char *what);
bool sq_exec(struct wb_store *s, const char *sql, GError **error);
/* A cached prepared statement for a string literal, reset and unbound. */
db_stmt *sq_prep(struct wb_store *s, const char *sql, GError **error);
void sq_bind_text(db_stmt *st, int i, const char *v); /* NULL binds NULL */
char *sq_col_text(db_stmt *st, int i);                /* newly allocated or NULL */
/* Run a statement that returns no rows, and reset it. */
bool sq_step_done(struct wb_store *s, db_stmt *st, GError **error, const char *what);
/* Journal entries (journal.h) added together, in this order, inside the caller's
 * transaction: on PostgreSQL in one round trip. ref may be NULL. */
struct sq_journal_entry {
	const char *kind, *ref, *subject, *detail;
};
bool sq_journal_add_many(struct wb_store *s, const struct sq_journal_entry *e, size_t n,
			 GError **error);
bool sq_begin(struct wb_store *s, GError **error);  /* one writer at a time (db_begin) */
bool sq_begin_claim(struct wb_store *s, GError **error); /* for claims (db_begin_shared) */
bool sq_commit(struct wb_store *s, GError **error); /* rolls back when the commit fails */
bool sq_rollback(struct wb_store *s);               /* always false, for `return` */

/* The first column of every row of a query without parameters, as int64_t ids. */
GArray *sq_ids(struct wb_store *s, const char *sql, const char *what, GError **error);
/* The same for a prepared statement with its parameters bound (reset afterwards). */
GArray *sq_step_ids(struct wb_store *s, db_stmt *st, const char *what, GError **error);

/* "2026-10-15 08:00:00Z", or "-" for 0. Newly allocated. */
char *sq_time_text(gint64 t);

/* Column col as text for a report printed on a terminal: control characters from
 * outside shown escaped (wb_escape_controls); "" for NULL. Newly allocated. */
char *sq_shown(db_stmt *st, int col);

/* Append "label: 3 accepted, 1 unmatched" from a query of (state, count) rows, or
 * "label: none yet". */
bool sq_count_line(struct wb_store *s, GString *out, const char *label, const char *sql,
		   GError **error);


/* A WhatsApp status about one of our sends, inside the expanding transaction: moves the
 * outbox row it names (by wamid, or by the outbox id in biz_opaque_callback_data)
 * forward, never back. */
bool wb_store_status_in_txn(struct wb_store *s, const struct wb_instatus *x, GError **error);

/* Queue a WhatsApp send to the complaint's citizen (reply_id 0: none; purpose NULL for an
 * officer's reply, else "ack", "reminder", "transfer"), and mailbox operations, inside
 * the caller's transaction. A row that exists already is left alone. */
bool wb_store_queue_send(struct wb_store *s, int64_t reply_id, int64_t complaint_id,
			 const char *purpose, const struct wb_outbox_in *o, GError **error);
bool wb_store_queue_mailops(struct wb_store *s, const struct wb_mailop_in *ops, size_t n,
			    GError **error);

/* Record (and journal) one mail placed in a mailbox, inside the caller's transaction
 * (src/store_deliveries.c). */
bool wb_store_delivery_in_txn(struct wb_store *s, const struct wb_delivery_in *d,
			      GError **error);

/* Carry out a transfer (store.h, struct wb_transfer_in) inside the caller's transaction
 * (src/store_transfer.c). */
bool wb_store_transfer_in_txn(struct wb_store *s, int64_t complaint_id, int64_t reply_id,
			      const struct wb_transfer_in *t, GError **error);

/* Carry out a split (store.h, struct wb_split_in) inside the caller's transaction
 * (src/store_split.c): *to_id the new complaint, *send what compose gave. */
bool wb_store_split_in_txn(struct wb_store *s, int64_t complaint_id, int64_t reply_id,
			   const struct wb_split_in *in, int64_t *to_id,
			   const struct wb_outbox_in **send, const struct wb_outbox_in **held,
			   GError **error);

/* The next reference of a station (code) for a complaint opened at ts in zone: takes the
 * station's next number of that local year; inside the caller's transaction. */
bool wb_store_next_ref(struct wb_store *s, const char *station, const char *code, gint64 ts,
		       const char *zone, char **ref, int *year, int64_t *seq, GError **error);

/* wb_store_journal_add (journal.h) with the ref that ref_sql (a string literal taking id
 * as ?1, returning the complaint's ref) finds; NULL when it finds none. The SQL of the
 * usual cases: */
#define WB_REF_OF_COMPLAINT "SELECT ref FROM complaints WHERE id = ?1"
#define WB_REF_OF_OUTBOX "SELECT c.ref FROM outbox o JOIN complaints c ON c.id = o.complaint_id " \
	"WHERE o.id = ?1"
bool wb_journal_add_by(struct wb_store *s, const char *ref_sql, int64_t id, const char *kind,
		       const char *subject, const char *detail, GError **error);

#endif
