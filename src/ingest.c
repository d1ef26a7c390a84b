/* ingest: accept one webhook body outside the daemon; the CGI front end. */
#include "ingest.h"
#include "metrics.h"
#include "pipeline.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

enum wb_ingest_outcome wb_ingest_body(const struct wb_config *cfg, const void *body, size_t len,
				      const char *signature, const char *source, char **why)
{
	if (cfg->app_secret && !wb_signature_ok(cfg->app_secret, signature, body, len)) {
		*why = g_strdup_printf("%s X-Hub-Signature-256; nothing stored. Check [webhook] "
				       "app_secret_file against the app secret in Meta's App "
				       "Dashboard", signature && *signature ? "wrong" : "missing");
		return WB_INGEST_SIGNATURE;
	}
	GError *err = NULL;
	struct wb_store *store = wb_store_open_cfg(cfg, &err);
	if (!store) {
		*why = g_strdup_printf("cannot store the body, nothing kept: %s", err->message);
		g_error_free(err);
		return WB_INGEST_STORE;
	}
	struct wb_accept_info info;
	enum wb_accept_result r = wb_accept(cfg, store, body, len, cfg->app_secret != NULL,
					    source, &info);
	wb_store_close(store);
	switch (r) {
	case WB_ACCEPT_STORED:
		g_info("webhook body %" G_GINT64_FORMAT " stored: %u new messages, %u duplicates, "
		       "%u unrouted, %u statuses", info.body_id, info.counts.added,
		       info.counts.duplicates, info.counts.unrouted, info.counts.statuses);
		g_free(info.reason);
		return WB_INGEST_STORED;
	case WB_ACCEPT_BAD:
		*why = g_strdup_printf("%s; the body is kept as bad (body %" G_GINT64_FORMAT "), "
				       "see 'wabridge status'", info.reason, info.body_id);
		g_free(info.reason);
		return WB_INGEST_BAD;
	case WB_ACCEPT_NOT_STORED:
	default:
		*why = g_strdup_printf("cannot store the body, nothing kept: %s", info.reason);
		g_free(info.reason);
		return WB_INGEST_STORE;
	}
}

static int cgi_reply(int status, const char *reason, const char *body)
{
	printf("Status: %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", status,
	       reason, body);
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

static int cgi_handshake(const struct wb_config *cfg)
{
	const char *query = g_getenv("QUERY_STRING");
	g_autoptr(GHashTable) params = query ? g_uri_parse_params(query, -1, "&",
								  G_URI_PARAMS_NONE, NULL) : NULL;
	const char *mode = params ? g_hash_table_lookup(params, "hub.mode") : NULL;
	const char *token = params ? g_hash_table_lookup(params, "hub.verify_token") : NULL;
	const char *challenge = params ? g_hash_table_lookup(params, "hub.challenge") : NULL;
	const char *want = cfg->verify_token;
	if (!mode || strcmp(mode, "subscribe") != 0 || !token || !challenge || !want ||
	    strlen(challenge) > 512 || strpbrk(challenge, "\r\n") ||
	    !wb_ct_equal(token, strlen(token), want, strlen(want))) {
		g_warning("webhook verification from %s refused (wrong or missing verify token)",
			  g_getenv("REMOTE_ADDR") ? g_getenv("REMOTE_ADDR") : "unknown peer");
		return cgi_reply(403, "Forbidden", "forbidden\n");
	}
	g_message("webhook verification handshake answered");
	return cgi_reply(200, "OK", challenge);
}

/* Read exactly n bytes of the request body. */
static GByteArray *read_body(size_t n)
{
	GByteArray *b = g_byte_array_sized_new((guint)n);
	g_byte_array_set_size(b, (guint)n);
	size_t got = n ? fread(b->data, 1, n, stdin) : 0;
	if (got != n) {
		g_byte_array_unref(b);
		return NULL;
	}
	return b;
}

int wb_ingest_cgi(const struct wb_config *cfg)
{
	const char *method = g_getenv("REQUEST_METHOD");
	const char *peer = g_getenv("REMOTE_ADDR") ? g_getenv("REMOTE_ADDR") : "unknown peer";
	if (method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
		return cgi_handshake(cfg);
	if (!method || strcmp(method, "POST") != 0)
		return cgi_reply(405, "Method Not Allowed", "method not allowed\n");
	guint64 n = 0;
	const char *cl = g_getenv("CONTENT_LENGTH");
	if (!cl || !g_ascii_string_to_unsigned(cl, 10, 0, G_MAXUINT64, &n, NULL))
		return cgi_reply(411, "Length Required", "length required\n");
	if (n > cfg->max_body) {
		g_warning("webhook from %s refused (413): body larger than [webhook] max_body", peer);
		return cgi_reply(413, "Content Too Large", "body too large\n");
	}
	GByteArray *body = read_body((size_t)n);
	if (!body)
		return cgi_reply(400, "Bad Request", "short body\n");
	g_autofree char *why = NULL;
	enum wb_ingest_outcome r = wb_ingest_body(cfg, body->data, body->len,
						  g_getenv("HTTP_X_HUB_SIGNATURE_256"), "cgi", &why);
	g_byte_array_unref(body);
	switch (r) {
	case WB_INGEST_SIGNATURE:
		g_warning("webhook from %s refused (401): %s", peer, why);
		return cgi_reply(401, "Unauthorized", "bad signature\n");
	case WB_INGEST_STORE:
		g_warning("webhook not stored, answering 503 so Meta retries: %s", why);
		return cgi_reply(503, "Service Unavailable", "cannot store, retry later\n");
	case WB_INGEST_BAD:
		g_warning("%s", why); /* stored: Meta must stop retrying it */
		return cgi_reply(200, "OK", "ok\n");
	case WB_INGEST_STORED:
	default:
		return cgi_reply(200, "OK", "ok\n");
	}
}
