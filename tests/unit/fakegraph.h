/* fakegraph.h: start tests/lib/fakegraph.py (the fake Graph API) from a GTest program
 * and talk to its control API. Header-only, for test programs that define TOKEN before
 * including it; the fake exits when the test does (it watches its stdin). */
#ifndef WB_TEST_FAKEGRAPH_H
#define WB_TEST_FAKEGRAPH_H

#include "testlib.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static GPid fake_pid;
static int fake_in = -1, fake_out = -1;  /* its stdin: it exits when we do */
static int fake_port;
static char *fake_dir;
static char *api_base;

/* ---- the fake and its control API ---------------------------------------------------- */

G_GNUC_UNUSED static void start_fake(void)
{
	const char *top = g_getenv("WB_TOP");
	g_autofree char *script = g_build_filename(top ? top : ".", "tests", "lib", "fakegraph.py",
						   NULL);
	fake_dir = g_dir_make_tmp("wb-media-XXXXXX", NULL);
	g_assert_nonnull(fake_dir);
	const char *argv[] = { "python3", script, "--port", "0", "--token", TOKEN,
			       "--state-dir", fake_dir, "--watch-stdin", NULL };
	g_autoptr(GError) err = NULL;
	gboolean ok = g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
					       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
					       NULL, NULL, &fake_pid, &fake_in, &fake_out, NULL, &err);
	g_assert_no_error(err);
	g_assert_true(ok);
	FILE *f = fdopen(dup(fake_out), "r");
	char line[64] = "";
	if (f == NULL || fgets(line, sizeof line, f) == NULL ||
	    sscanf(line, "PORT %d", &fake_port) != 1)
		g_error("fakegraph.py did not say its port (got \"%s\")", line);
	fclose(f);
	api_base = g_strdup_printf("http://127.0.0.1:%d/v26.0", fake_port);
}

G_GNUC_UNUSED static void stop_fake(void)
{
	kill(fake_pid, SIGTERM);
	waitpid(fake_pid, NULL, 0);
	g_spawn_close_pid(fake_pid);
	close(fake_in);
	close(fake_out);
	rm_rf(fake_dir);
	g_free(fake_dir);
	g_free(api_base);
}

G_GNUC_UNUSED static size_t collect(char *p, size_t size, size_t n, void *user)
{
	g_string_append_len(user, p, (gssize)(size * n));
	return size * n;
}

/* GET (body NULL) or POST one control request; the answer must be 200. */
G_GNUC_UNUSED static char *control(const char *path, const char *body)
{
	g_autofree char *url = g_strdup_printf("http://127.0.0.1:%d%s", fake_port, path);
	GString *out = g_string_new(NULL);
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK || status != 200)
		g_error("control %s: %s, HTTP %ld: %s", path, curl_easy_strerror(rc), status, out->str);
	return g_string_free(out, FALSE);
}

G_GNUC_UNUSED static void control_json(const char *path, json_t *body)
{
	g_assert_nonnull(body);
	char *s = json_dumps(body, JSON_COMPACT);
	g_free(control(path, s));
	free(s);
	json_decref(body);
}

/* Every Graph/CDN request the fake has seen, oldest first (caller json_decref()s). */
G_GNUC_UNUSED static json_t *seen(void)
{
	g_autofree char *s = control("/_fake/requests", NULL);
	json_t *a = json_loads(s, 0, NULL);
	g_assert_true(json_is_array(a));
	return a;
}

G_GNUC_UNUSED static const char *field(json_t *reqs, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(reqs, i), key));
}

G_GNUC_UNUSED static const char *header(json_t *reqs, size_t i, const char *name)
{
	json_t *h = json_object_get(json_array_get(reqs, i), "headers");
	return json_string_value(json_object_get(h, name));
}

/* Everything a test program needs before its first test: no proxy between us and the
 * fake on loopback, no death by SIGPIPE, libcurl initialised, the fake running. */
G_GNUC_UNUSED static void fake_graph_setup(void)
{
	static const char *const proxies[] = { "http_proxy", "https_proxy", "all_proxy",
					       "HTTPS_PROXY", "ALL_PROXY" };
	for (size_t i = 0; i < G_N_ELEMENTS(proxies); i++)
		g_unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_fake();
}

#endif
