/* media: fetching one WhatsApp media object from the Graph API (contract in media.h).
 *
 * Design:
 * - One curl easy handle per HTTP request and nothing shared, so fetches may run in
 *   several threads. libcurl requires curl_global_init() once, before any thread
 *   starts: main() does it, not this module. CURLOPT_NOSIGNAL keeps curl off signals.
 * - The token reaches libcurl as CURLOPT_XOAUTH2_BEARER with CURLAUTH_BEARER, never as
 *   a custom header: libcurl then sends "Authorization: Bearer" only while a transfer
 *   stays on the scheme, host and port it started with, so a redirect to another host
 *   goes without it (CURLOPT_UNRESTRICTED_AUTH stays off). test-media checks the wire.
 * - The lookup follows no redirect (Graph sends none; one would mean a proxy or a wrong
 *   api_base). The download follows up to DOWNLOAD_REDIRECTS.
 * - https only; plain http just to this machine (127.0.0.1, ::1, localhost) for the fake
 *   Graph API of the tests. A download that starts on https may not be redirected to http.
 * - The size cap is checked as early as each number is known: the lookup's file_size
 *   before the download starts, Content-Length at the first body bytes, and the running
 *   total in the write callback, which stops the transfer at the cap.
 * - No Accept-Encoding is sent: the bytes must arrive as Meta hashed them.
 * - Nothing here logs. Every error message goes through scrub(), which replaces the
 *   token by "[token]" should a server or proxy ever echo it back. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "caps.h"
#include "media.h"
#include "util.h"

#ifndef WB_VERSION
#define WB_VERSION "0.1.0"  /* as in main.c */
#endif

#define REPLY_MAX          (64u * 1024u) /* bytes kept of the lookup's JSON or an error body */
#define DOWNLOAD_REDIRECTS 3L
#define CONNECT_TIMEOUT_S  15L
#define LOW_SPEED_BYTES    1024L  /* a transfer slower than this many bytes a second ... */
#define LOW_SPEED_S        30L    /* ... for this long is given up */
#define DEFAULT_TIMEOUT_S  120L
#define MEDIA_ID_MAX       64u    /* Meta's ids are 15 to 17 digits */
#define MIME_MAX           255u
#define GRAPH_TEXT_MAX     300u   /* characters of Graph's message quoted in an error */
#define SHA256_LEN         32u

G_DEFINE_QUARK(wb-media-error-quark, wb_media_error)

const char *wb_media_user_agent(void)
{
	return "wabridge/" WB_VERSION;
}

enum step { STEP_LOOKUP, STEP_DOWNLOAD };
static const char *const step_names[] = { "lookup", "download" };

/* One HTTP exchange and what came of it. */
struct reply {
	CURL *h;             /* while the transfer runs */
	GByteArray *body;
	size_t cap;          /* body bytes accepted from a 2xx answer */
	bool payload;        /* the media itself: passing the cap is "too big" */
	bool started;        /* the first body bytes arrived */
	bool over_cap;
	curl_off_t length;   /* Content-Length of the final answer, -1 when none */
	long status;         /* of the final answer, 0 when none */
	CURLcode rc;
	char errbuf[CURL_ERROR_SIZE];
};

/* What the lookup said; sha256_hex lowercase or NULL, size -1 when not given. */
struct lookup {
	char *url, *mime, *sha256_hex;
	gint64 size;
};

/* A Graph error body; code, subcode and transient are -1 when absent. */
struct graph_error {
	json_int_t code, subcode;
	int transient;
	char *message, *fbtrace;
};

/* The webhook's hash, decoded. */
struct want {
	bool given;
	guint8 sum[SHA256_LEN];
};

/* ---- errors ------------------------------------------------------------------------ */

/* msg with every occurrence of the token replaced. A token shorter than 8 characters is
 * not a real one and would only garble the message. */
static char *scrub(const char *msg, const char *token)
{
	GString *s = g_string_new(msg);
	if (token != NULL && strlen(token) >= 8)
		g_string_replace(s, token, "[token]", 0);
	return g_string_free(s, FALSE);
}

static void fail(GError **error, const struct wb_media_req *req, enum wb_fail code,
		 const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* Sets error to "media ID: <message>", the token scrubbed out. */
static void fail(GError **error, const struct wb_media_req *req, enum wb_fail code,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_autofree char *id = wb_clean_line(req->media_id, MEDIA_ID_MAX);
	g_autofree char *full = g_strdup_printf("media %s: %s", id, msg);
	g_autofree char *clean = scrub(full, req->access_token);
	g_set_error_literal(error, WB_MEDIA_ERROR, code, clean);
}

/* Graph error codes by what to do next (reference §12); is_transient wins over these. */
static const struct {
	json_int_t lo, hi;
	enum wb_fail fail;
} graph_codes[] = {
	{ 1, 2, WB_FAIL_SOON },           /* unknown / temporary service error */
	{ 4, 4, WB_FAIL_SOON },           /* app rate limit */
	{ 80007, 80007, WB_FAIL_SOON },   /* WABA rate limit */
	{ 130429, 130429, WB_FAIL_SOON }, /* throughput limit */
	{ 131000, 131000, WB_FAIL_SOON }, /* something went wrong */
	{ 131016, 131016, WB_FAIL_SOON }, /* service unavailable */
	{ 0, 0, WB_FAIL_LATER },          /* auth, capability and permission problems */
	{ 3, 3, WB_FAIL_LATER },
	{ 10, 10, WB_FAIL_LATER },
	{ 190, 190, WB_FAIL_LATER },      /* token expired or invalid */
	{ 200, 299, WB_FAIL_LATER },
	{ 368, 368, WB_FAIL_LATER },      /* temporarily blocked */
	{ 131057, 131057, WB_FAIL_LATER },/* account in maintenance */
	{ 100, 100, WB_FAIL_FINAL },      /* no such object (an unknown or expired media id) */
	{ 131052, 131053, WB_FAIL_FINAL },/* media download / upload error */
};

/* A download answer that means "the URL has expired": look up a fresh one. */
static bool url_expired(long status)
{
	return status == 401 || status == 403 || status == 404;
}

static enum wb_fail classify(enum step step, long status, const struct graph_error *g)
{
	if (g->transient == 1)
		return WB_FAIL_SOON;
	for (size_t i = 0; i < G_N_ELEMENTS(graph_codes); i++)
		if (g->code >= graph_codes[i].lo && g->code <= graph_codes[i].hi)
			return graph_codes[i].fail;
	if (status == 429 || status >= 500)
		return WB_FAIL_SOON;
	if (status < 400)  /* a redirect where we follow none, or too many: a proxy? */
		return WB_FAIL_LATER;
	if (step == STEP_DOWNLOAD)  /* an expired URL after the second lookup, or a CDN oddity */
		return url_expired(status) ? WB_FAIL_SOON : WB_FAIL_LATER;
	if (status == 401 || status == 403)
		return WB_FAIL_LATER;
	return WB_FAIL_FINAL;  /* 404, 410, or any other refusal to look this id up */
}

static char *json_text(json_t *obj, const char *key, size_t max)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s != NULL ? wb_clean_line(s, max) : NULL;
}

static void graph_error_parse(const GByteArray *body, struct graph_error *g)
{
	*g = (struct graph_error){ .code = -1, .subcode = -1, .transient = -1 };
	json_t *root = json_loadb((const char *)body->data, body->len, 0, NULL);
	json_t *e = json_object_get(root, "error");
	json_t *v;
	if (json_is_integer(v = json_object_get(e, "code")))
		g->code = json_integer_value(v);
	if (json_is_integer(v = json_object_get(e, "error_subcode")))
		g->subcode = json_integer_value(v);
	if (json_is_boolean(v = json_object_get(e, "is_transient")))
		g->transient = json_is_true(v);
	g->message = json_text(e, "message", GRAPH_TEXT_MAX);
	g->fbtrace = json_text(e, "fbtrace_id", 64);
	json_decref(root);
}

static char *body_text(const GByteArray *body)
{
	g_autofree char *s = g_strndup((const char *)body->data, body->len);
	return wb_clean_line(s, GRAPH_TEXT_MAX);
}

/* An answer that is not 2xx: the message names step, status, Graph code and fbtrace_id. */
static bool http_error(const struct wb_media_req *req, enum step step, const struct reply *r,
		       GError **error)
{
	struct graph_error g;
	graph_error_parse(r->body, &g);
	GString *s = g_string_new(NULL);
	g_string_printf(s, "%s: HTTP %ld", step_names[step], r->status);
	if (g.code >= 0)
		g_string_append_printf(s, ", Graph code %" JSON_INTEGER_FORMAT, g.code);
	if (g.subcode >= 0)
		g_string_append_printf(s, " (subcode %" JSON_INTEGER_FORMAT ")", g.subcode);
	if (g.fbtrace != NULL)
		g_string_append_printf(s, ", fbtrace_id %s", g.fbtrace);
	if (g.message == NULL && r->body->len > 0)  /* a CDN's or proxy's own text */
		g.message = body_text(r->body);
	if (g.message != NULL && *g.message != '\0')
		g_string_append_printf(s, ": %s", g.message);
	fail(error, req, classify(step, r->status, &g), "%s", s->str);
	g_string_free(s, TRUE);
	g_free(g.message);
	g_free(g.fbtrace);
	return false;
}

/* Transfer failures that are not worth retrying soon; everything else (timeouts,
 * refused or dropped connections, truncated answers) is WB_FAIL_SOON. */
static const struct {
	CURLcode rc;
	enum wb_fail fail;
} curl_codes[] = {
	{ CURLE_PEER_FAILED_VERIFICATION, WB_FAIL_LATER },
	{ CURLE_SSL_CACERT_BADFILE, WB_FAIL_LATER },
	{ CURLE_SSL_CERTPROBLEM, WB_FAIL_LATER },
	{ CURLE_UNSUPPORTED_PROTOCOL, WB_FAIL_LATER },  /* e.g. redirected from https to http */
	{ CURLE_TOO_MANY_REDIRECTS, WB_FAIL_LATER },
	{ CURLE_URL_MALFORMAT, WB_FAIL_FINAL },
};

static bool curl_error(const struct wb_media_req *req, enum step step, const struct reply *r,
		       GError **error)
{
	enum wb_fail f = WB_FAIL_SOON;
	for (size_t i = 0; i < G_N_ELEMENTS(curl_codes); i++)
		if (curl_codes[i].rc == r->rc)
			f = curl_codes[i].fail;
	fail(error, req, f, "%s: %s%s%s", step_names[step], curl_easy_strerror(r->rc),
	     r->errbuf[0] ? ": " : "", r->errbuf);
	return false;
}

/* ---- one HTTP exchange ------------------------------------------------------------- */

static void reply_init(struct reply *r, size_t cap, bool payload)
{
	*r = (struct reply){ .body = g_byte_array_new(), .cap = MIN(cap, (size_t)G_MAXUINT),
			     .payload = payload, .length = -1 };
}

static void reply_clear(struct reply *r)
{
	if (r->body != NULL)
		g_byte_array_unref(r->body);
	r->body = NULL;
}

/* Keeps the body and stops the transfer (by returning short) as soon as it would pass the
 * cap: an answer announcing too much at its first bytes, one streaming too much at the cap.
 * Only REPLY_MAX bytes of a non-2xx answer are wanted. Redirects' bodies never come here
 * (libcurl skips them while following). */
static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct reply *r = user;
	size_t len = size * n;
	if (!r->started) {
		r->started = true;
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->length);
		if (r->status < 200 || r->status > 299)
			r->cap = REPLY_MAX;
		if (r->length > 0 && (guint64)r->length > r->cap) {
			r->over_cap = true;
			return 0;
		}
	}
	if (len > r->cap - r->body->len) {
		r->over_cap = true;
		return 0;
	}
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
	if (ok) {
		*plain = strcmp(scheme, "http") == 0;
		ok = strcmp(scheme, "https") == 0 || (*plain && is_loopback(host));
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static CURLcode setup(CURL *h, const struct wb_media_req *req, const char *url, long redirects,
		      struct reply *r)
{
	bool plain = false;
	url_allowed(url, &plain);  /* callers checked it */
	const char *protocols = plain ? "http,https" : "https";
	const struct { CURLoption opt; long val; } longs[] = {
		{ CURLOPT_NOSIGNAL, 1L },
		{ CURLOPT_FOLLOWLOCATION, redirects > 0 },
		{ CURLOPT_MAXREDIRS, redirects },
		{ CURLOPT_UNRESTRICTED_AUTH, 0L },
		{ CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER },
		{ CURLOPT_SSL_VERIFYPEER, 1L },
		{ CURLOPT_SSL_VERIFYHOST, 2L },
		{ CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S },
		{ CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES },
		{ CURLOPT_LOW_SPEED_TIME, LOW_SPEED_S },
		{ CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : DEFAULT_TIMEOUT_S },
	};
	const struct { CURLoption opt; const char *val; } strings[] = {
		{ CURLOPT_URL, url },
		{ CURLOPT_USERAGENT, wb_media_user_agent() },
		{ CURLOPT_XOAUTH2_BEARER, req->access_token },
		{ CURLOPT_PROTOCOLS_STR, protocols },
		{ CURLOPT_REDIR_PROTOCOLS_STR, protocols },
		{ CURLOPT_CAINFO, req->ca_file },  /* skipped when NULL: the system CAs */
	};
	CURLcode rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	for (size_t i = 0; i < G_N_ELEMENTS(longs) && rc == CURLE_OK; i++)
		rc = curl_easy_setopt(h, longs[i].opt, longs[i].val);
	for (size_t i = 0; i < G_N_ELEMENTS(strings) && rc == CURLE_OK; i++)
		if (strings[i].val != NULL)
			rc = curl_easy_setopt(h, strings[i].opt, strings[i].val);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	return rc;
}

/* GETs url into r; the outcome (curl code, status, body) stays in r for reply_ok(). */
static void http_get(const struct wb_media_req *req, const char *url, long redirects,
		     struct reply *r)
{
	r->h = curl_easy_init();
	if (r->h == NULL) {
		r->rc = CURLE_FAILED_INIT;
		return;
	}
	r->rc = setup(r->h, req, url, redirects, r);
	if (r->rc == CURLE_OK)
		r->rc = curl_easy_perform(r->h);
	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->length);
	curl_easy_cleanup(r->h);
	r->h = NULL;
}

static bool over_cap(const struct wb_media_req *req, enum step step, const struct reply *r,
		     GError **error)
{
	if (step == STEP_LOOKUP)
		fail(error, req, WB_FAIL_FINAL, "lookup: malformed answer: over %u bytes", REPLY_MAX);
	else if (r->length > 0 && (guint64)r->length > r->cap)
		fail(error, req, WB_FAIL_FINAL, "download: over the cap of %zu bytes "
		     "(Content-Length %" CURL_FORMAT_CURL_OFF_T "); not downloaded", r->cap, r->length);
	else
		fail(error, req, WB_FAIL_FINAL, "download: over the cap of %zu bytes; "
		     "stopped there", r->cap);
	return false;
}

/* A finished exchange as success or a classified error. */
static bool reply_ok(const struct wb_media_req *req, enum step step, const struct reply *r,
		     GError **error)
{
	if (r->over_cap && r->status >= 200 && r->status <= 299)
		return over_cap(req, step, r, error);
	if (r->status >= 300)
		return http_error(req, step, r, error);
	if (r->rc != CURLE_OK)
		return curl_error(req, step, r, error);
	if (r->status < 200) {
		fail(error, req, WB_FAIL_SOON, "%s: no HTTP answer", step_names[step]);
		return false;
	}
	if (r->length >= 0 && (guint64)r->length != r->body->len) {  /* curl checks it too */
		fail(error, req, WB_FAIL_SOON, "%s: truncated: %u of %" CURL_FORMAT_CURL_OFF_T
		     " bytes", step_names[step], r->body->len, r->length);
		return false;
	}
	return true;
}

/* ---- step 1: the lookup ------------------------------------------------------------ */

static bool all_hex(const char *s)
{
	for (; *s != '\0'; s++)
		if (!g_ascii_isxdigit(*s))
			return false;
	return true;
}

static void to_hex(const guint8 *sum, char hex[2 * SHA256_LEN + 1])
{
	for (size_t i = 0; i < SHA256_LEN; i++)
		g_snprintf(hex + 2 * i, 3, "%02x", sum[i]);
}

/* Meta documents hex here (base64 only in webhooks); base64 is taken too, so a change on
 * their side does not turn every attachment into a failure. */
static const char *sha256_field(json_t *v, char **hex)
{
	const char *s = json_string_value(v);
	if (v == NULL || json_is_null(v))
		return NULL;
	if (s != NULL && strlen(s) == 2 * SHA256_LEN && all_hex(s)) {
		*hex = g_ascii_strdown(s, -1);
		return NULL;
	}
	gsize n = 0;
	g_autofree guchar *raw = s != NULL && *s != '\0' ? g_base64_decode(s, &n) : NULL;
	if (n != SHA256_LEN)
		return "sha256 is not a SHA-256 in hex";
	*hex = g_malloc(2 * SHA256_LEN + 1);
	to_hex(raw, *hex);
	return NULL;
}

/* file_size comes as a string or as a number. */
static const char *size_field(json_t *v, gint64 *size)
{
	guint64 n;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*size = json_integer_value(v);
		return NULL;
	}
	if (json_is_string(v) &&
	    g_ascii_string_to_unsigned(json_string_value(v), 10, 0, G_MAXINT64, &n, NULL)) {
		*size = (gint64)n;
		return NULL;
	}
	return "file_size is not a number of bytes";
}

/* Printable ASCII only ("audio/ogg; codecs=opus"), at most MIME_MAX bytes. */
static char *clean_mime(const char *s)
{
	GString *m = g_string_new(NULL);
	for (; s != NULL && *s != '\0' && m->len < MIME_MAX; s++)
		if (g_ascii_isprint(*s))
			g_string_append_c(m, *s);
	char *t = g_strstrip(g_string_free(m, FALSE));
	if (*t != '\0')
		return t;
	g_free(t);
	return g_strdup("application/octet-stream");
}

/* Fills lk from the lookup's JSON; NULL, or what is wrong with it. */
static const char *lookup_fields(const struct wb_media_req *req, json_t *root,
				 struct lookup *lk)
{
	json_t *url = json_object_get(root, "url");
	const char *id = json_string_value(json_object_get(root, "id"));
	bool plain;
	if (!json_is_object(root))
		return "not a JSON object";
	if (!json_is_string(url) || strlen(json_string_value(url)) != json_string_length(url))
		return "no url";
	if (!url_allowed(json_string_value(url), &plain))
		return "the url is not https";
	if (id != NULL && strcmp(id, req->media_id) != 0)
		return "the answer is about another id";
	const char *why = sha256_field(json_object_get(root, "sha256"), &lk->sha256_hex);
	if (why == NULL)
		why = size_field(json_object_get(root, "file_size"), &lk->size);
	if (why != NULL)
		return why;
	lk->url = g_strdup(json_string_value(url));
	lk->mime = clean_mime(json_string_value(json_object_get(root, "mime_type")));
	return NULL;
}

static void lookup_clear(struct lookup *lk)
{
	g_free(lk->url);
	g_free(lk->mime);
	g_free(lk->sha256_hex);
	*lk = (struct lookup){ .size = -1 };
}

static char *lookup_url(const struct wb_media_req *req)
{
	g_autofree char *base = g_strdup(req->api_base);
	for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
		base[n - 1] = '\0';
	bool pn = req->phone_number_id != NULL && req->phone_number_id[0] != '\0';
	return g_strdup_printf("%s/%s%s%s", base, req->media_id, pn ? "?phone_number_id=" : "",
			       pn ? req->phone_number_id : "");
}

static bool lookup(const struct wb_media_req *req, struct lookup *lk, GError **error)
{
	g_autofree char *url = lookup_url(req);
	struct reply r;
	reply_init(&r, REPLY_MAX, false);
	http_get(req, url, 0, &r);
	bool ok = reply_ok(req, STEP_LOOKUP, &r, error);
	if (ok) {
		json_error_t jerr;
		json_t *root = json_loadb((const char *)r.body->data, r.body->len,
					  JSON_REJECT_DUPLICATES, &jerr);
		const char *why = root == NULL ? jerr.text : lookup_fields(req, root, lk);
		if (why != NULL)
			fail(error, req, WB_FAIL_FINAL, "lookup: malformed answer: %s", why);
		ok = why == NULL;
		json_decref(root);
	}
	reply_clear(&r);
	return ok;
}

/* ---- step 2 and the checks ----------------------------------------------------------- */

static bool announced_size_ok(const struct wb_media_req *req, const struct lookup *lk,
			      GError **error)
{
	if (lk->size < 0 || (guint64)lk->size <= req->max_bytes)
		return true;
	fail(error, req, WB_FAIL_FINAL, "lookup: over the cap of %zu bytes (file_size %"
	     G_GINT64_FORMAT "); not downloaded", req->max_bytes, lk->size);
	return false;
}

/* Lookup and download into r, with one more lookup when the download URL has expired. */
static bool fetch_bytes(const struct wb_media_req *req, struct lookup *lk, struct reply *r,
			GError **error)
{
	for (int round = 0;; round++) {
		if (!lookup(req, lk, error) || !announced_size_ok(req, lk, error))
			return false;
		reply_init(r, req->max_bytes, true);
		http_get(req, lk->url, DOWNLOAD_REDIRECTS, r);
		if (round > 0 || !url_expired(r->status))
			return reply_ok(req, STEP_DOWNLOAD, r, error);
		lookup_clear(lk);
		reply_clear(r);
	}
}

/* A mismatch is a damaged transfer (or a damaged webhook): WB_FAIL_SOON, naming both. */
static bool hashes_ok(const struct wb_media_req *req, const struct lookup *lk,
		      const struct want *w, const guint8 *sum, const char *hex, guint len,
		      GError **error)
{
	if (lk->sha256_hex != NULL && strcmp(hex, lk->sha256_hex) != 0) {
		fail(error, req, WB_FAIL_SOON, "download: the %u bytes have SHA-256 %s, but the "
		     "lookup announced %s", len, hex, lk->sha256_hex);
		return false;
	}
	if (w->given && memcmp(sum, w->sum, SHA256_LEN) != 0) {
		char want_hex[2 * SHA256_LEN + 1];
		to_hex(w->sum, want_hex);
		g_autofree char *b64 = g_base64_encode(sum, SHA256_LEN);
		g_autofree char *want_b64 = g_base64_encode(w->sum, SHA256_LEN);
		fail(error, req, WB_FAIL_SOON, "download: the %u bytes have SHA-256 %s (base64 %s), "
		     "but the webhook announced %s (base64 %s)", len, hex, b64, want_hex, want_b64);
		return false;
	}
	return true;
}

/* Checks the hashes of r's body and on success moves it into out. */
static bool verify(const struct wb_media_req *req, const struct lookup *lk,
		   const struct want *w, struct reply *r, struct wb_media *out, GError **error)
{
	GByteArray *body = r->body;
	guint8 sum[SHA256_LEN];
	gsize n = sizeof sum;
	char hex[2 * SHA256_LEN + 1];
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(c, body->data, body->len);
	g_checksum_get_digest(c, sum, &n);
	g_checksum_free(c);
	to_hex(sum, hex);
	if (!hashes_ok(req, lk, w, sum, hex, body->len, error))
		return false;
	out->data = g_byte_array_free_to_bytes(body);
	r->body = NULL;
	out->mime_type = g_strdup(lk->mime);
	out->sha256_hex = g_strdup(hex);
	return true;
}

/* ---- the request ------------------------------------------------------------------- */

static bool digits(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isdigit(s[i]))
			return false;
	return true;
}

/* Visible ASCII only: anything else could not be a token and might split the header. */
static bool token_ok(const char *t)
{
	if (t == NULL || *t == '\0')
		return false;
	for (; *t != '\0'; t++)
		if (*t < 0x21 || *t > 0x7e)
			return false;
	return true;
}

static bool webhook_sum(const char *b64, struct want *w)
{
	*w = (struct want){ 0 };
	if (b64 == NULL || *b64 == '\0')
		return true;
	gsize n = 0;
	g_autofree guchar *raw = g_base64_decode(b64, &n);
	if (n != SHA256_LEN)
		return false;
	memcpy(w->sum, raw, SHA256_LEN);
	w->given = true;
	return true;
}

/* Everything checkable before a request is made. */
static bool request_ok(const struct wb_media_req *req, struct want *w, GError **error)
{
	bool plain;
	const char *pn = req->phone_number_id;
	const char *why = NULL;
	enum wb_fail f = WB_FAIL_FINAL;
	if (!digits(req->media_id, MEDIA_ID_MAX))
		why = "the media id is not 1 to 64 digits";
	else if (pn != NULL && *pn != '\0' && !digits(pn, WB_MAX_ID_BYTES))
		why = "the phone_number_id is not digits";
	else if (!webhook_sum(req->sha256_b64, w))
		why = "the webhook's sha256 is not base64 of 32 bytes";
	if (why == NULL) {  /* configuration: a human must act */
		f = WB_FAIL_LATER;
		if (!token_ok(req->access_token))
			why = "the access token is missing or has characters no token has";
		else if (req->api_base == NULL || !url_allowed(req->api_base, &plain))
			why = "api_base is not an https:// URL (http:// only to this machine)";
	}
	if (why != NULL)
		fail(error, req, f, "%s", why);
	return why == NULL;
}

bool wb_media_fetch(const struct wb_media_req *req, struct wb_media *out, GError **error)
{
	struct want w;
	struct lookup lk = { .size = -1 };
	struct reply r = { 0 };
	*out = (struct wb_media){ 0 };
	bool ok = request_ok(req, &w, error) && fetch_bytes(req, &lk, &r, error) &&
		  verify(req, &lk, &w, &r, out, error);
	reply_clear(&r);
	lookup_clear(&lk);
	return ok;
}

void wb_media_clear(struct wb_media *m)
{
	if (m->data != NULL)
		g_bytes_unref(m->data);
	g_free(m->mime_type);
	g_free(m->sha256_hex);
	*m = (struct wb_media){ 0 };
}
