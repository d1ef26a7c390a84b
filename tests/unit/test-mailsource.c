/* test-mailsource: reading mail from Maildirs, .eml files and directories, mbox files and
 * a station's IMAP folder.
 *
 * The file tests run in a temporary directory. The IMAP tests need the private Dovecot
 * of tests/lib/dovecot.sh ($WB_IMAP_PORT) and are skipped without it; each run uses a
 * folder of its own, so reruns against one server never see old mail.
 *
 *   sh tests/lib/dovecot.sh start /tmp/wbdc.X
 *   WB_IMAP_PORT=$(cat /tmp/wbdc.X/port) ./test-mailsource
 *   sh tests/lib/dovecot.sh stop /tmp/wbdc.X */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "caps.h"
#include "imaptest.h"
#include "mailsource.h"
#include "testlib.h"

#define IMAP_USER "jadavpur"

/* ---- collecting what the callback is given ----------------------------------------- */

struct got {
	char *where;
	GBytes *mail;
	bool truncated;
};

static void got_free(gpointer p)
{
	struct got *g = p;
	g_free(g->where);
	g_bytes_unref(g->mail);
	g_free(g);
}

/* Mails only; what was skipped is counted by count_skipped. */
static bool collect(const char *where, GBytes *mail, bool truncated, const char *skipped,
		    void *data, GError **error)
{
	(void)error;
	if (!mail) {
		g_assert_nonnull(skipped);
		return true;
	}
	g_assert_null(skipped);
	struct got *g = g_new0(struct got, 1);
	g->where = g_strdup(where);
	g->mail = g_bytes_ref(mail);
	g->truncated = truncated;
	g_ptr_array_add(data, g);
	return true;
}

static bool count_skipped(const char *where, GBytes *mail, bool truncated,
			  const char *skipped, void *data, GError **error)
{
	(void)truncated, (void)error;
	g_assert_true((mail == NULL) == (skipped != NULL));
	if (skipped)
		g_ptr_array_add(data, g_strdup_printf("%s: %s", where, skipped));
	return true;
}

static GPtrArray *read_path(const char *path)
{
	GPtrArray *all = g_ptr_array_new_with_free_func(got_free);
	g_autoptr(GError) error = NULL;

	g_assert_true(wb_mailsource_path(path, collect, all, &error));
	g_assert_no_error(error);
	return all;
}

static void assert_mail(const GPtrArray *all, guint i, const char *where, const char *text,
			bool truncated)
{
	g_assert_cmpuint(i, <, all->len);
	const struct got *g = all->pdata[i];
	gsize len;
	const char *p = g_bytes_get_data(g->mail, &len);
	g_assert_cmpstr(g->where, ==, where);
	g_assert_cmpmem(p, len, text, strlen(text));
	g_assert_cmpint(g->truncated, ==, truncated);
}

/* ---- scratch files --------------------------------------------------------------------- */

static char *scratch(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("test-mailsource-XXXXXX", &error);
	g_assert_no_error(error);
	return dir;
}

static char *put(const char *dir, const char *name, const char *text, gssize len)
{
	char *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, text, len, &error));
	g_assert_no_error(error);
	return path;
}

static void mkdirs(const char *dir, const char *sub)
{
	g_autofree char *path = g_build_filename(dir, sub, NULL);
	g_assert_cmpint(g_mkdir_with_parents(path, 0700), ==, 0);
}

static const char MAIL_A[] = "Message-ID: <a@x>\nSubject: a\n\nbody a\n";
static const char MAIL_B[] = "Message-ID: <b@x>\r\nSubject: b\r\n\r\nbody b\r\n";
static const char MAIL_C[] = "message-id:\n <c@x>\nSubject: c\n\nbody c\n";
static const char JUNK[] = "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0\x01\0\0\0";

/* ---- PATH ---------------------------------------------------------------------------- */

static void test_maildir(void)
{
	g_autofree char *dir = scratch();
	mkdirs(dir, "cur");
	mkdirs(dir, "new");
	mkdirs(dir, "tmp");
	g_free(put(dir, "new/1000.M1.host", MAIL_A, -1));
	g_free(put(dir, "cur/1001.M1.host:2,S", MAIL_B, -1));
	g_free(put(dir, "new/1002.M1.host", MAIL_C, -1));
	g_free(put(dir, "tmp/0999.M1.host", MAIL_C, -1)); /* being written: not a mail yet */
	g_free(put(dir, "cur/.hidden", MAIL_C, -1));
	g_autofree char *outside = put(dir, "outside.eml", MAIL_A, -1);
	g_autofree char *link = g_build_filename(dir, "new", "1003.M1.host", NULL);
	g_assert_cmpint(symlink(outside, link), ==, 0);

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*1003.M1.host: skipped: a symbolic link*");
	g_autoptr(GPtrArray) all = read_path(dir);
	g_test_assert_expected_messages();
	g_assert_cmpuint(all->len, ==, 3);
	g_autofree char *w0 = g_build_filename(dir, "new", "1000.M1.host", NULL);
	g_autofree char *w1 = g_build_filename(dir, "cur", "1001.M1.host:2,S", NULL);
	g_autofree char *w2 = g_build_filename(dir, "new", "1002.M1.host", NULL);
	assert_mail(all, 0, w0, MAIL_A, false);
	assert_mail(all, 1, w1, MAIL_B, false);
	assert_mail(all, 2, w2, MAIL_C, false);
	rm_rf(dir);
}

static void test_empty_maildir(void)
{
	g_autofree char *dir = scratch();
	mkdirs(dir, "cur");
	mkdirs(dir, "new");
	g_autoptr(GPtrArray) all = read_path(dir);
	g_assert_cmpuint(all->len, ==, 0);
	rm_rf(dir);
}

static void test_eml_dir(void)
{
	g_autofree char *dir = scratch();
	g_autofree char *a = put(dir, "a.eml", MAIL_A, -1);
	g_autofree char *b = put(dir, "b.EML", MAIL_B, -1);
	g_free(put(dir, "notes.txt", "Title: not a mail\n", -1));
	mkdirs(dir, "sub.eml");

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*sub.eml: skipped: not a regular file*");
	g_autoptr(GPtrArray) all = read_path(dir);
	g_test_assert_expected_messages();
	g_assert_cmpuint(all->len, ==, 2);
	assert_mail(all, 0, a, MAIL_A, false);
	assert_mail(all, 1, b, MAIL_B, false);
	rm_rf(dir);
}

/* Junk, an empty file and one over the cap are skipped, each with a warning. */
static void test_dir_of_non_mail(void)
{
	g_autofree char *dir = scratch();
	g_free(put(dir, "1-junk.eml", JUNK, sizeof JUNK - 1));
	g_free(put(dir, "2-empty.eml", "", 0));
	g_autofree char *big = put(dir, "3-big.eml", "Subject: big\n\n", -1);
	g_assert_cmpint(truncate(big, (off_t)WB_MAX_MAIL_BYTES + 1), ==, 0); /* sparse */

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*1-junk.eml: skipped: not mail*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*2-empty.eml: skipped: the file is empty*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "*3-big.eml: skipped: the mail has 157286401 bytes, over the limit*");
	g_autoptr(GPtrArray) all = read_path(dir);
	g_test_assert_expected_messages();
	g_assert_cmpuint(all->len, ==, 0);

	/* and each is told to the callback with why, so a checker can count it */
	g_autoptr(GPtrArray) skips = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	for (int i = 0; i < 3; i++)
		g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*skipped*");
	g_assert_true(wb_mailsource_path(dir, count_skipped, skips, &error));
	g_test_assert_expected_messages();
	g_assert_cmpuint(skips->len, ==, 3);
	g_assert_nonnull(strstr(skips->pdata[0], "1-junk.eml: not mail"));
	g_assert_nonnull(strstr(skips->pdata[1], "2-empty.eml: the file is empty"));
	g_assert_nonnull(strstr(skips->pdata[2], "3-big.eml: the mail has 157286401 bytes"));
	rm_rf(dir);
}

static void test_dir_without_mail(void)
{
	g_autofree char *dir = scratch();
	g_free(put(dir, "README", "nothing here\n", -1));
	g_autoptr(GError) error = NULL;
	g_assert_false(wb_mailsource_path(dir, collect, NULL, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT);
	g_assert_nonnull(strstr(error->message, dir));
	g_assert_nonnull(strstr(error->message, "Maildir"));
	rm_rf(dir);
}

static void test_single_eml(void)
{
	g_autofree char *dir = scratch();
	g_autofree char *path = put(dir, "one.mail", MAIL_B, -1); /* the name does not matter */
	g_autoptr(GPtrArray) all = read_path(path);
	g_assert_cmpuint(all->len, ==, 1);
	assert_mail(all, 0, path, MAIL_B, false);
	rm_rf(dir);
}

static const char MBOX[] =
	"From alice@example.org Mon Dec  1 10:00:00 2025\n"
	"Message-ID: <1@x>\n"
	"Subject: one\n"
	"\n"
	"first\n"
	">From the start (mboxrd)\n"
	">>From twice\n"
	"From inside a paragraph, not after an empty line\n"
	"\n"
	"From bob@example.org Mon Dec  1 10:01:00 2025\n"
	"Message-ID: <2@x>\r\n"
	"\r\n"
	"second, CRLF\r\n"
	"\r\n"
	"From carol@example.org Mon Dec  1 10:02:00 2025\n"
	"Message-ID: <3@x>\n"
	"\n"
	"third\n"
	"\n";

static void test_mbox(void)
{
	g_autofree char *dir = scratch();
	g_autofree char *path = put(dir, "archive", MBOX, -1);
	g_autoptr(GPtrArray) all = read_path(path);
	g_autofree char *w1 = g_strdup_printf("%s (mbox mail 1, line 1)", path);
	g_autofree char *w2 = g_strdup_printf("%s (mbox mail 2, line 10)", path);
	g_autofree char *w3 = g_strdup_printf("%s (mbox mail 3, line 15)", path);

	g_assert_cmpuint(all->len, ==, 3);
	assert_mail(all, 0, w1,
		    "Message-ID: <1@x>\nSubject: one\n\nfirst\nFrom the start (mboxrd)\n"
		    ">From twice\nFrom inside a paragraph, not after an empty line\n", false);
	assert_mail(all, 1, w2, "Message-ID: <2@x>\r\n\r\nsecond, CRLF\r\n", false);
	assert_mail(all, 2, w3, "Message-ID: <3@x>\n\nthird\n", false);
	rm_rf(dir);
}

static void test_mbox_truncated(void)
{
	g_autofree char *dir = scratch();
	/* Cut in the middle of the third mail's body line. */
	const char *cut = strstr(MBOX, "third") + 3;
	g_autofree char *path = put(dir, "cut.mbox", MBOX, cut - MBOX);
	g_autoptr(GPtrArray) all = read_path(path);
	g_autofree char *w3 = g_strdup_printf("%s (mbox mail 3, line 15)", path);

	g_assert_cmpuint(all->len, ==, 3);
	g_assert_false(((struct got *)all->pdata[0])->truncated);
	g_assert_false(((struct got *)all->pdata[1])->truncated);
	assert_mail(all, 2, w3, "Message-ID: <3@x>\n\nthi", true);

	/* Cut at a line end but before the empty line that closes every mail. */
	g_autofree char *path2 = put(dir, "cut2.mbox", MBOX, (gssize)strlen(MBOX) - 1);
	g_autoptr(GPtrArray) all2 = read_path(path2);
	g_autofree char *w3b = g_strdup_printf("%s (mbox mail 3, line 15)", path2);
	g_assert_cmpuint(all2->len, ==, 3);
	assert_mail(all2, 2, w3b, "Message-ID: <3@x>\n\nthird\n", true);
	rm_rf(dir);
}

/* A long line with no newline at all, across many read buffers. */
static void test_mbox_long_line(void)
{
	g_autofree char *dir = scratch();
	GString *s = g_string_new("From x Mon Dec  1 10:00:00 2025\nSubject: long\n\n");
	for (int i = 0; i < 300000; i++)
		g_string_append_c(s, (char)('a' + i % 26));
	g_string_append(s, "\n\n");
	g_autofree char *path = put(dir, "long", s->str, (gssize)s->len);
	g_autoptr(GPtrArray) all = read_path(path);
	g_assert_cmpuint(all->len, ==, 1);
	const struct got *g = all->pdata[0];
	g_assert_cmpuint(g_bytes_get_size(g->mail), ==, s->len - 32 - 1);
	g_assert_false(g->truncated);
	g_string_free(s, TRUE);
	rm_rf(dir);
}

static void assert_path_fails(const char *path, int code, const char *words)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(got_free);

	g_assert_false(wb_mailsource_path(path, collect, all, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, code);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, words));
	g_assert_cmpuint(all->len, ==, 0);
}

static void test_bad_paths(void)
{
	g_autofree char *dir = scratch();
	g_autofree char *empty = put(dir, "empty.eml", "", 0);
	g_autofree char *junk = put(dir, "junk.eml", JUNK, sizeof JUNK - 1);
	g_autofree char *missing = g_build_filename(dir, "no-such.mbox", NULL);

	assert_path_fails(empty, WB_MAILSOURCE_FAILED, "empty");
	assert_path_fails(junk, WB_MAILSOURCE_FAILED, "not mail");
	assert_path_fails(missing, WB_MAILSOURCE_NO_INPUT, "pass a Maildir");
	rm_rf(dir);
}

static void test_unreadable(void)
{
	if (geteuid() == 0) {
		g_test_skip("root reads every file");
		return;
	}
	g_autofree char *dir = scratch();
	g_autofree char *path = put(dir, "a.eml", MAIL_A, -1);
	g_assert_cmpint(g_chmod(path, 0), ==, 0);
	assert_path_fails(dir, WB_MAILSOURCE_FAILED, "cannot open");
	assert_path_fails(path, WB_MAILSOURCE_NO_INPUT, "cannot open");
	rm_rf(dir);
}

static bool stop_at_second(const char *where, GBytes *mail, bool truncated,
			   const char *skipped, void *data, GError **error)
{
	(void)where, (void)mail, (void)truncated, (void)skipped;
	int *n = data;
	if (++*n < 2)
		return true;
	g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INTR, "enough");
	return false;
}

static void test_callback_stops(void)
{
	g_autofree char *dir = scratch();
	g_autofree char *path = put(dir, "archive", MBOX, -1);
	g_autoptr(GError) error = NULL;
	int n = 0;

	g_assert_false(wb_mailsource_path(path, stop_at_second, &n, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INTR);
	g_assert_cmpint(n, ==, 2);
	rm_rf(dir);
}

/* ---- a station's Maildir ------------------------------------------------------------ */

static void test_station_maildir(void)
{
	g_autofree char *dir = scratch();
	struct wb_config cfg = { .data_dir = dir };
	struct wb_station st = { .key = (char *)"bhowanipore", .deliver = WB_DELIVER_MAILDIR };
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(got_free);
	GBytes *mail = NULL;
	char *where = NULL;

	/* Nothing delivered yet: no Maildir. */
	g_assert_false(wb_mailsource_station(&cfg, &st, collect, all, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT);
	g_assert_nonnull(strstr(error->message, "bhowanipore"));
	g_clear_error(&error);
	g_assert_false(wb_mailsource_fetch(&cfg, &st, "a@x", &mail, &where, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT);
	g_clear_error(&error);

	mkdirs(dir, "mail/bhowanipore/cur");
	mkdirs(dir, "mail/bhowanipore/new");
	g_free(put(dir, "mail/bhowanipore/new/1.x", MAIL_A, -1));
	g_free(put(dir, "mail/bhowanipore/cur/2.x:2,", MAIL_C, -1));
	g_assert_true(wb_mailsource_station(&cfg, &st, collect, all, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 2);

	g_assert_true(wb_mailsource_fetch(&cfg, &st, "c@x", &mail, &where, &error));
	g_assert_no_error(error);
	g_assert_nonnull(mail);
	g_assert_cmpmem(g_bytes_get_data(mail, NULL), g_bytes_get_size(mail), MAIL_C,
			strlen(MAIL_C));
	g_assert_true(g_str_has_suffix(where, "/mail/bhowanipore/cur/2.x:2,"));
	g_bytes_unref(mail);
	g_free(where);

	g_assert_true(wb_mailsource_fetch(&cfg, &st, "C@x", &mail, &where, &error));
	g_assert_null(mail);
	g_assert_null(where);
	g_assert_false(wb_mailsource_fetch(&cfg, &st, "<a@x>", &mail, &where, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED);
	rm_rf(dir);
}

/* ---- a station's IMAP folder ----------------------------------------------------------- */

struct imap_fx {
	char *url;
	char *folder;
	struct wb_config cfg;
	struct wb_station st;
};

static void imap_fx_init(struct imap_fx *f)
{
	g_autofree char *uuid = g_uuid_string_random();
	f->url = g_strdup_printf("imap://127.0.0.1:%s", g_getenv("WB_IMAP_PORT"));
	f->folder = g_strdup_printf("ms-%s", uuid);
	f->cfg = (struct wb_config){ .imap_url = f->url };
	f->st = (struct wb_station){ .key = (char *)"jadavpur", .deliver = WB_DELIVER_IMAP,
				     .imap_user = (char *)IMAP_USER,
				     .imap_password = (char *)"secret", .folder = f->folder };
}

static void imap_fx_clear(struct imap_fx *f)
{
	g_free(f->url);
	g_free(f->folder);
}

/* CREATE the folder and APPEND the mails (no flags); returns their UIDs. */
static void imap_fill(const struct imap_fx *f, const char *const *mails, uint32_t *uids)
{
	struct wb_imapconn c = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(wb_imapconn_init(&c, WB_MAILSOURCE_ERROR, &f->cfg, IMAP_USER, "secret",
				       &error));
	g_assert_true(wb_imapconn_connect(&c, &error));
	g_assert_no_error(error);
	g_assert_cmpint(mailimap_create(c.imap, f->folder), ==, MAILIMAP_NO_ERROR);
	for (size_t i = 0; mails[i] != NULL; i++) {
		uint32_t validity = 0;
		g_assert_cmpint(mailimap_uidplus_append(c.imap, f->folder, NULL, NULL, mails[i],
							strlen(mails[i]), &validity, &uids[i]),
				==, MAILIMAP_NO_ERROR);
		g_assert_cmpuint(uids[i], !=, 0);
	}
	wb_imapconn_clear(&c);
}

static void test_imap(void)
{
	if (!imaptest_need_imap())
		return;
	struct imap_fx f;
	imap_fx_init(&f);
	static const char *const mails[] = {
		"Message-ID: <one@wa.example>\r\nSubject: one\r\n\r\nfirst\r\n",
		"Message-ID: <two@wa.example>\r\nSubject: two\r\n\r\nsecond\r\nFrom here\r\n",
		"Message-ID: <three@wa.example>\r\nSubject: three\r\n\r\nthird\r\n",
		NULL,
	};
	uint32_t uids[3];
	imap_fill(&f, mails, uids);

	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(got_free);
	g_autoptr(GError) error = NULL;
	g_assert_true(wb_mailsource_station(&f.cfg, &f.st, collect, all, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		const struct got *g = all->pdata[i];
		g_autofree char *suffix = g_strdup_printf(";UID=%u", uids[i]);
		g_assert_true(g_str_has_prefix(g->where, f.url));
		g_assert_nonnull(strstr(g->where, f.folder));
		g_assert_true(g_str_has_suffix(g->where, suffix));
		assert_mail(all, i, g->where, mails[i], false);
		g_assert_false(imaptest_has_flag(IMAP_USER, f.folder, uids[i], "\\Seen"));
	}

	GBytes *mail = NULL;
	char *where = NULL;
	g_assert_true(wb_mailsource_fetch(&f.cfg, &f.st, "two@wa.example", &mail, &where, &error));
	g_assert_no_error(error);
	g_assert_nonnull(mail);
	g_assert_cmpmem(g_bytes_get_data(mail, NULL), g_bytes_get_size(mail), mails[1],
			strlen(mails[1]));
	g_assert_cmpstr(where, ==, ((struct got *)all->pdata[1])->where);
	g_bytes_unref(mail);
	g_free(where);
	g_assert_false(imaptest_has_flag(IMAP_USER, f.folder, uids[1], "\\Seen"));

	/* Absent, and one the header search matches as a substring only. */
	g_assert_true(wb_mailsource_fetch(&f.cfg, &f.st, "four@wa.example", &mail, &where,
					  &error));
	g_assert_no_error(error);
	g_assert_null(mail);
	g_assert_null(where);
	g_assert_true(wb_mailsource_fetch(&f.cfg, &f.st, "wo@wa.example", &mail, NULL, &error));
	g_assert_no_error(error);
	g_assert_null(mail);
	imap_fx_clear(&f);
}

static void test_imap_missing_folder(void)
{
	if (!imaptest_need_imap())
		return;
	struct imap_fx f;
	imap_fx_init(&f);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(got_free);

	g_assert_false(wb_mailsource_station(&f.cfg, &f.st, collect, all, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, f.folder));
	g_assert_null(strstr(error->message, "secret"));
	g_clear_error(&error);

	GBytes *mail = NULL;
	g_assert_false(wb_mailsource_fetch(&f.cfg, &f.st, "one@wa.example", &mail, NULL, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT);
	imap_fx_clear(&f);
}

static void test_imap_empty_folder(void)
{
	if (!imaptest_need_imap())
		return;
	struct imap_fx f;
	imap_fx_init(&f);
	static const char *const none[] = { NULL };
	imap_fill(&f, none, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(got_free);
	g_assert_true(wb_mailsource_station(&f.cfg, &f.st, collect, all, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 0);
	imap_fx_clear(&f);
}

static void test_imap_wrong_password(void)
{
	if (!imaptest_need_imap())
		return;
	struct imap_fx f;
	imap_fx_init(&f);
	f.st.imap_password = (char *)"not-the-password";
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(got_free);
	g_assert_false(wb_mailsource_station(&f.cfg, &f.st, collect, all, &error));
	g_assert_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED);
	g_test_message("%s", error->message);
	g_assert_null(strstr(error->message, "not-the-password"));
	g_assert_nonnull(strstr(error->message, IMAP_USER));
	imap_fx_clear(&f);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/mailsource/maildir", test_maildir);
	g_test_add_func("/mailsource/maildir-empty", test_empty_maildir);
	g_test_add_func("/mailsource/eml-dir", test_eml_dir);
	g_test_add_func("/mailsource/dir-of-non-mail", test_dir_of_non_mail);
	g_test_add_func("/mailsource/dir-without-mail", test_dir_without_mail);
	g_test_add_func("/mailsource/single-eml", test_single_eml);
	g_test_add_func("/mailsource/mbox", test_mbox);
	g_test_add_func("/mailsource/mbox-truncated", test_mbox_truncated);
	g_test_add_func("/mailsource/mbox-long-line", test_mbox_long_line);
	g_test_add_func("/mailsource/bad-paths", test_bad_paths);
	g_test_add_func("/mailsource/unreadable", test_unreadable);
	g_test_add_func("/mailsource/callback-stops", test_callback_stops);
	g_test_add_func("/mailsource/station-maildir", test_station_maildir);
	g_test_add_func("/mailsource/imap", test_imap);
	g_test_add_func("/mailsource/imap-missing-folder", test_imap_missing_folder);
	g_test_add_func("/mailsource/imap-empty-folder", test_imap_empty_folder);
	g_test_add_func("/mailsource/imap-wrong-password", test_imap_wrong_password);
	return g_test_run();
}
