/* outbox: send queued replies to citizens; write the record into the complaint's thread.
 *
 * Design rationale: the send and its record are two separate durable steps. The send's
 * outcome is a state of the outbox row (committed before and after the Graph call); the
 * thread shows it through `noted`, the last state written into the mailbox, so a crash
 * anywhere leaves a row whose note is simply written on the next pass. Notes and
 * keywords are queued as mailbox operations and carried out like deliveries (checked
 * for presence first, retried with backoff), so a mailbox that is down delays the
 * record but never the citizen's message. */
#include "outbox.h"
#include "deliver.h"
#include "metrics.h"
#include "pipeline.h"
#include "util.h"
#include "wasend.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SEND_BATCH 100
#define MAILOP_BATCH 200

/* ---- sending ------------------------------------------------------------------------- */

static char **params_of(const char *json)
{
	json_t *a = json ? json_loads(json, 0, NULL) : NULL;
	GStrvBuilder *b = g_strv_builder_new();
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v))
			g_strv_builder_add(b, json_string_value(v));
	json_decref(a);
	char **out = g_strv_builder_end(b);
	g_strv_builder_unref(b);
	return out;
}

static bool retry_language(const struct wb_config *cfg, const struct wb_sender_ops *sender,
			   struct wb_send_req *req, struct wb_send_result *out, int *code,
			   GError **e)
{
	g_message("template %s has no approved %s translation (132001): sending it in %s",
		  req->template_name, req->template_lang, cfg->template_language);
	g_clear_error(e);
	req->template_lang = cfg->template_language;
	return sender->send(req, out, code, e);
}

/* Send one taken row and record the outcome; a refused token sets res->token_problem. */
static bool send_one(const struct wb_config *cfg, struct wb_store *store, const struct wb_outbox *o,
		     struct wb_outbox_result *res, GError **error)
{
	g_autofree char *opaque = g_strdup_printf("wb-outbox-%" G_GINT64_FORMAT, o->id);
	g_auto(GStrv) params = params_of(o->params);
	bool template = strcmp(o->kind, "template") == 0;
	struct wb_send_req req = {
		.api_base = cfg->api_base, .access_token = cfg->access_token,
		.ca_file = cfg->wa_ca_file, .phone_number_id = o->phone_number_id,
		.to = o->recipient, .kind = template ? WB_SEND_TEMPLATE : WB_SEND_TEXT,
		.text = o->text, .context_wamid = o->context_wamid,
		.template_name = o->template_name, .template_lang = o->lang,
		.params = (const char *const *)params, .opaque = opaque,
	};
	const struct wb_sender_ops *sender = cfg->dry_run ? &wb_sender_dry_run : &wb_sender_graph;
	struct wb_send_result out = { 0 };
	int code = 0;
	GError *e = NULL;
	if (!cfg->dry_run && !cfg->access_token) {
		e = g_error_new(WB_SEND_ERROR, WB_FAIL_LATER, "no [whatsapp] access_token_file is "
				"configured, so nothing can be sent; set it (or dry_run = true)");
	} else if (sender->send(&req, &out, &code, &e) ||
		   /* No approved translation in the citizen's language: once more in the
		    * configured template language (the first request was refused, nothing
		    * went out, so this is no second message). */
		   (template && code == 132001 && cfg->template_language &&
		    strcmp(o->lang, cfg->template_language) != 0 &&
		    retry_language(cfg, sender, &req, &out, &code, &e))) {
		wb_metrics_send(cfg->dry_run ? WB_SEND_DRY_RUN : WB_SEND_OK);
		res->sent++;
		const char *lang = template && strcmp(req.template_lang, o->lang) != 0
				   ? req.template_lang : NULL;
		bool ok = wb_store_outbox_sent(store, o->id, out.wamid, out.request_json, lang,
					       error);
		wb_send_result_clear(&out);
		return ok;
	}
	g_autofree char *request = wb_send_body(&req);
	gint64 next_at = -1;
	if (e->code == WB_FAIL_FINAL) {
		wb_metrics_send(WB_SEND_FAILED);
		res->failed++;
	} else {
		wb_metrics_send(WB_SEND_RETRY);
		res->retrying++;
		next_at = wb_now() + wb_backoff(e->code, o->attempts);
	}
	if (code == 190 || !cfg->access_token) {
		res->token_problem = true;
		g_critical("WhatsApp sends stopped: %s. Replace the access token in "
			   "[whatsapp] access_token_file; queued replies are kept and sent then",
			   e->message);
	}
	bool ok = wb_store_outbox_failed(store, o->id, request, code, e->message, next_at, error);
	g_error_free(e);
	return ok;
}

static bool send_due(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
		     struct wb_outbox_result *res, GError **error)
{
	for (unsigned n = 0; n < SEND_BATCH && !(stop && g_atomic_int_get(stop)); n++) {
		GError *e = NULL;
		g_autoptr(wb_outbox) o = wb_store_outbox_take(store, wb_now(), &e);
		if (!o) {
			if (!e)
				return true;
			g_propagate_error(error, e);
			return false;
		}
		if (!send_one(cfg, store, o, res, error))
			return false;
		if (res->token_problem)
			return true;
	}
	return true;
}

/* ---- notes in the thread ------------------------------------------------------------- */

/* WhatsApp took the send (accepted … played): the thread holds its record. */
static bool record_state(const char *s)
{
	int r = wb_send_state_rank(s);
	return r >= WB_RANK_ACCEPTED && r <= WB_RANK_PLAYED;
}

static const char *state_words(const char *s)
{
	static const struct { const char *state, *words; } t[] = {
		{ "accepted", "accepted by WhatsApp (not yet confirmed as sent)" },
		{ "sent", "sent (WhatsApp confirmed it left)" },
		{ "delivered", "delivered to the citizen's phone" },
		{ "read", "read by the citizen" },
		{ "played", "read (played) by the citizen" },
		{ "failed", "FAILED" },
		{ "unknown", "NOT CONFIRMED" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
		if (strcmp(s, t[i].state) == 0)
			return t[i].words;
	return s;
}

static char *time_text(const struct wb_config *cfg, gint64 t)
{
	return wb_local_text(t, cfg->timezone, "%-d %B %Y, %H:%M:%S %Z");
}

/* What the citizen gets, as the station should read it. */
static char *sent_text(const struct wb_outbox *o)
{
	if (strcmp(o->kind, "text") == 0)
		return g_strdup(o->text ? o->text : "");
	g_auto(GStrv) params = params_of(o->params);
	g_autofree char *list = g_strjoinv(" | ", params);
	return g_strdup_printf("Approved template \"%s\" (language %s) with the parameters: %s",
			       o->template_name, o->lang, list);
}

static char *note_body(const struct wb_config *cfg, const struct wb_outbox *o,
		       const char *headline)
{
	GString *b = g_string_new(headline);
	g_string_append(b, "\n\n");
	g_autofree char *to = wb_format_phone(o->recipient);
	if (o->number)
		g_string_append_printf(b, "Complaint number: %s\n", o->number);
	g_string_append_printf(b, "To: %s (the WhatsApp number the complaint came from)\n", to);
	if (strcmp(o->kind, "text") == 0)
		g_string_append_printf(b, "How: a WhatsApp message in %s, within the citizen's "
				       "24-hour window\n", o->lang);
	else
		g_string_append_printf(b, "How: the approved template \"%s\" in %s (outside the "
				       "24-hour window only templates may be sent)\n",
				       o->template_name, o->lang);
	if (cfg->dry_run)
		g_string_append(b, "DRY RUN: [whatsapp] dry_run is on, nothing was sent to "
				   "WhatsApp; this is what would have been sent.\n");
	if (o->wamid)
		g_string_append_printf(b, "WhatsApp message id: %s\n", o->wamid);
	if (o->accepted_at) {
		g_autofree char *t = time_text(cfg, o->accepted_at);
		g_string_append_printf(b, "Accepted by WhatsApp: %s\n", t);
	}
	g_string_append_printf(b, "Status: %s\n", state_words(o->state));
	if (o->last_error && !record_state(o->state))
		g_string_append_printf(b, "Reason: %s\n", o->last_error);
	if (o->officer)
		g_string_append_printf(b, "Officer's reply: from %s, %s\n", o->officer,
				       o->reply_key ? o->reply_key : "");
	g_string_append_printf(b, "Outbox entry: %" G_GINT64_FORMAT " (attempts: %d)",
			       o->id, o->attempts);
	return g_string_free(b, FALSE);
}

static GBytes *render_note(const struct wb_config *cfg, const struct wb_templates *tpl,
			   const struct wb_station *st, const struct wb_outbox *o,
			   const char *msgid, const char *summary, const char *title,
			   const char *headline, GError **error)
{
	g_autofree char *reply_to = wb_reply_address(cfg->replies_address, cfg->token_secret,
						     o->ref, cfg->domain);
	g_autofree char *body = note_body(cfg, o, headline);
	g_autofree char *sent = sent_text(o);
	g_autofree char *outbox = g_strdup_printf("%" G_GINT64_FORMAT, o->id);
	const char *headers[] = { "X-WhatsApp-Message-Id", o->wamid ? o->wamid : "",
				  "X-Wabridge-Outbox", outbox, "X-Wabridge-Send-State", o->state,
				  NULL };
	struct wb_note_in in = {
		.domain = cfg->domain, .timezone = cfg->timezone, .station = st, .ref = o->ref,
		.thread_root = o->root, .message_id = msgid, .reply_to = reply_to,
		.summary = summary, .when = wb_now(), .title = title, .body = body,
		.sent_label = "The message, exactly as sent to the citizen:", .sent = sent,
		.json_name = o->request ? "whatsapp-request.json" : NULL, .json = o->request,
		.headers = headers, .tpl = tpl,
	};
	return wb_render_note(&in, error);
}

/* How the record of a send reads, by what the send was for. */
struct record_words {
	const char *purpose, *summary, *title, *headline;
};

static const struct record_words *record_words(const struct wb_outbox *o)
{
	static const struct record_words t[] = {
		{ NULL, "Sent to the citizen on WhatsApp",
		  "Record: message sent to the citizen on WhatsApp",
		  "The bridge sent this officer's reply to the citizen." },
		{ "ack", "Acknowledged to the citizen",
		  "Record: acknowledgement sent to the citizen on WhatsApp",
		  "The bridge acknowledged the complaint to the citizen as soon as it arrived." },
		{ "reminder", "Reminder sent: signed complaint not yet received",
		  "Record: signature reminder sent to the citizen on WhatsApp",
		  "No photo or document of a signed complaint had come in time, so the bridge "
		  "reminded the citizen once to send one." },
		{ "transfer", "Citizen told of the transfer",
		  "Record: transfer told to the citizen on WhatsApp",
		  "The bridge told the citizen which station now holds the complaint." },
	};
	for (size_t i = 1; o->purpose && i < G_N_ELEMENTS(t); i++)
		if (strcmp(o->purpose, t[i].purpose) == 0)
			return &t[i];
	return &t[0];
}

/* The mailbox operations that make the thread show o's state. */
static bool note_one(const struct wb_config *cfg, struct wb_store *store,
		     const struct wb_templates *tpl, int64_t id, struct wb_outbox_result *res,
		     GError **error)
{
	g_autoptr(wb_outbox) o = wb_store_outbox_get(store, id, error);
	if (!o)
		return false;
	const struct wb_station *st = wb_config_station_stored(cfg, o->station);
	if (!st) {
		g_warning("outbox %" G_GINT64_FORMAT ": station %s is no longer configured; its "
			  "thread cannot be updated", id, o->station);
		return wb_store_outbox_noted(store, id, o->state, NULL, 0, error);
	}
	g_autofree char *record = g_strdup_printf("wb-out-%" G_GINT64_FORMAT "@%s", id, cfg->domain);
	g_autofree char *first = wb_message_id(o->root, cfg->domain);
	g_autofree char *msgid = g_strdup_printf("wb-out-%" G_GINT64_FORMAT "-%s@%s", id, o->state,
						 cfg->domain); /* a notice's, outlives ops */
	bool had_record = record_state(o->noted);
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	struct wb_mailop_in ops[5];
	size_t n = 0;
	GError *e = NULL;
	if (record_state(o->state)) {
		if (!had_record) {
			const struct record_words *w = record_words(o);
			g_autofree char *summary = !o->purpose && o->number
				? g_strdup_printf("Sent to the citizen: complaint number %s", o->number)
				: g_strdup(w->summary);
			GBytes *mail = render_note(cfg, tpl, st, o, record, summary, w->title,
						   w->headline, &e);
			if (!mail)
				goto broken;
			g_ptr_array_add(keep, mail);
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "append",
							  .message_id = record, .mail = mail };
			if (o->purpose && strcmp(o->purpose, "ack") == 0)
				ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
								  .message_id = first,
								  .keyword = "$WA_Acknowledged" };
		}
		int r = wb_send_state_rank(o->state);
		if (r >= WB_RANK_DELIVERED)
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = record,
							  .keyword = "$WA_Delivered" };
		if (r >= WB_RANK_READ)
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = record, .keyword = "$WA_Read" };
	} else {
		bool failed = strcmp(o->state, "failed") == 0;
		g_autofree char *summary = failed
			? g_strdup_printf("NOT delivered to the citizen: %s",
					  o->last_error ? o->last_error : "failed")
			: g_strdup("Not confirmed: check whether the citizen got the reply");
		bool fallback = failed && o->error_code == 131047 && o->number &&
				strcmp(o->kind, "text") == 0;
		const char *headline = fallback
			? "WhatsApp refused this message: the citizen's 24-hour window had closed. "
			  "The approved template with the complaint number is sent instead; its "
			  "record follows in this thread."
			: failed
			? "WhatsApp did not deliver this message to the citizen. The complaint "
			  "number is recorded; reach the citizen another way, or reply again."
			: "The bridge stopped while sending this message, and WhatsApp has not "
			  "confirmed it. It is not sent again by itself, so that the citizen does "
			  "not get it twice: reply again to send it once more if need be.";
		GBytes *mail = render_note(cfg, tpl, st, o, msgid, summary,
					   failed ? "Failed: message to the citizen not delivered"
						  : "Unconfirmed: message to the citizen",
					   headline, &e);
		if (!mail)
			goto broken;
		g_ptr_array_add(keep, mail);
		ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "append",
						  .message_id = msgid, .mail = mail };
		if (failed) {
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = first,
							  .keyword = "$WA_SendFailed" };
			if (had_record)
				ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
								  .message_id = record,
								  .keyword = "$WA_SendFailed" };
		}
	}
	res->notes++;
	return wb_store_outbox_noted(store, id, o->state, ops, n, error);
broken:
	/* A broken template: the admin must fix it; the send itself is unaffected. */
	g_warning("outbox %" G_GINT64_FORMAT ": the note for the thread cannot be written: %s",
		  id, e->message);
	g_error_free(e);
	return true;
}

static bool note_all(const struct wb_config *cfg, struct wb_store *store,
		     const struct wb_templates *tpl, struct wb_outbox_result *res, GError **error)
{
	g_autoptr(GArray) ids = wb_store_outbox_unnoted(store, error);
	if (!ids)
		return false;
	for (guint i = 0; i < ids->len; i++)
		if (!note_one(cfg, store, tpl, g_array_index(ids, int64_t, i), res, error))
			return false;
	return true;
}

/* ---- mailbox operations -------------------------------------------------------------- */

static bool mailop_outcome(struct wb_store *store, const struct wb_mailop *op, int done,
			   const GError *e, struct wb_outbox_result *res, GError **error)
{
	gint64 now = wb_now();
	if (done == 1) {
		res->mailops_done++;
		g_message("%s %s%s%s in %s's mailbox: done", op->kind, op->message_id,
			  *op->keyword ? " " : "", op->keyword, op->station);
		return wb_store_mailop_set(store, op->id, "done", NULL, 0, error);
	}
	g_autofree char *why = done == 0
		? g_strdup_printf("the mail %s is not in the mailbox yet", op->message_id)
		: g_strdup(e->message);
	bool give_up = (e && e->code == WB_FAIL_FINAL) || now - op->created_at > WB_MAILOP_GIVE_UP;
	if (give_up) {
		g_warning("%s %s%s%s in %s's mailbox: failed: %s", op->kind, op->message_id,
			  *op->keyword ? " " : "", op->keyword, op->station, why);
		return wb_store_mailop_set(store, op->id, "failed", why, 0, error);
	}
	res->mailops_waiting++;
	gint64 next = now + wb_backoff(e ? e->code : WB_FAIL_SOON, op->attempts);
	return wb_store_mailop_set(store, op->id, "pending", why, next, error);
}

static bool mailops_station(const struct wb_config *cfg, struct wb_store *store, GPtrArray *ops,
			    guint from, guint to, struct wb_outbox_result *res, GError **error)
{
	const struct wb_mailop *first = ops->pdata[from];
	const struct wb_station *st = wb_config_station_stored(cfg, first->station);
	g_autoptr(GError) down = NULL;
	if (!st)
		down = g_error_new(WB_DELIVER_ERROR, WB_FAIL_LATER, "station %s is not configured",
				   first->station);
	const struct wb_deliver_ops *d = st ? wb_deliver_for(st) : NULL;
	struct wb_target *t = d ? d->open(cfg, st, &down) : NULL;
	bool ok = true;
	for (guint i = from; ok && i < to; i++) {
		const struct wb_mailop *op = ops->pdata[i];
		g_autoptr(GError) e = NULL;
		int done = -1;
		if (!t) {
			e = g_error_copy(down);
		} else if (strcmp(op->kind, "append") == 0) {
			done = d->exists(t, op->message_id, &e);
			if (done == 0) {
				gsize len;
				const char *mail = g_bytes_get_data(op->mail, &len);
				struct wb_delivered out = { 0 };
				done = d->deliver(t, mail, len, NULL, &out, &e) ? 1 : -1;
				g_free(out.location);
			}
		} else {
			const char *flags[] = { op->keyword, NULL };
			done = d->set_flags(t, op->message_id, flags, &e);
		}
		ok = mailop_outcome(store, op, done, e, res, error);
		if (done < 0 && t && e->code != WB_FAIL_FINAL) {
			/* The connection is in doubt: the rest waits for the next pass. */
			d->close(t);
			t = NULL;
			down = g_error_new(WB_DELIVER_ERROR, WB_FAIL_SOON, "not attempted: an "
					   "earlier operation on this mailbox just failed (%s)",
					   e->message);
		}
	}
	if (t)
		d->close(t);
	return ok;
}

static bool mailops_all(const struct wb_config *cfg, struct wb_store *store,
			struct wb_outbox_result *res, GError **error)
{
	g_autoptr(GPtrArray) ops = wb_store_mailops_due(store, wb_now(), MAILOP_BATCH, error);
	if (!ops)
		return false;
	guint from = 0;
	for (guint i = 1; i <= ops->len; i++) {
		if (i < ops->len && strcmp(((struct wb_mailop *)ops->pdata[i])->station,
					   ((struct wb_mailop *)ops->pdata[from])->station) == 0)
			continue;
		if (!mailops_station(cfg, store, ops, from, i, res, error))
			return false;
		from = i;
	}
	return true;
}

bool wb_outbox_pass(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
		    struct wb_outbox_result *res, GError **error)
{
	*res = (struct wb_outbox_result){ 0 };
	return wb_store_outbox_expire(store, wb_now(), WB_SEND_CONFIRM_GRACE, &res->unknown,
				      error) &&
	       send_due(cfg, store, stop, res, error) &&
	       note_all(cfg, store, cfg->tpl, res, error) &&
	       mailops_all(cfg, store, res, error);
}
