/* store: the SQLite state of the bridge (WAL mode, versioned migrations at open).
 *
 * Holds every accepted webhook body byte for byte with its SHA-256, the messages taken
 * from them (unique by wamid), the complaints (reference CODE-YYYY-NNNNNN with a
 * per-station, per-year sequence) and each message's delivery state. Every change of a
 * message's state goes through wb_store_set_state(), which persists it, appends it to
 * the events table and logs "old → new" in one line. */
#ifndef WB_STORE_H
#define WB_STORE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "webhook.h"

#define WB_STORE_ERROR (wb_store_error_quark())
GQuark wb_store_error_quark(void);
enum wb_store_error {
	WB_STORE_FAILED,   /* SQLite error (disk full, read-only, corrupt): message says which */
	WB_STORE_BUSY,     /* locked by another process for too long: retry */
	WB_STORE_NOT_FOUND,
};

/* Message states. received: stored, not yet rendered; rendered: mail bytes stored;
 * delivering: handed to a back end, outcome not yet recorded (after a crash, the next
 * attempt checks the mailbox first); retry: waiting for next_at; delivered; failed
 * (final, shown in status); unrouted (no station for its phone_number_id). */
#define WB_ST_RECEIVED   "received"
#define WB_ST_RENDERED   "rendered"
#define WB_ST_DELIVERING "delivering"
#define WB_ST_RETRY      "retry"
#define WB_ST_DELIVERED  "delivered"
#define WB_ST_FAILED     "failed"
#define WB_ST_UNROUTED   "unrouted"

struct wb_store;

struct wb_store *wb_store_open(const char *path, GError **error);
void wb_store_close(struct wb_store *s);

/* Keep a webhook body durably (committed and synced when this returns true). The same
 * bytes arriving again (Meta retries) are kept once, with a count. *body_id is set;
 * *is_new tells whether these bytes were new. verified: the signature was checked. */
bool wb_store_add_body(struct wb_store *s, const void *body, size_t len, bool verified,
		       const char *source, int64_t *body_id, bool *is_new, GError **error);

/* The same for several bodies in one transaction (group commit): one sync for all.
 * On failure none is kept. */
struct wb_body_in {
	const void *body;
	size_t len;
	bool verified;
	int64_t body_id;      /* out */
};
bool wb_store_add_bodies(struct wb_store *s, struct wb_body_in *items, size_t n,
			 const char *source, GError **error);

/* Mark a body bad (not JSON, wrong shape) with the reason, for status. */
bool wb_store_body_bad(struct wb_store *s, int64_t body_id, const char *reason, GError **error);

/* Take a parsed body's messages and statuses into the store in one transaction:
 * new wamids become messages (duplicates are ignored), each is routed to its station
 * and attached to its citizen's open complaint there (or a new one). Problems noted by
 * the parser are recorded on the body. Counts are optional out-parameters. */
struct wb_expand_counts { unsigned added, duplicates, unrouted, statuses; };
bool wb_store_expand(struct wb_store *s, struct wb_config *cfg, int64_t body_id,
		     const struct wb_payload *p, struct wb_expand_counts *counts, GError **error);

/* Expand several bodies in one transaction. An item without a payload is marked bad
 * with bad_reason instead. */
struct wb_expand_item {
	int64_t body_id;
	const struct wb_payload *payload; /* NULL: the body is bad */
	const char *bad_reason;
};
bool wb_store_expand_many(struct wb_store *s, struct wb_config *cfg,
			  const struct wb_expand_item *items, size_t n, GError **error);

/* Bodies stored but not yet expanded (a crash between the two steps), oldest first. */
GArray *wb_store_unexpanded_bodies(struct wb_store *s, GError **error); /* of int64_t */
GBytes *wb_store_body(struct wb_store *s, int64_t body_id, GError **error);

/* One message with everything needed to render and deliver it. */
struct wb_msg {
	int64_t id;
	char *wamid, *station, *phone_number_id, *sender, *wa_id, *user_id, *profile_name;
	char *type, *json, *context_id, *state, *last_error, *payload_sha256;
	gint64 ts, received_at;
	int attempts;
	bool forwarded;
	/* complaint */
	int64_t complaint_id;
	char *ref;
	char *thread_root;  /* wamid of the complaint's first message; NULL when this is it */
	char *reply_parent; /* wamid of an earlier message of ours it quotes (context.id), or NULL */
	GBytes *mail;       /* rendered mail, or NULL */
	/* its media, when the type has one: the bytes once fetched, or why not */
	GBytes *media;
	char *media_mime, *media_sha256, *media_error;
};
typedef struct wb_msg wb_msg;
void wb_msg_free(struct wb_msg *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_msg, wb_msg_free)

/* Claim up to max messages due for work (received/rendered/retry with next_at <= now,
 * or delivering whose claimant is gone) for this process. Claimed messages are
 * invisible to other claimants until released by a state change or the claimant dies.
 * Returns a list of message ids. */
GArray *wb_store_claim(struct wb_store *s, unsigned max, gint64 now, GError **error);
struct wb_msg *wb_store_message(struct wb_store *s, int64_t id, GError **error);

/* The one function through which a message's state changes. detail (printf) is stored
 * as last_error for retry/failed and logged. Releases the claim unless the new state is
 * one the claimant is still working through (rendered, delivering). */
G_GNUC_PRINTF(5, 6)
bool wb_store_set_state(struct wb_store *s, int64_t msg_id, const char *new_state,
			GError **error, const char *detail_fmt, ...);

/* Several state changes in one transaction (one sync for a batch), each exactly like
 * wb_store_set_state() — event row, claim rule, one log line each once committed — and
 * optionally storing the rendered mail and where it was delivered. All or nothing. */
struct wb_media_facts {
	const char *mime_type, *sha256;  /* of the fetched bytes, or NULL */
	gint64 size;
	const char *error;               /* why it could not be fetched, or NULL */
};

struct wb_change {
	int64_t id;
	const char *state;
	const char *detail;      /* may be NULL */
	gint64 next_at;          /* >= 0: a retry due then (attempts + 1); -1: unchanged */
	GBytes *mail;            /* non-NULL: the rendered mail to keep */
	const char *location;    /* non-NULL: where the mail went, with uidvalidity/uid */
	uint32_t uidvalidity, uid;
	const struct wb_media_facts *media; /* non-NULL: what became of the media */
};
bool wb_store_apply(struct wb_store *s, const struct wb_change *changes, size_t n,
		    GError **error);

/* The detail recorded with a retry: "why (next try 2026-11-28T14:05:00Z)". Newly
 * allocated. */
char *wb_retry_detail(const char *why, gint64 next_at);

/* Messages waiting for a retry: how many, and the soonest next_at. (Messages another
 * live process has claimed are its work, not waiting.) */
bool wb_store_pending(struct wb_store *s, unsigned *count, gint64 *soonest, GError **error);

/* Gauges for /metrics: messages not yet delivered, and the age in seconds of the oldest
 * open complaint without a complaint number (0 when there is none). */
bool wb_store_gauges(struct wb_store *s, gint64 now, int64_t *queue_depth,
		     int64_t *oldest_unregistered, GError **error);

/* Human-readable status report (for `wabridge status`). */
bool wb_store_report(struct wb_store *s, GString *out, GError **error);

/* Does the store take a write right now? Commits a one-row probe (so a full disk or a
 * read-only file system shows). */
bool wb_store_writable(struct wb_store *s);

#endif
