/* Unit tests for ratelog: a bounded number of log lines about refusals. */
#include "ratelog.h"
#include "caps.h"

#include <string.h>

#define S G_USEC_PER_SEC

static const char *const names[] = {
	"refused (missing signature)", "refused (too large)", "library messages", NULL
};

static GPtrArray *lines_new(void)
{
	return g_ptr_array_new_with_free_func(g_free);
}

/* The first of an interval is logged, the rest held for a summary. */
static void test_first_then_summary(void)
{
	struct wb_ratelog *rl = wb_ratelog_new(names, 10 * S);
	g_autoptr(GPtrArray) out = lines_new();
	gint64 t0 = 1000 * S;
	g_assert_true(wb_ratelog_note(rl, 0, "198.51.100.1", t0, out));
	for (int i = 0; i < 99; i++) {
		g_autofree char *addr = g_strdup_printf("198.51.100.%d", 1 + i % 7);
		g_assert_false(wb_ratelog_note(rl, 0, addr, t0 + i * 1000, out));
	}
	/* another reason has an interval of its own */
	g_assert_true(wb_ratelog_note(rl, 1, "203.0.113.5", t0 + 5 * S, out));
	g_assert_cmpuint(out->len, ==, 0);
	wb_ratelog_flush(rl, t0 + 9 * S, out);
	g_assert_cmpuint(out->len, ==, 0); /* not over yet */
	wb_ratelog_flush(rl, t0 + 10 * S, out);
	g_assert_cmpuint(out->len, ==, 1);
	g_assert_cmpstr(out->pdata[0], ==, "… and 99 more refused (missing signature) in 10 s, "
			"from 7 addresses, most from 198.51.100.1 (15)");
	/* the second reason had nothing held back: no summary when its interval ends */
	wb_ratelog_flush(rl, t0 + 20 * S, out);
	g_assert_cmpuint(out->len, ==, 1);
	/* a new interval: the next one is logged again */
	g_assert_true(wb_ratelog_note(rl, 0, "198.51.100.1", t0 + 21 * S, out));
	wb_ratelog_free(rl);
}

/* A refusal after the interval closes it itself, summary first. */
static void test_note_closes(void)
{
	struct wb_ratelog *rl = wb_ratelog_new(names, 10 * S);
	g_autoptr(GPtrArray) out = lines_new();
	g_assert_true(wb_ratelog_note(rl, 1, "192.0.2.1", 5 * S, out));
	g_assert_false(wb_ratelog_note(rl, 1, "192.0.2.1", 6 * S, out));
	g_assert_true(wb_ratelog_note(rl, 1, "192.0.2.1", 30 * S, out));
	g_assert_cmpuint(out->len, ==, 1);
	g_assert_cmpstr(out->pdata[0], ==, "… and 1 more refused (too large) in 10 s, from 1 address");
	wb_ratelog_flush(rl, G_MAXINT64, out);
	g_assert_cmpuint(out->len, ==, 1);
	wb_ratelog_free(rl);
}

/* However many addresses, the table stays bounded and the summary says so. */
static void test_many_addresses(void)
{
	struct wb_ratelog *rl = wb_ratelog_new(names, 10 * S);
	g_autoptr(GPtrArray) out = lines_new();
	unsigned n = WB_REFUSAL_ADDRS + 500;
	g_assert_true(wb_ratelog_note(rl, 0, "first", S, out));
	for (unsigned i = 0; i < n; i++) {
		g_autofree char *addr = g_strdup_printf("10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		g_assert_false(wb_ratelog_note(rl, 0, addr, S + 1, out));
		if (i == 7) /* one address twice: the most */
			g_assert_false(wb_ratelog_note(rl, 0, addr, S + 1, out));
	}
	wb_ratelog_flush(rl, G_MAXINT64, out);
	g_assert_cmpuint(out->len, ==, 1);
	g_autofree char *want = g_strdup_printf("… and %u more refused (missing signature) in 10 s, "
						"from more than %u addresses, most from 10.0.0.7 (2)",
						n + 1, WB_REFUSAL_ADDRS);
	g_assert_cmpstr(out->pdata[0], ==, want);
	wb_ratelog_free(rl);
}

/* Events with no address: a count alone. */
static void test_no_address(void)
{
	struct wb_ratelog *rl = wb_ratelog_new(names, 10 * S);
	g_autoptr(GPtrArray) out = lines_new();
	g_assert_true(wb_ratelog_note(rl, 2, NULL, S, out));
	g_assert_false(wb_ratelog_note(rl, 2, NULL, 2 * S, out));
	g_assert_false(wb_ratelog_note(rl, 2, NULL, 3 * S, out));
	wb_ratelog_flush(rl, G_MAXINT64, out);
	g_assert_cmpuint(out->len, ==, 1);
	g_assert_cmpstr(out->pdata[0], ==, "… and 2 more library messages in 10 s");
	wb_ratelog_free(rl);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ratelog/first-then-summary", test_first_then_summary);
	g_test_add_func("/ratelog/note-closes", test_note_closes);
	g_test_add_func("/ratelog/many-addresses", test_many_addresses);
	g_test_add_func("/ratelog/no-address", test_no_address);
	return g_test_run();
}
