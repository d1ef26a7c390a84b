/* connreg: open connections and their request deadlines (see connreg.h). */
#include "connreg.h"

#include <sys/socket.h>

struct wb_conn {
	GList link;     /* in r->waiting while it has a deadline; data points to itself */
	int fd;
	gint64 deadline; /* 0: none (held, or cut) */
	bool cut;
	char *addr;
};

struct wb_connreg {
	GMutex lock;
	gint64 timeout;
	GQueue waiting; /* connections with a deadline, soonest first */
	unsigned count;
};

struct wb_connreg *wb_connreg_new(gint64 timeout_us)
{
	struct wb_connreg *r = g_new0(struct wb_connreg, 1);
	g_mutex_init(&r->lock);
	g_queue_init(&r->waiting);
	r->timeout = timeout_us;
	return r;
}

void wb_connreg_free(struct wb_connreg *r)
{
	if (!r)
		return;
	g_warn_if_fail(r->count == 0);
	g_mutex_clear(&r->lock);
	g_free(r);
}

/* Under the lock. */
static void set_deadline(struct wb_connreg *r, struct wb_conn *c, gint64 deadline)
{
	if (c->deadline)
		g_queue_unlink(&r->waiting, &c->link);
	c->deadline = deadline;
	if (deadline)
		g_queue_push_tail_link(&r->waiting, &c->link);
}

struct wb_conn *wb_connreg_add(struct wb_connreg *r, int fd, const char *addr, gint64 now)
{
	struct wb_conn *c = g_new0(struct wb_conn, 1);
	c->link.data = c;
	c->fd = fd;
	c->addr = g_strdup(addr);
	g_mutex_lock(&r->lock);
	set_deadline(r, c, now + r->timeout);
	r->count++;
	g_mutex_unlock(&r->lock);
	return c;
}

void wb_connreg_remove(struct wb_connreg *r, struct wb_conn *c)
{
	g_mutex_lock(&r->lock);
	set_deadline(r, c, 0);
	r->count--;
	g_mutex_unlock(&r->lock);
	g_free(c->addr);
	g_free(c);
}

bool wb_connreg_hold(struct wb_connreg *r, struct wb_conn *c)
{
	g_mutex_lock(&r->lock);
	bool ok = !c->cut;
	set_deadline(r, c, 0);
	g_mutex_unlock(&r->lock);
	return ok;
}

void wb_connreg_restart(struct wb_connreg *r, struct wb_conn *c, gint64 now)
{
	g_mutex_lock(&r->lock);
	if (!c->cut)
		set_deadline(r, c, now + r->timeout);
	g_mutex_unlock(&r->lock);
}

unsigned wb_connreg_reap(struct wb_connreg *r, gint64 now, GPtrArray *cut)
{
	unsigned n = 0;
	g_mutex_lock(&r->lock);
	GList *head;
	while ((head = g_queue_peek_head_link(&r->waiting)) != NULL) {
		struct wb_conn *c = head->data;
		if (c->deadline > now)
			break;
		set_deadline(r, c, 0);
		c->cut = true;
		/* The descriptor is open: its entry is here, and removing it takes this lock. */
		shutdown(c->fd, SHUT_RDWR);
		if (cut)
			g_ptr_array_add(cut, g_strdup(c->addr));
		n++;
	}
	g_mutex_unlock(&r->lock);
	return n;
}

const char *wb_conn_addr(const struct wb_conn *c)
{
	return c->addr;
}

unsigned wb_connreg_count(struct wb_connreg *r)
{
	g_mutex_lock(&r->lock);
	unsigned n = r->count;
	g_mutex_unlock(&r->lock);
	return n;
}
