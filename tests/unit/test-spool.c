/* Unit tests for the spool: names, files made whole or not at all, mappings, pages let go
 * behind a reader, and the sweep of what crashes left. */
#include "testlib.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmpdir(void)
{
	char *d = g_dir_make_tmp("wb-spool-XXXXXX", NULL);
	g_assert_nonnull(d);
	return d;
}

static void put(const char *dir, const char *name, const char *text)
{
	g_autofree char *p = g_build_filename(dir, name, NULL);
	g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static bool there(const char *dir, const char *name)
{
	g_autofree char *p = g_build_filename(dir, name, NULL);
	return g_file_test(p, G_FILE_TEST_EXISTS);
}

/* ---- names ------------------------------------------------------------------------- */

static void test_names(void)
{
	g_autofree char *a = wb_spool_mail_path("/s", 42, "bhowanipore", "BHP-2026-000042");
	g_assert_cmpstr(a, ==, "/s/mail-42.bhowanipore.BHP-2026-000042.eml");
	/* anything that could leave the directory or split the name is written %XX */
	g_autofree char *b = wb_spool_mail_path("/s", 7, "../x.y", "A/B C");
	g_assert_cmpstr(b, ==, "/s/mail-7.%2E%2E%2Fx%2Ey.A%2FB%20C.eml");
	g_autofree char *c = wb_spool_mail_path("/s", 7, NULL, NULL);
	g_assert_cmpstr(c, ==, "/s/mail-7.-.-.eml");
	/* two values never give one name */
	g_autofree char *d = wb_spool_mail_path("/s", 7, "a.b", "c");
	g_autofree char *e = wb_spool_mail_path("/s", 7, "a", "b.c");
	g_assert_cmpstr(d, !=, e);
}

/* ---- files ------------------------------------------------------------------------- */

/* A temporary file becomes the file under its name whole, and maps as its bytes. */
static void test_temp_commit_map(void)
{
	g_autofree char *top = tmpdir();
	g_autofree char *dir = g_build_filename(top, "deeper", "spool", NULL);
	g_autofree char *tmp = NULL;
	g_autoptr(GError) err = NULL;
	int fd = wb_spool_temp(dir, "mail", 9, &tmp, &err);
	g_assert_no_error(err);
	g_assert_cmpint(fd, >=, 0);
	GStatBuf st;
	g_assert_cmpint(g_stat(dir, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	g_autofree char *base = g_path_get_basename(tmp);
	g_autofree char *want = g_strdup_printf("tmp-%ld-mail-9-", (long)getpid());
	g_assert_true(g_str_has_prefix(base, want));
	g_assert_cmpint(write(fd, "Subject: x\r\n\r\nbody\r\n", 20), ==, 20);
	g_autofree char *path = wb_spool_mail_path(dir, 9, "st", "REF");
	g_assert_true(wb_spool_commit(fd, tmp, path, &err));
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
	g_autoptr(GBytes) b = wb_spool_map(path, &err);
	g_assert_no_error(err);
	g_assert_cmpmem(g_bytes_get_data(b, NULL), g_bytes_get_size(b), "Subject: x\r\n\r\nbody\r\n",
			20);
	wb_spool_remove(path);
	wb_spool_remove(path); /* gone already: no error */
	g_assert_null(wb_spool_map(path, &err));
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	rm_rf(top);
}

/* A spool that cannot be made, and a commit that cannot happen, say where. */
static void test_errors(void)
{
	g_autofree char *top = tmpdir();
	put(top, "file", "a file where a directory should be\n");
	g_autofree char *dir = g_build_filename(top, "file", "spool", NULL);
	g_autofree char *tmp = NULL;
	g_autoptr(GError) err = NULL;
	g_assert_cmpint(wb_spool_temp(dir, "media", 1, &tmp, &err), ==, -1);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
	g_assert_nonnull(strstr(err->message, dir));
	g_assert_null(tmp);
	g_clear_error(&err);
	/* renaming into a directory that is gone: the temporary file goes too */
	int fd = wb_spool_temp(top, "mail", 2, &tmp, &err);
	g_assert_cmpint(fd, >=, 0);
	g_autofree char *nowhere = g_build_filename(top, "gone", "mail-2.a.b.eml", NULL);
	g_assert_false(wb_spool_commit(fd, tmp, nowhere, &err));
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
	rm_rf(top);
}

/* ---- letting read pages go --------------------------------------------------------- */

static gint64 rss_file_kb(void)
{
	g_autofree char *s = NULL;
	g_assert_true(g_file_get_contents("/proc/self/status", &s, NULL, NULL));
	const char *p = strstr(s, "RssFile:");
	return p ? g_ascii_strtoll(p + 8, NULL, 10) : -1;
}

/* Pages read from a mapping leave the resident size while the bytes stay readable. */
static void test_drop_behind(void)
{
	g_autofree char *top = tmpdir();
	g_autofree char *path = g_build_filename(top, "big", NULL);
	const gsize size = 64u << 20;
	g_autofree guint8 *data = g_malloc(size);
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)(i * 2654435761u >> 24);
	g_assert_true(g_file_set_contents(path, (const char *)data, (gssize)size, NULL));
	g_autoptr(GBytes) b = wb_spool_map(path, NULL);
	g_assert_nonnull(b);
	const volatile guint8 *m = g_bytes_get_data(b, NULL);
	gint64 before = rss_file_kb();
	guint sum = 0;
	for (gsize i = 0; i < size; i += 4096)
		sum += m[i];
	gint64 read_all = rss_file_kb();
	g_assert_cmpint(read_all - before, >=, 48 * 1024); /* the pages read are resident */
	struct wb_spool_drop *d = wb_spool_drop_behind(b);
	/* waits for the thread (a limit only for a hang) */
	for (int i = 0; i < 6000 && rss_file_kb() - before >= 16 * 1024; i++)
		g_usleep(10 * 1000);
	g_assert_cmpint(rss_file_kb() - before, <, 16 * 1024);
	guint again = 0;
	for (gsize i = 0; i < size; i += 4096)
		again += m[i];
	g_assert_cmpuint(again, ==, sum);
	g_assert_cmpmem((const void *)m, size, data, size);
	wb_spool_drop_stop(d);
	wb_spool_drop_stop(NULL);
	g_assert_null(wb_spool_drop_behind(NULL));
	rm_rf(top);
}

/* ---- the sweep --------------------------------------------------------------------- */

/* keep(): only message 5 rendered for "st"/"R" is still needed. */
static bool keep_five(int64_t id, const char *name, void *user)
{
	(*(int *)user)++;
	return id == 5 && strcmp(name, "mail-5.st.R.eml") == 0;
}

static void test_sweep(void)
{
	g_autofree char *dir = tmpdir();
	/* a process that is surely gone: a child that has exited and been reaped */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	g_assert_cmpint(waitpid(child, NULL, 0), ==, child);
	g_autofree char *dead = g_strdup_printf("tmp-%ld-media-3-AbCdEf", (long)child);
	g_autofree char *mine = g_strdup_printf("tmp-%ld-mail-4-AbCdEf", (long)getpid());
	const char *names[] = { dead, mine, "mail-5.st.R.eml", "mail-5.other.R.eml",
				"mail-6.st.R.eml", "notes.txt", "mail-x.eml", "tmp-x-y" };
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		put(dir, names[i], "x");
	int asked = 0;
	g_assert_cmpuint(wb_spool_sweep(dir, keep_five, &asked), ==, 3);
	g_assert_cmpint(asked, ==, 3); /* the three mails, nothing else */
	g_assert_false(there(dir, dead));
	g_assert_true(there(dir, mine));           /* this process is working on it */
	g_assert_true(there(dir, "mail-5.st.R.eml"));
	g_assert_false(there(dir, "mail-5.other.R.eml"));
	g_assert_false(there(dir, "mail-6.st.R.eml"));
	g_assert_true(there(dir, "notes.txt"));    /* not the spool's: left alone */
	g_assert_true(there(dir, "mail-x.eml"));
	g_assert_true(there(dir, "tmp-x-y"));
	g_autofree char *none = g_build_filename(dir, "absent", NULL);
	g_assert_cmpuint(wb_spool_sweep(none, keep_five, &asked), ==, 0);
	rm_rf(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/spool/names", test_names);
	g_test_add_func("/spool/temp-commit-map", test_temp_commit_map);
	g_test_add_func("/spool/errors", test_errors);
	g_test_add_func("/spool/drop-behind", test_drop_behind);
	g_test_add_func("/spool/sweep", test_sweep);
	return g_test_run();
}
