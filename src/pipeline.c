/* pipeline: accept bodies; render and deliver messages with retries.
 *
 * A message moves received → rendered → delivering → delivered, or to retry (with a
 * next_at) and finally failed; every move goes through wb_store_set_state(). The mail is
 * rendered once and its bytes kept, so a retry sends exactly what the first attempt did.
 * "delivering" is written before the back end is called: finding it again after a crash
 * means the mail may already be in the mailbox, so the mailbox is asked first. */
#include "pipeline.h"
#include "deliver.h"
#include "metrics.h"
#include "util.h"
#include "webhook.h"

#include <string.h>

#define WB_MAX_ATTEMPTS 60 /* with backoff capped at 6 h: several days of retrying */

gint64 wb_backoff(int fail_class, int attempts)
{
	gint64 base = fail_class == WB_FAIL_SOON ? 15 : 300;
	gint64 cap = fail_class == WB_FAIL_SOON ? 600 : 6 * 3600;
	int shift = attempts < 16 ? attempts : 16;
	gint64 d = base << shift;
	return d < cap ? d : cap;
}

enum wb_accept_result wb_accept(struct wb_config *cfg, struct wb_store *store,
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

/* Bodies a crash left between "stored" and "expanded". */
static bool expand_leftovers(struct wb_config *cfg, struct wb_store *store,
			     struct wb_pass_result *res, GError **error)
{
	g_autoptr(GArray) ids = wb_store_unexpanded_bodies(store, error);
	if (!ids)
		return false;
	for (guint i = 0; i < ids->len; i++) {
		int64_t id = g_array_index(ids, int64_t, i);
		g_autoptr(GBytes) b = wb_store_body(store, id, error);
		if (!b)
			return false;
		gsize len;
		const void *data = g_bytes_get_data(b, &len);
		GError *perr = NULL;
		struct wb_payload *p = wb_webhook_parse(data, len, &perr);
		bool ok = p ? wb_store_expand(store, cfg, id, p, NULL, error)
			    : wb_store_body_bad(store, id, perr->message, error);
		g_clear_error(&perr);
		wb_payload_free(p);
		if (!ok)
			return false;
		res->expanded++;
	}
	return true;
}

/* Targets opened during one pass, one per station; a station that failed to open is
 * remembered so its other messages wait instead of hammering a dead server. */
struct targets {
	GHashTable *open;  /* station key -> struct wb_target * */
	GHashTable *down;  /* station key -> GError * */
};

static void targets_close(struct targets *t, struct wb_config *cfg)
{
	GHashTableIter it;
	gpointer key, value;
	g_hash_table_iter_init(&it, t->open);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		const struct wb_station *st = wb_config_station_by_key(cfg, key);
		wb_deliver_for(st)->close(value);
	}
	g_hash_table_destroy(t->open);
	g_hash_table_destroy(t->down);
}

static struct wb_target *target_for(struct targets *t, struct wb_config *cfg,
				    const struct wb_station *st, GError **error)
{
	struct wb_target *tg = g_hash_table_lookup(t->open, st->key);
	if (tg)
		return tg;
	GError *down = g_hash_table_lookup(t->down, st->key);
	if (down) {
		g_propagate_error(error, g_error_copy(down));
		return NULL;
	}
	tg = wb_deliver_for(st)->open(cfg, st, error);
	if (tg)
		g_hash_table_insert(t->open, g_strdup(st->key), tg);
	else
		g_hash_table_insert(t->down, g_strdup(st->key), g_error_copy(*error));
	return tg;
}

/* Record a failed attempt: retry with backoff, or give up for good. */
static bool record_failure(struct wb_store *store, const struct wb_msg *m, const GError *why,
			   struct wb_pass_result *res, GError **error)
{
	int cls = why->domain == WB_DELIVER_ERROR ? why->code : WB_FAIL_SOON;
	wb_metrics_delivery_failed();
	if (cls == WB_FAIL_FINAL || m->attempts + 1 >= WB_MAX_ATTEMPTS) {
		res->failed++;
		return wb_store_set_state(store, m->id, WB_ST_FAILED, error, "%s%s", why->message,
					  cls == WB_FAIL_FINAL ? "" : " (gave up after many attempts)");
	}
	res->retrying++;
	return wb_store_retry(store, m->id, wb_now() + wb_backoff(cls, m->attempts),
			      why->message, error);
}

static bool render(struct wb_config *cfg, struct wb_store *store, const struct wb_templates *tpl,
		   const struct wb_station *st, struct wb_msg *m, GError **error)
{
	g_autofree char *token = wb_reply_token(cfg->token_secret, m->ref);
	struct wb_render_in in = {
		.domain = cfg->domain, .timezone = cfg->timezone,
		.reply_local = cfg->replies_address, .token = token,
		.station = st, .msg = m, .tpl = tpl,
	};
	m->mail = wb_render_mail(&in, error);
	return m->mail && wb_store_set_mail(store, m->id, m->mail, error) &&
	       wb_store_set_state(store, m->id, WB_ST_RENDERED, error, NULL);
}

/* Deliver one rendered mail. False only when the store fails. */
static bool deliver(struct wb_config *cfg, struct wb_store *store, struct targets *t,
		    const struct wb_station *st, struct wb_msg *m, struct wb_pass_result *res,
		    GError **error)
{
	const struct wb_deliver_ops *ops = wb_deliver_for(st);
	GError *derr = NULL;
	struct wb_target *tg = target_for(t, cfg, st, &derr);
	g_autofree char *msgid = wb_message_id(m->wamid, cfg->domain);

	if (tg && strcmp(m->state, WB_ST_DELIVERING) == 0) {
		int there = ops->exists(tg, msgid, &derr);
		if (there == 1) {
			res->delivered++;
			wb_metrics_mail_delivered();
			return wb_store_set_state(store, m->id, WB_ST_DELIVERED, error,
						  "found in the mailbox after an interrupted delivery");
		}
	}
	if (derr) {
		bool ok = record_failure(store, m, derr, res, error);
		g_error_free(derr);
		return ok;
	}
	if (!wb_store_set_state(store, m->id, WB_ST_DELIVERING, error, NULL))
		return false;
	gsize len;
	const char *mail = g_bytes_get_data(m->mail, &len);
	struct wb_delivered out = { 0 };
	if (!ops->deliver(tg, mail, len, NULL, &out, &derr)) {
		bool ok = record_failure(store, m, derr, res, error);
		g_error_free(derr);
		return ok;
	}
	bool ok = wb_store_set_location(store, m->id, out.location, out.uidvalidity, out.uid, error) &&
		  wb_store_set_state(store, m->id, WB_ST_DELIVERED, error, "%s", out.location);
	g_free(out.location);
	res->delivered += ok;
	if (ok)
		wb_metrics_mail_delivered();
	return ok;
}

static bool work_one(struct wb_config *cfg, struct wb_store *store, const struct wb_templates *tpl,
		     struct targets *t, int64_t id, struct wb_pass_result *res, GError **error)
{
	g_autoptr(wb_msg) m = wb_store_message(store, id, error);
	if (!m)
		return false;
	if (strcmp(m->state, WB_ST_DELIVERED) == 0 || strcmp(m->state, WB_ST_FAILED) == 0 ||
	    strcmp(m->state, WB_ST_UNROUTED) == 0)
		return true; /* finished since it was claimed: nothing to do */
	const struct wb_station *st = m->station ? wb_config_station_by_key(cfg, m->station) : NULL;
	if (!st && m->station)
		st = wb_config_station_for(cfg, m->phone_number_id);
	if (!st || (m->station && strcmp(st->key, m->station) != 0)) {
		res->failed++;
		return wb_store_set_state(store, m->id, WB_ST_FAILED, error,
					  "station %s is no longer in the configuration; add it back "
					  "and the message can be re-queued",
					  m->station ? m->station : "(none)");
	}
	if (!m->mail) {
		GError *rerr = NULL;
		if (!render(cfg, store, tpl, st, m, &rerr)) {
			res->failed++;
			bool ok = rerr->domain != WB_STORE_ERROR &&
				  wb_store_set_state(store, m->id, WB_ST_FAILED, error,
						     "cannot render: %s", rerr->message);
			if (rerr->domain == WB_STORE_ERROR)
				g_propagate_error(error, rerr);
			else
				g_error_free(rerr);
			return ok;
		}
	}
	return deliver(cfg, store, t, st, m, res, error);
}

static bool stopping(const gint *stop)
{
	return stop && g_atomic_int_get(stop);
}

bool wb_pass(struct wb_config *cfg, struct wb_store *store, const struct wb_templates *tpl,
	     const gint *stop, struct wb_pass_result *res, GError **error)
{
	memset(res, 0, sizeof *res);
	if (!expand_leftovers(cfg, store, res, error))
		return false;
	struct targets t = {
		.open = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.down = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      (GDestroyNotify)g_error_free),
	};
	bool ok = true;
	while (!stopping(stop)) {
		g_autoptr(GArray) ids = wb_store_claim(store, 64, wb_now(), error);
		if (!ids) {
			ok = false;
			break;
		}
		if (ids->len == 0)
			break;
		for (guint i = 0; ok && i < ids->len && !stopping(stop); i++)
			ok = work_one(cfg, store, tpl, &t, g_array_index(ids, int64_t, i), res, error);
		if (!ok)
			break;
	}
	targets_close(&t, cfg);
	gint64 soonest;
	if (ok && !wb_store_pending(store, &res->waiting, &soonest, error))
		ok = false;
	return ok;
}
