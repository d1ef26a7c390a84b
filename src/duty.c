/* duty: acknowledgement, the clock, escalations, the signature reminder and the daily
 * digest (duty.h).
 *
 * Design rationale:
 * - Every decision is made from the store and wb_now() alone, so `run` from cron and
 *   `serve` make the same ones, and a pass may stop anywhere: what fired is in the
 *   duties table, what did not is decided again by the next pass.
 * - A duty's effects are rendered first (notes, the escalation mail with the media) and
 *   then committed with the duty's row in one transaction (wb_store_duty_fire): the
 *   WhatsApp send goes through the outbox like an officer's reply, notes and keywords
 *   through the mailbox operations, mail to superiors through the SMTP queue. Nothing
 *   here talks to a server except the SMTP sender at the end of the pass.
 * - Message-IDs of what a duty makes are derived from the complaint and the kind
 *   ("wb-duty-42-overdue@domain", "wb-esc-42-serious@domain"), never from a counter, so
 *   the same duty decided twice makes the same mail, and the mailbox and the SMTP queue
 *   keep it once. */
#include "duty.h"
#include "mailsource.h"
#include "anchor.h"
#include "dutymail.h"
#include "fail.h"
#include "pipeline.h"
#include "render.h"
#include "reply.h"
#include "serious.h"
#include "smtp.h"
#include "util.h"
#include "view.h"

#include <jansson.h>
#include <string.h>

#define DUTY_BATCH 200    /* complaints read at once */
#define DUTY_BATCHES 50   /* batches in one pass at most */
#define MAIL_BATCH 50
#define WINDOW_S (24 * 3600)          /* WhatsApp's customer service window */
#define MEDIA_BUDGET (20u << 20)      /* media attached to one escalation mail at most */
#define NEVER G_MAXINT64

gint64 wb_duty_clock(const struct wb_config *cfg, const struct wb_station *st, bool escalated)
{
	if (cfg->sla_hours == 0 && !(st && st->sla_hours))
		return 0;
	int h = escalated ? cfg->serious_sla_hours
		: st && st->sla_hours ? st->sla_hours : cfg->sla_hours;
	return (gint64)h * 3600;
}

static bool escalated(const struct wb_duty_case *c)
{
	return c->escalated_at > 0 || c->serious != NULL;
}

const char *wb_duty_state(const struct wb_config *cfg, const struct wb_station *st,
			  const struct wb_duty_case *c, gint64 now)
{
	gint64 clock = wb_duty_clock(cfg, st, escalated(c));
	if (c->number_delivered)
		return "number delivered";
	if (c->number_sent)
		return "number sent";
	if (clock && now >= c->opened_at + clock)
		return "overdue";
	if (escalated(c))
		return "escalated";
	if (clock && now >= c->opened_at + clock / 2)
		return "due soon";
	if (cfg->send_ack && !wb_duty_case_has(c, "ack"))
		return "unacknowledged";
	return "open";
}

/* "Mon 7 Dec, 14:00 IST" */
static char *due_text(const struct wb_config *cfg, gint64 t)
{
	return wb_local_text(t, cfg->timezone, "%a %-d %b, %H:%M %Z");
}

static char *hours_text(gint64 seconds);

char *wb_duty_state_line(const struct wb_config *cfg, const struct wb_station *st,
			 const struct wb_duty_case *c, gint64 now)
{
	if (c->number) {
		const char *how = c->number_delivered
			? "the number reached the citizen's phone. Nothing more is due."
			: c->number_sent
			? "the number was sent; WhatsApp has not yet confirmed that it reached "
			  "the citizen's phone."
			: "the number has not reached the citizen yet: see the notes in this "
			  "thread.";
		return g_strdup_printf("%s as %s – %s", c->open ? "REGISTERED" : "CLOSED, registered",
				       c->number, how);
	}
	if (!c->open)
		return g_strdup("CLOSED – no complaint number was recorded.");
	gint64 clock = wb_duty_clock(cfg, st, escalated(c));
	const char *serious = c->serious ? "SERIOUS, superiors told – "
			      : c->escalated_at ? "ESCALATED – " : "";
	if (!clock)
		return g_strdup_printf("%sNOT REGISTERED – reply to this mail with the complaint "
				       "number.", serious);
	gint64 due = c->opened_at + clock;
	g_autofree char *when = due_text(cfg, due);
	g_autofree char *span = hours_text(due > now ? due - now : now - due);
	if (now >= due)
		return g_strdup_printf("%sOVERDUE – not registered; it was due %s (%s ago). Reply "
				       "to this mail with the complaint number now.", serious, when,
				       span);
	return g_strdup_printf("%sNOT REGISTERED – reply to this mail with the complaint number "
			       "by %s (%s left).", serious, when, span);
}

/* ---- what a duty says ---------------------------------------------------------------- */

static char *hours_text(gint64 seconds)
{
	if (seconds < 0)
		seconds = 0;
	gint64 h = seconds / 3600, m = seconds % 3600 / 60;
	if (h >= 48)
		return g_strdup_printf("%" G_GINT64_FORMAT " days %" G_GINT64_FORMAT " h", h / 24,
				       h % 24);
	return m ? g_strdup_printf("%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min", h, m)
		 : g_strdup_printf("%" G_GINT64_FORMAT " h", h);
}


struct ctx {
	const struct wb_config *cfg;
	struct wb_store *store;
	const struct wb_station *st;
	struct wb_duty_case *c;
	gint64 now, clock;
	struct wb_duty_result *res;
	bool again;   /* something could not be rendered: look again in an hour */
};

static char *duty_msgid(const struct ctx *x, const char *prefix, const char *kind)
{
	return g_strdup_printf("%s-%" G_GINT64_FORMAT "-%s@%s", prefix, x->c->id, kind,
			       x->cfg->domain);
}

/* What the number's state is, in a line for the notes. */
static const char *number_line(const struct wb_duty_case *c)
{
	if (c->number_sent)
		return "The complaint number was sent, but WhatsApp has not confirmed that it "
		       "reached the citizen's phone; the clock stops only then. If it stays "
		       "undelivered, reach the citizen another way.";
	if (c->number)
		return "A complaint number is recorded, but it has not been sent to the citizen "
		       "(see the earlier notes in this thread).";
	return "No complaint number has been sent to the citizen yet.";
}

static const char *const todo =
	"What to do: register the complaint and reply to any mail of this thread with the "
	"complaint number (for example \"Complaint No. 123/2026\"); the bridge sends it to the "
	"citizen on WhatsApp. If it belongs to another station, reply with \"#transfer CODE\"; "
	"to alert your superiors now, reply with \"#escalate\".";

static GBytes *note(const struct ctx *x, const char *msgid, const char *summary,
		    const char *title, const char *body, GError **error)
{
	const char *headers[] = { "X-Wabridge-Duty", title, NULL };
	return wb_render_thread_note(x->cfg, x->st, x->c->ref, x->c->root, msgid,
				     summary, title, body, headers, error);
}

/* The citizen's language, from the script of their messages; false when the store
 * fails. */
static bool citizen_lang(const struct ctx *x, enum wb_lang *lang, GError **error)
{
	g_autoptr(GPtrArray) msgs = wb_store_complaint_messages(x->store, x->c->id, 50, error);
	int fb = wb_lang_parse(x->cfg->default_language);
	*lang = fb < 0 ? WB_LANG_BN : (enum wb_lang)fb;
	if (msgs)
		*lang = wb_guess_lang(msgs, *lang);
	return msgs != NULL;
}

static bool in_window(const struct ctx *x)
{
	return x->c->last_inbound > 0 && x->now - x->c->last_inbound < WINDOW_S;
}

static bool fire(const struct ctx *x, struct wb_duty_in *in, GError **error)
{
	in->complaint_id = x->c ? x->c->id : 0;
	in->station = x->st->key;
	in->ref = x->c ? x->c->ref : NULL;
	bool fired = false;
	if (!wb_store_duty_fire(x->store, in, &fired, error))
		return false;
	if (fired) {
		x->res->fired++;
		if (x->c) {
			char **done = x->c->done;
			GStrvBuilder *b = g_strv_builder_new();
			g_strv_builder_addv(b, (const char **)done);
			g_strv_builder_add(b, in->kind);
			x->c->done = g_strv_builder_end(b);
			g_strv_builder_unref(b);
			g_strfreev(done);
		}
	}
	return true;
}

/* A template that cannot be rendered is the admin's to fix: the duty waits for it (the
 * complaint is looked at again in an hour), nothing else stops. */
static bool broken(struct ctx *x, const char *what, GError *e)
{
	g_warning("%s: the %s cannot be rendered: %s; tried again in an hour", x->c->ref, what,
		  e->message);
	g_error_free(e);
	x->again = true;
	return true;
}

/* ---- acknowledgement and reminder ---------------------------------------------------- */

static char *station_name(const struct ctx *x)
{
	return wb_clean_line(x->st->name, 200);
}

static bool acknowledge(struct ctx *x, GError **error)
{
	if (!x->cfg->send_ack || wb_duty_case_has(x->c, "ack"))
		return true;
	enum wb_lang lang;
	if (!citizen_lang(x, &lang, error))
		return false;
	GError *e = NULL;
	g_autofree char *name = station_name(x);
	if (!in_window(x)) {
		/* Processed after the citizen's window closed (the bridge was down for a
		 * day): only templates may go now, and no acknowledgement template is
		 * approved. The station is told. */
		g_autofree char *msgid = duty_msgid(x, "wb-duty", "ack");
		g_autoptr(GBytes) mail = note(x, msgid, "Not acknowledged to the citizen",
			"Not acknowledged: the 24-hour window had closed",
			"The complaint reached the bridge after the citizen's 24-hour WhatsApp "
			"window had closed, so no acknowledgement could be sent (outside the "
			"window WhatsApp allows only approved templates). The complaint number, "
			"when you reply with it, still goes by the approved template.", &e);
		if (!mail)
			return broken(x, "acknowledgement note", e);
		struct wb_mailop_in op = { .station = x->st->key, .kind = "append",
					   .message_id = msgid, .mail = mail };
		struct wb_duty_in in = { .kind = "ack", .detail = "not sent: window closed",
					 .ops = &op, .n_ops = 1 };
		return fire(x, &in, error);
	}
	const char *pf[] = { "station", name, "ref", x->c->ref, NULL };
	g_autofree char *paper = x->c->has_paper ? g_strdup("")
				 : wb_fill_text(x->cfg->tpl->citizen_paper[lang], pf);
	const char *af[] = { "station", name, "ref", x->c->ref, "paper", paper, NULL };
	g_autofree char *raw = wb_fill_text(x->cfg->tpl->citizen_ack[lang], af);
	g_autofree char *text = g_strstrip(g_strdup(raw));
	struct wb_outbox_in send = { .kind = "text", .lang = wb_lang_code(lang), .text = text,
				     .context_wamid = x->c->first_wamid };
	struct wb_duty_in in = { .kind = "ack", .purpose = "ack", .send = &send,
				 .detail = x->c->has_paper ? "with the complaint's photo already in"
				 : "with the signature instruction" };
	return fire(x, &in, error);
}

static bool remind(struct ctx *x, gint64 *next, GError **error)
{
	int h = x->cfg->signature_reminder_hours;
	if (!h || x->c->has_paper || wb_duty_case_has(x->c, "reminder"))
		return true;
	gint64 at = x->c->opened_at + (gint64)h * 3600;
	if (x->now < at) {
		*next = MIN(*next, at);
		return true;
	}
	enum wb_lang lang;
	if (!citizen_lang(x, &lang, error))
		return false;
	g_autofree char *name = station_name(x);
	g_autofree char *hours = g_strdup_printf("%d", h);
	struct wb_outbox_in send = { .lang = wb_lang_code(lang) };
	g_autofree char *text = NULL, *params = NULL;
	if (in_window(x)) {
		const char *f[] = { "station", name, "ref", x->c->ref, "hours", hours, NULL };
		g_autofree char *raw = wb_fill_text(x->cfg->tpl->citizen_reminder[lang], f);
		text = g_strstrip(g_strdup(raw));
		send.kind = "text";
		send.text = text;
	} else {
		/* Outside the window: the approved template, with the reference and the
		 * station's name (contrib/whatsapp-templates.md). */
		json_t *a = json_pack("[ss]", x->c->ref, name);
		params = json_dumps(a, JSON_COMPACT);
		json_decref(a);
		send.kind = "template";
		send.template_name = x->cfg->template_reminder;
		send.params = params;
	}
	g_autofree char *detail = g_strdup_printf("no photo or document after %d h", h);
	struct wb_duty_in in = { .kind = "reminder", .purpose = "reminder", .send = &send,
				 .detail = detail };
	return fire(x, &in, error);
}

/* ---- escalation ---------------------------------------------------------------------- */

static const char *const escalation_kinds[] = { "serious", "manual", "overdue",
						"escalate_late", NULL };

/* The Message-ID of the complaint's first escalation mail, which the later ones thread
 * under; NULL when none went yet. */
static char *escalation_thread(const struct ctx *x)
{
	for (size_t i = 0; x->c->done && x->c->done[i]; i++)
		if (g_strv_contains(escalation_kinds, x->c->done[i]))
			return duty_msgid(x, "wb-esc", x->c->done[i]);
	return NULL;
}

/* A delivered mail, read back from the mailbox that holds it (its bytes have left the
 * database), so that the escalation carries its media. NULL when it cannot be had: the
 * escalation goes without it rather than wait. */
static GBytes *mail_from_mailbox(const struct wb_config *cfg, const struct wb_store_msg_text *m)
{
	const struct wb_station *st = wb_config_station_stored(cfg, m->held_by);
	GBytes *mail = NULL;
	g_autoptr(GError) e = NULL;
	if (st && !wb_mailsource_fetch(cfg, st, m->message_id, &mail, NULL, &e))
		g_warning("escalation: the mail %s in %s's mailbox cannot be read (%s): its media "
			  "are not attached", m->message_id, m->held_by, e->message);
	else if (st && !mail)
		g_warning("escalation: the mail %s is no longer in %s's mailbox: its media are not "
			  "attached", m->message_id, m->held_by);
	return mail;
}

/* The escalation mail to rcpt (NULL: nobody to tell, no mail). */
static GBytes *escalation_mail(struct ctx *x, enum wb_escalation_why why,
			       const char *rcpt, const char *const *matched,
			       const char *msgid, GError **error)
{
	if (!rcpt)
		return NULL;
	g_autoptr(GPtrArray) rows = wb_store_complaint_texts(x->store, x->c->id, 0, true, error);
	if (!rows)
		return NULL;
	g_autoptr(GArray) msgs = g_array_sized_new(FALSE, TRUE, sizeof(struct wb_dm_message),
						   rows->len);
	g_autoptr(GPtrArray) views = g_ptr_array_new_with_free_func((GDestroyNotify)wb_view_free);
	for (guint i = 0; i < rows->len; i++) {
		struct wb_store_msg_text *m = rows->pdata[i];
		if (!m->mail && m->held_by)
			m->mail = mail_from_mailbox(x->cfg, m);
		struct wb_view *v = wb_view_build(m->type, m->json, NULL, m->ts, x->cfg->timezone);
		g_ptr_array_add(views, v);
		struct wb_dm_message dm = { .ts = m->ts, .type = m->type,
					    .text = *v->text ? v->text : v->label, .mail = m->mail };
		g_array_append_val(msgs, dm);
	}
	g_autofree char *thread = escalation_thread(x);
	const char *to[] = { rcpt, NULL };
	gint64 clock = wb_duty_clock(x->cfg, x->st, escalated(x->c) || why == WB_ESC_SERIOUS ||
				     why == WB_ESC_MANUAL);
	struct wb_escalation_in in = {
		.domain = x->cfg->domain, .timezone = x->cfg->timezone, .from = x->cfg->smtp_from,
		.to = to, .station = x->st, .ref = x->c->ref, .citizen = x->c->citizen,
		.profile_name = x->c->profile_name, .message_id = msgid, .thread_id = thread,
		.why = why, .matched = matched, .officer = x->c->escalate_by,
		.officer_text = x->c->escalate_text, .opened_at = x->c->opened_at, .now = x->now,
		.deadline = clock ? x->c->opened_at + clock : 0, .sla_hours = (int)(clock / 3600),
		.state = number_line(x->c), .msgs = (const struct wb_dm_message *)msgs->data,
		.n_msgs = msgs->len, .media_budget = MEDIA_BUDGET,
	};
	return wb_render_escalation(&in, error);
}

/* Escalate: a note in the thread, $WA_Escalated, and the mail to rcpt. A serious or
 * manual escalation also puts the complaint on the shorter clock; a timed one (overdue,
 * the second tier) does not. */
static bool escalate(struct ctx *x, const char *kind, enum wb_escalation_why why,
		     const char *rcpt, const char *rcpt_key, const char *const *matched,
		     const char *headline, const char *serious_words, GError **error)
{
	g_autofree char *esc_id = duty_msgid(x, "wb-esc", kind);
	g_autofree char *note_id = duty_msgid(x, "wb-duty", kind);
	g_autofree char *first = wb_message_id(x->c->root, x->cfg->domain);
	GError *e = NULL;
	g_autoptr(GBytes) mail = escalation_mail(x, why, rcpt, matched, esc_id, &e);
	if (!mail && e) {
		if (e->domain == WB_STORE_ERROR) {
			g_propagate_error(error, e);
			return false;
		}
		return broken(x, "escalation mail", e);
	}
	GString *body = g_string_new(headline);
	g_string_append(body, "\n\n");
	if (rcpt)
		g_string_append_printf(body, "Told by mail: %s (%s of this station). The mail "
				       "carries the complaint's summary, its messages and its "
				       "media, so it can be acted on from the mail alone.\n", rcpt,
				       rcpt_key);
	else
		g_string_append_printf(body, "Nobody outside the station was told: this station "
				       "has no %s. Set it in its [station:%s] group.\n", rcpt_key,
				       x->st->key);
	g_autofree char *opened = wb_when_text(x->c->opened_at, x->cfg->timezone);
	g_autofree char *waited = hours_text(x->now - x->c->opened_at);
	g_string_append_printf(body, "Complaint opened: %s (%s ago)\n%s\n\n%s", opened, waited,
			       number_line(x->c), todo);
	g_autofree char *text = g_string_free(body, FALSE);
	g_autofree char *summary = g_strdup_printf("ESCALATED%s%s", rcpt ? " to " : "",
						   rcpt ? rcpt : " (nobody to tell)");
	g_autoptr(GBytes) n = note(x, note_id, summary, headline, text, &e);
	if (!n)
		return broken(x, "escalation note", e);
	struct wb_mailop_in ops[] = {
		{ .station = x->st->key, .kind = "append", .message_id = note_id, .mail = n },
		{ .station = x->st->key, .kind = "flag", .message_id = first,
		  .keyword = "$WA_Escalated" },
	};
	struct wb_mailout_in out = { .kind = "escalation", .message_id = esc_id, .mail = mail };
	const char *rcpts[] = { rcpt, NULL };
	out.rcpts = rcpts;
	struct wb_duty_in in = { .kind = kind, .ops = ops, .n_ops = G_N_ELEMENTS(ops),
				 .mails = mail ? &out : NULL, .n_mails = mail ? 1 : 0,
				 .serious = serious_words,
				 .escalate = why == WB_ESC_SERIOUS || why == WB_ESC_MANUAL,
				 .detail = rcpt ? rcpt : "nobody to tell" };
	return fire(x, &in, error);
}

/* Read what came since the last look: serious words, and escalate on them. */
static bool scan(struct ctx *x, int64_t *scanned, GError **error)
{
	g_autoptr(GPtrArray) rows = wb_store_complaint_texts(x->store, x->c->id, x->c->scanned_msg,
							     false, error);
	if (!rows)
		return false;
	g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < rows->len; i++) {
		const struct wb_store_msg_text *m = rows->pdata[i];
		*scanned = MAX(*scanned, m->id);
		if (!x->cfg->serious)
			continue;
		struct wb_view *v = wb_view_build(m->type, m->json, NULL, m->ts, x->cfg->timezone);
		g_auto(GStrv) found = *v->text ? wb_serious_match(x->cfg->serious, v->text) : NULL;
		wb_view_free(v);
		for (size_t j = 0; found && found[j]; j++) {
			bool have = false;
			for (guint k = 0; k < words->len && !have; k++)
				have = strcmp(words->pdata[k], found[j]) == 0;
			if (!have)
				g_ptr_array_add(words, g_strdup(found[j]));
		}
	}
	if (!words->len || x->c->serious || wb_duty_case_has(x->c, "serious"))
		return true;
	g_ptr_array_add(words, NULL);
	g_autofree char *list = g_strjoinv(", ", (char **)words->pdata);
	g_autofree char *headline = g_strdup_printf("ESCALATED AT ONCE: the citizen's words "
						    "match the serious-crime list (%s)", list);
	if (!escalate(x, "serious", WB_ESC_SERIOUS, x->st->escalate_to, "escalate_to",
		      (const char *const *)words->pdata, headline, list, error))
		return false;
	/* From now on the shorter clock applies. */
	if (wb_duty_case_has(x->c, "serious"))
		x->c->serious = g_strdup(list);
	return true;
}

static bool by_hand(struct ctx *x, GError **error)
{
	if (!x->c->escalate_by || wb_duty_case_has(x->c, "manual"))
		return true;
	g_autofree char *who = wb_clean_line(x->c->escalate_by, 200);
	g_autofree char *headline = g_strdup_printf("ESCALATED by %s (#escalate in a reply)",
						    who);
	if (!escalate(x, "manual", WB_ESC_MANUAL, x->st->escalate_to, "escalate_to", NULL,
		      headline, NULL, error))
		return false;
	if (!x->c->escalated_at && wb_duty_case_has(x->c, "manual"))
		x->c->escalated_at = x->now;
	return true;
}

/* ---- the clock ----------------------------------------------------------------------- */

static bool due_soon(struct ctx *x, GError **error)
{
	g_autofree char *msgid = duty_msgid(x, "wb-duty", "due_soon");
	gint64 deadline = x->c->opened_at + x->clock;
	g_autofree char *waited = hours_text(x->now - x->c->opened_at);
	g_autofree char *left = hours_text(deadline - x->now);
	g_autofree char *when = wb_when_text(deadline, x->cfg->timezone);
	g_autofree char *clock = hours_text(x->clock);
	g_autofree char *summary = g_strdup_printf("Due soon: %s without a complaint number",
						   waited);
	g_autofree char *body = g_strdup_printf(
		"This complaint has waited %s. The complaint number is due within %s (by %s), "
		"%s from the first message.\n%s\n\n%s", waited, left, when, clock,
		number_line(x->c), todo);
	GError *e = NULL;
	g_autoptr(GBytes) mail = note(x, msgid, summary, "Due soon: complaint number not yet "
				      "given", body, &e);
	if (!mail)
		return broken(x, "due-soon note", e);
	struct wb_mailop_in op = { .station = x->st->key, .kind = "append", .message_id = msgid,
				   .mail = mail };
	struct wb_duty_in in = { .kind = "due_soon", .ops = &op, .n_ops = 1, .detail = summary };
	return fire(x, &in, error);
}

static bool overdue(struct ctx *x, GError **error)
{
	g_autofree char *msgid = duty_msgid(x, "wb-duty", "overdue_note");
	g_autofree char *first = wb_message_id(x->c->root, x->cfg->domain);
	g_autofree char *waited = hours_text(x->now - x->c->opened_at);
	g_autofree char *clock = hours_text(x->clock);
	const char *rcpt = x->st->escalate_to;
	g_autofree char *summary = g_strdup_printf("OVERDUE: %s without a complaint number", waited);
	g_autofree char *body = g_strdup_printf(
		"This complaint has waited %s, past its limit of %s, and the citizen has no "
		"complaint number.\n%s\n%s\n\n%s", waited, clock, number_line(x->c),
		rcpt ? "The escalation mail goes to the station's escalate_to; its note follows "
		       "in this thread." : "This station has no escalate_to, so nobody outside "
		       "it is told.", todo);
	GError *e = NULL;
	g_autoptr(GBytes) mail = note(x, msgid, summary, "OVERDUE: complaint number not given "
				      "in time", body, &e);
	if (!mail)
		return broken(x, "overdue note", e);
	struct wb_mailop_in ops[] = {
		{ .station = x->st->key, .kind = "append", .message_id = msgid, .mail = mail },
		{ .station = x->st->key, .kind = "flag", .message_id = first,
		  .keyword = "$WA_Overdue" },
	};
	/* The note and $WA_Overdue, then the first tier: two duties, each once. */
	struct wb_duty_in note_in = { .kind = "overdue_note", .ops = ops,
				      .n_ops = G_N_ELEMENTS(ops), .detail = summary };
	if (!wb_duty_case_has(x->c, "overdue_note") && !fire(x, &note_in, error))
		return false;
	g_autofree char *headline = g_strdup_printf("ESCALATED: overdue, %s without a complaint "
						    "number (limit %s)", waited, clock);
	return escalate(x, "overdue", WB_ESC_OVERDUE, rcpt, "escalate_to", NULL, headline, NULL,
			error);
}

static bool overdue_late(struct ctx *x, GError **error)
{
	g_autofree char *waited = hours_text(x->now - x->c->opened_at);
	g_autofree char *clock = hours_text(2 * x->clock);
	g_autofree char *headline = g_strdup_printf("ESCALATED to the second tier: %s without a "
						    "complaint number (twice the limit, %s)",
						    waited, clock);
	return escalate(x, "escalate_late", WB_ESC_LATE, x->st->escalate_late_to,
			"escalate_late_to", NULL, headline, NULL, error);
}

static bool keep_clock(struct ctx *x, gint64 *next, GError **error)
{
	x->clock = wb_duty_clock(x->cfg, x->st, escalated(x->c));
	if (!x->clock || x->c->number_delivered)
		return true;
	gint64 start = x->c->opened_at;
	gint64 soon_at = start + x->clock / 2, due_at = start + x->clock,
	       late_at = start + 2 * x->clock;
	if (!wb_duty_case_has(x->c, "due_soon") && !wb_duty_case_has(x->c, "overdue")) {
		if (x->now >= soon_at && x->now < due_at) {
			if (!due_soon(x, error))
				return false;
		} else if (x->now < soon_at) {
			*next = MIN(*next, soon_at);
		}
	}
	if (!wb_duty_case_has(x->c, "overdue")) {
		if (x->now < due_at) {
			*next = MIN(*next, due_at);
			return true;
		}
		if (!overdue(x, error))
			return false;
	}
	if (!wb_duty_case_has(x->c, "escalate_late")) {
		if (x->now < late_at)
			*next = MIN(*next, late_at);
		else if (!overdue_late(x, error))
			return false;
	}
	return true;
}

/* Look at one complaint; when to look again goes into *next_look. */
static bool duty_one(const struct wb_config *cfg, struct wb_store *store, int64_t id,
		     struct wb_duty_result *res, struct wb_duty_next *next_look, GError **error)
{
	*next_look = (struct wb_duty_next){ .complaint_id = id, .duty_at = NEVER };
	GError *e = NULL;
	g_autoptr(wb_duty_case) c = wb_store_duty_case(store, id, &e);
	if (!c) {
		if (g_error_matches(e, WB_STORE_ERROR, WB_STORE_NOT_FOUND)) {
			g_error_free(e);
			return true;
		}
		g_propagate_error(error, e);
		return false;
	}
	gint64 now = wb_now();
	next_look->scanned_msg = c->scanned_msg;
	const struct wb_station *st = wb_config_station_stored(cfg, c->station);
	if (!st) {
		/* No longer configured: nothing to tell; looked at again in a day. */
		next_look->duty_at = now + 86400;
		return true;
	}
	struct ctx x = { .cfg = cfg, .store = store, .st = st, .c = c, .now = now, .res = res };
	int64_t scanned = c->scanned_msg;
	gint64 next = NEVER;
	if (!scan(&x, &scanned, error) || !by_hand(&x, error) || !acknowledge(&x, error) ||
	    !keep_clock(&x, &next, error) || !remind(&x, &next, error))
		return false;
	if (x.again) {
		/* A broken template held a duty back: the messages are read again too, so
		 * that a serious word is not passed over. */
		next = MIN(next, now + 3600);
		scanned = c->scanned_msg;
	}
	next_look->duty_at = next;
	next_look->scanned_msg = scanned;
	return true;
}

/* ---- the daily digest ---------------------------------------------------------------- */

static gint64 local_hour_at(const struct wb_config *cfg, gint64 now, int day_offset, int hour)
{
	return wb_local_hour_at(now, cfg->timezone, day_offset, hour);
}

/* The digest of st for the local date, which has not gone out yet. */
static bool digest_station(const struct wb_config *cfg, struct wb_store *store,
			   const struct wb_station *st, gint64 now, const char *date,
			   struct wb_duty_result *res, GError **error)
{
	bool fired = false;
	g_autoptr(GArray) ids = wb_store_station_open(store, st->key, error);
	if (!ids)
		return false;
	g_autoptr(GPtrArray) cases = g_ptr_array_new_with_free_func(
		(GDestroyNotify)wb_duty_case_free);
	g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(struct wb_digest_row));
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < ids->len; i++) {
		struct wb_duty_case *c = wb_store_duty_case(store, g_array_index(ids, int64_t, i),
							    error);
		if (!c)
			return false;
		g_ptr_array_add(cases, c);
		g_autoptr(GPtrArray) first = wb_store_complaint_texts(store, c->id, 0, false, error);
		if (!first)
			return false;
		char *summary = g_strdup("");
		for (guint j = 0; j < first->len && !*summary; j++) {
			const struct wb_store_msg_text *m = first->pdata[j];
			struct wb_view *v = wb_view_build(m->type, m->json, NULL, m->ts, cfg->timezone);
			g_free(summary);
			summary = g_strdup(v->summary ? v->summary : "");
			wb_view_free(v);
		}
		g_ptr_array_add(keep, summary);
		gint64 clock = wb_duty_clock(cfg, st, escalated(c));
		struct wb_digest_row r = {
			.ref = c->ref, .citizen = c->citizen, .profile_name = c->profile_name,
			.summary = summary, .opened_at = c->opened_at,
			.deadline = clock ? c->opened_at + clock : 0,
			.state = wb_duty_state(cfg, st, c, now), .number = c->number,
			.serious = c->serious != NULL,
		};
		g_array_append_val(rows, r);
	}
	g_autofree char *msgid = g_strdup_printf("wb-digest-%s-%s@%s", st->code, date, cfg->domain);
	const char *to[] = { st->address, st->escalate_to, NULL };
	struct wb_digest_in in = {
		.domain = cfg->domain, .timezone = cfg->timezone, .from = cfg->smtp_from, .to = to,
		.station = st, .message_id = msgid, .now = now,
		.rows = (const struct wb_digest_row *)rows->data, .n_rows = rows->len,
	};
	GError *e = NULL;
	g_autoptr(GBytes) mail = wb_render_digest(&in, &e);
	if (!mail) {
		g_warning("station %s: the digest cannot be rendered: %s", st->key, e->message);
		g_error_free(e);
		return true;
	}
	struct wb_mailop_in op = { .station = st->key, .kind = "append", .message_id = msgid,
				   .mail = mail };
	const char *rcpts[] = { st->escalate_to, NULL };
	struct wb_mailout_in out = { .kind = "digest", .message_id = msgid, .rcpts = rcpts,
				     .mail = mail };
	g_autofree char *detail = g_strdup_printf("%u open complaints", ids->len);
	struct wb_duty_in din = { .complaint_id = 0, .station = st->key, .kind = "digest",
				  .key = date, .detail = detail, .ops = &op, .n_ops = 1,
				  .mails = st->escalate_to && cfg->smtp_url ? &out : NULL,
				  .n_mails = st->escalate_to && cfg->smtp_url ? 1 : 0 };
	if (!wb_store_duty_fire(store, &din, &fired, error))
		return false;
	res->fired += fired;
	return true;
}

static bool digests(const struct wb_config *cfg, struct wb_store *store, gint64 now,
		    struct wb_duty_result *res, gint64 *next, GError **error)
{
	if (cfg->digest_hour < 0)
		return true;
	gint64 today_at = local_hour_at(cfg, now, 0, cfg->digest_hour);
	if (now < today_at) {
		*next = MIN(*next, today_at);
		return true;
	}
	*next = MIN(*next, local_hour_at(cfg, now, 1, cfg->digest_hour));
	g_autofree char *date = wb_local_text(now, cfg->timezone, "%Y-%m-%d");
	g_autoptr(GHashTable) done = wb_store_digests_on(store, date, error);
	if (!done)
		return false;
	for (guint i = 0; i < cfg->stations->len; i++) {
		const struct wb_station *st = cfg->stations->pdata[i];
		if (!g_hash_table_contains(done, st->key) &&
		    !digest_station(cfg, store, st, now, date, res, error))
			return false;
	}
	return true;
}

/* ---- mail to superiors --------------------------------------------------------------- */

/* An escalation mail the server refused for good: the station is told in the complaint's
 * thread (once: a duty keyed by the mail), so that it can call the superior instead. */
static bool tell_mail_failed(const struct wb_config *cfg, struct wb_store *store,
			     const struct wb_mailout *m, const char *why, GError **error)
{
	GError *e = NULL;
	g_autoptr(wb_complaint) c = wb_store_complaint(store, NULL, m->complaint_id, &e);
	const struct wb_station *st = c ? wb_config_station_stored(cfg, c->station) : NULL;
	if (!st) {
		if (e && !g_error_matches(e, WB_STORE_ERROR, WB_STORE_NOT_FOUND)) {
			g_propagate_error(error, e);
			return false;
		}
		g_clear_error(&e);
		return true;
	}
	g_autofree char *rcpts = g_strjoinv(", ", m->rcpts);
	g_autofree char *msgid = g_strdup_printf("wb-mailfail-%" G_GINT64_FORMAT "@%s", m->id,
						 cfg->domain);
	g_autofree char *body = g_strdup_printf(
		"The mail server refused the %s mail to %s for good, so the superiors were NOT "
		"told by mail.\n\nWhy: %s\n\nWhat to do: tell them another way (telephone, "
		"or forward them this complaint's mails), and ask the administrator to check the "
		"address (escalate_to, escalate_late_to) and the [smtp] settings.", m->kind, rcpts,
		why);
	g_autoptr(GBytes) note = wb_render_thread_note(cfg, st, c->ref, c->root, msgid,
						       "Escalation mail NOT delivered",
						       "FAILED: escalation mail not delivered", body,
						       NULL, &e);
	if (!note) {
		g_warning("%s: the note of a failed mail cannot be rendered: %s", c->ref,
			  e->message);
		g_error_free(e);
		return true;
	}
	struct wb_mailop_in op = { .station = st->key, .kind = "append", .message_id = msgid,
				   .mail = note };
	struct wb_duty_in in = { .complaint_id = c->id, .station = st->key, .ref = c->ref,
				 .kind = "mail_failed", .key = m->message_id, .detail = why,
				 .ops = &op, .n_ops = 1 };
	bool fired;
	return wb_store_duty_fire(store, &in, &fired, error);
}

static bool send_mails(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
		       struct wb_duty_result *res, GError **error)
{
	for (unsigned n = 0; n < MAIL_BATCH && !(stop && g_atomic_int_get(stop)); n++) {
		GError *e = NULL;
		struct wb_mailout *m = wb_store_mailout_take(store, wb_now(), &e);
		if (!m) {
			if (!e)
				return true;
			g_propagate_error(error, e);
			return false;
		}
		gsize len;
		const void *data = g_bytes_get_data(m->mail, &len);
		bool ok;
		if (wb_smtp_send(cfg, (const char *const *)m->rcpts, data, len, &e)) {
			res->mails_sent++;
			g_message("mail %s (%s) sent to %s", m->message_id, m->kind, m->rcpts[0]);
			ok = wb_store_mailout_set(store, m->id, "sent", NULL, 0, error);
		} else if (e->code == WB_FAIL_FINAL) {
			res->mails_failed++;
			g_warning("mail %s (%s) to %s failed for good: %s", m->message_id, m->kind,
				  m->rcpts[0], e->message);
			ok = wb_store_mailout_set(store, m->id, "failed", e->message, 0, error) &&
			     (!m->complaint_id || tell_mail_failed(cfg, store, m, e->message, error));
		} else {
			res->mails_waiting++;
			gint64 next = wb_now() + wb_backoff(e->code, m->attempts);
			g_autofree char *why = wb_retry_detail(e->message, next);
			g_warning("mail %s (%s) to %s waits: %s", m->message_id, m->kind,
				  m->rcpts[0], why);
			ok = wb_store_mailout_set(store, m->id, "pending", why, next, error);
		}
		g_clear_error(&e);
		wb_mailout_free(m);
		if (!ok)
			return false;
	}
	return true;
}

bool wb_duty_pass(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
		  struct wb_duty_result *res, GError **error)
{
	*res = (struct wb_duty_result){ 0 };
	/* Batch after batch until none is due: each complaint looked at gets a later
	 * duty_at, so it drops out of the next batch. Bounded, so that complaints that keep
	 * receiving messages cannot hold the pass. */
	guint last = DUTY_BATCH;
	for (unsigned batch = 0; last == DUTY_BATCH && batch < DUTY_BATCHES &&
	     !(stop && g_atomic_int_get(stop)); batch++) {
		g_autoptr(GArray) ids = wb_store_duty_due(store, wb_now(), DUTY_BATCH, error);
		if (!ids)
			return false;
		struct wb_duty_next looks[DUTY_BATCH];
		size_t n = 0;
		bool ok = true;
		for (guint i = 0; ok && i < ids->len && !(stop && g_atomic_int_get(stop)); i++)
			ok = duty_one(cfg, store, g_array_index(ids, int64_t, i), res, &looks[n++],
				      error);
		/* What was looked at is recorded even when the store failed later on. */
		if (!wb_store_duty_next(store, looks, ok ? n : n - 1, ok ? error : NULL) || !ok)
			return false;
		last = ids->len;
	}
	gint64 next = NEVER;
	if (!digests(cfg, store, wb_now(), res, &next, error) ||
	    !wb_anchor_pass(cfg, store, wb_now(), &next, &res->anchors_waiting, error) ||
	    !send_mails(cfg, store, stop, res, error))
		return false;
	gint64 duty_soonest = 0, mail_soonest = 0;
	unsigned waiting = 0;
	if (!wb_store_duty_soonest(store, &duty_soonest, error) ||
	    !wb_store_mailout_pending(store, &waiting, &mail_soonest, error))
		return false;
	if (last == DUTY_BATCH)
		duty_soonest = wb_now();
	gint64 soonest = next;
	if (duty_soonest)
		soonest = MIN(soonest, duty_soonest);
	if (waiting)
		soonest = MIN(soonest, mail_soonest);
	res->soonest = soonest == NEVER ? 0 : soonest;
	return true;
}
