/* Unit tests for the media fetch, against tests/lib/fakegraph.py (Meta's wire format):
 * the bytes and hashes, the exact requests, and every failure the fake injects. */
#include "testlib.h"
#include "media.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Long and distinctive, so finding it in a message cannot be an accident. */
#define TOKEN "EAAJtestTOKENx7Qm2ZC9pBAsecretZBZCw4kq0"
#include "fakegraph.h" /* after TOKEN, which it uses */
#define PNID  "441880000100101"
#define MID   "1088475934612330"
#define KIB   1024u

/* Registers the medium spec (taken) with the fake; returns the field of its answer. */
static char *register_media(json_t *spec, const char *field)
{
	char *s = json_dumps(spec, JSON_COMPACT);
	g_autofree char *answer = control("/_fake/media", s);
	free(s);
	json_decref(spec);
	json_t *a = json_loads(answer, 0, NULL);
	char *value = g_strdup(json_string_value(json_object_get(a, field)));
	json_decref(a);
	return value;
}

/* Registers a medium; returns its SHA-256 in base64, as a webhook carries it. */
static char *add_media(const char *id, const char *mime, const void *data, size_t len,
		       bool size_as_number)
{
	g_autofree char *b64 = g_base64_encode(data, len);
	return register_media(json_pack("{s:s, s:s, s:s, s:b}", "id", id, "mime_type", mime,
					"data_b64", b64, "file_size_as_number", size_as_number),
			      "sha256_b64");
}

static void inject(const char *mode, int times)
{
	control_json("/_fake/fail", json_pack("{s:s, s:s, s:i}", "media_id", MID, "mode", mode,
					      "times", times));
}

static json_int_t status_of(json_t *reqs, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(reqs, i), "status"));
}

/* The last request once the fake has finished answering it (a stream may still run). */
static json_t *seen_done(size_t want)
{
	for (int i = 0; i < 1200; i++) { /* a minute: only a hang takes that long */
		json_t *r = seen();
		json_t *last = json_array_get(r, json_array_size(r) - 1);
		if (json_array_size(r) >= want && json_is_true(json_object_get(last, "done")))
			return r;
		json_decref(r);
		g_usleep(50 * 1000);
	}
	g_error("the fake did not finish its request %zu", want);
}

/* ---- fixtures --------------------------------------------------------------------------- */

/* A JPEG-like blob: SOI, APP0 "JFIF", pseudo-random scan data, EOI. */
static GBytes *jpeg_like(size_t len)
{
	guint8 *d = g_malloc(len);
	static const guint8 head[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0 };
	GRand *r = g_rand_new_with_seed((guint32)len);
	for (size_t i = 0; i < len; i++)
		d[i] = (guint8)g_rand_int_range(r, 0, 256);
	g_rand_free(r);
	memcpy(d, head, sizeof head);
	d[len - 2] = 0xff;
	d[len - 1] = 0xd9;
	return g_bytes_new_take(d, len);
}

struct fx {
	GBytes *blob;
	char *sum_b64;
	struct wb_media_req req;
	struct wb_media m;
	GError *err;
	json_t *reqs;
	char *path;     /* the file the medium goes to, as the spool's would */
	int fd;
	GBytes *got;    /* what the file holds after the fetch */
};

static void fx_setup(struct fx *f, gconstpointer unused)
{
	g_free(control("/_fake/reset", "{}"));
	f->blob = jpeg_like(20 * KIB);
	gsize len;
	const void *data = g_bytes_get_data(f->blob, &len);
	f->sum_b64 = add_media(MID, "image/jpeg", data, len, false);
	f->req = (struct wb_media_req){ .api_base = api_base, .access_token = TOKEN,
					.media_id = MID, .phone_number_id = PNID,
					.sha256_b64 = f->sum_b64, .max_bytes = 1024 * KIB,
					.timeout_s = 10 };
	f->fd = g_file_open_tmp("wb-media-XXXXXX", &f->path, NULL);
	g_assert_cmpint(f->fd, >=, 0);
}

static void fx_teardown(struct fx *f, gconstpointer unused)
{
	g_bytes_unref(f->blob);
	g_free(f->sum_b64);
	wb_media_clear(&f->m);
	g_clear_error(&f->err);
	json_decref(f->reqs);
	if (f->got)
		g_bytes_unref(f->got);
	close(f->fd);
	unlink(f->path);
	g_free(f->path);
}

/* Fetches into the file, collects the requests seen and what the file holds. */
static bool fetch(struct fx *f)
{
	wb_media_clear(&f->m);
	g_clear_error(&f->err);
	bool ok = wb_media_fetch(&f->req, f->fd, f->path, &f->m, &f->err);
	json_decref(f->reqs);
	f->reqs = seen();
	if (f->got)
		g_bytes_unref(f->got);
	g_assert_true(wb_read_all(f->path, 1024 * 1024 * KIB, &f->got, NULL));
	if (ok) {
		g_assert_null(f->err);
		g_assert_cmpuint(f->m.size, ==, g_bytes_get_size(f->got));
		g_assert_cmpint(f->m.write_errno, ==, 0);
	}
	return ok;
}

/* A failure of this class whose message has `needle` and never the token. */
static void assert_failed(struct fx *f, bool ok, enum wb_fail code, const char *needle)
{
	g_assert_false(ok);
	g_assert_error(f->err, WB_MEDIA_ERROR, (gint)code);
	g_assert_null(strstr(f->err->message, TOKEN));
	if (needle != NULL && strstr(f->err->message, needle) == NULL)
		g_error("\"%s\" not in \"%s\"", needle, f->err->message);
	g_assert_null(f->m.sha256_hex);
	if (code != WB_FAIL_LATER || strstr(f->err->message, "cannot write") == NULL)
		g_assert_cmpint(f->m.write_errno, ==, 0); /* the fetch's fault, not the file's */
}

static void assert_got_blob(struct fx *f)
{
	g_assert_nonnull(f->m.sha256_hex);
	g_assert_true(g_bytes_equal(f->got, f->blob));
	gsize len;
	const void *data = g_bytes_get_data(f->blob, &len);
	g_autofree char *hex = wb_sha256_hex(data, len);
	g_assert_cmpstr(f->m.sha256_hex, ==, hex);
}

/* ---- success and the wire ------------------------------------------------------------- */

static void test_fetch_ok(struct fx *f, gconstpointer unused)
{
	g_assert_true(fetch(f));
	assert_got_blob(f);
	g_assert_cmpstr(f->m.mime_type, ==, "image/jpeg");
}

static void test_wire(struct fx *f, gconstpointer unused)
{
	g_assert_true(fetch(f));
	g_assert_cmpuint(json_array_size(f->reqs), ==, 2);
	g_assert_cmpstr(field(f->reqs, 0, "method"), ==, "GET");
	g_assert_cmpstr(field(f->reqs, 0, "path"), ==, "/v26.0/" MID);
	g_assert_cmpstr(field(f->reqs, 0, "query"), ==, "phone_number_id=" PNID);
	g_assert_cmpstr(field(f->reqs, 1, "method"), ==, "GET");
	g_assert_cmpstr(field(f->reqs, 1, "path"), ==, "/whatsapp_business/attachments/");
	for (size_t i = 0; i < 2; i++) {
		g_assert_cmpstr(header(f->reqs, i, "authorization"), ==, "Bearer " TOKEN);
		g_assert_cmpstr(header(f->reqs, i, "user-agent"), ==, wb_media_user_agent());
		g_assert_null(header(f->reqs, i, "accept-encoding")); /* bytes as Meta hashed them */
	}
	g_assert_true(g_str_has_prefix(wb_media_user_agent(), "wabridge/"));
}

static void test_no_phone_number_id(struct fx *f, gconstpointer unused)
{
	f->req.phone_number_id = NULL;
	g_assert_true(fetch(f));
	g_assert_cmpstr(field(f->reqs, 0, "query"), ==, "");
}

static void test_voice_note(struct fx *f, gconstpointer unused)
{
	static const char ogg[] = "OggS\0\2\0\0\0\0\0\0\0\0OpusHead voice";
	g_free(f->sum_b64);
	f->sum_b64 = add_media(MID, "audio/ogg; codecs=opus", ogg, sizeof ogg, true);
	f->req.sha256_b64 = f->sum_b64;
	g_assert_true(fetch(f));  /* file_size as a JSON number this time */
	g_assert_cmpstr(f->m.mime_type, ==, "audio/ogg; codecs=opus");
	g_assert_cmpuint(f->m.size, ==, sizeof ogg);
}

static void test_mime_cleaned(struct fx *f, gconstpointer unused)
{
	g_autoptr(GString) mime = g_string_new("application/pdf;\r\n\tX-Evil: 1\x01\x7f\xc3\xa9");
	for (int i = 0; i < 500; i++)
		g_string_append_c(mime, 'a');
	gsize len;
	const void *data = g_bytes_get_data(f->blob, &len);
	g_free(add_media(MID, mime->str, data, len, false));
	g_assert_true(fetch(f));
	g_assert_cmpuint(strlen(f->m.mime_type), <=, 255);
	g_assert_true(g_str_has_prefix(f->m.mime_type, "application/pdf;X-Evil: 1aaa"));
	for (const char *p = f->m.mime_type; *p != '\0'; p++)
		g_assert_true(g_ascii_isprint(*p));
}

static void test_redirect_same_host(struct fx *f, gconstpointer unused)
{
	inject("redirect_same_host", 1);
	g_assert_true(fetch(f));
	assert_got_blob(f);
	g_assert_cmpuint(json_array_size(f->reqs), ==, 3);
	g_assert_cmpint(status_of(f->reqs, 1), ==, 302);
	g_assert_cmpstr(header(f->reqs, 2, "authorization"), ==, "Bearer " TOKEN);
}

/* libcurl drops the token on a redirect to another host; the fake then answers 401,
 * which looks like an expired URL: one more lookup, and the fresh URL works. */
static void test_redirect_other_host(struct fx *f, gconstpointer unused)
{
	inject("redirect_other_host", 1);
	g_assert_true(fetch(f));
	assert_got_blob(f);
	g_assert_cmpuint(json_array_size(f->reqs), ==, 5);
	g_assert_true(g_str_has_prefix(header(f->reqs, 2, "host"), "localhost:"));
	g_assert_null(header(f->reqs, 2, "authorization"));
	g_assert_cmpint(status_of(f->reqs, 2), ==, 401);
	g_assert_cmpstr(field(f->reqs, 3, "step"), ==, "lookup");
}

/* ---- refused before any request ---------------------------------------------------------- */

static void test_bad_media_id(struct fx *f, gconstpointer unused)
{
	static const char *const ids[] = { "12a4", "", "../me", "1 2", "123?x=1",
		"12345678901234567890123456789012345678901234567890123456789012345" };
	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		f->req.media_id = ids[i];
		assert_failed(f, fetch(f), WB_FAIL_FINAL, "not 1 to 64 digits");
		g_clear_error(&f->err);
		g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
	}
}

static void test_bad_webhook_hash(struct fx *f, gconstpointer unused)
{
	f->req.sha256_b64 = "bm90IGEgaGFzaA==";
	assert_failed(f, fetch(f), WB_FAIL_FINAL, "not base64 of 32 bytes");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
}

static void test_plain_http_elsewhere(struct fx *f, gconstpointer unused)
{
	f->req.api_base = "http://graph.facebook.com/v26.0";
	assert_failed(f, fetch(f), WB_FAIL_LATER, "api_base");
	f->req.api_base = api_base;
	g_clear_error(&f->err);
	f->req.access_token = "EAAJ bad\r\nX-Injected: 1";
	assert_failed(f, fetch(f), WB_FAIL_LATER, "access token");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
}

/* ---- lookup failures --------------------------------------------------------------------- */

static void test_unknown_id(struct fx *f, gconstpointer unused)
{
	f->req.media_id = "999000111222333";
	assert_failed(f, fetch(f), WB_FAIL_FINAL, "lookup: HTTP 400, Graph code 100 (subcode 33)");
	g_assert_nonnull(strstr(f->err->message, "fbtrace_id A"));
	g_assert_nonnull(strstr(f->err->message, "does not exist"));
}

static void test_lookup_404(struct fx *f, gconstpointer unused)
{
	inject("lookup_404", 1);
	assert_failed(f, fetch(f), WB_FAIL_FINAL, "lookup: HTTP 404");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 1);
}

static void test_500(struct fx *f, gconstpointer unused)
{
	inject("500", 1);
	assert_failed(f, fetch(f), WB_FAIL_SOON, "lookup: HTTP 500, Graph code 2");
	g_clear_error(&f->err);
	g_assert_true(fetch(f));  /* it behaves again */
}

static void test_500_download(struct fx *f, gconstpointer unused)
{
	control_json("/_fake/fail", json_pack("{s:s, s:s, s:s}", "media_id", MID, "mode", "500",
					      "step", "download"));
	assert_failed(f, fetch(f), WB_FAIL_SOON, "download: HTTP 500");
}

/* is_transient:true wins over a code that would otherwise need a human. */
static void test_transient(struct fx *f, gconstpointer unused)
{
	control_json("/_fake/fail", json_pack("{s:s, s:s, s:i, s:i, s:b}", "media_id", MID,
					      "mode", "500", "http", 400, "code", 10,
					      "is_transient", 1));
	assert_failed(f, fetch(f), WB_FAIL_SOON, "Graph code 10");
}

static void test_429(struct fx *f, gconstpointer unused)
{
	inject("429", 1);
	assert_failed(f, fetch(f), WB_FAIL_SOON, "lookup: HTTP 429, Graph code 4");
}

static void test_token_expired(struct fx *f, gconstpointer unused)
{
	inject("token_expired", 1);
	assert_failed(f, fetch(f), WB_FAIL_LATER, "Graph code 190 (subcode 463)");
}

static void test_wrong_token(struct fx *f, gconstpointer unused)
{
	f->req.access_token = "EAAJsomeOTHERtokenZZZZZZZZZZZZZ";
	bool ok = fetch(f);
	assert_failed(f, ok, WB_FAIL_LATER, "lookup: HTTP 401, Graph code 190");
	g_assert_null(strstr(f->err->message, "EAAJsomeOTHERtoken"));
}

/* A server that echoes the token back must not get it into our messages. */
static void test_token_scrubbed(struct fx *f, gconstpointer unused)
{
	control_json("/_fake/fail", json_pack("{s:s, s:s, s:s}", "media_id", MID, "mode", "500",
					      "message", "bad token " TOKEN " here"));
	assert_failed(f, fetch(f), WB_FAIL_SOON, "bad token [token] here");
}

static void test_oversize_announce(struct fx *f, gconstpointer unused)
{
	inject("oversize_announce", 1);
	assert_failed(f, fetch(f), WB_FAIL_FINAL, "over the cap of 1048576 bytes");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 1);  /* no download started */
}

static void test_oversize_real(struct fx *f, gconstpointer unused)
{
	f->req.max_bytes = 16 * KIB;
	assert_failed(f, fetch(f), WB_FAIL_FINAL, "over the cap of 16384 bytes (file_size 20480)");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 1);
}

/* The lookup lies (or says nothing); the download's size must still stop it early. */
static void check_stream_stopped(struct fx *f, const char *mode, const char *needle)
{
	inject(mode, 1);
	gint64 t0 = g_get_monotonic_time();
	bool ok = fetch(f);
	gint64 took = g_get_monotonic_time() - t0;
	assert_failed(f, ok, WB_FAIL_FINAL, needle);
	g_assert_cmpint(took, <, 60 * G_USEC_PER_SEC); /* a hang; bytes_sent shows how early */
	json_decref(f->reqs);
	f->reqs = seen_done(2);
	json_t *dl = json_array_get(f->reqs, 1);
	g_assert_true(json_is_true(json_object_get(dl, "client_gone")));
	g_assert_cmpint(json_integer_value(json_object_get(dl, "bytes_sent")), <, 32 * 1024 * KIB);
}

static void test_oversize_length(struct fx *f, gconstpointer unused)
{
	check_stream_stopped(f, "oversize_length", "(Content-Length 10737418240); not downloaded");
}

static void test_oversize_stream(struct fx *f, gconstpointer unused)
{
	check_stream_stopped(f, "oversize_stream", "over the cap of 1048576 bytes; stopped there");
}

/* ---- download failures ------------------------------------------------------------------- */

static void test_expired_url(struct fx *f, gconstpointer unused)
{
	inject("expired_url", 1);
	g_assert_true(fetch(f));
	assert_got_blob(f);
	g_assert_cmpuint(json_array_size(f->reqs), ==, 4);
	g_assert_cmpint(status_of(f->reqs, 1), ==, 404);
	g_assert_cmpstr(field(f->reqs, 2, "step"), ==, "lookup");
	g_assert_cmpint(status_of(f->reqs, 3), ==, 200);
}

static void test_expired_url_twice(struct fx *f, gconstpointer unused)
{
	inject("expired_url", 2);
	assert_failed(f, fetch(f), WB_FAIL_SOON, "download: HTTP 404");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 4);  /* one more lookup, not more */
}

/* The fake holds the download until released, so only the timeout can end it (the time
 * is checked only from below, and for a hang). */
static void test_slow(struct fx *f, gconstpointer unused)
{
	control_json("/_fake/fail", json_pack("{s:s, s:s, s:b}", "media_id", MID, "mode", "slow",
					      "hold", 1));
	f->req.timeout_s = 1;
	gint64 t0 = g_get_monotonic_time();
	bool ok = fetch(f);
	gint64 took = g_get_monotonic_time() - t0;
	g_free(control("/_fake/release", "{}"));
	assert_failed(f, ok, WB_FAIL_SOON, "download: Timeout was reached");
	g_assert_cmpint(took, >=, 900 * 1000);
	g_assert_cmpint(took, <, 60 * G_USEC_PER_SEC);
}

static void test_truncated(struct fx *f, gconstpointer unused)
{
	inject("truncated", 1);
	assert_failed(f, fetch(f), WB_FAIL_SOON, "download: Transferred a partial file");
}

static void test_wrong_hash(struct fx *f, gconstpointer unused)
{
	inject("wrong_hash", 1);
	gsize len;
	const guint8 *data = g_bytes_get_data(f->blob, &len);
	g_autofree guint8 *other = g_malloc(len);
	for (gsize i = 0; i < len; i++)
		other[i] = data[i] ^ 0x55;
	g_autofree char *announced = wb_sha256_hex(data, len);
	g_autofree char *got = wb_sha256_hex(other, len);
	assert_failed(f, fetch(f), WB_FAIL_SOON, "but the lookup announced");
	g_assert_nonnull(strstr(f->err->message, announced));
	g_assert_nonnull(strstr(f->err->message, got));
}

static void test_webhook_hash_mismatch(struct fx *f, gconstpointer unused)
{
	g_autofree char *other = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "other", -1);
	guint8 raw[32];
	for (int i = 0; i < 32; i++)
		raw[i] = (guint8)g_ascii_strtoull((char[]){ other[2 * i], other[2 * i + 1], 0 },
						  NULL, 16);
	g_autofree char *b64 = g_base64_encode(raw, sizeof raw);
	f->req.sha256_b64 = b64;
	assert_failed(f, fetch(f), WB_FAIL_SOON, "but the webhook announced");
	g_assert_nonnull(strstr(f->err->message, other));
	g_assert_nonnull(strstr(f->err->message, b64));
	g_assert_nonnull(strstr(f->err->message, f->sum_b64));
}

/* ---- the file the bytes go to ------------------------------------------------------------- */

/* The fake makes size bytes from a seed; returns their SHA-256 in hex. */
static char *add_generated(const char *id, size_t size)
{
	return register_media(json_pack("{s:s, s:s, s:I, s:s}", "id", id, "mime_type",
					"application/pdf", "size", (json_int_t)size, "seed", "big"),
			      "sha256");
}

/* A medium of 24 MiB goes through to the file whole, its hash taken on the way. */
static void test_large(struct fx *f, gconstpointer unused)
{
	const size_t size = 24 * 1024 * KIB;
	g_autofree char *hex = add_generated(MID, size);
	f->req.sha256_b64 = NULL;
	f->req.max_bytes = 32 * 1024 * KIB;
	g_assert_true(fetch(f));
	g_assert_cmpuint(f->m.size, ==, size);
	g_assert_cmpstr(f->m.sha256_hex, ==, hex);
	gsize len;
	const void *data = g_bytes_get_data(f->got, &len);
	g_autofree char *file_hex = wb_sha256_hex(data, len);
	g_assert_cmpstr(file_hex, ==, hex);
}

/* What the file held before goes: a retry starts from an empty file. */
static void test_file_emptied(struct fx *f, gconstpointer unused)
{
	g_autofree char *junk = g_strnfill(100 * KIB, 'x');
	g_assert_cmpint(write(f->fd, junk, 100 * KIB), ==, 100 * KIB);
	g_assert_true(fetch(f));
	assert_got_blob(f);
}

/* A stream past the cap stops there: the file never holds more than the cap. */
static void test_stream_file(struct fx *f, gconstpointer unused)
{
	inject("oversize_stream", 1);
	assert_failed(f, fetch(f), WB_FAIL_FINAL, "stopped there");
	g_assert_cmpuint(g_bytes_get_size(f->got), <=, f->req.max_bytes);
}

/* A file that takes no more (here the file size limit, as a full disk would): a failure
 * to retry later, not the medium's, naming the file. */
static void test_file_full(struct fx *f, gconstpointer unused)
{
	struct rlimit old, small = { .rlim_cur = 8 * KIB, .rlim_max = RLIM_INFINITY };
	g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
	small.rlim_max = old.rlim_max;
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
	g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
	bool ok = wb_media_fetch(&f->req, f->fd, f->path, &f->m, &f->err);
	g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
	signal(SIGXFSZ, was);
	g_assert_false(ok);
	g_assert_error(f->err, WB_MEDIA_ERROR, WB_FAIL_LATER);
	g_assert_cmpint(f->m.write_errno, ==, EFBIG);
	g_assert_nonnull(strstr(f->err->message, "cannot write"));
	g_assert_nonnull(strstr(f->err->message, f->path));
	g_assert_null(strstr(f->err->message, TOKEN));
}

/* A descriptor that cannot be written at all (an unwritable spool). */
static void test_file_unwritable(struct fx *f, gconstpointer unused)
{
	int ro = open(f->path, O_RDONLY);
	g_assert_cmpint(ro, >=, 0);
	bool ok = wb_media_fetch(&f->req, ro, f->path, &f->m, &f->err);
	close(ro);
	g_assert_false(ok);
	g_assert_error(f->err, WB_MEDIA_ERROR, WB_FAIL_LATER);
	g_assert_cmpint(f->m.write_errno, !=, 0);
	g_assert_nonnull(strstr(f->err->message, f->path));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	fake_graph_setup();

#define T(path, fn) g_test_add("/media/" path, struct fx, NULL, fx_setup, fn, fx_teardown)
	T("fetch/ok", test_fetch_ok);
	T("fetch/wire", test_wire);
	T("fetch/no-phone-number-id", test_no_phone_number_id);
	T("fetch/voice-note", test_voice_note);
	T("fetch/mime-cleaned", test_mime_cleaned);
	T("fetch/redirect-same-host", test_redirect_same_host);
	T("fetch/redirect-other-host", test_redirect_other_host);
	T("refuse/bad-media-id", test_bad_media_id);
	T("refuse/bad-webhook-hash", test_bad_webhook_hash);
	T("refuse/plain-http-elsewhere", test_plain_http_elsewhere);
	T("lookup/unknown-id", test_unknown_id);
	T("lookup/404", test_lookup_404);
	T("lookup/500", test_500);
	T("lookup/transient", test_transient);
	T("lookup/429", test_429);
	T("lookup/token-expired", test_token_expired);
	T("lookup/wrong-token", test_wrong_token);
	T("lookup/token-scrubbed", test_token_scrubbed);
	T("size/announced", test_oversize_announce);
	T("size/real", test_oversize_real);
	T("size/content-length", test_oversize_length);
	T("size/stream", test_oversize_stream);
	T("download/expired-url", test_expired_url);
	T("download/expired-url-twice", test_expired_url_twice);
	T("download/500", test_500_download);
	T("download/slow", test_slow);
	T("download/truncated", test_truncated);
	T("download/wrong-hash", test_wrong_hash);
	T("download/webhook-hash-mismatch", test_webhook_hash_mismatch);
	T("file/large", test_large);
	T("file/emptied", test_file_emptied);
	T("file/stream-stopped", test_stream_file);
	T("file/full", test_file_full);
	T("file/unwritable", test_file_unwritable);
#undef T

	int rc = g_test_run();
	stop_fake();
	curl_global_cleanup();
	return rc;
}
