/* Tests for smtp.c: envelope checks without a network, then mail through the private
 * Postfix of tests/lib/postfix.sh (WB_SMTP_PORT …), read back from the private Dovecot
 * over IMAP, and a scripted server on a non-loopback address for the plain-text rule. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <ifaddrs.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "imaptest.h"
#include "smtp.h"
#include "testlib.h"

#define RCPT       "wabridge@police.test"
#define DEADLINE_S 30 /* delivery through the queue; only a broken setup waits this long */

/* ---- helpers --------------------------------------------------------------------- */

static bool need_smtp(void)
{
	if (g_getenv("WB_SMTP_PORT") != NULL && imaptest_need_imap())
		return true;
	if (g_getenv("WB_SMTP_PORT") == NULL)
		g_test_skip("WB_SMTP_PORT not set (tests/lib/postfix.sh needs root)");
	return false;
}

/* A configuration for the private Postfix: port variable env, scheme, CA, password. */
static struct wb_config cfg_for(const char *scheme, const char *port_env, const char *ca,
				const char *password)
{
	return (struct wb_config){
		.smtp_url = g_strdup_printf("%s://127.0.0.1:%s", scheme, g_getenv(port_env)),
		.smtp_from = g_strdup("wabridge@wa.police.test"),
		.domain = g_strdup("wa.police.test"),
		.smtp_user = g_strdup("wabridge"),
		.smtp_password = g_strdup(password),
		.smtp_ca_file = g_strdup(ca),
	};
}

static void cfg_free(struct wb_config *c)
{
	g_free(c->smtp_url);
	g_free(c->smtp_from);
	g_free(c->domain);
	g_free(c->smtp_user);
	g_free(c->smtp_password);
	g_free(c->smtp_ca_file);
}

static char *ca_path(const char *name)
{
	return g_build_filename(g_getenv("WB_SMTP_DIR"), name, NULL);
}

/* A mail with a Bengali subject and a binary attachment (every byte value). */
static GString *make_mail(const char *msgid)
{
	guint8 bin[1024];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (guint8)(i * 7 + 3);
	g_autofree char *subj = g_base64_encode((const guchar *)"অভিযোগ দেরি: থানা ১২৩", strlen("অভিযোগ দেরি: থানা ১২৩"));
	g_autofree char *att = g_base64_encode(bin, sizeof bin);
	GString *m = g_string_new(NULL);
	g_string_append_printf(m, "From: wabridge@wa.police.test\r\nTo: " RCPT "\r\n"
			       "Subject: =?UTF-8?B?%s?=\r\nMessage-ID: <%s>\r\n"
			       "Date: Sat, 06 Dec 2025 10:00:00 +0530\r\nMIME-Version: 1.0\r\n"
			       "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
			       "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: 8bit\r\n\r\n"
			       "অভিযোগ ২৪ ঘণ্টা পেরিয়েছে।\r\n.a line starting with a dot\r\n\r\n"
			       "--b1\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\n", subj, msgid);
	for (size_t i = 0; i < strlen(att); i += 76)
		g_string_append_printf(m, "%.76s\r\n", att + i);
	g_string_append(m, "--b1--\r\n");
	return m;
}

/* The whole message with this Message-ID in USER's INBOX over IMAP; NULL if none. */
static GBytes *imap_fetch(const char *user, const char *msgid)
{
	g_autofree char *url = g_strdup_printf("imap://127.0.0.1:%s", g_getenv("WB_IMAP_PORT"));
	struct wb_config cfg = { .imap_url = url };
	struct wb_imapconn c = { 0 };
	g_autoptr(GError) error = NULL;
	GBytes *found = NULL;

	g_assert_true(wb_imapconn_init(&c, WB_DELIVER_ERROR, &cfg, user, "secret", &error));
	g_assert_true(wb_imapconn_connect(&c, &error));
	g_assert_cmpint(mailimap_examine(c.imap, "INBOX"), ==, MAILIMAP_NO_ERROR);
	g_autofree char *id = g_strdup_printf("<%s>", msgid);
	struct mailimap_search_key *key = mailimap_search_key_new_header(g_strdup("Message-ID"),
									 g_strdup(id));
	clist *uids = NULL;
	g_assert_cmpint(mailimap_uid_search(c.imap, NULL, key, &uids), ==, MAILIMAP_NO_ERROR);
	mailimap_search_key_free(key);
	clistiter *first = uids != NULL ? clist_begin(uids) : NULL;
	if (first != NULL && clist_content(first) != NULL) {
		uint32_t uid = *(uint32_t *)clist_content(first);
		struct mailimap_set *set = mailimap_set_new_single(uid);
		struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att(
			mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
		clist *result = NULL;
		g_assert_cmpint(mailimap_uid_fetch(c.imap, set, type, &result), ==, MAILIMAP_NO_ERROR);
		mailimap_fetch_type_free(type);
		mailimap_set_free(set);
		for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it)) {
			struct mailimap_msg_att *att = clist_content(it);
			for (clistiter *i = clist_begin(att->att_list); i != NULL; i = clist_next(i)) {
				struct mailimap_msg_att_item *item = clist_content(i);
				if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
				    item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_BODY_SECTION &&
				    found == NULL) {
					struct mailimap_msg_att_body_section *b =
						item->att_data.att_static->att_data.att_body_section;
					found = g_bytes_new(b->sec_body_part, b->sec_length);
				}
			}
		}
		mailimap_fetch_list_free(result);
	}
	if (uids != NULL)
		mailimap_search_result_free(uids);
	wb_imapconn_clear(&c);
	return found;
}

/* Wait (with a deadline) for the mail to arrive; it must end with our bytes exactly,
 * after the trace headers the servers put on top. */
static void assert_arrived(const char *msgid, const GString *mail)
{
	gint64 end = g_get_monotonic_time() + DEADLINE_S * G_USEC_PER_SEC;
	GBytes *got = NULL;

	while ((got = imap_fetch("wabridge", msgid)) == NULL && g_get_monotonic_time() < end)
		g_usleep(50 * 1000);
	g_assert_nonnull(got);
	gsize n = 0;
	const char *data = g_bytes_get_data(got, &n);
	g_assert_cmpuint(n, >=, mail->len);
	g_assert_cmpmem(data + n - mail->len, mail->len, mail->str, mail->len);
	g_assert_true(n == mail->len || (data[n - mail->len - 1] == '\n'));
	g_bytes_unref(got);
}

static char *unique_id(const char *what)
{
	static unsigned n;
	return g_strdup_printf("%s.%d.%u.%" G_GINT64_FORMAT "@wa.police.test", what, getpid(),
			       ++n, g_get_real_time());
}

/* Send a fresh mail with cfg; returns the error (NULL: sent, and then it arrived). */
static GError *send_one(const struct wb_config *cfg, const char *const *rcpts, bool check)
{
	g_autofree char *id = unique_id("t");
	GString *m = make_mail(id);
	GError *error = NULL;

	if (wb_smtp_send(cfg, rcpts, m->str, m->len, &error) && check)
		assert_arrived(id, m);
	g_string_free(m, TRUE);
	if (error != NULL)
		g_test_message("%s", error->message);
	return error;
}

static const char *const to_wabridge[] = { RCPT, NULL };

/* The "disconnect" lines Postfix has logged so far. */
static char **postfix_sessions(void)
{
	g_autofree char *log = ca_path("postfix.log");
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	GPtrArray *out = g_ptr_array_new();
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (size_t i = 0; lines[i] != NULL; i++) {
		if (strstr(lines[i], "smtpd[") != NULL && strstr(lines[i], " disconnect from ") != NULL)
			g_ptr_array_add(out, g_strdup(lines[i]));
	}
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

static guint session_count(void)
{
	g_auto(GStrv) s = postfix_sessions();
	return g_strv_length(s);
}

/* The next session Postfix logs after `before` sessions: it never tried AUTH. */
static void assert_no_auth_after(guint before)
{
	gint64 end = g_get_monotonic_time() + DEADLINE_S * G_USEC_PER_SEC;
	char **s = postfix_sessions();
	while (g_strv_length(s) <= before && g_get_monotonic_time() < end) {
		g_strfreev(s);
		g_usleep(20 * 1000);
		s = postfix_sessions();
	}
	g_assert_cmpuint(g_strv_length(s), >, before);
	g_test_message("%s", s[before]);
	g_assert_null(strstr(s[before], " auth="));
	g_strfreev(s);
}

static void postfix(const char *cmd)
{
	g_autofree char *script = g_build_filename(g_getenv("WB_TOP") ? g_getenv("WB_TOP") : ".",
						   "tests", "lib", "postfix.sh", NULL);
	const char *argv[] = { "sh", script, cmd, g_getenv("WB_SMTP_DIR"),
			       g_getenv("WB_DOVECOT_DIR"), NULL };
	int status = 0;
	g_autoptr(GError) error = NULL;
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   NULL, NULL, &status, &error));
	g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* ---- without a network ----------------------------------------------------------- */

static void test_address_ok(void)
{
	static const struct {
		const char *addr;
		bool ok;
	} cases[] = {
		{ "dc.south@police.example", true },
		{ "a@b", true },
		{ "\"odd\"@x.example", true },
		{ "", false },
		{ "@x.example", false },
		{ "x@", false },
		{ "nobody", false },
		{ "a@b\r\nRCPT TO:<evil@x>", false },
		{ "a@b>\r\nDATA", false },
		{ "a b@c", false },
		{ "a<b@c", false },
		{ "\xe0\xa6\x85@x.example", false },
		{ NULL, false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		g_assert_cmpint(wb_smtp_address_ok(cases[i].addr), ==, cases[i].ok);
	g_autofree char *longest = g_strnfill(WB_SMTP_ADDR_MAX - 2, 'a');
	g_autofree char *ok = g_strconcat(longest, "@b", NULL);
	g_autofree char *too_long = g_strconcat(longest, "@bc", NULL);
	g_assert_true(wb_smtp_address_ok(ok));
	g_assert_false(wb_smtp_address_ok(too_long));
}

/* Refused before connecting: the port answers nothing, yet the error is FINAL. */
static void test_hostile_rcpt(void)
{
	int fd;
	int port = unanswered_port(&fd);
	g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%d", port);
	struct wb_config cfg = { .smtp_url = url, .smtp_from = (char *)"w@x.example" };
	const char *const rcpts[] = { "ok@x.example", "evil@x\r\nRCPT TO:<more@y>", NULL };
	const char *const none[] = { NULL };
	g_autoptr(GError) error = NULL;

	g_assert_false(wb_smtp_send(&cfg, rcpts, "x\r\n", 3, &error));
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_FINAL);
	g_assert_nonnull(strstr(error->message, "not a usable address"));
	g_clear_error(&error);
	g_assert_false(wb_smtp_send(&cfg, none, "x\r\n", 3, &error));
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_FINAL);
	g_clear_error(&error);
	cfg.smtp_from = (char *)"w@x\nMAIL";
	g_assert_false(wb_smtp_send(&cfg, to_wabridge, "x\r\n", 3, &error));
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
	close(fd);
}

static void test_no_url(void)
{
	struct wb_config cfg = { .smtp_from = (char *)"w@x.example" };
	g_autoptr(GError) error = NULL;

	g_assert_false(wb_smtp_send(&cfg, to_wabridge, "x\r\n", 3, &error));
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
	g_clear_error(&error);
	cfg.smtp_url = (char *)"imap://127.0.0.1";
	g_assert_false(wb_smtp_send(&cfg, to_wabridge, "x\r\n", 3, &error));
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
}

/* ---- through the private Postfix ------------------------------------------------- */

static void test_starttls_arrives(void)
{
	if (!need_smtp())
		return;
	struct wb_config cfg = cfg_for("smtp", "WB_SMTP_PORT", g_getenv("WB_SMTP_CA"), "secret");
	g_assert_no_error(send_one(&cfg, to_wabridge, true));
	cfg_free(&cfg);
}

static void test_smtps_arrives(void)
{
	if (!need_smtp())
		return;
	struct wb_config cfg = cfg_for("smtps", "WB_SMTPS_PORT", g_getenv("WB_SMTP_CA"), "secret");
	g_assert_no_error(send_one(&cfg, to_wabridge, true));
	cfg_free(&cfg);
}

/* Loopback without a CA: STARTTLS would be optional; a server without it gets the mail
 * in plain text (the rule of tls.h). */
static void test_plain_loopback_arrives(void)
{
	if (!need_smtp())
		return;
	struct wb_config cfg = cfg_for("smtp", "WB_SMTP_PLAIN_PORT", NULL, "secret");
	g_assert_no_error(send_one(&cfg, to_wabridge, true));
	cfg_free(&cfg);
}

static void test_wrong_ca(void)
{
	if (!need_smtp())
		return;
	g_autofree char *other = ca_path("other-ca.pem");
	const char *ports[] = { "WB_SMTP_PORT", "WB_SMTPS_PORT" };
	for (size_t i = 0; i < G_N_ELEMENTS(ports); i++) {
		struct wb_config cfg = cfg_for(i == 0 ? "smtp" : "smtps", ports[i], other, "secret");
		guint before = session_count();
		g_autoptr(GError) error = send_one(&cfg, to_wabridge, false);
		g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
		g_assert_nonnull(strstr(error->message, "127.0.0.1"));
		g_assert_nonnull(strstr(error->message, "ca_file"));
		assert_no_auth_after(before);
		cfg_free(&cfg);
	}
}

/* A CA set says TLS is expected: a server without STARTTLS is refused even on loopback,
 * before any login. */
static void test_anchored_needs_starttls(void)
{
	if (!need_smtp())
		return;
	struct wb_config cfg = cfg_for("smtp", "WB_SMTP_PLAIN_PORT", g_getenv("WB_SMTP_CA"), "secret");
	guint before = session_count();
	g_autoptr(GError) error = send_one(&cfg, to_wabridge, false);
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "STARTTLS"));
	assert_no_auth_after(before);
	cfg_free(&cfg);
}

static void test_wrong_password(void)
{
	if (!need_smtp())
		return;
	struct wb_config cfg = cfg_for("smtp", "WB_SMTP_PORT", g_getenv("WB_SMTP_CA"), "wrong-pw");
	g_autoptr(GError) error = send_one(&cfg, to_wabridge, false);
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
	g_assert_null(strstr(error->message, "wrong-pw"));
	g_assert_nonnull(strstr(error->message, "password_file"));
	cfg_free(&cfg);
}

static void test_refused_rcpt(void)
{
	if (!need_smtp())
		return;
	struct wb_config cfg = cfg_for("smtp", "WB_SMTP_PORT", g_getenv("WB_SMTP_CA"), "secret");
	const char *const bad[] = { "nobody@police.test", NULL };
	const char *const mixed[] = { "nobody@police.test", RCPT, NULL };
	g_autoptr(GError) error = send_one(&cfg, bad, false);
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_FINAL);
	g_assert_nonnull(strstr(error->message, "nobody@police.test"));
	/* One refused among good ones: the mail goes to the rest. */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*refused: <nobody@police.test>*");
	g_assert_no_error(send_one(&cfg, mixed, true));
	g_test_assert_expected_messages();
	cfg_free(&cfg);
}

/* A server that is down delays mail and loses nothing: SOON at once, then it goes. */
static void test_server_down(void)
{
	if (!need_smtp() || !imaptest_need_doveadm())
		return;
	struct wb_config cfg = cfg_for("smtp", "WB_SMTP_PORT", g_getenv("WB_SMTP_CA"), "secret");
	g_autofree char *id = unique_id("down");
	GString *m = make_mail(id);
	g_autoptr(GError) error = NULL;

	postfix("stop");
	gint64 t0 = g_get_monotonic_time();
	g_assert_false(wb_smtp_send(&cfg, to_wabridge, m->str, m->len, &error));
	g_test_message("%s (%.3f s)", error->message, (g_get_monotonic_time() - t0) / 1e6);
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_SOON);
	g_clear_error(&error);
	postfix("start");
	g_assert_true(wb_smtp_send(&cfg, to_wabridge, m->str, m->len, &error));
	g_assert_no_error(error);
	assert_arrived(id, m);
	g_string_free(m, TRUE);
	cfg_free(&cfg);
}

/* ---- a scripted server off loopback ---------------------------------------------- */

struct fake {
	int listen_fd;
	int port;
	GString *seen;
	GThread *thread;
};

/* No STARTTLS, AUTH offered: what a careless client would send its password to. */
static gpointer fake_main(gpointer data)
{
	struct fake *fk = data;
	int fd = accept(fk->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	FILE *in = fdopen(dup(fd), "r");
	char line[1024];
	static const char greet[] = "220 fake ESMTP\r\n";
	bool up = write(fd, greet, strlen(greet)) > 0;
	while (up && fgets(line, sizeof line, in) != NULL) {
		g_string_append(fk->seen, line);
		const char *r = g_ascii_strncasecmp(line, "EHLO", 4) == 0
			? "250-fake\r\n250 AUTH PLAIN LOGIN\r\n"
			: g_ascii_strncasecmp(line, "QUIT", 4) == 0 ? "221 bye\r\n" : "250 ok\r\n";
		up = write(fd, r, strlen(r)) > 0 && g_ascii_strncasecmp(line, "QUIT", 4) != 0;
	}
	fclose(in);
	close(fd);
	return NULL;
}

/* An IPv4 address of this machine that is not loopback; NULL when there is none. */
static char *outside_address(void)
{
	struct ifaddrs *ifs = NULL, *i;
	char *found = NULL;
	if (getifaddrs(&ifs) != 0)
		return NULL;
	for (i = ifs; i != NULL && found == NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    wb_loopback_addr(i->ifa_addr))
			continue;
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, text,
			  sizeof text);
		found = g_strdup(text);
	}
	freeifaddrs(ifs);
	return found;
}

static void test_plain_refused_off_loopback(void)
{
	g_autofree char *addr = outside_address();
	if (addr == NULL) {
		g_test_skip("no address off loopback on this machine");
		return;
	}
	struct fake fk = { .seen = g_string_new(NULL) };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	inet_pton(AF_INET, addr, &a.sin_addr);
	fk.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	g_assert_cmpint(bind(fk.listen_fd, (struct sockaddr *)&a, sizeof a), ==, 0);
	g_assert_cmpint(listen(fk.listen_fd, 4), ==, 0);
	g_assert_cmpint(getsockname(fk.listen_fd, (struct sockaddr *)&a, &len), ==, 0);
	fk.thread = g_thread_new("fake-smtp", fake_main, &fk);

	g_autofree char *url = g_strdup_printf("smtp://%s:%u", addr, ntohs(a.sin_port));
	struct wb_config cfg = { .smtp_url = url, .smtp_from = (char *)"w@x.example",
				 .smtp_user = (char *)"u", .smtp_password = (char *)"pw-secret" };
	g_autoptr(GError) error = NULL;
	g_assert_false(wb_smtp_send(&cfg, to_wabridge, "x\r\n", 3, &error));
	g_test_message("%s", error->message);
	g_assert_error(error, WB_SMTP_ERROR, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "allow_plaintext"));
	g_thread_join(fk.thread);
	close(fk.listen_fd);
	g_test_message("the server saw: %s", fk.seen->str);
	g_assert_null(strstr(fk.seen->str, "AUTH"));
	g_assert_null(strstr(fk.seen->str, "MAIL"));
	g_string_free(fk.seen, TRUE);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/smtp/address-ok", test_address_ok);
	g_test_add_func("/smtp/hostile-rcpt", test_hostile_rcpt);
	g_test_add_func("/smtp/no-url", test_no_url);
	g_test_add_func("/smtp/plain-refused-off-loopback", test_plain_refused_off_loopback);
	g_test_add_func("/smtp/starttls-arrives", test_starttls_arrives);
	g_test_add_func("/smtp/smtps-arrives", test_smtps_arrives);
	g_test_add_func("/smtp/plain-loopback-arrives", test_plain_loopback_arrives);
	g_test_add_func("/smtp/wrong-ca", test_wrong_ca);
	g_test_add_func("/smtp/anchored-needs-starttls", test_anchored_needs_starttls);
	g_test_add_func("/smtp/wrong-password", test_wrong_password);
	g_test_add_func("/smtp/refused-rcpt", test_refused_rcpt);
	g_test_add_func("/smtp/server-down", test_server_down);
	int rc = g_test_run();
	curl_global_cleanup();
	return rc;
}
