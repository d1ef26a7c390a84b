/* testlib: tiny helpers shared by the unit test programs (header-only). */
#ifndef WB_TESTLIB_H
#define WB_TESTLIB_H

#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

/* Contents of tests/fixtures/webhooks/NAME (the runner sets WB_TOP; default: cwd). */
static inline GBytes *fixture(const char *name)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *path = g_build_filename(top ? top : ".", "tests", "fixtures", "webhooks",
						 name, NULL);
	char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;
	if (!g_file_get_contents(path, &data, &len, &err))
		g_error("fixture %s: %s", path, err->message);
	return g_bytes_new_take(data, len);
}

/* Remove a directory tree (test scratch space); symlinks are removed, not followed. */
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

#endif
