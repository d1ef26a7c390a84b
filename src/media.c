/* media: fetching one WhatsApp media object from the Graph API (contract in media.h).
 *
 * Design:
 * - HTTP as every Graph request makes it (graph.h): one curl handle per request, the
 *   token only as a bearer that stays on its host, https only (http just to loopback).
 * - The lookup follows no redirect (Graph sends none; one would mean a proxy or a wrong
 *   api_base). The download follows up to WB_MEDIA_REDIRECTS.
 * - The size cap is checked as early as each number is known: the lookup's file_size
 *   before the download starts, Content-Length at the first body bytes, and the running
 *   total in the write callback, which stops the transfer at the cap.
 * - The download goes to the caller's file through the exchange's sink (graph.h): written
 *   and hashed as it arrives, never held, so a 100 MiB document costs a curl buffer.
 * - Nothing here logs. Every error message goes through wb_graph_set_error(), which
 *   scrubs the token out. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "graph.h"
#include "media.h"
#include "util.h"

#define SHA256_LEN 32u

G_DEFINE_QUARK(wb-media-error-quark, wb_media_error)

const char *wb_media_user_agent(void)
{
	return wb_graph_user_agent();
}

enum step { STEP_LOOKUP, STEP_DOWNLOAD };
static const char *const step_names[] = { "lookup", "download" };

/* What the lookup said; sha256_hex lowercase or NULL, size -1 when not given. */
struct lookup {
	char *url, *mime, *sha256_hex;
	gint64 size;
};

/* The webhook's hash, decoded. */
struct want {
	bool given;
	guint8 sum[SHA256_LEN];
};

/* ---- errors ------------------------------------------------------------------------ */

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
	g_autofree char *id = wb_clean_line(req->media_id, WB_MAX_MEDIA_ID_DIGITS);
	wb_graph_set_error(error, WB_MEDIA_ERROR, code, req->access_token, "media %s: %s", id,
			   msg);
}

/* Graph error codes of media by what to do next, besides those of every endpoint
 * (graph.c: there 100 is an unknown or expired media id). */
static const struct wb_graph_code media_codes[] = {
	{ 131052, 131053, WB_FAIL_FINAL },  /* media download / upload error */
};

/* A download answer that means "the URL has expired": look up a fresh one. */
static bool url_expired(long status)
{
	return status == 401 || status == 403 || status == 404;
}

static enum wb_fail classify(enum step step, long status, const struct wb_graph_error *g)
{
	enum wb_fail f = wb_graph_classify(g, media_codes, G_N_ELEMENTS(media_codes));
	if (f != WB_FAIL_NONE)
		return f;
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

/* An answer that is not 2xx: the message names step, status, Graph code and fbtrace_id,
 * then Graph's message or the body itself (a CDN's or proxy's own text). */
static bool http_error(const struct wb_media_req *req, enum step step,
		       const struct wb_graph_reply *r, GError **error)
{
	struct wb_graph_error g;
	json_t *root = json_loadb((const char *)r->body->data, r->body->len, 0, NULL);
	wb_graph_error_parse(root, &g);
	json_decref(root);
	GString *s = g_string_new(NULL);
	g_string_printf(s, "%s: ", step_names[step]);
	wb_graph_error_append(s, r->status, &g, r->body);
	fail(error, req, classify(step, r->status, &g), "%s", s->str);
	g_string_free(s, TRUE);
	wb_graph_error_clear(&g);
	return false;
}

/* A malformed URL is FINAL here: api_base was checked before, so it would be the
 * lookup's url, which no retry mends. */
static bool curl_error(const struct wb_media_req *req, enum step step,
		       const struct wb_graph_reply *r, GError **error)
{
	g_autofree char *text = NULL;
	enum wb_fail f = wb_graph_transfer_fail(r, WB_FAIL_FINAL, &text);
	fail(error, req, f, "%s: %s", step_names[step], text);
	return false;
}

/* ---- one HTTP exchange ------------------------------------------------------------- */

/* GETs url into r; the outcome (curl code, status, body) stays in r for reply_ok(). */
static void http_get(const struct wb_media_req *req, const char *url, long redirects,
		     struct wb_graph_reply *r)
{
	const struct wb_graph_request q = {
		.url = url,
		.access_token = req->access_token,
		.ca_file = req->ca_file,
		.redirects = redirects,
		.timeout_s = req->timeout_s > 0 ? req->timeout_s : WB_MEDIA_TIMEOUT_S,
		.low_speed_bytes = WB_MEDIA_LOW_SPEED_BYTES,
		.low_speed_s = WB_MEDIA_LOW_SPEED_S,
	};
	wb_graph_exchange(&q, r);
}

static bool over_cap(const struct wb_media_req *req, enum step step,
		     const struct wb_graph_reply *r, GError **error)
{
	if (step == STEP_LOOKUP)
		fail(error, req, WB_FAIL_FINAL, "lookup: malformed answer: over %u bytes",
		     WB_MAX_GRAPH_REPLY_BYTES);
	else if (r->length > 0 && (guint64)r->length > r->cap)
		fail(error, req, WB_FAIL_FINAL, "download: over the cap of %zu bytes "
		     "(Content-Length %" CURL_FORMAT_CURL_OFF_T "); not downloaded", r->cap, r->length);
	else
		fail(error, req, WB_FAIL_FINAL, "download: over the cap of %zu bytes; "
		     "stopped there", r->cap);
	return false;
}

/* The file took no more: not the fetch's fault, and no retry soon mends it. */
static bool write_failed(const struct wb_media_req *req, const char *file, int err,
			 guint64 done, GError **error)
{
	fail(error, req, WB_FAIL_LATER, "download: cannot write %s after %" G_GUINT64_FORMAT
	     " bytes: %s", file, done, g_strerror(err));
	return false;
}

/* A finished exchange as success or a classified error; file names the sink's file. */
static bool reply_ok(const struct wb_media_req *req, enum step step,
		     const struct wb_graph_reply *r, const char *file, GError **error)
{
	if (r->sink_errno != 0)
		return write_failed(req, file, r->sink_errno, r->sunk, error);
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
	guint64 got = r->sink_fd >= 0 ? r->sunk : r->body->len;
	if (r->length >= 0 && (guint64)r->length != got) {  /* curl checks it too */
		fail(error, req, WB_FAIL_SOON, "%s: truncated: %" G_GUINT64_FORMAT " of %"
		     CURL_FORMAT_CURL_OFF_T " bytes", step_names[step], got, r->length);
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

/* Printable ASCII only ("audio/ogg; codecs=opus"), at most WB_MAX_MIME_BYTES. */
static char *clean_mime(const char *s)
{
	GString *m = g_string_new(NULL);
	for (; s != NULL && *s != '\0' && m->len < WB_MAX_MIME_BYTES; s++)
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
	if (!wb_graph_url_allowed(json_string_value(url), &plain))
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
	bool pn = req->phone_number_id != NULL && req->phone_number_id[0] != '\0';
	return wb_graph_url(req->api_base, "%s%s%s", req->media_id,
			    pn ? "?phone_number_id=" : "", pn ? req->phone_number_id : "");
}

static bool lookup(const struct wb_media_req *req, struct lookup *lk, GError **error)
{
	g_autofree char *url = lookup_url(req);
	struct wb_graph_reply r;
	wb_graph_reply_init(&r, WB_MAX_GRAPH_REPLY_BYTES, true);
	http_get(req, url, 0, &r);
	bool ok = reply_ok(req, STEP_LOOKUP, &r, NULL, error);
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
	wb_graph_reply_clear(&r);
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

/* Where the download goes: fd emptied. */
struct sink {
	int fd;
	const char *file;
};

/* 0, or the errno of emptying the file. */
static int sink_reset(const struct sink *k)
{
	return ftruncate(k->fd, 0) == 0 && lseek(k->fd, 0, SEEK_SET) == 0 ? 0 : errno;
}

/* Lookup and download into r and the sink's file, with one more lookup when the download
 * URL has expired. */
static bool fetch_bytes(const struct wb_media_req *req, const struct sink *k,
			struct lookup *lk, struct wb_graph_reply *r, GError **error)
{
	for (int round = 0;; round++) {
		if (!lookup(req, lk, error) || !announced_size_ok(req, lk, error))
			return false;
		wb_graph_reply_init(r, req->max_bytes, true);
		if ((r->sink_errno = sink_reset(k)) != 0)
			return write_failed(req, k->file, r->sink_errno, 0, error);
		wb_graph_reply_sink(r, k->fd);
		http_get(req, lk->url, WB_MEDIA_REDIRECTS, r);
		if (round > 0 || !url_expired(r->status))
			return reply_ok(req, STEP_DOWNLOAD, r, k->file, error);
		lookup_clear(lk);
		wb_graph_reply_clear(r);
	}
}

/* A mismatch is a damaged transfer (or a damaged webhook): WB_FAIL_SOON, naming both. */
static bool hashes_ok(const struct wb_media_req *req, const struct lookup *lk,
		      const struct want *w, const guint8 *sum, const char *hex, guint64 len,
		      GError **error)
{
	if (lk->sha256_hex != NULL && strcmp(hex, lk->sha256_hex) != 0) {
		fail(error, req, WB_FAIL_SOON, "download: the %" G_GUINT64_FORMAT " bytes have "
		     "SHA-256 %s, but the lookup announced %s", len, hex, lk->sha256_hex);
		return false;
	}
	if (w->given && memcmp(sum, w->sum, SHA256_LEN) != 0) {
		char want_hex[2 * SHA256_LEN + 1];
		to_hex(w->sum, want_hex);
		g_autofree char *b64 = g_base64_encode(sum, SHA256_LEN);
		g_autofree char *want_b64 = g_base64_encode(w->sum, SHA256_LEN);
		fail(error, req, WB_FAIL_SOON, "download: the %" G_GUINT64_FORMAT " bytes have "
		     "SHA-256 %s (base64 %s), but the webhook announced %s (base64 %s)", len, hex,
		     b64, want_hex, want_b64);
		return false;
	}
	return true;
}

/* Checks the hashes of what went to the file and on success fills out. */
static bool verify(const struct wb_media_req *req, const struct lookup *lk,
		   const struct want *w, const struct wb_graph_reply *r, struct wb_media *out,
		   GError **error)
{
	guint8 sum[SHA256_LEN];
	gsize n = sizeof sum;
	char hex[2 * SHA256_LEN + 1];
	g_checksum_get_digest(r->sink_sum, sum, &n);
	to_hex(sum, hex);
	if (!hashes_ok(req, lk, w, sum, hex, r->sunk, error))
		return false;
	out->mime_type = g_strdup(lk->mime);
	out->sha256_hex = g_strdup(hex);
	out->size = r->sunk;
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
	const char *pn = req->phone_number_id;
	const char *why = NULL;
	enum wb_fail f = WB_FAIL_FINAL;
	if (!digits(req->media_id, WB_MAX_MEDIA_ID_DIGITS))
		why = "the media id is not 1 to 64 digits";
	else if (pn != NULL && *pn != '\0' && !digits(pn, WB_MAX_ID_BYTES))
		why = "the phone_number_id is not digits";
	else if (!webhook_sum(req->sha256_b64, w))
		why = "the webhook's sha256 is not base64 of 32 bytes";
	if (why == NULL) {  /* configuration: a human must act */
		f = WB_FAIL_LATER;
		why = wb_graph_settings_problem(req->access_token, req->api_base);
	}
	if (why != NULL)
		fail(error, req, f, "%s", why);
	return why == NULL;
}

bool wb_media_fetch(const struct wb_media_req *req, int fd, const char *file,
		    struct wb_media *out, GError **error)
{
	struct want w;
	struct lookup lk = { .size = -1 };
	struct wb_graph_reply r = { .sink_fd = -1 };
	const struct sink k = { .fd = fd, .file = file ? file : "the media file" };
	*out = (struct wb_media){ 0 };
	bool ok = request_ok(req, &w, error) && fetch_bytes(req, &k, &lk, &r, error) &&
		  verify(req, &lk, &w, &r, out, error);
	if (!ok && r.sink_errno != 0)
		out->write_errno = r.sink_errno;
	wb_graph_reply_clear(&r);
	lookup_clear(&lk);
	return ok;
}

void wb_media_clear(struct wb_media *m)
{
	g_free(m->mime_type);
	g_free(m->sha256_hex);
	*m = (struct wb_media){ 0 };
}
