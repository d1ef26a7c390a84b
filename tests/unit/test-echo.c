/* echo: a reply that repeats a run of words of the complaint's texts is caught, however a
 * mail client re-wrapped, re-spaced or re-cased it; the officer's own words are not. */
#include "echo.h"

#include <glib.h>
#include <string.h>

static struct wb_echo *complaint(void)
{
	struct wb_echo *e = wb_echo_new();
	wb_echo_add(e, "আমার মোবাইল ফোন চুরি হয়েছে, গড়িয়াহাট মোড়ে, ১৪ অক্টোবর রাত ৯টা নাগাদ। "
		       "ফোনের নম্বর ৯৮৩০০ ১২৩৪৫।");
	wb_echo_add(e, "My bicycle was stolen near the market yesterday evening, it is red.");
	wb_echo_add(e, "NOT REGISTERED – reply to this mail with the complaint number.");
	return e;
}

static void test_caught(void)
{
	g_autoptr(wb_echo) e = complaint();
	static const char *const echoes[] = {
		/* the citizen's Bengali words quoted without '>' marks */
		"অভিযোগ নং ১২৩/২০২৬\n\nআমার মোবাইল ফোন চুরি হয়েছে, গড়িয়াহাট মোড়ে, ১৪ অক্টোবর",
		/* re-wrapped, re-cased, other punctuation */
		"Complaint No. 9/2026\nMY BICYCLE WAS STOLEN\nnear the market -- yesterday",
		/* the same digits in another script */
		"ফোনের নম্বর 98300 12345। মোবাইল ফোন চুরি হয়েছে গড়িয়াহাট মোড়ে ১৪ অক্টোবর রাত",
		/* the bridge's own mail */
		"Complaint No. 4/2026 NOT REGISTERED reply to this mail with the complaint number",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(echoes); i++) {
		g_autofree char *run = wb_echo_find(e, echoes[i]);
		if (!run)
			g_error("not caught: %s", echoes[i]);
		g_assert_nonnull(strstr(echoes[i], run)); /* quoted as it stands */
	}
}

static void test_own_words(void)
{
	g_autoptr(wb_echo) e = complaint();
	static const char *const own[] = {
		"Complaint No. 123/2026. Please come to the station with the bill of the phone.",
		"অভিযোগ নং ১২৩/২০২৬ নথিভুক্ত হয়েছে। আগামীকাল থানায় আসুন।",
		"Your bicycle complaint is registered, GD 45/2026. We will call you.",
		/* six words of the complaint are not yet an echo */
		"Bicycle was stolen near the market: GD 45/2026 registered.",
		"", "   ", "!!! ... ???",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(own); i++) {
		g_autofree char *run = wb_echo_find(e, own[i]);
		if (run)
			g_error("officer's own words taken for an echo: \"%s\" in %s", run, own[i]);
	}
	g_assert_null(wb_echo_find(e, NULL));
}

/* Hostile text: invalid UTF-8, NULs cut nothing, huge inputs stay linear. */
static void test_hostile(void)
{
	g_autoptr(wb_echo) e = wb_echo_new();
	wb_echo_add(e, NULL);
	wb_echo_add(e, "\xff\xfe one two three four five six seven \xc0");
	g_autofree char *run = wb_echo_find(e, "x ONE two three four five six SEVEN y");
	g_assert_nonnull(run);
	g_autofree char *bad = wb_echo_find(e, "\xff one two three four five six seven");
	g_assert_nonnull(bad);
	GString *big = g_string_new(NULL);
	for (int i = 0; i < 200000; i++)
		g_string_append_printf(big, "w%d ", i % 977);
	wb_echo_add(e, big->str);
	g_autofree char *hit = wb_echo_find(e, big->str);
	g_assert_nonnull(hit);
	g_string_free(big, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/echo/caught", test_caught);
	g_test_add_func("/echo/own-words", test_own_words);
	g_test_add_func("/echo/hostile", test_hostile);
	return g_test_run();
}
