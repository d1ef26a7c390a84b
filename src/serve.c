/* serve: webhook listener (libmicrohttpd, its own thread) + delivery worker (a thread).
 *
 * Start-up is linear: store and templates, worker, listener, then the GLib main loop
 * that only waits for signals. Each thread has its own store connection and its own
 * configuration copy (auto stations are added to the config as numbers appear, and
 * SQLite connections are not shared between threads). An accepted POST wakes the worker
 * at once through a condition variable; the worker also wakes for due retries. */
#include "serve.h"
#include "pipeline.h"
#include "render.h"
#include "store.h"
#include "util.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

struct server {
	struct wb_config *cfg;      /* listener's */
	struct wb_store *store;     /* listener's connection */
	GMutex lock;
	GCond wake;
	bool work_pending;
	bool stopping;
	struct wb_config *wcfg;     /* worker's */
	GThread *worker;
	GMainLoop *loop;
};

struct request {
	GByteArray *body;
	bool too_big;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void kick_worker(struct server *sv)
{
	g_mutex_lock(&sv->lock);
	sv->work_pending = true;
	g_cond_signal(&sv->wake);
	g_mutex_unlock(&sv->lock);
}

static enum MHD_Result handshake(struct server *sv, struct MHD_Connection *conn)
{
	const char *mode = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "hub.mode");
	const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
							"hub.verify_token");
	const char *challenge = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
							    "hub.challenge");
	const char *want = sv->cfg->verify_token;
	if (!mode || strcmp(mode, "subscribe") != 0 || !token || !challenge || !want ||
	    strlen(challenge) > 512 ||
	    !wb_ct_equal(token, strlen(token), want, strlen(want))) {
		g_warning("webhook verification refused (wrong or missing verify token)");
		return reply(conn, MHD_HTTP_FORBIDDEN, "forbidden\n");
	}
	g_message("webhook verification handshake answered");
	return reply(conn, MHD_HTTP_OK, challenge);
}

static const char *peer(struct MHD_Connection *conn, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	g_autoptr(GSocketAddress) a = ci && ci->client_addr ?
		g_socket_address_new_from_native(ci->client_addr, sizeof(struct sockaddr_storage)) : NULL;
	g_autofree char *s = a && G_IS_INET_SOCKET_ADDRESS(a) ?
		g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a))) : NULL;
	g_strlcpy(buf, s ? s : "?", n);
	return buf;
}

static enum MHD_Result finish_post(struct server *sv, struct MHD_Connection *conn,
				   struct request *rq)
{
	char who[64];
	if (rq->too_big) {
		g_warning("webhook from %s refused: body larger than max_body (%zu bytes)",
			  peer(conn, who, sizeof who), sv->cfg->max_body);
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
	}
	const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Hub-Signature-256");
	if (sv->cfg->app_secret &&
	    !wb_signature_ok(sv->cfg->app_secret, sig, rq->body->data, rq->body->len)) {
		g_warning("webhook from %s refused: %s X-Hub-Signature-256",
			  peer(conn, who, sizeof who), sig ? "wrong" : "missing");
		return reply(conn, MHD_HTTP_UNAUTHORIZED, "bad signature\n");
	}
	struct wb_accept_info info;
	enum wb_accept_result r = wb_accept(sv->cfg, sv->store, rq->body->data, rq->body->len,
					    sv->cfg->app_secret != NULL, "http", &info);
	enum MHD_Result ret;
	if (r == WB_ACCEPT_NOT_STORED) {
		g_warning("webhook not stored, answering 503 so Meta retries: %s", info.reason);
		ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot store, retry later\n");
	} else {
		kick_worker(sv);
		ret = reply(conn, MHD_HTTP_OK, "ok\n");
	}
	g_free(info.reason);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct server *sv = cls;
	bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	bool is_hook = strcmp(url, sv->cfg->path_webhook) == 0;

	if (!is_post) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		if (strcmp(url, "/healthz") == 0)
			return wb_store_writable(sv->store) ? reply(conn, MHD_HTTP_OK, "ok\n")
				: reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store not writable\n");
		return is_hook ? handshake(sv, conn) : reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	if (!is_hook)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	struct request *rq = *con_cls;
	if (!rq) {
		rq = g_new0(struct request, 1);
		rq->body = g_byte_array_new();
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		/* Refuse by the announced length before reading anything. */
		rq->too_big = cl && g_ascii_strtoull(cl, NULL, 10) > sv->cfg->max_body;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*size) {
		if (!rq->too_big && rq->body->len + *size <= sv->cfg->max_body)
			g_byte_array_append(rq->body, (const guint8 *)data, (guint)*size);
		else
			rq->too_big = true; /* keep reading to answer cleanly, store nothing */
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
		g_byte_array_unref(rq->body);
		g_free(rq);
	}
	*con_cls = NULL;
}

static gpointer worker_main(gpointer data)
{
	struct server *sv = data;
	GError *err = NULL;
	struct wb_store *store = wb_store_open(sv->wcfg->state, &err);
	struct wb_templates *tpl = store ? wb_templates_load(sv->wcfg->templates, &err) : NULL;
	if (!tpl) {
		g_critical("worker cannot start: %s", err->message);
		g_error_free(err);
		wb_store_close(store);
		g_main_loop_quit(sv->loop);
		return NULL;
	}
	for (;;) {
		struct wb_pass_result res;
		gint64 soonest = 0;
		if (!wb_pass(sv->wcfg, store, tpl, &res, &err)) {
			g_warning("delivery pass failed, retrying in 10 s: %s", err->message);
			g_clear_error(&err);
			soonest = wb_now() + 10;
		} else if (res.waiting) {
			unsigned n;
			wb_store_pending(store, &n, &soonest, NULL);
		}
		g_mutex_lock(&sv->lock);
		if (!sv->work_pending && !sv->stopping) {
			gint64 wait_s = soonest ? MAX(soonest - wb_now(), 1) : 3600;
			g_cond_wait_until(&sv->wake, &sv->lock,
					  g_get_monotonic_time() + wait_s * G_USEC_PER_SEC);
		}
		bool stop = sv->stopping && !sv->work_pending;
		sv->work_pending = false;
		g_mutex_unlock(&sv->lock);
		if (stop)
			break;
	}
	wb_templates_free(tpl);
	wb_store_close(store);
	return NULL;
}

static gboolean on_stop_signal(gpointer data)
{
	struct server *sv = data;
	g_message("stopping: no new webhooks, finishing work in progress");
	g_main_loop_quit(sv->loop);
	return G_SOURCE_REMOVE;
}

/* "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" → a socket address. */
static bool parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len)
{
	const char *colon = strrchr(listen, ':');
	guint64 port;
	if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
		return false;
	g_autofree char *host = g_strndup(listen, (gsize)(colon - listen));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host) - 2);
		host[strlen(host) - 2] = '\0';
	}
	g_autoptr(GSocketAddress) a = g_inet_socket_address_new_from_string(
		strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, (guint)port);
	if (!a)
		return false;
	*len = (socklen_t)g_socket_address_get_native_size(a);
	return g_socket_address_to_native(a, sa, sizeof *sa, NULL);
}

int wb_serve(struct wb_config *cfg, const char *config_path)
{
	struct server sv = { .cfg = cfg };
	GError *err = NULL;
	struct sockaddr_storage sa;
	socklen_t salen;
	if (!parse_listen(cfg->listen, &sa, &salen)) {
		g_critical("[webhook] listen = %s is not ADDRESS:PORT", cfg->listen);
		return EX_CONFIG;
	}
	sv.wcfg = wb_config_load(config_path, &err);
	sv.store = sv.wcfg ? wb_store_open(cfg->state, &err) : NULL;
	if (!sv.store) {
		g_critical("%s", err->message);
		g_error_free(err);
		wb_config_free(sv.wcfg);
		return sv.wcfg ? EX_TEMPFAIL : EX_CONFIG;
	}
	g_mutex_init(&sv.lock);
	g_cond_init(&sv.wake);
	sv.loop = g_main_loop_new(NULL, FALSE);
	sv.worker = g_thread_new("worker", worker_main, &sv);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
		(sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
		on_request, &sv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, &sv,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
		MHD_OPTION_END);
	int rc = EX_OK;
	if (!d) {
		g_critical("cannot listen on %s (in use, or not allowed)", cfg->listen);
		rc = EX_UNAVAILABLE;
	} else {
		g_message("listening on http://%s%s", cfg->listen, cfg->path_webhook);
		g_unix_signal_add(SIGTERM, on_stop_signal, &sv);
		g_unix_signal_add(SIGINT, on_stop_signal, &sv);
		g_main_loop_run(sv.loop);
		MHD_stop_daemon(d);
	}
	g_mutex_lock(&sv.lock);
	sv.stopping = true;
	g_cond_signal(&sv.wake);
	g_mutex_unlock(&sv.lock);
	g_thread_join(sv.worker);
	g_main_loop_unref(sv.loop);
	g_mutex_clear(&sv.lock);
	g_cond_clear(&sv.wake);
	wb_store_close(sv.store);
	wb_config_free(sv.wcfg);
	g_message("stopped");
	return rc;
}
