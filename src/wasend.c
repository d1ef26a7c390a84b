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
 * - HTTP as in media.c: one curl easy handle per call (threads may send at once; main()
 *   calls curl_global_init), the token only as CURLOPT_XOAUTH2_BEARER, no redirect
 *   followed (Graph sends none), https only and plain http just to loopback (the fake),
 *   peer and host verified, every error message scrubbed of the token.
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
#include "media.h"  /* wb_media_user_agent(): one User-Agent for every Graph request */
#include "util.h"
#include "wasend.h"

#define TEXT_MAX_CHARS    4096u  /* text.body, Meta's cap */
#define TEXT_SCAN_BYTES   (4u * (TEXT_MAX_CHARS + 1u)) /* holds 4097 characters: enough to
							* see whether the 4096th ends a grapheme */
#define PARAM_MAX_CHARS   1024u  /* one template parameter */
#define PARAM_MAX_SPACES  4u     /* a longer run of spaces is refused (132018) */
#define OPAQUE_MAX_BYTES  512u   /* biz_opaque_callback_data */
#define TEMPLATE_NAME_MAX 512u   /* Meta's cap on template names */
#define LANG_MAX          15u    /* "bn", "en_US", "zh_HK" … */
#define REPLY_MAX         (64u * 1024u) /* bytes kept of an answer */
#define CONNECT_TIMEOUT_S 15L
#define DEFAULT_TIMEOUT_S 30L
#define GRAPH_TEXT_MAX    300u   /* characters of Graph's message or details in an error */
#define FBTRACE_MAX       64u

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

/* The text as sent: cleaned, then cut to TEXT_MAX_CHARS at a grapheme boundary. */
static char *clean_body(const char *text)
{
	const char *t = text != NULL ? text : "";
	char *c = wb_clean_text(t, strlen(t), TEXT_SCAN_BYTES);
	c[wb_grapheme_cut(c, TEXT_MAX_CHARS)] = '\0';
	return c;
}

/* A parameter as sent: newlines and tabs become spaces, a run of more than
 * PARAM_MAX_SPACES spaces becomes one, leading and trailing spaces go (a parameter ending
 * in the mail's newline would show as a stray space), cut to PARAM_MAX_CHARS. */
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
	g_string_truncate(out, wb_grapheme_cut(out->str, PARAM_MAX_CHARS));
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
		g_autofree char *v = wb_clean_text(req->opaque, strlen(req->opaque), OPAQUE_MAX_BYTES);
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

/* Sets error to "send: <message>", with the token replaced should anyone echo it back
 * (one shorter than 8 characters is no real token and would only garble the message). */
static void fail(GError **error, const struct wb_send_req *req, enum wb_fail code,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	GString *s = g_string_new("send: ");
	g_string_append(s, msg);
	if (req->access_token != NULL && strlen(req->access_token) >= 8)
		g_string_replace(s, req->access_token, "[token]", 0);
	g_set_error_literal(error, WB_SEND_ERROR, code, s->str);
	g_string_free(s, TRUE);
}

/* Graph error codes by what to do next (wasend.h, reference §12). is_transient wins
 * over them; a code not here is classified by the HTTP status (status_fail). */
static const struct {
	json_int_t lo, hi;
	enum wb_fail fail;
} graph_codes[] = {
	{ 1, 2, WB_FAIL_SOON },             /* unknown / temporary service error */
	{ 4, 4, WB_FAIL_SOON },             /* app rate limit */
	{ 80007, 80007, WB_FAIL_SOON },     /* WABA rate limit */
	{ 130429, 130429, WB_FAIL_SOON },   /* the number's throughput */
	{ 131000, 131000, WB_FAIL_SOON },   /* something went wrong */
	{ 131016, 131016, WB_FAIL_SOON },   /* service unavailable */
	{ 131056, 131056, WB_FAIL_SOON },   /* pair rate limit: same citizen too often */
	{ 0, 0, WB_FAIL_LATER },            /* auth, capability, permission */
	{ 3, 3, WB_FAIL_LATER },
	{ 10, 10, WB_FAIL_LATER },
	{ 190, 190, WB_FAIL_LATER },        /* token expired or invalid: stop, alert */
	{ 200, 299, WB_FAIL_LATER },
	{ 368, 368, WB_FAIL_LATER },        /* blocked for policy violations */
	{ 131031, 131031, WB_FAIL_LATER },  /* account locked */
	{ 131037, 131037, WB_FAIL_LATER },  /* display name not approved */
	{ 131042, 131042, WB_FAIL_LATER },  /* payment method */
	{ 131045, 131045, WB_FAIL_LATER },  /* number registration */
	{ 131057, 131057, WB_FAIL_LATER },  /* account in maintenance */
	{ 133010, 133010, WB_FAIL_LATER },  /* number not registered */
	{ 100, 100, WB_FAIL_FINAL },        /* invalid parameter */
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

/* A Graph error body; code, subcode and transient are -1 when absent. */
struct graph_error {
	json_int_t code, subcode;
	int transient;
	char *message, *details, *fbtrace;
};

static enum wb_fail classify(long status, const struct graph_error *g)
{
	if (g->transient == 1)
		return WB_FAIL_SOON;
	for (size_t i = 0; i < G_N_ELEMENTS(graph_codes); i++)
		if (g->code >= graph_codes[i].lo && g->code <= graph_codes[i].hi)
			return graph_codes[i].fail;
	return status_fail(status);
}

static char *json_line(json_t *obj, const char *key, size_t max)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s != NULL ? wb_clean_line(s, max) : NULL;
}

/* Fills g from root's "error" object (any of it may be missing). */
static void graph_error_parse(json_t *root, struct graph_error *g)
{
	*g = (struct graph_error){ .code = -1, .subcode = -1, .transient = -1 };
	json_t *e = json_object_get(root, "error");
	json_t *v;
	if (json_is_integer(v = json_object_get(e, "code")))
		g->code = json_integer_value(v);
	if (json_is_integer(v = json_object_get(e, "error_subcode")))
		g->subcode = json_integer_value(v);
	if (json_is_boolean(v = json_object_get(e, "is_transient")))
		g->transient = json_is_true(v);
	g->message = json_line(e, "message", GRAPH_TEXT_MAX);
	g->details = json_line(json_object_get(e, "error_data"), "details", GRAPH_TEXT_MAX);
	g->fbtrace = json_line(e, "fbtrace_id", FBTRACE_MAX);
}

static void graph_error_clear(struct graph_error *g)
{
	g_free(g->message);
	g_free(g->details);
	g_free(g->fbtrace);
}

/* ---- one POST ---------------------------------------------------------------------- */

struct reply {
	GByteArray *body;    /* at most REPLY_MAX bytes */
	long status;         /* 0 when no answer came */
	CURLcode rc;
	char errbuf[CURL_ERROR_SIZE];
};

/* Keeps the answer; a longer one than REPLY_MAX stops the transfer (curl then reports a
 * write error, and a 2xx so cut short is an unreadable success). */
static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct reply *r = user;
	size_t len = size * n;
	if (len > REPLY_MAX - r->body->len)
		return 0;
	g_byte_array_append(r->body, (const guint8 *)data, (guint)len);
	return len;
}

static bool is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	       g_ascii_strcasecmp(host, "localhost") == 0;
}

/* https anywhere, http only to this machine; *plain tells which. */
static bool url_allowed(const char *url, bool *plain)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	*plain = ok && strcmp(scheme, "http") == 0;
	ok = ok && (strcmp(scheme, "https") == 0 || (*plain && is_loopback(host)));
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static char *messages_url(const struct wb_send_req *req)
{
	g_autofree char *base = g_strdup(req->api_base);
	for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
		base[n - 1] = '\0';
	return g_strdup_printf("%s/%s/messages", base, req->phone_number_id);
}

static CURLcode setup(CURL *h, const struct wb_send_req *req, const char *url,
		      const char *body, struct curl_slist *headers, struct reply *r)
{
	bool plain = false;
	url_allowed(url, &plain);  /* connection_ok() checked api_base */
	const char *protocols = plain ? "http,https" : "https";
	const struct { CURLoption opt; long val; } longs[] = {
		{ CURLOPT_NOSIGNAL, 1L },
		{ CURLOPT_FOLLOWLOCATION, 0L },
		{ CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER },
		{ CURLOPT_SSL_VERIFYPEER, 1L },
		{ CURLOPT_SSL_VERIFYHOST, 2L },
		{ CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S },
		{ CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : DEFAULT_TIMEOUT_S },
	};
	const struct { CURLoption opt; const char *val; } strings[] = {
		{ CURLOPT_URL, url },
		{ CURLOPT_USERAGENT, wb_media_user_agent() },
		{ CURLOPT_XOAUTH2_BEARER, req->access_token },
		{ CURLOPT_PROTOCOLS_STR, protocols },
		{ CURLOPT_REDIR_PROTOCOLS_STR, protocols },
		{ CURLOPT_CAINFO, req->ca_file },  /* skipped when NULL: the system CAs */
		{ CURLOPT_POSTFIELDS, body },      /* not copied: body outlives the transfer */
	};
	CURLcode rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	for (size_t i = 0; i < G_N_ELEMENTS(longs) && rc == CURLE_OK; i++)
		rc = curl_easy_setopt(h, longs[i].opt, longs[i].val);
	for (size_t i = 0; i < G_N_ELEMENTS(strings) && rc == CURLE_OK; i++)
		if (strings[i].val != NULL)
			rc = curl_easy_setopt(h, strings[i].opt, strings[i].val);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	return rc;
}

/* POSTs body; the outcome (curl code, status, answer) is left in r. "Expect:" turns off
 * curl's 100-continue round trip for bodies over 1 KiB (a long Bengali reply). */
static void post(const struct wb_send_req *req, const char *body, struct reply *r)
{
	*r = (struct reply){ .body = g_byte_array_new() };
	g_autofree char *url = messages_url(req);
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	CURL *h = curl_easy_init();
	r->rc = h == NULL || headers == NULL ? CURLE_FAILED_INIT
					     : setup(h, req, url, body, headers, r);
	if (r->rc == CURLE_OK)
		r->rc = curl_easy_perform(h);
	if (h != NULL)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
}

/* ---- the answer -------------------------------------------------------------------- */

/* Visible ASCII, at least one character: an id or a token (anything else could split a
 * header or a log line). */
static bool visible(const char *s)
{
	if (!given(s))
		return false;
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

/* A wamid. */
static bool id_ok(const char *s)
{
	return visible(s) && strlen(s) <= WB_MAX_ID_BYTES;
}

/* An answer that is not a success: the message names the status, Graph's code, subcode
 * and fbtrace_id, then Graph's message and details (or a proxy's own text). */
static bool refused(const struct wb_send_req *req, const struct reply *r, json_t *root,
		    int *graph_code, GError **error)
{
	struct graph_error g;
	graph_error_parse(root, &g);
	*graph_code = g.code >= 0 && g.code <= INT_MAX ? (int)g.code : 0;
	GString *s = g_string_new(NULL);
	g_string_printf(s, "HTTP %ld", r->status);
	if (g.code >= 0)
		g_string_append_printf(s, ", Graph code %" JSON_INTEGER_FORMAT, g.code);
	if (g.subcode >= 0)
		g_string_append_printf(s, " (subcode %" JSON_INTEGER_FORMAT ")", g.subcode);
	if (g.fbtrace != NULL)
		g_string_append_printf(s, ", fbtrace_id %s", g.fbtrace);
	if (g.message == NULL && root == NULL && r->body->len > 0) {
		g_autofree char *raw = g_strndup((const char *)r->body->data, r->body->len);
		g.message = wb_clean_line(raw, GRAPH_TEXT_MAX);
	}
	if (given(g.message))
		g_string_append_printf(s, ": %s", g.message);
	if (given(g.details))
		g_string_append_printf(s, " (%s)", g.details);
	fail(error, req, classify(r->status, &g), "%s", s->str);
	g_string_free(s, TRUE);
	graph_error_clear(&g);
	return false;
}

/* A 2xx answer: {"messages":[{"id":"wamid…"}]} gives the wamid; one that carries an error
 * object is refused() like any other; anything else is FINAL (the design note). */
static bool accepted(const struct wb_send_req *req, const struct reply *r, char **wamid,
		     int *graph_code, GError **error)
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

/* Transfer failures that retrying soon cannot mend; every other one (refused, reset or
 * timed-out connections, names that did not resolve) is WB_FAIL_SOON. */
static const struct {
	CURLcode rc;
	enum wb_fail fail;
} curl_codes[] = {
	{ CURLE_PEER_FAILED_VERIFICATION, WB_FAIL_LATER },
	{ CURLE_SSL_CACERT_BADFILE, WB_FAIL_LATER },
	{ CURLE_SSL_CERTPROBLEM, WB_FAIL_LATER },
	{ CURLE_UNSUPPORTED_PROTOCOL, WB_FAIL_LATER },
	{ CURLE_URL_MALFORMAT, WB_FAIL_LATER },
};

static bool transfer_failed(const struct wb_send_req *req, const struct reply *r,
			    GError **error)
{
	enum wb_fail f = WB_FAIL_SOON;
	for (size_t i = 0; i < G_N_ELEMENTS(curl_codes); i++)
		if (curl_codes[i].rc == r->rc)
			f = curl_codes[i].fail;
	fail(error, req, f, "%s%s%s", curl_easy_strerror(r->rc), r->errbuf[0] ? ": " : "",
	     r->errbuf);
	return false;
}

/* A finished POST as a wamid or a classified error. */
static bool outcome(const struct wb_send_req *req, const struct reply *r, char **wamid,
		    int *graph_code, GError **error)
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
	if (!only(req->template_name, TEMPLATE_NAME_MAX, LOWER DIGITS "_"))
		return "the template name is not lowercase letters, digits and _";
	if (!only(req->template_lang, LANG_MAX, LOWER UPPER "_"))
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
	bool plain;
	const char *why = NULL;
	if (!visible(req->access_token))
		why = "the access token is missing or has characters no token has";
	else if (req->api_base == NULL || !url_allowed(req->api_base, &plain))
		why = "api_base is not an https:// URL (http:// only to this machine)";
	else if (!only(req->phone_number_id, WB_MAX_ID_BYTES, DIGITS))
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
	struct reply r;
	post(req, body, &r);
	bool ok = outcome(req, &r, &out->wamid, graph_code, error);
	g_byte_array_unref(r.body);
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
