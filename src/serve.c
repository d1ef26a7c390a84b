/* serve: the daemon in front of Meta's webhooks.
 *
 * Design rationale:
 * - Start-up is linear: configuration (already loaded by main), committer, worker,
 *   listener; then the GLib main loop, which only waits for signals.
 * - The listener (libmicrohttpd, a thread per connection) never waits for media, IMAP or the
 *   Graph API. A signed POST is handed to the committer and answered 200 once its raw
 *   bytes are committed; 503 when the commit fails; nothing else happens on the request
 *   path. The committer takes every body waiting at that moment into one transaction
 *   (group commit), so a burst costs one sync instead of one per request.
 * - The worker thread expands committed bodies into messages and delivers them (the
 *   same wb_pass() as `wabridge run`), then sends the outbox and writes its records into
 *   the threads (wb_outbox_pass()). A commit wakes it at once; otherwise it sleeps
 *   until the soonest retry is due. Retries are rows in the store, so they survive
 *   restarts.
 * - With [replies] mode = imap, a watcher thread keeps a connection to the replies
 *   mailbox: it takes every new mail, then waits in IDLE (or polls every minute when
 *   the server has no IDLE or [imap] idle is off), and wakes the worker to send.
 * - SIGTERM/SIGINT: stop accepting, let requests in flight finish (their commits
 *   included), let the worker finish the message it is on, exit 0. SIGHUP: load the
 *   configuration again; a bad one is refused and the old one kept. The configuration is
 *   shared by reference count, so a request or pass in progress keeps the one it began
 *   with.
 * - A store that fails (disk full, read-only) is reopened before the next attempt, so the
 *   daemon recovers by itself once the disk is writable again. */
#include "serve.h"
#include "metrics.h"
#include "outbox.h"
#include "pipeline.h"
#include "reply.h"
#include "replywatch.h"
#include "render.h"
#include "store.h"
#include "util.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#define MAX_CONNECTIONS 512 /* each is a thread while open */
#define MAX_CHALLENGE 512

/* ---- configuration, shared by reference ----------------------------------------------- */

struct cfg_box {
	struct wb_config *cfg;
};

static void cfg_box_clear(gpointer p)
{
	wb_config_free(((struct cfg_box *)p)->cfg);
}

struct server {
	const char *config_path;
	GMutex cfg_lock;
	struct cfg_box *cfg;          /* current; take with cfg_get() */

	/* committer */
	GMutex c_lock;
	GCond c_work, c_done;
	GPtrArray *c_queue;           /* of struct commit * */
	bool c_stopping;
	GThread *c_thread;

	/* worker */
	GMutex w_lock;
	GCond w_wake;
	bool w_pending;
	gint w_stop;                  /* atomic: the worker should stop after this message */
	GThread *w_thread;

	/* reply watcher */
	gint r_stop;
	gint r_break;                 /* atomic: leave IDLE now (stopping, or a reload) */
	GMutex r_lock;
	GCond r_wake;                 /* signalled with r_break set */
	GThread *r_thread;

	/* /healthz and /metrics read through their own connection */
	GMutex q_lock;
	struct wb_store *q_store;
	char *state_path;

	GMainLoop *loop;
};

static struct cfg_box *cfg_get(struct server *sv)
{
	g_mutex_lock(&sv->cfg_lock);
	struct cfg_box *b = g_atomic_rc_box_acquire(sv->cfg);
	g_mutex_unlock(&sv->cfg_lock);
	return b;
}

static void cfg_put(struct cfg_box *b)
{
	g_atomic_rc_box_release_full(b, cfg_box_clear);
}

/* ---- committer ------------------------------------------------------------------------- */

struct commit {
	const void *body;
	size_t len;
	bool verified;
	bool done, ok;
};

/* Reopen a store after a failure: an I/O error can leave a connection unusable even
 * after the disk is fine again. */
static struct wb_store *store_again(struct wb_store *old, const char *path)
{
	wb_store_close(old);
	GError *err = NULL;
	struct wb_store *s = wb_store_open(path, &err);
	if (!s) {
		g_warning("%s", err->message);
		g_error_free(err);
	}
	return s;
}

static bool commit_batch(struct wb_store **store, const char *path, GPtrArray *batch)
{
	if (!*store && !(*store = store_again(NULL, path)))
		return false;
	struct wb_body_in *in = g_new0(struct wb_body_in, batch->len);
	for (guint i = 0; i < batch->len; i++) {
		struct commit *c = batch->pdata[i];
		in[i] = (struct wb_body_in){ .body = c->body, .len = c->len, .verified = c->verified };
	}
	GError *err = NULL;
	bool ok = wb_store_add_bodies(*store, in, batch->len, "http", &err);
	if (!ok) {
		g_warning("cannot commit %u webhook bodies, answering 503 so Meta retries: %s",
			  batch->len, err->message);
		g_error_free(err);
		wb_store_close(*store);
		*store = NULL;
	}
	g_free(in);
	return ok;
}

static gpointer committer_main(gpointer data)
{
	struct server *sv = data;
	struct wb_store *store = store_again(NULL, sv->state_path);
	g_mutex_lock(&sv->c_lock);
	for (;;) {
		while (!sv->c_queue->len && !sv->c_stopping)
			g_cond_wait(&sv->c_work, &sv->c_lock);
		if (!sv->c_queue->len)
			break;
		GPtrArray *batch = sv->c_queue;
		sv->c_queue = g_ptr_array_new();
		g_mutex_unlock(&sv->c_lock);
		bool ok = commit_batch(&store, sv->state_path, batch);
		g_mutex_lock(&sv->c_lock);
		for (guint i = 0; i < batch->len; i++) {
			struct commit *c = batch->pdata[i];
			c->ok = ok;
			c->done = true;
		}
		g_ptr_array_unref(batch);
		g_cond_broadcast(&sv->c_done);
	}
	g_mutex_unlock(&sv->c_lock);
	wb_store_close(store);
	return NULL;
}

static void kick_worker(struct server *sv)
{
	g_mutex_lock(&sv->w_lock);
	sv->w_pending = true;
	g_cond_signal(&sv->w_wake);
	g_mutex_unlock(&sv->w_lock);
}

/* Commit one body; returns when it is durable (true) or has failed (false). */
static bool commit_body(struct server *sv, const void *body, size_t len, bool verified)
{
	struct commit c = { .body = body, .len = len, .verified = verified };
	g_mutex_lock(&sv->c_lock);
	g_ptr_array_add(sv->c_queue, &c);
	g_cond_signal(&sv->c_work);
	while (!c.done)
		g_cond_wait(&sv->c_done, &sv->c_lock);
	g_mutex_unlock(&sv->c_lock);
	if (c.ok)
		kick_worker(sv);
	return c.ok;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

struct request {
	struct cfg_box *cfg;
	GByteArray *body;
	bool too_big;
};

static enum MHD_Result reply_typed(struct MHD_Connection *conn, unsigned status,
				   const char *type, const char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return reply_typed(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void peer(struct MHD_Connection *conn, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	gsize salen = !sa ? 0 : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							  : sizeof(struct sockaddr_in);
	g_autoptr(GSocketAddress) a = sa ? g_socket_address_new_from_native((gpointer)sa, salen) : NULL;
	g_autofree char *s = a && G_IS_INET_SOCKET_ADDRESS(a) ?
		g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)))
		: NULL;
	g_strlcpy(buf, s ? s : "unknown peer", n);
}

static enum MHD_Result refuse(struct MHD_Connection *conn, enum wb_reject why, unsigned status,
			      const char *text, const char *log_what)
{
	char who[64];
	peer(conn, who, sizeof who);
	wb_metrics_webhook_rejected(why);
	g_warning("webhook from %s refused (%u): %s", who, status, log_what);
	return reply(conn, status, text);
}

static enum MHD_Result handshake(const struct wb_config *cfg, struct MHD_Connection *conn)
{
	const char *mode = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "hub.mode");
	const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
							"hub.verify_token");
	const char *challenge = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
							    "hub.challenge");
	const char *want = cfg->verify_token;
	bool ok = mode && strcmp(mode, "subscribe") == 0 && token && challenge && want &&
		  strlen(challenge) <= MAX_CHALLENGE &&
		  wb_ct_equal(token, strlen(token), want, strlen(want));
	if (!ok) {
		char who[64];
		peer(conn, who, sizeof who);
		g_warning("webhook verification from %s refused (wrong or missing verify token%s)",
			  who, want ? "" : "; [webhook] verify_token_file is not set");
		return reply(conn, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	g_message("webhook verification handshake answered");
	return reply(conn, MHD_HTTP_OK, challenge);
}

static enum MHD_Result healthz(struct server *sv, struct MHD_Connection *conn)
{
	g_mutex_lock(&sv->q_lock);
	if (!sv->q_store)
		sv->q_store = store_again(NULL, sv->state_path);
	bool ok = sv->q_store && wb_store_writable(sv->q_store);
	if (!ok && sv->q_store) {
		wb_store_close(sv->q_store);
		sv->q_store = NULL;
	}
	g_mutex_unlock(&sv->q_lock);
	return ok ? reply(conn, MHD_HTTP_OK, "ok\n")
		  : reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store not writable\n");
}

static enum MHD_Result metrics(struct server *sv, struct MHD_Connection *conn)
{
	int64_t depth = -1, oldest = 0;
	g_mutex_lock(&sv->q_lock);
	if (!sv->q_store)
		sv->q_store = store_again(NULL, sv->state_path);
	if (sv->q_store && !wb_store_gauges(sv->q_store, wb_now(), &depth, &oldest, NULL))
		depth = -1;
	g_mutex_unlock(&sv->q_lock);
	g_autoptr(GString) out = g_string_new(NULL);
	wb_metrics_render(out, depth, oldest);
	return reply_typed(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out->str,
			   out->len);
}

static enum MHD_Result finish_post(struct server *sv, struct MHD_Connection *conn,
				   struct request *rq)
{
	const struct wb_config *cfg = rq->cfg->cfg;
	if (rq->too_big)
		return refuse(conn, WB_REJECT_TOO_LARGE, MHD_HTTP_CONTENT_TOO_LARGE,
			      "body too large\n", "body larger than [webhook] max_body");
	const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Hub-Signature-256");
	if (cfg->app_secret && !wb_signature_ok(cfg->app_secret, sig, rq->body->data, rq->body->len))
		return refuse(conn, WB_REJECT_SIGNATURE, MHD_HTTP_UNAUTHORIZED, "bad signature\n",
			      sig ? "wrong X-Hub-Signature-256" : "missing X-Hub-Signature-256");
	if (!commit_body(sv, rq->body->data, rq->body->len, cfg->app_secret != NULL)) {
		wb_metrics_webhook_rejected(WB_REJECT_STORE);
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot store, retry later\n");
	}
	wb_metrics_webhook_received();
	return reply(conn, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	if (g_ascii_strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/* First call of a POST: decide what can be decided from the headers alone. */
static struct request *begin_post(struct server *sv, struct MHD_Connection *conn)
{
	struct request *rq = g_new0(struct request, 1);
	rq->cfg = cfg_get(sv);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	guint64 n = 0;
	if (cl && g_ascii_string_to_unsigned(cl, 10, 0, G_MAXUINT64, &n, NULL))
		rq->too_big = n > rq->cfg->cfg->max_body;
	else if (cl)
		rq->too_big = true; /* unparseable length: do not read it */
	rq->body = g_byte_array_sized_new(rq->too_big ? 0 : (guint)n);
	return rq;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct server *sv = cls;
	struct request *rq = *con_cls;
	if (!rq && strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		if (strcmp(url, "/healthz") == 0)
			return healthz(sv, conn);
		if (strcmp(url, "/metrics") == 0)
			return metrics(sv, conn);
		struct cfg_box *b = cfg_get(sv);
		enum MHD_Result r = strcmp(url, b->cfg->path_webhook) == 0
			? handshake(b->cfg, conn) : reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
		cfg_put(b);
		return r;
	}
	if (!rq) {
		rq = *con_cls = begin_post(sv, conn);
		if (strcmp(url, rq->cfg->cfg->path_webhook) != 0)
			return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
		/* Two Content-Length headers: the body's end is ambiguous (request smuggling). */
		unsigned lengths = 0;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, count_length, &lengths);
		if (lengths > 1)
			return reply(conn, MHD_HTTP_BAD_REQUEST, "conflicting Content-Length\n");
		/* Refused by its announced length: answer now, without reading the body. */
		if (rq->too_big)
			return finish_post(sv, conn, rq);
		return MHD_YES;
	}
	if (*size) {
		if (!rq->too_big && rq->body->len + *size <= rq->cfg->cfg->max_body)
			g_byte_array_append(rq->body, (const guint8 *)data, (guint)*size);
		else
			rq->too_big = true; /* chunked and growing: keep nothing more */
		*size = 0;
		return MHD_YES;
	}
	return finish_post(sv, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	if (rq) {
		cfg_put(rq->cfg);
		g_byte_array_unref(rq->body);
		g_free(rq);
	}
	*con_cls = NULL;
}

/* "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" → a socket address. */
static bool parse_listen(const char *listen, struct sockaddr_storage *sa)
{
	const char *colon = strrchr(listen, ':');
	guint64 port;
	if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
		return false;
	g_autofree char *host = g_strndup(listen, (gsize)(colon - listen));
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	g_autoptr(GSocketAddress) a = g_inet_socket_address_new_from_string(
		strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, (guint)port);
	return a && g_socket_address_to_native(a, sa, sizeof *sa, NULL);
}

static struct MHD_Daemon *start_listener(struct server *sv, const struct wb_config *cfg)
{
	struct sockaddr_storage sa;
	if (!parse_listen(cfg->listen, &sa)) {
		g_critical("[webhook] listen = %s is not ADDRESS:PORT", cfg->listen);
		return NULL;
	}
	/* A thread per connection: a request waiting for its commit blocks only its own
	 * connection, and every request waiting at once joins the same group commit (a
	 * small thread pool would cap a commit at one request per pool thread). */
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
		MHD_USE_ERROR_LOG | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, sv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv,
		/* A client that dawdles (slowloris) is cut off; Meta sends whole requests. */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)0,
		MHD_OPTION_END);
	if (!d)
		g_critical("cannot listen on %s (address in use, or not allowed)", cfg->listen);
	else
		g_message("listening on http://%s%s", cfg->listen, cfg->path_webhook);
	return d;
}

/* ---- worker ---------------------------------------------------------------------------- */

/* A thread's own store connection, opened when missing. False when it cannot be opened. */
static bool thread_store(struct server *sv, struct wb_store **store)
{
	return *store || (*store = store_again(NULL, sv->state_path)) != NULL;
}

static gint64 worker_pass(struct server *sv, struct wb_store **store)
{
	struct cfg_box *b = cfg_get(sv);
	const struct wb_config *cfg = b->cfg;
	GError *err = NULL;
	gint64 soonest = 0;
	struct wb_pass_result res;
	struct wb_outbox_result out;
	unsigned n = 0;
	gint64 replies_soonest = 0;
	if (!thread_store(sv, store) || !wb_pass(cfg, *store, cfg->tpl, &sv->w_stop, &res, &err) ||
	    !wb_outbox_pass(cfg, *store, cfg->tpl, &sv->w_stop, &out, &err) ||
	    !wb_store_reply_pending(*store, &n, &replies_soonest, &err)) {
		g_warning("work pass failed, retrying in 10 s: %s",
			  err ? err->message : "the store cannot be opened");
		g_clear_error(&err);
		wb_store_close(*store);
		*store = NULL;
		soonest = wb_now() + 10;
	} else {
		if (res.waiting && !wb_store_pending(*store, &n, &soonest, NULL))
			soonest = wb_now() + 10;
		if (replies_soonest && (!soonest || replies_soonest < soonest))
			soonest = replies_soonest;
	}
	cfg_put(b);
	return soonest;
}

static gpointer worker_main(gpointer data)
{
	struct server *sv = data;
	struct wb_store *store = NULL;
	while (!g_atomic_int_get(&sv->w_stop)) {
		gint64 soonest = worker_pass(sv, &store);
		g_mutex_lock(&sv->w_lock);
		if (!sv->w_pending && !g_atomic_int_get(&sv->w_stop)) {
			gint64 wait_s = soonest ? CLAMP(soonest - wb_now(), 1, 3600) : 3600;
			g_cond_wait_until(&sv->w_wake, &sv->w_lock,
					  g_get_monotonic_time() + wait_s * G_USEC_PER_SEC);
		}
		sv->w_pending = false;
		g_mutex_unlock(&sv->w_lock);
	}
	wb_store_close(store);
	return NULL;
}

/* ---- reply watcher ------------------------------------------------------------------- */

/* Sleep up to seconds, or until stopping or a reload (r_break, which it clears). */
static void nap(struct server *sv, int seconds)
{
	gint64 until = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
	g_mutex_lock(&sv->r_lock);
	while (!g_atomic_int_get(&sv->r_break) && g_cond_wait_until(&sv->r_wake, &sv->r_lock, until))
		;
	g_mutex_unlock(&sv->r_lock);
	if (!g_atomic_int_get(&sv->r_stop))
		g_atomic_int_set(&sv->r_break, 0);
}

/* Take the watcher out of IDLE or a nap: a reload, or stopping. */
static void break_watcher(struct server *sv)
{
	g_mutex_lock(&sv->r_lock);
	g_atomic_int_set(&sv->r_break, 1);
	g_cond_signal(&sv->r_wake);
	g_mutex_unlock(&sv->r_lock);
}

/* One connection's life: poll, wait for news, poll again, until it breaks or we stop.
 * Returns false when the connection could not be made or broke. */
static bool watch_once(struct server *sv, struct wb_store **store)
{
	struct cfg_box *b = cfg_get(sv);
	GError *err = NULL;
	struct wb_replywatch *w = NULL;
	bool ok = true;
	if (!thread_store(sv, store))
		ok = false;
	if (ok && !(w = wb_replywatch_open(b->cfg, &err)))
		ok = false;
	while (ok && !g_atomic_int_get(&sv->r_stop)) {
		unsigned taken = 0;
		if (!wb_reply_poll_mailbox(b->cfg, *store, b->cfg->tpl, w, &sv->r_stop, &taken, &err)) {
			ok = false;
			break;
		}
		if (taken)
			kick_worker(sv);
		/* IDLE tells of news at once; without it, poll every minute. */
		int wait_s = wb_replywatch_idles(w) ? 29 * 60 : 60;
		if (!wb_replywatch_wait(w, wait_s, &sv->r_break, &err))
			ok = false;
		/* After a reload, connect again with the new configuration. */
		if (ok && g_atomic_int_compare_and_exchange(&sv->r_break, 1, 0))
			break;
	}
	if (!ok)
		g_warning("replies mailbox: %s; trying again in a minute",
			  err ? err->message : "the state database cannot be opened");
	g_clear_error(&err);
	if (w)
		wb_replywatch_close(w);
	cfg_put(b);
	return ok;
}

static gpointer watcher_main(gpointer data)
{
	struct server *sv = data;
	struct wb_store *store = NULL;
	while (!g_atomic_int_get(&sv->r_stop)) {
		struct cfg_box *b = cfg_get(sv);
		bool imap = strcmp(b->cfg->replies_mode, "imap") == 0;
		cfg_put(b);
		if (!imap) {
			nap(sv, 3600); /* until a reload may switch it on */
			continue;
		}
		if (!watch_once(sv, &store))
			nap(sv, 60);
	}
	wb_store_close(store);
	return NULL;
}

/* ---- signals --------------------------------------------------------------------------- */

static gboolean on_stop_signal(gpointer data)
{
	struct server *sv = data;
	g_message("stopping: no new webhooks; finishing the work in progress");
	g_main_loop_quit(sv->loop);
	return G_SOURCE_CONTINUE;
}

static gboolean on_reload_signal(gpointer data)
{
	struct server *sv = data;
	GError *err = NULL;
	struct wb_config *fresh = wb_config_load(sv->config_path, &err);
	if (!fresh) {
		g_warning("configuration reload refused, keeping the old configuration:\n%s",
			  err->message);
		g_error_free(err);
		return G_SOURCE_CONTINUE;
	}
	struct cfg_box *b = g_atomic_rc_box_new0(struct cfg_box);
	b->cfg = fresh;
	g_mutex_lock(&sv->cfg_lock);
	struct cfg_box *old = sv->cfg;
	if (strcmp(old->cfg->listen, fresh->listen) != 0)
		g_warning("[webhook] listen changed to %s: that takes a restart; still listening "
			  "on %s", fresh->listen, old->cfg->listen);
	if (strcmp(old->cfg->state, fresh->state) != 0)
		g_warning("[bridge] state changed: that takes a restart; still using %s",
			  sv->state_path);
	sv->cfg = b;
	g_mutex_unlock(&sv->cfg_lock);
	cfg_put(old);
	g_message("configuration reloaded from %s", sv->config_path ? sv->config_path
								   : "the embedded defaults");
	wb_config_log_warnings(fresh);
	kick_worker(sv);
	break_watcher(sv);
	return G_SOURCE_CONTINUE;
}

/* ---- life cycle ------------------------------------------------------------------------ */

int wb_serve(struct wb_config *cfg, const char *config_path)
{
	struct server sv = { .config_path = config_path, .state_path = g_strdup(cfg->state) };
	g_mutex_init(&sv.cfg_lock);
	g_mutex_init(&sv.c_lock);
	g_mutex_init(&sv.w_lock);
	g_mutex_init(&sv.q_lock);
	g_mutex_init(&sv.r_lock);
	g_cond_init(&sv.r_wake);
	g_cond_init(&sv.c_work);
	g_cond_init(&sv.c_done);
	g_cond_init(&sv.w_wake);
	sv.cfg = g_atomic_rc_box_new0(struct cfg_box);
	sv.cfg->cfg = cfg;
	sv.c_queue = g_ptr_array_new();
	sv.loop = g_main_loop_new(NULL, FALSE);

	/* A store that cannot be opened now (read-only or full disk) is not fatal: POSTs get
	 * 503 so Meta retries, /healthz says so, and every later use tries again. */
	GError *err = NULL;
	sv.q_store = wb_store_open(sv.state_path, &err);
	int rc = EX_OK;
	if (!sv.q_store) {
		g_warning("%s; answering 503 until it can be opened", err->message);
		g_error_free(err);
	}
	sv.c_thread = g_thread_new("committer", committer_main, &sv);
	sv.w_thread = g_thread_new("worker", worker_main, &sv);
	sv.r_thread = g_thread_new("replies", watcher_main, &sv);
	struct MHD_Daemon *d = start_listener(&sv, cfg);
	if (!d) {
		rc = EX_UNAVAILABLE;
	} else {
		guint s1 = g_unix_signal_add(SIGTERM, on_stop_signal, &sv);
		guint s2 = g_unix_signal_add(SIGINT, on_stop_signal, &sv);
		guint s3 = g_unix_signal_add(SIGHUP, on_reload_signal, &sv);
		g_main_loop_run(sv.loop);
		/* Requests in flight finish here; their commits still run. */
		MHD_stop_daemon(d);
		g_source_remove(s1);
		g_source_remove(s2);
		g_source_remove(s3);
	}
	g_mutex_lock(&sv.c_lock);
	sv.c_stopping = true;
	g_cond_signal(&sv.c_work);
	g_mutex_unlock(&sv.c_lock);
	g_thread_join(sv.c_thread);
	g_atomic_int_set(&sv.r_stop, 1);
	break_watcher(&sv);
	g_thread_join(sv.r_thread);
	g_atomic_int_set(&sv.w_stop, 1);
	kick_worker(&sv);
	g_thread_join(sv.w_thread);
	wb_store_close(sv.q_store);
	g_ptr_array_unref(sv.c_queue);
	g_main_loop_unref(sv.loop);
	cfg_put(sv.cfg);
	g_free(sv.state_path);
	g_message("stopped");
	return rc;
}
