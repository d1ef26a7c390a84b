/* serve: the daemon in front of Meta's webhooks.
 *
 * Design rationale:
 * - Start-up is linear: configuration (already loaded by main), committer, prober,
 *   worker, listener; then the GLib main loop, which only waits for signals.
 * - The listener (listener.c, libmicrohttpd's event loop) never waits for the store,
 *   media, IMAP or the Graph API. What would block comes here as work: a signed body to
 *   commit, a /healthz write probe, the /metrics gauges. The committer takes every body
 *   waiting at that moment into one transaction (group commit), and those that come
 *   while it waits for the write lock, so a burst costs one sync instead of one per
 *   request, and answers each 200, or 503 when the commit fails.
 *   The prober answers /healthz and /metrics on a store connection of its own; probes
 *   waiting together share one write probe.
 * - The worker thread expands committed bodies into messages and delivers them (the
 *   same wb_pass() as `wabridge run`), then sends the outbox and writes its records into
 *   the threads (wb_outbox_pass()); between the two it keeps the station's duty
 *   (wb_duty_pass(): acknowledgements, the clock, escalations, the digest). A commit wakes it at once; otherwise it sleeps
 *   until the soonest retry is due, or until a mailbox session it keeps for the next
 *   mail has been idle long enough to be closed (imappool.h). Retries are rows in the
 *   store, so they survive restarts.
 * - With [replies] mode = imap, a watcher thread keeps a connection to the replies
 *   mailbox: it takes every new mail, then waits in IDLE (or polls every minute when
 *   the server has no IDLE or [imap] idle is off), and wakes the worker to send.
 * - SIGTERM/SIGINT: stop taking requests, let those in flight finish (their commits
 *   included), let the worker finish the message it is on, exit 0. SIGHUP: load the
 *   configuration again; a bad one is refused and the old one kept. The configuration is
 *   shared by reference count, so a request or pass in progress keeps the one it began
 *   with.
 * - A store that fails (disk full, read-only) is reopened before the next attempt, so the
 *   daemon recovers by itself once the disk is writable again. */
#include "serve.h"
#include "db.h"
#include "duty.h"
#include "imappool.h"
#include "listener.h"
#include "metrics.h"
#include "outbox.h"
#include "pipeline.h"
#include "reply.h"
#include "replywatch.h"
#include "render.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

/* ---- configuration, shared by reference ----------------------------------------------- */

struct cfg_box {
	struct wb_config *cfg;
};

static void cfg_box_clear(gpointer p)
{
	wb_config_free(((struct cfg_box *)p)->cfg);
}

/* Work for one thread: whatever waits is taken at once, as a batch. */
struct workq {
	GMutex lock;
	GCond cond;
	GPtrArray *items;             /* of struct wb_work * */
	bool stopping;
	GThread *thread;
};

struct server {
	const char *config_path;
	GMutex cfg_lock;
	struct cfg_box *cfg;          /* current; take with cfg_get() */

	struct workq commits;         /* the committer */
	struct workq probes;          /* the prober: /healthz and /metrics */
	struct wb_store *q_store;     /* the prober's */

	/* worker */
	GMutex w_lock;
	GCond w_wake;
	bool w_pending;
	gint w_stop;                  /* atomic: the worker should stop after this message */
	gint64 w_gave_back;           /* worker only: monotonic time space was last given back */
	GThread *w_thread;

	/* heartbeat: this bridge's row and leases, and news from the other bridges */
	gint b_stop;
	int b_pipe[2];                /* a byte written to [1] wakes it to stop */
	GThread *b_thread;

	/* reply watcher */
	gint r_stop;
	gint r_break;                 /* atomic: leave IDLE now (stopping, or a reload) */
	GMutex r_lock;
	GCond r_wake;                 /* signalled with r_break set */
	GThread *r_thread;

	char *state_path;
	char *state_password;         /* secret, or NULL */
	GMainLoop *loop;
	struct wb_listener *listener; /* set before the main loop runs */
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

/* ---- work queues ----------------------------------------------------------------------- */

static void workq_start(struct workq *q, const char *name, GThreadFunc run, gpointer data)
{
	g_mutex_init(&q->lock);
	g_cond_init(&q->cond);
	q->items = g_ptr_array_new();
	q->thread = g_thread_new(name, run, data);
}

static void workq_push(struct workq *q, struct wb_work *w)
{
	g_mutex_lock(&q->lock);
	g_ptr_array_add(q->items, w);
	g_cond_signal(&q->cond);
	g_mutex_unlock(&q->lock);
}

/* Everything waiting, once something is; NULL when stopping with nothing left. */
static GPtrArray *workq_take(struct workq *q)
{
	g_mutex_lock(&q->lock);
	while (!q->items->len && !q->stopping)
		g_cond_wait(&q->cond, &q->lock);
	GPtrArray *batch = NULL;
	if (q->items->len) {
		batch = q->items;
		q->items = g_ptr_array_new();
	}
	g_mutex_unlock(&q->lock);
	return batch;
}

/* Add whatever is waiting now to batch, without waiting. */
static void workq_take_more(struct workq *q, GPtrArray *batch)
{
	g_mutex_lock(&q->lock);
	for (guint i = 0; i < q->items->len; i++)
		g_ptr_array_add(batch, q->items->pdata[i]);
	g_ptr_array_set_size(q->items, 0);
	g_mutex_unlock(&q->lock);
}

static void workq_stop(struct workq *q)
{
	g_mutex_lock(&q->lock);
	q->stopping = true;
	g_cond_signal(&q->cond);
	g_mutex_unlock(&q->lock);
	g_thread_join(q->thread);
	g_ptr_array_unref(q->items);
	g_mutex_clear(&q->lock);
	g_cond_clear(&q->cond);
}

static void done_text(struct wb_work *w, unsigned status, const char *text)
{
	wb_work_done(w, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* ---- committer ------------------------------------------------------------------------- */

/* A thread's own store connection, opened when missing; false (logged) when it cannot be
 * opened. A thread closes its store after a failure and comes here again: an I/O error
 * can leave a connection unusable even after the disk is fine again. */
static bool thread_store(struct server *sv, struct wb_store **store)
{
	GError *err = NULL;
	if (*store || (*store = wb_store_open_as(sv->state_path, sv->state_password, &err)))
		return true;
	g_warning("%s", err->message);
	g_error_free(err);
	return false;
}

/* Commit the batch, and every body that came in while its transaction waited for the
 * write lock (added to batch): behind another writer (the worker, another bridge's
 * committer) they would otherwise wait for a commit of their own. */
static bool commit_batch(struct server *sv, struct wb_store **store, GPtrArray *batch)
{
	if (!thread_store(sv, store))
		return false;
	GError *err = NULL;
	bool ok = wb_store_begin_bodies(*store, &err);
	if (ok)
		workq_take_more(&sv->commits, batch);
	struct wb_body_in *in = g_new0(struct wb_body_in, batch->len);
	for (guint i = 0; i < batch->len; i++) {
		struct wb_work *w = batch->pdata[i];
		in[i] = (struct wb_body_in){ .verified = wb_work_verified(w) };
		in[i].body = wb_work_body(w, &in[i].len);
	}
	ok = ok && wb_store_commit_bodies(*store, in, batch->len, "http", &err);
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

static void kick_worker(struct server *sv)
{
	g_mutex_lock(&sv->w_lock);
	sv->w_pending = true;
	g_cond_signal(&sv->w_wake);
	g_mutex_unlock(&sv->w_lock);
}

static gpointer committer_main(gpointer data)
{
	struct server *sv = data;
	struct wb_store *store = NULL;
	thread_store(sv, &store); /* at once, so that the first POST need not wait for it */
	GPtrArray *batch;
	while ((batch = workq_take(&sv->commits)) != NULL) {
		bool ok = commit_batch(sv, &store, batch);
		for (guint i = 0; i < batch->len; i++) {
			if (ok)
				wb_metrics_webhook_received();
			else
				wb_metrics_webhook_rejected(WB_REJECT_STORE);
			done_text(batch->pdata[i], ok ? 200 : 503,
				  ok ? "ok\n" : "cannot store, retry later\n");
		}
		/* The other bridges on this state heard of it with the commit (a NOTIFY in
		 * the transaction of wb_store_commit_bodies). */
		if (ok)
			kick_worker(sv);
		g_ptr_array_unref(batch);
	}
	wb_store_close(store);
	return NULL;
}

/* ---- prober: /healthz and /metrics --------------------------------------------------- */

static bool store_healthy(struct server *sv)
{
	bool ok = thread_store(sv, &sv->q_store) && wb_store_writable(sv->q_store);
	if (!ok && sv->q_store) {
		wb_store_close(sv->q_store);
		sv->q_store = NULL;
	}
	return ok;
}

static GString *metrics_text(struct server *sv)
{
	int64_t depth = -1, oldest = 0;
	if (thread_store(sv, &sv->q_store) &&
	    !wb_store_gauges(sv->q_store, wb_now(), &depth, &oldest, NULL))
		depth = -1;
	GString *out = g_string_new(NULL);
	wb_metrics_render(out, depth, oldest);
	g_autoptr(GPtrArray) bridges = sv->q_store ? wb_store_bridges(sv->q_store, wb_now(), NULL)
						  : NULL;
	if (bridges)
		wb_metrics_render_bridges(out, bridges);
	return out;
}

/* Probes waiting together share one write probe and one reading of the gauges. */
static void answer_probes(struct server *sv, GPtrArray *batch)
{
	int healthy = -1;
	g_autoptr(GString) text = NULL;
	for (guint i = 0; i < batch->len; i++) {
		struct wb_work *w = batch->pdata[i];
		if (wb_work_kind(w) == WB_WORK_METRICS) {
			if (!text)
				text = metrics_text(sv);
			wb_work_done(w, 200, "text/plain; version=0.0.4; charset=utf-8", text->str,
				     text->len);
			continue;
		}
		if (healthy < 0)
			healthy = store_healthy(sv);
		done_text(w, healthy ? 200 : 503, healthy ? "ok\n" : "store not writable\n");
	}
}

static gpointer prober_main(gpointer data)
{
	struct server *sv = data;
	GPtrArray *batch;
	while ((batch = workq_take(&sv->probes)) != NULL) {
		answer_probes(sv, batch);
		g_ptr_array_unref(batch);
	}
	return NULL;
}

/* ---- what the listener asks of us ------------------------------------------------------ */

static const struct wb_config *listener_config_get(void *owner, void **ref)
{
	struct cfg_box *b = cfg_get(owner);
	*ref = b;
	return b->cfg;
}

static void listener_config_put(void *owner, void *ref)
{
	cfg_put(ref);
}

static void listener_submit(void *owner, struct wb_work *w)
{
	struct server *sv = owner;
	workq_push(wb_work_kind(w) == WB_WORK_COMMIT ? &sv->commits : &sv->probes, w);
}

static const struct wb_listener_ops listener_ops = {
	.config_get = listener_config_get,
	.config_put = listener_config_put,
	.submit = listener_submit,
};

/* ---- worker ---------------------------------------------------------------------------- */

#define GIVE_BACK_EVERY_US (60 * G_USEC_PER_SEC)

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
	struct wb_duty_result duty;
	if (!thread_store(sv, store) || !wb_pass(cfg, *store, &sv->w_stop, &res, &err) ||
	    !wb_duty_pass(cfg, *store, &sv->w_stop, &duty, &err) ||
	    !wb_outbox_pass(cfg, *store, &sv->w_stop, &out, &err) ||
	    !wb_store_reply_pending(*store, &n, &replies_soonest, &err)) {
		g_warning("work pass failed, retrying in 10 s: %s",
			  err ? err->message : "the store cannot be opened");
		g_clear_error(&err);
		wb_store_close(*store);
		*store = NULL;
		soonest = wb_now() + 10;
	} else {
		/* After the pass, outside its transactions: space freed goes back to the disk,
		 * at most once a minute. Under load the pages freed by delivered mails are
		 * taken again by the next ones anyway, and each give-back is a few synced
		 * transactions the webhooks would wait behind. Failing that is no reason to
		 * stop. */
		gint64 mono = g_get_monotonic_time();
		bool give_back = mono - sv->w_gave_back >= GIVE_BACK_EVERY_US;
		if (give_back)
			sv->w_gave_back = mono;
		if (give_back && !wb_store_give_back(*store, &err)) {
			g_warning("%s; tried again next pass", err->message);
			g_clear_error(&err);
		}
		if (res.waiting && !wb_store_pending(*store, &n, &soonest, NULL))
			soonest = wb_now() + 10;
		if (replies_soonest && (!soonest || replies_soonest < soonest))
			soonest = replies_soonest;
		if (duty.soonest && (!soonest || duty.soonest < soonest))
			soonest = duty.soonest;
	}
	cfg_put(b);
	return soonest;
}

static gpointer worker_main(gpointer data)
{
	struct server *sv = data;
	struct wb_store *store = NULL;
	struct wb_imappool *pool = wb_imappool_shared();
	while (!g_atomic_int_get(&sv->w_stop)) {
		gint64 soonest = worker_pass(sv, &store);
		/* Mailbox sessions nobody used for a while are closed; the worker wakes for
		 * the next one that comes due. */
		wb_imappool_reap(pool, g_get_monotonic_time());
		gint64 reap_at = wb_imappool_next_reap(pool);
		g_mutex_lock(&sv->w_lock);
		if (!sv->w_pending && !g_atomic_int_get(&sv->w_stop)) {
			gint64 wait_s = soonest ? CLAMP(soonest - wb_now(), 1, 3600) : 3600;
			gint64 until = g_get_monotonic_time() + wait_s * G_USEC_PER_SEC;
			g_cond_wait_until(&sv->w_wake, &sv->w_lock,
					  reap_at && reap_at < until ? reap_at : until);
		}
		sv->w_pending = false;
		g_mutex_unlock(&sv->w_lock);
	}
	wb_store_close(store);
	return NULL;
}

/* ---- heartbeat ----------------------------------------------------------------------------- */

/* Wait up to ms for news from other bridges (fd, -1: none) or the stop pipe; true when
 * another bridge said there is new work. */
static bool wait_news(struct server *sv, struct wb_store *store, int fd, int ms)
{
	struct pollfd p[2] = { { .fd = sv->b_pipe[0], .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };
	int n = poll(p, fd >= 0 ? 2 : 1, ms);
	return n > 0 && fd >= 0 && (p[1].revents & POLLIN) && wb_store_heard(store);
}

/* Every lease / WB_BEAT_PART seconds: this bridge's row and the leases of what it holds
 * are renewed, the claims of this node's dead bridges let go, and the worker woken to
 * take over work whose lease ran out. Between beats, new work another bridge announces
 * (PostgreSQL's LISTEN) wakes the worker at once. At the stop the claims are let go. */
static gpointer beat_main(gpointer data)
{
	struct server *sv = data;
	struct wb_store *store = NULL;
	int fd = -1;
	gint64 period = MAX(wb_lease_seconds() / WB_BEAT_PART, 1) * G_USEC_PER_SEC;
	while (!g_atomic_int_get(&sv->b_stop)) {
		GError *err = NULL;
		if (thread_store(sv, &store) &&
		    (!wb_store_bridge_beat(store, &err) ||
		     (fd == -1 && (fd = wb_store_listen(store, &err)) == -2))) {
			g_warning("heartbeat: %s; tried again in %d s", err->message,
				  (int)(period / G_USEC_PER_SEC));
			g_clear_error(&err);
			wb_store_close(store);
			store = NULL;
			fd = -1;
		}
		kick_worker(sv);
		gint64 until = g_get_monotonic_time() + period;
		gint64 left;
		while (!g_atomic_int_get(&sv->b_stop) &&
		       (left = until - g_get_monotonic_time()) > 0) {
			if (wait_news(sv, store, store ? fd : -1, (int)(left / 1000) + 1))
				kick_worker(sv);
			if (store && fd >= 0 && !wb_store_listen_alive(store)) {
				wb_store_close(store);
				store = NULL;
				fd = -1;
				break;
			}
		}
	}
	GError *err = NULL;
	if (store && !wb_store_bridge_stop(store, &err)) {
		g_warning("%s", err->message);
		g_error_free(err);
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
		if (!wb_reply_poll_mailbox(b->cfg, *store, w, &sv->r_stop, &taken, &err)) {
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
	/* The worker finishes the message in hand and takes no more; bodies committed while
	 * the requests in flight finish are expanded at the next start. Set before the log
	 * line, so that whoever reads the line knows the worker has been told. */
	g_atomic_int_set(&sv->w_stop, 1);
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
	if (strcmp(old->cfg->state, fresh->state) != 0) {
		g_autofree char *shown = db_shown_location(sv->state_path);
		g_warning("[bridge] state changed: that takes a restart; still using %s", shown);
	}
	if (wb_listener_limits_differ(sv->listener, fresh))
		g_warning("[webhook] max_connections, max_connections_per_ip, request_timeout, "
			  "body_memory or the share of it one address may hold (which grows with "
			  "max_body) changed: that takes a restart; the listener keeps the limits "
			  "it started with");
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
	struct server sv = { .config_path = config_path, .state_path = g_strdup(cfg->state),
			     .state_password = g_strdup(cfg->state_password) };
	g_mutex_init(&sv.cfg_lock);
	g_mutex_init(&sv.w_lock);
	g_mutex_init(&sv.r_lock);
	g_cond_init(&sv.r_wake);
	g_cond_init(&sv.w_wake);
	sv.cfg = g_atomic_rc_box_new0(struct cfg_box);
	sv.cfg->cfg = cfg;
	sv.loop = g_main_loop_new(NULL, FALSE);
	wb_config_log_warnings(cfg); /* here at start, in on_reload_signal() after a reload */

	/* A store that cannot be opened now (read-only or full disk) is not fatal: POSTs get
	 * 503 so Meta retries, /healthz says so, and every later use tries again. */
	GError *err = NULL;
	sv.q_store = wb_store_open_as(sv.state_path, sv.state_password, &err);
	int rc = EX_OK;
	if (!sv.q_store) {
		g_warning("%s; answering 503 until it can be opened", err->message);
		g_error_free(err);
	}
	workq_start(&sv.commits, "committer", committer_main, &sv);
	workq_start(&sv.probes, "prober", prober_main, &sv);
	sv.w_thread = g_thread_new("worker", worker_main, &sv);
	if (!g_unix_open_pipe(sv.b_pipe, FD_CLOEXEC, NULL))
		sv.b_pipe[0] = sv.b_pipe[1] = -1;
	sv.b_thread = g_thread_new("heartbeat", beat_main, &sv);
	sv.r_thread = g_thread_new("replies", watcher_main, &sv);
	struct wb_listener *l = sv.listener = wb_listener_start(cfg, &listener_ops, &sv);
	if (!l) {
		rc = EX_UNAVAILABLE;
	} else {
		guint s1 = g_unix_signal_add(SIGTERM, on_stop_signal, &sv);
		guint s2 = g_unix_signal_add(SIGINT, on_stop_signal, &sv);
		guint s3 = g_unix_signal_add(SIGHUP, on_reload_signal, &sv);
		g_main_loop_run(sv.loop);
		/* Requests in flight finish here; the committer and prober still answer. */
		wb_listener_stop(l);
		g_source_remove(s1);
		g_source_remove(s2);
		g_source_remove(s3);
	}
	workq_stop(&sv.commits);
	workq_stop(&sv.probes);
	g_atomic_int_set(&sv.r_stop, 1);
	break_watcher(&sv);
	g_thread_join(sv.r_thread);
	g_atomic_int_set(&sv.w_stop, 1);
	kick_worker(&sv);
	g_thread_join(sv.w_thread);
	/* After the worker: the claims it held are let go only once it has stopped. */
	g_atomic_int_set(&sv.b_stop, 1);
	if (sv.b_pipe[1] >= 0 && write(sv.b_pipe[1], "", 1) < 0)
		g_warning("cannot wake the heartbeat: %s", g_strerror(errno));
	g_thread_join(sv.b_thread);
	if (sv.b_pipe[0] >= 0) {
		close(sv.b_pipe[0]);
		close(sv.b_pipe[1]);
	}
	wb_store_close(sv.q_store);
	g_main_loop_unref(sv.loop);
	cfg_put(sv.cfg);
	g_free(sv.state_path);
	if (sv.state_password) {
		explicit_bzero(sv.state_password, strlen(sv.state_password));
		g_free(sv.state_password);
	}
	g_message("stopped");
	return rc;
}
