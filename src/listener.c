/* listener: the HTTP front of `serve` on libmicrohttpd's event loop (see listener.h).
 *
 * Design rationale:
 * - A thread per connection made every open connection cost a thread, and a few hundred
 *   slow clients held them all. Here a connection costs its socket, WB_CONN_MEMORY at
 *   most and a registry entry; a suspended one (waiting for its commit) no thread at all.
 *   Group commit stays: every body handed to the owner while it commits waits in its
 *   queue and goes into the next transaction together.
 * - The life of a request on its event thread: the first call decides what the headers
 *   decide (route, length, signature shape, budget); body calls copy into a buffer
 *   charged to the budget before a byte is taken; the final call checks the signature
 *   and suspends the connection with the work handed to the owner. wb_work_done()
 *   resumes it, and the next call queues the answer.
 * - Thousands of connections mean thousands of descriptors; the acceptor keeps them
 *   above FD_SETSIZE so that libetpan's select(2) never meets a descriptor it cannot
 *   take (glibc aborts: "bit out of range 0 - FD_SETSIZE on fd_set").
 * - libmicrohttpd 0.9.75 must not be stopped while a connection is suspended (it aborts).
 *   Stopping therefore refuses new requests, waits for those in flight, and then, under
 *   the lock every suspension takes, closes the door on new suspensions and waits for
 *   the last work to come back before it stops the daemon.
 * - Locks: l->lock (counters of requests in flight and suspended), budget_lock and
 *   log_lock are leaves, never held together nor across a libmicrohttpd call; the
 *   registry's lock is a leaf too (connreg.h). No lock-order cycle is possible. */
#include "listener.h"
#include "budget.h"
#include "caps.h"
#include "connreg.h"
#include "metrics.h"
#include "ratelog.h"
#include "util.h"

#include <gio/gio.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- refusals: what is logged (rate-limited) and counted ------------------------------ */

enum refusal {
	RF_SIG_MISSING, RF_SIG_MALFORMED, RF_SIG_WRONG, RF_TOO_LARGE, RF_GREW, RF_LENGTHS,
	RF_BUSY, RF_BUSY_ADDRESS, RF_CUT, RF_ACCEPT, RF_LIBRARY, RF_COUNT
};

/* Each reason: the text logged, the name its summaries give it, the answer (0: none, it
 * is not a refused request) and the /metrics reason (-1: not a webhook rejection counted
 * there). The summary names are kept by reference by the rate limiter: literals. */
#define REFUSED(t) .text = t, .summary = "refused (" t ")"
static const struct {
	const char *text, *summary;
	unsigned status;
	const char *answer;
	int metric;
} refusals[RF_COUNT] = {
	[RF_SIG_MISSING] = { REFUSED("missing X-Hub-Signature-256"), MHD_HTTP_UNAUTHORIZED,
			     "bad signature\n", WB_REJECT_SIGNATURE },
	[RF_SIG_MALFORMED] = { REFUSED("malformed X-Hub-Signature-256 (not sha256= and 64 hex "
				       "digits)"), MHD_HTTP_UNAUTHORIZED, "bad signature\n",
			       WB_REJECT_SIGNATURE },
	[RF_SIG_WRONG] = { REFUSED("wrong X-Hub-Signature-256"), MHD_HTTP_UNAUTHORIZED,
			   "bad signature\n", WB_REJECT_SIGNATURE },
	[RF_TOO_LARGE] = { REFUSED("Content-Length larger than [webhook] max_body, or not a "
				   "number"), MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n",
			   WB_REJECT_TOO_LARGE },
	[RF_GREW] = { REFUSED("chunked body grew larger than [webhook] max_body"),
		      MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", WB_REJECT_TOO_LARGE },
	[RF_LENGTHS] = { REFUSED("conflicting Content-Length headers"), MHD_HTTP_BAD_REQUEST,
			 "conflicting Content-Length\n", -1 },
	[RF_BUSY] = { REFUSED("[webhook] body_memory is in use"), MHD_HTTP_SERVICE_UNAVAILABLE,
		      "busy, retry later\n", WB_REJECT_BUSY },
	[RF_BUSY_ADDRESS] = { REFUSED("its address holds its share of [webhook] body_memory"),
			      MHD_HTTP_SERVICE_UNAVAILABLE, "busy, retry later\n", WB_REJECT_BUSY },
	[RF_CUT] = { .text = "request not complete within [webhook] request_timeout",
		     .summary = "cut (request not complete within [webhook] request_timeout)",
		     .metric = -1 },
	[RF_ACCEPT] = { .text = "connections that could not be accepted",
			.summary = "connections that could not be accepted", .metric = -1 },
	[RF_LIBRARY] = { .text = "messages from libmicrohttpd",
			 .summary = "messages from libmicrohttpd", .metric = -1 },
};
#undef REFUSED

/* The summary names in reason order, as the rate limiter takes them. */
static const char *const *summary_names(void)
{
	static const char *names[RF_COUNT + 1];
	for (int i = 0; i < RF_COUNT; i++)
		names[i] = refusals[i].summary;
	return names;
}

/* ---- the listener and its requests ----------------------------------------------------- */

struct wb_listener {
	const struct wb_listener_ops *ops;
	void *owner;
	struct MHD_Daemon *d;
	int lfd;                 /* the listening socket */
	bool high;               /* connections get descriptors from FD_SETSIZE up */
	gint accept_stop;        /* atomic: the acceptor must stop */
	GThread *acceptor;
	struct wb_connreg *reg;
	gint64 timeout;          /* request_timeout in microseconds */
	int max_connections, max_per_ip; /* as configured at start */
	size_t body_memory, share;        /* the budget's total and one address's share */

	GMutex lock;
	GCond changed;           /* in_flight or suspended went down */
	GCond reaper_wake;       /* the reaper must stop */
	unsigned in_flight;      /* requests between their first call and their end */
	unsigned suspended;      /* handed to the owner and not yet resumed */
	bool draining;           /* new requests are closed unanswered */
	bool closing;            /* no more suspensions */
	bool reaper_stop;
	GThread *reaper;

	GMutex budget_lock;
	struct wb_budget *budget;

	GMutex log_lock;
	struct wb_ratelog *rlog;
	GPtrArray *summaries;    /* lines the rate limiter wrote, to log; under log_lock */
};

enum route { R_NONE, R_WEBHOOK, R_HEALTH, R_METRICS, R_ANSWERED };
enum wait { W_NONE, W_WAITING, W_DONE };

struct wb_work {
	struct request *rq;
	enum wb_work_kind kind;
	bool verified;
	unsigned status;
	const char *type;
	char *text;
	size_t len;
};

struct request {
	struct wb_listener *l;
	struct MHD_Connection *conn;
	struct wb_conn *entry;     /* its connection in the registry */
	const struct wb_config *cfg;
	void *cfg_ref;
	enum route route;
	guint8 *buf;               /* the body so far: len bytes of `charged` allocated */
	size_t len;
	size_t charged;            /* to the budget: Content-Length, or the buffer when chunked */
	enum refusal refused;      /* after the body: RF_GREW, RF_BUSY, …; RF_COUNT: none */
	enum wait wait;
	struct wb_work work;
};

/* ---- logging ------------------------------------------------------------------------- */

/* Log the summaries the rate limiter wrote into l->summaries, if any. Called with
 * log_lock held, which it releases: the lines are logged outside it. */
static void log_summaries_unlock(struct wb_listener *l)
{
	GPtrArray *lines = NULL;
	if (l->summaries->len) {
		lines = l->summaries;
		l->summaries = g_ptr_array_new_with_free_func(g_free);
	}
	g_mutex_unlock(&l->log_lock);
	for (guint i = 0; lines && i < lines->len; i++)
		g_warning("%s", (const char *)lines->pdata[i]);
	if (lines)
		g_ptr_array_unref(lines);
}

/* Whether this refusal is the one of its interval to log; summaries are logged here. */
static bool note_refusal(struct wb_listener *l, enum refusal why, const char *addr, gint64 now)
{
	g_mutex_lock(&l->log_lock);
	bool first = wb_ratelog_note(l->rlog, why, addr, now, l->summaries);
	log_summaries_unlock(l);
	return first;
}

static void flush_summaries(struct wb_listener *l, gint64 now)
{
	g_mutex_lock(&l->log_lock);
	wb_ratelog_flush(l->rlog, now, l->summaries);
	log_summaries_unlock(l);
}

/* libmicrohttpd's own messages (connections it gave up on, accept errors): one per
 * interval and a count, like refusals. */
static void library_log(void *cls, const char *fmt, va_list ap) G_GNUC_PRINTF(2, 0);

static void library_log(void *cls, const char *fmt, va_list ap)
{
	struct wb_listener *l = cls;
	if (!note_refusal(l, RF_LIBRARY, NULL, g_get_monotonic_time()))
		return;
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	g_message("libmicrohttpd: %s", g_strchomp(msg));
}

/* ---- answers --------------------------------------------------------------------------- */

static enum MHD_Result queue(struct request *rq, unsigned status, const char *type,
			     const char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	enum MHD_Result ret = MHD_queue_response(rq->conn, status, r);
	MHD_destroy_response(r);
	rq->route = R_ANSWERED;
	return ret;
}

static enum MHD_Result answer(struct request *rq, unsigned status, const char *text)
{
	return queue(rq, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* Answer a refused request as its reason says, and count and log it. */
static enum MHD_Result refuse(struct request *rq, enum refusal why)
{
	if (refusals[why].metric >= 0)
		wb_metrics_webhook_rejected((enum wb_reject)refusals[why].metric);
	const char *who = wb_conn_addr(rq->entry);
	if (note_refusal(rq->l, why, who, g_get_monotonic_time()))
		g_warning("webhook from %s refused (%u): %s", who, refusals[why].status,
			  refusals[why].text);
	return answer(rq, refusals[why].status, refusals[why].answer);
}

/* ---- the body and its budget ----------------------------------------------------------- */

/* Move this request's charge to want bytes; false (charge unchanged) when refused, with
 * the reason in rq->refused. */
static bool charge(struct request *rq, size_t want)
{
	struct wb_listener *l = rq->l;
	g_mutex_lock(&l->budget_lock);
	enum wb_budget_verdict v = wb_budget_charge(l->budget, wb_conn_addr(rq->entry),
						    rq->charged, want);
	g_mutex_unlock(&l->budget_lock);
	if (v != WB_BUDGET_OK) {
		rq->refused = v == WB_BUDGET_ADDRESS ? RF_BUSY_ADDRESS : RF_BUSY;
		return false;
	}
	wb_metrics_body_bytes((int64_t)want - (int64_t)rq->charged);
	rq->charged = want;
	return true;
}

static void drop_body(struct request *rq)
{
	g_clear_pointer(&rq->buf, g_free);
	rq->len = 0;
	if (rq->charged)
		charge(rq, 0);
}

/* Room for n more bytes: the buffer is always as large as the charge, which is the
 * Content-Length at once or, for a chunked body, grows by doubling. */
static bool make_room(struct request *rq, size_t n)
{
	size_t need = rq->len + n, max = rq->cfg->max_body;
	if (need > max) {
		rq->refused = RF_GREW;
		return false;
	}
	if (rq->buf && need <= rq->charged)
		return true;
	size_t want = rq->charged;
	if (need > want) {
		want = MIN(MAX(need, MAX(2 * rq->charged, (size_t)4096)), max);
		if (!charge(rq, want))
			return false;
	}
	rq->buf = g_realloc(rq->buf, want);
	return true;
}

static void take(struct request *rq, const char *data, size_t n)
{
	if (rq->refused != RF_COUNT)
		return; /* refused already: the rest is read and dropped */
	if (!make_room(rq, n)) {
		drop_body(rq);
		return;
	}
	memcpy(rq->buf + rq->len, data, n);
	rq->len += n;
}

/* ---- the first call: what the headers decide ----------------------------------------- */

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	if (g_ascii_strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

static enum MHD_Result begin_post(struct request *rq, const char *url)
{
	const struct wb_config *cfg = rq->cfg;
	struct MHD_Connection *conn = rq->conn;
	if (strcmp(url, cfg->path_webhook) != 0)
		return answer(rq, MHD_HTTP_NOT_FOUND, "not found\n");
	/* Two Content-Length headers: the body's end is ambiguous (request smuggling). */
	unsigned lengths = 0;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_length, &lengths);
	if (lengths > 1)
		return refuse(rq, RF_LENGTHS);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	guint64 n = 0;
	if (cl && (!g_ascii_string_to_unsigned(cl, 10, 0, G_MAXUINT64, &n, NULL) ||
		   n > cfg->max_body))
		return refuse(rq, RF_TOO_LARGE);
	if (cfg->app_secret) {
		const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							      "X-Hub-Signature-256");
		if (!sig)
			return refuse(rq, RF_SIG_MISSING);
		if (!wb_signature_shape_ok(sig))
			return refuse(rq, RF_SIG_MALFORMED);
	}
	if (cl && n > 0 && !charge(rq, (size_t)n))
		return refuse(rq, rq->refused);
	rq->route = R_WEBHOOK;
	return MHD_YES;
}

static enum MHD_Result handshake(struct request *rq)
{
	struct MHD_Connection *conn = rq->conn;
	const char *mode = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "hub.mode");
	const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
							"hub.verify_token");
	const char *challenge = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
							    "hub.challenge");
	const char *want = rq->cfg->verify_token;
	bool ok = mode && strcmp(mode, "subscribe") == 0 && token && challenge && want &&
		  strlen(challenge) <= WB_MAX_CHALLENGE &&
		  wb_ct_equal(token, strlen(token), want, strlen(want));
	if (!ok) {
		g_warning("webhook verification from %s refused (wrong or missing verify token%s)",
			  wb_conn_addr(rq->entry), want ? "" : "; [webhook] verify_token_file is not set");
		return answer(rq, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	g_message("webhook verification handshake answered");
	return answer(rq, MHD_HTTP_OK, challenge);
}

static enum MHD_Result begin(struct request *rq, const char *url, const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return begin_post(rq, url);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/healthz") == 0)
		rq->route = R_HEALTH;
	else if (strcmp(url, "/metrics") == 0)
		rq->route = R_METRICS;
	else if (strcmp(url, rq->cfg->path_webhook) == 0)
		return handshake(rq);
	else
		return answer(rq, MHD_HTTP_NOT_FOUND, "not found\n");
	return MHD_YES;
}

/* ---- the final call: hand the work to the owner ------------------------------------- */

/* Count one more in *counter unless stopping has shut that door; false when it has. */
static bool enter(struct wb_listener *l, const bool *shut, unsigned *counter)
{
	g_mutex_lock(&l->lock);
	bool open = !*shut;
	if (open)
		(*counter)++;
	g_mutex_unlock(&l->lock);
	return open;
}

static enum MHD_Result hand_off(struct request *rq, enum wb_work_kind kind)
{
	struct wb_listener *l = rq->l;
	if (!wb_connreg_hold(l->reg, rq->entry))
		return MHD_NO; /* cut at its deadline meanwhile: the client is gone */
	if (!enter(l, &l->closing, &l->suspended))
		return MHD_NO;
	rq->work = (struct wb_work){ .rq = rq, .kind = kind, .verified = rq->cfg->app_secret != NULL };
	rq->wait = W_WAITING;
	MHD_suspend_connection(rq->conn);
	l->ops->submit(l->owner, &rq->work);
	return MHD_YES;
}

static enum MHD_Result finish(struct request *rq)
{
	const struct wb_config *cfg = rq->cfg;
	if (rq->route == R_HEALTH)
		return hand_off(rq, WB_WORK_HEALTH);
	if (rq->route == R_METRICS)
		return hand_off(rq, WB_WORK_METRICS);
	if (rq->route != R_WEBHOOK)
		return MHD_YES;
	if (rq->refused != RF_COUNT)
		return refuse(rq, rq->refused);
	const char *sig = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
						      "X-Hub-Signature-256");
	if (cfg->app_secret && !wb_signature_ok(cfg->app_secret, sig, rq->buf, rq->len))
		return refuse(rq, RF_SIG_WRONG);
	return hand_off(rq, WB_WORK_COMMIT);
}

/* Called again after wb_work_done() resumed the connection. */
static enum MHD_Result answer_work(struct request *rq)
{
	struct wb_work *w = &rq->work;
	wb_connreg_restart(rq->l->reg, rq->entry, g_get_monotonic_time());
	drop_body(rq);
	return queue(rq, w->status, w->type, w->text, w->len);
}

/* ---- libmicrohttpd's callbacks -------------------------------------------------------- */

static struct request *request_new(struct wb_listener *l, struct MHD_Connection *conn)
{
	if (!enter(l, &l->draining, &l->in_flight))
		return NULL;
	struct request *rq = g_new0(struct request, 1);
	rq->l = l;
	rq->conn = conn;
	rq->entry = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT)->socket_context;
	rq->cfg = l->ops->config_get(l->owner, &rq->cfg_ref);
	rq->refused = RF_COUNT;
	return rq;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct request *rq = *con_cls;
	if (!rq) {
		if (!(rq = request_new(cls, conn)))
			return MHD_NO; /* stopping */
		*con_cls = rq;
		return begin(rq, url, method);
	}
	if (*size) {
		if (rq->route == R_WEBHOOK)
			take(rq, data, *size);
		*size = 0;
		return MHD_YES;
	}
	if (rq->wait == W_DONE)
		return answer_work(rq);
	if (rq->wait == W_WAITING || rq->route == R_ANSWERED)
		return MHD_YES;
	return finish(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct wb_listener *l = cls;
	struct request *rq = *con_cls;
	if (!rq)
		return;
	*con_cls = NULL;
	drop_body(rq);
	g_free(rq->work.text);
	wb_connreg_restart(l->reg, rq->entry, g_get_monotonic_time());
	l->ops->config_put(l->owner, rq->cfg_ref);
	g_free(rq);
	g_mutex_lock(&l->lock);
	l->in_flight--;
	g_cond_broadcast(&l->changed);
	g_mutex_unlock(&l->lock);
}

/* The peer's address as text, written straight into buf (this runs for every new
 * connection, on an event thread). */
static void peer(struct MHD_Connection *conn, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const void *addr = NULL;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (!addr || !inet_ntop(sa->sa_family, addr, buf, (socklen_t)n))
		g_strlcpy(buf, "unknown peer", n);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct wb_listener *l = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		char who[64];
		peer(conn, who, sizeof who);
		int fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)->connect_fd;
		*socket_context = wb_connreg_add(l->reg, fd, who, g_get_monotonic_time());
		wb_metrics_connections(1);
	} else if (*socket_context) {
		wb_connreg_remove(l->reg, *socket_context);
		*socket_context = NULL;
		wb_metrics_connections(-1);
	}
}

/* ---- the owner's side of a work ------------------------------------------------------- */

enum wb_work_kind wb_work_kind(const struct wb_work *w)
{
	return w->kind;
}

const void *wb_work_body(const struct wb_work *w, size_t *len)
{
	*len = w->rq->len;
	return w->rq->buf ? (const void *)w->rq->buf : "";
}

bool wb_work_verified(const struct wb_work *w)
{
	return w->verified;
}

void wb_work_done(struct wb_work *w, unsigned status, const char *content_type,
		  const char *text, size_t len)
{
	struct request *rq = w->rq;
	struct wb_listener *l = rq->l;
	w->status = status;
	w->type = content_type;
	w->text = g_memdup2(text, len);
	w->len = len;
	rq->wait = W_DONE;
	/* From here on the event thread may end the request and free rq and w. */
	MHD_resume_connection(rq->conn);
	g_mutex_lock(&l->lock);
	l->suspended--;
	g_cond_broadcast(&l->changed);
	g_mutex_unlock(&l->lock);
}

/* ---- the reaper ----------------------------------------------------------------------- */

static void reap(struct wb_listener *l, gint64 now)
{
	g_autoptr(GPtrArray) cut = g_ptr_array_new_with_free_func(g_free);
	wb_connreg_reap(l->reg, now, cut);
	for (guint i = 0; i < cut->len; i++) {
		const char *who = cut->pdata[i];
		wb_metrics_request_cut();
		if (note_refusal(l, RF_CUT, who, now))
			g_warning("connection from %s cut: %s (%" G_GINT64_FORMAT " s)", who,
				  refusals[RF_CUT].text, l->timeout / G_USEC_PER_SEC);
	}
	flush_summaries(l, now);
}

static gpointer reaper_main(gpointer data)
{
	struct wb_listener *l = data;
	g_mutex_lock(&l->lock);
	while (!l->reaper_stop) {
		gint64 next = g_get_monotonic_time() + G_USEC_PER_SEC / 4;
		while (!l->reaper_stop && g_cond_wait_until(&l->reaper_wake, &l->lock, next))
			;
		g_mutex_unlock(&l->lock);
		reap(l, g_get_monotonic_time());
		g_mutex_lock(&l->lock);
	}
	g_mutex_unlock(&l->lock);
	return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

/* "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" → a socket address. */
static bool parse_listen(const char *listen, struct sockaddr_storage *sa)
{
	g_autofree char *host = NULL;
	bool bracketed;
	guint16 port;
	if (!wb_split_host_port(listen, &host, &bracketed, &port))
		return false;
	g_autoptr(GSocketAddress) a = g_inet_socket_address_new_from_string(
		g_ascii_strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host, port);
	return a && g_socket_address_to_native(a, sa, sizeof *sa, NULL);
}

/* Raise the soft limit of open files to the hard one (no call when they are equal:
 * contrib/wabridge.service sets both, and its system-call filter forbids setrlimit).
 * Connections then get the descriptors from FD_SETSIZE up, when there are any, else share
 * the low ones with everything else, keeping WB_FD_RESERVE of them free. How many
 * connections fit; *high: whether they go above FD_SETSIZE. */
static unsigned connection_room(unsigned wanted, bool *high)
{
	struct rlimit rl;
	*high = false;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return wanted;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t had = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = had;
	}
	rlim_t n = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
	*high = n > FD_SETSIZE + 16;
	rlim_t room = *high ? n - FD_SETSIZE : n > WB_FD_RESERVE + 16 ? n - WB_FD_RESERVE : 16;
	if (room >= wanted)
		return wanted;
	g_warning("[webhook] max_connections = %u, but only %llu files may be open (ulimit -n, "
		  "LimitNOFILE=): taking at most %u connections", wanted, (unsigned long long)n,
		  (unsigned)room);
	return (unsigned)room;
}

static struct MHD_Daemon *start_daemon(struct wb_listener *l, const struct wb_config *cfg)
{
	/* Each connection stays on one thread: with two per core (at least 4), a thread the
	 * scheduler sets aside on a busy machine holds up a smaller share of them. */
	unsigned threads = CLAMP(2 * g_get_num_processors(), 4u, 16u);
	unsigned limit = MAX(connection_room((unsigned)cfg->max_connections, &l->high), threads);
	return MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, l,
		MHD_OPTION_EXTERNAL_LOGGER, library_log, l, /* first, to catch every message */
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WB_CONN_MEMORY,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
		MHD_OPTION_END);
}

/* ---- the acceptor ----------------------------------------------------------------------
 * Connections are accepted here rather than by libmicrohttpd, so that each socket can
 * be moved to a descriptor of FD_SETSIZE or more before the daemon takes it
 * (MHD_add_connection, which applies the connection limits). The descriptors below
 * stay for everything else: libetpan waits on its IMAP sockets with select(2), which
 * cannot take a descriptor above FD_SETSIZE, and thousands of open connections would
 * otherwise push its sockets there. */

static int listen_on(const struct sockaddr_storage *sa)
{
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)sa, len) != 0 || listen(fd, SOMAXCONN) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void accept_failed(struct wb_listener *l, int e)
{
	if (e == EINTR || e == ECONNABORTED || e == EAGAIN || e == EPROTO)
		return;
	if (note_refusal(l, RF_ACCEPT, NULL, g_get_monotonic_time()))
		g_warning("cannot accept a connection: %s", g_strerror(e));
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
		g_usleep(G_USEC_PER_SEC / 10); /* let some connections close */
}

static gpointer acceptor_main(gpointer data)
{
	struct wb_listener *l = data;
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof sa;
		int fd = accept4(l->lfd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (g_atomic_int_get(&l->accept_stop)) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		if (fd >= 0 && l->high) {
			int high = fcntl(fd, F_DUPFD_CLOEXEC, FD_SETSIZE);
			close(fd);
			fd = high; /* -1 (EMFILE) when every high descriptor is taken */
		}
		if (fd < 0)
			accept_failed(l, errno);
		else
			MHD_add_connection(l->d, fd, (struct sockaddr *)&sa, len); /* closes a refused one */
	}
}

static void listener_free(struct wb_listener *l)
{
	close(l->lfd);
	wb_connreg_free(l->reg);
	wb_budget_free(l->budget);
	wb_ratelog_free(l->rlog);
	g_ptr_array_unref(l->summaries);
	g_mutex_clear(&l->lock);
	g_mutex_clear(&l->budget_lock);
	g_mutex_clear(&l->log_lock);
	g_cond_clear(&l->changed);
	g_cond_clear(&l->reaper_wake);
	g_free(l);
}

/* One address's share of body_memory: 0 when per-address limits are off. */
static size_t address_share(const struct wb_config *cfg)
{
	return cfg->max_connections_per_ip ? wb_budget_share(cfg->body_memory, cfg->max_body) : 0;
}

bool wb_listener_limits_differ(const struct wb_listener *l, const struct wb_config *cfg)
{
	return cfg->max_connections != l->max_connections ||
	       cfg->max_connections_per_ip != l->max_per_ip ||
	       (gint64)cfg->request_timeout * G_USEC_PER_SEC != l->timeout ||
	       cfg->body_memory != l->body_memory || address_share(cfg) != l->share;
}

struct wb_listener *wb_listener_start(const struct wb_config *cfg,
				      const struct wb_listener_ops *ops, void *owner)
{
	struct sockaddr_storage sa;
	if (!parse_listen(cfg->listen, &sa)) {
		g_critical("[webhook] listen = %s is not ADDRESS:PORT", cfg->listen);
		return NULL;
	}
	int lfd = listen_on(&sa);
	if (lfd < 0) {
		g_critical("cannot listen on %s: %s", cfg->listen, g_strerror(errno));
		return NULL;
	}
	struct wb_listener *l = g_new0(struct wb_listener, 1);
	l->lfd = lfd;
	l->ops = ops;
	l->owner = owner;
	l->timeout = (gint64)cfg->request_timeout * G_USEC_PER_SEC;
	g_mutex_init(&l->lock);
	g_mutex_init(&l->budget_lock);
	g_mutex_init(&l->log_lock);
	g_cond_init(&l->changed);
	g_cond_init(&l->reaper_wake);
	l->reg = wb_connreg_new(l->timeout);
	l->max_connections = cfg->max_connections;
	l->max_per_ip = cfg->max_connections_per_ip;
	l->body_memory = cfg->body_memory;
	l->share = address_share(cfg);
	l->budget = wb_budget_new(l->body_memory, l->share);
	l->summaries = g_ptr_array_new_with_free_func(g_free);
	l->rlog = wb_ratelog_new(summary_names(), (gint64)WB_REFUSAL_LOG_S * G_USEC_PER_SEC);
	if (!(l->d = start_daemon(l, cfg))) {
		g_critical("cannot start the HTTP listener on %s", cfg->listen);
		listener_free(l);
		return NULL;
	}
	l->reaper = g_thread_new("reaper", reaper_main, l);
	l->acceptor = g_thread_new("acceptor", acceptor_main, l);
	g_message("listening on http://%s%s", cfg->listen, cfg->path_webhook);
	return l;
}

/* Wait, under l->lock, until nothing is in flight or until (monotonic) passes. */
static void wait_quiet(struct wb_listener *l, gint64 until)
{
	while ((l->in_flight || l->suspended) && g_cond_wait_until(&l->changed, &l->lock, until))
		;
}

void wb_listener_stop(struct wb_listener *l)
{
	gint64 grace = MIN(l->timeout, (gint64)WB_DRAIN_GRACE_S * G_USEC_PER_SEC);
	/* No new connections: a listening socket shut down wakes accept(2) (Linux). */
	g_atomic_int_set(&l->accept_stop, 1);
	shutdown(l->lfd, SHUT_RDWR);
	g_thread_join(l->acceptor);
	g_mutex_lock(&l->lock);
	l->draining = true;
	wait_quiet(l, g_get_monotonic_time() + grace);
	/* libmicrohttpd aborts when stopped with a connection suspended: let none start, and
	 * wait for the owner to answer those that did. */
	l->closing = true;
	while (l->suspended)
		g_cond_wait(&l->changed, &l->lock);
	g_mutex_unlock(&l->lock);
	MHD_stop_daemon(l->d);
	g_mutex_lock(&l->lock);
	l->reaper_stop = true;
	g_cond_signal(&l->reaper_wake);
	g_mutex_unlock(&l->lock);
	g_thread_join(l->reaper);
	flush_summaries(l, G_MAXINT64);
	listener_free(l);
}
