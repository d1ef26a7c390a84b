/* graph: what every Graph API request shares (contract and policy in graph.h). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "graph.h"
#include "tls.h"
#include "util.h"
#include "version.h"

const char *wb_graph_user_agent(void)
{
	return "wabridge/" WB_VERSION;
}

bool wb_graph_visible(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

bool wb_graph_url_allowed(const char *url, bool *plain)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	*plain = ok && strcmp(scheme, "http") == 0;
	ok = ok && (strcmp(scheme, "https") == 0 || (*plain && wb_loopback_host(host)));
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

const char *wb_graph_settings_problem(const char *access_token, const char *api_base)
{
	bool plain;
	if (!wb_graph_visible(access_token))
		return "the access token is missing or has characters no token has";
	if (api_base == NULL || !wb_graph_url_allowed(api_base, &plain))
		return "api_base is not an https:// URL (http:// only to this machine)";
	return NULL;
}

char *wb_graph_url(const char *api_base, const char *fmt, ...)
{
	GString *s = g_string_new(api_base);
	while (s->len > 0 && s->str[s->len - 1] == '/')
		g_string_truncate(s, s->len - 1);
	g_string_append_c(s, '/');
	va_list ap;
	va_start(ap, fmt);
	g_string_append_vprintf(s, fmt, ap);
	va_end(ap);
	return g_string_free(s, FALSE);
}

void wb_graph_set_error(GError **error, GQuark domain, enum wb_fail code, const char *token,
			const char *fmt, ...)
{
	GString *s = g_string_new(NULL);
	va_list ap;
	va_start(ap, fmt);
	g_string_append_vprintf(s, fmt, ap);
	va_end(ap);
	if (token != NULL && strlen(token) >= 8)
		g_string_replace(s, token, "[token]", 0);
	g_set_error_literal(error, domain, code, s->str);
	g_string_free(s, TRUE);
}

/* ---- one HTTP exchange --------------------------------------------------------------- */

void wb_graph_reply_init(struct wb_graph_reply *r, size_t cap, bool refuse_announced)
{
	*r = (struct wb_graph_reply){ .body = g_byte_array_new(),
				      .cap = MIN(cap, (size_t)G_MAXUINT),
				      .refuse_announced = refuse_announced, .length = -1,
				      .sink_fd = -1 };
}

void wb_graph_reply_sink(struct wb_graph_reply *r, int fd)
{
	r->sink_fd = fd;
	r->sink_sum = g_checksum_new(G_CHECKSUM_SHA256);
}

void wb_graph_reply_clear(struct wb_graph_reply *r)
{
	if (r->body != NULL)
		g_byte_array_unref(r->body);
	r->body = NULL;
	if (r->sink_sum != NULL)
		g_checksum_free(r->sink_sum);
	r->sink_sum = NULL;
}

/* All of len bytes to the sink; false with sink_errno set when the file takes no more. */
static bool sink_write(struct wb_graph_reply *r, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(r->sink_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->sink_errno = n < 0 ? errno : ENOSPC;
			return false;
		}
		g_checksum_update(r->sink_sum, (const guchar *)data, n);
		r->sunk += (guint64)n;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Keeps the body and stops the transfer (by returning short) as soon as it would pass
 * the cap (graph.h). */
static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct wb_graph_reply *r = user;
	size_t len = size * n;
	if (!r->started) {
		r->started = true;
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->length);
		if (r->status < 200 || r->status > 299)
			r->cap = WB_MAX_GRAPH_REPLY_BYTES;
		if (r->refuse_announced && r->length > 0 && (guint64)r->length > r->cap) {
			r->over_cap = true;
			return 0;
		}
	}
	bool to_sink = r->sink_fd >= 0 && r->status >= 200 && r->status <= 299;
	guint64 held = to_sink ? r->sunk : r->body->len;
	if (len > r->cap - held) {
		r->over_cap = true;
		return 0;
	}
	if (to_sink)
		return sink_write(r, data, len) ? len : 0;
	g_byte_array_append(r->body, (const guint8 *)data, (guint)len);
	return len;
}

/* headers: a POST's, NULL for a GET. */
static CURLcode setup(CURL *h, const struct wb_graph_request *q, struct curl_slist *headers,
		      struct wb_graph_reply *r)
{
	bool plain = false;
	wb_graph_url_allowed(q->url, &plain);  /* callers checked it */
	const char *protocols = plain ? "http,https" : "https";
	const struct { CURLoption opt; long val; } longs[] = {
		{ CURLOPT_NOSIGNAL, 1L },
		{ CURLOPT_FOLLOWLOCATION, q->redirects > 0 },
		{ CURLOPT_MAXREDIRS, q->redirects },
		{ CURLOPT_UNRESTRICTED_AUTH, 0L },
		{ CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER },
		{ CURLOPT_SSL_VERIFYPEER, 1L },
		{ CURLOPT_SSL_VERIFYHOST, 2L },
		{ CURLOPT_CONNECTTIMEOUT, WB_GRAPH_CONNECT_S },
		{ CURLOPT_LOW_SPEED_LIMIT, q->low_speed_bytes },
		{ CURLOPT_LOW_SPEED_TIME, q->low_speed_s },
		{ CURLOPT_TIMEOUT, q->timeout_s },
	};
	const struct { CURLoption opt; const char *val; } strings[] = {
		{ CURLOPT_URL, q->url },
		{ CURLOPT_USERAGENT, wb_graph_user_agent() },
		{ CURLOPT_XOAUTH2_BEARER, q->access_token },
		{ CURLOPT_PROTOCOLS_STR, protocols },
		{ CURLOPT_REDIR_PROTOCOLS_STR, protocols },
		{ CURLOPT_CAINFO, q->ca_file },     /* skipped when NULL: the system CAs */
		{ CURLOPT_POSTFIELDS, q->json },    /* skipped when NULL: a GET */
	};
	CURLcode rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	for (size_t i = 0; i < G_N_ELEMENTS(longs) && rc == CURLE_OK; i++)
		rc = curl_easy_setopt(h, longs[i].opt, longs[i].val);
	for (size_t i = 0; i < G_N_ELEMENTS(strings) && rc == CURLE_OK; i++)
		if (strings[i].val != NULL)
			rc = curl_easy_setopt(h, strings[i].opt, strings[i].val);
	if (rc == CURLE_OK && q->json != NULL)
		rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->json));
	if (rc == CURLE_OK && headers != NULL)
		rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	return rc;
}

/* A POST's headers, or NULL when out of memory. "Expect:" turns off curl's 100-continue
 * round trip for bodies over 1 KiB (a long Bengali reply). */
static struct curl_slist *post_headers(void)
{
	struct curl_slist *first = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *all = first != NULL ? curl_slist_append(first, "Expect:") : NULL;
	if (all == NULL)
		curl_slist_free_all(first);
	return all;
}

void wb_graph_exchange(const struct wb_graph_request *q, struct wb_graph_reply *r)
{
	struct curl_slist *headers = q->json != NULL ? post_headers() : NULL;
	r->h = curl_easy_init();
	r->rc = r->h == NULL || (q->json != NULL && headers == NULL) ? CURLE_FAILED_INIT
								       : setup(r->h, q, headers, r);
	if (r->rc == CURLE_OK)
		r->rc = curl_easy_perform(r->h);
	if (r->h != NULL) {
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->length);
	}
	curl_easy_cleanup(r->h);
	r->h = NULL;
	curl_slist_free_all(headers);
}

/* Transfer failures that retrying soon cannot mend (graph.h). */
static const struct {
	CURLcode rc;
	enum wb_fail fail;
} curl_codes[] = {
	{ CURLE_PEER_FAILED_VERIFICATION, WB_FAIL_LATER },
	{ CURLE_SSL_CACERT_BADFILE, WB_FAIL_LATER },
	{ CURLE_SSL_CERTPROBLEM, WB_FAIL_LATER },
	{ CURLE_UNSUPPORTED_PROTOCOL, WB_FAIL_LATER },  /* e.g. redirected from https to http */
	{ CURLE_TOO_MANY_REDIRECTS, WB_FAIL_LATER },
};

enum wb_fail wb_graph_transfer_fail(const struct wb_graph_reply *r, enum wb_fail malformed,
				    char **text)
{
	enum wb_fail f = r->rc == CURLE_URL_MALFORMAT ? malformed : WB_FAIL_SOON;
	for (size_t i = 0; i < G_N_ELEMENTS(curl_codes); i++)
		if (curl_codes[i].rc == r->rc)
			f = curl_codes[i].fail;
	*text = g_strdup_printf("%s%s%s", curl_easy_strerror(r->rc), r->errbuf[0] ? ": " : "",
				r->errbuf);
	return f;
}

/* ---- Graph's error body -------------------------------------------------------------- */

static char *json_line(json_t *obj, const char *key, size_t max)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s != NULL ? wb_clean_line(s, max) : NULL;
}

void wb_graph_error_parse(json_t *root, struct wb_graph_error *g)
{
	*g = (struct wb_graph_error){ .code = -1, .subcode = -1, .is_transient = -1 };
	json_t *e = json_object_get(root, "error");
	json_t *v;
	if (json_is_integer(v = json_object_get(e, "code")))
		g->code = json_integer_value(v);
	if (json_is_integer(v = json_object_get(e, "error_subcode")))
		g->subcode = json_integer_value(v);
	if (json_is_boolean(v = json_object_get(e, "is_transient")))
		g->is_transient = json_is_true(v);
	g->message = json_line(e, "message", WB_MAX_GRAPH_TEXT_CHARS);
	g->type = json_line(e, "type", WB_MAX_GRAPH_WORD_CHARS);
	g->details = json_line(json_object_get(e, "error_data"), "details",
			       WB_MAX_GRAPH_TEXT_CHARS);
	g->fbtrace_id = json_line(e, "fbtrace_id", WB_MAX_GRAPH_WORD_CHARS);
}

void wb_graph_error_clear(struct wb_graph_error *g)
{
	g_free(g->message);
	g_free(g->type);
	g_free(g->details);
	g_free(g->fbtrace_id);
	*g = (struct wb_graph_error){ .code = -1, .subcode = -1, .is_transient = -1 };
}

void wb_graph_error_append(GString *s, long status, const struct wb_graph_error *g,
			   const GByteArray *fallback)
{
	g_string_append_printf(s, "HTTP %ld", status);
	if (g->code >= 0)
		g_string_append_printf(s, ", Graph code %" JSON_INTEGER_FORMAT, g->code);
	if (g->subcode >= 0)
		g_string_append_printf(s, " (subcode %" JSON_INTEGER_FORMAT ")", g->subcode);
	if (g->fbtrace_id != NULL)
		g_string_append_printf(s, ", fbtrace_id %s", g->fbtrace_id);
	g_autofree char *own = NULL;
	const char *msg = g->message;
	if (msg == NULL && fallback != NULL && fallback->len > 0) {
		g_autofree char *raw = g_strndup((const char *)fallback->data, fallback->len);
		msg = own = wb_clean_line(raw, WB_MAX_GRAPH_TEXT_CHARS);
	}
	if (msg != NULL && *msg != '\0')
		g_string_append_printf(s, ": %s", msg);
}

/* Codes any Graph endpoint may answer; the callers add their own (graph.h). */
static const struct wb_graph_code common_codes[] = {
	{ 1, 2, WB_FAIL_SOON },             /* unknown / temporary service error */
	{ 4, 4, WB_FAIL_SOON },             /* app rate limit */
	{ 80007, 80007, WB_FAIL_SOON },     /* WABA rate limit */
	{ 130429, 130429, WB_FAIL_SOON },   /* the number's throughput */
	{ 131000, 131000, WB_FAIL_SOON },   /* something went wrong */
	{ 131016, 131016, WB_FAIL_SOON },   /* service unavailable */
	{ 0, 0, WB_FAIL_LATER },            /* auth, capability and permission problems */
	{ 3, 3, WB_FAIL_LATER },
	{ 10, 10, WB_FAIL_LATER },
	{ 190, 190, WB_FAIL_LATER },        /* token expired or invalid: stop, alert */
	{ 200, 299, WB_FAIL_LATER },
	{ 368, 368, WB_FAIL_LATER },        /* temporarily blocked for policy violations */
	{ 131057, 131057, WB_FAIL_LATER },  /* account in maintenance */
	{ 100, 100, WB_FAIL_FINAL },        /* invalid parameter, or no such object */
};

static enum wb_fail find_code(json_int_t code, const struct wb_graph_code *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (code >= t[i].lo && code <= t[i].hi)
			return t[i].fail;
	return WB_FAIL_NONE;
}

enum wb_fail wb_graph_classify(const struct wb_graph_error *g, const struct wb_graph_code *own,
			       size_t n)
{
	if (g->is_transient == 1)
		return WB_FAIL_SOON;
	enum wb_fail f = find_code(g->code, own, n);
	return f != WB_FAIL_NONE ? f : find_code(g->code, common_codes, G_N_ELEMENTS(common_codes));
}
