/* test-authres: the Authentication-Results parser (RFC 8601) and the trust decision
 * that lets a reply without a token through. Tables of field → parse, fields → verdict,
 * with hostile fields (huge, unterminated, NULs, nested comments, many results, bytes
 * that are not UTF-8). */
#include "authres.h"

#include <string.h>

/* ---- the parser ---------------------------------------------------------------------- */

/* A parse as one line: "ID vN: method=result [reason=R] ptype.property=value ...; ..." */
static char *dump(const struct wb_authres *a)
{
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "%s v%u:", a->authserv_id, a->version);
	if (a->results->len == 0)
		g_string_append(s, " none");
	for (guint i = 0; i < a->results->len; i++) {
		const struct wb_authres_result *r = a->results->pdata[i];
		g_string_append_printf(s, "%s %s=%s", i ? ";" : "", r->method, r->result);
		if (r->reason)
			g_string_append_printf(s, " reason=%s", r->reason);
		for (unsigned k = 0; k < r->n_props; k++)
			g_string_append_printf(s, " %s.%s=%s", r->props[k].ptype,
					       r->props[k].property, r->props[k].value);
	}
	return g_string_free(s, FALSE);
}

struct parse_case {
	const char *name;
	const char *field;
	size_t len;          /* 0: strlen(field) */
	const char *want;    /* the dump, or NULL: must be refused */
};

#define NUL_RESULT "mx.example; dkim=pass\0 header.d=x"
#define NUL_ID "mx\0.example; spf=pass"

static const struct parse_case parse_cases[] = {
	/* RFC 8601 Appendix B, and what OpenDKIM, OpenDMARC and large providers write */
	{ "none", "example.org 1; none", 0, "example.org v1: none" },
	{ "spf", "example.com; spf=pass smtp.mailfrom=example.net", 0,
	  "example.com v1: spf=pass smtp.mailfrom=example.net" },
	{ "several resinfos",
	  "example.com; auth=pass (cram-md5) smtp.auth=sender@example.net; spf=pass "
	  "smtp.mailfrom=example.net", 0,
	  "example.com v1: auth=pass smtp.auth=sender@example.net; spf=pass "
	  "smtp.mailfrom=example.net" },
	{ "iprev policy", "example.com; iprev=pass policy.iprev=192.0.2.200", 0,
	  "example.com v1: iprev=pass policy.iprev=192.0.2.200" },
	{ "opendkim", "mx.police.test; dkim=pass (2048-bit key; unprotected)\r\n"
	  "\theader.d=police.test header.i=@police.test header.a=rsa-sha256\r\n"
	  "\theader.s=mail header.b=\"Xy+/12Ab\"", 0,
	  "mx.police.test v1: dkim=pass header.d=police.test header.i=@police.test "
	  "header.a=rsa-sha256 header.s=mail header.b=Xy+/12Ab" },
	{ "unquoted base64 header.b", "mx.example.com; dkim=pass header.i=@gmail.com "
	  "header.s=20230601 header.b=kX+/q1A=", 0,
	  "mx.example.com v1: dkim=pass header.i=@gmail.com header.s=20230601 header.b=kX+/q1A=" },
	{ "opendmarc", "mx.police.test; dmarc=pass (p=reject dis=none) header.from=police.test", 0,
	  "mx.police.test v1: dmarc=pass header.from=police.test" },
	/* CFWS between every two tokens, comments nested and with quoted-pairs */
	{ "cfws everywhere", "  mx.example (a (nested) \\) comment) 1 ( c ) ;  DKIM ( c ) / 1 "
	  "= PASS (c) reason = \"good sig\" header . d = ( c ) Police.Example (end)  ", 0,
	  "mx.example v1: dkim=pass reason=good sig header.d=Police.Example" },
	{ "folded", "mx.example;\r\n\tdmarc=pass\r\n header.from=police.example", 0,
	  "mx.example v1: dmarc=pass header.from=police.example" },
	{ "version", "mx.example 2; spf=none", 0, "mx.example v2: spf=none" },
	{ "quoted authserv-id", "\"mx.example\"; spf=none", 0, "mx.example v1: spf=none" },
	{ "quoted-pair in a quoted string", "mx; dkim=fail reason=\"say \\\"no\\\"\"", 0,
	  "mx v1: dkim=fail reason=say \"no\"" },
	{ "trailing semicolon", "mx.example; spf=pass;", 0, "mx.example v1: spf=pass" },
	{ "case", "MX.example; DMARC=Pass HEADER.From=Police.Example; Dkim=FAIL header.I=@x.org", 0,
	  "MX.example v1: dmarc=pass header.from=Police.Example; dkim=fail header.i=@x.org" },
	{ "local-part@domain", "mx; dkim=pass header.i=oc@police.example", 0,
	  "mx v1: dkim=pass header.i=oc@police.example" },
	{ "quoted local part", "mx; spf=pass smtp.mailfrom=\"a b\"@example.net", 0,
	  "mx v1: spf=pass smtp.mailfrom=a b@example.net" },
	{ "reason after the properties", "mx; dkim=fail header.d=x.org reason=\"bad\"", 0,
	  "mx v1: dkim=fail reason=bad header.d=x.org" },
	{ "non-ASCII comment", "mx.example (সার্ভার); spf=pass", 0, "mx.example v1: spf=pass" },
	{ "UTF-8 authserv-id", "মেইল.example; spf=pass", 0, "মেইল.example v1: spf=pass" },

	/* refused */
	{ "empty", "", 0, NULL },
	{ "only white space and a comment", "  (x) ", 0, NULL },
	{ "no result", "mx.example", 0, NULL },
	{ "empty quoted authserv-id", "\"\" (x); dkim=pass header.d=police.example", 0, NULL },
	{ "no result after ;", "mx.example;", 0, NULL },
	{ "none then more", "mx.example; none; spf=pass", 0, NULL },
	{ "two versions", "mx 1 2; none", 0, NULL },
	{ "unterminated comment", "mx.example (abc; dkim=pass header.d=x", 0, NULL },
	{ "unterminated comment at a backslash", "mx.example; spf=pass (abc\\", 0, NULL },
	{ "unterminated quoted string", "mx.example; dkim=pass reason=\"abc", 0, NULL },
	{ "unterminated quoted authserv-id", "\"mx.example; spf=pass", 0, NULL },
	{ "comments nested too deep", "mx.example (((((((((x))))))))); spf=pass", 0, NULL },
	{ "NUL in a result", NUL_RESULT, sizeof NUL_RESULT - 1, NULL },
	{ "NUL in the authserv-id", NUL_ID, sizeof NUL_ID - 1, NULL },
	{ "not UTF-8", "mx.example; spf=pass (\xff\xfe)", 0, NULL },
	{ "control character", "mx.example; spf=pass\x01", 0, NULL },
	{ "control character in a comment", "mx.example (\x1b[2J); spf=pass", 0, NULL },
	{ "backslash and line break in a quoted string", "mx; spf=pass reason=\"a\\\r\nb\"", 0,
	  NULL },
	{ "no '='", "mx; dkim pass", 0, NULL },
	{ "no method", "mx; =pass", 0, NULL },
	{ "no result name", "mx; dkim=", 0, NULL },
	{ "ptype without property", "mx; dkim=pass header=x", 0, NULL },
	{ "property without value", "mx; dkim=pass header.d=", 0, NULL },
	{ "non-ASCII method", "mx; dkím=pass", 0, NULL },
	{ "junk after a result", "mx; dkim=pass header.d=x \"y\"", 0, NULL },
};

static void test_parse(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = c->len ? c->len : strlen(c->field);
		g_autoptr(GError) err = NULL;
		g_autoptr(wb_authres) a = wb_authres_parse(c->field, len, &err);
		if (!c->want) {
			if (a)
				g_error("%s: accepted as %s", c->name, dump(a));
			g_assert_error(err, WB_AUTHRES_ERROR, WB_AUTHRES_BAD);
			g_assert_true(g_str_has_prefix(err->message, "at byte "));
			continue;
		}
		if (!a)
			g_error("%s: refused: %s", c->name, err->message);
		g_autofree char *got = dump(a);
		if (strcmp(got, c->want) != 0)
			g_error("%s:\n  got  %s\n  want %s", c->name, got, c->want);
	}
	g_assert_null(wb_authres_parse(NULL, 0, NULL));
}

/* Field of n resinfos / one resinfo with n properties. */
static char *many_results(unsigned n)
{
	GString *s = g_string_new("mx.example");
	for (unsigned i = 0; i < n; i++)
		g_string_append_printf(s, "; spf=pass smtp.mailfrom=h%u.example", i);
	return g_string_free(s, FALSE);
}

static char *many_props(unsigned n)
{
	GString *s = g_string_new("mx.example; dkim=pass");
	for (unsigned i = 0; i < n; i++)
		g_string_append_printf(s, " header.x%u=v", i);
	return g_string_free(s, FALSE);
}

static void test_caps(void)
{
	struct { char *field; bool ok; } cases[] = {
		{ many_results(WB_AUTHRES_MAX_RESULTS), true },
		{ many_results(WB_AUTHRES_MAX_RESULTS + 1), false },
		{ many_props(WB_AUTHRES_MAX_PROPS), true },
		{ many_props(WB_AUTHRES_MAX_PROPS + 1), false },
		{ g_strdup_printf("mx; dkim=pass header.d=%0*d", WB_AUTHRES_MAX_WORD, 0), true },
		{ g_strdup_printf("mx; dkim=pass header.d=%0*d", WB_AUTHRES_MAX_WORD + 1, 0), false },
		{ g_strdup_printf("mx; dkim=fail reason=\"%0*d\"", WB_AUTHRES_MAX_WORD + 1, 0), false },
		{ g_strdup_printf("mx; spf=pass (%0*d)", WB_AUTHRES_MAX_BYTES, 0), false },
		{ g_strdup_printf("mx; spf=pass%*s", WB_AUTHRES_MAX_BYTES, ""), false },
		{ g_strdup_printf("mx 1%0*d; none", 20, 0), false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(wb_authres) a = wb_authres_parse(cases[i].field, strlen(cases[i].field),
							   &err);
		if ((a != NULL) != cases[i].ok)
			g_error("cap case %zu: %s", i, a ? "accepted" : err->message);
		g_free(cases[i].field);
	}
	/* Fields full of unclosed comments and quotes, just under and far over the size cap:
	 * refused, and the message gives a place, never the field's text. */
	for (size_t size = WB_AUTHRES_MAX_BYTES - 8; size < 8 * WB_AUTHRES_MAX_BYTES; size *= 8) {
		GString *s = g_string_new("mx.example; dkim=pass reason=");
		while (s->len < size)
			g_string_append(s, "\"(EVIL \\");
		g_autoptr(GError) err = NULL;
		g_assert_null(wb_authres_parse(s->str, s->len, &err));
		g_assert_null(strstr(err->message, "EVIL"));
		g_string_free(s, TRUE);
	}
}

/* ---- the decision -------------------------------------------------------------------- */

#define ID "mx.police.test"
#define D "police.test"

struct vouch_case {
	const char *name;
	const char *fields[6];
	const char *domain;
	enum wb_authres_verdict want;
	const char *why;     /* a part of the line */
};

static const struct vouch_case vouch_cases[] = {
	{ "dmarc pass", { ID "; dmarc=pass (p=reject) header.from=" D }, D,
	  WB_AUTHRES_VOUCHED, "dmarc=pass for police.test from trusted mx.police.test" },
	{ "aligned dkim pass", { ID "; dkim=pass header.d=" D " header.s=mail" }, D,
	  WB_AUTHRES_VOUCHED, "dkim=pass" },
	{ "dkim pass by header.i", { ID "; dkim=pass header.i=@" D }, D, WB_AUTHRES_VOUCHED, NULL },
	{ "dkim pass by header.i with a local part", { ID "; dkim=pass header.i=oc@" D }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "OpenDKIM and OpenDMARC, one field each",
	  { ID "; dmarc=pass header.from=" D, ID "; dkim=pass header.d=" D, NULL }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "id and domain in another case", { "MX.Police.TEST; DMARC=PASS header.from=Police.Test" },
	  D, WB_AUTHRES_VOUCHED, NULL },
	{ "quoted authserv-id", { "\"" ID "\"; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "the second trusted id", { "mx2.police.test; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "an untrusted fail is ignored",
	  { ID "; dmarc=pass header.from=" D, "evil.org; dmarc=fail header.from=" D }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "an untrusted unreadable field is ignored",
	  { ID "; dmarc=pass header.from=" D, "evil.org; dkim=pass (unterminated" }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "a fail about another domain is not about this one",
	  { ID "; dkim=pass header.d=" D "; dkim=fail header.d=list.example" }, D,
	  WB_AUTHRES_VOUCHED, NULL },
	{ "dkim=none without a signature", { ID "; dkim=none; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_VOUCHED, NULL },

	{ "no field", { NULL }, D, WB_AUTHRES_UNPROVEN, "no Authentication-Results" },
	{ "untrusted authserv-id", { "mx.evil.org; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_UNPROVEN, "other servers are ignored" },
	{ "trusted id as a prefix", { ID ".evil.org; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_UNPROVEN, NULL },
	{ "trusted id as a suffix", { "evil-" ID "; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_UNPROVEN, NULL },
	{ "dkim pass for another domain", { ID "; dkim=pass header.d=evil.org" }, D,
	  WB_AUTHRES_UNPROVEN, NULL },
	{ "dkim pass for a parent domain (strict alignment)", { ID "; dkim=pass header.d=test" },
	  D, WB_AUTHRES_UNPROVEN, NULL },
	{ "dkim pass for a subdomain (strict alignment)",
	  { ID "; dkim=pass header.d=mail." D }, D, WB_AUTHRES_UNPROVEN, NULL },
	{ "look-alike domain", { ID "; dmarc=pass header.from=" D ".evil.org" }, D,
	  WB_AUTHRES_UNPROVEN, NULL },
	{ "spf alone does not prove a From:", { ID "; spf=pass smtp.mailfrom=" D }, D,
	  WB_AUTHRES_UNPROVEN, NULL },
	{ "dmarc pass naming no header.from", { ID "; dmarc=pass" }, D, WB_AUTHRES_UNPROVEN, NULL },
	{ "none", { ID "; none" }, D, WB_AUTHRES_UNPROVEN, NULL },
	{ "no From: domain", { ID "; dmarc=pass header.from=" D }, "", WB_AUTHRES_UNPROVEN,
	  "no From: domain" },

	{ "dmarc fail", { ID "; dmarc=fail (p=reject) header.from=" D }, D, WB_AUTHRES_REFUTED,
	  "trusted mx.police.test reports dmarc=fail for police.test" },
	{ "dkim fail", { ID "; dkim=fail header.d=" D }, D, WB_AUTHRES_REFUTED, "dkim=fail" },
	{ "a forged pass below the trusted fail",
	  { ID "; dmarc=fail header.from=" D, ID "; dmarc=pass header.from=" D }, D,
	  WB_AUTHRES_REFUTED, "dmarc=fail" },
	{ "a forged pass above the trusted fail",
	  { ID "; dmarc=pass header.from=" D, ID "; dmarc=fail header.from=" D }, D,
	  WB_AUTHRES_REFUTED, NULL },
	{ "a forged dkim pass below the trusted temperror",
	  { ID "; dmarc=temperror header.from=" D, ID "; dkim=pass header.d=" D }, D,
	  WB_AUTHRES_REFUTED, "dmarc=temperror" },
	{ "two signatures, one failing", { ID "; dkim=pass header.d=" D "; dkim=fail header.d=" D },
	  D, WB_AUTHRES_REFUTED, NULL },
	{ "dmarc fail naming no header.from", { ID "; dmarc=fail; dkim=pass header.d=" D }, D,
	  WB_AUTHRES_REFUTED, NULL },

	{ "trusted field unreadable",
	  { ID "; dmarc=pass header.from=" D, ID "; dmarc=fail (unterminated" }, D,
	  WB_AUTHRES_UNREADABLE, "cannot be read (at byte" },
	{ "trusted field with a DEL",
	  { ID "; dmarc=pass header.from=" D "\x7f" }, D, WB_AUTHRES_UNREADABLE, NULL },
};

static void test_vouch(void)
{
	const char *const trusted[] = { ID, "mx2.police.test", NULL };
	for (size_t i = 0; i < G_N_ELEMENTS(vouch_cases); i++) {
		const struct vouch_case *c = &vouch_cases[i];
		g_autofree char *why = NULL;
		enum wb_authres_verdict v = wb_authres_vouch(c->fields, trusted, c->domain, &why);
		if (v != c->want || (c->why && !strstr(why, c->why)))
			g_error("%s: verdict %d (want %d): %s", c->name, v, c->want, why);
	}
}

static void test_vouch_edges(void)
{
	const char *const trusted[] = { ID, NULL };
	const char *const none[] = { NULL };
	const char *const pass[] = { ID "; dmarc=pass header.from=" D, NULL };
	g_autofree char *why = NULL;
	/* Nothing configured: nothing is trusted, however good the field looks. */
	g_assert_cmpint(wb_authres_vouch(pass, none, D, &why), ==, WB_AUTHRES_UNPROVEN);
	g_assert_nonnull(strstr(why, "trusted_authserv_id is empty"));
	g_assert_cmpint(wb_authres_vouch(pass, NULL, D, NULL), ==, WB_AUTHRES_UNPROVEN);
	g_assert_cmpint(wb_authres_vouch(NULL, trusted, D, NULL), ==, WB_AUTHRES_UNPROVEN);
	g_assert_cmpint(wb_authres_vouch(pass, trusted, NULL, NULL), ==, WB_AUTHRES_UNPROVEN);

	/* Too many fields: none is believed, even with the trusted pass on top. */
	const char *many[WB_AUTHRES_MAX_FIELDS + 2];
	many[0] = pass[0];
	for (unsigned i = 1; i <= WB_AUTHRES_MAX_FIELDS; i++)
		many[i] = "other.example; spf=pass smtp.mailfrom=x.example";
	many[WB_AUTHRES_MAX_FIELDS + 1] = NULL;
	g_clear_pointer(&why, g_free);
	g_assert_cmpint(wb_authres_vouch(many, trusted, D, &why), ==, WB_AUTHRES_UNREADABLE);
	many[WB_AUTHRES_MAX_FIELDS] = NULL;
	g_assert_cmpint(wb_authres_vouch(many, trusted, D, NULL), ==, WB_AUTHRES_VOUCHED);

	/* The line quotes no text of the fields (only the id, names and the domain). */
	const char *const hostile[] = {
		ID "; dmarc=fail reason=\"EVIL\r\nBcc: x@evil.org\" header.from=" D
		" (EVIL comment)", NULL };
	g_clear_pointer(&why, g_free);
	g_assert_cmpint(wb_authres_vouch(hostile, trusted, D, &why), ==, WB_AUTHRES_REFUTED);
	g_assert_null(strstr(why, "EVIL"));
	g_assert_null(strchr(why, '\n'));
	const char *const unreadable[] = { ID "; dmarc=pass (EVIL \x01 comment)", NULL };
	g_clear_pointer(&why, g_free);
	g_assert_cmpint(wb_authres_vouch(unreadable, trusted, D, &why), ==,
			WB_AUTHRES_UNREADABLE);
	g_assert_null(strstr(why, "EVIL"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/authres/parse", test_parse);
	g_test_add_func("/authres/caps", test_caps);
	g_test_add_func("/authres/vouch", test_vouch);
	g_test_add_func("/authres/vouch_edges", test_vouch_edges);
	return g_test_run();
}
