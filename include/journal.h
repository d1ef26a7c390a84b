/* journal: the custody journal, an append-only hash chain in the state database
 * (table journal, src/store_journal.c).
 *
 * Each entry is (id, at, kind, ref, subject, detail, prev, hash): prev is the hash of
 * the entry before it (64 "0" for the first), hash the lowercase hex SHA-256 of the
 * entry's canonical form (wb_journal_canonical). An entry is added inside the
 * transaction that makes its event true, so the event and its entry commit together or
 * not at all. Kinds: body, delivered, reply, send, status, duty, transfer, split, and
 * anchor (anchor.h: the head was mailed to the archive; subject the anchored head hash,
 * detail the anchored entry and where the mail went). */
#ifndef WB_JOURNAL_H
#define WB_JOURNAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define WB_JOURNAL_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* The bytes hashed for one entry:
 *
 *   "wabridge-journal-1\n" F(id) F(at) F(kind) F(ref) F(subject) F(detail) F(prev)
 *
 * where F(x) is a netstring, the byte length of x in decimal ASCII, ":", the bytes of x,
 * ","; id and at are written in decimal ASCII (at in Unix seconds, UTC) before being
 * framed; a NULL ref is the two bytes "N," (no netstring starts with N, so it differs
 * from an empty ref, "0:,"). Length framing makes every byte of a field free, control
 * characters included: no field can run into the next. Texts are UTF-8 as stored.
 * Returns a new GString (its ->len counts the bytes). */
GString *wb_journal_canonical(int64_t id, gint64 at, const char *kind, const char *ref,
			      size_t ref_len, const char *subject, size_t subject_len,
			      const char *detail, size_t detail_len, const char *prev);

/* Append one entry inside the caller's transaction (never begins or commits one); reads
 * the previous hash in that transaction. ref may be NULL; subject and detail not. */
bool wb_store_journal_add(struct wb_store *s, const char *kind, const char *ref,
			  const char *subject, const char *detail, GError **error);

/* What `journal verify` found. bad_id 0: the chain is intact; else the first entry that
 * does not fit (its time, kind, and why in words). head: the last entry's hash
 * (WB_JOURNAL_GENESIS when the journal is empty). */
struct wb_journal_check {
	int64_t checked;
	char head[65];
	int64_t bad_id;
	gint64 bad_at;
	char *bad_kind;
	char *why;
};
void wb_journal_check_clear(struct wb_journal_check *c);
bool wb_store_journal_verify(struct wb_store *s, struct wb_journal_check *out,
			     GError **error);

/* Entries as text, one per line in id order: "id time(UTC) kind ref subject detail",
 * fields from outside escaped (wb_escape_controls). ref non-NULL: only that complaint's;
 * limit > 0: only the last limit entries. *n: how many. */
bool wb_store_journal_show(struct wb_store *s, const char *ref, int limit, GString *out,
			   unsigned *n, GError **error);

/* The journal's last entry: id (0 when the journal is empty), time, hash
 * (WB_JOURNAL_GENESIS when empty), and how many entries the journal holds. */
struct wb_journal_head {
	int64_t id;
	gint64 at;
	char hash[65];
	int64_t count;
};
bool wb_store_journal_head(struct wb_store *s, struct wb_journal_head *out, GError **error);

/* The last entry of this kind: its id and time, both 0 when there is none. */
bool wb_store_journal_last(struct wb_store *s, const char *kind, int64_t *id, gint64 *at,
			   GError **error);

/* Entry id: *stored its hash as stored, *computed the hash of its contents now (both
 * newly allocated). 1 found, 0 no such entry (*max: the last id, 0 when empty), -1 store
 * error (error set). */
int wb_store_journal_entry(struct wb_store *s, int64_t id, char **stored, char **computed,
			   int64_t *max, GError **error);

/* Journal an anchor in a transaction of its own: kind anchor, subject head, detail.
 * not_since > 0: unless an anchor entry was written at or after not_since (another
 * process wrote today's meanwhile); *added says whether the entry was added. */
bool wb_store_journal_anchor(struct wb_store *s, const char *head, const char *detail,
			     gint64 not_since, bool *added, GError **error);

/* One entry as stored. Texts are the stored bytes up to a first NUL (an entry written
 * through the sqlite3 shell with one in it then no longer hashes to its hash: that is
 * what it is). */
struct wb_journal_entry {
	int64_t id;
	gint64 at;
	char *kind, *ref, *subject, *detail, *prev, *hash; /* ref NULL when none */
};
void wb_journal_entry_free(gpointer e);
/* Entry id; NULL with no error when there is none. */
struct wb_journal_entry *wb_store_journal_get(struct wb_store *s, int64_t id, GError **error);
/* The ids of complaint ref's entries (exact ref), oldest first, appended to ids (int64_t). */
bool wb_store_journal_ids_of(struct wb_store *s, const char *ref, GArray *ids, GError **error);

#endif
