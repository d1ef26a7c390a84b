/* budget: bookkeeping of the memory webhook bodies in flight hold (see budget.h). */
#include "budget.h"
#include "caps.h"

#include <glib.h>

struct wb_budget {
	size_t total, per_address;
	size_t small, large;  /* charged to bodies up to WB_BODY_SMALL, and over it */
	GHashTable *by_addr;  /* address → size_t * charged; no entry for nothing */
};

struct wb_budget *wb_budget_new(size_t total, size_t per_address)
{
	struct wb_budget *b = g_new0(struct wb_budget, 1);
	b->total = total;
	b->per_address = per_address;
	b->by_addr = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return b;
}

void wb_budget_free(struct wb_budget *b)
{
	if (!b)
		return;
	g_hash_table_unref(b->by_addr);
	g_free(b);
}

static bool is_large(size_t n)
{
	return n > WB_BODY_SMALL;
}

size_t wb_budget_used(const struct wb_budget *b)
{
	return b->small + b->large;
}

size_t wb_budget_used_by(const struct wb_budget *b, const char *addr)
{
	const size_t *n = g_hash_table_lookup(b->by_addr, addr);
	return n ? *n : 0;
}

/* Which rule the move from had to want would break; the counters are not touched. */
static enum wb_budget_verdict judge(const struct wb_budget *b, size_t by_addr, size_t had,
				    size_t want)
{
	size_t small = b->small - (is_large(had) ? 0 : had) + (is_large(want) ? 0 : want);
	size_t large = b->large - (is_large(had) ? had : 0) + (is_large(want) ? want : 0);
	if (want <= had)
		return WB_BUDGET_OK; /* giving back is always allowed */
	if (small + large > b->total || large > b->total / 2)
		return WB_BUDGET_FULL;
	if (b->per_address && by_addr - had + want > b->per_address)
		return WB_BUDGET_ADDRESS;
	return WB_BUDGET_OK;
}

enum wb_budget_verdict wb_budget_charge(struct wb_budget *b, const char *addr, size_t had,
					size_t want)
{
	size_t *mine = g_hash_table_lookup(b->by_addr, addr);
	enum wb_budget_verdict v = judge(b, mine ? *mine : 0, had, want);
	if (v != WB_BUDGET_OK)
		return v;
	*(is_large(had) ? &b->large : &b->small) -= had;
	*(is_large(want) ? &b->large : &b->small) += want;
	if (!mine) {
		mine = g_new0(size_t, 1);
		g_hash_table_insert(b->by_addr, g_strdup(addr), mine);
	}
	*mine = *mine - had + want;
	if (*mine == 0)
		g_hash_table_remove(b->by_addr, addr);
	return WB_BUDGET_OK;
}

size_t wb_budget_share(size_t total, size_t max_body)
{
	return MAX(total / 8, max_body);
}
