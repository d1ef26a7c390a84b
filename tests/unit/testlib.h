/* testlib: tiny helpers shared by the unit test programs (header-only). */
#ifndef WB_TESTLIB_H
#define WB_TESTLIB_H

#include <glib.h>

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

#endif
