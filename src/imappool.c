/* imappool: a bounded pool of logged-in IMAP sessions (see imappool.h).
 *
 * Design:
 * - Every session open is counted in p->open, from the moment its place is taken until
 *   it is freed; p->open never passes p->max but when max was lowered meanwhile, and
 *   then sessions are closed as they come back until it fits.
 * - Idle sessions sit in two lists at once: p->idle, least recently used first (what an
 *   eviction or a reap takes), and their login's queue in p->by_key, most recently used
 *   last (what a take reuses: the session most likely still alive).
 * - Sessions to close are collected under the lock and closed after it: LOGOUT waits for
 *   the server, up to WB_IMAPCONN_TIMEOUT_S on one that hangs, except for a session
 *   closed to make room, whose LOGOUT goes without waiting (a mail waits meanwhile). */
#include <string.h>

#include "imappool.h"
#include "metrics.h"

struct session {
	struct wb_imapconn conn; /* first: a wb_imapconn * handed out is the session */
	char *key;               /* server and login (key_of) */
	GList lru;               /* in p->idle while idle; data is the session */
	GList same;              /* in its key's queue while idle; data is the session */
	gint64 idle_since;       /* monotonic */
};

struct wb_imappool {
	GMutex lock;
	GCond back;              /* a session came back or was freed */
	unsigned max;
	gint64 idle_us;
	unsigned open;
	GQueue idle;             /* of struct session, least recently used first */
	GHashTable *by_key;      /* key → GQueue * of idle sessions, most recent last */
	struct wb_imappool_stats stats;
};

/* Everything that decides whether a session may serve like, but the password (which the
 * key must not hold: it is compared on its own). */
static char *key_of(const struct wb_imapconn *c)
{
	return g_strdup_printf("%s\037%u\037%d%d%d%d\037%s\037%s\037%s", c->host, c->port,
			       (int)c->plan.mode, c->plan.loopback, c->plan.allow_plaintext,
			       c->plan.anchored, c->ca_file ? c->ca_file : "",
			       c->fingerprint ? c->fingerprint : "", c->user);
}

static void queue_free(gpointer q)
{
	g_queue_free(q);
}

struct wb_imappool *wb_imappool_new(unsigned max, gint64 idle_us)
{
	struct wb_imappool *p = g_new0(struct wb_imappool, 1);
	g_mutex_init(&p->lock);
	g_cond_init(&p->back);
	p->max = MAX(max, 1u);
	p->idle_us = idle_us;
	g_queue_init(&p->idle);
	p->by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, queue_free);
	return p;
}

/* Close and free a session that is in no list and no longer counted: LOGOUT, waiting
 * for the answer or (hurry: a mail waits for the room) not. */
static void session_free(struct session *s, bool hurry)
{
	if (hurry)
		wb_imapconn_leave(&s->conn);
	wb_imapconn_clear(&s->conn); /* LOGOUT when it is still connected */
	g_free(s->key);
	g_free(s);
}

static void free_all(GPtrArray *closing, bool hurry)
{
	for (guint i = 0; i < closing->len; i++)
		session_free(closing->pdata[i], hurry);
	g_ptr_array_unref(closing);
}

/* p->open moves (under the lock), and the gauge of /metrics with it. */
static void count(struct wb_imappool *p, int delta)
{
	p->open += delta;
	p->stats.most_open = MAX(p->stats.most_open, p->open);
	wb_metrics_imap_sessions(delta);
}

/* Take an idle session out of both lists (under the lock). */
static void unlink_idle(struct wb_imappool *p, struct session *s)
{
	g_queue_unlink(&p->idle, &s->lru);
	GQueue *q = g_hash_table_lookup(p->by_key, s->key);
	g_queue_unlink(q, &s->same);
	if (g_queue_is_empty(q))
		g_hash_table_remove(p->by_key, s->key);
}

/* The most recently used idle session of key, taken out; NULL when none. */
static struct session *idle_of(struct wb_imappool *p, const char *key)
{
	GQueue *q = g_hash_table_lookup(p->by_key, key);
	if (q == NULL)
		return NULL;
	struct session *s = g_queue_peek_tail_link(q)->data;
	unlink_idle(p, s);
	return s;
}

/* Under the lock: an idle session of like's login (*reused), else a free place for a
 * new one, making room by closing the least recently used idle session (into closing).
 * NULL with *reused false when every place is in use. */
static struct session *find(struct wb_imappool *p, const struct wb_imapconn *like,
			    const char *key, GPtrArray *closing, bool *reused)
{
	struct session *s;
	while ((s = idle_of(p, key)) != NULL) {
		if (strcmp(s->conn.password, like->password) == 0) {
			*reused = true;
			return s;
		}
		/* The password changed (a reload): this session is no use to anyone. */
		count(p, -1);
		g_ptr_array_add(closing, s);
	}
	*reused = false;
	if (p->open >= p->max && !g_queue_is_empty(&p->idle)) {
		struct session *oldest = g_queue_peek_head_link(&p->idle)->data;
		unlink_idle(p, oldest);
		count(p, -1);
		p->stats.evicted++;
		g_ptr_array_add(closing, oldest);
	}
	if (p->open >= p->max)
		return NULL;
	count(p, 1);
	s = g_new0(struct session, 1);
	s->lru.data = s->same.data = s;
	s->key = g_strdup(key);
	return s;
}

/* A place taken but no session came of it (under no lock). */
static void release(struct wb_imappool *p, struct session *s)
{
	g_mutex_lock(&p->lock);
	count(p, -1);
	g_cond_signal(&p->back);
	g_mutex_unlock(&p->lock);
	session_free(s, false);
}

struct wb_imapconn *wb_imappool_take(struct wb_imappool *p, const struct wb_imapconn *like,
				     GError **error)
{
	g_autofree char *key = key_of(like);
	GPtrArray *closing = g_ptr_array_new();
	gint64 deadline = g_get_monotonic_time() + WB_IMAPCONN_TIMEOUT_S * G_USEC_PER_SEC;
	struct session *s = NULL;
	bool reused = false;
	g_mutex_lock(&p->lock);
	while ((s = find(p, like, key, closing, &reused)) == NULL &&
	       g_cond_wait_until(&p->back, &p->lock, deadline))
		;
	if (reused)
		p->stats.reuses++;
	unsigned max = p->max;
	g_mutex_unlock(&p->lock);
	free_all(closing, true);
	if (s == NULL) {
		wb_imapconn_fail_local(like, error, WB_FAIL_SOON, "all %u IMAP sessions of "
				       "[imap] max_connections stayed busy for %d s", max,
				       WB_IMAPCONN_TIMEOUT_S);
		return NULL;
	}
	if (!reused)
		wb_imapconn_init_like(&s->conn, like);
	s->conn.domain = like->domain;
	/* The server may have closed it meanwhile: a new session then, not a failed mail. */
	if (reused && !wb_imapconn_quiet(&s->conn))
		wb_imapconn_drop(&s->conn);
	unsigned generation = s->conn.generation;
	bool ok = wb_imapconn_ready(&s->conn, error);
	if (s->conn.generation != generation) {
		wb_metrics_imap_login();
		g_mutex_lock(&p->lock);
		p->stats.logins++;
		g_mutex_unlock(&p->lock);
	}
	if (!ok) {
		release(p, s);
		return NULL;
	}
	return &s->conn;
}

void wb_imappool_give(struct wb_imappool *p, struct wb_imapconn *c)
{
	if (c == NULL)
		return;
	struct session *s = (struct session *)c;
	bool keep = c->imap != NULL;
	g_mutex_lock(&p->lock);
	if (!keep)
		p->stats.broken++;
	keep = keep && p->open <= p->max;
	if (keep) {
		s->idle_since = g_get_monotonic_time();
		g_queue_push_tail_link(&p->idle, &s->lru);
		GQueue *q = g_hash_table_lookup(p->by_key, s->key);
		if (q == NULL) {
			q = g_queue_new();
			g_hash_table_insert(p->by_key, g_strdup(s->key), q);
		}
		g_queue_push_tail_link(q, &s->same);
	} else {
		count(p, -1);
	}
	g_cond_signal(&p->back);
	g_mutex_unlock(&p->lock);
	if (!keep)
		session_free(s, false);
}

/* Close the idle sessions idle since before now - idle time (all: every one). */
static unsigned close_idle(struct wb_imappool *p, gint64 now, bool all)
{
	GPtrArray *closing = g_ptr_array_new();
	g_mutex_lock(&p->lock);
	GList *head;
	while ((head = g_queue_peek_head_link(&p->idle)) != NULL) {
		struct session *s = head->data;
		if (!all && s->idle_since + p->idle_us > now)
			break;
		unlink_idle(p, s);
		count(p, -1);
		if (!all)
			p->stats.expired++;
		g_ptr_array_add(closing, s);
	}
	g_cond_broadcast(&p->back);
	g_mutex_unlock(&p->lock);
	unsigned n = closing->len;
	free_all(closing, false);
	return n;
}

unsigned wb_imappool_reap(struct wb_imappool *p, gint64 now)
{
	return close_idle(p, now, false);
}

unsigned wb_imappool_close_idle(struct wb_imappool *p)
{
	return close_idle(p, 0, true);
}

gint64 wb_imappool_next_reap(struct wb_imappool *p)
{
	g_mutex_lock(&p->lock);
	GList *head = g_queue_peek_head_link(&p->idle);
	gint64 at = head ? ((struct session *)head->data)->idle_since + p->idle_us : 0;
	g_mutex_unlock(&p->lock);
	return at;
}

void wb_imappool_set_max(struct wb_imappool *p, unsigned max)
{
	g_mutex_lock(&p->lock);
	p->max = MAX(max, 1u);
	g_cond_broadcast(&p->back);
	g_mutex_unlock(&p->lock);
}

void wb_imappool_stats(struct wb_imappool *p, struct wb_imappool_stats *out)
{
	g_mutex_lock(&p->lock);
	*out = p->stats;
	out->max = p->max;
	out->open = p->open;
	out->idle = p->idle.length;
	g_mutex_unlock(&p->lock);
}

void wb_imappool_free(struct wb_imappool *p)
{
	if (p == NULL)
		return;
	wb_imappool_close_idle(p);
	g_warn_if_fail(p->open == 0);
	g_hash_table_destroy(p->by_key);
	g_cond_clear(&p->back);
	g_mutex_clear(&p->lock);
	g_free(p);
}

struct wb_imappool *wb_imappool_shared(void)
{
	static struct wb_imappool *shared;
	if (g_once_init_enter(&shared)) {
		struct wb_imappool *p = wb_imappool_new(WB_IMAPPOOL_MAX_DEFAULT,
							(gint64)WB_IMAPPOOL_IDLE_S * G_USEC_PER_SEC);
		g_once_init_leave(&shared, p);
	}
	return shared;
}
