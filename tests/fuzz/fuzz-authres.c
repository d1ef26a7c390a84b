/* fuzz-authres: one Authentication-Results field value in, the RFC 8601 parse and the
 * trust verdict out. Whoever can mail a reply address writes these fields, and they are
 * read before the sender is known to be anyone.
 *
 * Input: the field value. A line break splits it into several fields of one mail, so the
 * rule over many fields (trusted ones must agree) is fuzzed too. */
#include "authres.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static void check_one(const char *field)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_authres) a = wb_authres_parse(field, strlen(field), &err);
	if (!a) {
		if (!err)
			g_error("an unreadable field without a reason");
		return;
	}
	if (!a->authserv_id || !*a->authserv_id || !g_utf8_validate(a->authserv_id, -1, NULL))
		g_error("a field read without a readable authserv-id");
	for (guint i = 0; i < a->results->len; i++) {
		const struct wb_authres_result *r = a->results->pdata[i];
		if (!r->method || !r->result || r->n_props > WB_AUTHRES_MAX_PROPS)
			g_error("a result without its method or result, or over the cap");
		(void)wb_authres_prop(r, "header", "from");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size); /* stops at a NUL */
	g_auto(GStrv) fields = g_strsplit(text, "\n", 64);
	for (size_t i = 0; fields[i]; i++)
		check_one(fields[i]);
	static const char *const trusted[] = { "mx.police.example", "mx2.police.example", NULL };
	g_autofree char *why = NULL;
	enum wb_authres_verdict v = wb_authres_vouch((const char *const *)fields, trusted,
						     "police.example", &why);
	if (v == WB_AUTHRES_VOUCHED && !strstr(text, "pass"))
		g_error("vouched for without any pass");
	return 0;
}
