/* testlib: tiny helpers shared by the unit test programs (header-only). */
#ifndef WB_TESTLIB_H
#define WB_TESTLIB_H

#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sqlite3.h>

/* Contents of tests/fixtures/DIR/NAME (the runner sets WB_TOP; default: cwd). */
static inline GBytes *fixture_in(const char *dir, const char *name)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *path = g_build_filename(top ? top : ".", "tests", "fixtures", dir,
						 name, NULL);
	char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &data, &len, &err))
		g_error("fixture %s: %s", path, err->message);
	return g_bytes_new_take(data, len);
}

/* Contents of tests/fixtures/webhooks/NAME. */
static inline GBytes *fixture(const char *name)
{
	return fixture_in("webhooks", name);
}

/* Remove a directory tree (test scratch space); symlinks are removed, not followed. */
/* SQL run on a database file through a connection of its own, as someone with access to
 * the file would (tampering tests). */
static inline void sql_on_file(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		g_error("%s: %s", sql, msg);
	sqlite3_close(db);
}

static inline void rm_rf(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	if (dir != NULL) {
		const char *name;
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *child = g_build_filename(path, name, NULL);
			struct stat st;
			if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
				rm_rf(child);
			else
				g_unlink(child);
		}
		g_dir_close(dir);
	}
	g_rmdir(path);
}

/* A loopback port nobody listens on: one bound and never listened on. Keep *fd open
 * while the port is used, so no other program can take it and answer. */
static inline int unanswered_port(int *fd)
{
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;

	g_assert_cmpint(bind(*fd, (struct sockaddr *)&a, sizeof a), ==, 0);
	g_assert_cmpint(getsockname(*fd, (struct sockaddr *)&a, &len), ==, 0);
	return ntohs(a.sin_port);
}

#endif
