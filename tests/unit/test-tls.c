/* test-tls: the network rules of src/tls.c, as tables of input → decision. The
 * certificate check itself runs against a real Dovecot in tests/integration/test_tls.py. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>

#include "tls.h"

static void test_loopback_host(void)
{
	static const struct {
		const char *host;
		bool loopback;
	} cases[] = {
		{ "127.0.0.1", true },   { "127.255.3.4", true },  { "::1", true },
		{ "[::1]", true },       { "::ffff:127.0.0.9", true }, { "localhost", true },
		{ "LocalHost", true },   { "0.0.0.0", false },     { "::", false },
		{ "[::]", false },       { "128.0.0.1", false },   { "10.0.0.1", false },
		{ "::ffff:10.0.0.1", false }, { "127.1", false },  { "localhost.example", false },
		{ "mail.localhost", false }, { "mail.police.example", false }, { "", false },
		{ "[127.0.0.1]", true }, { "fe80::1", false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("%s", cases[i].host);
		g_assert_cmpint(wb_loopback_host(cases[i].host), ==, cases[i].loopback);
	}
	g_assert_false(wb_loopback_host(NULL));
}

static void test_loopback_addr(void)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	struct sockaddr un = { .sa_family = AF_UNIX };

	inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
	g_assert_true(wb_loopback_addr((struct sockaddr *)&v4));
	inet_pton(AF_INET, "198.18.0.1", &v4.sin_addr);
	g_assert_false(wb_loopback_addr((struct sockaddr *)&v4));
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	g_assert_true(wb_loopback_addr((struct sockaddr *)&v6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
	g_assert_true(wb_loopback_addr((struct sockaddr *)&v6));
	inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
	g_assert_false(wb_loopback_addr((struct sockaddr *)&v6));
	g_assert_false(wb_loopback_addr(&un));
	g_assert_false(wb_loopback_addr(NULL));
}

static void test_mailurl(void)
{
	static const struct {
		const char *url, *proto;
		const char *host; /* NULL: refused */
		uint16_t port;
		bool implicit_tls;
	} cases[] = {
		{ "imap://mail.police.example", "imap", "mail.police.example", 143, false },
		{ "IMAPS://mail.police.example", "imap", "mail.police.example", 993, true },
		{ "imap://[::1]:1143", "imap", "::1", 1143, false },
		{ "imaps://10.0.0.5:10993/", "imap", "10.0.0.5", 10993, true },
		{ "smtp://127.0.0.1", "smtp", "127.0.0.1", 25, false },
		{ "smtps://mail.police.example", "smtp", "mail.police.example", 465, true },
		{ "smtp://mail.police.example:587", "smtp", "mail.police.example", 587, false },
		{ "smtp://mail.police.example", "imap", NULL, 0, false },
		{ "imap://mail.police.example", "smtp", NULL, 0, false },
		{ "pop3://mail.police.example", "imap", NULL, 0, false },
		{ "imap://", "imap", NULL, 0, false },
		{ "imap://host:0", "imap", NULL, 0, false },
		{ "mail.police.example", "imap", NULL, 0, false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct wb_mailurl u;
		g_test_message("%s as %s", cases[i].url, cases[i].proto);
		bool ok = wb_mailurl_parse(cases[i].url, cases[i].proto, &u);
		g_assert_cmpint(ok, ==, cases[i].host != NULL);
		g_assert_cmpstr(u.host, ==, cases[i].host);
		g_assert_cmpuint(u.port, ==, cases[i].port);
		g_assert_cmpint(u.implicit_tls, ==, cases[i].implicit_tls);
		wb_mailurl_clear(&u);
	}
}

/* The rules of tls.h, one row each. */
static void test_plan(void)
{
	static const struct {
		const char *url;
		bool allow_plaintext, anchored;
		enum wb_tls_mode mode;
		bool warn; /* check-config warns about allow_plaintext */
	} cases[] = {
		{ "imaps://mail.police.example", false, false, WB_TLS_IMPLICIT, false },
		{ "imaps://mail.police.example", true, false, WB_TLS_IMPLICIT, false },
		{ "imap://mail.police.example", false, false, WB_TLS_STARTTLS_REQUIRED, false },
		{ "imap://mail.police.example", true, false, WB_TLS_STARTTLS_OPTIONAL, true },
		{ "imap://mail.police.example", true, true, WB_TLS_STARTTLS_REQUIRED, false },
		{ "imap://127.0.0.1", false, false, WB_TLS_STARTTLS_OPTIONAL, false },
		{ "imap://127.0.0.1", true, false, WB_TLS_STARTTLS_OPTIONAL, false },
		{ "imap://127.0.0.1", false, true, WB_TLS_STARTTLS_REQUIRED, false },
		{ "imap://localhost", false, false, WB_TLS_STARTTLS_OPTIONAL, false },
		{ "imap://0.0.0.0", false, false, WB_TLS_STARTTLS_REQUIRED, false },
		{ "smtp://mail.police.example", false, false, WB_TLS_STARTTLS_REQUIRED, false },
		{ "smtp://mail.police.example", true, false, WB_TLS_STARTTLS_OPTIONAL, true },
		{ "smtp://[::1]:25", false, false, WB_TLS_STARTTLS_OPTIONAL, false },
		{ "smtps://[::1]", false, false, WB_TLS_IMPLICIT, false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct wb_mailurl u;
		const char *proto = g_str_has_prefix(cases[i].url, "smtp") ? "smtp" : "imap";
		g_test_message("%s allow_plaintext=%d anchored=%d", cases[i].url,
			       cases[i].allow_plaintext, cases[i].anchored);
		g_assert_true(wb_mailurl_parse(cases[i].url, proto, &u));
		struct wb_tls_plan p = wb_tls_plan(&u, cases[i].allow_plaintext, cases[i].anchored);
		g_assert_cmpint(p.mode, ==, cases[i].mode);
		g_assert_cmpint(wb_tls_plaintext_by_config(&p), ==, cases[i].warn);
		wb_mailurl_clear(&u);
	}
}

/* Plain text needs the plan's permission, and a loopback host must have been reached
 * on loopback. */
static void test_plain_ok(void)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in far = { .sin_family = AF_INET };
	inet_pton(AF_INET, "198.18.0.1", &far.sin_addr);
	const struct sockaddr *l = (const struct sockaddr *)&lo, *f = (const struct sockaddr *)&far;
	struct wb_tls_plan local = { WB_TLS_STARTTLS_OPTIONAL, true, false, false };
	struct wb_tls_plan allowed = { WB_TLS_STARTTLS_OPTIONAL, false, true, false };
	struct wb_tls_plan required = { WB_TLS_STARTTLS_REQUIRED, false, false, false };
	struct wb_tls_plan implicit = { WB_TLS_IMPLICIT, true, true, false };

	g_assert_true(wb_tls_plain_ok(&local, l));
	g_assert_false(wb_tls_plain_ok(&local, f));    /* "localhost" sent elsewhere */
	g_assert_false(wb_tls_plain_ok(&local, NULL)); /* cannot tell: no */
	g_assert_true(wb_tls_plain_ok(&allowed, f));
	g_assert_true(wb_tls_plain_ok(&allowed, NULL));
	g_assert_false(wb_tls_plain_ok(&required, l));
	g_assert_false(wb_tls_plain_ok(&implicit, l));
}

static void test_fingerprint(void)
{
	static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const struct {
		const char *text;
		bool ok;
	} cases[] = {
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true },
		{ "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", true },
		{ "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
		  "45:67:89:AB:CD:EF", true },
		{ "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true },
		{ "SHA256:01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 "
		  "23 45 67 89 ab cd ef", true },
		{ "0123456789abcdef", false },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00", false },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", false },
		{ "sha1:0123456789abcdef0123456789abcdef01234567", false },
		{ "", false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = wb_tls_fingerprint(cases[i].text);
		g_test_message("%s", cases[i].text);
		g_assert_cmpstr(got, ==, cases[i].ok ? hex : NULL);
	}
	g_assert_null(wb_tls_fingerprint(NULL));
}

/* What check-config states for a URL. */
static void test_describe(void)
{
	struct wb_mailurl u;
	g_assert_true(wb_mailurl_parse("smtp://mail.police.example", "smtp", &u));
	struct wb_tls_plan p = wb_tls_plan(&u, false, false);
	g_autofree char *a = wb_tls_describe(&p, &u, NULL, NULL);
	g_assert_cmpstr(a, ==, "STARTTLS required (not a loopback host), certificate verified "
		       "against the system CAs for mail.police.example; a server without "
		       "STARTTLS is refused before any login");
	p = wb_tls_plan(&u, true, false);
	g_autofree char *b = wb_tls_describe(&p, &u, "/etc/ca.pem", NULL);
	g_assert_cmpstr(b, ==, "STARTTLS when the server offers it, certificate verified "
		       "against /etc/ca.pem for mail.police.example; plain text when it does "
		       "not (allow_plaintext = true)");
	wb_mailurl_clear(&u);
}

/* What a refused connection without STARTTLS is told to do. */
static void test_refusal(void)
{
	struct wb_tls_plan remote = { WB_TLS_STARTTLS_REQUIRED, false, false, false };
	struct wb_tls_plan local = { WB_TLS_STARTTLS_OPTIONAL, true, false, false };
	struct wb_tls_plan anchored = { WB_TLS_STARTTLS_REQUIRED, true, true, true };
	g_autofree char *a = wb_tls_refusal(&remote, "10.0.0.5", "smtp");
	g_autofree char *b = wb_tls_refusal(&local, "localhost", "imap");
	g_autofree char *c = wb_tls_refusal(&anchored, "127.0.0.1", "imap");

	g_assert_cmpstr(a, ==, "the server offers no STARTTLS and 10.0.0.5 is not a loopback "
		       "host, so nothing secret is sent; use smtps://, turn STARTTLS on in the "
		       "server, or set [smtp] allow_plaintext = true");
	g_assert_nonnull(strstr(b, "localhost was not reached at a loopback address"));
	g_assert_cmpstr(c, ==, "the server offers no STARTTLS, but [imap] ca_file or "
		       "tls_fingerprint asks for verified TLS; use imaps://, turn STARTTLS on "
		       "in the server, or drop them");
}

/* Refusals without any certificate to look at. */
static void test_verify_refusals(void)
{
	static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	const struct wb_tls_der chain[] = { { junk, sizeof junk } };
	GError *error = NULL;

	g_assert_false(wb_tls_verify(NULL, 0, "h", NULL, NULL, "imap", &error));
	g_assert_error(error, WB_TLS_ERROR, WB_FAIL_LATER);
	g_assert_cmpstr(error->message, ==, "server sent no certificate");
	g_clear_error(&error);
	g_assert_false(wb_tls_verify(chain, 1, "h", NULL, NULL, "imap", &error));
	g_assert_error(error, WB_TLS_ERROR, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "[imap] ca_file")); /* with or without system CAs */
	g_clear_error(&error);
	g_assert_false(wb_tls_verify(chain, 1, "h", NULL, "00", "smtp", &error));
	g_assert_nonnull(strstr(error->message, "does not match [smtp] tls_fingerprint"));
	g_clear_error(&error);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tls/loopback-host", test_loopback_host);
	g_test_add_func("/tls/loopback-addr", test_loopback_addr);
	g_test_add_func("/tls/mailurl", test_mailurl);
	g_test_add_func("/tls/plan", test_plan);
	g_test_add_func("/tls/plain-ok", test_plain_ok);
	g_test_add_func("/tls/fingerprint", test_fingerprint);
	g_test_add_func("/tls/describe", test_describe);
	g_test_add_func("/tls/refusal", test_refusal);
	g_test_add_func("/tls/verify-refusals", test_verify_refusals);
	return g_test_run();
}
