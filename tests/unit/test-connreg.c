/* Unit tests for connreg: request deadlines and the cut of connections past them,
 * on real sockets (socketpairs: the far end sees the cut as the end of the stream). */
#include "connreg.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#define S G_USEC_PER_SEC

struct pair {
	int near, far; /* near: what the listener holds; far: the client */
};

static struct pair pair_new(void)
{
	int sv[2];
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	return (struct pair){ sv[0], sv[1] };
}

/* Has the far end seen the end of the stream? */
static bool cut(const struct pair *p)
{
	char c;
	return read(p->far, &c, 1) == 0;
}

static void pair_close(struct pair *p)
{
	close(p->near);
	close(p->far);
}

static void test_deadlines(void)
{
	struct wb_connreg *r = wb_connreg_new(10 * S);
	struct pair a = pair_new(), b = pair_new(), c = pair_new();
	struct wb_conn *ca = wb_connreg_add(r, a.near, "192.0.2.1", 100 * S);
	struct wb_conn *cb = wb_connreg_add(r, b.near, "192.0.2.2", 103 * S);
	struct wb_conn *cc = wb_connreg_add(r, c.near, "192.0.2.3", 104 * S);
	g_assert_cmpuint(wb_connreg_count(r), ==, 3);
	g_assert_cmpstr(wb_conn_addr(cb), ==, "192.0.2.2");

	g_assert_cmpuint(wb_connreg_reap(r, 109 * S, NULL), ==, 0);
	/* b waits on the owner: no deadline; c answered a request: a new one */
	g_assert_true(wb_connreg_hold(r, cb));
	wb_connreg_restart(r, cc, 108 * S);
	g_autoptr(GPtrArray) who = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpuint(wb_connreg_reap(r, 115 * S, who), ==, 1);
	g_assert_cmpuint(who->len, ==, 1);
	g_assert_cmpstr(who->pdata[0], ==, "192.0.2.1");
	g_assert_true(cut(&a));
	g_assert_false(cut(&b));
	g_assert_false(cut(&c));
	g_assert_cmpint(errno, ==, EAGAIN);

	/* a cut connection stays cut: no new deadline, no work may start */
	wb_connreg_restart(r, ca, 116 * S);
	g_assert_false(wb_connreg_hold(r, ca));
	g_assert_cmpuint(wb_connreg_reap(r, 200 * S, NULL), ==, 1); /* c; b is held */
	g_assert_true(cut(&c));
	g_assert_false(cut(&b));
	wb_connreg_restart(r, cb, 200 * S);
	g_assert_cmpuint(wb_connreg_reap(r, 210 * S, NULL), ==, 1);
	g_assert_true(cut(&b));

	wb_connreg_remove(r, ca);
	wb_connreg_remove(r, cb);
	wb_connreg_remove(r, cc);
	g_assert_cmpuint(wb_connreg_count(r), ==, 0);
	wb_connreg_free(r);
	pair_close(&a);
	pair_close(&b);
	pair_close(&c);
}

/* A removed connection is never cut, even if its deadline has passed. */
static void test_removed(void)
{
	struct wb_connreg *r = wb_connreg_new(1 * S);
	struct pair a = pair_new();
	struct wb_conn *ca = wb_connreg_add(r, a.near, "192.0.2.9", 1 * S);
	wb_connreg_remove(r, ca);
	g_assert_cmpuint(wb_connreg_reap(r, 100 * S, NULL), ==, 0);
	g_assert_false(cut(&a));
	wb_connreg_free(r);
	pair_close(&a);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/connreg/deadlines", test_deadlines);
	g_test_add_func("/connreg/removed", test_removed);
	return g_test_run();
}
