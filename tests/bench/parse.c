/* How long the reply parser takes a mail: every reply under the directories given
 * (files *.eml as whole messages; input.txt and input.html, the public corpora's
 * layout, wrapped in a minimal message first) is parsed `rounds` times with
 * wb_reply_parse, the function `wabridge reply` and `parse-reply` call, and each mail's
 * best time counts (the others carry the machine's noise). Prints key=value lines for
 * tests/bench/run.sh: mails, mean_us, p99_us, max_us and the slowest file.
 *
 *   build/bench-parse [-r rounds] DIR... */
#include "replyparse.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GBytes *wrapped(const char *path)
{
	g_autofree char *body = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &body, &len, NULL))
		return NULL;
	if (g_str_has_suffix(path, ".eml"))
		return g_bytes_new(body, len);
	const char *type = g_str_has_suffix(path, ".html") ? "text/html" : "text/plain";
	g_autofree char *mail = g_strdup_printf("From: Officer <officer@police.test>\r\n"
						"Subject: Re: complaint\r\nMIME-Version: 1.0\r\n"
						"Content-Type: %s; charset=utf-8\r\n\r\n", type);
	GByteArray *b = g_byte_array_new();
	g_byte_array_append(b, (const guint8 *)mail, (guint)strlen(mail));
	g_byte_array_append(b, (const guint8 *)body, (guint)len);
	return g_byte_array_free_to_bytes(b);
}

static void collect(const char *dir, GPtrArray *paths)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	if (!d)
		return;
	const char *name;
	while ((name = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		if (g_file_test(path, G_FILE_TEST_IS_DIR))
			collect(path, paths);
		else if (g_str_has_suffix(name, ".eml") || strcmp(name, "input.txt") == 0 ||
			 strcmp(name, "input.html") == 0)
			g_ptr_array_add(paths, g_steal_pointer(&path));
	}
	g_dir_close(d);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	g_mime_init();
	int rounds = 20, first = 1;
	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		rounds = atoi(argv[2]);
		first = 3;
	}
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	for (int i = first; i < argc; i++)
		collect(argv[i], paths);
	g_autoptr(GArray) best = g_array_new(FALSE, FALSE, sizeof(double));
	double worst = 0;
	const char *slowest = "-";
	for (guint i = 0; i < paths->len; i++) {
		g_autoptr(GBytes) mail = wrapped(paths->pdata[i]);
		if (!mail)
			continue;
		gsize len;
		const void *data = g_bytes_get_data(mail, &len);
		double t = G_MAXDOUBLE;
		for (int r = 0; r < rounds; r++) {
			gint64 t0 = g_get_monotonic_time();
			struct wb_reply *rp = wb_reply_parse(data, len, NULL, NULL);
			gint64 t1 = g_get_monotonic_time();
			wb_reply_free(rp);
			t = MIN(t, (double)(t1 - t0));
		}
		g_array_append_val(best, t);
		if (t > worst) {
			worst = t;
			slowest = paths->pdata[i];
		}
	}
	if (best->len == 0) {
		printf("mails=0\n");
		return 0;
	}
	double sum = 0;
	for (guint i = 0; i < best->len; i++)
		sum += g_array_index(best, double, i);
	g_array_sort(best, by_value);
	guint p99 = (guint)(best->len * 99 / 100);
	printf("mails=%u\nmean_us=%.0f\np99_us=%.0f\nmax_us=%.0f\nslowest=%s\n", best->len,
	       sum / best->len, g_array_index(best, double, MIN(p99, best->len - 1)), worst,
	       slowest);
	return 0;
}
