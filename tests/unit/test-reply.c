/* test-reply: the pure helpers of the reply step — the citizen's language from the script
 * of their messages, and officer address patterns. (Matching, authorisation and the send
 * run end to end in tests/integration/test_replies.py against Dovecot and the fake Graph
 * API.) */
#include "reply.h"

#include <glib.h>

static GPtrArray *msgs(const char *const *json)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	for (size_t i = 0; json[i]; i++)
		g_ptr_array_add(a, g_strdup(json[i]));
	return a;
}

static void test_lang(void)
{
	static const struct {
		const char *json[4];
		enum wb_lang want;
	} cases[] = {
		{ { "{\"type\":\"text\",\"text\":{\"body\":\"আমার ফোন চুরি হয়েছে\"}}" }, WB_LANG_BN },
		{ { "{\"type\":\"text\",\"text\":{\"body\":\"मेरा फोन चोरी हो गया\"}}" }, WB_LANG_HI },
		{ { "{\"type\":\"text\",\"text\":{\"body\":\"My phone was stolen\"}}" }, WB_LANG_EN },
		/* A caption counts; a photo without one says nothing. */
		{ { "{\"type\":\"image\",\"image\":{\"id\":\"1\",\"mime_type\":\"image/jpeg\"}}",
		    "{\"type\":\"image\",\"image\":{\"caption\":\"চুরির অভিযোগ\"}}" }, WB_LANG_BN },
		/* Mixed: Bengali with English words (FIR, names) is still Bengali. */
		{ { "{\"type\":\"text\",\"text\":{\"body\":\"FIR করতে চাই, Gariahat মোড়ে ঘটনা ঘটেছে\"}}" },
		  WB_LANG_BN },
		/* Nothing but ids, numbers, a location: the fallback. */
		{ { "{\"type\":\"location\",\"location\":{\"latitude\":22.5,\"longitude\":88.3}}",
		    "{\"type\":\"text\",\"text\":{\"body\":\"123 456 !!\"}}" }, WB_LANG_HI },
		/* Keys that are not text (ids, mime types, file names) do not vote. */
		{ { "{\"id\":\"wamid.ABCDEFGHIJKLMNOP\",\"type\":\"document\",\"document\":{"
		    "\"filename\":\"complaint.pdf\",\"mime_type\":\"application/pdf\"}}" }, WB_LANG_HI },
		/* Broken JSON is skipped, not a crash. */
		{ { "{\"text\":{\"body\":", "not json at all", "{\"text\":{\"body\":\"शिकायत\"}}" },
		  WB_LANG_HI },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GPtrArray) a = msgs(cases[i].json);
		g_assert_cmpint(wb_guess_lang(a, WB_LANG_HI), ==, cases[i].want);
	}
	g_assert_cmpint(wb_guess_lang(NULL, WB_LANG_EN), ==, WB_LANG_EN);
}

static void test_lang_codes(void)
{
	g_assert_cmpstr(wb_lang_code(WB_LANG_BN), ==, "bn");
	g_assert_cmpstr(wb_lang_code(WB_LANG_HI), ==, "hi");
	g_assert_cmpstr(wb_lang_code(WB_LANG_EN), ==, "en");
	g_assert_cmpint(wb_lang_parse("hi"), ==, WB_LANG_HI);
	g_assert_cmpint(wb_lang_parse("en_US"), ==, -1);
	g_assert_cmpint(wb_lang_parse(NULL), ==, -1);
}

static void test_officers(void)
{
	const char *const pats[] = { "oc.bhowanipore@police.example",
				     "*@bhowanipore.police.example", NULL };
	g_assert_true(wb_officer_ok(pats, "oc.bhowanipore@police.example"));
	g_assert_true(wb_officer_ok(pats, "si.das@bhowanipore.police.example"));
	g_assert_false(wb_officer_ok(pats, "oc.bhowanipore@police.example.evil.org"));
	g_assert_false(wb_officer_ok(pats, "x@evil.bhowanipore.police.example.org"));
	g_assert_false(wb_officer_ok(pats, "someone@example.org"));
	g_assert_false(wb_officer_ok(pats, ""));
	g_assert_false(wb_officer_ok(pats, NULL));
	const char *const none[] = { NULL };
	g_assert_false(wb_officer_ok(none, "oc.bhowanipore@police.example"));
}

static void test_exit_codes(void)
{
	g_assert_cmpint(wb_reply_exit_code(WB_RA_OK), ==, 0);
	g_assert_cmpint(wb_reply_exit_code(WB_RA_BAD), ==, 65);
	g_assert_cmpint(wb_reply_exit_code(WB_RA_NO_MATCH), ==, 67);
	g_assert_cmpint(wb_reply_exit_code(WB_RA_FORBIDDEN), ==, 77);
	g_assert_cmpint(wb_reply_exit_code(WB_RA_TEMP), ==, 75);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/reply/lang", test_lang);
	g_test_add_func("/reply/lang_codes", test_lang_codes);
	g_test_add_func("/reply/officers", test_officers);
	g_test_add_func("/reply/exit_codes", test_exit_codes);
	return g_test_run();
}
