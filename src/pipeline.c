/* pipeline: accept bodies; render and deliver messages with retries.
 *
 * A message moves received → rendered → delivering → delivered, or to retry (with a
 * next_at) and finally failed; every move goes through the store's state-change
 * function (wb_store_apply). Work is done in batches — the messages claimed together,
 * grouped by station — so that each step costs one transaction for the batch, not one
 * per message:
 *   1. render what has no mail yet; keep the mails            (one commit)
 *   2. per station: mark the batch "delivering"               (one commit)
 *   3. deliver each mail, then record every outcome           (one commit)
 * The mail is rendered once and its bytes kept, so a retry sends exactly what the first
 * attempt did. A message found in "delivering", or retried after an attempt that reached
 * the server, may already be in the mailbox: the mailbox is asked first, so a crash or a
 * broken connection never makes a second mail.
 *
 * Where a rendered mail is kept until its delivery is recorded:
 * - A mail without a medium (a text, a location; a few kB) in the state database (table
 *   rendered, through wb_change.mail), rendered and delivered in memory: cheap, and the
 *   batches above stay one transaction per step.
 * - A mail with a medium (a photo, a 100 MiB document) never in memory nor in the
 *   database (a 100 MiB blob there is written and read whole, and copied into every
 *   statement's parameters): the medium is downloaded into a spool file, the mail is
 *   rendered from it into another (spool.h), and the back end delivers from a read-only
 *   mapping of that file, unmapped as soon as its digest is taken. The file's name
 *   carries the message, station and complaint, so a retry finds it without the database
 *   (and without fetching the medium again: Meta's ids expire), while a transfer or a
 *   split, which change where the mail goes, makes the next attempt render it afresh.
 *   A file counts only once the message has been recorded as rendered: one found for a
 *   message still "received" (a crash between the file and the commit) is rendered
 *   again. The file goes once the delivery, or the final failure, is committed; the
 *   first pass of a process, and then one an hour, sweep what crashes left (spool.h).
 *   Why not render and deliver in one go and render again after any failure: a retry
 *   would download the medium again, for days while a mailbox is down, and a medium
 *   that has expired at Meta would be lost. */
#include "pipeline.h"
#include "maildigest.h"
#include "caps.h"
#include "deliver.h"
#include "duty.h"
#include "media.h"
#include "metrics.h"
#include "spool.h"
#include "util.h"
#include "view.h"
#include "webhook.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

#define WB_MAX_ATTEMPTS 60  /* with backoff capped at 6 h: several days of retrying */
#define CLAIM_BATCH 64
#define EXPAND_BATCH 32     /* short write transactions: the listener's commits wait less */
#define HOLD_US 10000       /* a worker's write transaction, about this long at most */
#define SWEEP_EVERY_US (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC) /* the spool's leftovers looked for */

gint64 wb_backoff(int fail_class, int attempts)
{
	gint64 base = fail_class == WB_FAIL_SOON ? 15 : 300;
	gint64 cap = fail_class == WB_FAIL_SOON ? 600 : 6 * 3600;
	int shift = attempts < 16 ? attempts : 16;
	gint64 d = base << shift;
	return d < cap ? d : cap;
}

enum wb_accept_result wb_accept(const struct wb_config *cfg, struct wb_store *store,
				const void *body, size_t len, bool verified, const char *source,
				struct wb_accept_info *info)
{
	GError *err = NULL;
	memset(info, 0, sizeof *info);
	if (!wb_store_add_body(store, body, len, verified, source, &info->body_id, NULL, &err)) {
		info->reason = g_strdup(err->message);
		g_error_free(err);
		return WB_ACCEPT_NOT_STORED;
	}
	struct wb_payload *p = wb_webhook_parse(body, len, &err);
	if (!p) {
		info->reason = g_strdup(err->message);
		g_clear_error(&err);
		if (!wb_store_body_bad(store, info->body_id, info->reason, &err)) {
			/* The body is stored (state "new"); the next pass retries and marks it. */
			g_warning("%s", err->message);
			g_error_free(err);
		}
		return WB_ACCEPT_BAD;
	}
	bool ok = wb_store_expand(store, cfg, info->body_id, p, &info->counts, &err);
	wb_payload_free(p);
	if (!ok) {
		/* Stored but not expanded: the next pass expands it. Not an error for Meta. */
		g_warning("webhook body %" G_GINT64_FORMAT " stored, expanding it failed (will "
			  "retry): %s", info->body_id, err->message);
		g_error_free(err);
	}
	return WB_ACCEPT_STORED;
}

/* ---- expanding stored bodies ----------------------------------------------------------- */

struct parsed {
	GBytes *raw;
	struct wb_payload *payload;
	char *bad;
};

/* How many items the worker's write transactions take (bodies to expand, changes to
 * apply): halved after a transaction that held the write lock longer than HOLD_US,
 * doubled (up to its maximum) after a full one that took less than half that. On SQLite
 * the maxima take a few milliseconds; on PostgreSQL each statement is a round trip to the
 * server, and a webhook's commit waits for the whole transaction (behind 32 expansions
 * or 64 changes, for 100 ms and more). Shared by the threads that work: hints, each read
 * and written whole. */
static gint expand_size = EXPAND_BATCH;
static gint apply_size = CLAIM_BATCH;

static void adapt_size(gint *size, gint max, guint n, gint64 took_us)
{
	if (took_us > HOLD_US && n > 1)
		g_atomic_int_set(size, (gint)MAX(n / 2, 1));
	else if (took_us < HOLD_US / 2 && n >= (guint)g_atomic_int_get(size))
		g_atomic_int_set(size, MIN((gint)n * 2, max));
}

static bool expand_chunk(const struct wb_config *cfg, struct wb_store *store, GArray *ids,
			 guint from, guint to, GError **error)
{
	guint n = to - from;
	struct parsed *p = g_new0(struct parsed, n);
	struct wb_expand_item *items = g_new0(struct wb_expand_item, n);
	bool ok = true;
	for (guint i = 0; ok && i < n; i++) {
		items[i].body_id = g_array_index(ids, int64_t, from + i);
		p[i].raw = wb_store_body(store, items[i].body_id, error);
		ok = p[i].raw != NULL;
		if (!ok)
			break;
		gsize len;
		const void *data = g_bytes_get_data(p[i].raw, &len);
		GError *perr = NULL;
		p[i].payload = wb_webhook_parse(data, len, &perr);
		if (!p[i].payload) {
			p[i].bad = g_strdup(perr->message);
			g_error_free(perr);
		}
		items[i].payload = p[i].payload;
		items[i].bad_reason = p[i].bad;
	}
	gint64 t0 = g_get_monotonic_time();
	ok = ok && wb_store_expand_many(store, cfg, items, n, error);
	if (ok)
		adapt_size(&expand_size, EXPAND_BATCH, n, g_get_monotonic_time() - t0);
	for (guint i = 0; i < n; i++) {
		if (p[i].raw)
			g_bytes_unref(p[i].raw);
		wb_payload_free(p[i].payload);
		g_free(p[i].bad);
	}
	g_free(p);
	g_free(items);
	return ok;
}

/* Bodies the daemon committed (or a crash left) without expanding them. */
static bool expand_bodies(const struct wb_config *cfg, struct wb_store *store,
			  struct wb_pass_result *res, GError **error)
{
	g_autoptr(GArray) ids = wb_store_unexpanded_bodies(store, error);
	if (!ids)
		return false;
	for (guint i = 0, to; i < ids->len; i = to) {
		to = MIN(ids->len, i + (guint)g_atomic_int_get(&expand_size));
		if (!expand_chunk(cfg, store, ids, i, to, error))
			return false;
		res->expanded += to - i;
	}
	return true;
}

/* ---- one batch of claimed messages ----------------------------------------------------- */

struct job {
	struct wb_msg *m;
	const struct wb_station *st;
	char *detail;          /* owned text for this job's pending change */
	char *msgid;           /* its mail's Message-ID, once delivery starts */
	char *digest;          /* its mail's digest (JSON), once delivered */
	bool settled;          /* failed, waiting or finished: nothing more in this batch */
	bool has_media;        /* the type carries media (fetched before rendering) */
	bool maybe_there;      /* an earlier attempt may have put the mail in the mailbox */
	struct wb_media_facts facts; /* pointing into m */
	char *media_path;      /* the spool file m->media maps, until the mail is rendered */
	guint64 media_size;
	char *spooled;         /* the spool file m->mail maps, or NULL: m->mail is in memory */
	bool spool_done;       /* delivered or failed for good: the file goes once committed */
};

/* Targets opened during one pass, one per station, reused by its batches; a station
 * whose target failed to open is remembered, so its other messages wait instead of
 * hammering a dead server. */
struct targets {
	const struct wb_config *cfg;
	GHashTable *open;      /* station key -> struct wb_target * */
	GHashTable *down;      /* station key -> GError * */
};

struct batch {
	const struct wb_config *cfg;
	struct wb_store *store;
	struct wb_pass_result *res;
	struct targets *targets;
	GArray *changes;       /* of struct wb_change, pointing into jobs' details */
	GPtrArray *jobs;       /* of struct job *; alive until the batch ends */
};

static void targets_close(struct targets *t)
{
	GHashTableIter it;
	gpointer key, value;
	g_hash_table_iter_init(&it, t->open);
	while (g_hash_table_iter_next(&it, &key, &value))
		wb_deliver_for(wb_config_station_by_key(t->cfg, key))->close(value);
	g_hash_table_destroy(t->open);
	g_hash_table_destroy(t->down);
}

static struct wb_target *target_for(struct targets *t, const struct wb_station *st,
				    GError **error)
{
	struct wb_target *tg = g_hash_table_lookup(t->open, st->key);
	if (tg)
		return tg;
	GError *down = g_hash_table_lookup(t->down, st->key);
	if (down) {
		g_propagate_error(error, g_error_copy(down));
		return NULL;
	}
	tg = wb_deliver_for(st)->open(t->cfg, st, error);
	if (tg)
		g_hash_table_insert(t->open, g_strdup(st->key), tg);
	else
		g_hash_table_insert(t->down, g_strdup(st->key), g_error_copy(*error));
	return tg;
}

/* The medium's spool file, once the mail holds it (or it is of no more use). */
static void drop_media(struct job *j)
{
	g_clear_pointer(&j->m->media, g_bytes_unref);
	wb_spool_remove(j->media_path);
	g_clear_pointer(&j->media_path, g_free);
}

static void job_free(gpointer p)
{
	struct job *j = p;
	drop_media(j);
	g_free(j->spooled);
	wb_msg_free(j->m);
	g_free(j->detail);
	g_free(j->msgid);
	g_free(j->digest);
	g_free(j);
}

static void add_change(struct batch *b, struct job *j, const char *state, char *detail,
		       gint64 next_at)
{
	g_free(j->detail);
	j->detail = detail;
	struct wb_change c = { .id = j->m->id, .state = state, .detail = detail, .next_at = next_at };
	g_array_append_val(b->changes, c);
}

/* The batch's changes, in transactions of apply_size (each change stands alone: one
 * that failed leaves those before it applied). */
static bool flush(struct batch *b, GError **error)
{
	const struct wb_change *c = (const struct wb_change *)(const void *)b->changes->data;
	bool ok = true;
	for (guint i = 0, k; ok && i < b->changes->len; i += k) {
		k = MIN(b->changes->len - i, (guint)g_atomic_int_get(&apply_size));
		gint64 t0 = g_get_monotonic_time();
		ok = wb_store_apply(b->store, c + i, k, error);
		if (ok)
			adapt_size(&apply_size, CLAIM_BATCH, k, g_get_monotonic_time() - t0);
	}
	g_array_set_size(b->changes, 0);
	return ok;
}

/* What to do next after why (fail.h): the codes of deliveries and media fetches say it;
 * a spool file that cannot be written (a full disk, a bad spool_dir) waits for a human. */
static int fail_class(const GError *why)
{
	if (why->domain == WB_DELIVER_ERROR || why->domain == WB_MEDIA_ERROR)
		return why->code;
	return why->domain == G_IO_ERROR ? WB_FAIL_LATER : WB_FAIL_SOON;
}

/* A failed attempt: retry with backoff by failure class, or give up for good. */
static void add_failure(struct batch *b, struct job *j, const GError *why)
{
	int cls = fail_class(why);
	wb_metrics_delivery_failed();
	if (cls == WB_FAIL_FINAL || j->m->attempts + 1 >= WB_MAX_ATTEMPTS) {
		j->spool_done = true;
		b->res->failed++;
		add_change(b, j, WB_ST_FAILED, g_strdup_printf("%s%s", why->message,
			   cls == WB_FAIL_FINAL ? "" : " (gave up after many attempts)"), -1);
		return;
	}
	b->res->retrying++;
	gint64 next = wb_now() + wb_backoff(cls, j->m->attempts);
	add_change(b, j, WB_ST_RETRY, wb_retry_detail(why->message, next), next);
}

/* Might an earlier attempt have put this mail in the mailbox already? */
static bool maybe_there(const struct wb_msg *m)
{
	return strcmp(m->state, WB_ST_DELIVERING) == 0 ||
	       (strcmp(m->state, WB_ST_RETRY) == 0 && m->attempts > 0);
}

/* Load a claimed message and find its station; finished or unroutable ones are settled
 * here and NULL returned. */
static struct job *load_job(struct batch *b, int64_t id, GError **error, bool *store_failed)
{
	struct wb_msg *m = wb_store_message(b->store, id, error);
	if (!m) {
		*store_failed = true;
		return NULL;
	}
	if (strcmp(m->state, WB_ST_DELIVERED) == 0 || strcmp(m->state, WB_ST_FAILED) == 0 ||
	    strcmp(m->state, WB_ST_UNROUTED) == 0) {
		wb_msg_free(m); /* finished since it was claimed */
		return NULL;
	}
	struct job *j = g_new0(struct job, 1);
	j->m = m;
	/* Decided now: rendering again (bytes lost, a template changed) does not make an
	 * earlier attempt's mail go away. */
	j->maybe_there = maybe_there(m);
	j->st = m->station ? wb_config_station_by_key(b->cfg, m->station) : NULL;
	if (!j->st && m->station)
		j->st = wb_config_station_for(b->cfg, m->phone_number_id);
	if (!j->st || strcmp(j->st->key, m->station) != 0) {
		b->res->failed++;
		j->settled = true;
		add_change(b, j, WB_ST_FAILED, g_strdup_printf(
			"station %s is no longer in the configuration; add it back and the message "
			"can be re-queued", m->station ? m->station : "(none)"), -1);
	}
	return j;
}

static size_t media_cap(const char *type, size_t media_max)
{
	static const struct { const char *type; size_t cap; } caps[] = {
		{ "image", WB_MAX_IMAGE_BYTES }, { "audio", WB_MAX_AUDIO_BYTES },
		{ "video", WB_MAX_VIDEO_BYTES }, { "sticker", WB_MAX_STICKER_BYTES },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(caps); i++)
		if (strcmp(caps[i].type, type) == 0)
			return MIN(caps[i].cap, media_max);
	return media_max;
}

/* A spool file that cannot be made or written: the message waits (fail_class), and its
 * medium is not counted as lost. */
static bool spool_trouble(struct batch *b, struct job *j, GError *err)
{
	g_warning("message %" G_GINT64_FORMAT " %s: %s", j->m->id, j->m->wamid, err->message);
	add_failure(b, j, err);
	j->settled = true;
	g_error_free(err);
	return false;
}

/* Downloads the medium into a spool file and maps it (the view reads a voice note's
 * length from it; the renderer reads the file itself). */
static bool fetch_to_spool(struct batch *b, struct job *j, const struct wb_media_req *req,
			   struct wb_media *got, GError **error)
{
	g_autofree char *path = NULL;
	int fd = wb_spool_temp(b->cfg->spool_dir, "media", j->m->id, &path, error);
	if (fd < 0) {
		got->write_errno = EIO;
		return false;
	}
	bool ok = wb_media_fetch(req, fd, path, got, error);
	close(fd);
	if (ok && !(j->m->media = wb_spool_map(path, error))) {
		got->write_errno = EIO;
		ok = false;
	}
	if (!ok) {
		wb_spool_remove(path);
		return false;
	}
	j->media_path = g_steal_pointer(&path);
	j->media_size = got->size;
	return true;
}

/* Fetch the media of a message that has one, at once (ids die after days). A failure
 * that may pass makes the message wait for a retry (false); one that will not, or has
 * gone on too long, lets the mail go out with a notice in place of the media. */
static bool fetch_media(struct batch *b, struct job *j)
{
	g_autofree char *id = NULL, *b64 = NULL, *mime = NULL;
	j->has_media = wb_view_media_ref(j->m->type, j->m->json, &id, &b64, &mime);
	if (!j->has_media || j->m->media || j->m->media_error)
		return true;
	if (!b->cfg->access_token) {
		j->m->media_error = g_strdup("no [whatsapp] access_token_file is configured, so "
					     "media cannot be fetched");
		return true;
	}
	struct wb_media_req req = {
		.api_base = b->cfg->api_base, .access_token = b->cfg->access_token,
		.ca_file = b->cfg->wa_ca_file, .media_id = id ? id : "",
		.phone_number_id = j->m->phone_number_id, .sha256_b64 = b64,
		.max_bytes = media_cap(j->m->type, b->cfg->media_max),
	};
	struct wb_media got = { 0 };
	GError *err = NULL;
	if (fetch_to_spool(b, j, &req, &got, &err)) {
		j->m->media_mime = got.mime_type ? g_steal_pointer(&got.mime_type) : g_strdup(mime);
		j->m->media_sha256 = g_steal_pointer(&got.sha256_hex);
		g_message("message %" G_GINT64_FORMAT " %s: media %s fetched (%s, %" G_GUINT64_FORMAT
			  " bytes, SHA-256 %s)", j->m->id, j->m->wamid, id, j->m->media_mime,
			  got.size, j->m->media_sha256);
		wb_media_clear(&got);
		return true;
	}
	bool local = got.write_errno != 0;
	wb_media_clear(&got);
	if (local)
		return spool_trouble(b, j, err);
	bool give_up = err->code == WB_FAIL_FINAL || j->m->attempts + 1 >= WB_MEDIA_MAX_TRIES ||
		       wb_now() - j->m->received_at > WB_MEDIA_GIVE_UP_S;
	if (give_up) {
		g_warning("message %" G_GINT64_FORMAT " %s: media %s cannot be fetched, the mail "
			  "goes out with a notice: %s", j->m->id, j->m->wamid, id ? id : "-",
			  err->message);
		j->m->media_error = g_strdup(err->message);
	} else {
		add_failure(b, j, err);
		j->settled = true;
	}
	g_error_free(err);
	return give_up;
}

/* Where the complaint stands as this mail is written, for its first line; NULL when
 * the store cannot say (the mail goes out without it rather than wait). */
static char *state_line_for(struct batch *b, const struct job *j)
{
	if (!j->m->complaint_id)
		return NULL;
	GError *e = NULL;
	g_autoptr(wb_duty_case) c = wb_store_duty_case(b->store, j->m->complaint_id, &e);
	if (!c) {
		g_warning("message %" G_GINT64_FORMAT ": the complaint's state for its first line "
			  "cannot be read: %s", j->m->id, e->message);
		g_error_free(e);
		return NULL;
	}
	return wb_duty_state_line(b->cfg, j->st, c, wb_now());
}

/* What a reaction reacts to, in words: "the citizen's message of 15 Oct, 13:30:
 * “…”", "the station's message with complaint number 123/2026 (…)". NULL when the
 * message is not in the store. */
static char *reaction_target_for(struct batch *b, const struct job *j)
{
	if (strcmp(j->m->type, "reaction") != 0)
		return NULL;
	json_t *v = json_loads(j->m->json, 0, NULL);
	const char *target = json_string_value(json_object_get(json_object_get(v, "reaction"),
							       "message_id"));
	struct wb_wamid_info w;
	GError *e = NULL;
	bool ok = wb_store_wamid_info(b->store, target, j->m->sender, &w, &e);
	json_decref(v);
	if (!ok) {
		g_warning("message %" G_GINT64_FORMAT ": the reaction's target cannot be read: %s",
			  j->m->id, e->message);
		g_error_free(e);
		return NULL;
	}
	char *out = NULL;
	if (w.found) {
		g_autofree char *when = wb_local_text(w.ts, b->cfg->timezone, "%-d %b, %H:%M");
		if (!w.ours) {
			struct wb_view *tv = wb_view_build(w.type, w.json, NULL, w.ts,
							   b->cfg->timezone);
			out = g_strdup_printf("the citizen's message of %s: \u201c%s\u201d", when,
					      tv->summary);
			wb_view_free(tv);
		} else if (w.purpose && strcmp(w.purpose, "ack") == 0) {
			out = g_strdup_printf("the bridge's acknowledgement of %s", when);
		} else if (w.number) {
			out = g_strdup_printf("the station's message with complaint number %s (%s)",
					      w.number, when);
		} else {
			out = g_strdup_printf("the station's message of %s", when);
		}
	}
	wb_wamid_info_clear(&w);
	return out;
}

/* The mail of a message with a medium, rendered into the spool and mapped from there. */
static bool render_to_spool(struct batch *b, const struct wb_render_in *in, struct job *j,
			    GError **error)
{
	g_autofree char *tmp = NULL;
	int fd = wb_spool_temp(b->cfg->spool_dir, "mail", j->m->id, &tmp, error);
	if (fd < 0)
		return false;
	if (!wb_render_mail_to_fd(in, fd, error)) {
		close(fd);
		wb_spool_remove(tmp);
		return false;
	}
	g_autofree char *path = wb_spool_mail_path(b->cfg->spool_dir, j->m->id, j->st->key,
						   j->m->ref);
	if (!wb_spool_commit(fd, tmp, path, error))
		return false;
	if (!(j->m->mail = wb_spool_map(path, error))) {
		wb_spool_remove(path);
		return false;
	}
	g_info("message %" G_GINT64_FORMAT ": mail spooled in %s (%zu bytes)", j->m->id, path,
	       g_bytes_get_size(j->m->mail));
	j->spooled = g_steal_pointer(&path);
	return true;
}

/* A mail rendered into the spool by an earlier attempt, delivered from there; false when
 * there is none to use. */
static bool spooled_mail(struct batch *b, struct job *j)
{
	if (j->settled)
		return false;
	g_autofree char *path = wb_spool_mail_path(b->cfg->spool_dir, j->m->id, j->st->key,
						   j->m->ref);
	if (strcmp(j->m->state, WB_ST_RECEIVED) == 0) {
		/* never recorded as rendered (a crash before the commit): rendered again */
		wb_spool_remove(path);
		return false;
	}
	GError *e = NULL;
	if (!(j->m->mail = wb_spool_map(path, &e))) {
		if (!g_error_matches(e, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
			g_warning("message %" G_GINT64_FORMAT ": %s; rendered again", j->m->id,
				  e->message);
		g_error_free(e);
		return false;
	}
	j->spooled = g_steal_pointer(&path);
	return true;
}

static void render_job(struct batch *b, const struct wb_templates *tpl, struct job *j)
{
	g_autofree char *reply_to = wb_reply_address(b->cfg->replies_address,
						     b->cfg->token_secret, j->m->ref, b->cfg->domain);
	g_autofree char *state = state_line_for(b, j);
	g_autofree char *target = reaction_target_for(b, j);
	struct wb_render_in in = {
		.domain = b->cfg->domain, .timezone = b->cfg->timezone, .reply_to = reply_to,
		.station = j->st, .msg = j->m, .tpl = tpl, .state_line = state,
		.reaction_target = target, .media_path = j->media_path,
	};
	GError *err = NULL;
	/* the renderer reads the medium from its file; the view walks a voice note's pages */
	struct wb_spool_drop *drop = j->media_path ? wb_spool_drop_behind(j->m->media) : NULL;
	bool ok = j->media_path ? render_to_spool(b, &in, j, &err)
				: (j->m->mail = wb_render_mail(&in, &err)) != NULL;
	wb_spool_drop_stop(drop);
	drop_media(j);
	if (!ok && err->domain == G_IO_ERROR) {
		spool_trouble(b, j, err);
		return;
	}
	if (!ok) {
		b->res->failed++;
		j->settled = true;
		add_change(b, j, WB_ST_FAILED, g_strdup_printf("cannot render: %s", err->message), -1);
		g_error_free(err);
		return;
	}
	add_change(b, j, WB_ST_RENDERED, NULL, -1);
	struct wb_change *c = &g_array_index(b->changes, struct wb_change, b->changes->len - 1);
	c->mail = j->spooled ? NULL : j->m->mail;  /* a spooled mail stays out of the database */
	if (j->has_media) {
		j->facts = (struct wb_media_facts){
			.mime_type = j->m->media_mime, .sha256 = j->m->media_sha256,
			.size = (gint64)j->media_size, .error = j->m->media_error,
		};
		c->media = &j->facts;
	}
	g_free(j->m->state);
	j->m->state = g_strdup(WB_ST_RENDERED);
}

/* A spooled mail is read through once by the back end, then once more for its digest:
 * the pages read are let go on the way (spool.h), so that the daemon's memory does not
 * grow with the mail. */
static struct wb_spool_drop *read_through(const struct job *j)
{
	return j->spooled ? wb_spool_drop_behind(j->m->mail) : NULL;
}

/* The digest of a mail just delivered, worked out here rather than in the transaction
 * that records it (store_deliveries.c), where webhooks would wait for it; for a spooled
 * mail the record is made from it alone. Then the mail is let go: a spooled one is
 * unmapped, its file removed once the delivery is committed. */
static char *digest_and_let_go(struct job *j, struct wb_spool_drop *drop)
{
	if (!j->m->mail)
		return NULL;
	gsize len;
	const char *mail = g_bytes_get_data(j->m->mail, &len);
	g_autoptr(wb_maildigest) d = wb_maildigest_of(mail, len, NULL, NULL);
	wb_spool_drop_stop(drop);
	g_clear_pointer(&j->m->mail, g_bytes_unref);
	j->spool_done = true;
	return d ? wb_maildigest_json(d) : NULL;
}

/* Spool files of this batch whose delivery or final failure is now committed. */
static void spool_clean(struct batch *b)
{
	for (guint i = 0; i < b->jobs->len; i++) {
		struct job *j = b->jobs->pdata[i];
		if (j->spooled && j->spool_done) {
			wb_spool_remove(j->spooled);
			g_clear_pointer(&j->spooled, g_free);
		}
	}
}

static bool stopping(const gint *stop)
{
	return stop && g_atomic_int_get(stop);
}

/* One station's jobs in a batch: its target, and those of them to send. */
struct group {
	struct wb_target *tg; /* NULL: the station could not be opened (its jobs failed) */
	GPtrArray *todo;      /* of struct job *, all of one station, in the batch's order */
	GPtrArray *send;      /* of those, the ones not already in the mailbox */
};

static void group_free(gpointer p)
{
	struct group *g = p;
	g_ptr_array_unref(g->todo);
	g_ptr_array_unref(g->send);
	g_free(g);
}

/* Open the station's target and ask the mailbox for the mails an earlier attempt may
 * have put there. What is left to send goes to g->send; the rest gets its change. */
static void prepare_station(struct batch *b, struct group *g)
{
	const struct wb_station *st = ((struct job *)g->todo->pdata[0])->st;
	const struct wb_deliver_ops *ops = wb_deliver_for(st);
	GError *derr = NULL;
	g->tg = target_for(b->targets, st, &derr);
	if (!g->tg) {
		for (guint i = 0; i < g->todo->len; i++)
			add_failure(b, g->todo->pdata[i], derr);
		g_error_free(derr);
		return;
	}
	for (guint i = 0; i < g->todo->len; i++) {
		struct job *j = g->todo->pdata[i];
		j->msgid = wb_message_id(j->m->wamid, b->cfg->domain);
		int there = j->maybe_there ? ops->exists(g->tg, j->msgid, &derr) : 0;
		if (there == 1) {
			b->res->delivered++;
			wb_metrics_mail_delivered();
			add_change(b, j, WB_ST_DELIVERED,
				   g_strdup("found in the mailbox after an interrupted delivery"), -1);
			struct wb_change *c = &g_array_index(b->changes, struct wb_change,
							     b->changes->len - 1);
			c->message_id = j->msgid;
			c->digest = j->digest = digest_and_let_go(j, read_through(j));
		} else if (there < 0) {
			add_failure(b, j, derr);
			g_clear_error(&derr);
		} else {
			g_ptr_array_add(g->send, j);
		}
	}
}

/* Send one station's mails, once they are recorded as being delivered. */
static void send_station(struct batch *b, struct group *g)
{
	const struct wb_deliver_ops *ops = wb_deliver_for(((struct job *)g->todo->pdata[0])->st);
	GError *derr = NULL;
	for (guint i = 0; i < g->send->len; i++) {
		struct job *j = g->send->pdata[i];
		gsize len;
		const char *mail = g_bytes_get_data(j->m->mail, &len);
		struct wb_delivered out = { 0 };
		struct wb_spool_drop *drop = read_through(j);
		if (!ops->deliver(g->tg, mail, len, NULL, &out, &derr)) {
			/* It may have reached the server before failing: next time, ask first. */
			add_failure(b, j, derr);
			wb_spool_drop_stop(drop);
			g_clear_pointer(&j->m->mail, g_bytes_unref); /* kept where it was */
			bool connection = derr->code != WB_FAIL_FINAL;
			g_clear_error(&derr);
			/* The rest of this station's batch waits too rather than hammering a
			 * server that just failed; they were not attempted. */
			for (guint k = i + 1; connection && k < g->send->len; k++) {
				GError *wait = g_error_new(WB_DELIVER_ERROR, WB_FAIL_SOON,
							   "not attempted: an earlier delivery to "
							   "this mailbox just failed");
				add_failure(b, g->send->pdata[k], wait);
				g_error_free(wait);
			}
			if (connection)
				break;
			continue;
		}
		b->res->delivered++;
		wb_metrics_mail_delivered();
		add_change(b, j, WB_ST_DELIVERED, g_strdup(out.location), -1);
		struct wb_change *c = &g_array_index(b->changes, struct wb_change, b->changes->len - 1);
		c->location = j->detail;
		c->message_id = j->msgid;
		c->digest = j->digest = digest_and_let_go(j, drop);
		c->uidvalidity = out.uidvalidity;
		c->uid = out.uid;
		g_free(out.location);
	}
}

/* Deliver the batch's rendered mails, station by station in the order the stations
 * first appear. Whatever the number of stations, the batch takes two commits: every mail
 * is recorded as being delivered before any is sent (so that one cut off is looked for
 * in the mailbox next time, never appended twice), and all outcomes after the last.
 * (With two commits for each station, mail spread over many stations cost two commits a
 * mail.) Each station's target is opened, asked and sent to in one go, so the session
 * the pool gives it is still there for its sends. */
static bool deliver_batch(struct batch *b, const gint *stop, GError **error)
{
	g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(group_free);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < b->jobs->len; i++) {
		struct job *first = b->jobs->pdata[i];
		if (first->settled || g_hash_table_contains(seen, first->st->key))
			continue;
		g_hash_table_add(seen, first->st->key);
		struct group *g = g_new0(struct group, 1);
		g->todo = g_ptr_array_new();
		g->send = g_ptr_array_new();
		for (guint k = i; k < b->jobs->len; k++) {
			struct job *j = b->jobs->pdata[k];
			if (!j->settled && strcmp(j->st->key, first->st->key) == 0) {
				g_ptr_array_add(g->todo, j);
				add_change(b, j, WB_ST_DELIVERING, NULL, -1);
			}
		}
		g_ptr_array_add(groups, g);
	}
	bool ok = flush(b, error);
	guint done = 0;
	for (; ok && done < groups->len && !stopping(stop); done++) {
		struct group *g = groups->pdata[done];
		prepare_station(b, g);
		if (g->tg)
			send_station(b, g);
	}
	/* Stopped between stations: the mails not sent go back to what they were, so that a
	 * clean stop leaves nothing "delivering" (and the next pass does not search the
	 * mailbox for them). One an earlier attempt may have sent stays as it was. */
	for (guint i = done; ok && i < groups->len; i++) {
		struct group *g = groups->pdata[i];
		for (guint k = 0; k < g->todo->len; k++) {
			struct job *j = g->todo->pdata[k];
			if (!j->maybe_there)
				add_change(b, j, WB_ST_RENDERED,
					   g_strdup("not sent: the bridge was stopping"), -1);
			else if (strcmp(j->m->state, WB_ST_RETRY) == 0)
				add_change(b, j, WB_ST_RETRY,
					   g_strdup("not attempted: the bridge was stopping"), -1);
		}
	}
	ok = flush(b, error) && ok;
	if (ok)
		spool_clean(b);
	return ok;
}

static bool work_batch(struct targets *t, struct wb_store *store,
		       const struct wb_templates *tpl, GArray *ids, const gint *stop,
		       struct wb_pass_result *res, GError **error)
{
	struct batch b = {
		.cfg = t->cfg, .store = store, .res = res, .targets = t,
		.changes = g_array_new(FALSE, TRUE, sizeof(struct wb_change)),
		.jobs = g_ptr_array_new_with_free_func(job_free),
	};
	bool store_failed = false;
	for (guint i = 0; i < ids->len && !store_failed; i++) {
		struct job *j = load_job(&b, g_array_index(ids, int64_t, i), error, &store_failed);
		if (j)
			g_ptr_array_add(b.jobs, j);
	}
	bool ok = !store_failed;
	for (guint i = 0; ok && i < b.jobs->len && !(stop && g_atomic_int_get(stop)); i++) {
		struct job *j = b.jobs->pdata[i];
		if (!j->settled && !j->m->mail && !spooled_mail(&b, j) && fetch_media(&b, j))
			render_job(&b, tpl, j);
	}
	ok = ok && flush(&b, error);
	if (ok)
		spool_clean(&b);
	if (ok && !stopping(stop))
		ok = deliver_batch(&b, stop, error);
	g_array_unref(b.changes);
	g_ptr_array_unref(b.jobs);
	return ok;
}

/* ---- the spool's leftovers -------------------------------------------------------------- */

struct sweep {
	const struct wb_config *cfg;
	struct wb_store *store;
};

/* A spooled mail is needed while its message waits to be delivered where the file's name
 * says (spool.h); when the store cannot say, it stays. */
static bool still_needed(int64_t id, const char *name, void *user)
{
	struct sweep *w = user;
	GError *e = NULL;
	g_autoptr(wb_msg) m = wb_store_message(w->store, id, &e);
	if (!m) {
		bool gone = g_error_matches(e, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
		g_error_free(e);
		return !gone;
	}
	if (strcmp(m->state, WB_ST_DELIVERED) == 0 || strcmp(m->state, WB_ST_FAILED) == 0 ||
	    strcmp(m->state, WB_ST_UNROUTED) == 0)
		return false;
	g_autofree char *want = wb_spool_mail_path("", id, m->station, m->ref);
	return strcmp(want, name) == 0;
}

unsigned wb_pipeline_sweep_spool(const struct wb_config *cfg, struct wb_store *store)
{
	struct sweep w = { .cfg = cfg, .store = store };
	unsigned gone = wb_spool_sweep(cfg->spool_dir, still_needed, &w);
	if (gone)
		g_message("spool %s: %u file%s left by earlier runs removed", cfg->spool_dir, gone,
			  gone == 1 ? "" : "s");
	return gone;
}

/* The first pass of a process looks for what crashes left in the spool, and then one an
 * hour (a transfer or a split leaves the mail rendered for the old place behind). Only
 * the one thread that runs passes calls this. */
static void sweep_now_and_then(const struct wb_config *cfg, struct wb_store *store)
{
	static gint64 last;
	gint64 now = g_get_monotonic_time();
	if (last && now - last < SWEEP_EVERY_US)
		return;
	last = now;
	wb_pipeline_sweep_spool(cfg, store);
}

bool wb_pass(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
	     struct wb_pass_result *res, GError **error)
{
	memset(res, 0, sizeof *res);
	if (!expand_bodies(cfg, store, res, error))
		return false;
	sweep_now_and_then(cfg, store);
	struct targets t = {
		.cfg = cfg,
		.open = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.down = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      (GDestroyNotify)g_error_free),
	};
	bool ok = true;
	while (ok && !stopping(stop)) {
		g_autoptr(GArray) ids = wb_store_claim(store, CLAIM_BATCH, wb_now(), error);
		if (!ids || ids->len == 0) {
			ok = ids != NULL;
			break;
		}
		ok = work_batch(&t, store, cfg->tpl, ids, stop, res, error);
	}
	targets_close(&t);
	gint64 soonest;
	if (ok && !wb_store_pending(store, &res->waiting, &soonest, error))
		ok = false;
	return ok;
}
