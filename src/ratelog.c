/* ratelog: a bounded number of log lines about refusals (see ratelog.h). */
#include "ratelog.h"
#include "caps.h"

struct reason {
	const char *name;
	gint64 since;         /* start of the open interval; 0: none open */
	unsigned held;        /* refusals counted, not logged, in it */
	unsigned untracked;   /* of those, from addresses beyond WB_REFUSAL_ADDRS */
	GHashTable *addrs;    /* address → count (guint *) */
};

struct wb_ratelog {
	gint64 interval;
	guint n;
	struct reason *r;
};

struct wb_ratelog *wb_ratelog_new(const char *const *names, gint64 interval_us)
{
	struct wb_ratelog *rl = g_new0(struct wb_ratelog, 1);
	rl->interval = interval_us;
	rl->n = g_strv_length((char **)names);
	rl->r = g_new0(struct reason, rl->n);
	for (guint i = 0; i < rl->n; i++) {
		rl->r[i].name = names[i];
		rl->r[i].addrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	}
	return rl;
}

void wb_ratelog_free(struct wb_ratelog *rl)
{
	if (!rl)
		return;
	for (guint i = 0; i < rl->n; i++)
		g_hash_table_unref(rl->r[i].addrs);
	g_free(rl->r);
	g_free(rl);
}

static char *summary(const struct reason *r, gint64 now)
{
	const char *top = NULL;
	guint most = 0, n = g_hash_table_size(r->addrs);
	GHashTableIter it;
	gpointer k, v;
	g_hash_table_iter_init(&it, r->addrs);
	while (g_hash_table_iter_next(&it, &k, &v))
		if (*(guint *)v > most || (*(guint *)v == most && g_strcmp0(k, top) < 0)) {
			most = *(guint *)v;
			top = k;
		}
	GString *s = g_string_new(NULL);
	g_string_printf(s, "… and %u more %s in %" G_GINT64_FORMAT " s", r->held, r->name,
			(now - r->since + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
	if (n || r->untracked)
		g_string_append_printf(s, ", from %s%u address%s", r->untracked ? "more than " : "",
				       n, n == 1 && !r->untracked ? "" : "es");
	if (top && most > 1 && (n > 1 || r->untracked))
		g_string_append_printf(s, ", most from %s (%u)", top, most);
	return g_string_free(s, FALSE);
}

/* End the open interval of r if it is over by now. */
static void close_if_over(struct wb_ratelog *rl, struct reason *r, gint64 now, GPtrArray *out)
{
	if (!r->since || now - r->since < rl->interval)
		return;
	if (r->held)
		g_ptr_array_add(out, summary(r, MIN(now, r->since + rl->interval)));
	r->since = 0;
	r->held = r->untracked = 0;
	g_hash_table_remove_all(r->addrs);
}

bool wb_ratelog_note(struct wb_ratelog *rl, unsigned reason, const char *addr, gint64 now,
		     GPtrArray *summaries)
{
	g_return_val_if_fail(reason < rl->n, true);
	struct reason *r = &rl->r[reason];
	close_if_over(rl, r, now, summaries);
	if (!r->since) {
		r->since = MAX(now, 1);
		return true;
	}
	r->held++;
	if (!addr)
		return false;
	guint *count = g_hash_table_lookup(r->addrs, addr);
	if (count)
		(*count)++;
	else if (g_hash_table_size(r->addrs) < WB_REFUSAL_ADDRS)
		g_hash_table_insert(r->addrs, g_strdup(addr), g_memdup2(&(guint){ 1 }, sizeof(guint)));
	else
		r->untracked++;
	return false;
}

void wb_ratelog_flush(struct wb_ratelog *rl, gint64 now, GPtrArray *summaries)
{
	for (guint i = 0; i < rl->n; i++)
		close_if_over(rl, &rl->r[i], now, summaries);
}
