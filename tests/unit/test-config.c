/* test-config: the configuration module (src/config.c).
 *
 * Every test writes its files into a fresh temporary directory. Tests run as root in
 * CI, so permission tests look at the mode bits that config.c checks, never at access().
 * The embedded-defaults test changes into its temporary directory because the defaults
 * put the data directory under ./wabridge-data. */
#include "config.h"
#include "testlib.h"
#include "caps.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *example_path; /* contrib/wabridge.conf.example, absolute */

/* ---- helpers ---------------------------------------------------------------------------- */

static char *tmpdir_new(void)
{
	g_autoptr(GError) err = NULL;
	char *dir = g_dir_make_tmp("wb-test-config-XXXXXX", &err);
	g_assert_no_error(err);
	return dir;
}

static char *write_file(const char *dir, const char *name, const char *content, int mode)
{
	g_autoptr(GError) err = NULL;
	char *path = g_build_filename(dir, name, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	g_assert_cmpint(g_mkdir_with_parents(parent, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, content, -1, &err));
	g_assert_no_error(err);
	g_assert_cmpint(g_chmod(path, mode), ==, 0);
	return path;
}

static char *joined(GPtrArray *problems)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < problems->len; i++)
		g_string_append_printf(s, "  %s\n", (const char *)problems->pdata[i]);
	return g_string_free(s, FALSE);
}

static void assert_problem(GPtrArray *problems, const char *needle)
{
	for (guint i = 0; i < problems->len; i++)
		if (strstr(problems->pdata[i], needle) != NULL)
			return;
	g_autofree char *all = joined(problems);
	g_error("no problem contains \"%s\"; the problems were:\n%s", needle, all);
}

static void assert_no_problems(GPtrArray *problems)
{
	if (problems->len == 0)
		return;
	g_autofree char *all = joined(problems);
	g_error("unexpected problems:\n%s", all);
}

static GPtrArray *check(const char *path)
{
	GPtrArray *problems = g_ptr_array_new_with_free_func(g_free);
	bool ok = wb_config_check(path, problems, NULL, NULL);
	g_assert_cmpint(ok, ==, problems->len == 0);
	return problems;
}

static unsigned mode_of(const char *path)
{
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

static char *read_text(const char *path)
{
	char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

static bool is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!g_ascii_isxdigit(*s))
			return false;
	return true;
}

/* ---- embedded defaults ------------------------------------------------------------------- */

static void test_embedded_defaults(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *cwd = g_get_current_dir();
	g_assert_cmpint(chdir(dir), ==, 0);

	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(cfg);
	g_assert_null(cfg->path);
	g_assert_cmpstr(cfg->state, ==, "./wabridge-data/state.db");
	g_assert_cmpstr(cfg->data_dir, ==, "./wabridge-data");
	g_assert_cmpstr(cfg->domain, ==, "localhost");
	g_assert_cmpstr(cfg->timezone, ==, "Asia/Kolkata");
	g_assert_cmpstr(cfg->default_language, ==, "bn");
	g_assert_cmpint(cfg->sla_hours, ==, 24);
	g_assert_cmpint(cfg->complaint_idle_days, ==, 7);
	g_assert_null(cfg->templates);
	g_assert_null(cfg->serious_keywords_file);
	g_assert_true(cfg->send_ack);
	g_assert_cmpstr(cfg->listen, ==, "127.0.0.1:8080");
	g_assert_false(cfg->allow_unsigned); /* unsigned, but on loopback: no warning */
	g_assert_cmpuint(g_strv_length(cfg->warnings), ==, 0);
	g_assert_cmpstr(cfg->path_webhook, ==, "/webhook");
	g_assert_null(cfg->app_secret);
	g_assert_null(cfg->verify_token);
	g_assert_cmpuint(cfg->max_body, ==, WB_MAX_BODY_DEFAULT);
	g_assert_cmpint(cfg->max_connections, ==, 10000);
	g_assert_cmpint(cfg->max_connections_per_ip, ==, 64);
	g_assert_cmpint(cfg->request_timeout, ==, 30);
	g_assert_cmpuint(cfg->body_memory, ==, 64u * 1024 * 1024);
	g_assert_cmpstr(cfg->api_base, ==, "https://graph.facebook.com/v26.0");
	g_assert_null(cfg->access_token);
	g_assert_true(cfg->dry_run);
	g_assert_cmpstr(cfg->template_registered, ==, "complaint_registered");
	g_assert_cmpstr(cfg->template_language, ==, "bn");
	g_assert_cmpuint(cfg->media_max, ==, 100u * 1024 * 1024);
	g_assert_null(cfg->wa_ca_file);
	g_assert_null(cfg->imap_url);
	g_assert_null(cfg->imap_ca_file);
	g_assert_null(cfg->imap_tls_fingerprint);
	g_assert_true(cfg->imap_idle);
	g_assert_null(cfg->smtp_url);
	g_assert_cmpstr(cfg->smtp_from, ==, "wabridge@localhost");
	g_assert_cmpstr(cfg->replies_mode, ==, "pipe");
	g_assert_nonnull(cfg->trusted_authserv_ids);
	g_assert_null(cfg->trusted_authserv_ids[0]);
	g_assert_null(cfg->replies_imap_user);
	g_assert_null(cfg->replies_imap_password);
	g_assert_cmpstr(cfg->replies_folder, ==, "INBOX");
	g_assert_cmpstr(cfg->replies_address, ==, "complaint");
	g_assert_cmpuint(cfg->stations->len, ==, 0);
	g_assert_true(cfg->auto_stations);

	/* the reply secret is generated once, private, and reused */
	g_assert_true(is_hex64(cfg->token_secret));
	g_assert_cmpuint(mode_of("wabridge-data/reply_secret"), ==, 0600);
	g_autofree char *first = g_strdup(cfg->token_secret);
	wb_config_free(cfg);
	cfg = wb_config_load(NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(cfg->token_secret, ==, first);
	wb_config_free(cfg);

	g_autoptr(GPtrArray) problems = check(NULL);
	assert_no_problems(problems);

	g_assert_cmpint(chdir(cwd), ==, 0);
	rm_rf(dir);
}

/* ---- a full valid config ----------------------------------------------------------------- */

static const char full_conf[] =
	"# every key set to something other than its default\n"
	"[bridge]\n"
	"state = @DIR@/var/state.db\n"
	"domain = wa.police.example\n"
	"timezone = UTC\n"
	"default_language = hi\n"
	"sla_hours = 48\n"
	"complaint_idle_days = 10\n"
	"templates = @DIR@/templates\n"
	"serious_keywords_file = @DIR@/keywords.txt\n"
	"send_ack = no\n"
	"\n"
	"[webhook]\n"
	"  listen = [::1]:9090\n"
	"path = /wa/hook\n"
	"app_secret_file = @DIR@/app_secret\n"
	"verify_token_file = @DIR@/verify_token\n"
	"max_body = 512 KiB\n"
	"\n"
	"[whatsapp]\n"
	"api_base = http://127.0.0.1:9000/v99.0\n"
	"access_token_file = @DIR@/access_token\n"
	"dry_run = false\n"
	"template_registered = complaint_number_v2\n"
	"template_language = en\n"
	"media_max = 16M\n"
	"ca_file = @DIR@/ca.pem\n"
	"\n"
	"[imap]\n"
	"url = imaps://mail.police.example:993\n"
	"ca_file =\n"
	"tls_fingerprint = AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n"
	"idle = off\n"
	"\n"
	"[smtp]\n"
	"url = smtp://127.0.0.1:2525\n"
	"from = wabridge@police.example\n"
	"\n"
	"[replies]\n"
	"mode = imap\n"
	"imap_user = wabridge\n"
	"imap_password_file = @DIR@/replies.pass\n"
	"folder = Replies\n"
	"address = reply\n"
	"token_secret_file = @DIR@/reply_secret\n"
	"trusted_authserv_id = MX.Police.Example, mx2.police.example\n"
	"\n"
	"[station:bhowanipore]\n"
	"name = Bhowanipore Police Station ; ভবানীপুর থানা\n"
	"code = BHP\n"
	"phone_number_id = 331770000100101\n"
	"address = bhowanipore.ps@police.example\n"
	"deliver = imap\n"
	"imap_user = bhowanipore\n"
	"imap_password_file = @DIR@/bhowanipore.pass\n"
	"folder = Complaints\n"
	"officers = OC.Bhowanipore@Police.Example, *@bhowanipore.police.example,\n"
	"escalate_to = dc.south@police.example\n"
	"number_patterns = BHP\\s*(\\d+/\\d{2,4}); #GD\\s*(\\d+)\n"
	"\n"
	"[station:park-street]\n"
	"name = Park Street Police Station\n"
	"code = PST\n"
	"phone_number_id = 331770000300303\n"
	"deliver = maildir:@DIR@/mail/pst\n"
	"\n"
	"[station:jadavpur]\n"
	"name = Jadavpur Police Station\n"
	"code = JDP\n"
	"phone_number_id = 331770000200202\n"
	"deliver = maildir\n";

static char *write_config(const char *dir, const char *name, const char *text)
{
	g_autoptr(GString) s = g_string_new(text);
	g_string_replace(s, "@DIR@", dir, 0);
	return write_file(dir, name, s->str, 0644);
}

static void write_full_secrets(const char *dir)
{
	static const char *const files[][2] = {
		{ "app_secret", "AppSecretValue-1 \t\r\nsecond line ignored\n" },
		{ "verify_token", "VerifyTokenValue-2" },
		{ "access_token", "AccessTokenValue-3\n" },
		{ "replies.pass", "RepliesPassValue-4\r\n" },
		{ "reply_secret", "ReplySecretValue-5\n" },
		{ "bhowanipore.pass", "BhowaniporePassValue-6\n" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
		g_free(write_file(dir, files[i][0], files[i][1], 0600));
	g_free(write_file(dir, "keywords.txt", "murder\nখুন\nहत्या\n", 0644));
	g_free(write_file(dir, "ca.pem", "not really a certificate\n", 0644));
	g_free(write_file(dir, "templates/mail.txt", "{{text}}\n", 0644));
}

static void test_full_config(void)
{
	g_autofree char *dir = tmpdir_new();
	write_full_secrets(dir);
	g_autofree char *path = write_config(dir, "wabridge.conf", full_conf);
	g_autofree char *d = g_strdup(dir);

	g_autoptr(GPtrArray) problems = check(path);
	assert_no_problems(problems);

	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(cfg->path, ==, path);
	g_autofree char *state = g_build_filename(d, "var", "state.db", NULL);
	g_autofree char *data_dir = g_build_filename(d, "var", NULL);
	g_autofree char *templates = g_build_filename(d, "templates", NULL);
	g_autofree char *keywords = g_build_filename(d, "keywords.txt", NULL);
	g_autofree char *ca = g_build_filename(d, "ca.pem", NULL);
	g_assert_cmpstr(cfg->state, ==, state);
	g_assert_cmpstr(cfg->data_dir, ==, data_dir);
	g_assert_cmpstr(cfg->domain, ==, "wa.police.example");
	g_assert_cmpstr(cfg->timezone, ==, "UTC");
	g_assert_cmpstr(cfg->default_language, ==, "hi");
	g_assert_cmpint(cfg->sla_hours, ==, 48);
	g_assert_cmpint(cfg->complaint_idle_days, ==, 10);
	g_assert_cmpstr(cfg->templates, ==, templates);
	g_assert_cmpstr(cfg->serious_keywords_file, ==, keywords);
	g_assert_false(cfg->send_ack);
	g_assert_cmpstr(cfg->listen, ==, "[::1]:9090");
	g_assert_cmpstr(cfg->path_webhook, ==, "/wa/hook");
	g_assert_cmpstr(cfg->app_secret, ==, "AppSecretValue-1");
	g_assert_cmpstr(cfg->verify_token, ==, "VerifyTokenValue-2");
	g_assert_cmpuint(cfg->max_body, ==, 512 * 1024);
	g_assert_cmpstr(cfg->api_base, ==, "http://127.0.0.1:9000/v99.0");
	g_assert_cmpstr(cfg->access_token, ==, "AccessTokenValue-3");
	g_assert_false(cfg->dry_run);
	g_assert_cmpstr(cfg->template_registered, ==, "complaint_number_v2");
	g_assert_cmpstr(cfg->template_language, ==, "en");
	g_assert_cmpuint(cfg->media_max, ==, 16u * 1024 * 1024);
	g_assert_cmpstr(cfg->wa_ca_file, ==, ca);
	g_assert_cmpstr(cfg->imap_url, ==, "imaps://mail.police.example:993");
	g_assert_null(cfg->imap_ca_file);
	g_assert_cmpstr(cfg->imap_tls_fingerprint, ==,
			"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	g_assert_false(cfg->imap_idle);
	g_assert_cmpstr(cfg->smtp_url, ==, "smtp://127.0.0.1:2525");
	g_assert_cmpstr(cfg->smtp_from, ==, "wabridge@police.example");
	g_assert_cmpstr(cfg->replies_mode, ==, "imap");
	g_assert_cmpstr(cfg->replies_imap_user, ==, "wabridge");
	g_assert_cmpstr(cfg->replies_imap_password, ==, "RepliesPassValue-4");
	g_assert_cmpstr(cfg->replies_folder, ==, "Replies");
	g_assert_cmpstr(cfg->replies_address, ==, "reply");
	g_assert_cmpstr(cfg->token_secret, ==, "ReplySecretValue-5");
	g_assert_cmpuint(g_strv_length(cfg->trusted_authserv_ids), ==, 2);
	g_assert_cmpstr(cfg->trusted_authserv_ids[0], ==, "mx.police.example");
	g_assert_cmpstr(cfg->trusted_authserv_ids[1], ==, "mx2.police.example");
	g_assert_false(cfg->auto_stations);
	g_assert_cmpuint(cfg->stations->len, ==, 3);

	/* stations in file order */
	const struct wb_station *bhp = cfg->stations->pdata[0];
	g_assert_cmpstr(bhp->key, ==, "bhowanipore");
	g_assert_cmpstr(bhp->name, ==, "Bhowanipore Police Station ; ভবানীপুর থানা");
	g_assert_cmpstr(bhp->code, ==, "BHP");
	g_assert_cmpstr(bhp->phone_number_id, ==, "331770000100101");
	g_assert_cmpstr(bhp->address, ==, "bhowanipore.ps@police.example");
	g_assert_cmpint(bhp->deliver, ==, WB_DELIVER_IMAP);
	g_assert_null(bhp->maildir);
	g_assert_cmpstr(bhp->imap_user, ==, "bhowanipore");
	g_assert_cmpstr(bhp->imap_password, ==, "BhowaniporePassValue-6");
	g_assert_cmpstr(bhp->folder, ==, "Complaints");
	g_assert_cmpuint(g_strv_length(bhp->officers), ==, 2);
	g_assert_cmpstr(bhp->officers[0], ==, "oc.bhowanipore@police.example");
	g_assert_cmpstr(bhp->officers[1], ==, "*@bhowanipore.police.example");
	g_assert_cmpstr(bhp->escalate_to, ==, "dc.south@police.example");
	g_assert_cmpuint(g_strv_length(bhp->number_patterns), ==, 2);
	g_assert_cmpstr(bhp->number_patterns[0], ==, "BHP\\s*(\\d+/\\d{2,4})");
	g_assert_cmpstr(bhp->number_patterns[1], ==, "#GD\\s*(\\d+)");
	g_assert_false(bhp->is_auto);

	const struct wb_station *pst = cfg->stations->pdata[1];
	g_autofree char *pst_dir = g_build_filename(d, "mail", "pst", NULL);
	g_assert_cmpstr(pst->key, ==, "park-street");
	g_assert_cmpint(pst->deliver, ==, WB_DELIVER_MAILDIR);
	g_assert_cmpstr(pst->maildir, ==, pst_dir);
	g_assert_cmpstr(pst->address, ==, "station-331770000300303@wa.police.example");
	g_assert_cmpstr(pst->folder, ==, "INBOX");
	g_assert_nonnull(pst->officers);
	g_assert_null(pst->officers[0]);
	g_assert_nonnull(pst->number_patterns);
	g_assert_null(pst->number_patterns[0]);
	g_assert_null(pst->escalate_to);
	g_assert_null(pst->imap_password);

	const struct wb_station *jdp = cfg->stations->pdata[2];
	g_assert_cmpint(jdp->deliver, ==, WB_DELIVER_MAILDIR);
	g_assert_null(jdp->maildir); /* the default: <data_dir>/mail/jadavpur */

	g_assert_true(wb_config_station_by_key(cfg, "jadavpur") == jdp);
	g_assert_null(wb_config_station_by_key(cfg, "nowhere"));
	g_assert_true(wb_config_station_for(cfg, "331770000300303") == pst);
	g_assert_null(wb_config_station_for(cfg, "999")); /* configured stations: no auto */
	g_assert_cmpuint(cfg->stations->len, ==, 3);

	/* no reply secret file is made when token_secret_file is configured */
	g_autofree char *generated = g_build_filename(data_dir, "reply_secret", NULL);
	g_assert_false(g_file_test(generated, G_FILE_TEST_EXISTS));
	wb_config_free(cfg);
	rm_rf(dir);
}

/* ---- many problems at once --------------------------------------------------------------- */

static const char bad_conf[] =
	"[bridge]\n"
	"timezone = Mars/Olympus_Mons\n"
	"sla_hours = -1\n"
	"domain = police example\n"
	"stat = /tmp/state.db\n"
	"default_language = bn ; Bengali\n"
	"send_ack = true\n"
	"send_ack = false\n"
	"\n"
	"[webhook]\n"
	"max_body = 4 Mebibytes\n"
	"app_secret_file = @DIR@/app_secret_0644\n"
	"verify_token_file = @DIR@/no_such_token\n"
	"listen = 127.0.0.1\n"
	"app_secret = InlineSecretValue-77\n"
	"\n"
	"[whatsapp]\n"
	"access_token_file = @DIR@/access_token\n"
	"media_max = -5MiB\n"
	"api_base = http://graph.facebook.com/v26.0\n"
	"dry_run = maybe\n"
	"\n"
	"[replies]\n"
	"mode = imap\n"
	"address = complaint+x\n"
	"\n"
	"[webhok]\n"
	"listen = 127.0.0.1:8080\n"
	"\n"
	"[station:bhowanipore]\n"
	"name = Bhowanipore Police Station\n"
	"code = BHP\n"
	"phone_number_id = 3317700001001O1\n"
	"officers = oc@police.example, not an address\n"
	"number_patterns = (\\d+\n"
	"deliver = imap\n"
	"\n"
	"[station:jadavpur]\n"
	"name = Jadavpur Police Station\n"
	"code = BHP\n"
	"phone_number_id = 331770000200202\n"
	"escalate_to = dc.south\n"
	"deliver = pigeon\n"
	"number_patterns = GD\\s*\\d+\n"
	"\n"
	"[station:Park Street]\n"
	"name =\n"
	"code = pst\n"
	"phone_number_id = 331770000200202\n"
	"timezone = UTC\n"
	"\n"
	"[station:tollygunge]\n"
	"code = TLG\n";

static void test_many_problems(void)
{
	g_autofree char *dir = tmpdir_new();
	g_free(write_file(dir, "app_secret_0644", "LeakedSecret-0644\n", 0644));
	g_free(write_file(dir, "access_token", "GoodTokenSecret-55\n", 0600));
	g_autofree char *path = write_config(dir, "bad.conf", bad_conf);
	g_autofree char *app = g_build_filename(dir, "app_secret_0644", NULL);
	g_autofree char *mode_msg = g_strdup_printf("[webhook] app_secret_file: %s: readable "
						    "by group or others (mode 0644); run "
						    "chmod 600 %s", app, app);
	const char *const expected[] = {
		"[bridge] timezone: unknown time zone \"Mars/Olympus_Mons\"",
		"[bridge] sla_hours: \"-1\" is not a whole number from 0 to 720",
		"[bridge] domain: \"police example\" is not a valid domain name",
		"[bridge] stat: unknown key; did you mean state?",
		"[bridge] default_language: holds what looks like a comment",
		"[bridge] send_ack: set twice (lines 7 and 8)",
		"[webhook] max_body: \"4 Mebibytes\" is not a size",
		mode_msg,
		"[webhook] verify_token_file: cannot open ",
		"[webhook] listen: \"127.0.0.1\" is not HOST:PORT",
		"[webhook] app_secret: secrets are not accepted in the config file",
		"[whatsapp] media_max: \"-5MiB\" is not a size",
		"[whatsapp] api_base: \"http://graph.facebook.com/v26.0\" is plain http",
		"[whatsapp] dry_run: \"maybe\" is not a boolean",
		"[imap] url: not set, but [replies] mode = imap",
		"[imap] url: not set, but a station delivers by imap",
		"[replies] imap_user: not set",
		"[replies] imap_password_file: not set",
		"[replies] address: \"complaint+x\" is not a plain mail local part",
		"[webhok]: unknown group; did you mean [webhook]?",
		"[station:bhowanipore] phone_number_id: \"3317700001001O1\" is not a phone_number_id",
		"[station:bhowanipore] officers: \"not an address\" is not an address or pattern",
		"[station:bhowanipore] number_patterns: pattern 1 does not compile: ",
		"[station:bhowanipore] imap_user: not set, but deliver = imap",
		"[station:bhowanipore] imap_password_file: not set, but deliver = imap",
		"[station:jadavpur] code: BHP is also the code of [station:bhowanipore]",
		"[station:jadavpur] escalate_to: \"dc.south\" is not a mail address",
		"[station:jadavpur] deliver: \"pigeon\" is not a delivery",
		"[station:jadavpur] number_patterns: pattern 1 (GD\\s*\\d+) has no capture group",
		"[station:Park Street]: \"Park Street\" is not a station name",
		"[station:Park Street] name: empty; set it",
		"[station:Park Street] code: \"pst\" is not a station code",
		"[station:Park Street] phone_number_id: 331770000200202 is also the "
		"phone_number_id of [station:jadavpur]",
		"[station:Park Street] timezone: unknown key here; it belongs in [bridge]",
		"[station:tollygunge] name: missing",
		"[station:tollygunge] phone_number_id: missing",
	};
	const char *const secrets[] = { "LeakedSecret-0644", "GoodTokenSecret-55",
					"InlineSecretValue-77" };

	g_autoptr(GPtrArray) problems = check(path);
	for (size_t i = 0; i < G_N_ELEMENTS(expected); i++)
		assert_problem(problems, expected[i]);
	g_autofree char *prefix = g_strconcat(path, ": [", NULL);
	for (guint i = 0; i < problems->len; i++) {
		const char *p = problems->pdata[i];
		g_assert_true(g_str_has_prefix(p, prefix));
		g_assert_true(g_utf8_validate(p, -1, NULL));
		g_assert_null(strchr(p, '\n'));
		for (size_t j = 0; j < G_N_ELEMENTS(secrets); j++)
			g_assert_null(strstr(p, secrets[j]));
	}
	/* load: NULL and one error holding every problem, one a line */
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_null(cfg);
	g_assert_nonnull(err);
	g_auto(GStrv) lines = g_strsplit(err->message, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, problems->len);
	for (size_t i = 0; i < G_N_ELEMENTS(expected); i++)
		g_assert_nonnull(strstr(err->message, expected[i]));
	for (size_t j = 0; j < G_N_ELEMENTS(secrets); j++)
		g_assert_null(strstr(err->message, secrets[j]));
	rm_rf(dir);
}

/* ---- one key at a time ------------------------------------------------------------------ */

static const struct {
	const char *group, *key, *value;
	const char *problem; /* NULL: accepted */
} key_cases[] = {
	{ "bridge", "domain", "wa.police.example", NULL },
	{ "bridge", "domain", "-bad.example", "not a valid domain name" },
	{ "bridge", "domain", "a..b", "not a valid domain name" },
	{ "bridge", "timezone", "Europe/Berlin", NULL },
	{ "bridge", "timezone", "Asia/Calcutta_", "unknown time zone" },
	{ "bridge", "default_language", "en", NULL },
	{ "bridge", "default_language", "fr", "is not one of bn | en | hi" },
	{ "bridge", "sla_hours", "720", NULL },
	{ "bridge", "sla_hours", "721", "from 0 to 720" },
	{ "bridge", "sla_hours", "0", NULL },
	{ "bridge", "sla_hours", "+5", "from 0 to 720" },
	{ "bridge", "sla_hours", "", "empty; set a value or delete the line" },
	{ "bridge", "sla_hours", "-1", "from 0 to 720" },
	{ "bridge", "serious_sla_hours", "0", "from 1 to 720" },
	{ "bridge", "signature_reminder_hours", "0", NULL },
	{ "bridge", "signature_reminder_hours", "721", "from 0 to 720" },
	{ "bridge", "digest_hour", "-1", NULL },
	{ "bridge", "digest_hour", "23", NULL },
	{ "bridge", "digest_hour", "24", "from -1 to 23" },
	{ "bridge", "digest_hour", "-2", "from -1 to 23" },
	{ "bridge", "digest_hour", "-", "from -1 to 23" },
	{ "bridge", "digest_hour", "--1", "from -1 to 23" },
	{ "bridge", "digest_hour", "8am", "from -1 to 23" },
	{ "bridge", "complaint_idle_days", "365", NULL },
	{ "bridge", "complaint_idle_days", "366", "from 1 to 365" },
	{ "bridge", "templates", "/nonexistent/templates", "is not an existing directory" },
	{ "bridge", "templates", "", NULL },
	{ "bridge", "serious_keywords_file", "/nonexistent/kw", "is not an existing regular file" },
	{ "bridge", "send_ack", "YES", NULL },
	{ "bridge", "send_ack", "2", "is not a boolean" },
	{ "webhook", "listen", "localhost:80", NULL },
	{ "webhook", "listen", "[::1]:8443", NULL },
	{ "webhook", "listen", "127.0.0.1:0", "is not HOST:PORT" },
	{ "webhook", "listen", "127.0.0.1:65536", "is not HOST:PORT" },
	{ "webhook", "listen", "::1:8080", "is not HOST:PORT" },
	{ "webhook", "listen", ":8080", "is not HOST:PORT" },
	{ "webhook", "path", "/", NULL },
	{ "webhook", "path", "webhook", "must start with /" },
	{ "webhook", "path", "/hook?x=1", "must start with /" },
	{ "webhook", "max_body", "1KiB", NULL },
	{ "webhook", "max_body", "64MiB", NULL },
	{ "webhook", "max_body", "1023", "is not a size from 1 KiB to 64 MiB" },
	{ "webhook", "max_body", "65MiB", "is not a size" },
	{ "webhook", "max_connections", "16", NULL },
	{ "webhook", "max_connections", "15", "from 16 to 1000000" },
	{ "webhook", "max_connections_per_ip", "0", NULL },
	{ "webhook", "max_connections_per_ip", "-1", "from 0 to 1000000" },
	{ "webhook", "request_timeout", "3600", NULL },
	{ "webhook", "request_timeout", "0", "from 1 to 3600" },
	{ "webhook", "request_timeout", "30s", "from 1 to 3600" },
	{ "webhook", "body_memory", "8MiB", NULL },
	{ "webhook", "body_memory", "17GiB", "is not a size" },
	{ "webhook", "body_memory", "4MiB", "smaller than twice max_body" },
	{ "webhook", "app_secret_file", "", NULL },
	{ "webhook", "app_secret_file", "/nonexistent/secret", "cannot open /nonexistent/secret" },
	{ "whatsapp", "api_base", "https://graph.facebook.com/v26.0", NULL },
	{ "whatsapp", "api_base", "http://localhost:8081/v1", NULL },
	{ "whatsapp", "api_base", "https://graph.facebook.com/v26.0/", "no trailing /" },
	{ "whatsapp", "api_base", "ftp://graph.facebook.com", "is not a URL" },
	{ "whatsapp", "template_registered", "Complaint-Registered", "not a WhatsApp template name" },
	{ "whatsapp", "template_reminder", "Remind Me", "not a WhatsApp template name" },
	{ "whatsapp", "template_transferred", "complaint_moved_v2", NULL },
	{ "whatsapp", "media_max", "100MiB", NULL },
	{ "whatsapp", "media_max", "101MiB", "is not a size" },
	{ "imap", "url", "imap://127.0.0.1:1143", NULL },
	{ "imap", "url", "pop3://mail.example", "is not a imap://, imaps:// URL" },
	{ "imap", "url", "imaps://", "is not a imap://, imaps:// URL" },
	{ "imap", "tls_fingerprint", "0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789ABCDEF", NULL },
	{ "imap", "tls_fingerprint", "0123456789abcdef", "is not a SHA-256 fingerprint" },
	{ "smtp", "url", "smtps://mail.example:465", NULL },
	{ "smtp", "url", "http://mail.example", "is not a smtp://, smtps:// URL" },
	{ "smtp", "from", "not-an-address", "is not a mail address" },
	{ "smtp", "password_file", "/nonexistent/smtp.pass", "cannot open /nonexistent/smtp.pass" },
	{ "smtp", "user", "wab\x01ridge", "contains a control character" },
	{ "replies", "mode", "carrier-pigeon", "is not one of pipe | imap" },
	{ "replies", "folder", "", "empty; set a value or delete the line for the default (INBOX)" },
	{ "replies", "address", "complaint.desk", NULL },
	{ "replies", "address", ".complaint", "not a plain mail local part" },
	{ "replies", "token_secret", "x", "secrets are not accepted in the config file" },
	{ "replies", "modes", "pipe", "unknown key; did you mean mode?" },
	{ "replies", "trusted_authserv_id", "mx.police.example", NULL },
	{ "replies", "trusted_authserv_id", "mx.police.example, mail_gw-2.example,", NULL },
	{ "replies", "trusted_authserv_id", "", NULL },
	{ "replies", "trusted_authserv_id", "mx.police.example; dmarc=pass", "is not an authserv-id" },
	{ "replies", "trusted_authserv_id", "mx.police.example mx2", "is not an authserv-id" },
	{ "replies", "trusted_authserv_id", "\"mx.police.example\"", "is not an authserv-id" },
	{ "replies", "trusted_authserv_id", "মেইল.example", "is not an authserv-id" },
	{ "replies", "url", "imap://x", "unknown key here; it belongs in [imap] or [smtp]" },
	{ "station", "officers", "*@*.police.example, Duty?@x.example", NULL },
	{ "station", "officers", "oc@police.example; dc@police.example", "not an address or pattern" },
	{ "station", "officers", "@police.example", "not an address or pattern" },
	{ "station", "number_patterns", "(?<n>\\d+)", NULL },
	{ "station", "number_patterns", "No\\.\\s*(\\d+); [", "pattern 2 does not compile" },
	{ "station", "deliver", "maildir:", "is not a delivery" },
	{ "station", "deliver", "IMAP", "is not a delivery" },
	{ "station", "escalate_to", "", NULL },
	{ "station", "escalate_to", "dc@police.example", "is set, but [smtp] url is not" },
	{ "station", "escalate_late_to", "jtcp@police.example", "is set, but [smtp] url is not" },
	{ "station", "escalate_late_to", "jtcp", "is not a mail address" },
	{ "station", "sla_hours", "12", NULL },
	{ "station", "sla_hours", "0", "from 1 to 720" },
	{ "station", "folder", "INBOX.Complaints", NULL },
	{ "station", "name", "\xe0\xa6\xad\xe0\xa6\xac\xe0\xa6\xbe\xe0\xa6\xa8\xe0\xa7\x80", NULL },
	{ "station", "name", "\xff\xfe", "not valid UTF-8" },
	{ "station", "emails", "x@y.example", "unknown key" },
	{ "station", "listen", "127.0.0.1:1", "unknown key here; it belongs in [webhook]" },
	{ "bridge", "officers", "x@y.example", "unknown key here; it belongs in [station:NAME]" },
};

static void test_key_cases(void)
{
	g_autofree char *dir = tmpdir_new();
	for (size_t i = 0; i < G_N_ELEMENTS(key_cases); i++) {
		/* the case's key goes last into a small valid config */
		const char *group = key_cases[i].group;
		g_autoptr(GString) text = g_string_new(NULL);
		g_string_append_printf(text, "[bridge]\nstate = %s/state.db\n", dir);
		if (strcmp(group, "bridge") != 0)
			g_string_append(text, "[whatsapp]\ndry_run = true\n");
		if (strcmp(group, "station") == 0)
			g_string_append(text, "[station:x]\nname = X\ncode = XX\n"
				       "phone_number_id = 1\n");
		else if (strcmp(group, "bridge") != 0 && strcmp(group, "whatsapp") != 0)
			g_string_append_printf(text, "[%s]\n", group);
		if (strcmp(key_cases[i].key, "name") == 0)
			g_string_replace(text, "name = X\n", "", 1);
		g_string_append_printf(text, "%s = %s\n", key_cases[i].key, key_cases[i].value);
		if (strcmp(group, "bridge") == 0)
			g_string_append(text, "[whatsapp]\ndry_run = true\n");
		g_autofree char *path = write_file(dir, "case.conf", text->str, 0644);
		g_autoptr(GPtrArray) problems = check(path);
		g_autofree char *shown = g_strescape(key_cases[i].value, NULL);
		g_test_message("case %zu: [%s] %s = %s", i, group, key_cases[i].key, shown);
		if (key_cases[i].problem == NULL) {
			assert_no_problems(problems);
			continue;
		}
		g_autofree char *needle = g_strdup_printf("] %s: ", key_cases[i].key);
		assert_problem(problems, needle);
		assert_problem(problems, key_cases[i].problem);
		g_assert_cmpuint(problems->len, ==, 1);
	}
	rm_rf(dir);
}

/* ---- syntax errors ----------------------------------------------------------------------- */

static void test_syntax_errors(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *path = write_file(dir, "syntax.conf",
		"[bridge]\n"                          /* 1 */
		"domain = wa.police.example\n"        /* 2 */
		"\n"                                  /* 3 */
		"# a comment\n"                       /* 4 */
		"this line is junk SecretInJunk\n"    /* 5 */
		"timezone = Nowhere/Atlantis\n"       /* 6 */
		"[whatsapp]\n"                        /* 7 */
		"dry_run = true\n"                    /* 8 */
		"[station:broken\n"                   /* 9 */
		"code = BRK\n"                        /* 10 */
		"[webhook]\n"                         /* 11 */
		"; an ini-style comment\n"            /* 12 */
		"=SecretAfterEquals\n"                /* 13 */
		"listen = 127.0.0.1:8080\n",          /* 14 */
		0644);
	g_autoptr(GPtrArray) problems = check(path);
	g_autofree char *l5 = g_strconcat(path, ": line 5: not a [group], a key = value", NULL);
	g_autofree char *l9 = g_strconcat(path, ": line 9: not a valid [group] line", NULL);
	g_autofree char *l12 = g_strconcat(path, ": line 12: not a comment: comments start "
					   "with #", NULL);
	g_autofree char *l13 = g_strconcat(path, ": line 13: not a valid key = value line", NULL);
	assert_problem(problems, l5);
	assert_problem(problems, l9);
	assert_problem(problems, l12);
	assert_problem(problems, l13);
	/* and it went on to check the values */
	assert_problem(problems, "[bridge] timezone: unknown time zone \"Nowhere/Atlantis\"");
	g_assert_cmpuint(problems->len, ==, 5);
	for (guint i = 0; i < problems->len; i++) {
		g_assert_null(strstr(problems->pdata[i], "SecretInJunk"));
		g_assert_null(strstr(problems->pdata[i], "SecretAfterEquals"));
	}

	g_autofree char *nogroup = write_file(dir, "nogroup.conf",
					      "domain = x.example\n[bridge]\n", 0644);
	g_autoptr(GPtrArray) p2 = check(nogroup);
	assert_problem(p2, ": line 1: a key before the first [group]");

	g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
	g_autoptr(GPtrArray) p3 = check(missing);
	assert_problem(p3, ": cannot read: ");
	g_assert_cmpuint(p3->len, ==, 1);
	rm_rf(dir);
}

/* The checker on a text gives the problems it gives on the same text in a file. */
static void test_check_text(void)
{
	g_autofree char *dir = tmpdir_new();
	g_free(write_file(dir, "app_secret_0644", "LeakedSecret-0644\n", 0644));
	g_free(write_file(dir, "access_token", "GoodTokenSecret-55\n", 0600));
	write_full_secrets(dir);
	const char *const texts[] = { bad_conf, full_conf, "[bridge]\njunk\n[x\n", "", NULL };
	for (size_t i = 0; texts[i]; i++) {
		g_autofree char *path = write_config(dir, "same.conf", texts[i]);
		g_autofree char *text = NULL;
		gsize len = 0;
		g_assert_true(g_file_get_contents(path, &text, &len, NULL));
		g_autoptr(GPtrArray) from_file = check(path);
		g_autoptr(GPtrArray) from_text = g_ptr_array_new_with_free_func(g_free);
		g_assert_cmpint(wb_config_check_text(path, text, len, from_text), ==,
				from_file->len == 0);
		g_autofree char *a = joined(from_file), *b = joined(from_text);
		g_assert_cmpstr(a, ==, b);
	}
	g_autoptr(GPtrArray) nul = g_ptr_array_new_with_free_func(g_free);
	g_assert_false(wb_config_check_text("t.conf", "[bridge]\0x", 10, nul));
	assert_problem(nul, "t.conf: holds a NUL byte");
	g_autoptr(GPtrArray) big = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *huge = g_malloc0(WB_MAX_CONFIG_BYTES + 1);
	g_assert_false(wb_config_check_text("t.conf", huge, WB_MAX_CONFIG_BYTES + 1, big));
	assert_problem(big, "t.conf: larger than");
	rm_rf(dir);
}

/* ---- sizes ------------------------------------------------------------------------------- */

static void test_parse_size(void)
{
	static const struct {
		const char *in;
		bool ok;
		guint64 out;
	} cases[] = {
		{ "0", true, 0 },
		{ "1024", true, 1024 },
		{ "4MiB", true, 4u << 20 },
		{ "100MiB", true, 100u << 20 },
		{ "512KiB", true, 512u << 10 },
		{ "512 KiB", true, 512u << 10 },
		{ " 2k ", true, 2048 },
		{ "2K", true, 2048 },
		{ "2KB", true, 2048 },
		{ "3m", true, 3u << 20 },
		{ "3MB", true, 3u << 20 },
		{ "1G", true, 1u << 30 },
		{ "1gib", true, 1u << 30 },
		{ "7B", true, 7 },
		{ "18446744073709551615", true, G_MAXUINT64 },
		{ "18446744073709551616", false, 0 },
		{ "17179869184GiB", false, 0 },
		{ "17179869183GiB", true, 17179869183ull << 30 },
		{ "", false, 0 },
		{ "   ", false, 0 },
		{ "-1", false, 0 },
		{ "+1", false, 0 },
		{ "1.5MiB", false, 0 },
		{ "MiB", false, 0 },
		{ "4 MiB x", false, 0 },
		{ "4MiBs", false, 0 },
		{ "4TiB", false, 0 },
		{ "0x10", false, 0 },
		{ "4Mi B", false, 0 },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		size_t out = 12345;
		g_test_message("wb_parse_size(\"%s\")", cases[i].in);
		g_assert_cmpint(wb_parse_size(cases[i].in, &out), ==, cases[i].ok);
		if (cases[i].ok)
			g_assert_cmpuint(out, ==, cases[i].out);
		else
			g_assert_cmpuint(out, ==, 12345);
	}
	size_t out;
	g_assert_false(wb_parse_size(NULL, &out));
}

/* ---- auto stations ----------------------------------------------------------------------- */

static void test_auto_stations(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *path = write_config(dir, "auto.conf",
		"[bridge]\nstate = @DIR@/data/state.db\ndomain = wa.police.example\n"
		"[whatsapp]\ndry_run = true\n");
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_true(cfg->auto_stations);
	g_assert_cmpuint(cfg->stations->len, ==, 0);

	const struct wb_station *st = wb_config_station_for(cfg, "331770000100101");
	g_assert_nonnull(st);
	g_assert_cmpstr(st->key, ==, "331770000100101");
	g_assert_cmpstr(st->code, ==, "P0101");
	g_assert_cmpstr(st->name, ==, "WhatsApp number 331770000100101");
	g_assert_cmpstr(st->phone_number_id, ==, "331770000100101");
	g_assert_cmpstr(st->address, ==, "station-331770000100101@wa.police.example");
	g_assert_cmpint(st->deliver, ==, WB_DELIVER_MAILDIR);
	g_assert_null(st->maildir);
	g_assert_cmpstr(st->folder, ==, "INBOX");
	g_assert_nonnull(st->officers);
	g_assert_nonnull(st->number_patterns);
	g_assert_true(st->is_auto);
	g_assert_true(wb_config_station_for(cfg, "331770000100101") == st);
	g_assert_true(wb_config_station_by_key(cfg, "331770000100101") == st);

	/* the same last four digits: the code takes more of them */
	const struct wb_station *st2 = wb_config_station_for(cfg, "999990000990101");
	g_assert_nonnull(st2);
	g_assert_cmpstr(st2->code, ==, "P90101");
	const struct wb_station *shortid = wb_config_station_for(cfg, "42");
	g_assert_nonnull(shortid);
	g_assert_cmpstr(shortid->code, ==, "P42");

	static const char *const refused[] = {
		"", "12ab", "-1", "331770000100101 ", "../../etc", "1234567890123456789012345678901234",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(refused); i++)
		g_assert_null(wb_config_station_for(cfg, refused[i]));
	g_assert_null(wb_config_station_for(cfg, NULL));
	g_assert_nonnull(wb_config_station_for(cfg, "12345678901234567890123456789012"));
	/* the loaded configuration itself never changes: auto stations live apart */
	g_assert_cmpuint(cfg->stations->len, ==, 0);
	g_assert_true(wb_config_station_stored(cfg, "999990000990101") == st2);
	g_assert_null(wb_config_station_by_key(cfg, "331770000100102"));
	const struct wb_station *again = wb_config_station_stored(cfg, "331770000100102");
	g_assert_nonnull(again);
	g_assert_cmpstr(again->code, ==, "P0102");
	wb_config_free(cfg);
	rm_rf(dir);
}

/* Several threads (the worker and the replies watcher in serve) meet new numbers at
 * once: each number becomes one station, every code stays unique, and no lookup sees
 * a half-made station. */
#define RACE_THREADS 6
#define RACE_IDS 300

struct race {
	const struct wb_config *cfg;
	unsigned seed;
	const struct wb_station *seen[RACE_IDS];
};

static gpointer race_main(gpointer data)
{
	struct race *r = data;
	for (unsigned k = 0; k < RACE_IDS; k++) {
		unsigned i = (k * 7 + r->seed * 31) % RACE_IDS; /* each thread in its own order */
		char id[32];
		g_snprintf(id, sizeof id, "3317700%08u", i * 10000u + 101u);
		const struct wb_station *st = (k + r->seed) % 3 == 0
			? wb_config_station_stored(r->cfg, id) : wb_config_station_for(r->cfg, id);
		g_assert_nonnull(st);
		g_assert_cmpstr(st->phone_number_id, ==, id);
		g_assert_true(wb_config_station_by_key(r->cfg, id) == st);
		r->seen[i] = st;
	}
	return NULL;
}

static void test_auto_stations_threads(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *path = write_config(dir, "auto.conf",
		"[bridge]\nstate = @DIR@/data/state.db\n[whatsapp]\ndry_run = true\n");
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	struct race races[RACE_THREADS];
	GThread *threads[RACE_THREADS];
	for (unsigned t = 0; t < RACE_THREADS; t++) {
		races[t] = (struct race){ .cfg = cfg, .seed = t };
		threads[t] = g_thread_new("race", race_main, &races[t]);
	}
	for (unsigned t = 0; t < RACE_THREADS; t++)
		g_thread_join(threads[t]);
	g_autoptr(GHashTable) codes = g_hash_table_new(g_str_hash, g_str_equal);
	for (unsigned i = 0; i < RACE_IDS; i++) {
		for (unsigned t = 1; t < RACE_THREADS; t++)
			g_assert_true(races[t].seen[i] == races[0].seen[i]);
		g_assert_true(g_hash_table_add(codes, races[0].seen[i]->code));
	}
	g_assert_cmpuint(cfg->stations->len, ==, 0);
	wb_config_free(cfg);
	rm_rf(dir);
}

/* ---- templates, loaded with the configuration ------------------------------------------- */

static void test_templates(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *tdir = g_build_filename(dir, "tpl", NULL);
	g_autofree char *mail = write_file(tdir, "mail.txt", "restyled {{text}}\n", 0644);
	g_autofree char *path = write_config(dir, "tpl.conf",
		"[bridge]\nstate = @DIR@/data/state.db\ntemplates = @DIR@/tpl\n"
		"[whatsapp]\ndry_run = true\n");
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_nonnull(cfg->tpl);
	g_assert_cmpstr(cfg->tpl->text, ==, "restyled {{text}}\n");
	g_assert_nonnull(cfg->tpl->html); /* missing from the directory: the built-in one */
	g_assert_nonnull(strstr(cfg->tpl->citizen_registered[WB_LANG_BN], "{{number}}"));
	wb_config_free(cfg);

	/* a broken template is a problem of the configuration, found by check-config */
	g_assert_true(g_file_set_contents(mail, "bad \xff byte\n", -1, NULL));
	g_autoptr(GPtrArray) problems = check(path);
	assert_problem(problems, "[bridge] templates: template ");
	assert_problem(problems, "mail.txt is not valid UTF-8");
	cfg = wb_config_load(path, &err);
	g_assert_null(cfg);
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, "[bridge] templates"));
	g_clear_error(&err);
	/* ...but it does not stop the commands that render nothing (ingest, status) */
	cfg = wb_config_load_no_templates(path, &err);
	g_assert_no_error(err);
	g_assert_nonnull(cfg);
	g_assert_null(cfg->tpl);
	wb_config_free(cfg);
	rm_rf(dir);
}

/* ---- the serious-crime list, loaded with the templates --------------------------------- */

static void test_serious_list(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *list = write_file(dir, "serious.txt", "# ours\nmurder\nkidnap*\n", 0644);
	g_autofree char *path = write_config(dir, "serious.conf",
		"[bridge]\nstate = @DIR@/data/state.db\nserious_keywords_file = @DIR@/serious.txt\n"
		"[whatsapp]\ndry_run = true\n");
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(wb_serious_count(cfg->serious), ==, 2);
	g_auto(GStrv) m = wb_serious_match(cfg->serious, "they kidnapped him");
	g_assert_nonnull(m);
	g_assert_cmpstr(m[0], ==, "kidnap*");
	wb_config_free(cfg);

	/* unset: the built-in list */
	g_autofree char *plain = write_config(dir, "plain.conf",
		"[bridge]\nstate = @DIR@/data/state.db\n[whatsapp]\ndry_run = true\n");
	cfg = wb_config_load(plain, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(wb_serious_count(cfg->serious), >, 400);
	wb_config_free(cfg);

	/* a broken line is a problem of the key, naming FILE:LINE */
	g_assert_true(g_file_set_contents(list, "murder\nmur*der\n\xff\n", -1, NULL));
	g_autoptr(GPtrArray) problems = check(path);
	assert_problem(problems, "[bridge] serious_keywords_file: ");
	g_autofree char *line2 = g_strconcat(list, ":2: a * may only begin or end", NULL);
	g_autofree char *line3 = g_strconcat(list, ":3: not valid UTF-8", NULL);
	assert_problem(problems, line2);
	assert_problem(problems, line3);
	cfg = wb_config_load(path, &err);
	g_assert_null(cfg);
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, line2));
	g_clear_error(&err);
	/* ...which does not stop the commands that send nothing */
	cfg = wb_config_load_no_templates(path, &err);
	g_assert_no_error(err);
	g_assert_null(cfg->serious);
	wb_config_free(cfg);

	/* a file that is not there is the key's problem as before */
	g_assert_cmpint(g_unlink(list), ==, 0);
	g_autoptr(GPtrArray) gone = check(path);
	assert_problem(gone, "[bridge] serious_keywords_file: ");
	rm_rf(dir);
}

/* ---- the generated reply secret --------------------------------------------------------- */

static void test_token_secret(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *path = write_config(dir, "t.conf",
		"[bridge]\nstate = @DIR@/data/state.db\n[whatsapp]\ndry_run = true\n");
	g_autofree char *secret = g_build_filename(dir, "data", "reply_secret", NULL);

	/* check-config does not create it */
	g_autoptr(GPtrArray) problems = check(path);
	assert_no_problems(problems);
	g_assert_false(g_file_test(secret, G_FILE_TEST_EXISTS));

	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_true(is_hex64(cfg->token_secret));
	g_assert_cmpuint(mode_of(secret), ==, 0600);
	g_autofree char *text = read_text(secret);
	g_autofree char *expect = g_strconcat(cfg->token_secret, "\n", NULL);
	g_assert_cmpstr(text, ==, expect);
	g_autofree char *first = g_strdup(cfg->token_secret);
	wb_config_free(cfg);

	/* no temporary file is left behind */
	g_autofree char *data = g_build_filename(dir, "data", NULL);
	GDir *d = g_dir_open(data, 0, NULL);
	g_assert_nonnull(d);
	g_assert_cmpstr(g_dir_read_name(d), ==, "reply_secret");
	g_assert_null(g_dir_read_name(d));
	g_dir_close(d);

	cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(cfg->token_secret, ==, first);
	wb_config_free(cfg);

	/* a secret others can read is refused, by load and by check */
	g_assert_cmpint(g_chmod(secret, 0640), ==, 0);
	cfg = wb_config_load(path, &err);
	g_assert_null(cfg);
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, "[replies] token_secret_file: not set"));
	g_assert_nonnull(strstr(err->message, "readable by group or others (mode 0640)"));
	g_assert_null(strstr(err->message, first));
	g_autoptr(GPtrArray) p2 = check(path);
	assert_problem(p2, "run chmod 600");
	rm_rf(dir);
}

/* ---- secret files ----------------------------------------------------------------------- */

static void test_secret_files(void)
{
	g_autofree char *dir = tmpdir_new();
	static const struct {
		const char *content;
		int mode;
		const char *problem; /* NULL: the secret is "s3cret" */
	} cases[] = {
		{ "s3cret\n", 0600, NULL },
		{ "s3cret", 0400, NULL },
		{ "s3cret  \r\n\nmore\n", 0600, NULL },
		{ "s3cret\n", 0640, "readable by group or others (mode 0640); run chmod 600" },
		{ "s3cret\n", 0604, "readable by group or others (mode 0604)" },
		{ "s3cret\n", 0620, "accessible by group or others (mode 0620)" },
		{ "", 0600, "is empty" },
		{ " \r\n", 0600, "is empty" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *secret = write_file(dir, "secret", cases[i].content, cases[i].mode);
		g_autofree char *path = write_config(dir, "s.conf",
			"[bridge]\nstate = @DIR@/state.db\n"
			"[whatsapp]\ndry_run = true\n"
			"[webhook]\napp_secret_file = @DIR@/secret\n"
			"[replies]\ntoken_secret_file = @DIR@/secret\n");
		g_autoptr(GError) err = NULL;
		struct wb_config *cfg = wb_config_load(path, &err);
		g_test_message("secret case %zu", i);
		if (cases[i].problem == NULL) {
			g_assert_no_error(err);
			g_assert_cmpstr(cfg->app_secret, ==, "s3cret");
			wb_config_free(cfg);
		} else {
			g_assert_null(cfg);
			g_assert_nonnull(strstr(err->message, cases[i].problem));
			g_assert_nonnull(strstr(err->message, "[webhook] app_secret_file: "));
			g_assert_null(strstr(err->message, "s3cret"));
		}
		g_unlink(secret);
	}

	/* too big, a directory, a FIFO (must not block) */
	g_autofree char *big = g_strnfill(WB_MAX_SECRET_BYTES + 1, 'x');
	g_free(write_file(dir, "big", big, 0600));
	g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	g_autofree char *path = write_config(dir, "s.conf",
		"[whatsapp]\ndry_run = true\naccess_token_file = @DIR@/big\n"
		"[webhook]\napp_secret_file = @DIR@\nverify_token_file = @DIR@/fifo\n");
	g_autoptr(GPtrArray) problems = check(path);
	assert_problem(problems, "[whatsapp] access_token_file: ");
	assert_problem(problems, "is larger than 4096 bytes");
	assert_problem(problems, "[webhook] app_secret_file: ");
	assert_problem(problems, "[webhook] verify_token_file: ");
	assert_problem(problems, "is not a regular file");
	g_assert_cmpuint(problems->len, ==, 3);
	rm_rf(dir);
}

/* ---- network rules (tls.h): plain text, unsigned webhooks ------------------------------ */

static const struct {
	const char *text;    /* groups after [bridge] and [whatsapp]; SECRET: a secret file */
	const char *problem; /* a problem that must be there, NULL: none at all */
	const char *warning; /* a warning that must be there, NULL: none at all */
	const char *note;    /* a note that must be there, NULL: not looked at */
} net_cases[] = {
	{ "[webhook]\nlisten = 0.0.0.0:8080\n",
	  "[webhook] app_secret_file: not set, but listen = 0.0.0.0:8080 is not a loopback "
	  "address", NULL, NULL },
	{ "[webhook]\nlisten = [::]:8080\n", "or listen on 127.0.0.1", NULL, NULL },
	{ "[webhook]\nlisten = mail.police.example:8080\n", "allow_unsigned = true", NULL, NULL },
	{ "[webhook]\nlisten = 0.0.0.0:8080\nallow_unsigned = true\n", NULL,
	  "[webhook] allow_unsigned: true, and listen = 0.0.0.0:8080 is not a loopback address: "
	  "signature checking is OFF", NULL },
	{ "[webhook]\nlisten = 0.0.0.0:8080\napp_secret_file = SECRET\n", NULL, NULL, NULL },
	{ "[webhook]\nlisten = 127.0.0.2:8080\n", NULL, NULL, NULL },
	{ "[webhook]\nlisten = localhost:8080\nallow_unsigned = true\n", NULL, NULL, NULL },
	{ "[webhook]\nlisten = [::1]:8080\n", NULL, NULL, NULL },
	/* an SMTP login needs both halves; escalation needs a mail server */
	{ "[smtp]\nurl = smtp://127.0.0.1:25\nuser = wabridge\n",
	  "[smtp] password_file: not set, but user is", NULL, NULL },
	{ "[smtp]\nurl = smtp://127.0.0.1:25\npassword_file = SECRET\n",
	  "[smtp] user: not set, but password_file is", NULL, NULL },
	{ "[smtp]\nurl = smtp://127.0.0.1:25\nuser = wabridge\npassword_file = SECRET\n",
	  NULL, NULL, NULL },
	{ "[smtp]\nurl = smtps://mail.police.example\nca_file = SECRET\n", NULL, NULL, NULL },
	{ "[webhook]\nallow_unsigned = maybe\n", "[webhook] allow_unsigned: \"maybe\" is not a "
	  "boolean", NULL, NULL },
	{ "[imap]\nurl = imap://mail.police.example\n", NULL, NULL,
	  "[imap] url: imap://mail.police.example: STARTTLS required (not a loopback host), "
	  "certificate verified against the system CAs for mail.police.example; a server "
	  "without STARTTLS is refused before any login" },
	{ "[imap]\nurl = imap://mail.police.example\nallow_plaintext = true\n", NULL,
	  "[imap] allow_plaintext: true, and mail.police.example is not a loopback host: when "
	  "the server offers no STARTTLS, the mailbox passwords and every complaint mail cross "
	  "the network unencrypted", "plain text when it does not (allow_plaintext = true)" },
	{ "[imap]\nurl = imap://127.0.0.1:143\nallow_plaintext = true\n", NULL, NULL,
	  "STARTTLS when the server offers it, certificate verified against the system CAs "
	  "for 127.0.0.1; plain text when it does not (loopback host)" },
	{ "[imap]\nurl = imap://localhost\n", NULL, NULL, "(loopback host)" },
	{ "[imap]\nurl = imaps://mail.police.example\nallow_plaintext = true\n", NULL, NULL,
	  "[imap] url: imaps://mail.police.example: TLS, certificate verified against the "
	  "system CAs for mail.police.example" },
	{ "[imap]\nurl = imap://mail.police.example\nallow_plaintext = true\ntls_fingerprint = "
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", NULL, NULL,
	  "STARTTLS required (a CA or pin is set), certificate pinned by tls_fingerprint" },
	{ "[imap]\nurl = imap://127.0.0.1\nca_file = SECRET\n", NULL, NULL,
	  "STARTTLS required (a CA or pin is set), certificate verified against " },
	{ "[imap]\nallow_plaintext = 1\n", NULL, NULL, NULL },
	{ "[smtp]\nurl = smtp://mail.police.example:25\n", NULL, NULL,
	  "[smtp] url: smtp://mail.police.example:25: STARTTLS required (not a loopback host)" },
	{ "[smtp]\nurl = smtp://mail.police.example:25\nallow_plaintext = yes\n", NULL,
	  "[smtp] allow_plaintext: true, and mail.police.example is not a loopback host: when "
	  "the server offers no STARTTLS, the SMTP login and every escalation mail cross the "
	  "network unencrypted; use smtps://", NULL },
	{ "[smtp]\nurl = smtp://[::1]:25\nallow_plaintext = true\n", NULL, NULL,
	  "(loopback host)" },
	{ "[smtp]\nurl = smtps://mail.police.example\n", NULL, NULL,
	  "[smtp] url: smtps://mail.police.example: TLS, certificate verified against the "
	  "system CAs for mail.police.example" },
	{ "[smtp]\nurl = smtp://mail.police.example\nallow_plaintext = sometimes\n",
	  "[smtp] allow_plaintext: \"sometimes\" is not a boolean", NULL, NULL },
};

static void assert_lines(GPtrArray *lines, const char *needle, const char *what)
{
	if (needle != NULL) {
		assert_problem(lines, needle);
		g_assert_cmpuint(lines->len, ==, 1);
	} else if (lines->len > 0) {
		g_autofree char *all = joined(lines);
		g_error("unexpected %s:\n%s", what, all);
	}
}

static void test_network_rules(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *secret = write_file(dir, "secret", "s3cret\n", 0600);
	for (size_t i = 0; i < G_N_ELEMENTS(net_cases); i++) {
		g_autoptr(GString) text = g_string_new(NULL);
		g_string_printf(text, "[bridge]\nstate = %s/state.db\n[whatsapp]\ndry_run = true\n%s",
				dir, net_cases[i].text);
		g_string_replace(text, "SECRET", secret, 0);
		g_autofree char *path = write_file(dir, "net.conf", text->str, 0644);
		g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
		g_test_message("case %zu: %s", i, net_cases[i].text);
		bool ok = wb_config_check(path, problems, warnings, notes);
		g_assert_cmpint(ok, ==, net_cases[i].problem == NULL);
		assert_lines(problems, net_cases[i].problem, "problems");
		assert_lines(warnings, net_cases[i].warning, "warnings");
		if (net_cases[i].note != NULL)
			assert_problem(notes, net_cases[i].note);
		g_autofree char *prefix = g_strconcat(path, ": [", NULL);
		for (guint j = 0; j < warnings->len; j++)
			g_assert_true(g_str_has_prefix(warnings->pdata[j], prefix));
	}
	rm_rf(dir);
}

/* A loaded configuration keeps its warnings, for serve to log them. */
static void test_load_warnings(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *text = g_strdup_printf("[bridge]\nstate = %s/state.db\n[whatsapp]\n"
						"dry_run = true\n[imap]\nurl = imap://10.0.0.5\n"
						"allow_plaintext = true\n", dir);
	g_autofree char *path = write_file(dir, "w.conf", text, 0644);
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_true(cfg->imap_allow_plaintext);
	g_assert_false(cfg->smtp_allow_plaintext);
	g_assert_false(cfg->allow_unsigned);
	g_assert_cmpuint(g_strv_length(cfg->warnings), ==, 1);
	g_assert_nonnull(strstr(cfg->warnings[0], "[imap] allow_plaintext: true, and 10.0.0.5"));
	wb_config_free(cfg);
	rm_rf(dir);
}

/* ---- the shipped example ----------------------------------------------------------------- */

/* Every key of SPEC §4 must be shown in the example. */
static const char *const spec_keys[] = {
	"state", "domain", "timezone", "default_language", "sla_hours", "complaint_idle_days",
	"templates", "serious_keywords_file", "send_ack", "listen", "path", "app_secret_file",
	"verify_token_file", "max_body", "api_base", "access_token_file", "dry_run",
	"template_registered", "template_language", "media_max", "ca_file", "url",
	"tls_fingerprint", "idle", "from", "mode", "imap_user", "imap_password_file", "folder",
	"address", "token_secret_file", "trusted_authserv_id", "name", "code", "phone_number_id", "deliver",
	"officers", "escalate_to", "number_patterns",
};

static void test_example(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *text = read_text(example_path);

	for (size_t i = 0; i < G_N_ELEMENTS(spec_keys); i++) {
		g_autofree char *re = g_strdup_printf("^#? ?%s =( |$)", spec_keys[i]);
		g_test_message("example shows %s", spec_keys[i]);
		g_assert_true(g_regex_match_simple(re, text, G_REGEX_MULTILINE, 0));
	}

	/* point /etc/wabridge and /var/lib/wabridge into the temporary directory and give
	 * every file the example names under /etc/wabridge a private secret */
	g_autofree char *etc = g_strconcat(dir, "/etc/", NULL);
	g_autofree char *var = g_strconcat(dir, "/var/", NULL);
	g_autoptr(GRegex) names = g_regex_new("/etc/wabridge/([A-Za-z0-9._-]+)", 0, 0, NULL);
	g_autoptr(GMatchInfo) m = NULL;
	unsigned files = 0;
	for (g_regex_match(names, text, 0, &m); g_match_info_matches(m);
	     g_match_info_next(m, NULL)) {
		g_autofree char *name = g_match_info_fetch(m, 1);
		g_autofree char *secret = g_strconcat("secret-of-", name, "\n", NULL);
		g_free(write_file(etc, name, secret, 0600));
		files++;
	}
	g_assert_cmpuint(files, >=, 6);
	g_autoptr(GString) conf = g_string_new(text);
	g_string_replace(conf, "/etc/wabridge/", etc, 0);
	g_string_replace(conf, "/var/lib/wabridge/", var, 0);
	g_autofree char *path = write_file(dir, "wabridge.conf", conf->str, 0644);

	g_autoptr(GPtrArray) problems = check(path);
	assert_no_problems(problems);
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_false(cfg->dry_run);
	g_assert_false(cfg->auto_stations);
	g_assert_cmpstr(cfg->app_secret, ==, "secret-of-app_secret");
	g_assert_cmpstr(cfg->domain, ==, "wa.police.example");

	static const struct { const char *key, *code, *id; } stations[] = {
		{ "bhowanipore", "BHP", "331770000100101" },
		{ "jadavpur", "JDP", "331770000200202" },
		{ "park-street", "PST", "331770000300303" },
		{ "gariahat", "GRH", "331770000400404" },
		{ "tollygunge", "TLG", "331770000500505" },
	};
	g_assert_cmpuint(cfg->stations->len, ==, G_N_ELEMENTS(stations));
	for (size_t i = 0; i < G_N_ELEMENTS(stations); i++) {
		const struct wb_station *st = wb_config_station_for(cfg, stations[i].id);
		g_assert_nonnull(st);
		g_assert_cmpstr(st->key, ==, stations[i].key);
		g_assert_cmpstr(st->code, ==, stations[i].code);
		g_assert_nonnull(st->name);
	}
	const struct wb_station *bhp = wb_config_station_by_key(cfg, "bhowanipore");
	g_assert_cmpstr(bhp->imap_password, ==, "secret-of-bhowanipore.pass");
	g_assert_cmpuint(g_strv_length(bhp->number_patterns), ==, 2);
	wb_config_free(cfg);
	rm_rf(dir);
}

/* ---- a thousand stations ------------------------------------------------------------------ */

#define MANY 1000u

/* The [station:sNNNN] group of station i (from 1): its own mailbox login, code, number. */
static void many_station(GString *conf, guint i, const char *pass)
{
	g_string_append_printf(conf,
		"[station:s%04u]\n"
		"name = Station %u\n"
		"code = S%04u\n"
		"phone_number_id = %u\n"
		"address = s%04u@police.example\n"
		"deliver = imap\n"
		"imap_user = s%04u\n"
		"imap_password_file = %s\n"
		"officers = *@s%04u.police.example\n"
		"\n", i, i, i, 331770000u + i, i, i, pass, i);
}

/* A configuration of n stations; the line of each group goes into lines[i] (i from 1)
 * when lines is not NULL. */
static char *many_conf_of(const char *dir, guint n, guint *lines)
{
	g_autofree char *pass = write_file(dir, "station.pass", "secret\n", 0600);
	GString *conf = g_string_new(NULL);
	g_string_append_printf(conf, "[bridge]\nstate = %s/state.db\ndomain = wa.police.example\n"
			       "\n[whatsapp]\ndry_run = true\n\n[imap]\nurl = imap://127.0.0.1:1143\n\n",
			       dir);
	guint line = 1;
	for (const char *p = conf->str; *p; p++)
		line += *p == '\n';
	for (guint i = 1; i <= n; i++) {
		gsize from = conf->len;
		if (lines != NULL)
			lines[i] = line;
		many_station(conf, i, pass);
		for (const char *p = conf->str + from; *p; p++)
			line += *p == '\n';
	}
	return g_string_free(conf, FALSE);
}

static char *many_conf(const char *dir, guint *lines)
{
	return many_conf_of(dir, MANY, lines);
}

/* One station more than the most a configuration may have (a large state's force fits
 * with room to spare) is the one problem, and it says the limit. */
static void test_many_stations_cap(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *over = many_conf_of(dir, WB_MAX_STATIONS + 1, NULL);
	g_autofree char *path = write_file(dir, "wabridge.conf", over, 0644);
	g_autoptr(GPtrArray) problems = check(path);
	g_autofree char *all = joined(problems);
	g_test_message("problems:\n%s", all);
	g_assert_cmpuint(problems->len, ==, 1);
	g_autofree char *want = g_strdup_printf("%u stations; at most %u are supported",
						WB_MAX_STATIONS + 1, WB_MAX_STATIONS);
	g_assert_nonnull(strstr(all, want));
	rm_rf(dir);
}

/* A thousand stations load, and each is found by number, key and code (hash tables). */
static void test_many_stations(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *text = many_conf(dir, NULL);
	g_autofree char *path = write_file(dir, "wabridge.conf", text, 0644);

	g_autoptr(GPtrArray) problems = check(path);
	assert_no_problems(problems);
	g_autoptr(GError) err = NULL;
	struct wb_config *cfg = wb_config_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(cfg->stations->len, ==, MANY);
	g_assert_cmpint(cfg->imap_max_connections, ==, 16);
	g_assert_null(cfg->warnings[0]);
	for (guint i = 1; i <= MANY; i++) {
		g_autofree char *id = g_strdup_printf("%u", 331770000u + i);
		g_autofree char *key = g_strdup_printf("s%04u", i);
		g_autofree char *code = g_strdup_printf("s%04u", i); /* any case */
		const struct wb_station *st = wb_config_station_for(cfg, id);
		g_assert_nonnull(st);
		g_assert_cmpstr(st->key, ==, key);
		g_assert_true(wb_config_station_by_key(cfg, key) == st);
		g_assert_true(wb_config_station_by_code(cfg, code) == st);
		g_assert_cmpstr(st->imap_user, ==, key);
	}
	g_assert_null(wb_config_station_for(cfg, "331770000"));
	g_assert_null(wb_config_station_by_code(cfg, "S1001"));
	g_assert_null(wb_config_station_by_code(cfg, "S00010000"));
	wb_config_free(cfg);
	rm_rf(dir);
}

/* A duplicate among a thousand stations names both groups and both lines; so does a
 * mailbox two stations share (a warning), and every problem says its line. */
static void test_many_stations_duplicates(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree guint *lines = g_new0(guint, MANY + 1);
	g_autofree char *text = many_conf(dir, lines);
	g_autoptr(GString) conf = g_string_new(text);
	/* station 777 takes the number of station 5, 900 the code of 10, 400 the login of 300,
	 * and 612 a bad folder */
	g_string_replace(conf, "phone_number_id = 331770777\n", "phone_number_id = 331770005\n", 1);
	g_string_replace(conf, "code = S0900\n", "code = S0010\n", 1);
	g_string_replace(conf, "imap_user = s0400\n", "imap_user = s0300\n", 1);
	g_string_replace(conf, "imap_user = s0612\n", "imap_user = s0612\nfolder = \x01\n", 1);
	g_autofree char *path = write_file(dir, "wabridge.conf", conf->str, 0644);

	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_assert_false(wb_config_check(path, problems, warnings, NULL));
	g_autofree char *all = joined(problems);
	g_test_message("problems:\n%s", all);
	g_assert_cmpuint(problems->len, ==, 3);
	/* the key is the 4th line of a group: [station:…], name, code, phone_number_id; the
	 * folder line added to station 612 moves the later ones down by one */
	g_autofree char *pnid = g_strdup_printf(
		"%s: [station:s0777] phone_number_id: 331770005 is also the phone_number_id of "
		"[station:s0005] on line %u; each number belongs to one station (line %u)",
		path, lines[5] + 3, lines[777] + 3 + 1);
	g_autofree char *code = g_strdup_printf(
		"%s: [station:s0900] code: S0010 is also the code of [station:s0010] on line %u; "
		"every station needs its own (line %u)", path, lines[10] + 2, lines[900] + 2 + 1);
	g_autofree char *folder = g_strdup_printf("(line %u)", lines[612] + 7);
	assert_problem(problems, pnid);
	assert_problem(problems, code);
	assert_problem(problems, "[station:s0612] folder: ");
	assert_problem(problems, folder);
	g_assert_cmpuint(warnings->len, ==, 1);
	g_assert_nonnull(strstr(warnings->pdata[0], "[station:s0400] imap_user: delivers into "
				"the same mailbox (imap_user s0300, folder INBOX) as [station:s0300]"));
	g_autofree char *at = g_strdup_printf("on line %u", lines[300]);
	g_assert_nonnull(strstr(warnings->pdata[0], at));
	rm_rf(dir);
}

/* Where a problem is: the line of the key, or of the group for a key left out; a key
 * set twice names its two lines and no third. */
static void test_problem_lines(void)
{
	g_autofree char *dir = tmpdir_new();
	g_autofree char *path = write_file(dir, "lines.conf",
		"# line 1\n"
		"[bridge]\n"
		"state = /tmp/x/state.db\n"
		"sla_hours = many\n"                /* 4 */
		"\n"
		"[imap]\n"
		"max_connections = 0\n"             /* 7 */
		"\n"
		"[station:a]\n"                     /* 9 */
		"name = A\n"
		"code = AA\n"
		"code = AB\n"                       /* 12 */
		"[whatsapp]\n"
		"dry_run = true\n", 0644);
	g_autoptr(GPtrArray) problems = check(path);
	g_autofree char *all = joined(problems);
	g_test_message("problems:\n%s", all);
	assert_problem(problems, "[bridge] sla_hours: \"many\" is not a whole number");
	assert_problem(problems, "fix it (line 4)");
	assert_problem(problems, "[imap] max_connections: \"0\" is not a whole number from 1 "
		       "to 512; fix it (line 7)");
	assert_problem(problems, "[station:a] phone_number_id: missing; every station needs a "
		       "phone_number_id (its group starts on line 9)");
	assert_problem(problems, "[station:a] code: set twice (lines 11 and 12), and only the "
		       "last one counts; delete one");
	for (guint i = 0; i < problems->len; i++)
		if (strstr(problems->pdata[i], "set twice") != NULL)
			g_assert_true(g_str_has_suffix(problems->pdata[i], "delete one"));
	rm_rf(dir);
}

/* ---- choosing the file ------------------------------------------------------------------- */

static void test_choose_path(void)
{
	g_autofree char *saved = g_strdup(g_getenv("WABRIDGE_CONFIG"));
	g_assert_cmpstr(wb_config_choose_path("/x/explicit.conf"), ==, "/x/explicit.conf");
	g_setenv("WABRIDGE_CONFIG", "/x/env.conf", TRUE);
	g_assert_cmpstr(wb_config_choose_path("/x/explicit.conf"), ==, "/x/explicit.conf");
	g_assert_cmpstr(wb_config_choose_path(NULL), ==, "/x/env.conf");
	g_setenv("WABRIDGE_CONFIG", "", TRUE);
	const char *fallback = g_file_test("/etc/wabridge/wabridge.conf", G_FILE_TEST_EXISTS)
			       ? "/etc/wabridge/wabridge.conf" : NULL;
	g_assert_cmpstr(wb_config_choose_path(NULL), ==, fallback);
	g_unsetenv("WABRIDGE_CONFIG");
	g_assert_cmpstr(wb_config_choose_path(NULL), ==, fallback);
	if (saved != NULL)
		g_setenv("WABRIDGE_CONFIG", saved, TRUE);
}

/* The example is found from $WB_TOP (set by tests/run-all.sh) or the working directory. */
static char *find_example(void)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *path = g_build_filename(top ? top : ".", "contrib",
						 "wabridge.conf.example", NULL);
	return g_file_test(path, G_FILE_TEST_IS_REGULAR) ? g_canonicalize_filename(path, NULL) : NULL;
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	example_path = find_example();
	if (example_path == NULL)
		g_error("contrib/wabridge.conf.example not found; run from the top of the tree "
			"or set WB_TOP");
	g_test_add_func("/config/embedded-defaults", test_embedded_defaults);
	g_test_add_func("/config/full", test_full_config);
	g_test_add_func("/config/many-problems", test_many_problems);
	g_test_add_func("/config/key-cases", test_key_cases);
	g_test_add_func("/config/syntax-errors", test_syntax_errors);
	g_test_add_func("/config/check-text", test_check_text);
	g_test_add_func("/config/parse-size", test_parse_size);
	g_test_add_func("/config/auto-stations", test_auto_stations);
	g_test_add_func("/config/auto-stations/threads", test_auto_stations_threads);
	g_test_add_func("/config/templates", test_templates);
	g_test_add_func("/config/serious-list", test_serious_list);
	g_test_add_func("/config/token-secret", test_token_secret);
	g_test_add_func("/config/secret-files", test_secret_files);
	g_test_add_func("/config/network-rules", test_network_rules);
	g_test_add_func("/config/load-warnings", test_load_warnings);
	g_test_add_func("/config/example", test_example);
	g_test_add_func("/config/choose-path", test_choose_path);
	g_test_add_func("/config/many-stations", test_many_stations);
	g_test_add_func("/config/many-stations/duplicates", test_many_stations_duplicates);
	g_test_add_func("/config/many-stations/cap", test_many_stations_cap);
	g_test_add_func("/config/problem-lines", test_problem_lines);
	int rc = g_test_run();
	g_free(example_path);
	return rc;
}
