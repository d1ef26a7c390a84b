/* reply: take in one officer's reply mail — match, authorise, parse, keep, queue.
 *
 * Design rationale: the order of the checks decides what an MTA bounces with, so it
 * follows SPEC §2: an unreadable mail is 65; then the complaint must be found (67), and a
 * token that is present but wrong is a forgery (77) even before the sender is looked at;
 * then the sender must be one of the station's officers and the reply must prove itself
 * (77); then there must be something to act on (65). A From: address proves nothing
 * (anyone can write one, and references are sequential), so a reply that found its
 * complaint by thread or subject needs a trusted server's Authentication-Results instead
 * of the token. Whatever the outcome, the mail is kept with the reason (`status` lists
 * them); an accepted mail's send, and a refused one's note to the station, are queued in
 * the same transaction that records it, so a crash in between cannot lose them or make
 * two. */
#include "reply.h"
#include "authres.h"
#include "caps.h"
#include "duty.h"
#include "echo.h"
#include "metrics.h"
#include "replykeys.h"
#include "replyparse.h"
#include "replywatch.h"
#include "split.h"
#include "util.h"

#include <jansson.h>
#include <string.h>


void wb_reply_result_clear(struct wb_reply_result *r)
{
	g_clear_pointer(&r->message, g_free);
}

int wb_reply_exit_code(enum wb_reply_outcome o)
{
	static const int codes[] = { [WB_RA_OK] = 0, [WB_RA_BAD] = 65, [WB_RA_NO_MATCH] = 67,
				     [WB_RA_FORBIDDEN] = 77, [WB_RA_TEMP] = 75 };
	return (unsigned)o < G_N_ELEMENTS(codes) ? codes[o] : 70;
}

bool wb_officer_ok(const char *const *patterns, const char *addr)
{
	if (!addr || !*addr)
		return false;
	for (size_t i = 0; patterns && patterns[i]; i++)
		if (g_pattern_match_simple(patterns[i], addr))
			return true;
	return false;
}

/* ---- the citizen's language ---------------------------------------------------------- */

static void count_script(const char *s, unsigned counts[WB_LANG_COUNT])
{
	for (const char *p = s; p && *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c >= 0x0980 && c <= 0x09FF)
			counts[WB_LANG_BN]++;
		else if (c >= 0x0900 && c <= 0x097F)
			counts[WB_LANG_HI]++;
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			counts[WB_LANG_EN]++;
	}
}

/* The words a citizen typed: text bodies, captions and the titles of their choices. */
static void count_message(json_t *v, unsigned counts[WB_LANG_COUNT], int depth)
{
	if (depth > 6)
		return;
	const char *key;
	json_t *val;
	json_object_foreach(v, key, val) {
		if (json_is_object(val))
			count_message(val, counts, depth + 1);
		else if (json_is_string(val) && (strcmp(key, "body") == 0 ||
						 strcmp(key, "caption") == 0 ||
						 strcmp(key, "title") == 0))
			count_script(json_string_value(val), counts);
	}
}

enum wb_lang wb_guess_lang(const GPtrArray *messages_json, enum wb_lang fallback)
{
	unsigned counts[WB_LANG_COUNT] = { 0 };
	for (guint i = 0; messages_json && i < messages_json->len; i++) {
		json_t *v = json_loads(messages_json->pdata[i], 0, NULL);
		if (json_is_object(v))
			count_message(v, counts, 0);
		json_decref(v);
	}
	enum wb_lang best = fallback;
	unsigned most = 0;
	/* Indic scripts win ties over Latin: a Bengali complaint often carries English
	 * words (names, "FIR", addresses), rarely the other way round. */
	for (int l = 0; l < WB_LANG_COUNT; l++)
		if (counts[l] > most) {
			most = counts[l];
			best = (enum wb_lang)l;
		}
	return best;
}

/* ---- finding the complaint ----------------------------------------------------------- */

struct match {
	struct wb_complaint *c;
	const char *by;            /* token | thread | subject */
	bool forged;
	char *why;                 /* when nothing matched or the token is forged */
	/* the notice that the officer's words were held back, or that the reply said
	 * nothing (queued with the reply) */
	GBytes *notice;
	char *notice_id;
	struct wb_mailop_in notice_op;
	char *held_back;           /* the officer's words held back (the stored reply keeps
				    * them; the send does not) */
};

/* The complaint with this reference into m->c (NULL when there is none). False only
 * when the store fails. */
static bool lookup_ref(struct wb_store *store, const char *ref, struct match *m,
		       GError **error)
{
	GError *e = NULL;
	m->c = wb_store_complaint(store, ref, 0, &e);
	if (m->c || g_error_matches(e, WB_STORE_ERROR, WB_STORE_NOT_FOUND)) {
		g_clear_error(&e);
		return true;
	}
	g_propagate_error(error, e);
	return false;
}

static bool by_token(struct wb_store *store, const struct wb_reply_keys *k, struct match *m,
		     GError **error)
{
	if (!k->token_addr)
		return true;
	if (!k->token_ok) {
		m->forged = true;
		m->why = g_strdup_printf("the reply address %s carries a token that does not "
					 "verify for %s (forged, or mangled on the way)",
					 k->token_addr, k->token_ref);
		return true;
	}
	if (!lookup_ref(store, k->token_ref, m, error))
		return false;
	if (!m->c)
		m->why = g_strdup_printf("the reply address names complaint %s, which this "
					 "bridge does not know", k->token_ref);
	m->by = "token";
	return true;
}

static bool by_thread(struct wb_store *store, const struct wb_reply_keys *k, struct match *m,
		      GError **error)
{
	for (size_t i = 0; k->thread_ids[i]; i++) {
		int64_t id = 0;
		if (!wb_store_complaint_of_mail(store, k->thread_ids[i], &id, error))
			return false;
		if (!id)
			continue;
		m->c = wb_store_complaint(store, NULL, id, error);
		if (!m->c)
			return false;
		m->by = "thread";
		return true;
	}
	return true;
}

static bool by_subject(struct wb_store *store, const struct wb_reply_keys *k, struct match *m,
		       GError **error)
{
	if (!k->subject_ref)
		return true;
	if (!lookup_ref(store, k->subject_ref, m, error))
		return false;
	if (m->c)
		m->by = "subject";
	return true;
}

static bool find_complaint(struct wb_store *store, const struct wb_reply_keys *k,
			   struct match *m, GError **error)
{
	if (!by_token(store, k, m, error))
		return false;
	if (m->c || m->forged || m->why)
		return true;
	if (!by_thread(store, k, m, error))
		return false;
	if (!m->c && !by_subject(store, k, m, error))
		return false;
	if (!m->c)
		m->why = g_strdup("no complaint matches: the mail has no reply address of the "
				  "bridge, no In-Reply-To/References to one of its mails and no "
				  "[REF] in the subject");
	return true;
}

/* ---- what goes to the citizen -------------------------------------------------------- */

/* A template's parameters: a JSON array of the NULL-terminated strings. */
static char *params_json(const char *const *values)
{
	json_t *a = json_array();
	for (size_t i = 0; values[i]; i++)
		json_array_append_new(a, json_string(values[i]));
	char *out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	char *copy = g_strdup(out);
	free(out);
	return copy;
}

/* The message the citizen gets inside the window, from the language's template. */
static char *citizen_text(const struct wb_templates *tpl, enum wb_lang lang,
			  const struct wb_station *st, const struct wb_complaint *c,
			  const struct wb_reply *r)
{
	const char *t = r->number ? tpl->citizen_registered[lang] : tpl->citizen_message[lang];
	g_autofree char *station = wb_clean_line(st->name, 200);
	const char *fields[] = { "station", station, "number", r->number ? r->number : "",
				 "ref", c->ref, "text", r->text, NULL };
	g_autofree char *filled = wb_fill_text(t, fields);
	return g_strdup(g_strstrip(filled));
}

static char *tags_text(const struct wb_reply *r)
{
	GString *s = g_string_new(NULL);
	if (r->escalate)
		g_string_append(s, "#escalate ");
	if (r->close)
		g_string_append(s, "#close ");
	if (r->split)
		g_string_append(s, "#new ");
	if (r->transfer_to)
		g_string_append_printf(s, "#transfer %s ", r->transfer_to);
	if (s->len)
		g_string_truncate(s, s->len - 1);
	return g_string_free(s, s->len == 0);
}

/* ---- step 2: may it reach the citizen? ---------------------------------------------- */


/* "GRH (Gariahat Police Station)": how a station is named in reasons and notes. */
static char *station_label(const struct wb_station *st, bool code_first)
{
	g_autofree char *name = wb_clean_line(st->name, 200);
	return code_first ? g_strdup_printf("%s (%s)", st->code, name)
			  : g_strdup_printf("%s (%s)", name, st->code);
}

/* An officer of a station the complaint was transferred away from: why their reply is
 * refused, and *tell = that station (told in its own thread); else NULL. */
static char *transferred_away(const struct wb_config *cfg, const struct wb_complaint *c,
			      const struct wb_station *st, const GPtrArray *transfers,
			      const char *from, const struct wb_station **tell)
{
	for (guint i = transfers->len; i-- > 0;) {
		const struct wb_transfer *t = transfers->pdata[i];
		const struct wb_station *old = wb_config_station_stored(cfg, t->from_station);
		if (!old || old == st || !wb_officer_ok((const char *const *)old->officers, from))
			continue;
		const struct wb_transfer *last = transfers->pdata[transfers->len - 1];
		g_autofree char *to = station_label(st, false);
		g_autofree char *when = wb_when_text(last->at, cfg->timezone);
		*tell = old;
		return g_strdup_printf("%s was transferred to %s on %s; replies must come from "
				       "its officers (the sender %s is an officer of %s)", c->ref, to,
				       when, from, old->key);
	}
	return NULL;
}

/* NULL when the reply may reach the citizen, with *proof saying how it proved itself;
 * else why not, with *tell = the station to tell in its thread. */
static char *refusal(const struct wb_config *cfg, const struct wb_station *st,
		     const struct match *m, const struct wb_reply *r, const GPtrArray *transfers,
		     char **proof, const struct wb_station **tell)
{
	*tell = st;
	char *away = r->from_addr && !wb_officer_ok((const char *const *)st->officers, r->from_addr)
		? transferred_away(cfg, m->c, st, transfers, r->from_addr, tell) : NULL;
	if (away)
		return away;
	if (!st->officers[0])
		return g_strdup_printf("station %s has no officers configured, so no reply is "
				       "accepted; add officers = … to [station:%s]", st->key, st->key);
	if (!wb_officer_ok((const char *const *)st->officers, r->from_addr)) {
		g_autofree char *list = g_strjoinv(", ", st->officers);
		return g_strdup_printf("the sender %s is not one of the officers of station %s "
				       "(officers = %s)", r->from_addr ? r->from_addr : "(no From:)",
				       st->key, list);
	}
	if (strcmp(m->by, "token") == 0) {
		*proof = g_strdup("its reply-address token");
		return NULL;
	}
	const char *at = strrchr(r->from_addr, '@');
	g_autofree char *auth = NULL;
	if (wb_authres_vouch((const char *const *)r->auth_results,
			     (const char *const *)cfg->trusted_authserv_ids, at ? at + 1 : NULL,
			     &auth) == WB_AUTHRES_VOUCHED) {
		*proof = g_steal_pointer(&auth);
		return NULL;
	}
	return g_strdup_printf("the reply names complaint %s only by its %s, not by the "
			       "complaint's reply address with its token, and a From: address "
			       "can be forged; nothing authenticates the sender: %s. If an officer "
			       "wrote it, reply to a mail of the complaint so that its reply "
			       "address is used", m->c->ref, strcmp(m->by, "thread") == 0
			       ? "In-Reply-To/References" : "[REF] subject tag", auth);
}

/* A note of the bridge into the complaint's thread in st's mailbox. */
static GBytes *thread_note(const struct wb_config *cfg, const struct wb_station *st, const struct wb_complaint *c,
			   const char *msgid, const char *summary, const char *title,
			   const char *body, const char *const *headers, GError **error)
{
	return wb_render_thread_note(cfg, st, c->ref, c->root, msgid, summary, title,
				     body, headers, error);
}

/* The note that tells the station a reply was refused: from the bridge, into the
 * complaint's thread, marked as refused in its subject and first line, quoting the
 * mail's sender and subject only as text of the body (never in a header). */
static GBytes *refusal_note(const struct wb_config *cfg, const struct wb_station *st, const struct wb_complaint *c,
			    const struct wb_reply *r, const struct wb_reply_in *in,
			    const char *msgid, GError **error)
{
	g_autofree char *body = g_strdup_printf(
		"A mail answering this complaint reached the bridge, and it was NOT sent to the "
		"citizen.\n\n"
		"Why: %s.\n\n"
		"The refused mail, as it presents itself (the sender may be forged):\n"
		"From: %s\nSubject: %s\nMessage-ID: %s\nReceived through: %s\n\n"
		"Nothing from this mail reached the citizen. If an officer of this station wrote "
		"it, reply to this note or to any mail of the complaint: its reply address "
		"carries the token that proves a reply. If nobody here wrote it, someone tried "
		"to reach the citizen under the station's name. The bridge keeps the mail; "
		"`wabridge complaint %s` lists it.",
		in->reason, r->from_addr ? r->from_addr : "(none)", r->subject ? r->subject : "",
		r->message_id ? r->message_id : "(none)",
		strcmp(in->source, "imap") == 0 ? "the replies mailbox" : "the mail server's pipe",
		c->ref);
	const char *headers[] = { "X-Wabridge-Refused-Reply", in->sha256, NULL };
	return thread_note(cfg, st, c, msgid, "REFUSED reply: NOT sent to the citizen",
			   "REFUSED: a reply was NOT sent to the citizen", body, headers, error);
}

/* ---- the whole step ------------------------------------------------------------------ */

static enum wb_reply_outcome finish(struct wb_reply_result *res, enum wb_reply_outcome o,
				    char *message)
{
	res->outcome = o;
	res->message = message;
	GLogLevelFlags level = o == WB_RA_OK ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_WARNING;
	g_log(G_LOG_DOMAIN, level, "reply %" G_GINT64_FORMAT ": %s", res->reply_id, message);
	return o;
}

static enum wb_reply_outcome store_failed(struct wb_reply_result *res, const char *doing,
					  GError *e)
{
	enum wb_reply_outcome t = finish(res, WB_RA_TEMP, g_strdup_printf(
		"the state database failed %s (%s); deliver it again later", doing, e->message));
	g_error_free(e);
	return t;
}

static enum wb_reply_outcome keep(struct wb_store *store, struct wb_reply_in *in,
				  struct wb_reply_result *res, enum wb_reply_outcome o,
				  char *message)
{
	GError *e = NULL;
	bool already = false;
	if (!wb_store_add_reply(store, in, &res->reply_id, &already, &e)) {
		g_free(message);
		return store_failed(res, "storing the reply, so nothing was done", e);
	}
	if (already) {
		res->replay = true;
		g_free(message);
		return finish(res, WB_RA_OK, g_strdup_printf("the same reply (%s) was already "
			      "accepted as reply %" G_GINT64_FORMAT "; nothing is sent again",
			      in->key, res->reply_id));
	}
	return finish(res, o, message);
}

/* Refuse a reply at step 2 (why is taken): keep it with the reason and, unless the
 * complaint had WB_MAX_REFUSAL_NOTES such refusals within WB_REFUSAL_NOTES_S, queue the
 * station's note in the same transaction. st NULL: the station is no longer configured,
 * so there is no mailbox to tell. */
static enum wb_reply_outcome refuse(const struct wb_config *cfg, struct wb_store *store,
				    const struct wb_station *st,
				    const struct wb_complaint *c, const struct wb_reply *r,
				    struct wb_reply_in *in, struct wb_reply_result *res, char *why)
{
	g_autofree char *reason = why;
	in->state = WB_RS_UNAUTHORISED;
	in->reason = reason;
	GError *e = NULL;
	unsigned earlier = 0;
	if (st && !wb_store_refusals_since(store, c->id, wb_now() - WB_REFUSAL_NOTES_S, in->key,
					   &earlier, &e))
		return store_failed(res, "counting refused replies", e);
	g_autofree char *key_hash = wb_sha256_hex(in->key, strlen(in->key));
	g_autofree char *msgid = g_strdup_printf("wb-refused-%.32s@%s", key_hash, cfg->domain);
	g_autoptr(GBytes) note = st && earlier < WB_MAX_REFUSAL_NOTES
		? refusal_note(cfg, st, c, r, in, msgid, &e) : NULL;
	if (e) {
		/* A broken template: the admin must fix it; the refusal itself stands. */
		g_warning("reply: the note for the thread of %s cannot be written: %s", c->ref,
			  e->message);
		g_clear_error(&e);
	}
	struct wb_mailop_in op = { .station = st ? st->key : NULL, .kind = "append",
				   .message_id = msgid, .mail = note };
	in->ops = note ? &op : NULL;
	in->n_ops = note ? 1 : 0;
	g_autofree char *told = note ? g_strdup("; the station is told in the complaint's thread")
		: st && earlier >= WB_MAX_REFUSAL_NOTES ? g_strdup_printf("; the thread is not told: it "
		  "was told of %u refused replies within a day", WB_MAX_REFUSAL_NOTES)
		: g_strdup("");
	enum wb_reply_outcome o = keep(store, in, res, WB_RA_FORBIDDEN, g_strdup_printf(
		"%s; nothing was sent to the citizen%s", reason, told));
	res->noted = note != NULL && o == WB_RA_FORBIDDEN;
	return o;
}

/* ---- #transfer CODE ------------------------------------------------------------------- */

/* A "#transfer" the parser could not read as a tag (no code, a code with other
 * characters, a second one): never passed on to the citizen as text. */
static bool bare_transfer(const char *text)
{
	static GRegex *re;
	if (g_once_init_enter(&re)) {
		/* No G_REGEX_OPTIMIZE: the JIT buys nothing on one reply and makes valgrind
		 * report reads of uninitialised bytes inside its generated code. */
		GRegex *r = g_regex_new("(?<![\\p{L}\\p{M}\\p{N}_])#transfer(?![\\p{L}\\p{M}\\p{N}_])",
					G_REGEX_CASELESS, 0, NULL);
		g_assert(r);
		g_once_init_leave(&re, r);
	}
	return text && g_regex_match(re, text, 0, NULL);
}

/* "BHP (Bhowanipore Police Station), GRH (…)": the configured stations, the first
 * CODES_LISTED of them: a note to officers should not list a thousand. */
#define CODES_LISTED 40
static char *codes_list(const struct wb_config *cfg)
{
	GString *s = g_string_new(NULL);
	guint n = cfg->stations ? cfg->stations->len : 0;
	for (guint i = 0; i < n && i < CODES_LISTED; i++) {
		g_autofree char *l = station_label(cfg->stations->pdata[i], true);
		g_string_append_printf(s, "%s%s", s->len ? ", " : "", l);
	}
	if (n > CODES_LISTED)
		g_string_append_printf(s, " and %u more (ask the bridge's administrator for the "
				       "list)", n - CODES_LISTED);
	if (!s->len)
		g_string_append(s, "none (no [station:…] is configured)");
	return g_string_free(s, FALSE);
}

/* NULL when the reply asks for no transfer (*to NULL) or for one that can be done (*to
 * the new station); else why it cannot be done. */
static char *transfer_refusal(const struct wb_config *cfg, const struct wb_station *st,
			      const struct wb_complaint *c, const struct wb_reply *r,
			      const struct wb_station **to)
{
	*to = NULL;
	bool bare = bare_transfer(r->text) || r->transfers > 1;
	if (!r->transfer_to && !bare)
		return NULL;
	g_autofree char *codes = codes_list(cfg);
	if (bare)
		return g_strdup_printf("the reply has a #transfer that is not followed by one "
				       "station code (2 to 8 letters or digits, once per reply); "
				       "the codes are %s", codes);
	const struct wb_station *found = wb_config_station_by_code(cfg, r->transfer_to);
	if (!found)
		return g_strdup_printf("no station has code %s; the codes are %s", r->transfer_to,
				       codes);
	if (found == st)
		return g_strdup_printf("%s is the code of this station, which holds %s already; "
				       "the codes are %s", found->code, c->ref, codes);
	if (strcmp(c->state, "open") != 0)
		return g_strdup_printf("%s is closed, and a closed complaint is not transferred "
				       "(the citizen's next message opens a new one)", c->ref);
	if (r->close)
		return g_strdup_printf("the reply asks both to close the complaint (#close) and to "
				       "transfer it (#transfer %s); send one of the two", found->code);
	*to = found;
	return NULL;
}

/* What the note of a tag that cannot be done says. */
struct tag_note {
	const char *asked;   /* what the reply asked for */
	const char *after;   /* what stays, and how to ask again */
	const char *summary, *title;
};

static const struct tag_note transfer_note = {
	"asked to transfer this complaint to another station",
	"the complaint stays with this station. To transfer it, reply again with #transfer "
	"and one of the codes",
	"Transfer NOT done", "REFUSED: the complaint was NOT transferred",
};

static const struct tag_note split_note = {
	"asked (#new) to split a message and the later ones off into a new complaint",
	"no message moved: the complaint stays as it was. To split, reply with #new to the "
	"mail of the citizen's message that starts the new incident (not to a note of the "
	"bridge, not to the complaint's first message)",
	"Split NOT done", "REFUSED: no new complaint was split off",
};

/* A #transfer or #new that cannot be done: nothing changes and nothing is sent; the
 * reply is kept with the reason and the station told in the complaint's thread. */
static enum wb_reply_outcome refuse_tag(const struct wb_config *cfg, struct wb_store *store,
					const struct wb_station *st, const struct wb_complaint *c,
					struct wb_reply_in *in, struct wb_reply_result *res,
					char *why, const struct tag_note *words)
{
	g_autofree char *reason = why;
	in->state = WB_RS_REFUSED;
	in->reason = reason;
	g_autofree char *key_hash = wb_sha256_hex(in->key, strlen(in->key));
	g_autofree char *msgid = g_strdup_printf("wb-refused-%.32s@%s", key_hash, cfg->domain);
	g_autofree char *body = g_strdup_printf(
		"An officer's reply %s, and the bridge did NOT do it.\n\nWhy: %s.\n\nNothing "
		"was sent to the citizen, and %s. `wabridge complaint %s` lists the refused "
		"reply.", words->asked, reason, words->after, c->ref);
	const char *headers[] = { "X-Wabridge-Refused-Reply", in->sha256, NULL };
	GError *e = NULL;
	g_autoptr(GBytes) note = thread_note(cfg, st, c, msgid, words->summary, words->title,
					     body, headers, &e);
	if (!note) {
		g_warning("reply: the note for the thread of %s cannot be written: %s", c->ref,
			  e->message);
		g_clear_error(&e);
	}
	struct wb_mailop_in op = { .station = st->key, .kind = "append", .message_id = msgid,
				   .mail = note };
	in->ops = note ? &op : NULL;
	in->n_ops = note ? 1 : 0;
	enum wb_reply_outcome o = keep(store, in, res, WB_RA_BAD, g_strdup_printf(
		"%s; nothing changed and nothing was sent to the citizen%s", reason,
		note ? "; the station is told in the complaint's thread" : ""));
	res->noted = note && o == WB_RA_BAD;
	return o;
}

/* "Name <address>" of the officer who wrote the reply, or the address alone. */
static char *officer_label(const struct wb_reply *r)
{
	return wb_name_addr(r->from_name, r->from_addr);
}

struct transfer_words {
	const struct wb_station *from, *to;
	const struct wb_complaint *c;
	const struct wb_reply *r;
};

/* The note in the new station's thread: from where, by whom, why. */
static GBytes *note_arrived(const struct wb_config *cfg, const struct transfer_words *w, const char *msgid, GError **error)
{
	g_autofree char *from = station_label(w->from, false);
	g_autofree char *officer = officer_label(w->r);
	g_autofree char *when = wb_when_text(wb_now(), cfg->timezone);
	g_autofree char *opened = wb_when_text(w->c->opened_at, cfg->timezone);
	const char *number = w->r->number ? w->r->number : w->c->number;
	g_autofree char *body = g_strdup_printf(
		"This complaint was transferred to this station from %s by %s on %s.\n\n"
		"Why, in the officer's words:\n%s\n\n"
		"The complaint's earlier mails are placed in this thread. From now on the "
		"citizen's messages come here, and replies to the citizen must come from this "
		"station's officers; the citizen is told on WhatsApp which station holds the "
		"complaint now. The clock did not restart: the complaint was opened on %s.%s%s",
		from, w->r->from_addr, when, *w->r->text ? w->r->text : "(no reason given)",
		opened, number ? "\nComplaint number: " : "", number ? number : "");
	g_autofree char *summary = g_strdup_printf("Transferred here from %s", from);
	g_autofree char *tag = g_strdup_printf("%s -> %s", w->from->code, w->to->code);
	const char *headers[] = { "X-Wabridge-Transfer", tag, NULL };
	return thread_note(cfg, w->to, w->c, msgid, summary,
			   "Transferred to this station", body, headers, error);
}

/* The note in the old station's thread: where it went, and that replies come from there. */
static GBytes *note_left(const struct wb_config *cfg, const struct transfer_words *w, const char *msgid, GError **error)
{
	g_autofree char *to = station_label(w->to, false);
	g_autofree char *officer = officer_label(w->r);
	g_autofree char *when = wb_when_text(wb_now(), cfg->timezone);
	g_autofree char *address = wb_clean_line(w->to->address, 200);
	g_autofree char *body = g_strdup_printf(
		"This complaint was transferred to %s <%s> by %s on %s.\n\n"
		"Why, in the officer's words:\n%s\n\n"
		"The complaint and its mails are now in that station's mailbox; the citizen's "
		"further messages go there, and the citizen is told on WhatsApp which station "
		"holds it now. Replies to the citizen must now come from that station's "
		"officers: a reply from this station is refused.",
		to, address, officer, when, *w->r->text ? w->r->text : "(no reason given)");
	g_autofree char *summary = g_strdup_printf("Transferred to %s", to);
	g_autofree char *title = g_strdup_printf("Transferred: the complaint is now with %s", to);
	g_autofree char *tag = g_strdup_printf("%s -> %s", w->from->code, w->to->code);
	const char *headers[] = { "X-Wabridge-Transfer", tag, NULL };
	return thread_note(cfg, w->from, w->c, msgid, summary, title, body, headers,
			   error);
}

/* What the citizen is told: inside the window the citizen-transferred text with the
 * officer's words (a complaint number in them goes along), else the approved template
 * (reference, new station, old station). */
static void transfer_send(const struct wb_config *cfg, const struct wb_templates *tpl,
			  const struct transfer_words *w, enum wb_lang lang, bool window,
			  struct wb_outbox_in *send, char **text, char **params)
{
	g_autofree char *from = wb_clean_line(w->from->name, 200);
	g_autofree char *to = wb_clean_line(w->to->name, 200);
	*send = (struct wb_outbox_in){ .lang = wb_lang_code(lang) };
	if (window) {
		const char *fields[] = { "from", from, "station", to, "ref", w->c->ref,
					 "text", w->r->text, NULL };
		g_autofree char *filled = wb_fill_text(tpl->citizen_transferred[lang], fields);
		*text = g_strdup(g_strstrip(filled));
		send->kind = "text";
		send->text = *text;
		return;
	}
	const char *values[] = { w->c->ref, to, from, NULL };
	*params = params_json(values);
	send->kind = "template";
	send->template_name = cfg->template_transferred;
	send->params = *params;
	if (!cfg->template_transferred || !*cfg->template_transferred)
		send->fail_reason = "the citizen's 24-hour window has closed and no [whatsapp] "
				    "template_transferred is configured";
}

static enum wb_reply_outcome accept_transfer(const struct wb_config *cfg,
					     struct wb_store *store,
					     const struct wb_templates *tpl,
					     const struct transfer_words *w, const char *by,
					     const char *proof, enum wb_lang lang, bool window,
					     struct wb_reply_in *in, struct wb_reply_result *res)
{
	g_autofree char *text = NULL, *params = NULL;
	struct wb_outbox_in send;
	transfer_send(cfg, tpl, w, lang, window, &send, &text, &params);
	g_autofree char *key_hash = wb_sha256_hex(in->key, strlen(in->key));
	g_autofree char *in_id = g_strdup_printf("wb-transfer-%.32s-in@%s", key_hash, cfg->domain);
	g_autofree char *out_id = g_strdup_printf("wb-transfer-%.32s-out@%s", key_hash,
						  cfg->domain);
	g_autofree char *first = wb_message_id(w->c->root, cfg->domain);
	GError *e = NULL;
	g_autoptr(GBytes) arrived = note_arrived(cfg, w, in_id, &e);
	g_autoptr(GBytes) left = arrived ? note_left(cfg, w, out_id, &e) : NULL;
	if (e) {
		/* A broken template: the admin must fix it; the transfer itself stands. */
		g_warning("reply: the notes of the transfer of %s cannot be written: %s",
			  w->c->ref, e->message);
		g_clear_error(&e);
	}
	struct wb_mailop_in ops[4];
	size_t n = 0;
	if (arrived)
		ops[n++] = (struct wb_mailop_in){ .station = w->to->key, .kind = "append",
						  .message_id = in_id, .mail = arrived };
	if (left)
		ops[n++] = (struct wb_mailop_in){ .station = w->from->key, .kind = "append",
						  .message_id = out_id, .mail = left };
	if (w->r->number)
		ops[n++] = (struct wb_mailop_in){ .station = w->from->key, .kind = "flag",
						  .message_id = first, .keyword = "$WA_Registered" };
	if (w->r->number || w->c->number)
		ops[n++] = (struct wb_mailop_in){ .station = w->to->key, .kind = "flag",
						  .message_id = first, .keyword = "$WA_Registered" };
	struct wb_transfer_in t = { .from_station = w->from->key, .to_station = w->to->key,
				    .officer = w->r->from_addr, .reason = w->r->text,
				    .domain = cfg->domain };
	in->state = WB_RS_ACCEPTED;
	in->send = &send;
	in->purpose = "transfer";
	in->ops = ops;
	in->n_ops = n;
	in->transfer = &t;
	return keep(store, in, res, WB_RA_OK, g_strdup_printf(
		"accepted from %s for %s (matched by %s, proven by %s)%s%s: transferred from %s "
		"to %s; the citizen's notice %s%s", w->r->from_addr, w->c->ref, by, proof,
		w->r->number ? ", complaint number " : "", w->r->number ? w->r->number : "",
		w->from->key, w->to->key, send.fail_reason ? "cannot be sent: " : text
		? "is a WhatsApp text queued in " : "is a WhatsApp template queued in ",
		send.fail_reason ? send.fail_reason : send.lang));
}

/* ---- what an officer's words send the citizen ---------------------------------------- */

struct send_plan {
	struct wb_outbox_in send;
	bool sending;           /* false: nothing goes (no text, no number) */
	struct wb_outbox_in held; /* the words kept for the citizen's next message */
	bool holding;           /* held is to be queued too */
	char *text, *params;    /* owned by the caller */
};

/* Inside the window the citizen-registered (or citizen-message) text, with the
 * registered template as fallback (after which the words wait as `held` if they say
 * more than the number); outside it the registered template when there is a number,
 * and the officer's words kept for the citizen's next message; words without a number
 * are kept the same way. */
static void plan_send(const struct wb_config *cfg, const struct wb_templates *tpl,
		      const struct wb_station *st, const struct wb_complaint *c,
		      const struct wb_reply *r, enum wb_lang lang, bool window,
		      struct send_plan *p)
{
	g_autofree char *station_name = wb_clean_line(st->name, 200);
	const char *values[] = { r->number, station_name, NULL };
	p->params = r->number ? params_json(values) : NULL;
	p->text = *r->text || r->number ? citizen_text(tpl, lang, st, c, r) : NULL;
	p->send = (struct wb_outbox_in){ .lang = wb_lang_code(lang) };
	bool words = wb_reply_has_words(r->text, (const char *const *)st->number_patterns);
	p->held = (struct wb_outbox_in){ .lang = p->send.lang, .kind = "text", .text = p->text,
					 .hold = true, .words = true };
	p->sending = true;
	p->holding = false;
	if (window && p->text) {
		p->send.kind = "text";
		p->send.text = p->text;
		p->send.fallback_template = r->number ? cfg->template_registered : NULL;
		p->send.fallback_params = p->params;
		p->send.words = words;
	} else if (r->number) {
		p->send.kind = "template";
		p->send.template_name = cfg->template_registered;
		p->send.params = p->params;
		p->holding = words;
	} else if (*r->text) {
		p->send = p->held;
	} else {
		p->sending = false;
	}
}

/* ---- #new: split a message and the later ones off into a new complaint -------------- */

/* NULL in *why when the reply's #new can be done; else why not. The message is the
 * mail the reply answers (In-Reply-To, else the last References entry): it must be a
 * citizen's message of this open complaint, not its first. False when the store fails. */
static bool split_refusal(const struct wb_config *cfg, struct wb_store *store,
			  const struct wb_complaint *c, const struct wb_reply *r, char **why,
			  GError **error)
{
	*why = NULL;
	if (r->transfer_to || bare_transfer(r->text) || r->transfers) {
		*why = g_strdup("the reply asks both to split a new complaint off (#new) and to "
				"transfer (#transfer); send one at a time: first #new, then "
				"#transfer in a reply to the new complaint's first mail");
		return true;
	}
	if (r->close) {
		*why = g_strdup("the reply asks both to split a new complaint off (#new) and to "
				"close (#close); send one at a time");
		return true;
	}
	if (strcmp(c->state, "open") != 0) {
		*why = g_strdup_printf("%s is closed, and nothing is split off a closed complaint",
				       c->ref);
		return true;
	}
	const char *at = r->answers ? strrchr(r->answers, '@') : NULL;
	if (!at || at == r->answers || g_ascii_strcasecmp(at + 1, cfg->domain) != 0) {
		*why = g_strdup_printf("#new needs a reply to the mail of the citizen's message "
				       "that starts the new incident, and this reply answers %s",
				       r->answers ? "no mail of the bridge" : "no mail at all (it "
				       "has no In-Reply-To or References)");
		return true;
	}
	g_autofree char *local = g_strndup(r->answers, (gsize)(at - r->answers));
	struct wb_split_probe p;
	if (!g_str_has_prefix(local, "wb-") && !wb_store_split_probe(store, local, &p, error))
		return false;
	if (g_str_has_prefix(local, "wb-") || !p.msg_id) {
		*why = g_strdup("the mail this reply answers is not a citizen's message (a note of "
				"the bridge, or a mail it does not know); #new must answer the mail "
				"of the message that starts the new incident");
	} else if (p.complaint_id != c->id) {
		g_autoptr(wb_complaint) other = wb_store_complaint(store, NULL, p.complaint_id, NULL);
		*why = g_strdup_printf("the message this reply answers belongs to complaint %s, not "
				       "to %s (was it split off already?)", other ? other->ref : "?",
				       c->ref);
	} else if (p.earlier == 0) {
		*why = g_strdup_printf("the message this reply answers is the first message of %s: "
				       "there is nothing to split off", c->ref);
	}
	return true;
}

/* What a split needs to say, and what its mails and send are made of (they must live
 * until the reply is kept). */
struct split_ask {
	const struct wb_config *cfg;
	const struct wb_templates *tpl;
	const struct wb_station *st;
	const struct wb_complaint *c;
	struct wb_reply *r;
	enum wb_lang lang;
	bool window;
	/* made by compose, inside the transaction */
	char *root, *note_id, *root_id, *to_ref;
	GBytes *note, *root_mail;
	struct send_plan plan;
	struct wb_mailop_in ops[3];
};

static bool compose_split(void *ctx, const struct wb_split_facts *f, struct wb_split_out *out,
			  GError **error)
{
	(void)error; /* a broken template: the split stands, the admin is told in the log */
	struct split_ask *x = ctx;
	g_autofree char *officer = officer_label(x->r);
	x->to_ref = g_strdup(f->to_ref);
	struct wb_split_words w = { .cfg = x->cfg, .st = x->st, .from_ref = f->from_ref,
				    .from_root = x->c->root, .to_ref = f->to_ref, .root = x->root,
				    .officer = officer, .text = x->r->text, .when = wb_now(),
				    .moved = f->moved };
	GError *e = NULL;
	x->note = wb_split_note(&w, x->note_id, &e);
	x->root_mail = x->note ? wb_split_root(&w, &e) : NULL;
	if (e) {
		g_warning("reply: the mails of the split of %s cannot be written: %s", f->from_ref,
			  e->message);
		g_clear_error(&e);
	}
	size_t n = 0;
	if (x->note)
		x->ops[n++] = (struct wb_mailop_in){ .station = x->st->key, .kind = "append",
						     .message_id = x->note_id, .mail = x->note };
	if (x->root_mail)
		x->ops[n++] = (struct wb_mailop_in){ .station = x->st->key, .kind = "append",
						     .message_id = x->root_id, .mail = x->root_mail };
	if (x->r->number)
		x->ops[n++] = (struct wb_mailop_in){ .station = x->st->key, .kind = "flag",
						     .message_id = x->root_id,
						     .keyword = "$WA_Registered" };
	struct wb_complaint to = *x->c;
	to.ref = (char *)f->to_ref;
	plan_send(x->cfg, x->tpl, x->st, &to, x->r, x->lang, x->window, &x->plan);
	*out = (struct wb_split_out){ .ops = x->ops, .n_ops = n,
				      .send = x->plan.sending ? &x->plan.send : NULL,
				      .held = x->plan.holding ? &x->plan.held : NULL };
	return true;
}

static void split_ask_clear(struct split_ask *x)
{
	g_free(x->root);
	g_free(x->note_id);
	g_free(x->root_id);
	g_free(x->to_ref);
	g_free(x->plan.text);
	g_free(x->plan.params);
	if (x->note)
		g_bytes_unref(x->note);
	if (x->root_mail)
		g_bytes_unref(x->root_mail);
}

/* The split is done in the reply's transaction; a number in the reply registers the NEW
 * complaint and goes to the citizen with the new reference. */
static enum wb_reply_outcome accept_split(struct wb_store *store, struct split_ask *x,
					  const char *by, const char *proof,
					  struct wb_reply_in *in, struct wb_reply_result *res)
{
	const char *domain = x->cfg->domain;
	g_autofree char *key_hash = wb_sha256_hex(in->key, strlen(in->key));
	x->root = g_strdup_printf("wb-split-%.32s", key_hash);
	x->root_id = g_strdup_printf("%s@%s", x->root, domain);
	x->note_id = g_strdup_printf("wb-split-%.32s-note@%s", key_hash, domain);
	const char *at = strrchr(x->r->answers, '@');
	g_autofree char *wamid = g_strndup(x->r->answers, (gsize)(at - x->r->answers));
	struct wb_split_in split = { .wamid = wamid, .code = x->st->code,
				     .timezone = x->cfg->timezone, .root = x->root,
				     .officer = x->r->from_addr, .compose = compose_split, .ctx = x };
	in->state = WB_RS_ACCEPTED;
	in->split = &split;
	in->send = NULL;
	in->ops = NULL;
	in->n_ops = 0;
	GError *e = NULL;
	bool already = false;
	enum wb_reply_outcome o;
	if (!wb_store_add_reply(store, in, &res->reply_id, &already, &e)) {
		o = store_failed(res, "splitting the complaint, so nothing was done", e);
	} else if (already) {
		res->replay = true;
		o = finish(res, WB_RA_OK, g_strdup_printf("the same reply (%s) was already "
			   "accepted as reply %" G_GINT64_FORMAT "; nothing is split or sent again",
			   in->key, res->reply_id));
	} else {
		const struct wb_outbox_in *s = x->plan.sending ? &x->plan.send : NULL;
		o = finish(res, WB_RA_OK, g_strdup_printf(
			"accepted from %s for %s (matched by %s, proven by %s)%s%s: split off into "
			"new complaint %s from message %s on; %s%s", x->r->from_addr, x->c->ref, by,
			proof, x->r->number ? ", complaint number (of the new complaint) " : "",
			x->r->number ? x->r->number : "", x->to_ref, wamid,
			!s ? "nothing to send" : s->fail_reason ? "cannot be sent: " : s->text
			? "WhatsApp text queued in " : "WhatsApp template queued in ",
			!s ? "" : s->fail_reason ? s->fail_reason : s->lang));
	}
	split_ask_clear(x);
	return o;
}

/* Everything after the parse: match, authorise, decide the send, keep. */
/* ---- the safety net: words that are not the officer's -------------------------------- */

/* Everything an officer's text must not repeat: the complaint's messages as the station
 * read them, what the bridge itself sent the citizen, the bridge's own mail text and the
 * complaint's state line. NULL when the store fails. */
static struct wb_echo *echo_of(const struct wb_config *cfg, struct wb_store *store,
			       const struct wb_station *st, const struct wb_complaint *c,
			       GError **error)
{
	g_autoptr(GPtrArray) msgs = wb_store_complaint_texts(store, c->id, 0, false, error);
	g_autoptr(GPtrArray) sent = msgs ? wb_store_outbox_texts(store, c->id, error) : NULL;
	g_autoptr(wb_duty_case) dc = sent ? wb_store_duty_case(store, c->id, error) : NULL;
	if (!dc)
		return NULL;
	struct wb_echo *e = wb_echo_new();
	for (guint i = 0; i < msgs->len; i++) {
		const struct wb_store_msg_text *m = msgs->pdata[i];
		struct wb_view *v = wb_view_build(m->type, m->json, NULL, m->ts, cfg->timezone);
		wb_echo_add(e, v->text);
		wb_echo_add(e, v->details);
		wb_view_free(v);
	}
	for (guint i = 0; i < sent->len; i++)
		wb_echo_add(e, sent->pdata[i]);
	const char *none[] = { NULL };
	g_autofree char *mail = wb_fill_text(cfg->tpl->text, none);
	g_autofree char *note = wb_fill_text(cfg->tpl->note_text, none);
	g_autofree char *state = wb_duty_state_line(cfg, st, dc, wb_now());
	wb_echo_add(e, mail);
	wb_echo_add(e, note);
	wb_echo_add(e, state);
	return e;
}

/* Why the officer's text may not be their own, or NULL: signs the parser left in it
 * (quote marks, an attribution, a separator, quoted header lines), or a run of words
 * of the complaint's or the bridge's texts. False when the store fails. */
static bool not_own_words(const struct wb_config *cfg, struct wb_store *store,
			  const struct wb_station *st, const struct wb_complaint *c,
			  const struct wb_reply *r, char **why, GError **error)
{
	*why = NULL;
	if (!*r->text)
		return true;
	g_autofree char *sign = NULL;
	if (wb_reply_text_suspicious(r->text, &sign)) {
		*why = g_strdup_printf("it still carries %s", sign);
		return true;
	}
	g_autoptr(wb_echo) echo = echo_of(cfg, store, st, c, error);
	if (!echo)
		return false;
	g_autofree char *run = wb_echo_find(echo, r->text);
	if (run) {
		g_autofree char *shown = wb_clean_line(run, 200);
		*why = g_strdup_printf("it repeats words of the complaint's own messages or of "
				       "the bridge's mails (\u201c%s\u201d), as a quoted mail "
				       "without '>' marks does", shown);
	}
	return true;
}

/* The notice for the thread, kept in m until the reply is stored with it. */
static void add_notice(const struct wb_config *cfg, const struct wb_station *st,
		       struct match *m, struct wb_reply_in *in, const char *kind,
		       const char *summary, const char *title, const char *body)
{
	g_autofree char *key_hash = wb_sha256_hex(in->key, strlen(in->key));
	m->notice_id = g_strdup_printf("wb-%s-%.32s@%s", kind, key_hash, cfg->domain);
	GError *e = NULL;
	m->notice = thread_note(cfg, st, m->c, m->notice_id, summary, title, body, NULL, &e);
	if (!m->notice) {
		g_warning("reply: the notice for %s cannot be written: %s", m->c->ref, e->message);
		g_error_free(e);
		return;
	}
	m->notice_op = (struct wb_mailop_in){ .station = st->key, .kind = "append",
					       .message_id = m->notice_id, .mail = m->notice };
	in->more_ops = &m->notice_op;
	in->n_more_ops = 1;
}

/* Hold the officer's words back: only the number (if any) goes, with the standard
 * text, and the thread says what was held back and why. */
static void hold_back(const struct wb_config *cfg, const struct wb_station *st,
		      struct match *m, struct wb_reply *r, struct wb_reply_in *in,
		      const char *why)
{
	g_autofree char *officer = officer_label(r);
	g_autofree char *what = r->number
		? g_strdup_printf("Only the complaint number %s went to the citizen, with the "
				  "standard text.", r->number)
		: g_strdup("Nothing was sent to the citizen.");
	g_autofree char *body = g_strdup_printf(
		"The bridge did not send the words of %s's reply to the citizen: %s. A reply's "
		"words go to the citizen's WhatsApp, so words that may be someone else's are "
		"never sent.\n\n%s\n\nIf the words are the officer's own, reply again with "
		"them above the quoted mail, or delete the quoted mail first.\n\n"
		"The words held back, as the bridge read them:\n%s",
		officer, why, what, r->text);
	add_notice(cfg, st, m, in, "heldback", "Officer's words NOT sent: they look like "
		   "quoted text", "The officer's words were held back", body);
	g_message("reply from %s for %s: the words are held back: %s", r->from_addr, m->c->ref,
		  why);
	/* The reply as stored keeps the words (in->text points at them); what is sent
	 * does not. */
	m->held_back = r->text;
	r->text = g_strdup("");
}

static enum wb_reply_outcome decide(const struct wb_config *cfg, struct wb_store *store,
				    const struct wb_templates *tpl, struct wb_reply *r,
				    const struct wb_reply_keys *k, struct match *m,
				    struct wb_reply_in *in, struct wb_reply_result *res)
{
	GError *e = NULL;
	if (!find_complaint(store, k, m, &e))
		return store_failed(res, "while matching the reply", e);
	in->matched_by = m->by;
	in->complaint_id = m->c ? m->c->id : 0;
	if (m->forged || !m->c) {
		in->state = m->forged ? WB_RS_UNAUTHORISED : WB_RS_UNMATCHED;
		in->reason = m->why;
		return keep(store, in, res, m->forged ? WB_RA_FORBIDDEN : WB_RA_NO_MATCH,
			    g_strdup_printf("%s; nothing was sent to anyone", m->why));
	}
	const struct wb_station *st = wb_config_station_stored(cfg, m->c->station);
	g_autoptr(GPtrArray) transfers = wb_store_transfers(store, m->c->id, &e);
	if (!transfers)
		return store_failed(res, "reading the complaint's transfers", e);
	g_autofree char *proof = NULL;
	const struct wb_station *tell = NULL;
	char *why = st ? refusal(cfg, st, m, r, transfers, &proof, &tell)
		: g_strdup_printf("complaint %s belongs to station %s, which is no longer "
				  "configured", m->c->ref, m->c->station);
	if (why)
		return refuse(cfg, store, tell, m->c, r, in, res, why);
	if (st->number_patterns[0] && !r->number)
		r->number = wb_reply_find_number(r->text, (const char *const *)st->number_patterns);
	in->text = r->text;
	in->number = r->number;
	const struct wb_station *to = NULL;
	char *no_transfer = transfer_refusal(cfg, st, m->c, r, &to);
	if (no_transfer)
		return refuse_tag(cfg, store, st, m->c, in, res, no_transfer, &transfer_note);
	char *no_split = NULL;
	if (r->split && !split_refusal(cfg, store, m->c, r, &no_split, &e))
		return store_failed(res, "looking at the message to split off", e);
	if (no_split)
		return refuse_tag(cfg, store, st, m->c, in, res, no_split, &split_note);
	if (!*r->text && !r->number && !in->tags) {
		in->state = WB_RS_EMPTY;
		in->reason = "the reply has no new text, no complaint number and no tag";
		g_autofree char *officer = officer_label(r);
		g_autofree char *body = g_strdup_printf(
			"The bridge found no words of the officer's own, no complaint number and no "
			"tag in the reply of %s (subject \u201c%s\u201d). Nothing was sent to the "
			"citizen. If it held an answer, write it above the quoted mail and reply "
			"again.", officer, r->subject ? r->subject : "");
		add_notice(cfg, st, m, in, "empty", "Reply not understood: nothing was sent to "
			   "the citizen", "The reply had nothing the bridge could send", body);
		return keep(store, in, res, WB_RA_BAD, g_strdup_printf("%s (for %s); nothing was "
			    "sent to the citizen", in->reason, m->c->ref));
	}
	g_autofree char *not_own = NULL;
	if (!not_own_words(cfg, store, st, m->c, r, &not_own, &e))
		return store_failed(res, "reading the complaint's texts", e);
	if (not_own)
		hold_back(cfg, st, m, r, in, not_own);

	g_autoptr(GPtrArray) msgs = wb_store_complaint_messages(store, m->c->id, 50, &e);
	if (!msgs)
		return store_failed(res, "reading the complaint", e);
	int fb = wb_lang_parse(cfg->default_language);
	enum wb_lang lang = wb_guess_lang(msgs, fb < 0 ? WB_LANG_BN : (enum wb_lang)fb);
	bool window = m->c->last_inbound > 0 && wb_now() - m->c->last_inbound < WB_WINDOW_SECONDS;
	if (to) {
		struct transfer_words w = { .from = st, .to = to, .c = m->c, .r = r };
		return accept_transfer(cfg, store, tpl, &w, m->by, proof, lang, window, in, res);
	}
	if (r->split) {
		struct split_ask ask = { .cfg = cfg, .tpl = tpl, .st = st, .c = m->c, .r = r,
					 .lang = lang, .window = window };
		return accept_split(store, &ask, m->by, proof, in, res);
	}
	struct send_plan plan = { 0 };
	plan_send(cfg, tpl, st, m->c, r, lang, window, &plan);
	struct wb_outbox_in send = plan.send;
	bool sending = plan.sending;
	g_autofree char *first_mail = wb_message_id(m->c->root, cfg->domain);
	struct wb_mailop_in op = { .station = st->key, .kind = "flag", .message_id = first_mail,
				   .keyword = "$WA_Registered" };
	in->state = WB_RS_ACCEPTED;
	in->send = sending ? &send : NULL;
	in->held = plan.holding ? &plan.held : NULL;
	in->ops = r->number ? &op : NULL;
	in->n_ops = r->number ? 1 : 0;
	in->close = r->close;
	const char *what = !sending ? "nothing to send" : send.fail_reason ? "cannot be sent: "
			   : send.hold ? "the words wait for the citizen's next message (the "
					 "24-hour window has closed), in "
			   : plan.holding ? "WhatsApp template queued (the words wait for the "
					    "citizen's next message) in "
			   : strcmp(send.kind, "text") == 0 ? "WhatsApp text queued in "
			   : "WhatsApp template queued in ";
	enum wb_reply_outcome o = keep(store, in, res, WB_RA_OK, g_strdup_printf(
		"accepted from %s for %s (matched by %s, proven by %s)%s%s%s; %s%s", r->from_addr,
		m->c->ref, m->by, proof, r->number ? ", complaint number " : "",
		r->number ? r->number : "",
		in->tags ? (r->close ? ", closed" : ", tags read") : "", what,
		!sending ? "" : send.fail_reason ? send.fail_reason : send.lang));
	g_free(plan.text);
	g_free(plan.params);
	return o;
}

enum wb_reply_outcome wb_reply_take(const struct wb_config *cfg, struct wb_store *store,
				    const void *mail, size_t len,
				    const char *source, const char *const *envelope,
				    struct wb_reply_result *res)
{
	memset(res, 0, sizeof *res);
	wb_metrics_reply_parsed();
	g_autofree char *sha = wb_sha256_hex(mail, len);
	g_autofree char *sha_key = g_strconcat("sha256:", sha, NULL);
	struct wb_reply_in in = { .key = sha_key, .sha256 = sha, .source = source, .mail = mail,
				  .len = len };
	g_autoptr(GError) perr = NULL;
	struct wb_reply *r = wb_reply_parse(mail, len, NULL, &perr);
	if (!r) {
		in.state = WB_RS_UNPARSABLE;
		in.reason = perr->message;
		return keep(store, &in, res, WB_RA_BAD, g_strdup_printf("unparsable: %s",
									 perr->message));
	}
	struct wb_reply_keys *k = wb_reply_keys_new(r, envelope, cfg->replies_address,
						    cfg->domain, cfg->token_secret);
	if (k->mail_key)
		in.key = k->mail_key;
	in.sender = r->from_addr;
	in.sender_name = r->from_name;
	g_autofree char *tags = tags_text(r);
	in.tags = tags;
	struct match m = { 0 };
	enum wb_reply_outcome out = decide(cfg, store, cfg->tpl, r, k, &m, &in, res);
	wb_complaint_free(m.c);
	g_free(m.why);
	g_free(m.notice_id);
	g_free(m.held_back);
	if (m.notice)
		g_bytes_unref(m.notice);
	wb_reply_keys_free(k);
	wb_reply_free(r);
	return out;
}

/* ---- the watched replies mailbox ----------------------------------------------------- */

struct poll_ctx {
	const struct wb_config *cfg;
	struct wb_store *store;
};

static enum wb_reply_verdict take_from_mailbox(const void *mail, size_t len, void *data)
{
	struct poll_ctx *x = data;
	struct wb_reply_result r;
	enum wb_reply_outcome o = wb_reply_take(x->cfg, x->store, mail, len, "imap", NULL, &r);
	wb_reply_result_clear(&r);
	return o == WB_RA_TEMP ? WB_REPLY_RETRY : o == WB_RA_OK ? WB_REPLY_DONE
							       : WB_REPLY_REJECTED;
}

bool wb_reply_poll_mailbox(const struct wb_config *cfg, struct wb_store *store,
			   struct wb_replywatch *w,
			   const gint *stop, unsigned *taken, GError **error)
{
	*taken = 0;
	struct wb_replywatch *own = w ? NULL : wb_replywatch_open(cfg, error);
	if (!w && !own)
		return false;
	struct poll_ctx x = { cfg, store };
	bool ok = wb_replywatch_poll(w ? w : own, take_from_mailbox, &x, stop, taken, error);
	if (own)
		wb_replywatch_close(own);
	return ok;
}
