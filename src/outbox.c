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
#include "maildigest.h"
#include "mailsource.h"
#include "deliver.h"
#include "duty.h"
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

/* Each change of a send that the station must know becomes a short mail in the
 * complaint's thread whose subject alone tells the story in the message list ("Number
 * 123/2026 delivered to the citizen", "Not delivered: the 24-hour window had closed;
 * template sent instead"): mails cannot be edited once in the mailbox, so a record
 * never claims more than was known when it was written, and what follows comes as its
 * own mail. Bodies are for people: the officer's name, the language's name, plain
 * reasons; ids and Meta's raw error stay in headers and the attached request. */

/* WhatsApp took the send (accepted … played): the thread holds its record. */
static bool record_state(const char *s)
{
	int r = wb_send_state_rank(s);
	return r >= WB_RANK_ACCEPTED && r <= WB_RANK_PLAYED;
}

static bool is_state(const char *s, const char *want)
{
	return s && strcmp(s, want) == 0;
}


/* Why a send did not reach the citizen, as a short phrase for a subject. */
static const char *failure_phrase(const struct wb_outbox *o)
{
	switch (o->error_code) {
	case 131047: case 470:
		return "the 24-hour window had closed";
	case 131026:
		return "this number cannot receive WhatsApp messages";
	case 131049: case 130472:
		return "WhatsApp held the message back";
	case 131048: case 131056: case 130429:
		return "WhatsApp limited messages to this number";
	case 131051:
		return "WhatsApp does not take this kind of message";
	case 131052: case 131053:
		return "a media file could not be sent";
	case 131021: case 131030: case 131062:
		return "this number may not be written to from the station's account";
	case 190:
		return "the bridge's WhatsApp access token is no longer valid";
	case 131031: case 131037: case 131042: case 131045: case 133010: case 131057: case 368:
		return "the station's WhatsApp account has a problem";
	case 0:
		if (o->last_error && strstr(o->last_error, "24-hour window"))
			return "the 24-hour window had closed";
		return "it could not be sent";
	default:
		if (o->error_code >= 132000 && o->error_code < 133000)
			return "WhatsApp refused the template";
		return "WhatsApp refused it";
	}
}

/* What the failure asks of the station, one sentence. */
static const char *failure_advice(const struct wb_outbox *o)
{
	switch (o->error_code) {
	case 131026:
		return "Reach the citizen another way (a call or an SMS to the number above).";
	case 190: case 131031: case 131037: case 131042: case 131045: case 133010:
	case 131057: case 368:
		return "Tell the bridge's administrator: no message reaches any citizen until it "
		       "is mended. Reach this citizen another way meanwhile.";
	default:
		if (o->error_code >= 132000 && o->error_code < 133000)
			return "Tell the bridge's administrator (the template must be approved in "
			       "this language). Reach the citizen another way meanwhile.";
		return "Reply again later, or reach the citizen another way.";
	}
}

/* The words the officer wrote wait for the citizen's next message. */
static const char held_words[] =
	"The officer's words could not go: outside the 24-hour window WhatsApp lets only "
	"an approved template through, and the template carries only the complaint number. "
	"The bridge keeps the words and sends them as soon as the citizen writes again; a "
	"record follows in this thread then.";

/* What the citizen gets, as the station should read it. */
static char *sent_text(const struct wb_outbox *o)
{
	if (strcmp(o->kind, "text") == 0)
		return g_strdup(o->text ? o->text : "");
	g_auto(GStrv) params = params_of(o->params);
	g_autofree char *list = g_strjoinv(" · ", params);
	return g_strdup_printf("The approved WhatsApp template \"%s\" in %s, filled in with: %s",
			       o->template_name ? o->template_name : "?", wb_lang_name(o->lang),
			       list);
}

/* "S. Banerjee <si.banerjee@…>" or the address alone. */
static char *officer_text(const struct wb_outbox *o)
{
	return o->officer ? wb_name_addr(o->officer_name, o->officer) : NULL;
}

/* The facts under a note's first paragraph, one a line. */
static void note_facts(const struct wb_config *cfg, const struct wb_outbox *o, GString *b)
{
	g_autofree char *to = wb_format_phone(o->recipient);
	g_autofree char *officer = officer_text(o);
	g_string_append(b, "\n\n");
	if (o->number)
		g_string_append_printf(b, "Complaint number: %s\n", o->number);
	if (officer)
		g_string_append_printf(b, "Officer: %s\n", officer);
	g_string_append_printf(b, "Citizen: %s (the WhatsApp number the complaint came from)\n",
			       to);
	if (strcmp(o->kind, "text") == 0)
		g_string_append_printf(b, "Sent as: a WhatsApp message in %s\n",
				       wb_lang_name(o->lang));
	else
		g_string_append_printf(b, "Sent as: the approved template \"%s\" in %s (outside "
				       "the 24-hour window only templates may be sent)\n",
				       o->template_name ? o->template_name : "?",
				       wb_lang_name(o->lang));
	if (o->accepted_at) {
		g_autofree char *t = wb_when_text(o->accepted_at, cfg->timezone);
		g_string_append_printf(b, "Taken by WhatsApp: %s\n", t);
	}
	if (cfg->dry_run)
		g_string_append(b, "DRY RUN: [whatsapp] dry_run is on; nothing was sent to "
				   "WhatsApp, this is what would have gone.\n");
	if (o->last_error && !record_state(o->state))
		g_string_append_printf(b, "WhatsApp's own words, for the administrator: %s\n",
				       o->last_error);
}

struct note_words {
	const char *summary;   /* the subject after "[REF] " */
	const char *title;     /* the note's first line */
	const char *lead;      /* its first paragraph */
	const char *more;      /* a second paragraph, or NULL */
	bool show_sent;        /* the message as sent follows */
	bool request;          /* the request JSON is attached */
};

static GBytes *render_note(const struct wb_config *cfg, const struct wb_templates *tpl,
			   const struct wb_station *st, const struct wb_outbox *o,
			   const char *msgid, const struct note_words *w, const char *state,
			   GError **error)
{
	g_autofree char *reply_to = wb_reply_address(cfg->replies_address, cfg->token_secret,
						     o->ref, cfg->domain);
	GString *b = g_string_new(w->lead);
	if (w->more)
		g_string_append_printf(b, "\n\n%s", w->more);
	note_facts(cfg, o, b);
	g_autofree char *body = g_string_free(b, FALSE);
	g_autofree char *sent = w->show_sent ? sent_text(o) : NULL;
	g_autofree char *outbox = g_strdup_printf("%" G_GINT64_FORMAT, o->id);
	const char *headers[] = { "X-WhatsApp-Message-Id", o->wamid ? o->wamid : "",
				  "X-Wabridge-Outbox", outbox, "X-Wabridge-Send-State", o->state,
				  NULL };
	bool json = w->request && o->request;
	struct wb_note_in in = {
		.domain = cfg->domain, .timezone = cfg->timezone, .station = st, .ref = o->ref,
		.thread_root = o->root, .message_id = msgid, .reply_to = reply_to,
		.summary = w->summary, .when = wb_now(), .title = w->title, .body = body,
		.sent_label = "The message, exactly as the citizen gets it:", .sent = sent,
		.json_name = json ? "whatsapp-request.json" : NULL, .json = json ? o->request : NULL,
		.headers = headers, .tpl = tpl, .state_line = state,
	};
	return wb_render_note(&in, error);
}

/* The record of a send WhatsApp took, by what it was for. summary is filled. */
static struct note_words record_words(const struct wb_outbox *o, char **summary)
{
	static const struct {
		const char *purpose, *summary, *title, *lead;
	} t[] = {
		{ "ack", "Acknowledged to the citizen", "Acknowledgement sent to the citizen",
		  "The bridge acknowledged the complaint to the citizen on WhatsApp as soon as "
		  "it arrived." },
		{ "reminder", "Reminder sent: signed complaint not yet received",
		  "Signature reminder sent to the citizen",
		  "No photo or document of a signed complaint had come in time, so the bridge "
		  "reminded the citizen once to send one." },
		{ "transfer", "Citizen told of the transfer", "Transfer told to the citizen",
		  "The bridge told the citizen which station now holds the complaint." },
	};
	for (size_t i = 0; o->purpose && i < G_N_ELEMENTS(t); i++)
		if (strcmp(o->purpose, t[i].purpose) == 0) {
			*summary = g_strdup(t[i].summary);
			return (struct note_words){ .summary = *summary, .title = t[i].title,
						    .lead = t[i].lead, .show_sent = true,
						    .request = true };
		}
	bool template = strcmp(o->kind, "template") == 0;
	bool was_held = is_state(o->noted, "held") || o->after_template;
	const char *status = wb_send_state_rank(o->state) >= WB_RANK_READ
		? "WhatsApp reports that the citizen has read it."
		: wb_send_state_rank(o->state) >= WB_RANK_DELIVERED
		? "WhatsApp reports that it reached the citizen's phone."
		: o->number && !was_held
		? "When WhatsApp confirms that it reached the citizen's phone, a note follows in "
		  "this thread (and another once it is read)."
		: "WhatsApp has taken it; the Delivered and Read tags on this mail show "
		  "what it confirms later.";
	if (o->number && !was_held) {
		int r = wb_send_state_rank(o->state);
		*summary = g_strdup_printf("Number %s %s%s", o->number,
					   r >= WB_RANK_READ ? "read by the citizen"
					   : r >= WB_RANK_DELIVERED ? "delivered to the citizen"
					   : "sent to the citizen",
					   template ? " by template" : "");
	} else {
		*summary = g_strdup(was_held ? "Officer's words sent after the citizen wrote again"
					     : "Officer's message sent to the citizen");
	}
	return (struct note_words){
		.summary = *summary,
		.title = template ? "The complaint number went to the citizen by the approved "
				    "template"
			 : was_held ? "The officer's kept words went to the citizen"
			 : "The officer's reply went to the citizen",
		.lead = status,
		.show_sent = true, .request = true,
	};
}

/* The short note that a send carrying the number reached the phone, or was read. */
static struct note_words later_words(const struct wb_outbox *o, char **summary)
{
	bool read = wb_send_state_rank(o->state) >= WB_RANK_READ;
	*summary = g_strdup_printf("Number %s %s", o->number,
				   read ? "read by the citizen" : "delivered to the citizen");
	return (struct note_words){
		.summary = *summary,
		.title = read ? "The citizen has read the complaint number"
			      : "The complaint number reached the citizen's phone",
		.lead = read ? "WhatsApp reports that the citizen opened the message with the "
			       "complaint number."
			     : "WhatsApp reports that the message with the complaint number "
			       "reached the citizen's phone. The station's clock for this "
			       "complaint has stopped.",
	};
}

/* A send that did not go: failed, held, or never confirmed. */
static struct note_words trouble_words(const struct wb_outbox *o, bool words_kept,
				       char **summary)
{
	bool fallback = o->error_code == 131047 && o->number && strcmp(o->kind, "text") == 0;
	if (is_state(o->state, "unknown")) {
		*summary = g_strdup("Not confirmed: check whether the citizen got the message");
		return (struct note_words){
			.summary = *summary, .title = "The message to the citizen is not confirmed",
			.lead = "The bridge stopped while sending this message, and WhatsApp has "
				"not confirmed it. It is not sent again by itself, so that the "
				"citizen does not get it twice: reply again to send it once more if "
				"need be.",
			.show_sent = true,
		};
	}
	if (is_state(o->state, "held") && !o->error_code) {
		*summary = g_strdup("Officer's words not sent yet: the 24-hour window had closed");
		return (struct note_words){
			.summary = *summary,
			.title = "The officer's words wait for the citizen's next message",
			.lead = o->number
				? "The complaint number goes to the citizen by the approved template "
				  "(its record follows in this thread)."
				: "The citizen last wrote more than 24 hours ago, so WhatsApp lets "
				  "only an approved template through, and the template carries only "
				  "a complaint number.",
			.more = "The bridge keeps the officer's words and sends them as soon as "
				"the citizen writes again; a record follows in this thread then. To "
				"reach the citizen sooner, call them.",
			.show_sent = true,
		};
	}
	*summary = g_strdup_printf("Not delivered: %s%s", failure_phrase(o),
				   fallback ? "; template sent instead" : "");
	return (struct note_words){
		.summary = *summary,
		.title = "The message to the citizen did not go through",
		.lead = fallback
			? "WhatsApp refused the message because the citizen last wrote more than "
			  "24 hours ago. The complaint number goes by the approved template "
			  "instead; its record follows in this thread."
			: o->error_code == 131047
			? "WhatsApp refused the message because the citizen last wrote more than "
			  "24 hours ago."
			: "WhatsApp did not deliver this message to the citizen.",
		.more = words_kept ? held_words : fallback ? NULL : failure_advice(o),
		.show_sent = true, .request = true,
	};
}

enum note_kind { NOTE_NONE, NOTE_RECORD, NOTE_NOTICE };

/* The mail the thread needs for o's change from what it shows (o->noted) to o->state:
 * the record of an accepted send, a notice (the number delivered or read, a failure,
 * kept words, an unconfirmed send), or none. */
static enum note_kind pick_note(const struct wb_outbox *o, struct note_words *w,
				char **summary)
{
	int rank = wb_send_state_rank(o->state), was = wb_send_state_rank(o->noted);
	if (record_state(o->state) && !record_state(o->noted)) {
		*w = record_words(o, summary);
		return NOTE_RECORD;
	}
	if (record_state(o->state)) {
		/* The number's delivery and reading are the station's news; other sends
		 * show them by the tags on their record. */
		if (!o->number || o->purpose || o->after_template || rank < WB_RANK_DELIVERED ||
		    !(was < WB_RANK_DELIVERED || (rank >= WB_RANK_READ && was < WB_RANK_READ)))
			return NOTE_NONE;
		*w = later_words(o, summary);
		return NOTE_NOTICE;
	}
	*w = trouble_words(o, is_state(o->state, "held"), summary);
	return NOTE_NOTICE;
}

char *wb_outbox_note_subject(const struct wb_outbox *o)
{
	struct note_words w;
	char *summary = NULL;
	if (pick_note(o, &w, &summary) == NOTE_NONE)
		g_clear_pointer(&summary, g_free);
	return summary;
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
	/* Kept words sent after a 131047 get a record of their own (the first send's is
	 * in the mailbox already), and the later tags go there. */
	g_autofree char *again = g_strdup_printf("wb-out-%" G_GINT64_FORMAT "-again@%s", id,
						 cfg->domain);
	const char *sent_id = o->error_code == 131047 && strcmp(o->kind, "text") == 0 ? again
											: record;
	g_autofree char *first = wb_message_id(o->root, cfg->domain);
	g_autofree char *msgid = g_strdup_printf("wb-out-%" G_GINT64_FORMAT "-%s@%s", id, o->state,
						 cfg->domain); /* a notice's, outlives ops */
	bool had_record = record_state(o->noted);
	int rank = wb_send_state_rank(o->state);
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	struct wb_mailop_in ops[6];
	size_t n = 0;
	GError *e = NULL;
	g_autofree char *summary = NULL;
	struct note_words w = { 0 };
	enum note_kind kind = pick_note(o, &w, &summary);
	const char *mail_id = kind == NOTE_RECORD ? sent_id : kind == NOTE_NOTICE ? msgid : NULL;
	if (mail_id) {
		/* Where the complaint stands now, first in the note as in every mail of it. */
		g_autoptr(wb_duty_case) c = wb_store_duty_case(store, o->complaint_id, &e);
		g_autofree char *state = c ? wb_duty_state_line(cfg, st, c, wb_now()) : NULL;
		if (!c) {
			g_warning("outbox %" G_GINT64_FORMAT ": the complaint's state cannot be read "
				  "for the note: %s", id, e->message);
			g_clear_error(&e);
		}
		GBytes *mail = render_note(cfg, tpl, st, o, mail_id, &w, state, &e);
		if (!mail)
			goto broken;
		g_ptr_array_add(keep, mail);
		ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "append",
						  .message_id = mail_id, .mail = mail };
	}
	if (record_state(o->state)) {
		if (!had_record && is_state(o->purpose, "ack"))
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = first,
							  .keyword = "$WA_Acknowledged" };
		unsigned unresolved = 1;
		if (!had_record && !wb_store_outbox_unresolved(store, o->complaint_id, &unresolved,
							       error))
			return false;
		if (!had_record && unresolved == 0)
			/* A later success makes an earlier failure good: the tag stays true. */
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "unflag",
							  .message_id = first,
							  .keyword = "$WA_SendFailed" };
		if (rank >= WB_RANK_DELIVERED)
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = sent_id,
							  .keyword = "$WA_Delivered" };
		if (rank >= WB_RANK_READ)
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = sent_id, .keyword = "$WA_Read" };
	} else if (is_state(o->state, "failed") ||
		   (is_state(o->state, "held") && o->error_code)) {
		ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
						  .message_id = first, .keyword = "$WA_SendFailed" };
		if (had_record)
			ops[n++] = (struct wb_mailop_in){ .station = st->key, .kind = "flag",
							  .message_id = record,
							  .keyword = "$WA_SendFailed" };
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

/* placed: the bytes now in the mailbox (an append or a copy; NULL for flags and for a
 * copy found there already), recorded as a delivery with where they went. */
static bool mailop_outcome(struct wb_store *store, const struct wb_mailop *op, int done,
			   const GError *e, GBytes *placed, const struct wb_delivered *out,
			   struct wb_outbox_result *res, GError **error)
{
	gint64 now = wb_now();
	if (done == 1) {
		res->mailops_done++;
		g_message("%s %s%s%s in %s's mailbox: done", op->kind, op->message_id,
			  *op->keyword ? " " : "", op->keyword, op->station);
		if (strcmp(op->kind, "append") != 0 && strcmp(op->kind, "copy") != 0)
			return wb_store_mailop_set(store, op->id, "done", NULL, 0, error);
		g_autofree char *note = op->source
			? g_strdup_printf("copied from the mailbox of %s", op->source) : NULL;
		return wb_store_mailop_delivered(store, op, placed, out ? out->location : NULL,
						 out ? out->uidvalidity : 0, out ? out->uid : 0,
						 out && out->location ? note : "found in the mailbox "
						 "after an interrupted append", error);
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

/* A copy's bytes, read from the mailbox of the station that holds the mail (a transfer
 * of a complaint whose mails have left the database), with CRLF line ends as every
 * back end expects. NULL with error when it cannot be had. */
static GBytes *copy_source(const struct wb_config *cfg, const struct wb_mailop *op,
			   GError **error)
{
	const struct wb_station *src = op->source ? wb_config_station_stored(cfg, op->source)
						  : NULL;
	if (!src) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_LATER, "cannot copy %s: the station "
			    "%s that holds it is not configured", op->message_id,
			    op->source ? op->source : "(unknown)");
		return NULL;
	}
	g_autoptr(GBytes) mail = NULL;
	g_autofree char *where = NULL;
	g_autoptr(GError) e = NULL;
	if (!wb_mailsource_fetch(cfg, src, op->message_id, &mail, &where, &e)) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_SOON, "cannot copy %s from the "
			    "mailbox of %s: %s", op->message_id, op->source, e->message);
		return NULL;
	}
	if (!mail) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL, "cannot copy %s: it is no "
			    "longer in the mailbox of %s (wabridge verify --station %s tells what "
			    "is missing there)", op->message_id, op->source, op->source);
		return NULL;
	}
	gsize len;
	const void *data = g_bytes_get_data(mail, &len);
	return wb_mail_canonical(data, len);
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
		g_autoptr(GBytes) placed = NULL;
		struct wb_delivered out = { 0 };
		int done = -1;
		if (!t) {
			e = g_error_copy(down);
		} else if (strcmp(op->kind, "append") == 0 || strcmp(op->kind, "copy") == 0) {
			done = d->exists(t, op->message_id, &e);
			if (done >= 0 && op->mail)
				placed = g_bytes_ref(op->mail);
			else if (done == 0)
				placed = copy_source(cfg, op, &e);
			if (done == 0 && !placed)
				done = -1;
			if (done == 0) {
				gsize len;
				const char *mail = g_bytes_get_data(placed, &len);
				done = d->deliver(t, mail, len, NULL, &out, &e) ? 1 : -1;
				if (done == 1 && !out.location)
					out.location = g_strdup("-");
			}
		} else {
			const char *flags[] = { op->keyword, NULL };
			done = strcmp(op->kind, "unflag") == 0
				? d->clear_flags(t, op->message_id, flags, &e)
				: d->set_flags(t, op->message_id, flags, &e);
		}
		ok = mailop_outcome(store, op, done, e, placed, &out, res, error);
		g_free(out.location);
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
