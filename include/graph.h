/* graph: what every request to Meta's Graph API shares — the User-Agent, the checks on
 * the connection settings, one HTTP exchange into a capped buffer, Graph's error body,
 * and error messages with the token scrubbed out. media.c (the media fetch) and wasend.c
 * (the sender) build on it; each keeps its own steps and its own reading of the answers.
 *
 * Fixed here for every request:
 * - One curl easy handle per exchange and nothing shared, so callers may run in several
 *   threads. libcurl requires curl_global_init() once, before any thread starts: main()
 *   does it. CURLOPT_NOSIGNAL keeps curl off signals.
 * - The token reaches libcurl only as CURLOPT_XOAUTH2_BEARER with CURLAUTH_BEARER, never
 *   as a custom header: libcurl then sends "Authorization: Bearer" only while a transfer
 *   stays on the scheme, host and port it started with, so a redirect to another host goes
 *   without it (CURLOPT_UNRESTRICTED_AUTH stays off). test-media checks the wire.
 * - https only, peer and host verified; plain http just to this machine (127.0.0.1, ::1,
 *   localhost) for the fake Graph API of the tests. A transfer that starts on https may
 *   not be redirected to http.
 * - No Accept-Encoding is sent: bytes arrive as the server hashed them.
 * - Nothing here logs. */
#ifndef WB_GRAPH_H
#define WB_GRAPH_H

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "fail.h"

/* The User-Agent sent on every Graph request: "wabridge/VERSION". */
const char *wb_graph_user_agent(void);

/* A token or an id as Graph has them: at least one character, visible ASCII only
 * (anything else could split a header or a log line). */
bool wb_graph_visible(const char *s);

/* True for an https URL, or an http one to a loopback host (tls.h); *plain tells which. */
bool wb_graph_url_allowed(const char *url, bool *plain);

/* What is wrong with an access token and an api_base, or NULL when both will do.
 * Either is configuration: callers classify it WB_FAIL_LATER. */
const char *wb_graph_settings_problem(const char *access_token, const char *api_base);

/* api_base without its trailing slashes, "/", then the formatted path. Newly allocated. */
char *wb_graph_url(const char *api_base, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Sets error to (domain, code) with the formatted message, every occurrence of token in
 * it replaced by "[token]" should a server or proxy ever echo it back. A token shorter
 * than 8 characters is no real one and would only garble the message: it is left. */
void wb_graph_set_error(GError **error, GQuark domain, enum wb_fail code, const char *token,
			const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* ---- one HTTP exchange --------------------------------------------------------------- */

struct wb_graph_request {
	const char *url;              /* passed wb_graph_url_allowed() */
	const char *access_token;     /* passed wb_graph_visible() */
	const char *ca_file;          /* NULL: the system CAs */
	const char *json;             /* NULL: a GET; else POSTed as application/json (not
				       * copied: it must outlive the exchange) */
	long redirects;               /* followed at most; 0: none */
	long timeout_s;               /* the whole transfer */
	long low_speed_bytes;         /* a transfer slower than this many bytes a second ... */
	long low_speed_s;             /* ... for this long is given up (0: never) */
};

/* An exchange and what came of it. The body is capped while it arrives: a 2xx answer at
 * cap bytes, any other at WB_MAX_GRAPH_REPLY_BYTES; passing the cap stops the transfer
 * (curl then reports a write error) and sets over_cap. Redirects' bodies never count
 * (libcurl skips them while following).
 *
 * With a sink (wb_graph_reply_sink()), a 2xx body is written to the sink's file as it
 * arrives and hashed on the way instead of kept: body then holds only a refusal's text,
 * and memory does not grow with the answer (a medium of 100 MiB). A write that fails
 * (a full disk) stops the transfer too, its errno in sink_errno. */
struct wb_graph_reply {
	CURL *h;                      /* while the transfer runs */
	GByteArray *body;
	size_t cap;
	int sink_fd;                  /* -1: none */
	GChecksum *sink_sum;          /* SHA-256 of what went to the sink (owned) */
	guint64 sunk;                 /* bytes written to the sink */
	int sink_errno;               /* a write to the sink failed with this */
	bool refuse_announced;        /* stop at the first bytes an answer whose Content-Length
				       * already passes the cap (the body then stays empty) */
	bool started;                 /* the first body bytes arrived */
	bool over_cap;
	curl_off_t length;            /* Content-Length of the final answer, -1 when none */
	long status;                  /* of the final answer, 0 when none */
	CURLcode rc;
	char errbuf[CURL_ERROR_SIZE];
};

void wb_graph_reply_init(struct wb_graph_reply *r, size_t cap, bool refuse_announced);

/* Sends r's 2xx body to fd (a regular file open for writing, positioned where the bytes
 * go) instead of memory, with a SHA-256 of it. Call after wb_graph_reply_init(). */
void wb_graph_reply_sink(struct wb_graph_reply *r, int fd);

/* Runs the request into r (from wb_graph_reply_init()); the outcome (curl code, status,
 * Content-Length, body) stays in r. */
void wb_graph_exchange(const struct wb_graph_request *q, struct wb_graph_reply *r);

/* Frees the body (which a caller may have taken, leaving NULL) and the sink's checksum;
 * the sink's file stays the caller's. */
void wb_graph_reply_clear(struct wb_graph_reply *r);

/* A failed transfer (r->rc not CURLE_OK) by what to do next: a certificate or protocol
 * problem, or too many redirects, is WB_FAIL_LATER; a malformed URL is `malformed`
 * (whose fault that is differs by caller); anything else (timeouts, refused or dropped
 * connections, truncated answers) is WB_FAIL_SOON. *text gets curl's words and its
 * error buffer; newly allocated. */
enum wb_fail wb_graph_transfer_fail(const struct wb_graph_reply *r, enum wb_fail malformed,
				    char **text);

/* ---- Graph's error body -------------------------------------------------------------- */

/* {"error":{"message","type","code","error_subcode","is_transient","error_data":{"details"},
 * "fbtrace_id"}}: numbers -1 when absent, strings cleaned to one line (wb_clean_line())
 * and NULL when absent. */
struct wb_graph_error {
	json_int_t code, subcode;
	int is_transient;             /* 1, 0, or -1 */
	char *message, *type, *details, *fbtrace_id;
};

/* Fills g from root's "error" object; root may be NULL or anything else. */
void wb_graph_error_parse(json_t *root, struct wb_graph_error *g);
void wb_graph_error_clear(struct wb_graph_error *g);

/* Appends "HTTP <status>[, Graph code C][ (subcode S)][, fbtrace_id F][: message]" to s.
 * Without a message from Graph, a non-empty fallback body (a CDN's or a proxy's own text)
 * stands in for it, cut to one line. */
void wb_graph_error_append(GString *s, long status, const struct wb_graph_error *g,
			   const GByteArray *fallback);

/* Graph codes from lo to hi, and what to do about them. */
struct wb_graph_code {
	json_int_t lo, hi;
	enum wb_fail fail;
};

/* What g's code says (reference §12): WB_FAIL_SOON when is_transient; else the row of
 * own[n] or of the codes every Graph endpoint answers (rate limits, outages, auth and
 * permission problems, an unknown object) holding it; WB_FAIL_NONE when none does, for
 * the caller to decide by the HTTP status. */
enum wb_fail wb_graph_classify(const struct wb_graph_error *g, const struct wb_graph_code *own,
			       size_t n);

#endif
