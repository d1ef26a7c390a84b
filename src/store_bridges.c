/* store_bridges: who is working — each bridge process, its heartbeat, and the leases on
 * the work it claimed.
 *
 * Design rationale:
 * - A claim names its bridge ("NODE:PID:START": [bridge] node, else the host name; the
 *   process id; the process's start in clock ticks since boot, so a reused pid is a
 *   different bridge) and runs until lease_until. A bridge renews the leases of
 *   everything it holds in one pass (WB_BEAT_PART of the lease), so a long download
 *   keeps its claim while its bridge lives; a bridge that dies, on any host, loses its
 *   claims when their lease runs out, and any other bridge takes the work over.
 * - On one node a dead process is known at once (its pid is gone, or is another
 *   process now): its claims are let go at the next heartbeat of any bridge on that
 *   node, as the pid-based claims before them were, so that a daemon restarted after a
 *   crash does not wait for the lease. A live one there keeps its claims even past
 *   their lease: a `run` has no heartbeat thread and renews only between its steps.
 * - Each bridge has a row in `bridges` (started, last seen, what it runs), kept after it
 *   stops, for `status` and /metrics. */
#include "store.h"
#include "store-priv.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static char *me;        /* this process's bridge id */
static char *my_node;
static char *my_role;
static int lease = WB_LEASE_DEFAULT;

/* The process's start, in clock ticks since boot (field 22 of /proc/PID/stat); 0 when
 * it cannot be read. */
static unsigned long long start_ticks(long pid)
{
	char path[64];
	g_snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	/* The command name (field 2) is in parentheses and may hold spaces: count from
	 * its closing one. */
	const char *p = strrchr(text, ')');
	if (!p)
		return 0;
	unsigned long long ticks = 0;
	g_auto(GStrv) f = g_strsplit(p + 2, " ", 0);
	if (g_strv_length(f) > 19)
		ticks = g_ascii_strtoull(f[19], NULL, 10);
	return ticks;
}

void wb_bridge_init(const char *node, int lease_seconds, const char *role)
{
	g_free(me);
	g_free(my_node);
	g_free(my_role);
	my_node = g_strdup(node && *node ? node : g_get_host_name());
	my_role = g_strdup(role ? role : "command");
	lease = lease_seconds > 0 ? lease_seconds : WB_LEASE_DEFAULT;
	me = g_strdup_printf("%s:%ld:%llu", my_node, (long)getpid(), start_ticks((long)getpid()));
}

const char *wb_bridge_id(void)
{
	if (!me)
		wb_bridge_init(NULL, 0, NULL);
	return me;
}

int wb_lease_seconds(void)
{
	return lease;
}

/* Split "NODE:PID:START" (the node may itself hold colons: the last two fields are
 * taken from the end). */
static bool parse_id(const char *id, char **node, long *pid, unsigned long long *start)
{
	const char *b = strrchr(id, ':');
	if (!b || b == id)
		return false;
	const char *a = b - 1;
	while (a > id && *a != ':')
		a--;
	if (*a != ':')
		return false;
	*node = g_strndup(id, (gsize)(a - id));
	*pid = strtol(a + 1, NULL, 10);
	*start = g_ascii_strtoull(b + 1, NULL, 10);
	return true;
}

/* The bridge of that id on this node: 1 alive, 0 gone; -1 on another node (never known
 * here: its lease says). */
static int alive_here(const char *id)
{
	g_autofree char *node = NULL;
	long pid;
	unsigned long long start;
	if (!parse_id(id, &node, &pid, &start) || strcmp(node, my_node ? my_node : "") != 0)
		return -1;
	if (pid <= 0 || pid > G_MAXINT)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return 0;
	unsigned long long now_start = start_ticks(pid);
	return !(start != 0 && now_start != 0 && now_start != start);
}

static bool gone_here(const char *id)
{
	return alive_here(id) == 0;
}

bool wb_claim_held(const char *by, int64_t lease_until, gint64 now)
{
	if (!by || strcmp(by, wb_bridge_id()) == 0)
		return false;
	/* On this node the process itself answers, whatever its lease says: a `run` renews
	 * its leases only between its steps, and taking over the work of a process that is
	 * still doing it would do it twice. */
	int here = alive_here(by);
	return here >= 0 ? here == 1 : lease_until > now;
}

/* The tables whose rows bridges claim. */
static const char *const release_sql[] = {
	"UPDATE messages SET claim_by = NULL WHERE claim_by = ?1",
	"UPDATE outbox SET claim_by = NULL WHERE claim_by = ?1",
	"UPDATE mailops SET claim_by = NULL WHERE claim_by = ?1",
	"UPDATE mailout SET claim_by = NULL WHERE claim_by = ?1",
};
static const char *const renew_sql[] = {
	"UPDATE messages SET lease_until = ?2 WHERE claim_by = ?1",
	"UPDATE outbox SET lease_until = ?2 WHERE claim_by = ?1",
	"UPDATE mailops SET lease_until = ?2 WHERE claim_by = ?1",
	"UPDATE mailout SET lease_until = ?2 WHERE claim_by = ?1",
};

static bool each_table(struct wb_store *s, const char *const *sqls, const char *id,
		       gint64 until, GError **error)
{
	for (size_t i = 0; i < 4; i++) {
		db_stmt *st = sq_prep(s, sqls[i], error);
		if (!st)
			return false;
		sq_bind_text(st, 1, id);
		if (sqls == renew_sql)
			db_bind_int64(st, 2, until);
		if (!sq_step_done(s, st, error, "renewing or releasing claims"))
			return false;
	}
	return true;
}

/* Let go of the claims of this node's bridges that are gone: those registered, and any
 * other holder of a claim that names this node. */
static bool reap(struct wb_store *s, gint64 now, GError **error)
{
	db_stmt *st = sq_prep(s, "SELECT id FROM bridges WHERE node = ?1 AND id <> ?2 AND "
			      "stopped_at IS NULL UNION "
			      "SELECT claim_by FROM messages WHERE claim_by LIKE ?3 UNION "
			      "SELECT claim_by FROM outbox WHERE claim_by LIKE ?3 UNION "
			      "SELECT claim_by FROM mailops WHERE claim_by LIKE ?3 UNION "
			      "SELECT claim_by FROM mailout WHERE claim_by LIKE ?3", error);
	if (!st)
		return false;
	g_autofree char *pattern = g_strdup_printf("%s:%%", my_node);
	sq_bind_text(st, 1, my_node);
	sq_bind_text(st, 2, me);
	sq_bind_text(st, 3, pattern);
	g_autoptr(GPtrArray) dead = g_ptr_array_new_with_free_func(g_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		const char *id = db_col_text(st, 0);
		if (id && strcmp(id, me) != 0 && gone_here(id))
			g_ptr_array_add(dead, g_strdup(id));
	}
	db_reset(st);
	if (rc != DB_DONE)
		return sq_fail(s, error, "reading the bridges");
	for (guint i = 0; i < dead->len; i++) {
		const char *id = dead->pdata[i];
		if (!each_table(s, release_sql, id, 0, error))
			return false;
		st = sq_prep(s, "UPDATE bridges SET stopped_at = ?2 WHERE id = ?1", error);
		if (!st)
			return false;
		sq_bind_text(st, 1, id);
		db_bind_int64(st, 2, now);
		if (!sq_step_done(s, st, error, "marking a bridge gone"))
			return false;
		g_message("bridge %s is gone: its claims are free again", id);
	}
	return true;
}

bool wb_store_bridge_beat(struct wb_store *s, GError **error)
{
	gint64 now = wb_now();
	const char *id = wb_bridge_id();
	if (!sq_begin(s, error))
		return false;
	db_stmt *st = sq_prep(s, "INSERT INTO bridges (id, node, pid, started_at, seen_at, "
			      "lease_until, version, what) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7) "
			      "ON CONFLICT (id) DO UPDATE SET seen_at = ?4, lease_until = ?5, "
			      "stopped_at = NULL", error);
	if (!st)
		return sq_rollback(s);
	sq_bind_text(st, 1, id);
	sq_bind_text(st, 2, my_node);
	db_bind_int64(st, 3, (int64_t)getpid());
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, now + lease);
	sq_bind_text(st, 6, WB_VERSION);
	sq_bind_text(st, 7, my_role);
	if (!sq_step_done(s, st, error, "registering this bridge") ||
	    !each_table(s, renew_sql, id, now + lease, error) || !reap(s, now, error))
		return sq_rollback(s);
	if (!sq_commit(s, error))
		return false;
	s->beat_at = now;
	return true;
}

bool wb_store_bridge_ready(struct wb_store *s, GError **error)
{
	gint64 now = wb_now();
	if (s->beat_at && now - s->beat_at < lease / WB_BEAT_PART)
		return true;
	return wb_store_bridge_beat(s, error);
}

bool wb_store_bridge_stop(struct wb_store *s, GError **error)
{
	const char *id = wb_bridge_id();
	if (!sq_begin(s, error))
		return false;
	db_stmt *st = sq_prep(s, "UPDATE bridges SET stopped_at = ?2, seen_at = ?2 WHERE id = ?1",
			      error);
	if (!st)
		return sq_rollback(s);
	sq_bind_text(st, 1, id);
	db_bind_int64(st, 2, wb_now());
	if (!sq_step_done(s, st, error, "marking this bridge stopped") ||
	    !each_table(s, release_sql, id, 0, error))
		return sq_rollback(s);
	return sq_commit(s, error);
}

void wb_bridge_row_free(struct wb_bridge_row *b)
{
	if (!b)
		return;
	g_free(b->id);
	g_free(b->node);
	g_free(b->version);
	g_free(b->what);
	g_free(b);
}

GPtrArray *wb_store_bridges(struct wb_store *s, gint64 now, GError **error)
{
	/* Those still running, and those that stopped within the last day. */
	db_stmt *st = sq_prep(s, "SELECT b.id, b.node, b.pid, b.started_at, b.seen_at, "
			      "b.lease_until, b.version, b.what, b.stopped_at, "
			      "(SELECT count(*) FROM messages WHERE claim_by = b.id), "
			      "(SELECT count(*) FROM outbox WHERE claim_by = b.id), "
			      "(SELECT count(*) FROM mailops WHERE claim_by = b.id), "
			      "(SELECT count(*) FROM mailout WHERE claim_by = b.id) "
			      "FROM bridges b WHERE b.stopped_at IS NULL OR b.stopped_at > ?1 "
			      "ORDER BY b.node, b.started_at, b.id", error);
	if (!st)
		return NULL;
	db_bind_int64(st, 1, now - 86400);
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)wb_bridge_row_free);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		struct wb_bridge_row *b = g_new0(struct wb_bridge_row, 1);
		b->id = sq_shown(st, 0);
		b->node = sq_shown(st, 1);
		b->pid = db_col_int64(st, 2);
		b->started_at = db_col_int64(st, 3);
		b->seen_at = db_col_int64(st, 4);
		b->lease_until = db_col_int64(st, 5);
		b->version = sq_shown(st, 6);
		b->what = sq_shown(st, 7);
		b->stopped = db_col_type(st, 8) != DB_NULL;
		b->me = strcmp(b->id, wb_bridge_id()) == 0;
		b->alive = !b->stopped && (b->me || b->lease_until > now);
		for (int i = 0; i < 4; i++)
			b->claims[i] = db_col_int64(st, 9 + i);
		g_ptr_array_add(out, b);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		sq_fail(s, error, "reading the bridges");
		g_ptr_array_unref(out);
		return NULL;
	}
	return out;
}

bool wb_store_report_bridges(struct wb_store *s, GString *out, GError **error)
{
	gint64 now = wb_now();
	g_autoptr(GPtrArray) rows = wb_store_bridges(s, now, error);
	if (!rows)
		return false;
	if (rows->len == 0) {
		g_string_append(out, "Bridges: none has run yet\n");
		return true;
	}
	g_string_append(out, "Bridges:\n");
	for (guint i = 0; i < rows->len; i++) {
		const struct wb_bridge_row *b = rows->pdata[i];
		g_autofree char *started = sq_time_text(b->started_at);
		g_autofree char *seen = sq_time_text(b->seen_at);
		g_string_append_printf(out, "  %s (%s %s, pid %lld): %s, started %s, last seen %s",
				       b->id, b->what, b->version, (long long)b->pid,
				       b->stopped ? "stopped" : b->alive ? "running"
								      : "GONE (lease ran out)",
				       started, seen);
		if (b->me)
			g_string_append(out, " (this one)");
		g_string_append_printf(out, "; claims: %lld messages, %lld sends, %lld mailbox "
				       "operations, %lld mails out\n", (long long)b->claims[0],
				       (long long)b->claims[1], (long long)b->claims[2],
				       (long long)b->claims[3]);
	}
	return true;
}

/* ---- waking other bridges ------------------------------------------------------------------ */

#define WORK_CHANNEL "wabridge_work"

bool wb_store_notify(struct wb_store *s, GError **error)
{
	return db_notify(s->db, WORK_CHANNEL) || sq_fail(s, error, "notifying the bridges");
}

int wb_store_listen(struct wb_store *s, GError **error)
{
	if (!db_pg(s->db))
		return -1;
	if (!db_listen(s->db, WORK_CHANNEL)) {
		sq_fail(s, error, "listening for new work");
		return -2;
	}
	return db_listen_fd(s->db);
}

bool wb_store_heard(struct wb_store *s)
{
	return db_drain(s->db);
}

bool wb_store_listen_alive(struct wb_store *s)
{
	return db_connected(s->db);
}
