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

/* Opens (creates, migrates) the state database. A new one is created with auto_vacuum =
 * INCREMENTAL; one from before that (auto_vacuum NONE) is converted once with a VACUUM,
 * logged; when that fails (disk full) the store works on without it and the next open
 * tries again. */
struct wb_store *wb_store_open(const char *path, GError **error);
/* The same for a location that may be a PostgreSQL URI (db.h), with its password. */
struct wb_store *wb_store_open_as(const char *location, const char *password, GError **error);
/* The configuration's state ([bridge] state, state_password_file). */
struct wb_store *wb_store_open_cfg(const struct wb_config *cfg, GError **error);
void wb_store_close(struct wb_store *s);

/* ---- bridges and their claims (src/store_bridges.c) -------------------------------------- */

#define WB_LEASE_DEFAULT 120 /* seconds a claim lasts without its bridge's heartbeat */
#define WB_BEAT_PART 4       /* a bridge beats every lease / WB_BEAT_PART seconds */

/* This process as a bridge: node ([bridge] node; NULL: the host name), the lease of its
 * claims in seconds (0: WB_LEASE_DEFAULT) and what it runs ("serve", "run", ...). Its id
 * is "NODE:PID:START". Call once at start; claims made before use the defaults. */
void wb_bridge_init(const char *node, int lease_seconds, const char *role);
const char *wb_bridge_id(void);
int wb_lease_seconds(void);
/* Is a claim (its bridge's id, its lease) another bridge's that still holds? A claim
 * of this process, or of a bridge on this node whose process is gone, holds nothing;
 * one of a live process on this node holds, whatever its lease; another node's holds
 * until its lease runs out. */
bool wb_claim_held(const char *by, int64_t lease_until, gint64 now);
/* Register this bridge, renew the leases of all it holds, and let go of the claims of
 * bridges on this node that are gone. `serve` calls it every lease / WB_BEAT_PART s. */
bool wb_store_bridge_beat(struct wb_store *s, GError **error);
/* At a clean stop: this bridge's claims are let go and its row says stopped. */
bool wb_store_bridge_stop(struct wb_store *s, GError **error);

struct wb_bridge_row {
	char *id, *node, *version, *what;
	int64_t pid;
	gint64 started_at, seen_at, lease_until;
	bool stopped, alive, me;
	int64_t claims[4]; /* messages, sends, mailbox operations, mails out */
};
void wb_bridge_row_free(struct wb_bridge_row *b);
/* The bridges running, and those stopped within the last day. */
GPtrArray *wb_store_bridges(struct wb_store *s, gint64 now, GError **error);
/* "Bridges:" and a line for each, for `status`. */
bool wb_store_report_bridges(struct wb_store *s, GString *out, GError **error);
/* New work for every bridge (PostgreSQL's NOTIFY; nothing on SQLite, where one host's
 * bridge wakes its own workers). Inside a transaction it is sent with the commit.
 * wb_store_add_bodies() does it itself. */
bool wb_store_notify(struct wb_store *s, GError **error);
/* Listen for that on this connection: the socket to poll, -1 on SQLite (nothing to
 * hear), -2 on failure. wb_store_heard() reads what came: was there any? */
int wb_store_listen(struct wb_store *s, GError **error);
bool wb_store_heard(struct wb_store *s);
bool wb_store_listen_alive(struct wb_store *s); /* is that connection still up? */

/* Give the space freed in the database (pages on its freelist) back to the disk, once
 * there is more than a little (256 pages, 1 MiB at SQLite's default page size): below
 * that it only reads the count. In steps, each its own short transaction, for up to 2 s;
 * what is left goes at the next call. Never inside a transaction: `run` and serve's
 * worker call it once a pass, after the pass. */
bool wb_store_give_back(struct wb_store *s, GError **error);

/* Keep a webhook body durably (committed and synced when this returns true). The same
 * bytes arriving again (Meta retries) are kept once, with a count. *body_id is set;
 * *is_new tells whether these bytes were new. verified: the signature was checked. */
bool wb_store_add_body(struct wb_store *s, const void *body, size_t len, bool verified,
		       const char *source, int64_t *body_id, bool *is_new, GError **error);

/* The same for several bodies in one transaction (group commit): one sync for all.
 * On failure none is kept. The other bridges are woken with the commit
 * (wb_store_notify). */
struct wb_body_in {
	const void *body;
	size_t len;
	bool verified;
	int64_t body_id;      /* out */
};
bool wb_store_add_bodies(struct wb_store *s, struct wb_body_in *items, size_t n,
			 const char *source, GError **error);
/* The same in two steps, for a caller that gathers more bodies while the first waits for
 * the write lock: begin (holding the lock when it returns true), then commit the bodies
 * (rolled back on failure). */
bool wb_store_begin_bodies(struct wb_store *s, GError **error);
bool wb_store_commit_bodies(struct wb_store *s, struct wb_body_in *items, size_t n,
			    const char *source, GError **error);

/* Mark a body bad (not JSON, wrong shape) with the reason, for status. */
bool wb_store_body_bad(struct wb_store *s, int64_t body_id, const char *reason, GError **error);

/* Take a parsed body's messages and statuses into the store in one transaction:
 * new wamids become messages (duplicates are ignored), each is routed to its station
 * and attached to its citizen's open complaint there (or a new one). Problems noted by
 * the parser are recorded on the body. Counts are optional out-parameters. */
struct wb_expand_counts { unsigned added, duplicates, unrouted, statuses; };
bool wb_store_expand(struct wb_store *s, const struct wb_config *cfg, int64_t body_id,
		     const struct wb_payload *p, struct wb_expand_counts *counts, GError **error);

/* Expand several bodies in one transaction. An item without a payload is marked bad
 * with bad_reason instead. A body no longer 'new' (another bridge expanded it since it
 * was listed) is passed over. */
struct wb_expand_item {
	int64_t body_id;
	const struct wb_payload *payload; /* NULL: the body is bad */
	const char *bad_reason;
};
bool wb_store_expand_many(struct wb_store *s, const struct wb_config *cfg,
			  const struct wb_expand_item *items, size_t n, GError **error);

/* Bodies stored but not yet expanded (a crash between the two steps), oldest first. */
GArray *wb_store_unexpanded_bodies(struct wb_store *s, GError **error); /* of int64_t */
GBytes *wb_store_body(struct wb_store *s, int64_t body_id, GError **error);

/* One message with everything needed to render and deliver it. */
/* WhatsApp's customer service window: free text may go to a citizen only this long
 * after their latest message; outside it only an approved template. */
#define WB_WINDOW_SECONDS (24 * 3600)

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
	char *thread_root;  /* Message-ID local part of the complaint's first mail (the first
			     * message's wamid, or a split complaint's root); NULL when this
			     * message is that mail */
	char *reply_parent; /* what it quotes (context.id): an earlier message's wamid, or
			     * "wb-out-<id>" for one of our sends (its record mail); or NULL */
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
	/* delivered: the mail's Message-ID; when its complaint was transferred to another
	 * station meanwhile, the mail is placed in that station's mailbox too */
	const char *message_id;
	/* delivered: the mail's digest (maildigest.h, JSON form), worked out before the
	 * transaction so that the write lock is not held for it; NULL: worked out in it.
	 * A mail whose bytes the database never had (spooled, pipeline.c) is recorded from
	 * it alone. */
	const char *digest;
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

/* ---- officers' replies, the outbox, mailbox operations (src/store_reply.c) ----------
 *
 * A reply mail is kept whatever becomes of it (key: its Message-ID and sender, else its
 * SHA-256), so
 * the same mail arriving again changes nothing. An accepted reply puts at most one row
 * per kind into the outbox (UNIQUE (reply_id, kind)): the send that reaches the citizen.
 * An outbox row is marked `sending` and committed before the Graph API is called; if the
 * process dies before the answer is recorded, the row is never sent again blindly: the
 * status webhook, which echoes "wb-outbox-<id>" in biz_opaque_callback_data, reconciles
 * it, and without one the row ends as `unknown` and the station is told. Mailbox
 * operations (a bridge note appended into a thread, a keyword set on a mail) are rows
 * too, retried until the station's mailbox has them. */

struct wb_complaint {
	int64_t id;
	char *ref, *station, *citizen, *first_wamid, *number, *state;
	/* the Message-ID local part of its first mail, for threading and keywords: the
	 * first wamid, or the bridge's root mail of a complaint split off by #new. Never a
	 * WhatsApp context id: that is first_wamid */
	char *root;
	gint64 opened_at, last_activity;
	gint64 last_inbound;   /* time of the citizen's latest message to the station, 0 none */
};
typedef struct wb_complaint wb_complaint;
void wb_complaint_free(struct wb_complaint *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_complaint, wb_complaint_free)

/* By reference ("BHP-2026-000042", any case) or id; NULL with WB_STORE_NOT_FOUND when
 * there is none. */
struct wb_complaint *wb_store_complaint(struct wb_store *s, const char *ref, int64_t id,
					GError **error);
/* The complaint a mail of the station's mailbox belongs to, from the local part of its
 * Message-ID: a citizen's message (its wamid), one of the bridge's notes
 * ("wb-out-<outbox id>…") or the root mail of a split complaint. *id = 0 when it is none
 * of them. */
bool wb_store_complaint_of_mail(struct wb_store *s, const char *local, int64_t *id,
				GError **error);
/* The message objects (JSON) the citizen sent in a complaint, oldest first, at most max. */
GPtrArray *wb_store_complaint_messages(struct wb_store *s, int64_t complaint_id,
				       unsigned max, GError **error);

#define WB_RS_ACCEPTED    "accepted"
#define WB_RS_UNAUTHORISED "unauthorised"
#define WB_RS_UNMATCHED   "unmatched"
#define WB_RS_EMPTY          "empty"
#define WB_RS_UNPARSABLE     "unparsable"
#define WB_RS_REFUSED        "refused"   /* an officer's reply that cannot be carried out
					  * (a #transfer to an unknown code, of a closed
					  * complaint) */

struct wb_outbox_in {
	const char *kind;             /* "text" | "template" */
	const char *lang;             /* bn | hi | en */
	const char *text;             /* text: the body */
	const char *template_name;    /* template */
	const char *params;           /* template: JSON array of strings */
	const char *context_wamid;    /* text: the citizen's message it answers, or NULL */
	const char *fallback_template, *fallback_params; /* text: sent instead on 131047 */
	const char *fail_reason;      /* non-NULL: it cannot be sent; kept as failed, shown */
	bool hold;                    /* kept as `held` until the citizen writes again */
	bool words;                   /* text: the officer wrote more than the number, so
				       * after a 131047 the text waits as `held` */
};

struct wb_mailop_in {
	const char *station;
	const char *kind;             /* "append" | "copy" | "flag" | "unflag" (the
				       * latest of a keyword's flag and unflag wins) */
	const char *message_id;       /* without <> */
	const char *keyword;          /* flag: the keyword; append: NULL */
	GBytes *mail;                 /* append: the mail */
	const char *source;           /* copy: the station whose mailbox holds the mail */
};

/* "#transfer CODE" of an accepted reply, carried out in the reply's transaction: a
 * transfers row; the complaint's station becomes to_station (its clock, opened_at, does
 * not restart; duty_at = 0); its messages not yet on their way are moved to to_station
 * (rendered again for its mailbox), and the stored mails of the others are placed in
 * to_station's mailbox (mailbox operations "append", under their own Message-IDs). The
 * complaint must still be open at from_station, else WB_STORE_FAILED (the reply is then
 * taken again later and judged on what is there). */
struct wb_transfer_in {
	const char *from_station, *to_station; /* keys */
	const char *officer, *reason;          /* the reply's sender and text */
	const char *domain;                    /* right side of the mails' Message-IDs */
};

/* "#new" of an accepted reply, carried out in the reply's transaction (src/store_split.c):
 * the message `wamid` of the complaint and every later one (by WhatsApp time, then id)
 * move to a new complaint of the same station and citizen, reference CODE-YEAR-SEQ (the
 * local year of the message, the station's next number), opened at the message's time,
 * its first mail the bridge's root mail (complaints.root). Messages still waiting are
 * rendered again for the new complaint. A splits row records it (one per reply), and
 * the reply belongs to the new complaint from then on (its number registers it, its
 * #escalate escalates it). The message must still be a later one of this open
 * complaint, else WB_STORE_FAILED (the reply is then taken again and judged on what is
 * there). Once the reference is taken, compose is called, still inside the
 * transaction, for the mailbox operations and the send to the citizen that name it. */
struct wb_split_msg {
	int64_t id;
	gint64 ts;
	char *wamid, *type, *json;
	GBytes *mail;          /* the mail on its way to the mailbox; NULL when it is
				* rendered again or delivered already (its bytes have left
				* the database: the old thread holds it) */
	bool delivered;
};
void wb_split_msg_free(gpointer p);

struct wb_split_facts {
	int64_t from_id, to_id;
	const char *from_ref, *to_ref;
	const GPtrArray *moved;  /* of struct wb_split_msg *, in time order, the split one first */
};
struct wb_split_out {
	const struct wb_mailop_in *ops;
	size_t n_ops;
	const struct wb_outbox_in *send; /* NULL: nothing goes to the citizen */
	const struct wb_outbox_in *held; /* words kept for the citizen's next message */
};
/* What compose puts into out must live until wb_store_add_reply returns (ctx holds it). */
typedef bool wb_split_compose_fn(void *ctx, const struct wb_split_facts *f,
				 struct wb_split_out *out, GError **error);
struct wb_split_in {
	const char *wamid;           /* the message that starts the new complaint */
	const char *code;            /* the station's code, for the reference */
	const char *timezone;        /* for the reference's year */
	const char *root;            /* Message-ID local part of the new root mail */
	const char *officer;
	wb_split_compose_fn *compose;
	void *ctx;
};

/* Where a message stands for a split: msg_id 0 when no message has this wamid; else its
 * complaint, and how many of the complaint's messages come before it and from it on
 * (itself included). */
struct wb_split_probe {
	int64_t msg_id, complaint_id;
	unsigned earlier, moving;
};
bool wb_store_split_probe(struct wb_store *s, const char *wamid, struct wb_split_probe *p,
			  GError **error);

struct wb_reply_in {
	const char *key, *sha256, *source;
	const void *mail;
	size_t len;
	const char *sender;           /* From: address, or NULL */
	const char *sender_name;      /* From: display name, or NULL */
	int64_t complaint_id;         /* 0: none found */
	const char *matched_by;       /* token | thread | subject, or NULL */
	const char *state;            /* WB_RS_* */
	const char *reason;           /* why not accepted (shown in status), or NULL */
	const char *text, *number, *tags;
	/* mailbox operations queued in the same transaction, whatever the state: the
	 * $WA_Registered keyword of an accepted reply, the note of a refused one */
	const struct wb_mailop_in *ops;
	size_t n_ops;
	/* and the reply path's own, whatever the path set in ops: the notice that the
	 * officer's words were held back */
	const struct wb_mailop_in *more_ops;
	size_t n_more_ops;
	/* accepted replies only, in the same transaction: */
	const struct wb_outbox_in *send;   /* NULL: nothing goes to the citizen */
	const struct wb_outbox_in *held;   /* words that wait for the citizen's next message
					    * (outside the 24-hour window), or NULL */
	const char *purpose;          /* of the send: NULL, or "transfer" */
	bool close;                   /* #close: the complaint is closed */
	const struct wb_transfer_in *transfer; /* #transfer: the complaint moves */
	const struct wb_split_in *split;       /* #new: a new complaint is split off; the
						* number and the send are then its own,
						* send and ops come from split->compose */
};

/* Keep a reply mail and what became of it. *already is set when an accepted reply with
 * the same key exists: then nothing changes (a replay sends nothing twice). A reply
 * seen before but not accepted is evaluated again (the configuration may have changed)
 * and its row updated. */
bool wb_store_add_reply(struct wb_store *s, const struct wb_reply_in *in, int64_t *reply_id,
			bool *already, GError **error);

/* A complaint's transfers, oldest first (of struct wb_transfer *, freed with it). */
struct wb_transfer {
	char *from_station, *to_station, *officer, *reason;
	gint64 at;
};
GPtrArray *wb_store_transfers(struct wb_store *s, int64_t complaint_id, GError **error);

/* How many replies to a complaint were refused as unauthorised since `since`, not
 * counting the one kept under except_key (may be NULL). */
bool wb_store_refusals_since(struct wb_store *s, int64_t complaint_id, gint64 since,
			     const char *except_key, unsigned *n, GError **error);

/* Where a send's state stands: a state only ever moves to a higher rank, and failed is
 * final. -1 for a name that is no send state (a status we do not track). */
enum { WB_RANK_UNSENT = 0, WB_RANK_ACCEPTED, WB_RANK_SENT, WB_RANK_DELIVERED, WB_RANK_READ,
       WB_RANK_PLAYED, WB_RANK_FAILED = 9 };
int wb_send_state_rank(const char *state);

struct wb_outbox {
	int64_t id, reply_id, complaint_id;
	char *station, *phone_number_id, *recipient, *kind, *lang, *text, *template_name;
	char *params, *context_wamid, *state, *noted, *wamid, *request, *last_error;
	int attempts, error_code;
	gint64 accepted_at;
	/* from the complaint and the reply (number: the reply's, for an officer's) */
	char *ref, *first_wamid, *number, *officer, *reply_key;
	char *root;           /* the complaint's first mail (struct wb_complaint) */
	char *purpose;        /* NULL: an officer's reply; "ack", "reminder", "transfer" */
	char *officer_name;   /* the display name of the reply's From:, or NULL */
	bool after_template;  /* an officer's text whose number went by template: its
			       * words, kept for the citizen's next message */
};
typedef struct wb_outbox wb_outbox;
void wb_outbox_free(struct wb_outbox *o);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_outbox, wb_outbox_free)

struct wb_outbox *wb_store_outbox_get(struct wb_store *s, int64_t id, GError **error);
/* Take the next due row (queued, or retry with next_at <= now) for sending: it becomes
 * `sending`, claimed by this process, committed before this returns. NULL without an
 * error when nothing is due. */
struct wb_outbox *wb_store_outbox_take(struct wb_store *s, gint64 now, GError **error);
/* The Graph API accepted the send: record its wamid and the request (statuses that
 * already came for it apply at once). lang: the language it went out in, when that
 * differs from the row's (a template's fallback language), else NULL. */
bool wb_store_outbox_sent(struct wb_store *s, int64_t id, const char *wamid,
			  const char *request, const char *lang, GError **error);
/* The send failed: retry at next_at (>= 0), or finally (next_at < 0; a 131047 of a text
 * with a fallback template queues the template). */
bool wb_store_outbox_failed(struct wb_store *s, int64_t id, const char *request,
			    int graph_code, const char *why, gint64 next_at, GError **error);
/* Rows `sending` whose claimant is gone and that no status has confirmed for grace
 * seconds become `unknown` (never sent again). *n counts them. */
bool wb_store_outbox_expire(struct wb_store *s, gint64 now, gint64 grace, unsigned *n,
			    GError **error);
/* The texts the bridge itself sent (or queued) to the citizen of a complaint (the
 * acknowledgement, the reminder, the transfer notice; not officers' words), oldest
 * first. */
GPtrArray *wb_store_outbox_texts(struct wb_store *s, int64_t complaint_id, GError **error);
/* The citizen wrote again: the complaint's `held` rows are queued (inside the
 * transaction that stores the message). */
bool wb_store_release_held(struct wb_store *s, int64_t complaint_id, GError **error);
/* How many of a complaint's failed sends no later accepted send of the same kind
 * (officers' replies, or the same purpose) has made good: 0 clears $WA_SendFailed. */
bool wb_store_outbox_unresolved(struct wb_store *s, int64_t complaint_id, unsigned *n,
				GError **error);
/* Rows whose state the mailbox does not show yet (noted != state), oldest first. */
GArray *wb_store_outbox_unnoted(struct wb_store *s, GError **error); /* of int64_t */
/* The mailbox operations for a row's state are queued: one transaction. */
bool wb_store_outbox_noted(struct wb_store *s, int64_t id, const char *state,
			   const struct wb_mailop_in *ops, size_t n, GError **error);

struct wb_mailop {
	int64_t id;
	char *station, *kind, *message_id, *keyword;
	GBytes *mail;          /* append: the mail (NULL once done) */
	char *source;          /* copy: the station whose mailbox holds the mail */
	int attempts;
	gint64 created_at;
};
void wb_mailop_free(gpointer op);
/* A mail placed in a mailbox (src/store_deliveries.c, table deliveries). */
struct wb_delivery_in {
	const char *station;     /* whose mailbox */
	const char *message_id;  /* without <>; NULL: the mail's own */
	const char *fallback_id; /* NULL, or the id for a mail without a Message-ID */
	const char *ref;         /* NULL: the mail's X-Complaint-Ref */
	const char *what;        /* message (a citizen's) | note (the bridge's) | copy */
	int64_t msg;             /* messages.id, 0 for notes */
	GBytes *mail;            /* the bytes handed to the mailbox; NULL when digest is
				  * given and they are not at hand (a spooled mail) */
	const char *location;    /* as the back end said, may be NULL */
	gint64 uidvalidity, uid; /* 0 when not known */
	const char *note;        /* NULL, or words for the journal entry */
	const char *digest;      /* NULL, or the digest of mail already worked out */
};
/* A mailbox operation carried out: done, its bytes let go; an append or a copy also
 * recorded as a delivery of mail (NULL: a flag) and journaled, in one transaction. */
bool wb_store_mailop_delivered(struct wb_store *s, const struct wb_mailop *op, GBytes *mail,
			       const char *location, uint32_t uidvalidity, uint32_t uid,
			       const char *note, GError **error);
/* Record, journal and let go the bytes of up to max mails delivered before deliveries
 * were recorded (an upgraded database). *settled: how many. */
bool wb_store_settle_delivered(struct wb_store *s, unsigned max, unsigned *settled,
			       GError **error);

/* A recorded delivery with what verify and export check it against. */
struct wb_delivery {
	int64_t id;
	char *station, *message_id, *ref, *what, *location;
	gint64 uidvalidity, uid, size, at;
	char *sha256;          /* the mail's canonical bytes (maildigest.h) */
	char *digest;          /* JSON form of its digest */
	int64_t journal_id;    /* the "delivered" entry */
	char *journal_subject, *journal_detail; /* NULL when the entry is gone */
	int64_t msg;           /* messages.id, 0 for notes */
	char *wamid, *payload_sha256, *media_sha256, *json; /* of that message, or NULL */
};
void wb_delivery_free(gpointer d);
/* Deliveries of one Message-ID (without <>), oldest first (a transfer makes two). */
GPtrArray *wb_store_deliveries_of(struct wb_store *s, const char *message_id, GError **error);
/* The webhook body whose SHA-256 is sha256 (lowercase hex), as stored; NULL with no
 * error when there is none. *journal_id: its "body" journal entry, 0 if none. */
GBytes *wb_store_body_by_sha(struct wb_store *s, const char *sha256, int64_t *journal_id,
			     GError **error);
/* Deliveries to station (NULL: all) of complaint ref (NULL: all) recorded in [from, to). */
GPtrArray *wb_store_deliveries(struct wb_store *s, const char *station, const char *ref,
			       gint64 from, gint64 to, GError **error);

/* Pending operations due now, by station then id, at most max. */
GPtrArray *wb_store_mailops_due(struct wb_store *s, gint64 now, unsigned max, GError **error);
/* state: "done", "failed", or "pending" again at next_at (attempts + 1). */
bool wb_store_mailop_set(struct wb_store *s, int64_t id, const char *state, const char *detail,
			 gint64 next_at, GError **error);

/* Work left in the outbox and the mailbox operations: rows waiting for a retry or a
 * confirmation, and the soonest due time (0 when none). */
bool wb_store_reply_pending(struct wb_store *s, unsigned *count, gint64 *soonest,
			    GError **error);
/* Human-readable replies/outbox part of `wabridge status`. */
bool wb_store_reply_report(struct wb_store *s, GString *out, GError **error);

/* ---- the station's duty (src/store_duty.c) -------------------------------------------- */

/* An open complaint as the duty pass sees it. */
struct wb_duty_case {
	int64_t id;
	char *ref, *station, *citizen, *first_wamid, *number, *profile_name;
	char *root;            /* the complaint's first mail (struct wb_complaint) */
	char *serious;         /* the serious words that matched, or NULL */
	gint64 opened_at;      /* the clock starts here: the first message */
	gint64 escalated_at;   /* serious or #escalate; 0: not escalated */
	gint64 last_inbound;   /* the citizen's latest message */
	gint64 delivered_at;   /* when the number reached the citizen's phone */
	int64_t scanned_msg;   /* messages up to this id were read for serious words */
	bool open, has_paper, number_sent, number_delivered;
	char *escalate_by, *escalate_text; /* the first accepted reply with #escalate */
	char **done;           /* the kinds of duty that fired for it */
};
typedef struct wb_duty_case wb_duty_case;
void wb_duty_case_free(struct wb_duty_case *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_duty_case, wb_duty_case_free)
bool wb_duty_case_has(const struct wb_duty_case *c, const char *kind);

/* Open complaints whose duty_at has come, at most max (of int64_t). */
GArray *wb_store_duty_due(struct wb_store *s, gint64 now, unsigned max, GError **error);
struct wb_duty_case *wb_store_duty_case(struct wb_store *s, int64_t id, GError **error);
/* Every open complaint, by station, oldest first (of int64_t). */
GArray *wb_store_open_ids(struct wb_store *s, GError **error);
/* A station's open complaints, oldest first (of int64_t). */
GArray *wb_store_station_open(struct wb_store *s, const char *station, GError **error);

/* A complaint's messages with id > after, in time order (with their mails if asked). */
struct wb_store_msg_text {
	int64_t id;
	gint64 ts;
	char *type, *json;
	GBytes *mail;          /* with_mail: the rendered mail while it waits for delivery */
	char *held_by, *message_id; /* with_mail: once delivered, the station whose mailbox
				     * holds it and its Message-ID (without <>) */
};
void wb_store_msg_text_free(gpointer p);
GPtrArray *wb_store_complaint_texts(struct wb_store *s, int64_t complaint_id, int64_t after,
				    bool with_mail, GError **error);

struct wb_mailout_in {
	const char *kind;             /* "escalation" | "digest" */
	const char *message_id;       /* without <> */
	const char *const *rcpts;
	GBytes *mail;
};

/* One duty and everything it causes, in one transaction. */
struct wb_duty_in {
	int64_t complaint_id;         /* 0: the station's own (the digest) */
	const char *station, *ref;
	const char *kind, *key;       /* key may be NULL */
	const char *detail;           /* shown in the history, may be NULL */
	const char *serious;          /* the complaint becomes serious with these words */
	bool escalate;                /* the complaint counts as escalated from now */
	const char *purpose;          /* of send */
	const struct wb_outbox_in *send;
	const struct wb_mailop_in *ops;
	size_t n_ops;
	const struct wb_mailout_in *mails;
	size_t n_mails;
};
/* *fired false: it had fired before, and nothing changed. */
bool wb_store_duty_fire(struct wb_store *s, const struct wb_duty_in *in, bool *fired,
			GError **error);
/* The stations whose digest for the local date ("2026-12-06") went out: a set of keys. */
GHashTable *wb_store_digests_on(struct wb_store *s, const char *date, GError **error);
/* Each complaint needs a look again at duty_at, its messages up to scanned_msg are read
 * (a message that came meanwhile keeps it due now); all in one transaction, so that a
 * pass over many complaints where nothing fires costs one commit. */
struct wb_duty_next {
	int64_t complaint_id;
	gint64 duty_at;
	int64_t scanned_msg;
};
bool wb_store_duty_next(struct wb_store *s, const struct wb_duty_next *items, size_t n,
			GError **error);
/* The soonest duty_at of an open complaint (0 when none). */
bool wb_store_duty_soonest(struct wb_store *s, gint64 *soonest, GError **error);

struct wb_mailout {
	int64_t id;
	int64_t complaint_id;  /* 0: a station's (the digest) */
	char *station, *kind, *message_id;
	char **rcpts;
	GBytes *mail;
	int attempts;
	gint64 created_at;
};
void wb_mailout_free(struct wb_mailout *m);
/* The next mail due (claimed by this process), or NULL without error when none. */
struct wb_mailout *wb_store_mailout_take(struct wb_store *s, gint64 now, GError **error);
/* state "sent", "failed", or "pending" again at next_at. */
bool wb_store_mailout_set(struct wb_store *s, int64_t id, const char *state, const char *detail,
			  gint64 next_at, GError **error);
bool wb_store_mailout_pending(struct wb_store *s, unsigned *count, gint64 *soonest,
			      GError **error);
/* The duty part of `wabridge status`: duties kept, mail to superiors and what waits. */
bool wb_store_duty_report(struct wb_store *s, GString *out, GError **error);

/* ---- complaint listings (src/store_complaints.c) ------------------------------------ */

enum wb_complaint_filter { WB_COMPLAINTS_ALL, WB_COMPLAINTS_OPEN, WB_COMPLAINTS_OVERDUE };

/* Where an open complaint stands on its clock ("overdue", "due soon", … see
 * wb_duty_state()), for the listings; NULL when unknown. */
typedef const char *wb_duty_state_fn(void *ctx, int64_t complaint_id);

/* One line per complaint (with a header line), oldest first; station NULL for all. Each
 * open complaint shows state_of's words; OVERDUE lists the open ones it calls "overdue"
 * (past their clock without a delivered number). */
bool wb_store_complaints_list(struct wb_store *s, const char *station,
			      enum wb_complaint_filter filter, wb_duty_state_fn *state_of,
			      void *ctx, GString *out, unsigned *count, GError **error);
/* A complaint and its whole history in time order: the citizen's messages and their
 * mails, officers' replies (taken or refused, and why), WhatsApp sends and their
 * statuses. WB_STORE_NOT_FOUND for an unknown reference. */
bool wb_store_complaint_history(struct wb_store *s, const char *ref, GString *out,
				GError **error);

/* What a wamid names, for a reaction: one of the citizen's (sender's) messages or one
 * of the bridge's sends to them. found false when neither. */
struct wb_wamid_info {
	bool found, ours;
	char *type;          /* the message's type; ours: text | template */
	char *json;          /* the message object (not ours) */
	char *purpose;       /* ours: the send's purpose (NULL: an officer's reply) */
	char *number;        /* ours: the complaint number the reply carried */
	gint64 ts;           /* when it was written or sent */
};
void wb_wamid_info_clear(struct wb_wamid_info *w);
bool wb_store_wamid_info(struct wb_store *s, const char *wamid, const char *sender,
			 struct wb_wamid_info *out, GError **error);

#endif
