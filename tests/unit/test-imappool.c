/* test-imappool: the pool of IMAP sessions (src/imappool.c) against a scripted server
 * that serves many connections at once and counts them: the bound, reuse, the least
 * recently used closed first, idle sessions closed, broken ones reopened, a changed
 * password, a refused login. Nothing here waits for time to pass: idle time is handed
 * in as `now`, and a session's last use is set back by hand. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "config.h"
#include "deliver.h"
#include "imapconn.h"
#include "imappool.h"

/* ---- a server of many connections ---------------------------------------------------- */

struct server {
	int listen_fd;
	int port;
	GThread *acceptor;
	GMutex lock;
	GCond changed;
	GPtrArray *fds;      /* open connections' sockets */
	unsigned accepted;   /* connections so far */
	unsigned most_open;  /* the most open at once */
	GString *logins;     /* "user " for each LOGIN accepted */
	unsigned logouts;    /* LOGOUT commands received */
};

struct conn {
	struct server *sv;
	int fd;
};

static void reply(int fd, const char *tag, const char *text)
{
	g_autofree char *line = g_strdup_printf("%s%s", tag, text);
	if (write(fd, line, strlen(line)) < 0)
		return;
}

/* One command; false when the connection is over. */
static bool command(struct conn *c, FILE *in, const char *line)
{
	g_auto(GStrv) w = g_strsplit_set(line, " \r\n", 4);
	if (w[0] == NULL || w[1] == NULL)
		return false;
	const char *tag = w[0], *cmd = w[1];
	if (g_ascii_strcasecmp(cmd, "LOGIN") == 0) {
		g_autofree char *user = g_strdup(w[2] ? w[2] : "");
		g_strdelimit(user, "\"", ' ');
		g_strstrip(user);
		if (strcmp(user, "refused") == 0 ||
		    (w[3] != NULL && strstr(w[3], "wrong") != NULL)) {
			reply(c->fd, tag, " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
			return true;
		}
		g_mutex_lock(&c->sv->lock);
		g_string_append_printf(c->sv->logins, "%s ", user);
		g_mutex_unlock(&c->sv->lock);
		reply(c->fd, tag, " OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n");
		return true;
	}
	if (g_ascii_strcasecmp(cmd, "LOGOUT") == 0) {
		g_mutex_lock(&c->sv->lock);
		c->sv->logouts++;
		g_cond_broadcast(&c->sv->changed);
		g_mutex_unlock(&c->sv->lock);
		reply(c->fd, "* BYE Logging out\r\n", "");
		reply(c->fd, tag, " OK Logout completed.\r\n");
		return false;
	}
	if (g_ascii_strcasecmp(cmd, "CAPABILITY") == 0) {
		reply(c->fd, "* CAPABILITY IMAP4rev1 UIDPLUS\r\n", "");
		reply(c->fd, tag, " OK done\r\n");
		return true;
	}
	const char *brace = strrchr(line, '{');
	if (brace != NULL) {
		size_t n = strtoul(brace + 1, NULL, 10) + 2;
		reply(c->fd, "+ go ahead\r\n", "");
		g_autofree char *buf = g_malloc(n);
		if (fread(buf, 1, n, in) != n)
			return false;
	}
	reply(c->fd, tag, g_ascii_strcasecmp(cmd, "APPEND") == 0 ? " OK [APPENDUID 1 1] done\r\n"
								  : " OK done\r\n");
	return true;
}

static gpointer conn_main(gpointer data)
{
	struct conn *c = data;
	FILE *in = fdopen(dup(c->fd), "r");
	char line[4096];
	reply(c->fd, "* OK [CAPABILITY IMAP4rev1 UIDPLUS] test server ready\r\n", "");
	while (fgets(line, sizeof line, in) != NULL && command(c, in, line))
		;
	fclose(in);
	g_mutex_lock(&c->sv->lock);
	g_ptr_array_remove(c->sv->fds, GINT_TO_POINTER(c->fd));
	close(c->fd);
	g_cond_broadcast(&c->sv->changed);
	g_mutex_unlock(&c->sv->lock);
	g_free(c);
	return NULL;
}

static gpointer accept_main(gpointer data)
{
	struct server *sv = data;
	int fd;
	while ((fd = accept(sv->listen_fd, NULL, NULL)) >= 0) {
		struct conn *c = g_new0(struct conn, 1);
		c->sv = sv;
		c->fd = fd;
		g_mutex_lock(&sv->lock);
		g_ptr_array_add(sv->fds, GINT_TO_POINTER(fd));
		sv->accepted++;
		sv->most_open = MAX(sv->most_open, sv->fds->len);
		g_cond_broadcast(&sv->changed);
		g_mutex_unlock(&sv->lock);
		g_thread_unref(g_thread_new("imap-conn", conn_main, c));
	}
	return NULL;
}

static struct server *server_start(void)
{
	struct server *sv = g_new0(struct server, 1);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	sv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	g_assert_cmpint(bind(sv->listen_fd, (struct sockaddr *)&a, sizeof a), ==, 0);
	g_assert_cmpint(listen(sv->listen_fd, 64), ==, 0);
	g_assert_cmpint(getsockname(sv->listen_fd, (struct sockaddr *)&a, &len), ==, 0);
	sv->port = ntohs(a.sin_port);
	g_mutex_init(&sv->lock);
	g_cond_init(&sv->changed);
	sv->fds = g_ptr_array_new();
	sv->logins = g_string_new(NULL);
	sv->acceptor = g_thread_new("imap-accept", accept_main, sv);
	return sv;
}

/* Wait until exactly n connections are open (the server closes its end after the
 * client's LOGOUT or close, on its own thread). */
static void server_wait_open(struct server *sv, unsigned n)
{
	g_mutex_lock(&sv->lock);
	while (sv->fds->len != n)
		g_cond_wait(&sv->changed, &sv->lock);
	g_mutex_unlock(&sv->lock);
}

/* Wait until n LOGOUTs have come (each closes its connection). */
static void server_wait_logouts(struct server *sv, unsigned n)
{
	g_mutex_lock(&sv->lock);
	while (sv->logouts < n)
		g_cond_wait(&sv->changed, &sv->lock);
	g_mutex_unlock(&sv->lock);
}

static unsigned server_open(struct server *sv)
{
	g_mutex_lock(&sv->lock);
	unsigned n = sv->fds->len;
	g_mutex_unlock(&sv->lock);
	return n;
}

/* Cut every connection from the server's side, as a restarted server does. */
static void server_cut_all(struct server *sv)
{
	g_mutex_lock(&sv->lock);
	for (guint i = 0; i < sv->fds->len; i++)
		shutdown(GPOINTER_TO_INT(sv->fds->pdata[i]), SHUT_RDWR);
	while (sv->fds->len != 0)
		g_cond_wait(&sv->changed, &sv->lock);
	g_mutex_unlock(&sv->lock);
}

/* Stop; every connection must be closed already. Returns the logins seen. */
static char *server_stop(struct server *sv)
{
	server_wait_open(sv, 0);
	shutdown(sv->listen_fd, SHUT_RDWR);
	g_thread_join(sv->acceptor);
	close(sv->listen_fd);
	g_ptr_array_unref(sv->fds);
	g_cond_clear(&sv->changed);
	g_mutex_clear(&sv->lock);
	char *logins = g_string_free(sv->logins, FALSE);
	g_free(sv);
	return logins;
}

/* ---- helpers -------------------------------------------------------------------------- */

/* A login to the server, configured as deliver_imap.c does it. */
static void like_init(struct wb_imapconn *like, const struct server *sv, const char *user,
		      const char *password)
{
	g_autofree char *url = g_strdup_printf("imap://127.0.0.1:%d", sv->port);
	struct wb_config cfg = { .imap_url = url };
	g_autoptr(GError) error = NULL;
	memset(like, 0, sizeof *like);
	g_assert_true(wb_imapconn_init(like, WB_DELIVER_ERROR, &cfg, user, password, &error));
}

/* Take a session for user (password "secret"), expecting success. */
static struct wb_imapconn *take(struct wb_imappool *p, const struct server *sv,
				const char *user)
{
	struct wb_imapconn like;
	g_autoptr(GError) error = NULL;
	like_init(&like, sv, user, "secret");
	struct wb_imapconn *c = wb_imappool_take(p, &like, &error);
	g_assert_no_error(error);
	g_assert_nonnull(c);
	g_assert_nonnull(c->imap);
	g_assert_cmpstr(c->user, ==, user);
	wb_imapconn_clear(&like);
	return c;
}

static struct wb_imappool_stats stats_of(struct wb_imappool *p)
{
	struct wb_imappool_stats s;
	wb_imappool_stats(p, &s);
	return s;
}

#define IDLE_US (300 * G_USEC_PER_SEC)

/* ---- the tests ------------------------------------------------------------------------ */

/* The next take for the same login gets the same session, without a second LOGIN. */
static void test_reuse(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(4, IDLE_US);
	struct wb_imapconn *a = take(p, sv, "bhowanipore");
	g_assert_cmpint(mailimap_noop(a->imap), ==, MAILIMAP_NO_ERROR);
	wb_imappool_give(p, a);
	for (int i = 0; i < 5; i++) {
		struct wb_imapconn *again = take(p, sv, "bhowanipore");
		g_assert_true(again == a);
		wb_imappool_give(p, again);
	}
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.logins, ==, 1);
	g_assert_cmpuint(s.reuses, ==, 5);
	g_assert_cmpuint(s.open, ==, 1);
	g_assert_cmpuint(s.idle, ==, 1);
	g_assert_cmpuint(server_open(sv), ==, 1);
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "bhowanipore ");
}

/* Ten mailboxes through a pool of three: never more than three connections, and the
 * least recently used goes first. */
static void test_bound_lru(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(3, IDLE_US);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++) {
			g_autofree char *user = g_strdup_printf("s%02d", i);
			wb_imappool_give(p, take(p, sv, user));
		}
	}
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.most_open, ==, 3);
	g_assert_cmpuint(s.open, ==, 3);
	g_assert_cmpuint(s.logins, ==, 30);   /* round robin over 10 defeats any cache of 3 */
	g_assert_cmpuint(s.evicted, ==, 27);
	server_wait_logouts(sv, 27);          /* each closed with a LOGOUT, unanswered */
	server_wait_open(sv, 3);
	/* s07, s08, s09 are idle, s07 the least recently used */
	wb_imappool_give(p, take(p, sv, "s08"));    /* reused: order now s07 s09 s08 */
	wb_imappool_give(p, take(p, sv, "new"));    /* evicts s07 */
	wb_imappool_give(p, take(p, sv, "s09"));    /* still there */
	wb_imappool_give(p, take(p, sv, "s08"));    /* still there */
	s = stats_of(p);
	g_assert_cmpuint(s.logins, ==, 31);
	g_assert_cmpuint(s.reuses, ==, 3);
	wb_imappool_give(p, take(p, sv, "s07"));    /* was closed: a new LOGIN */
	g_assert_cmpuint(stats_of(p).logins, ==, 32);
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_true(g_str_has_suffix(logins, "new s07 "));
}

/* Stations that share a login share its session; a different password does not. */
static void test_login_key(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(4, IDLE_US);
	struct wb_imapconn like;
	g_autoptr(GError) error = NULL;

	struct wb_imapconn *a = take(p, sv, "shared");
	wb_imappool_give(p, a);
	like_init(&like, sv, "shared", "secret2");
	struct wb_imapconn *b = wb_imappool_take(p, &like, &error);
	g_assert_no_error(error);
	g_assert_nonnull(b);
	g_assert_cmpstr(b->password, ==, "secret2");
	wb_imappool_give(p, b);
	wb_imapconn_clear(&like);
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.logins, ==, 2);
	g_assert_cmpuint(s.reuses, ==, 0);
	g_assert_cmpuint(s.open, ==, 1);  /* the session of the old password was closed */
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "shared shared ");
}

/* A session that broke in use is freed when given back; one that died while idle is
 * found out (NOOP) and replaced when taken. */
static void test_broken(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(2, IDLE_US);
	g_autoptr(GError) error = NULL;

	struct wb_imapconn *a = take(p, sv, "jadavpur");
	server_cut_all(sv);
	int r = mailimap_noop(a->imap);
	g_assert_cmpint(r, !=, MAILIMAP_NO_ERROR);
	g_assert_false(wb_imapconn_fail(a, &error, r, WB_FAIL_SOON, "NOOP"));
	g_assert_null(a->imap); /* dropped */
	g_clear_error(&error);
	wb_imappool_give(p, a);
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.broken, ==, 1);
	g_assert_cmpuint(s.open, ==, 0);

	/* Idle for longer than WB_IMAPCONN_IDLE_CHECK_S, and the server went away meanwhile. */
	struct wb_imapconn *b = take(p, sv, "jadavpur");
	b->last_used -= (WB_IMAPCONN_IDLE_CHECK_S + 1) * G_USEC_PER_SEC;
	wb_imappool_give(p, b);
	server_cut_all(sv);
	struct wb_imapconn *c = take(p, sv, "jadavpur");
	g_assert_true(c == b); /* the same place, with a new session in it */
	g_assert_cmpint(mailimap_noop(c->imap), ==, MAILIMAP_NO_ERROR);
	wb_imappool_give(p, c);
	s = stats_of(p);
	g_assert_cmpuint(s.logins, ==, 3);
	g_assert_cmpuint(s.open, ==, 1);

	/* Closed by the server a moment ago: its socket says so, no NOOP needed. */
	server_cut_all(sv);
	struct wb_imapconn *d = take(p, sv, "jadavpur");
	g_assert_true(d->last_used > g_get_monotonic_time() - G_USEC_PER_SEC * 5);
	g_assert_cmpint(mailimap_noop(d->imap), ==, MAILIMAP_NO_ERROR);
	wb_imappool_give(p, d);
	g_assert_cmpuint(stats_of(p).logins, ==, 4);
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "jadavpur jadavpur jadavpur jadavpur ");
}

/* Idle sessions are closed once idle long enough, the oldest first. */
static void test_reap(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(4, IDLE_US);
	g_assert_cmpint(wb_imappool_next_reap(p), ==, 0);
	gint64 before = g_get_monotonic_time();
	wb_imappool_give(p, take(p, sv, "a"));
	gint64 between = g_get_monotonic_time();
	wb_imappool_give(p, take(p, sv, "b"));
	gint64 after = g_get_monotonic_time();
	gint64 next = wb_imappool_next_reap(p);
	g_assert_cmpint(next, >=, before + IDLE_US);
	g_assert_cmpint(next, <=, between + IDLE_US);
	g_assert_cmpuint(wb_imappool_reap(p, before), ==, 0);
	g_assert_cmpuint(wb_imappool_reap(p, between + IDLE_US), ==, 1); /* a only */
	server_wait_open(sv, 1);
	g_assert_cmpint(wb_imappool_next_reap(p), >=, between + IDLE_US);
	g_assert_cmpuint(wb_imappool_reap(p, after + IDLE_US), ==, 1);
	server_wait_open(sv, 0);
	g_assert_cmpint(wb_imappool_next_reap(p), ==, 0);
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.expired, ==, 2);
	g_assert_cmpuint(s.open, ==, 0);
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "a b ");
}

struct taker {
	struct wb_imappool *p;
	struct server *sv;
	struct wb_imapconn *got;
};

static gpointer take_main(gpointer data)
{
	struct taker *t = data;
	t->got = take(t->p, t->sv, "second");
	return NULL;
}

/* With every place in use, a take waits for one to come back rather than pass the bound. */
static void test_busy(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(1, IDLE_US);
	struct wb_imapconn *a = take(p, sv, "first");
	struct taker t = { .p = p, .sv = sv };
	GThread *th = g_thread_new("taker", take_main, &t);
	g_assert_cmpuint(server_open(sv), ==, 1);
	wb_imappool_give(p, a);
	g_thread_join(th);
	g_assert_nonnull(t.got);
	g_assert_cmpstr(t.got->user, ==, "second");
	wb_imappool_give(p, t.got);
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.most_open, ==, 1);
	g_assert_cmpuint(s.evicted, ==, 1);
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "first second ");
}

/* A lower bound takes effect as sessions come back. */
static void test_set_max(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(3, IDLE_US);
	struct wb_imapconn *a = take(p, sv, "a"), *b = take(p, sv, "b"), *c = take(p, sv, "c");
	wb_imappool_set_max(p, 1);
	wb_imappool_give(p, a);
	wb_imappool_give(p, b);
	wb_imappool_give(p, c);
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.max, ==, 1);
	g_assert_cmpuint(s.open, ==, 1);
	g_assert_cmpuint(s.idle, ==, 1);
	server_wait_open(sv, 1);
	wb_imappool_give(p, take(p, sv, "c")); /* the one kept is the last given back */
	g_assert_cmpuint(stats_of(p).reuses, ==, 1);
	g_assert_cmpuint(wb_imappool_close_idle(p), ==, 1);
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "a b c ");
}

/* A refused login gives its place back and says why. */
static void test_refused(void)
{
	struct server *sv = server_start();
	struct wb_imappool *p = wb_imappool_new(1, IDLE_US);
	struct wb_imapconn like;
	g_autoptr(GError) error = NULL;
	like_init(&like, sv, "refused", "secret");
	g_assert_null(wb_imappool_take(p, &like, &error));
	g_assert_error(error, WB_DELIVER_ERROR, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "login refused"));
	g_assert_null(strstr(error->message, "secret"));
	wb_imapconn_clear(&like);
	struct wb_imappool_stats s = stats_of(p);
	g_assert_cmpuint(s.open, ==, 0);
	wb_imappool_give(p, take(p, sv, "fine")); /* the place is free again */
	wb_imappool_free(p);
	g_autofree char *logins = server_stop(sv);
	g_assert_cmpstr(logins, ==, "fine ");
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/imappool/reuse", test_reuse);
	g_test_add_func("/imappool/bound-lru", test_bound_lru);
	g_test_add_func("/imappool/login-key", test_login_key);
	g_test_add_func("/imappool/broken", test_broken);
	g_test_add_func("/imappool/reap", test_reap);
	g_test_add_func("/imappool/busy", test_busy);
	g_test_add_func("/imappool/set-max", test_set_max);
	g_test_add_func("/imappool/refused", test_refused);
	return g_test_run();
}
