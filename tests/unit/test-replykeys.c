/* test-replykeys: what a reply names for finding its complaint — the reply address and
 * its token, the bridge's Message-IDs it answers, the subject's [REF], the key of the
 * mail; envelope recipients that are not UTF-8. */
#include "replykeys.h"
#include "util.h"

#include <gmime/gmime.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SECRET "test-reply-secret"
#define DOMAIN "wa.police.example"
#define REF "BHP-2026-000042"

static struct wb_reply_keys *keys_of(const char *mail, const char *const *envelope)
{
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(mail, strlen(mail), NULL, &err);
	g_assert_no_error(err);
	struct wb_reply_keys *k = wb_reply_keys_new(r, envelope, "complaint", DOMAIN, SECRET);
	wb_reply_free(r);
	return k;
}

static char *mail_to(const char *to, const char *extra)
{
	return g_strdup_printf("From: OC <OC@Police.Example>\nTo: %s\n%s"
			       "Content-Type: text/plain\n\nGD 1/26\n", to, extra);
}

static void test_token(void)
{
	g_autofree char *good = wb_reply_token(SECRET, REF);
	g_autofree char *good_upper = g_ascii_strup(good, -1);
	struct {
		const char *to;
		const char *addr, *ref; /* NULL: no reply address found */
		bool ok;
	} cases[] = {
		{ "complaint+" REF ".%s@" DOMAIN, "complaint+" REF ".%s@" DOMAIN, REF, true },
		/* any case: mail systems change it */
		{ "Complaint+bhp-2026-000042.%S@WA.Police.Example",
		  "Complaint+bhp-2026-000042.%S@WA.Police.Example", REF, true },
		{ "complaint+" REF ".0000000000@" DOMAIN, "complaint+" REF ".0000000000@" DOMAIN,
		  REF, false },
		{ "someone@" DOMAIN ", complaint+" REF ".%s@" DOMAIN, "complaint+" REF ".%s@" DOMAIN,
		  REF, true },
		{ "complaint+" REF ".%s@evil.example", NULL, NULL, false },
		{ "complaint+" REF "@" DOMAIN, NULL, NULL, false },       /* no token */
		{ "complaint+.%s@" DOMAIN, NULL, NULL, false },            /* no reference */
		{ "complaint+" REF ".@" DOMAIN, NULL, NULL, false },
		{ "complaints+" REF ".%s@" DOMAIN, NULL, NULL, false },
		{ "station@police.example", NULL, NULL, false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GString) to = g_string_new(cases[i].to);
		g_string_replace(to, "%s", good, 0);
		g_string_replace(to, "%S", good_upper, 0);
		g_autofree char *mail = mail_to(to->str, "");
		struct wb_reply_keys *k = keys_of(mail, NULL);
		if (!cases[i].addr) {
			g_assert_null(k->token_addr);
			g_assert_null(k->token_ref);
		} else {
			g_autoptr(GString) want = g_string_new(cases[i].addr);
			g_string_replace(want, "%s", good, 0);
			g_string_replace(want, "%S", good_upper, 0);
			g_assert_cmpstr(k->token_addr, ==, want->str);
			g_assert_cmpstr(k->token_ref, ==, cases[i].ref);
		}
		g_assert_cmpint(k->token_ok, ==, cases[i].ok);
		wb_reply_keys_free(k);
	}
}

/* A copy of s that ends right before a page that cannot be read: a read past its NUL
 * crashes, even inside a library that no sanitizer instruments (GLib). */
struct guarded {
	char *str;
	void *map;
	size_t map_len;
};

static struct guarded guarded_copy(const char *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = strlen(s) + 1;
	g_assert_cmpuint(len, <=, page);
	void *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	g_assert_true(map != MAP_FAILED);
	g_assert_cmpint(mprotect((char *)map + page, page, PROT_NONE), ==, 0);
	char *str = (char *)map + page - len;
	memcpy(str, s, len);
	return (struct guarded){ str, map, 2 * page };
}

static void guarded_free(struct guarded *g)
{
	munmap(g->map, g->map_len);
}

static void test_envelope(void)
{
	g_autofree char *good = wb_reply_token(SECRET, REF);
	g_autofree char *addr = g_strdup_printf("COMPLAINT+%s.%s@%s", REF, good, DOMAIN);
	g_autofree char *mail = mail_to("station@police.example", "");
	const char *const env[] = { "-", "archive@police.example", addr, NULL };
	struct wb_reply_keys *k = keys_of(mail, env);
	g_autofree char *low = g_ascii_strdown(addr, -1);
	g_assert_cmpstr(k->token_addr, ==, low);
	g_assert_true(k->token_ok);
	wb_reply_keys_free(k);

	/* Raw bytes from the MTA's command line, each ending on a lead byte whose
	 * continuation would lie past the end. */
	static const char *const raw[] = { "\xf0", "a@b\xc3", "complaint+x.y@" DOMAIN "\xe0\xa6",
					   "\xff\xfe", "" };
	for (size_t i = 0; i < G_N_ELEMENTS(raw); i++) {
		struct guarded g = guarded_copy(raw[i]);
		const char *const one[] = { g.str, NULL };
		k = keys_of(mail, one);
		g_assert_null(k->token_addr);
		wb_reply_keys_free(k);
		guarded_free(&g);
	}
}

static void test_thread_subject_key(void)
{
	g_autofree char *mail = mail_to(
		"station@police.example",
		"Subject: Re: [" REF "] Phone stolen\n"
		"Message-ID: <reply-1@police.example>\n"
		"In-Reply-To: <wamid.B@WA.Police.Example>\n"
		"References: <other@elsewhere.example> <wamid.A@" DOMAIN ">\n"
		" <x@" DOMAIN ".evil.example> <@" DOMAIN ">\n");
	struct wb_reply_keys *k = keys_of(mail, NULL);
	g_assert_cmpuint(g_strv_length(k->thread_ids), ==, 2);
	g_assert_cmpstr(k->thread_ids[0], ==, "wamid.B");
	g_assert_cmpstr(k->thread_ids[1], ==, "wamid.A");
	g_assert_cmpstr(k->subject_ref, ==, REF);
	g_assert_cmpstr(k->mail_key, ==, "<reply-1@police.example> oc@police.example");
	wb_reply_keys_free(k);

	g_autofree char *bare = mail_to("station@police.example",
					"Subject: Re: [BHP-26-42] [bhp-2026-000042 x\n");
	k = keys_of(bare, NULL);
	g_assert_nonnull(k->thread_ids);
	g_assert_null(k->thread_ids[0]);
	g_assert_null(k->subject_ref);
	g_assert_null(k->mail_key);
	g_assert_null(k->token_addr);
	wb_reply_keys_free(k);
}

static void test_free_null(void)
{
	wb_reply_keys_free(NULL);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/replykeys/token", test_token);
	g_test_add_func("/replykeys/envelope", test_envelope);
	g_test_add_func("/replykeys/thread_subject_key", test_thread_subject_key);
	g_test_add_func("/replykeys/free_null", test_free_null);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
