/* replykeys: what a parsed reply names for finding its complaint, before any lookup. */
#include "replykeys.h"
#include "caps.h"
#include "util.h"

#include <string.h>

/* "complaint+BHP-2026-000042.1a2b3c4d5e@wa.police.example" → ref, token. */
static bool split_token_addr(const char *addr, const char *replies_address, const char *domain,
			     char **ref, char **token)
{
	const char *at = strrchr(addr, '@');
	size_t plen = strlen(replies_address);
	if (!at || at <= addr + plen || g_ascii_strcasecmp(at + 1, domain) != 0 ||
	    g_ascii_strncasecmp(addr, replies_address, plen) != 0 || addr[plen] != '+')
		return false;
	g_autofree char *tag = g_strndup(addr + plen + 1, (gsize)(at - addr - (gssize)plen - 1));
	char *dot = strrchr(tag, '.');
	if (!dot || dot == tag || !dot[1] || strlen(tag) > 64)
		return false;
	*dot = '\0';
	*ref = g_ascii_strup(tag, -1);
	*token = g_ascii_strdown(dot + 1, -1);
	return true;
}

/* Every address the reply went to: To/Cc/Delivered-To as parsed, then the envelope's,
 * made valid UTF-8 (they are raw command-line bytes) and lowercased. */
static GStrv all_addrs(const struct wb_reply *r, const char *const *envelope)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_auto(GStrv) hdr = g_strsplit(r->to_addrs ? r->to_addrs : "", " ", -1);
	for (size_t i = 0; hdr[i]; i++)
		if (*hdr[i])
			g_strv_builder_add(b, hdr[i]);
	for (size_t i = 0; envelope && envelope[i] && i < WB_REPLY_MAX_ADDRS; i++) {
		g_autofree char *clean = wb_clean_line(envelope[i], WB_MAX_ADDR_CHARS);
		if (!*clean || strchr(clean, ' '))
			continue; /* as replyparse.c takes the header addresses */
		g_autofree char *low = g_utf8_strdown(clean, -1);
		g_strv_builder_add(b, low);
	}
	return g_strv_builder_end(b);
}

static void find_token(struct wb_reply_keys *k, char **addrs, const char *replies_address,
		       const char *domain, const char *secret)
{
	for (size_t i = 0; addrs[i]; i++) {
		g_autofree char *ref = NULL, *token = NULL;
		if (!split_token_addr(addrs[i], replies_address, domain, &ref, &token))
			continue;
		g_autofree char *want = wb_reply_token(secret, ref);
		k->token_ok = wb_ct_equal(want, strlen(want), token, strlen(token));
		k->token_addr = g_strdup(addrs[i]);
		k->token_ref = g_steal_pointer(&ref);
		return;
	}
}

static GStrv our_thread_ids(const char *ids, const char *domain)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_auto(GStrv) list = g_strsplit(ids ? ids : "", " ", -1);
	for (size_t i = 0; list[i]; i++) {
		const char *at = strrchr(list[i], '@');
		if (!at || at == list[i] || g_ascii_strcasecmp(at + 1, domain) != 0)
			continue;
		g_autofree char *local = g_strndup(list[i], (gsize)(at - list[i]));
		g_strv_builder_add(b, local);
	}
	return g_strv_builder_end(b);
}

static char *subject_ref(const char *subject)
{
	static GRegex *re;
	if (g_once_init_enter(&re)) {
		/* No G_REGEX_OPTIMIZE: PCRE2's JIT buys nothing on one subject line, and
		 * valgrind cannot follow JIT code. */
		GRegex *r = g_regex_new("\\[([A-Za-z0-9]{2,8}-[0-9]{4}-[0-9]{6})\\]", 0, 0, NULL);
		g_once_init_leave(&re, r);
	}
	g_autoptr(GMatchInfo) mi = NULL;
	if (!subject || !g_regex_match(re, subject, 0, &mi))
		return NULL;
	return g_match_info_fetch(mi, 1);
}

struct wb_reply_keys *wb_reply_keys_new(const struct wb_reply *r, const char *const *envelope,
					const char *replies_address, const char *domain,
					const char *token_secret)
{
	struct wb_reply_keys *k = g_new0(struct wb_reply_keys, 1);
	g_auto(GStrv) addrs = all_addrs(r, envelope);
	find_token(k, addrs, replies_address, domain, token_secret);
	k->thread_ids = our_thread_ids(r->in_reply_to, domain);
	k->subject_ref = subject_ref(r->subject);
	if (r->message_id)
		k->mail_key = g_strdup_printf("<%s> %s", r->message_id,
					      r->from_addr ? r->from_addr : "");
	return k;
}

void wb_reply_keys_free(struct wb_reply_keys *k)
{
	if (!k)
		return;
	g_free(k->token_addr);
	g_free(k->token_ref);
	g_strfreev(k->thread_ids);
	g_free(k->subject_ref);
	g_free(k->mail_key);
	g_free(k);
}
