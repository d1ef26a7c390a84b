/* wasend: sending one WhatsApp message to a citizen (contract in wasend.h).
 *
 * Design:
 * - wb_send_body() is pure: one request, one string of bytes. Both back ends return that
 *   string as request_json, so what the dry run shows is what the Graph back end sends.
 *   Keys come in the header's order (jansson keeps insertion order), as in Meta's examples.
 * - Text and parameters are cleaned here, not by callers: valid UTF-8 without controls
 *   (CRLF made LF), the text cut to 4096 characters (Unicode code points) at a grapheme
 *   boundary, so a Bengali conjunct or an emoji sequence is never split; parameters lose
 *   newlines, tabs and runs of more than four spaces, which Graph refuses with 132018.
 * - The request is checked before anything is sent. A bad message field is a bug upstream
 *   (FINAL); a bad token, api_base or phone_number_id is configuration (LATER: a human
 *   must act). The dry run checks the message fields only: it needs no connection settings.
 * - HTTP as every Graph request makes it (graph.h): one curl handle per call (threads may
 *   send at once), the token only as a bearer, https only and plain http just to loopback
 *   (the fake), every error message scrubbed of the token. No redirect is followed
 *   (Graph sends none).
 * - A send is not idempotent. Once Graph has answered 2xx the message is accepted, so a
 *   2xx answer we cannot read (no wamid, cut short, not JSON) is FINAL: retrying could send
 *   the citizen the same reply twice, and a human should look at it. A timeout or dropped
 *   connection before any answer is SOON, as the header promises: a rare duplicate is the
 *   lesser harm than an officer's reply that never arrives.
 * - Nothing here logs. */
#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "caps.h"
#include "graph.h"
#include "util.h"
#include "wasend.h"

#define TEXT_SCAN_BYTES   (4u * (WB_MAX_SEND_TEXT_CHARS + 1u)) /* holds 4097 characters:
					* enough to see whether the 4096th ends a grapheme */
#define PARAM_MAX_SPACES  4u     /* a longer run of spaces is refused (132018) */

G_DEFINE_QUARK(wb-send-error-quark, wb_send_error)

/* ---- the body ---------------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s != NULL ? s : "", -1);
	return json_string(valid);
}

static bool given(const char *s)
{
	return s != NULL && *s != '\0';
}

/* The text as sent: cleaned, then cut to WB_MAX_SEND_TEXT_CHARS at a grapheme boundary. */
static char *clean_body(const char *text)
{
	const char *t = text != NULL ? text : "";
	char *c = wb_clean_text(t, strlen(t), TEXT_SCAN_BYTES);
	c[wb_grapheme_cut(c, WB_MAX_SEND_TEXT_CHARS)] = '\0';
	return c;
}

/* A parameter as sent: newlines and tabs become spaces, a run of more than
 * PARAM_MAX_SPACES spaces becomes one, leading and trailing spaces go (a parameter ending
 * in the mail's newline would show as a stray space), cut to WB_MAX_PARAM_CHARS. */
static char *clean_param(const char *p)
{
	const char *in = p != NULL ? p : "";
	g_autofree char *c = wb_clean_text(in, strlen(in), SIZE_MAX);
	GString *out = g_string_new(NULL);
	size_t spaces = 0;
	for (const char *q = c; *q != '\0'; q++) {
		if (*q == ' ' || *q == '\n' || *q == '\t') {
			spaces++;
			continue;
		}
		if (out->len > 0 && spaces > 0)
			g_string_append_len(out, "     ", spaces > PARAM_MAX_SPACES ? 1 : (gssize)spaces);
		g_string_append_c(out, *q);
		spaces = 0;
	}
	g_string_truncate(out, wb_grapheme_cut(out->str, WB_MAX_PARAM_CHARS));
	return g_strchomp(g_string_free(out, FALSE));
}

static json_t *text_part(const struct wb_send_req *req)
{
	g_autofree char *body = clean_body(req->text);
	return json_pack("{s:b, s:s}", "preview_url", 0, "body", body);
}

/* No "components" at all for a template without parameters: Graph refuses an empty list. */
static json_t *template_part(const struct wb_send_req *req)
{
	json_t *t = json_pack("{s:o, s:{s:o}}", "name", jstr(req->template_name), "language",
			      "code", jstr(req->template_lang));
	if (req->params == NULL || req->params[0] == NULL)
		return t;
	json_t *params = json_array();
	for (const char *const *p = req->params; *p != NULL; p++) {
		g_autofree char *v = clean_param(*p);
		json_array_append_new(params, json_pack("{s:s, s:s}", "type", "text", "text", v));
	}
	json_object_set_new(t, "components",
			    json_pack("[{s:s, s:o}]", "type", "body", "parameters", params));
	return t;
}

char *wb_send_body(const struct wb_send_req *req)
{
	bool text = req->kind == WB_SEND_TEXT;
	json_t *o = json_pack("{s:s, s:s, s:o, s:s}", "messaging_product", "whatsapp",
			      "recipient_type", "individual", "to", jstr(req->to), "type",
			      text ? "text" : "template");
	if (text)
		json_object_set_new(o, "text", text_part(req));
	else
		json_object_set_new(o, "template", template_part(req));
	if (text && given(req->context_wamid))
		json_object_set_new(o, "context", json_pack("{s:o}", "message_id",
							    jstr(req->context_wamid)));
	if (given(req->opaque)) {
		g_autofree char *v = wb_clean_text(req->opaque, strlen(req->opaque),
						 WB_MAX_OPAQUE_BYTES);
		json_object_set_new(o, "biz_opaque_callback_data", json_string(v));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char *copy = g_strdup(s);  /* the caller g_free()s; jansson's memory goes with free() */
	free(s);
	return copy;
}

/* ---- errors ------------------------------------------------------------------------ */

static void fail(GError **error, const struct wb_send_req *req, enum wb_fail code,
		 const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* Sets error to "send: <message>", the token scrubbed out. */
static void fail(GError **error, const struct wb_send_req *req, enum wb_fail code,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	wb_graph_set_error(error, WB_SEND_ERROR, code, req->access_token, "send: %s", msg);
}

/* Graph error codes of sending by what to do next (wasend.h, reference §12), besides
 * those of every endpoint (graph.c). is_transient wins over them; a code in neither is
 * classified by the HTTP status (status_fail). */
static const struct wb_graph_code send_codes[] = {
	{ 131056, 131056, WB_FAIL_SOON },   /* pair rate limit: same citizen too often */
	{ 131031, 131031, WB_FAIL_LATER },  /* account locked */
	{ 131037, 131037, WB_FAIL_LATER },  /* display name not approved */
	{ 131042, 131042, WB_FAIL_LATER },  /* payment method */
	{ 131045, 131045, WB_FAIL_LATER },  /* number registration */
	{ 133010, 133010, WB_FAIL_LATER },  /* number not registered */
	{ 131008, 131009, WB_FAIL_FINAL },  /* missing / invalid parameter */
	{ 131021, 131021, WB_FAIL_FINAL },  /* recipient is the sender */
	{ 131026, 131026, WB_FAIL_FINAL },  /* undeliverable */
	{ 131030, 131030, WB_FAIL_FINAL },  /* not in the test number's allowed list */
	{ 131047, 131047, WB_FAIL_FINAL },  /* 24 h window closed: send the template */
	{ 131051, 131051, WB_FAIL_FINAL },  /* unsupported message type */
	{ 131062, 131062, WB_FAIL_FINAL },  /* BSUID recipient not supported */
	{ 132000, 132099, WB_FAIL_FINAL },  /* template problems */
};

/* An answer without a Graph code we know. A 2xx here is an accepted message we cannot
 * read (see the design note); 3xx is a redirect we do not follow (a proxy, a wrong
 * api_base); 401/403 without a code is a proxy's or Graph's refusal of our credentials. */
static enum wb_fail status_fail(long status)
{
	if (status == 408 || status == 429 || status >= 500)
		return WB_FAIL_SOON;
	if (status < 300)
		return WB_FAIL_FINAL;
	if (status < 400 || status == 401 || status == 403)
		return WB_FAIL_LATER;
	return WB_FAIL_FINAL;
}

static enum wb_fail classify(long status, const struct wb_graph_error *g)
{
	enum wb_fail f = wb_graph_classify(g, send_codes, G_N_ELEMENTS(send_codes));
	return f != WB_FAIL_NONE ? f : status_fail(status);
}

/* ---- one POST ---------------------------------------------------------------------- */

/* POSTs body; the outcome (curl code, status, answer) is left in r. An answer longer than
 * WB_MAX_GRAPH_REPLY_BYTES stops the transfer (curl then reports a write error, and a 2xx
 * so cut short is an unreadable success). */
static void post(const struct wb_send_req *req, const char *body, struct wb_graph_reply *r)
{
	g_autofree char *url = wb_graph_url(req->api_base, "%s/messages", req->phone_number_id);
	const struct wb_graph_request q = {
		.url = url,
		.access_token = req->access_token,
		.ca_file = req->ca_file,
		.json = body,
		.timeout_s = req->timeout_s > 0 ? req->timeout_s : WB_SEND_TIMEOUT_S,
	};
	wb_graph_reply_init(r, WB_MAX_GRAPH_REPLY_BYTES, false);
	wb_graph_exchange(&q, r);
}

/* ---- the answer -------------------------------------------------------------------- */

/* A wamid. */
static bool id_ok(const char *s)
{
	return wb_graph_visible(s) && strlen(s) <= WB_MAX_ID_BYTES;
}

/* An answer that is not a success: the message names the status, Graph's code, subcode
 * and fbtrace_id, then Graph's message and details (or a proxy's own text). */
static bool refused(const struct wb_send_req *req, const struct wb_graph_reply *r,
		    json_t *root, int *graph_code, GError **error)
{
	struct wb_graph_error g;
	wb_graph_error_parse(root, &g);
	*graph_code = g.code >= 0 && g.code <= INT_MAX ? (int)g.code : 0;
	GString *s = g_string_new(NULL);
	wb_graph_error_append(s, r->status, &g, root == NULL ? r->body : NULL);
	if (given(g.details))
		g_string_append_printf(s, " (%s)", g.details);
	fail(error, req, classify(r->status, &g), "%s", s->str);
	g_string_free(s, TRUE);
	wb_graph_error_clear(&g);
	return false;
}

/* A 2xx answer: {"messages":[{"id":"wamid…"}]} gives the wamid; one that carries an error
 * object is refused() like any other; anything else is FINAL (the design note). */
static bool accepted(const struct wb_send_req *req, const struct wb_graph_reply *r,
		     char **wamid, int *graph_code, GError **error)
{
	json_t *root = r->rc == CURLE_OK
		? json_loadb((const char *)r->body->data, r->body->len, 0, NULL) : NULL;
	json_t *first = json_array_get(json_object_get(root, "messages"), 0);
	const char *id = json_string_value(json_object_get(first, "id"));
	bool ok = id_ok(id);
	if (ok)
		*wamid = g_strdup(id);
	else if (json_is_object(json_object_get(root, "error")))
		refused(req, r, root, graph_code, error);
	else
		fail(error, req, WB_FAIL_FINAL, "HTTP %ld but %s; Graph may have accepted the "
		     "message, so it is not sent again", r->status,
		     r->rc != CURLE_OK ? "the answer was cut short" : "no message id in the answer");
	json_decref(root);
	return ok;
}

/* A malformed URL is LATER here: it can only come from api_base, configuration. */
static bool transfer_failed(const struct wb_send_req *req, const struct wb_graph_reply *r,
			    GError **error)
{
	g_autofree char *text = NULL;
	enum wb_fail f = wb_graph_transfer_fail(r, WB_FAIL_LATER, &text);
	fail(error, req, f, "%s", text);
	return false;
}

/* A finished POST as a wamid or a classified error. */
static bool outcome(const struct wb_send_req *req, const struct wb_graph_reply *r,
		    char **wamid, int *graph_code, GError **error)
{
	if (r->status >= 200 && r->status <= 299)
		return accepted(req, r, wamid, graph_code, error);
	if (r->status >= 300) {  /* also when cut short: what came is enough to classify */
		json_t *root = json_loadb((const char *)r->body->data, r->body->len, 0, NULL);
		refused(req, r, root, graph_code, error);
		json_decref(root);
		return false;
	}
	if (r->rc != CURLE_OK)
		return transfer_failed(req, r, error);
	fail(error, req, WB_FAIL_SOON, "no HTTP answer (status %ld)", r->status);
	return false;
}

/* ---- checks before sending ---------------------------------------------------------- */

/* 1 to max characters, each in the set. */
static bool only(const char *s, size_t max, const char *set)
{
	size_t n = s != NULL ? strlen(s) : 0;
	return n > 0 && n <= max && strspn(s, set) == n;
}

#define DIGITS "0123456789"
#define LOWER  "abcdefghijklmnopqrstuvwxyz"
#define UPPER  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

static const char *text_problem(const struct wb_send_req *req)
{
	if (given(req->context_wamid) && !id_ok(req->context_wamid))
		return "the quoted message's wamid is not an id";
	g_autofree char *body = clean_body(req->text);
	return g_strstrip(body)[0] == '\0' ? "the text is empty" : NULL;
}

static const char *template_problem(const struct wb_send_req *req)
{
	if (!only(req->template_name, WB_MAX_TEMPLATE_CHARS, LOWER DIGITS "_"))
		return "the template name is not lowercase letters, digits and _";
	if (!only(req->template_lang, WB_MAX_LANG_CHARS, LOWER UPPER "_"))
		return "the template language is not a code like bn or en_US";
	for (const char *const *p = req->params; p != NULL && *p != NULL; p++) {
		g_autofree char *v = clean_param(*p);
		if (*v == '\0')
			return "a template parameter is empty";
	}
	return NULL;
}

/* The message itself, for both back ends: a problem here is a bug upstream (FINAL). */
static bool message_ok(const struct wb_send_req *req, GError **error)
{
	const char *to = req->to != NULL && req->to[0] == '+' ? req->to + 1 : req->to;
	const char *why = NULL;
	if (!only(to, WB_MAX_ID_BYTES, DIGITS))
		why = "the recipient is not a WhatsApp id (digits)";
	else if (req->kind == WB_SEND_TEXT)
		why = text_problem(req);
	else if (req->kind == WB_SEND_TEMPLATE)
		why = template_problem(req);
	else
		why = "unknown kind of message";
	if (why != NULL)
		fail(error, req, WB_FAIL_FINAL, "%s", why);
	return why == NULL;
}

/* The connection settings, for the Graph back end: configuration (LATER). */
static bool connection_ok(const struct wb_send_req *req, GError **error)
{
	const char *why = wb_graph_settings_problem(req->access_token, req->api_base);
	if (why == NULL && !only(req->phone_number_id, WB_MAX_ID_BYTES, DIGITS))
		why = "the phone_number_id is not digits";
	if (why != NULL)
		fail(error, req, WB_FAIL_LATER, "%s", why);
	return why == NULL;
}

/* ---- the back ends ----------------------------------------------------------------- */

static bool graph_send(const struct wb_send_req *req, struct wb_send_result *out,
		       int *graph_code, GError **error)
{
	int unused;
	graph_code = graph_code != NULL ? graph_code : &unused;
	*graph_code = 0;
	*out = (struct wb_send_result){ 0 };
	if (!message_ok(req, error) || !connection_ok(req, error))
		return false;
	char *body = wb_send_body(req);
	struct wb_graph_reply r;
	post(req, body, &r);
	bool ok = outcome(req, &r, &out->wamid, graph_code, error);
	wb_graph_reply_clear(&r);
	if (ok)
		out->request_json = body;
	else
		g_free(body);
	return ok;
}

static bool dry_run_send(const struct wb_send_req *req, struct wb_send_result *out,
			 int *graph_code, GError **error)
{
	if (graph_code != NULL)
		*graph_code = 0;
	*out = (struct wb_send_result){ 0 };
	if (!message_ok(req, error))
		return false;
	out->request_json = wb_send_body(req);
	out->wamid = g_strdup_printf("wamid.dryrun.%08" G_GINT32_MODIFIER "x%08"
				     G_GINT32_MODIFIER "x", g_random_int(), g_random_int());
	return true;
}

const struct wb_sender_ops wb_sender_graph = { .name = "graph", .send = graph_send };
const struct wb_sender_ops wb_sender_dry_run = { .name = "dry-run", .send = dry_run_send };

void wb_send_result_clear(struct wb_send_result *r)
{
	g_free(r->wamid);
	g_free(r->request_json);
	*r = (struct wb_send_result){ 0 };
}
