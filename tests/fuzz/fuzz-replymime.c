/* fuzz-replymime: what `wabridge reply` does with a mail before it touches the store or
 * the network: the headers read (From, To/Cc/Delivered-To, Message-ID, In-Reply-To,
 * References, Subject), the reply address and its token, the bridge's Message-IDs, the
 * subject's [REF], the key of the mail, the sender against officer patterns, and the
 * Authentication-Results fields with the trust rule that may prove the reply.
 *
 * Input: envelope recipients, one a line, then a NUL byte, then the mail; without a NUL
 * byte the whole input is the mail and there is no envelope. */
#include "fuzz.h"
#include "authres.h"
#include "reply.h"
#include "replykeys.h"
#include "replyparse.h"
#include "util.h"

#include <string.h>

#define SECRET "fuzz-reply-secret"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static void check_keys(const struct wb_reply *r, const struct wb_reply_keys *k)
{
	static const char *const officers[] = { "oc.bhowanipore@police.example",
						"*@bhowanipore.police.example", NULL };
	(void)wb_officer_ok(officers, r->from_addr);
	if (k->token_addr && !k->token_ref)
		g_error("a reply address without its reference");
	if (k->token_ok) {
		g_autofree char *want = wb_reply_token(SECRET, k->token_ref);
		g_autofree char *low = g_ascii_strdown(k->token_addr, -1);
		if (!strstr(low, want))
			g_error("a token verified that is not in the address");
	}
	for (size_t i = 0; k->thread_ids[i]; i++)
		if (!*k->thread_ids[i])
			g_error("an empty thread id");
}

/* The parser on each field, and the verdict: a vouch needs a trusted field that reads. */
static void check_auth(const struct wb_reply *r)
{
	static const char *const trusted[] = { "mx.police.example", NULL };
	bool readable_trusted = false;
	for (size_t i = 0; r->auth_results && r->auth_results[i]; i++) {
		g_autoptr(wb_authres) a = wb_authres_parse(r->auth_results[i],
							   strlen(r->auth_results[i]), NULL);
		if (a && g_ascii_strcasecmp(a->authserv_id, trusted[0]) == 0)
			readable_trusted = true;
	}
	const char *at = r->from_addr ? strrchr(r->from_addr, '@') : NULL;
	g_autofree char *why = NULL;
	enum wb_authres_verdict v = wb_authres_vouch((const char *const *)r->auth_results,
						     trusted, at ? at + 1 : NULL, &why);
	if (v == WB_AUTHRES_VOUCHED && !readable_trusted)
		g_error("vouched for with no readable trusted field");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	const uint8_t *mail = nul ? nul + 1 : data;
	size_t len = size - (size_t)(mail - data);
	g_auto(GStrv) envelope = NULL;
	if (nul) {
		g_autofree char *head = g_strndup((const char *)data, (gsize)(nul - data));
		envelope = g_strsplit(head, "\n", 0);
	}
	struct wb_reply *r = wb_reply_parse(mail, len, NULL, NULL);
	if (!r)
		return 0;
	struct wb_reply_keys *k = wb_reply_keys_new(r, (const char *const *)envelope, "complaint",
						    "wa.police.example", SECRET);
	check_keys(r, k);
	check_auth(r);
	wb_reply_keys_free(k);
	wb_reply_free(r);
	return 0;
}
