/* Unit tests for budget: the memory webhook bodies in flight may hold. */
#include "budget.h"
#include "caps.h"

#include <glib.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* One step of a scenario: address addr moves a body from had to want bytes. */
struct step {
	const char *addr;
	size_t had, want;
	enum wb_budget_verdict verdict;
	size_t used_after;
};

static void run(const char *name, size_t total, size_t per_address, const struct step *steps,
		size_t n)
{
	struct wb_budget *b = wb_budget_new(total, per_address);
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		enum wb_budget_verdict v = wb_budget_charge(b, s->addr, s->had, s->want);
		if (v != s->verdict || wb_budget_used(b) != s->used_after)
			g_error("%s, step %zu (%s %zu → %zu): verdict %d, want %d; used %zu, want %zu",
				name, i, s->addr, s->had, s->want, v, s->verdict, wb_budget_used(b),
				s->used_after);
	}
	wb_budget_free(b);
}

/* A flood of large bodies takes at most half; small bodies still have the rest. */
static const struct step flood[] = {
	{ "198.51.100.1", 0, 4 * MiB, WB_BUDGET_OK, 4 * MiB },
	{ "198.51.100.2", 0, 4 * MiB, WB_BUDGET_OK, 8 * MiB },
	{ "198.51.100.3", 0, 4 * MiB, WB_BUDGET_OK, 12 * MiB },
	{ "198.51.100.4", 0, 4 * MiB, WB_BUDGET_OK, 16 * MiB },
	{ "198.51.100.5", 0, 4 * MiB, WB_BUDGET_FULL, 16 * MiB },      /* large: half is used */
	{ "198.51.100.5", 0, WB_BODY_SMALL + 1, WB_BUDGET_FULL, 16 * MiB }, /* just large */
	{ "203.0.113.7", 0, 3 * KiB, WB_BUDGET_OK, 16 * MiB + 3 * KiB }, /* Meta's small POST */
	{ "203.0.113.7", 0, WB_BODY_SMALL, WB_BUDGET_OK, 16 * MiB + 3 * KiB + WB_BODY_SMALL },
	{ "198.51.100.1", 4 * MiB, 0, WB_BUDGET_OK, 12 * MiB + 3 * KiB + WB_BODY_SMALL },
	{ "198.51.100.5", 0, 4 * MiB, WB_BUDGET_OK, 16 * MiB + 3 * KiB + WB_BODY_SMALL },
};

/* Small bodies may fill everything; a large one then finds no room either. */
static const struct step small_fill[] = {
	{ "a", 0, 40 * KiB, WB_BUDGET_OK, 40 * KiB },
	{ "b", 0, 40 * KiB, WB_BUDGET_OK, 80 * KiB },
	{ "c", 0, 40 * KiB, WB_BUDGET_OK, 120 * KiB },
	{ "d", 0, 40 * KiB, WB_BUDGET_FULL, 120 * KiB },
	{ "d", 0, 8 * KiB, WB_BUDGET_OK, 128 * KiB },
	{ "d", 0, 1, WB_BUDGET_FULL, 128 * KiB },
	{ "a", 40 * KiB, 0, WB_BUDGET_OK, 88 * KiB },
	{ "e", 0, WB_BODY_SMALL + 1, WB_BUDGET_FULL, 88 * KiB }, /* > total/2 anyway */
};

/* One address holds at most its share; others are not touched by it. */
static const struct step share[] = {
	{ "10.0.0.1", 0, 4 * MiB, WB_BUDGET_OK, 4 * MiB },
	{ "10.0.0.1", 0, 4 * MiB, WB_BUDGET_OK, 8 * MiB },
	{ "10.0.0.1", 0, 1 * KiB, WB_BUDGET_ADDRESS, 8 * MiB },
	{ "10.0.0.2", 0, 4 * MiB, WB_BUDGET_OK, 12 * MiB },
	{ "10.0.0.1", 4 * MiB, 0, WB_BUDGET_OK, 8 * MiB },
	{ "10.0.0.1", 0, 1 * KiB, WB_BUDGET_OK, 8 * MiB + 1 * KiB },
};

/* A chunked body grows step by step, crossing from small to large. */
static const struct step growth[] = {
	{ "x", 0, 4 * KiB, WB_BUDGET_OK, 4 * KiB },
	{ "x", 4 * KiB, 32 * KiB, WB_BUDGET_OK, 32 * KiB },
	{ "x", 32 * KiB, 128 * KiB, WB_BUDGET_OK, 128 * KiB },
	{ "y", 0, 384 * KiB, WB_BUDGET_OK, 512 * KiB },
	{ "x", 128 * KiB, 256 * KiB, WB_BUDGET_FULL, 512 * KiB }, /* large would pass half */
	{ "z", 0, 60 * KiB, WB_BUDGET_OK, 572 * KiB },            /* small still fits */
	{ "x", 128 * KiB, 0, WB_BUDGET_OK, 444 * KiB },
};

static void test_scenarios(void)
{
	run("flood", 32 * MiB, 0, flood, G_N_ELEMENTS(flood));
	run("small fill", 128 * KiB, 0, small_fill, G_N_ELEMENTS(small_fill));
	run("share", 64 * MiB, 8 * MiB, share, G_N_ELEMENTS(share));
	run("growth", 1 * MiB, 0, growth, G_N_ELEMENTS(growth));
}

static void test_by_address(void)
{
	struct wb_budget *b = wb_budget_new(64 * MiB, 0);
	g_assert_cmpint(wb_budget_charge(b, "a", 0, 100), ==, WB_BUDGET_OK);
	g_assert_cmpint(wb_budget_charge(b, "a", 0, 200), ==, WB_BUDGET_OK);
	g_assert_cmpint(wb_budget_charge(b, "b", 0, 50), ==, WB_BUDGET_OK);
	g_assert_cmpuint(wb_budget_used_by(b, "a"), ==, 300);
	g_assert_cmpuint(wb_budget_used_by(b, "b"), ==, 50);
	g_assert_cmpuint(wb_budget_used_by(b, "c"), ==, 0);
	g_assert_cmpint(wb_budget_charge(b, "a", 100, 0), ==, WB_BUDGET_OK);
	g_assert_cmpint(wb_budget_charge(b, "a", 200, 0), ==, WB_BUDGET_OK);
	g_assert_cmpuint(wb_budget_used_by(b, "a"), ==, 0);
	g_assert_cmpuint(wb_budget_used(b), ==, 50);
	wb_budget_free(b);
}

static void test_share(void)
{
	g_assert_cmpuint(wb_budget_share(64 * MiB, 4 * MiB), ==, 8 * MiB);
	g_assert_cmpuint(wb_budget_share(8 * MiB, 4 * MiB), ==, 4 * MiB);
	/* the share always takes one body of max_body, which always fits in half */
	for (size_t max = KiB; max <= 64 * MiB; max *= 4)
		for (size_t total = 2 * max; total <= 256 * MiB; total *= 2)
			g_assert_cmpuint(wb_budget_share(total, max), >=, max);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/budget/scenarios", test_scenarios);
	g_test_add_func("/budget/by-address", test_by_address);
	g_test_add_func("/budget/share", test_share);
	return g_test_run();
}
