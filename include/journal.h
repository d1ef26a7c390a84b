/* journal: the custody journal, an append-only hash chain in the state database
 * (table journal, src/store_journal.c).
 *
 * Each entry is (id, at, kind, ref, subject, detail, prev, hash): prev is the hash of
 * the entry before it (64 "0" for the first), hash the lowercase hex SHA-256 of the
 * entry's canonical form (wb_journal_canonical). An entry is added inside the
 * transaction that makes its event true, so the event and its entry commit together or
 * not at all. Kinds: body, delivered, reply, send, status, duty, transfer, split. */
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

#endif
