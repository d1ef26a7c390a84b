/* test-deliver: both delivery back ends.
 *
 * Maildir tests always run, in a temporary directory. IMAP tests against a real server
 * need the private Dovecot of tests/lib/dovecot.sh: they run when $WB_IMAP_PORT is set
 * ($WB_DOVECOT_DIR too, for doveadm checks) and are skipped otherwise. Failure modes a
 * real server will not produce on demand (quota, TOOBIG, BYE, BAD) are played by a
 * scripted fake server on loopback, so they always run.
 *
 *   sh tests/lib/dovecot.sh start /tmp/wbdc.X
 *   WB_IMAP_PORT=$(cat /tmp/wbdc.X/port) WB_DOVECOT_DIR=/tmp/wbdc.X ./test-deliver
 *   sh tests/lib/dovecot.sh stop /tmp/wbdc.X */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "deliver.h"
#include "imappool.h"
#include "imaptest.h"
#include "testlib.h"
#include "util.h"

/* ---- fixtures ------------------------------------------------------------------- */

/* A config and one station filled by hand; every string in them is owned here. */
typedef struct fx {
	struct wb_config cfg;
	struct wb_station st;
	char *dir; /* temporary directory, removed at the end */
} fx;

static void fx_free(fx *f)
{
	if (f->dir != NULL) {
		g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
		g_assert_cmpint(system(cmd), ==, 0);
	}
	g_free(f->dir);
	g_free(f->cfg.data_dir);
	g_free(f->cfg.imap_url);
	g_free(f->cfg.imap_tls_fingerprint);
	g_free(f->st.key);
	g_free(f->st.maildir);
	g_free(f->st.imap_user);
	g_free(f->st.imap_password);
	g_free(f->st.folder);
	g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(fx, fx_free)

static void set_str(char **field, const char *value)
{
	g_free(*field);
	*field = g_strdup(value);
}

static struct fx *fx_maildir(void)
{
	struct fx *f = g_new0(struct fx, 1);
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("test-deliver-XXXXXX", &error);
	g_assert_no_error(error);
	f->cfg.data_dir = g_strdup(f->dir);
	f->st.key = g_strdup("bhowanipore");
	f->st.deliver = WB_DELIVER_MAILDIR;
	return f;
}

static const char *imap_port(void)
{
	return g_getenv("WB_IMAP_PORT");
}

static struct fx *fx_imap_port(const char *port, const char *user, const char *password)
{
	struct fx *f = g_new0(struct fx, 1);

	f->cfg.imap_url = g_strdup_printf("imap://127.0.0.1:%s", port);
	f->st.key = g_strdup(user);
	f->st.deliver = WB_DELIVER_IMAP;
	f->st.imap_user = g_strdup(user);
	f->st.imap_password = g_strdup(password);
	return f;
}

static struct fx *fx_imap(void)
{
	return fx_imap_port(imap_port(), "bhowanipore", "secret");
}

/* A distinct Message-ID per call, so reruns against one server never see old mail. */
static char *new_message_id(void)
{
	g_autofree char *uuid = g_uuid_string_random();
	return g_strdup_printf("wamid.T%s@wa.police.example", uuid);
}

static char *make_mail(const char *message_id)
{
	return g_strdup_printf("Message-ID: <%s>\r\n"
			       "From: \"Citizen\" <wa-919830012345@wa.police.example>\r\n"
			       "To: bhowanipore.ps@police.example\r\n"
			       "Subject: [BHP-2026-000001] test\r\n"
			       "\r\n"
			       "Line one\r\n"
			       "Line two\r\n",
			       message_id);
}

static char *crlf_to_lf(const char *s)
{
	GString *out = g_string_new(NULL);
	for (; *s != '\0'; s++) {
		if (!(s[0] == '\r' && s[1] == '\n'))
			g_string_append_c(out, *s);
	}
	return g_string_free(out, FALSE);
}

static void assert_error(const GError *error, enum wb_fail code)
{
	g_assert_nonnull(error);
	g_assert_true(error->domain == WB_DELIVER_ERROR);
	if (error->code != (int)code)
		g_error("expected wb_fail %d, got %d: %s", code, error->code, error->message);
}

/* ---- Maildir -------------------------------------------------------------------- */

static void test_maildir_path(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autofree char *want = g_build_filename(f->dir, "mail", "bhowanipore", NULL);
	g_autofree char *got = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_assert_cmpstr(got, ==, want);

	set_str(&f->st.maildir, "/srv/mail/bhp");
	g_autofree char *explicit = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_assert_cmpstr(explicit, ==, "/srv/mail/bhp");
	g_assert_true(wb_deliver_for(&f->st) == &wb_deliver_maildir);
	f->st.deliver = WB_DELIVER_IMAP;
	g_assert_true(wb_deliver_for(&f->st) == &wb_deliver_imap);
}

static void test_maildir_deliver(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *plain = make_mail(mid);
	/* A lone CR is no line end and stays (libetpan's APPEND would make it CRLF). */
	g_autofree char *mail = g_strconcat(plain, "a lone \r in a line\r\n", NULL);
	struct wb_delivered out = { 0 };

	struct wb_target *t = wb_deliver_maildir.open(&f->cfg, &f->st, &error);
	g_assert_no_error(error);
	g_assert_true(wb_deliver_maildir.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);

	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_autofree char *newdir = g_build_filename(root, "new", NULL);
	g_assert_true(g_str_has_prefix(out.location, newdir));
	g_assert_cmpuint(out.uid, ==, 0);
	g_autofree char *content = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(out.location, &content, &len, NULL));
	g_autofree char *want = crlf_to_lf(mail);
	g_assert_cmpmem(content, len, want, strlen(want));
	g_assert_nonnull(strstr(content, "lone \r in"));

	/* Directories are private, and nothing is left in tmp/. */
	GStatBuf sb;
	g_assert_cmpint(g_stat(newdir, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 0777, ==, 0700);
	g_autofree char *tmpdir = g_build_filename(root, "tmp", NULL);
	g_autoptr(GDir) d = g_dir_open(tmpdir, 0, NULL);
	g_assert_null(g_dir_read_name(d));

	g_free(out.location);
	wb_deliver_maildir.close(t);
}

static void test_maildir_exists(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *other = new_message_id();
	g_autofree char *mail = make_mail(mid);
	struct wb_delivered out = { 0 };

	struct wb_target *t = wb_deliver_maildir.open(&f->cfg, &f->st, &error);
	g_assert_no_error(error);
	g_assert_cmpint(wb_deliver_maildir.exists(t, mid, &error), ==, 0);
	g_assert_true(wb_deliver_maildir.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_cmpint(wb_deliver_maildir.exists(t, mid, &error), ==, 1);
	g_assert_cmpint(wb_deliver_maildir.exists(t, other, &error), ==, 0);
	g_assert_no_error(error);

	/* A client reading it moves it to cur/ with flags: still found. */
	g_autofree char *base = g_path_get_basename(out.location);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_autofree char *seen = g_strdup_printf("%s/cur/%s:2,S", root, base);
	g_assert_cmpint(g_rename(out.location, seen), ==, 0);
	g_assert_cmpint(wb_deliver_maildir.exists(t, mid, &error), ==, 1);
	g_assert_no_error(error);

	g_free(out.location);
	wb_deliver_maildir.close(t);
}

static void test_maildir_flags(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *mail = make_mail(mid);
	const char *const flags[] = { "$WA_Registered", "\\Seen", "\\Flagged", NULL };
	struct wb_delivered out = { 0 };

	struct wb_target *t = wb_deliver_maildir.open(&f->cfg, &f->st, &error);
	g_assert_true(wb_deliver_maildir.deliver(t, mail, strlen(mail), flags, &out, &error));
	g_assert_no_error(error);
	g_assert_nonnull(strstr(out.location, "/cur/"));
	/* The keyword is kept Dovecot's way: letter a is keyword 0 of dovecot-keywords. */
	g_assert_true(g_str_has_suffix(out.location, ":2,FSa"));
	g_autofree char *kwpath = g_build_filename(f->dir, "mail", "bhowanipore", "dovecot-keywords",
						   NULL);
	g_autofree char *kw = NULL;
	g_assert_true(g_file_get_contents(kwpath, &kw, NULL, NULL));
	g_assert_cmpstr(kw, ==, "0 $WA_Registered\n");
	g_assert_cmpint(wb_deliver_maildir.exists(t, mid, &error), ==, 1);
	g_free(out.location);
	wb_deliver_maildir.close(t);
}

static void test_maildir_no_message_id(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	const char mail[] = "Subject: x\r\n\r\nMessage-ID: <not-in-the-header@x>\r\n";
	struct wb_delivered out = { 0 };

	struct wb_target *t = wb_deliver_maildir.open(&f->cfg, &f->st, &error);
	g_assert_false(wb_deliver_maildir.deliver(t, mail, strlen(mail), NULL, &out, &error));
	assert_error(error, WB_FAIL_FINAL);
	wb_deliver_maildir.close(t);
}

/* The one file of the mail with this Message-ID in root/sub ("new" or "cur"), or NULL. */
static char *maildir_file(const char *root, const char *sub, const char *message_id)
{
	g_autofree char *hex = wb_sha256_hex(message_id, strlen(message_id));
	g_autofree char *tag = g_strdup_printf(".W%.24s.", hex);
	g_autofree char *dir = g_build_filename(root, sub, NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	char *found = NULL;
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		if (strstr(name, tag) != NULL) {
			g_assert_null(found); /* one file a mail */
			found = g_strdup(name);
		}
	}
	return found;
}

static char *keywords_file(const char *root)
{
	g_autofree char *path = g_build_filename(root, "dovecot-keywords", NULL);
	char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	return text;
}

static void write_keywords_file(const char *root, const char *text)
{
	g_autofree char *path = g_build_filename(root, "dovecot-keywords", NULL);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, text, -1, &error));
}

/* A Maildir target with one mail (no flags) in new/; *mid is its Message-ID. */
static struct wb_target *maildir_with_mail(const fx *f, char **mid)
{
	g_autoptr(GError) error = NULL;
	*mid = new_message_id();
	g_autofree char *mail = make_mail(*mid);
	struct wb_delivered out = { 0 };

	struct wb_target *t = wb_deliver_maildir.open(&f->cfg, &f->st, &error);
	g_assert_no_error(error);
	g_assert_true(wb_deliver_maildir.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);
	g_free(out.location);
	return t;
}

static void test_maildir_set_flags(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = NULL;
	struct wb_target *t = maildir_with_mail(f, &mid);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_autofree char *before = maildir_file(root, "new", mid);
	g_assert_nonnull(before);
	const char *const kw[] = { "$WA_Registered", "\\Seen", NULL };

	/* An unknown mail: 0, and no keyword is registered for it. */
	g_autofree char *other = new_message_id();
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, other, kw, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_null(keywords_file(root));

	/* From new/ to cur/ with the info part; system letters before keyword letters. */
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw, &error), ==, 1);
	g_assert_no_error(error);
	g_autofree char *want = g_strdup_printf("%s:2,Sa", before);
	g_autofree char *now = maildir_file(root, "cur", mid);
	g_assert_cmpstr(now, ==, want);
	g_assert_null(maildir_file(root, "new", mid));
	g_autofree char *kwtext = keywords_file(root);
	g_assert_cmpstr(kwtext, ==, "0 $WA_Registered\n");

	/* Again: nothing changes. */
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw, &error), ==, 1);
	g_assert_no_error(error);
	g_autofree char *again = maildir_file(root, "cur", mid);
	g_assert_cmpstr(again, ==, want);
	g_autofree char *kwtext2 = keywords_file(root);
	g_assert_cmpstr(kwtext2, ==, "0 $WA_Registered\n");

	/* A second keyword (keywords compare without case), and letters a client added stay. */
	g_autofree char *from = g_build_filename(root, "cur", want, NULL);
	g_autofree char *client = g_strdup_printf("%s/cur/%s:2,FSa", root, before);
	g_assert_cmpint(g_rename(from, client), ==, 0);
	const char *const kw2[] = { "$wa_registered", "$WA_Replied", "\\Answered", NULL };
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw2, &error), ==, 1);
	g_assert_no_error(error);
	g_autofree char *want2 = g_strdup_printf("%s:2,FRSab", before);
	g_autofree char *now2 = maildir_file(root, "cur", mid);
	g_assert_cmpstr(now2, ==, want2);
	g_autofree char *kwtext3 = keywords_file(root);
	g_assert_cmpstr(kwtext3, ==, "0 $WA_Registered\n1 $WA_Replied\n");

	/* clear_flags takes letters away and adds no name to dovecot-keywords; a keyword
	 * dovecot-keywords does not list is on no mail: nothing to do. */
	const char *const off[] = { "$WA_Replied", "\\Seen", "$WA_Never", NULL };
	g_assert_cmpint(wb_deliver_maildir.clear_flags(t, mid, off, &error), ==, 1);
	g_assert_no_error(error);
	g_autofree char *want3 = g_strdup_printf("%s:2,FRa", before);
	g_autofree char *now3 = maildir_file(root, "cur", mid);
	g_assert_cmpstr(now3, ==, want3);
	g_autofree char *kwtext4 = keywords_file(root);
	g_assert_cmpstr(kwtext4, ==, "0 $WA_Registered\n1 $WA_Replied\n");
	g_assert_cmpint(wb_deliver_maildir.clear_flags(t, mid, off, &error), ==, 1);
	g_assert_cmpint(wb_deliver_maildir.clear_flags(t, other, off, &error), ==, 0);
	g_assert_no_error(error);

	/* No lock and no temporary file are left behind. */
	g_autofree char *lock = g_build_filename(root, "dovecot-uidlist.lock", NULL);
	g_autofree char *tmp = g_build_filename(root, "dovecot-keywords.lock", NULL);
	g_assert_false(g_file_test(lock, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
	wb_deliver_maildir.close(t);
}

/* An existing dovecot-keywords is read as Dovecot reads it, and its mtime only grows. */
static void test_maildir_keywords_file(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = NULL;
	struct wb_target *t = maildir_with_mail(f, &mid);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_autofree char *path = g_build_filename(root, "dovecot-keywords", NULL);

	/* Junk lines are skipped; letter c (2) is free, so the next keyword gets it. */
	write_keywords_file(root, "0 Junk\n1 $WA_Registered\nnot a line\n30 Far\n3 NonJunk\n"
				  "4\n-1 Neg\n");
	struct utimbuf future = { .actime = time(NULL), .modtime = time(NULL) + 1000 };
	g_assert_cmpint(utime(path, &future), ==, 0);
	const char *const kw[] = { "$WA_REGISTERED", "$New", NULL };
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw, &error), ==, 1);
	g_assert_no_error(error);
	g_autofree char *name = maildir_file(root, "cur", mid);
	g_assert_true(g_str_has_suffix(name, ":2,bc"));
	g_autofree char *text = keywords_file(root);
	g_assert_cmpstr(text, ==, "0 Junk\n1 $WA_Registered\n2 $New\n3 NonJunk\n");
	GStatBuf sb;
	g_assert_cmpint(g_stat(path, &sb), ==, 0);
	g_assert_cmpint(sb.st_mtime, ==, future.modtime + 1);
	wb_deliver_maildir.close(t);
}

/* All 26 letters taken: set_flags fails, deliver stores the mail without the keyword. */
static void test_maildir_keywords_full(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = NULL;
	struct wb_target *t = maildir_with_mail(f, &mid);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	GString *full = g_string_new(NULL);
	for (int i = 0; i < 26; i++)
		g_string_append_printf(full, "%d kw%d\n", i, i);
	write_keywords_file(root, full->str);

	const char *const kw[] = { "$WA_Registered", NULL };
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw, &error), ==, -1);
	assert_error(error, WB_FAIL_LATER);
	g_clear_error(&error);
	/* A keyword already listed still works. */
	const char *const kw25[] = { "KW25", "\\Flagged", NULL };
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw25, &error), ==, 1);
	g_assert_no_error(error);
	g_autofree char *name = maildir_file(root, "cur", mid);
	g_assert_true(g_str_has_suffix(name, ":2,Fz"));

	g_autofree char *mid2 = new_message_id();
	g_autofree char *mail2 = make_mail(mid2);
	const char *const flags[] = { "$WA_Registered", "\\Seen", NULL };
	struct wb_delivered out = { 0 };
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*keyword letters*taken*");
	g_assert_true(wb_deliver_maildir.deliver(t, mail2, strlen(mail2), flags, &out, &error));
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	g_assert_true(g_str_has_suffix(out.location, ":2,S"));
	g_autofree char *text = keywords_file(root);
	g_assert_cmpstr(text, ==, full->str);
	g_string_free(full, TRUE);
	g_free(out.location);
	wb_deliver_maildir.close(t);
}

static void test_maildir_set_flags_bad(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autofree char *mid = NULL;
	struct wb_target *t = maildir_with_mail(f, &mid);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	const char *const good[] = { "$WA_Registered", NULL };
	const char *const bad_flags[][2] = {
		{ "two words", NULL }, { "$WA\r\nX", NULL }, { "\\Recent", NULL },
		{ "a(b", NULL },       { "", NULL },         { "\\Custom", NULL },
	};
	const char *bad_ids[] = {
		"x@y\r\nA1 DELETE INBOX", "x\"@y", "x y@z", "", "<x@y>", "x\\@y",
		"\xe0\xa6\x85@y",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(bad_flags); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, bad_flags[i], &error), ==, -1);
		assert_error(error, WB_FAIL_FINAL);
		g_assert_null(strchr(error->message, '\n'));
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad_ids); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_cmpint(wb_deliver_maildir.set_flags(t, bad_ids[i], good, &error), ==, -1);
		assert_error(error, WB_FAIL_FINAL);
		g_assert_null(strchr(error->message, '\n'));
	}
	/* Nothing was touched. */
	g_assert_null(keywords_file(root));
	g_autofree char *still = maildir_file(root, "new", mid);
	g_assert_nonnull(still);

	/* deliver refuses such flags too. */
	g_autoptr(GError) error = NULL;
	g_autofree char *mail = make_mail(mid);
	struct wb_delivered out = { 0 };
	g_assert_false(wb_deliver_maildir.deliver(t, mail, strlen(mail), bad_flags[0], &out,
						  &error));
	assert_error(error, WB_FAIL_FINAL);
	wb_deliver_maildir.close(t);
}

/* A lock left by a crash long ago is taken over. */
static void test_maildir_stale_lock(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = NULL;
	struct wb_target *t = maildir_with_mail(f, &mid);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	g_autofree char *lock = g_build_filename(root, "dovecot-uidlist.lock", NULL);
	const char *const kw[] = { "$WA_Registered", NULL };

	g_assert_true(g_file_set_contents(lock, "", 0, NULL));
	struct utimbuf old = { .actime = time(NULL) - 600, .modtime = time(NULL) - 600 };
	g_assert_cmpint(utime(lock, &old), ==, 0);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*stale lock*");
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw, &error), ==, 1);
	g_test_assert_expected_messages();
	g_assert_no_error(error);
	g_assert_false(g_file_test(lock, G_FILE_TEST_EXISTS));
	wb_deliver_maildir.close(t);
}

/* Root ignores file modes, so the child drops to nobody before trying. */
static void drop_root(const char *dir)
{
	if (geteuid() != 0)
		return;
	g_autofree char *cmd = g_strdup_printf("chown -R 65534:65534 '%s'", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_assert_cmpint(setgroups(0, NULL), ==, 0);
	g_assert_cmpint(setgid(65534), ==, 0);
	g_assert_cmpint(setuid(65534), ==, 0);
	/* setuid cleared "dumpable", which LeakSanitizer needs to inspect us at exit. */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void maildir_readonly_child(void)
{
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *mail = make_mail(mid);
	struct wb_delivered out = { 0 };

	drop_root(f->dir);
	struct wb_target *t = wb_deliver_maildir.open(&f->cfg, &f->st, &error);
	g_assert_no_error(error);
	g_autofree char *root = wb_deliver_maildir_path(&f->cfg, &f->st);
	const char *subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *sub = g_build_filename(root, subs[i], NULL);
		g_assert_cmpint(g_chmod(sub, 0500), ==, 0);
	}
	g_assert_false(wb_deliver_maildir.deliver(t, mail, strlen(mail), NULL, &out, &error));
	assert_error(error, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, root));
	g_test_message("read-only Maildir: %s", error->message);
	wb_deliver_maildir.close(t);
	g_autofree char *cmd = g_strdup_printf("chmod -R u+w '%s'", f->dir);
	g_assert_cmpint(system(cmd), ==, 0);
}

static void test_maildir_readonly(void)
{
	if (g_test_subprocess()) {
		maildir_readonly_child();
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

/* ---- IMAP against Dovecot ----------------------------------------------------------- */

/* doveadm -c $WB_DOVECOT_DIR/dovecot.conf ARGS...; its stdout. */
static char *doveadm(const char *first, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *conf = g_build_filename(g_getenv("WB_DOVECOT_DIR"), "dovecot.conf", NULL);
	va_list ap;

	g_ptr_array_add(argv, g_strdup("doveadm"));
	g_ptr_array_add(argv, g_strdup("-c"));
	g_ptr_array_add(argv, g_strdup(conf));
	va_start(ap, first);
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
		g_ptr_array_add(argv, g_strdup(a));
	va_end(ap);
	g_ptr_array_add(argv, NULL);

	char *out = NULL;
	g_autofree char *err = NULL;
	int status = 0;
	g_autoptr(GError) error = NULL;
	g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
		     &err, &status, &error);
	g_assert_no_error(error);
	if (!g_spawn_check_wait_status(status, NULL))
		g_test_message("doveadm failed: %s", err);
	return out;
}

static struct wb_target *imap_open_ok(const struct fx *f)
{
	g_autoptr(GError) error = NULL;
	struct wb_target *t = wb_deliver_imap.open(&f->cfg, &f->st, &error);
	g_assert_no_error(error);
	g_assert_nonnull(t);
	return t;
}

static void test_imap_append_exists(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *other = new_message_id();
	g_autofree char *mail = make_mail(mid);
	struct wb_delivered out = { 0 };
	struct wb_target *t = imap_open_ok(f);

	g_assert_cmpint(wb_deliver_imap.exists(t, mid, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_true(wb_deliver_imap.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out.uidvalidity, !=, 0);
	g_assert_cmpuint(out.uid, !=, 0);
	g_autofree char *want = g_strdup_printf("imap://127.0.0.1:%s/INBOX;UIDVALIDITY=%u;UID=%u",
						imap_port(), out.uidvalidity, out.uid);
	g_assert_cmpstr(out.location, ==, want);
	g_assert_cmpint(wb_deliver_imap.exists(t, mid, &error), ==, 1);
	g_assert_cmpint(wb_deliver_imap.exists(t, other, &error), ==, 0);
	g_assert_no_error(error);

	/* The session is reused: a second mail gets the next UID. */
	g_autofree char *mid2 = new_message_id();
	g_autofree char *mail2 = make_mail(mid2);
	struct wb_delivered out2 = { 0 };
	g_assert_true(wb_deliver_imap.deliver(t, mail2, strlen(mail2), NULL, &out2, &error));
	g_assert_cmpuint(out2.uid, >, out.uid);
	g_assert_cmpuint(out2.uidvalidity, ==, out.uidvalidity);

	if (g_getenv("WB_DOVECOT_DIR") != NULL) {
		g_autofree char *uid = g_strdup_printf("%u", out.uid);
		g_autofree char *text = doveadm("fetch", "-u", "bhowanipore", "text", "mailbox",
						"INBOX", "uid", uid, NULL);
		g_autofree char *lf = crlf_to_lf(mail);
		g_autofree char *expect = g_strdup_printf("text:\n%s", lf);
		g_assert_cmpstr(text, ==, expect);
	}
	g_free(out.location);
	g_free(out2.location);
	wb_deliver_imap.close(t);
}

static void test_imap_trycreate(void)
{
	if (!imaptest_need_doveadm())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *mail = make_mail(mid);
	struct wb_delivered out = { 0 };

	g_free(doveadm("mailbox", "delete", "-u", "bhowanipore", "-s", "Complaints/New", NULL));
	set_str(&f->st.folder, "Complaints/New");
	struct wb_target *t = imap_open_ok(f);
	/* Missing folder: the mail cannot be there, which is no error. */
	g_assert_cmpint(wb_deliver_imap.exists(t, mid, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_true(wb_deliver_imap.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out.uid, ==, 1);
	g_assert_nonnull(strstr(out.location, "/Complaints/New;UIDVALIDITY="));
	g_assert_cmpint(wb_deliver_imap.exists(t, mid, &error), ==, 1);
	g_autofree char *subscribed = doveadm("mailbox", "list", "-u", "bhowanipore", "-s", NULL);
	g_assert_nonnull(strstr(subscribed, "Complaints/New\n"));
	g_free(out.location);
	wb_deliver_imap.close(t);
}

static void test_imap_utf8_folder(void)
{
	if (!imaptest_need_doveadm())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *mail = make_mail(mid);
	struct wb_delivered out = { 0 };
	const char *folder = "অভিযোগ & 🚨";

	g_free(doveadm("mailbox", "delete", "-u", "bhowanipore", "-s", folder, NULL));
	set_str(&f->st.folder, folder);
	struct wb_target *t = imap_open_ok(f);
	g_assert_true(wb_deliver_imap.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);
	g_autofree char *list = doveadm("mailbox", "list", "-u", "bhowanipore", NULL);
	g_autofree char *line = g_strdup_printf("%s\n", folder);
	g_assert_nonnull(strstr(list, line));
	g_free(out.location);
	wb_deliver_imap.close(t);
}

static void test_imap_keyword(void)
{
	if (!imaptest_need_doveadm())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = new_message_id();
	g_autofree char *mail = make_mail(mid);
	const char *const flags[] = { "$WA_Test", "\\Seen", NULL };
	struct wb_delivered out = { 0 };
	struct wb_target *t = imap_open_ok(f);

	g_assert_true(wb_deliver_imap.deliver(t, mail, strlen(mail), flags, &out, &error));
	g_assert_no_error(error);
	g_autofree char *hits = doveadm("search", "-u", "bhowanipore", "mailbox", "INBOX",
					"keyword", "$WA_Test", NULL);
	g_autofree char *suffix = g_strdup_printf(" %u\n", out.uid);
	g_assert_nonnull(strstr(hits, suffix));
	g_autofree char *uid = g_strdup_printf("%u", out.uid);
	g_autofree char *fl = doveadm("fetch", "-u", "bhowanipore", "flags", "mailbox", "INBOX",
				      "uid", uid, NULL);
	g_assert_nonnull(strstr(fl, "\\Seen"));
	g_free(out.location);
	wb_deliver_imap.close(t);
}

/* A mail in INBOX of bhowanipore (no flags); its Message-ID and UID. */
static struct wb_target *imap_with_mail(const fx *f, char **mid, uint32_t *uid)
{
	g_autoptr(GError) error = NULL;
	*mid = new_message_id();
	g_autofree char *mail = make_mail(*mid);
	struct wb_delivered out = { 0 };
	struct wb_target *t = imap_open_ok(f);

	g_assert_true(wb_deliver_imap.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out.uid, !=, 0);
	*uid = out.uid;
	g_free(out.location);
	return t;
}

static void test_imap_set_flags(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autoptr(GError) error = NULL;
	g_autofree char *mid = NULL;
	uint32_t uid = 0;
	struct wb_target *t = imap_with_mail(f, &mid, &uid);
	const char *const flags[] = { "$WA_Registered", "\\Flagged", NULL };

	g_assert_false(imaptest_has_flag("bhowanipore", "INBOX", uid, "$WA_Registered"));
	g_assert_cmpint(wb_deliver_imap.set_flags(t, mid, flags, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_true(imaptest_has_flag("bhowanipore", "INBOX", uid, "$WA_Registered"));
	g_assert_true(imaptest_has_flag("bhowanipore", "INBOX", uid, "\\Flagged"));
	g_assert_false(imaptest_has_flag("bhowanipore", "INBOX", uid, "\\Seen"));

	/* Again: still 1, flags unchanged; then one more keyword is added to them. */
	g_assert_cmpint(wb_deliver_imap.set_flags(t, mid, flags, &error), ==, 1);
	g_assert_no_error(error);
	const char *const more[] = { "$WA_Replied", NULL };
	g_assert_cmpint(wb_deliver_imap.set_flags(t, mid, more, &error), ==, 1);
	g_auto(GStrv) now = imaptest_flags("bhowanipore", "INBOX", uid);
	g_assert_true(wb_imapconn_flags_have(now, "$WA_Replied"));
	g_assert_true(wb_imapconn_flags_have(now, "$WA_Registered"));
	g_assert_true(wb_imapconn_flags_have(now, "\\Flagged"));
	g_assert_false(wb_imapconn_flags_have(now, "\\Seen"));

	/* No flags at all: nothing to store, the mail is there. */
	const char *const none[] = { NULL };
	g_assert_cmpint(wb_deliver_imap.set_flags(t, mid, none, &error), ==, 1);

	/* clear_flags takes one keyword away and leaves the others; clearing it again, or
	 * one the mail never had, is no error. */
	const char *const failed[] = { "$WA_Replied", NULL };
	g_assert_cmpint(wb_deliver_imap.clear_flags(t, mid, failed, &error), ==, 1);
	g_assert_no_error(error);
	g_auto(GStrv) cleared = imaptest_flags("bhowanipore", "INBOX", uid);
	g_assert_false(wb_imapconn_flags_have(cleared, "$WA_Replied"));
	g_assert_true(wb_imapconn_flags_have(cleared, "$WA_Registered"));
	g_assert_true(wb_imapconn_flags_have(cleared, "\\Flagged"));
	const char *const never[] = { "$WA_SendFailed", NULL };
	g_assert_cmpint(wb_deliver_imap.clear_flags(t, mid, failed, &error), ==, 1);
	g_assert_cmpint(wb_deliver_imap.clear_flags(t, mid, never, &error), ==, 1);
	g_assert_no_error(error);
	const char *const hostile[] = { "$WA) \\Seen", NULL };
	g_assert_cmpint(wb_deliver_imap.clear_flags(t, mid, hostile, &error), ==, -1);
	g_assert_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL);
	g_clear_error(&error);

	/* Unknown Message-ID: 0. */
	g_autofree char *other = new_message_id();
	g_assert_cmpint(wb_deliver_imap.set_flags(t, other, flags, &error), ==, 0);
	g_assert_no_error(error);
	wb_deliver_imap.close(t);

	/* A folder that does not exist: 0 as well. */
	g_autofree char *uuid = g_uuid_string_random();
	g_autofree char *folder = g_strdup_printf("missing-%s", uuid);
	set_str(&f->st.folder, folder);
	t = imap_open_ok(f);
	g_assert_cmpint(wb_deliver_imap.set_flags(t, mid, flags, &error), ==, 0);
	g_assert_no_error(error);
	wb_deliver_imap.close(t);
}

/* Bad flags and hostile Message-IDs are refused before anything is sent; the session
 * stays usable and nothing was injected. */
static void test_imap_set_flags_bad(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autofree char *mid = NULL;
	uint32_t uid = 0;
	struct wb_target *t = imap_with_mail(f, &mid, &uid);
	const char *const good[] = { "$WA_Registered", NULL };
	const char *const bad_flags[][2] = {
		{ "two words", NULL }, { "$WA\r\nA1 EXPUNGE", NULL }, { "\\Recent", NULL },
		{ "a)b", NULL },       { "", NULL },
	};
	const char *bad_ids[] = {
		"x@y>\r\nA1 STORE 1:* +FLAGS (\\Deleted)\r\n",
		"x\" OR ALL \"@y",
		"x y@z",
		"",
		"x\\@y",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(bad_flags); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_cmpint(wb_deliver_imap.set_flags(t, mid, bad_flags[i], &error), ==, -1);
		assert_error(error, WB_FAIL_FINAL);
		g_assert_null(strpbrk(error->message, "\r\n"));
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad_ids); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_cmpint(wb_deliver_imap.set_flags(t, bad_ids[i], good, &error), ==, -1);
		assert_error(error, WB_FAIL_FINAL);
		g_assert_null(strpbrk(error->message, "\r\n"));
	}
	g_autoptr(GError) error = NULL;
	g_assert_cmpint(wb_deliver_imap.exists(t, mid, &error), ==, 1);
	g_assert_no_error(error);
	g_auto(GStrv) flags = imaptest_flags("bhowanipore", "INBOX", uid);
	g_assert_nonnull(flags);
	g_assert_false(wb_imapconn_flags_have(flags, "\\Deleted"));
	g_assert_false(wb_imapconn_flags_have(flags, "$WA_Registered"));
	wb_deliver_imap.close(t);
}

/* Dovecot reads the keywords of a Maildir the back end wrote: a folder of jadavpur's
 * Maildir (mail_location = maildir:%h/Maildir, Maildir++ layout) as the Maildir. */
static void test_maildir_dovecot_reads(void)
{
	if (!imaptest_need_doveadm())
		return;
	g_autoptr(fx) f = fx_maildir();
	g_autoptr(GError) error = NULL;
	g_autofree char *uuid = g_uuid_string_random();
	g_autofree char *box = g_strdup_printf("kw-%s", uuid);
	g_autofree char *home = g_build_filename(g_getenv("WB_DOVECOT_DIR"), "mail", "jadavpur",
						 NULL);
	g_autofree char *dotbox = g_strdup_printf(".%s", box);
	g_autofree char *root = g_build_filename(home, "Maildir", dotbox, NULL);
	set_str(&f->st.maildir, root);
	g_autofree char *mid = NULL;
	struct wb_target *t = maildir_with_mail(f, &mid);
	GStatBuf owner;
	g_assert_cmpint(g_stat(home, &owner), ==, 0);
	g_autofree char *chown = g_strdup_printf("chown -R %u:%u '%s'", (unsigned)owner.st_uid,
						 (unsigned)owner.st_gid, home);

	/* A mail Dovecot has not seen yet, then one it has indexed already. */
	const char *const kw[] = { "$WA_Registered", "\\Seen", NULL };
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_cmpint(system(chown), ==, 0);
	g_autofree char *fl = doveadm("fetch", "-u", "jadavpur", "flags", "mailbox", box, "all",
				      NULL);
	g_test_message("Dovecot: %s", fl);
	g_assert_nonnull(strstr(fl, "$WA_Registered"));
	g_assert_nonnull(strstr(fl, "\\Seen"));

	const char *const kw2[] = { "$WA_Replied", NULL };
	g_assert_cmpint(wb_deliver_maildir.set_flags(t, mid, kw2, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_cmpint(system(chown), ==, 0);
	g_autofree char *fl2 = doveadm("fetch", "-u", "jadavpur", "flags", "mailbox", box, "all",
				       NULL);
	g_test_message("Dovecot: %s", fl2);
	g_assert_nonnull(strstr(fl2, "$WA_Registered"));
	g_assert_nonnull(strstr(fl2, "$WA_Replied"));
	g_autofree char *hits = doveadm("search", "-u", "jadavpur", "mailbox", box, "keyword",
					"$WA_Replied", NULL);
	g_assert_cmpstr(hits, !=, "");
	wb_deliver_maildir.close(t);
	g_free(doveadm("mailbox", "delete", "-u", "jadavpur", box, NULL));
}

static void test_imap_bad_flag(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_imap();
	g_autoptr(GError) error = NULL;
	g_autofree char *mail = make_mail("x@y");
	const char *const flags[] = { "two words", NULL };
	struct wb_delivered out = { 0 };
	struct wb_target *t = imap_open_ok(f);

	g_assert_false(wb_deliver_imap.deliver(t, mail, strlen(mail), flags, &out, &error));
	assert_error(error, WB_FAIL_FINAL);
	wb_deliver_imap.close(t);
}

static void test_imap_wrong_password(void)
{
	if (!imaptest_need_imap())
		return;
	const char *password = "Wr0ng-Pa55word";
	g_autoptr(fx) f = fx_imap_port(imap_port(), "bhowanipore", password);
	g_autoptr(GError) error = NULL;

	g_assert_null(wb_deliver_imap.open(&f->cfg, &f->st, &error));
	assert_error(error, WB_FAIL_LATER);
	g_assert_null(strstr(error->message, password));
	g_assert_nonnull(strstr(error->message, "login"));
	g_test_message("wrong password: %s", error->message);
}

static void test_imap_refused(void)
{
	int fd;
	g_autofree char *port = g_strdup_printf("%d", unanswered_port(&fd));
	g_autoptr(fx) f = fx_imap_port(port, "bhowanipore", "secret");
	g_autoptr(GError) error = NULL;

	g_assert_null(wb_deliver_imap.open(&f->cfg, &f->st, &error));
	close(fd);
	assert_error(error, WB_FAIL_SOON);
	g_assert_nonnull(strstr(error->message, port));
}

static void test_imap_bad_config(void)
{
	g_autoptr(fx) f = fx_imap_port("1", "bhowanipore", "secret");
	g_autoptr(GError) error = NULL;

	set_str(&f->cfg.imap_url, "http://127.0.0.1/");
	g_assert_null(wb_deliver_imap.open(&f->cfg, &f->st, &error));
	assert_error(error, WB_FAIL_LATER);
	g_clear_error(&error);

	set_str(&f->cfg.imap_url, "imaps://127.0.0.1:1");
	set_str(&f->cfg.imap_tls_fingerprint, "not-hex");
	g_assert_null(wb_deliver_imap.open(&f->cfg, &f->st, &error));
	assert_error(error, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "tls_fingerprint"));
}

/* ---- IMAP against a scripted fake server -------------------------------------------- */

/* What the fake answers to one command. reply: lines with "TAG" standing for the
 * command's tag; "" closes the connection. early: answer an APPEND before its literal. */
struct rule {
	const char *command;
	const char *reply;
	bool early;
	bool hangup; /* close the connection after the reply */
	int only_conn; /* applies to this connection (1 = the first) only; 0: to all */
};

struct fake {
	int listen_fd;
	int port;
	const char *greeting;
	const struct rule *rules; /* ends with command == NULL; unmatched commands get OK */
	GThread *thread;
	GString *seen;            /* command names received, space separated */
	int conn;                 /* connections accepted so far */
};

static const struct rule *find_rule(const struct fake *fk, const char *command)
{
	for (const struct rule *r = fk->rules; r != NULL && r->command != NULL; r++) {
		if (g_ascii_strcasecmp(r->command, command) == 0 &&
		    (r->only_conn == 0 || r->only_conn == fk->conn))
			return r;
	}
	return NULL;
}

static bool send_reply(int fd, const char *reply, const char *tag)
{
	g_autoptr(GString) s = g_string_new(reply);
	g_string_replace(s, "TAG", tag, 0);
	return write(fd, s->str, s->len) == (ssize_t)s->len;
}

static const char *default_reply(const char *command)
{
	if (g_ascii_strcasecmp(command, "LOGOUT") == 0)
		return "* BYE bye\r\nTAG OK done\r\n";
	if (g_ascii_strcasecmp(command, "CAPABILITY") == 0)
		return "* CAPABILITY IMAP4rev1 UIDPLUS\r\nTAG OK done\r\n";
	if (g_ascii_strcasecmp(command, "APPEND") == 0)
		return "TAG OK [APPENDUID 7 42] done\r\n";
	return "TAG OK done\r\n";
}

/* Serve one command line; false when the connection is over. */
static bool fake_command(struct fake *fk, FILE *in, int fd, const char *line)
{
	g_auto(GStrv) words = g_strsplit_set(line, " \r\n", 3);
	if (words[0] == NULL || words[1] == NULL)
		return false;
	g_string_append_printf(fk->seen, "%s ", words[1]);
	const struct rule *r = find_rule(fk, words[1]);
	const char *reply = r != NULL ? r->reply : default_reply(words[1]);
	const char *brace = strrchr(line, '{');
	if (brace != NULL && (r == NULL || !r->early)) {
		size_t n = strtoul(brace + 1, NULL, 10) + 2; /* literal and the CRLF after it */
		if (write(fd, "+ go ahead\r\n", 12) != 12)
			return false;
		g_autofree char *buf = g_malloc(n);
		if (fread(buf, 1, n, in) != n)
			return false;
	}
	return reply[0] != '\0' && send_reply(fd, reply, words[0]) && !(r != NULL && r->hangup);
}

static gpointer fake_main(gpointer data)
{
	struct fake *fk = data;
	int fd;

	while ((fd = accept(fk->listen_fd, NULL, NULL)) >= 0) {
		fk->conn++;
		FILE *in = fdopen(dup(fd), "r");
		char line[4096];
		const char *greeting = fk->greeting ? fk->greeting : "* OK [CAPABILITY IMAP4rev1 UIDPLUS] fake\r\n";
		bool up = write(fd, greeting, strlen(greeting)) == (ssize_t)strlen(greeting);
		while (up && fgets(line, sizeof line, in) != NULL)
			up = fake_command(fk, in, fd, line);
		fclose(in);
		close(fd);
	}
	return NULL;
}

static struct fake *fake_start(const char *greeting, const struct rule *rules)
{
	struct fake *fk = g_new0(struct fake, 1);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;

	fk->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	g_assert_cmpint(bind(fk->listen_fd, (struct sockaddr *)&a, sizeof a), ==, 0);
	g_assert_cmpint(listen(fk->listen_fd, 4), ==, 0);
	g_assert_cmpint(getsockname(fk->listen_fd, (struct sockaddr *)&a, &len), ==, 0);
	fk->port = ntohs(a.sin_port);
	fk->greeting = greeting;
	fk->rules = rules;
	fk->seen = g_string_new(NULL);
	fk->thread = g_thread_new("fake-imap", fake_main, fk);
	return fk;
}

/* Stop the server; returns the commands it saw, space separated. The sessions the pool
 * keeps for reuse are closed first (LOGOUT): the fake serves one connection at a time. */
static char *fake_stop(struct fake *fk)
{
	wb_imappool_close_idle(wb_imappool_shared());
	shutdown(fk->listen_fd, SHUT_RDWR); /* wakes the accept() */
	g_thread_join(fk->thread);
	close(fk->listen_fd);
	char *seen = g_string_free(fk->seen, FALSE);
	g_free(fk);
	return seen;
}

/* Open a target on a fake server and deliver one mail; the error, if any, is returned. */
static GError *fake_deliver(const char *greeting, const struct rule *rules,
			    struct wb_delivered *out, char **seen)
{
	struct fake *fk = fake_start(greeting, rules);
	g_autofree char *port = g_strdup_printf("%d", fk->port);
	g_autoptr(fx) f = fx_imap_port(port, "bhowanipore", "secret");
	g_autofree char *mail = make_mail("fake@x");
	const char *const flags[] = { "$WA_Test", NULL };
	GError *error = NULL;

	struct wb_target *t = wb_deliver_imap.open(&f->cfg, &f->st, &error);
	if (t != NULL) {
		wb_deliver_imap.deliver(t, mail, strlen(mail), flags, out, &error);
		wb_deliver_imap.close(t);
	}
	char *commands = fake_stop(fk);
	if (seen != NULL)
		*seen = commands;
	else
		g_free(commands);
	if (error != NULL)
		g_test_message("fake server: %s", error->message);
	return error;
}

static void expect_fake_failure(const char *greeting, const struct rule *rules,
				enum wb_fail code, const char *in_message)
{
	struct wb_delivered out = { 0 };
	g_autoptr(GError) error = fake_deliver(greeting, rules, &out, NULL);
	assert_error(error, code);
	if (in_message != NULL)
		g_assert_nonnull(strstr(error->message, in_message));
	g_assert_null(strstr(error->message, "secret"));
}

static void test_fake_appenduid(void)
{
	struct wb_delivered out = { 0 };
	g_autofree char *seen = NULL;
	GError *error = fake_deliver(NULL, NULL, &out, &seen);

	g_assert_no_error(error);
	g_assert_cmpuint(out.uidvalidity, ==, 7);
	g_assert_cmpuint(out.uid, ==, 42);
	g_assert_true(g_str_has_suffix(out.location, "/INBOX;UIDVALIDITY=7;UID=42"));
	g_assert_cmpstr(seen, ==, "LOGIN APPEND LOGOUT ");
	g_free(out.location);
}

static void test_fake_no_uidplus(void)
{
	static const struct rule rules[] = { { .command = "APPEND", .reply = "TAG OK appended\r\n" }, { 0 } };
	struct wb_delivered out = { 0 };
	GError *error = fake_deliver("* OK [CAPABILITY IMAP4rev1] fake\r\n", rules, &out, NULL);

	g_assert_no_error(error);
	g_assert_cmpuint(out.uid, ==, 0);
	g_assert_true(g_str_has_suffix(out.location, "/INBOX"));
	g_free(out.location);
}

static void test_fake_trycreate(void)
{
	static const struct rule rules[] = {
		{ .command = "APPEND", .reply = "TAG NO [TRYCREATE] Mailbox does not exist\r\n", .early = true },
		{ 0 },
	};
	struct wb_delivered out = { 0 };
	g_autofree char *seen = NULL;
	g_autoptr(GError) error = fake_deliver(NULL, rules, &out, &seen);

	/* The fake keeps refusing: CREATE, SUBSCRIBE and one more APPEND, then FINAL. */
	assert_error(error, WB_FAIL_FINAL);
	g_assert_cmpstr(seen, ==, "LOGIN APPEND CREATE SUBSCRIBE APPEND LOGOUT ");
}

static void test_fake_overquota(void)
{
	static const struct rule rules[] = {
		{ .command = "APPEND", .reply = "TAG NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n" },
		{ 0 },
	};
	expect_fake_failure(NULL, rules, WB_FAIL_LATER, "[OVERQUOTA] Quota exceeded");
}

static void test_fake_toobig(void)
{
	static const struct rule rules[] = {
		{ .command = "APPEND", .reply = "TAG NO [TOOBIG] Mail too big\r\n", .early = true },
		{ 0 },
	};
	expect_fake_failure(NULL, rules, WB_FAIL_FINAL, "[TOOBIG]");
}

static void test_fake_append_no(void)
{
	static const struct rule rules[] = { { .command = "APPEND", .reply = "TAG NO Rejected\r\n" }, { 0 } };
	expect_fake_failure(NULL, rules, WB_FAIL_FINAL, "Rejected");
}

static void test_fake_append_bad(void)
{
	static const struct rule rules[] = { { .command = "APPEND", .reply = "TAG BAD Syntax\r\n" }, { 0 } };
	expect_fake_failure(NULL, rules, WB_FAIL_FINAL, "BAD");
}

static void test_fake_unavailable(void)
{
	static const struct rule rules[] = {
		{ .command = "APPEND", .reply = "TAG NO [UNAVAILABLE] Backend down\r\n" },
		{ 0 },
	};
	expect_fake_failure(NULL, rules, WB_FAIL_LATER, "UNAVAILABLE");
}

static void test_fake_bye(void)
{
	static const struct rule rules[] = {
		{ .command = "APPEND", .reply = "* BYE Server shutting down\r\n", .hangup = true },
		{ 0 },
	};
	expect_fake_failure(NULL, rules, WB_FAIL_SOON, NULL);
}

static void test_fake_disconnect(void)
{
	static const struct rule rules[] = { { .command = "APPEND", .reply = "" }, { 0 } };
	expect_fake_failure(NULL, rules, WB_FAIL_SOON, "connection");
}

static void test_fake_greeting_bye(void)
{
	expect_fake_failure("* BYE Too many connections\r\n", NULL, WB_FAIL_SOON, "Too many");
}

static void test_fake_login_unavailable(void)
{
	static const struct rule rules[] = {
		{ .command = "LOGIN", .reply = "TAG NO [UNAVAILABLE] Auth backend down\r\n" },
		{ 0 },
	};
	expect_fake_failure(NULL, rules, WB_FAIL_LATER, "Auth backend down");
}

/* A target whose connection broke reconnects on its next use. */
static void test_fake_reconnect(void)
{
	static const struct rule rules[] = {
		{ .command = "APPEND", .reply = "", .only_conn = 1 },
		{ 0 },
	};
	struct fake *fk = fake_start(NULL, rules);
	g_autofree char *port = g_strdup_printf("%d", fk->port);
	g_autoptr(fx) f = fx_imap_port(port, "bhowanipore", "secret");
	g_autofree char *mail = make_mail("fake@x");
	struct wb_delivered out = { 0 };
	g_autoptr(GError) error = NULL;

	struct wb_target *t = imap_open_ok(f);
	g_assert_false(wb_deliver_imap.deliver(t, mail, strlen(mail), NULL, &out, &error));
	assert_error(error, WB_FAIL_SOON);
	g_clear_error(&error);
	g_assert_true(wb_deliver_imap.deliver(t, mail, strlen(mail), NULL, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out.uid, ==, 42);
	wb_deliver_imap.close(t);
	g_autofree char *seen = fake_stop(fk);
	g_assert_cmpstr(seen, ==, "LOGIN APPEND LOGIN APPEND LOGOUT ");
	g_free(out.location);
}

/* STARTTLS demanded by a trust anchor but not offered: refuse before LOGIN. */
static void test_fake_no_starttls(void)
{
	struct fake *fk = fake_start(NULL, NULL);
	g_autofree char *port = g_strdup_printf("%d", fk->port);
	g_autoptr(fx) f = fx_imap_port(port, "bhowanipore", "secret");
	g_autoptr(GError) error = NULL;

	set_str(&f->cfg.imap_tls_fingerprint, "00000000000000000000000000000000"
					      "00000000000000000000000000000000");
	g_assert_null(wb_deliver_imap.open(&f->cfg, &f->st, &error));
	assert_error(error, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "STARTTLS"));
	g_autofree char *seen = fake_stop(fk);
	g_assert_null(strstr(seen, "LOGIN"));
}

int main(int argc, char **argv)
{
	/* libetpan writes with send(2) without MSG_NOSIGNAL; the program ignores SIGPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/deliver/maildir/path", test_maildir_path);
	g_test_add_func("/deliver/maildir/deliver", test_maildir_deliver);
	g_test_add_func("/deliver/maildir/exists", test_maildir_exists);
	g_test_add_func("/deliver/maildir/flags", test_maildir_flags);
	g_test_add_func("/deliver/maildir/no-message-id", test_maildir_no_message_id);
	g_test_add_func("/deliver/maildir/set-flags", test_maildir_set_flags);
	g_test_add_func("/deliver/maildir/keywords-file", test_maildir_keywords_file);
	g_test_add_func("/deliver/maildir/keywords-full", test_maildir_keywords_full);
	g_test_add_func("/deliver/maildir/set-flags-bad", test_maildir_set_flags_bad);
	g_test_add_func("/deliver/maildir/stale-lock", test_maildir_stale_lock);
	g_test_add_func("/deliver/maildir/readonly", test_maildir_readonly);

	g_test_add_func("/deliver/imap/append-exists", test_imap_append_exists);
	g_test_add_func("/deliver/imap/trycreate", test_imap_trycreate);
	g_test_add_func("/deliver/imap/utf8-folder", test_imap_utf8_folder);
	g_test_add_func("/deliver/imap/keyword", test_imap_keyword);
	g_test_add_func("/deliver/imap/bad-flag", test_imap_bad_flag);
	g_test_add_func("/deliver/imap/set-flags", test_imap_set_flags);
	g_test_add_func("/deliver/imap/set-flags-bad", test_imap_set_flags_bad);
	g_test_add_func("/deliver/imap/maildir-keywords", test_maildir_dovecot_reads);
	g_test_add_func("/deliver/imap/wrong-password", test_imap_wrong_password);
	g_test_add_func("/deliver/imap/refused", test_imap_refused);
	g_test_add_func("/deliver/imap/bad-config", test_imap_bad_config);

	g_test_add_func("/deliver/fake/appenduid", test_fake_appenduid);
	g_test_add_func("/deliver/fake/no-uidplus", test_fake_no_uidplus);
	g_test_add_func("/deliver/fake/trycreate", test_fake_trycreate);
	g_test_add_func("/deliver/fake/overquota", test_fake_overquota);
	g_test_add_func("/deliver/fake/toobig", test_fake_toobig);
	g_test_add_func("/deliver/fake/append-no", test_fake_append_no);
	g_test_add_func("/deliver/fake/append-bad", test_fake_append_bad);
	g_test_add_func("/deliver/fake/unavailable", test_fake_unavailable);
	g_test_add_func("/deliver/fake/bye", test_fake_bye);
	g_test_add_func("/deliver/fake/disconnect", test_fake_disconnect);
	g_test_add_func("/deliver/fake/greeting-bye", test_fake_greeting_bye);
	g_test_add_func("/deliver/fake/login-unavailable", test_fake_login_unavailable);
	g_test_add_func("/deliver/fake/reconnect", test_fake_reconnect);
	g_test_add_func("/deliver/fake/no-starttls", test_fake_no_starttls);

	return g_test_run();
}
