/* test-store: the state (src/store.c) through the API of store.h.
 *
 * Every test gets a fresh temporary directory with a two-station config and a store
 * opened on <dir>/state.db, or on the PostgreSQL pass on a fresh database of the private
 * cluster (testlib.h: test_state_location). Where store.h has no reader for a column, the
 * test reads the same database through a second connection of its own (sql_* of
 * testlib.h; on SQLite, WAL lets it read while the store is open); claim tests also write
 * claim_by/lease_until that way to play another bridge. Tests about SQLite itself (its
 * file, PRAGMAs) skip on PostgreSQL. Payloads are built from JSON strings and go through
 * the real parser.
 * Warnings the store logs on purpose (bad bodies, unrouted messages, failed messages)
 * are expected with g_test_expect_message(), so any other warning still fails a test.
 * Tests run as root in CI: the read-only test drops to nobody in a subprocess. */
#include "config.h"
#include "testlib.h"
#include "store.h"
#include "maildigest.h"
#include "util.h"
#include "webhook.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PNID_BHP  "441880000100101"
#define PNID_KAS  "441880000100202"
#define PNID_NONE "441889999999999"
#define CITIZEN_A "919830111222"
#define CITIZEN_B "919830333444"
#define NOW       ((gint64)1792051200) /* 2026-10-15T08:00:00Z, the pinned clock */
#define DAY       ((gint64)86400)

/* ---- fixture ------------------------------------------------------------------------------ */

struct fx {
	char *dir;
	char *db;    /* the store: <dir>/state.db or a PostgreSQL URL */
	char *conf;  /* <dir>/wabridge.conf */
	struct wb_config *cfg;
	struct wb_store *s;
};

static void write_file(const char *path, const char *content, int mode)
{
	g_autoptr(GError) err = NULL;
	g_assert_true(g_file_set_contents(path, content, -1, &err));
	g_assert_no_error(err);
	g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

static void fx_setup(struct fx *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_setenv("WABRIDGE_NOW", "1792051200", TRUE);
	f->dir = g_dir_make_tmp("wb-test-store-XXXXXX", &err);
	g_assert_no_error(err);
	f->db = test_state_location(f->dir);
	f->conf = g_build_filename(f->dir, "wabridge.conf", NULL);
	g_autofree char *secret = g_build_filename(f->dir, "reply_secret", NULL);
	write_file(secret, "0123456789abcdef0123456789abcdef\n", 0600);
	g_autofree char *text = g_strdup_printf(
		"[bridge]\nstate = %s\ndomain = wa.test\ncomplaint_idle_days = 7\n"
		"[whatsapp]\ndry_run = true\n"
		"[replies]\ntoken_secret_file = %s\n"
		"[station:bhp]\nname = Bhowanipore Police Station\ncode = BHP\n"
		"phone_number_id = " PNID_BHP "\naddress = bhp@police.test\n"
		"deliver = maildir:%s/m/bhp\n"
		"[station:kas]\nname = Kasba Police Station\ncode = KAS\n"
		"phone_number_id = " PNID_KAS "\naddress = kas@police.test\n"
		"deliver = maildir:%s/m/kas\n",
		f->db, secret, f->dir, f->dir);
	write_file(f->conf, text, 0600);
	f->cfg = wb_config_load(f->conf, &err);
	g_assert_no_error(err);
	g_assert_nonnull(f->cfg);
	g_assert_false(f->cfg->auto_stations);
	f->s = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(f->s);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
	wb_store_close(f->s);
	wb_config_free(f->cfg);
	rm_rf(f->dir);
	g_free(f->dir);
	test_state_drop(f->db);
	g_free(f->conf);
	g_unsetenv("WABRIDGE_NOW");
}

/* ---- direct access (a second connection to the same database) ------------------------------ */

/* The first column of the first row of a query, as an integer (-1 when no row). */
G_GNUC_PRINTF(2, 3)
static gint64 q_int(const char *loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *sql = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return sql_int(loc, sql);
}

/* The same as text, newly allocated; NULL for no row or an SQL NULL. */
G_GNUC_PRINTF(2, 3)
static char *q_text(const char *loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *sql = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return sql_text(loc, sql);
}

G_GNUC_PRINTF(2, 3)
static void q_exec(const char *loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *sql = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	sql_on_state(loc, sql);
}

/* ---- payloads ------------------------------------------------------------------------------ */

/* One inbound text message object; context_id may be NULL. */
static char *msg_obj(const char *wamid, const char *from, gint64 ts, const char *context_id)
{
	g_autofree char *ctx = context_id
		? g_strdup_printf(",\"context\":{\"from\":\"" PNID_BHP "\",\"id\":\"%s\"}", context_id)
		: g_strdup("");
	return g_strdup_printf("{\"id\":\"%s\",\"from\":\"%s\",\"timestamp\":\"%" G_GINT64_FORMAT
			       "\",\"type\":\"text\",\"text\":{\"body\":\"hi\"}%s}",
			       wamid, from, ts, ctx);
}

/* A webhook envelope around comma-separated message and status objects (either may be ""). */
static char *envelope(const char *pnid, const char *messages, const char *statuses)
{
	return g_strdup_printf(
		"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":["
		"{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
		"\"metadata\":{\"display_phone_number\":\"919831200101\",\"phone_number_id\":\"%s\"},"
		"\"contacts\":[{\"wa_id\":\"" CITIZEN_A "\",\"profile\":{\"name\":\"Tanushree Basu\"}},"
		"{\"wa_id\":\"" CITIZEN_B "\",\"profile\":{\"name\":\"Imran Sheikh\"}}],"
		"\"messages\":[%s],\"statuses\":[%s]}}]}]}",
		pnid, messages, statuses);
}

/* Store a body and expand it, as the pipeline does; returns the body id. */
static int64_t ingest(struct fx *f, const char *body, struct wb_expand_counts *counts)
{
	g_autoptr(GError) err = NULL;
	int64_t id = 0;
	g_assert_true(wb_store_add_body(f->s, body, strlen(body), true, "test", &id, NULL, &err));
	g_assert_no_error(err);
	struct wb_payload *p = wb_webhook_parse(body, strlen(body), &err);
	g_assert_no_error(err);
	g_assert_nonnull(p);
	g_assert_true(wb_store_expand(f->s, f->cfg, id, p, counts, &err));
	g_assert_no_error(err);
	wb_payload_free(p);
	return id;
}

/* The row id of a stored message, by wamid; -1 when not stored. */
static int64_t msg_id(struct fx *f, const char *wamid)
{
	return q_int(f->db, "SELECT id FROM messages WHERE wamid = '%s'", wamid);
}

/* One text message from a citizen to a station; returns its message id. */
static int64_t send1(struct fx *f, const char *pnid, const char *wamid, const char *from,
		     gint64 ts, const char *context_id)
{
	g_autofree char *m = msg_obj(wamid, from, ts, context_id);
	g_autofree char *body = envelope(pnid, m, "");
	struct wb_expand_counts c = { 0 };
	ingest(f, body, &c);
	g_assert_cmpuint(c.added, ==, 1);
	int64_t id = msg_id(f, wamid);
	g_assert_cmpint(id, >, 0);
	return id;
}

static struct wb_msg *get_msg(struct fx *f, int64_t id)
{
	g_autoptr(GError) err = NULL;
	struct wb_msg *m = wb_store_message(f->s, id, &err);
	g_assert_no_error(err);
	g_assert_nonnull(m);
	return m;
}

static gboolean ids_contain(GArray *ids, int64_t id)
{
	for (guint i = 0; i < ids->len; i++)
		if (g_array_index(ids, int64_t, i) == id)
			return TRUE;
	return FALSE;
}

static gint64 utc(int y, int mo, int d, int h, int mi, int s)
{
	g_autoptr(GDateTime) t = g_date_time_new_utc(y, mo, d, h, mi, s);
	g_assert_nonnull(t);
	return g_date_time_to_unix(t);
}

/* ---- open and schema ----------------------------------------------------------------------- */

static const char *const tables[] = {
	"bodies", "messages", "complaints", "station_seq", "statuses", "events",
};

/* Shorthands over wb_store_apply(), the store's one way to change a message. */
static bool store_retry(struct wb_store *s, int64_t id, gint64 next_at, const char *why,
			GError **error)
{
	g_autofree char *detail = wb_retry_detail(why, next_at);
	struct wb_change c = { .id = id, .state = WB_ST_RETRY, .detail = detail, .next_at = next_at };
	return wb_store_apply(s, &c, 1, error);
}

static bool store_mail(struct wb_store *s, int64_t id, GBytes *mail, GError **error)
{
	struct wb_change c = { .id = id, .state = WB_ST_RENDERED, .next_at = -1, .mail = mail };
	return wb_store_apply(s, &c, 1, error);
}

static bool store_location(struct wb_store *s, int64_t id, const char *location,
			   uint32_t uidvalidity, uint32_t uid, GError **error)
{
	struct wb_change c = { .id = id, .state = WB_ST_DELIVERED, .next_at = -1,
			       .location = location, .uidvalidity = uidvalidity, .uid = uid };
	return wb_store_apply(s, &c, 1, error);
}

static void test_open_schema(struct fx *f, gconstpointer data)
{
	/* SQLite's own: the schema version in user_version, the journal in WAL mode */
	gint64 version = test_state_pg() ? 0 : q_int(f->db, "PRAGMA user_version");
	if (!test_state_pg()) {
		g_assert_cmpint(version, >=, 1);
		g_autofree char *mode = q_text(f->db, "PRAGMA journal_mode");
		g_assert_cmpstr(mode, ==, "wal");
	}
	for (size_t i = 0; i < G_N_ELEMENTS(tables); i++)
		g_assert_true(sql_has_table(f->db, tables[i]));
	g_assert_true(wb_store_writable(f->s));

	/* Reopening: no migration runs again, nothing is lost. */
	int64_t body = send1(f, PNID_BHP, "wamid.OPEN1", CITIZEN_A, NOW, NULL);
	gint64 objects = sql_schema_objects(f->db);
	wb_store_close(f->s);
	g_autoptr(GError) err = NULL;
	f->s = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(f->s);
	if (!test_state_pg())
		g_assert_cmpint(q_int(f->db, "PRAGMA user_version"), ==, version);
	g_assert_cmpint(sql_schema_objects(f->db), ==, objects);
	g_autoptr(wb_msg) m = get_msg(f, body);
	g_assert_cmpstr(m->wamid, ==, "wamid.OPEN1");

	/* A second store on the same file at the same time (a run beside the daemon). */
	struct wb_store *other = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(other);
	g_autoptr(wb_msg) m2 = wb_store_message(other, body, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(m2->wamid, ==, "wamid.OPEN1");
	wb_store_close(other);
}

static void test_open_newer_schema(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("the schema version in PRAGMA user_version");
	gint64 version = q_int(f->db, "PRAGMA user_version");
	wb_store_close(f->s);
	f->s = NULL;
	q_exec(f->db, "PRAGMA user_version = %" G_GINT64_FORMAT, version + 1);

	g_autoptr(GError) err = NULL;
	struct wb_store *s = wb_store_open(f->db, &err);
	g_assert_null(s);
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
	g_autofree char *have = g_strdup_printf("schema version %" G_GINT64_FORMAT, version + 1);
	g_autofree char *want = g_strdup_printf("(%" G_GINT64_FORMAT ")", version);
	g_assert_nonnull(strstr(err->message, f->db));
	g_assert_nonnull(strstr(err->message, have));
	g_assert_nonnull(strstr(err->message, want));
	g_assert_nonnull(strstr(err->message, "newer"));
	/* refused without touching it */
	g_assert_cmpint(q_int(f->db, "PRAGMA user_version"), ==, version + 1);
}

static void test_open_creates_directories(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("the directories of the state file");
	g_autofree char *path = g_build_filename(f->dir, "a", "b", "state.db", NULL);
	g_autoptr(GError) err = NULL;
	struct wb_store *s = wb_store_open(path, &err);
	g_assert_no_error(err);
	g_assert_nonnull(s);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_autofree char *parent = g_path_get_dirname(path);
	struct stat st;
	g_assert_cmpint(stat(parent, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	wb_store_close(s);
}

/* Files that are not a database: refused with WB_STORE_FAILED naming the path. */
static const struct { const char *name, *content; } not_databases[] = {
	{ "text.db", "this is not an SQLite database, it is a note to myself\n" },
	{ "format2.db", "SQLite format 2\n................................................"
		      "................................................................" },
};

static void test_open_not_a_database(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("files that are no SQLite database");
	for (size_t i = 0; i < G_N_ELEMENTS(not_databases); i++) {
		g_autofree char *path = g_build_filename(f->dir, not_databases[i].name, NULL);
		write_file(path, not_databases[i].content, 0600);
		g_autoptr(GError) err = NULL;
		g_assert_null(wb_store_open(path, &err));
		g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
		g_assert_nonnull(strstr(err->message, path));
	}
	/* A directory where the file should be. */
	g_autofree char *dirpath = g_build_filename(f->dir, "adir.db", NULL);
	g_assert_cmpint(g_mkdir(dirpath, 0700), ==, 0);
	g_autoptr(GError) err = NULL;
	g_assert_null(wb_store_open(dirpath, &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
}

/* ---- bodies -------------------------------------------------------------------------------- */

static void test_body_dedup(struct fx *f, gconstpointer data)
{
	static const char a[] = "{\"object\":\"whatsapp_business_account\",\"entry\":[]}";
	static const char b[] = "{\"object\":\"whatsapp_business_account\",\"entry\":[ ]}";
	g_autoptr(GError) err = NULL;
	int64_t id1 = 0, id2 = 0, id3 = 0;
	bool is_new = false;

	g_assert_true(wb_store_add_body(f->s, a, strlen(a), false, "serve", &id1, &is_new, &err));
	g_assert_no_error(err);
	g_assert_cmpint(id1, >, 0);
	g_assert_true(is_new);

	g_assert_true(wb_store_add_body(f->s, a, strlen(a), true, "serve", &id2, &is_new, &err));
	g_assert_no_error(err);
	g_assert_cmpint(id2, ==, id1);
	g_assert_false(is_new);
	g_assert_cmpint(q_int(f->db, "SELECT seen FROM bodies WHERE id = %" G_GINT64_FORMAT, id1),
			==, 2);

	/* is_new is optional */
	g_assert_true(wb_store_add_body(f->s, b, strlen(b), true, "ingest", &id3, NULL, &err));
	g_assert_no_error(err);
	g_assert_cmpint(id3, !=, id1);
	g_assert_cmpint(q_int(f->db, "SELECT seen FROM bodies WHERE id = %" G_GINT64_FORMAT, id3),
			==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM bodies"), ==, 2);

	/* the columns status shows */
	g_autofree char *sha = wb_sha256_hex(a, strlen(a));
	g_autofree char *stored_sha = q_text(f->db, "SELECT sha256 FROM bodies WHERE id = %"
					     G_GINT64_FORMAT, id1);
	g_assert_cmpstr(stored_sha, ==, sha);
	g_assert_cmpint(q_int(f->db, "SELECT size FROM bodies WHERE id = %" G_GINT64_FORMAT, id1),
			==, (gint64)strlen(a));
	g_autofree char *source = q_text(f->db, "SELECT source FROM bodies WHERE id = %"
					 G_GINT64_FORMAT, id3);
	g_assert_cmpstr(source, ==, "ingest");
	g_assert_cmpint(q_int(f->db, "SELECT verified FROM bodies WHERE id = %" G_GINT64_FORMAT,
			      id3), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT received_at FROM bodies WHERE id = %" G_GINT64_FORMAT,
			      id1), ==, NOW);

	/* both wait for expansion, oldest first */
	g_autoptr(GArray) todo = wb_store_unexpanded_bodies(f->s, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(todo->len, ==, 2);
	g_assert_cmpint(g_array_index(todo, int64_t, 0), ==, id1);
	g_assert_cmpint(g_array_index(todo, int64_t, 1), ==, id3);

	/* the report counts retries */
	g_autoptr(GString) out = g_string_new(NULL);
	g_assert_true(wb_store_report(f->s, out, &err));
	g_assert_no_error(err);
	g_assert_nonnull(strstr(out->str, "Webhook bodies: 2 stored (3 received with retries), 0 bad"));
}

/* Bodies are kept byte for byte, whatever they hold. */
static const struct { const char *name; const char *bytes; size_t len; } raw_bodies[] = {
	{ "nul bytes", "{\"a\":\"x\0y\"}\0\0tail", 17 },
	{ "invalid utf-8", "\xff\xfe{\xc3(\xed\xa0\x80\xf8\x88\x80\x80\x80}", 14 },
	{ "one byte", "{", 1 },
	{ "empty", "", 0 },
	{ "crlf", "{\r\n}\r\n", 6 },
};

static void test_body_bytes(struct fx *f, gconstpointer data)
{
	for (size_t i = 0; i < G_N_ELEMENTS(raw_bodies); i++) {
		g_test_message("%s", raw_bodies[i].name);
		g_autoptr(GError) err = NULL;
		int64_t id = 0;
		bool is_new = false;
		g_assert_true(wb_store_add_body(f->s, raw_bodies[i].bytes, raw_bodies[i].len, true,
						"test", &id, &is_new, &err));
		g_assert_no_error(err);
		g_assert_true(is_new);
		g_autoptr(GBytes) back = wb_store_body(f->s, id, &err);
		g_assert_no_error(err);
		g_assert_nonnull(back);
		gsize len = 0;
		const void *data2 = g_bytes_get_data(back, &len);
		g_assert_cmpmem(data2, len, raw_bodies[i].bytes, raw_bodies[i].len);
		g_autofree char *sha = wb_sha256_hex(raw_bodies[i].bytes, raw_bodies[i].len);
		g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM bodies WHERE sha256 = '%s' AND "
				      "size = %zu", sha, raw_bodies[i].len), ==, 1);
	}
	g_autoptr(GError) err = NULL;
	g_assert_null(wb_store_body(f->s, 424242, &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
}

/* A batch (the listener's group commit): each body gets its id, the same bytes twice in
 * it are one row seen twice, and bytes of an earlier batch are counted again. */
static void test_body_batch(struct fx *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	struct wb_body_in in[3] = { { .body = "{\"a\":1}", .len = 7, .verified = true },
				    { .body = "{\"b\":1}", .len = 7 },
				    { .body = "{\"a\":1}", .len = 7, .verified = true } };
	g_assert_true(wb_store_add_bodies(f->s, in, 3, "serve", &err));
	g_assert_no_error(err);
	g_assert_cmpint(in[0].body_id, >, 0);
	g_assert_cmpint(in[1].body_id, >, 0);
	g_assert_cmpint(in[1].body_id, !=, in[0].body_id);
	g_assert_cmpint(in[2].body_id, ==, in[0].body_id);
	g_assert_cmpint(q_int(f->db, "SELECT seen FROM bodies WHERE id = %" G_GINT64_FORMAT,
			      in[0].body_id), ==, 2);
	g_assert_cmpint(q_int(f->db, "SELECT verified FROM bodies WHERE id = %" G_GINT64_FORMAT,
			      in[1].body_id), ==, 0);

	struct wb_body_in again[2] = { { .body = "{\"b\":1}", .len = 7 },
				       { .body = "{\"c\":1}", .len = 7 } };
	g_assert_true(wb_store_add_bodies(f->s, again, 2, "serve", &err));
	g_assert_no_error(err);
	g_assert_cmpint(again[0].body_id, ==, in[1].body_id);
	g_assert_cmpint(again[1].body_id, >, in[1].body_id);
	g_assert_cmpint(q_int(f->db, "SELECT seen FROM bodies WHERE id = %" G_GINT64_FORMAT,
			      in[1].body_id), ==, 2);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM bodies"), ==, 3);
	/* a body's first arrival is journaled, its repeats are not */
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM journal WHERE kind = 'body'"), ==, 3);
}

/* Other bridges on the same state hear of a batch once it is committed (PostgreSQL's
 * NOTIFY, sent with the COMMIT); on SQLite there is nothing to listen to. */
static void test_body_batch_wakes(struct fx *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	struct wb_store *other = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	int fd = wb_store_listen(other, &err);
	g_assert_no_error(err);
	if (!test_state_pg()) {
		g_assert_cmpint(fd, ==, -1);
		wb_store_close(other);
		return;
	}
	g_assert_cmpint(fd, >=, 0);
	g_assert_false(wb_store_heard(other));
	struct wb_body_in in[1] = { { .body = "{\"a\":1}", .len = 7 } };
	g_assert_true(wb_store_add_bodies(f->s, in, 1, "serve", &err));
	g_assert_no_error(err);
	/* committed: the notification is on its way (waited for, at most 10 s) */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	g_assert_cmpint(poll(&p, 1, 10000), ==, 1);
	g_assert_true(wb_store_heard(other));
	g_assert_true(wb_store_listen_alive(other));
	wb_store_close(other);
}

static void test_body_bad(struct fx *f, gconstpointer data)
{
	static const char junk[] = "<html>502 Bad Gateway</html>";
	g_autoptr(GError) err = NULL;
	int64_t id = 0;
	g_assert_true(wb_store_add_body(f->s, junk, strlen(junk), true, "serve", &id, NULL, &err));
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*kept as bad*not valid JSON*");
	g_assert_true(wb_store_body_bad(f->s, id, "not valid JSON: '<' at line 1 column 1", &err));
	g_test_assert_expected_messages();
	g_assert_no_error(err);

	g_autofree char *state = q_text(f->db, "SELECT state FROM bodies WHERE id = %"
					G_GINT64_FORMAT, id);
	g_assert_cmpstr(state, ==, "bad");
	/* not offered for expansion again */
	g_autoptr(GArray) todo = wb_store_unexpanded_bodies(f->s, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(todo->len, ==, 0);
	/* still there for inspection */
	g_autoptr(GBytes) back = wb_store_body(f->s, id, &err);
	g_assert_no_error(err);
	g_assert_cmpmem(g_bytes_get_data(back, NULL), g_bytes_get_size(back), junk, strlen(junk));

	g_autoptr(GString) out = g_string_new(NULL);
	g_assert_true(wb_store_report(f->s, out, &err));
	g_assert_no_error(err);
	g_autofree char *line = g_strdup_printf("body %" G_GINT64_FORMAT " ", id);
	g_autofree char *sha = wb_sha256_hex(junk, strlen(junk));
	g_assert_nonnull(strstr(out->str, "1 bad"));
	g_assert_nonnull(strstr(out->str, "Webhook bodies kept for inspection:"));
	g_assert_nonnull(strstr(out->str, line));
	g_assert_nonnull(strstr(out->str, sha));
	g_assert_nonnull(strstr(out->str, "bad: not valid JSON: '<' at line 1 column 1"));
}

/* ---- expand -------------------------------------------------------------------------------- */

static void test_expand_added_and_duplicates(struct fx *f, gconstpointer data)
{
	g_autofree char *m1 = msg_obj("wamid.A1", CITIZEN_A, NOW, NULL);
	g_autofree char *m2 = msg_obj("wamid.A2", CITIZEN_B, NOW + 1, NULL);
	g_autofree char *both = g_strdup_printf("%s,%s", m1, m2);
	g_autofree char *body1 = envelope(PNID_BHP, both, "");
	struct wb_expand_counts c = { 0 };
	int64_t b1 = ingest(f, body1, &c);
	g_assert_cmpuint(c.added, ==, 2);
	g_assert_cmpuint(c.duplicates, ==, 0);
	g_assert_cmpuint(c.unrouted, ==, 0);
	g_assert_cmpuint(c.statuses, ==, 0);
	g_autofree char *st1 = q_text(f->db, "SELECT state FROM bodies WHERE id = %"
				      G_GINT64_FORMAT, b1);
	g_assert_cmpstr(st1, ==, "expanded");

	/* A second, different body that repeats wamid.A2 (Meta batches differently). */
	g_autofree char *m3 = msg_obj("wamid.B1", CITIZEN_A, NOW + 2, NULL);
	g_autofree char *again = g_strdup_printf("%s,%s", m2, m3);
	g_autofree char *body2 = envelope(PNID_BHP, again, "");
	int64_t b2 = ingest(f, body2, &c);
	g_assert_cmpint(b2, !=, b1);
	g_assert_cmpuint(c.added, ==, 1);
	g_assert_cmpuint(c.duplicates, ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages WHERE wamid = 'wamid.A2'"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT body_id FROM messages WHERE wamid = 'wamid.A2'"), ==, b1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages"), ==, 3);

	/* The same body expanded again (recovery after a crash): all duplicates. */
	g_autoptr(GError) err = NULL;
	struct wb_payload *p = wb_webhook_parse(body1, strlen(body1), &err);
	g_assert_no_error(err);
	g_assert_true(wb_store_expand(f->s, f->cfg, b1, p, &c, &err));
	g_assert_no_error(err);
	wb_payload_free(p);
	g_assert_cmpuint(c.added, ==, 0);
	g_assert_cmpuint(c.duplicates, ==, 2);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages"), ==, 3);
	/* counts are optional */
	p = wb_webhook_parse(body2, strlen(body2), &err);
	g_assert_true(wb_store_expand(f->s, f->cfg, b2, p, NULL, &err));
	g_assert_no_error(err);
	wb_payload_free(p);

	/* Every message starts received with one event (none → received). */
	int64_t id = msg_id(f, "wamid.A1");
	g_autoptr(wb_msg) m = get_msg(f, id);
	g_assert_cmpstr(m->state, ==, WB_ST_RECEIVED);
	g_assert_cmpstr(m->station, ==, "bhp");
	g_assert_cmpstr(m->phone_number_id, ==, PNID_BHP);
	g_assert_cmpstr(m->sender, ==, CITIZEN_A);
	g_assert_cmpstr(m->wa_id, ==, CITIZEN_A);
	g_assert_null(m->user_id);
	g_assert_cmpstr(m->profile_name, ==, "Tanushree Basu");
	g_assert_cmpstr(m->type, ==, "text");
	g_assert_nonnull(strstr(m->json, "\"wamid.A1\""));
	g_assert_null(m->context_id);
	g_assert_null(m->last_error);
	g_assert_cmpint(m->ts, ==, NOW);
	g_assert_cmpint(m->received_at, ==, NOW);
	g_assert_cmpint(m->attempts, ==, 0);
	g_assert_false(m->forwarded);
	g_assert_null(m->mail);
	g_autofree char *sha = wb_sha256_hex(body1, strlen(body1));
	g_assert_cmpstr(m->payload_sha256, ==, sha);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT " AND old IS NULL AND new = 'received'", id), ==, 1);

	g_autoptr(GArray) todo = wb_store_unexpanded_bodies(f->s, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(todo->len, ==, 0);
}

/* A body listed for expansion that someone else (another bridge) expanded in the
 * meantime is passed over: not expanded again, not marked bad; the others of the same
 * chunk are done. */
static void test_expand_many_passes_over(struct fx *f, gconstpointer data)
{
	g_autofree char *m1 = msg_obj("wamid.P1", CITIZEN_A, NOW, NULL);
	g_autofree char *body1 = envelope(PNID_BHP, m1, "");
	int64_t b1 = ingest(f, body1, NULL); /* stored and expanded */
	static const char junk[] = "<html>502 Bad Gateway</html>";
	g_autoptr(GError) err = NULL;
	int64_t b2 = 0;
	g_assert_true(wb_store_add_body(f->s, junk, strlen(junk), true, "test", &b2, NULL, &err));
	g_assert_no_error(err);
	gint64 events = q_int(f->db, "SELECT count(*) FROM events");

	struct wb_expand_item items[2] = { { .body_id = b1, .bad_reason = "listed twice" },
					   { .body_id = b2, .bad_reason = "not valid JSON" } };
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*kept as bad*not valid JSON*");
	g_assert_true(wb_store_expand_many(f->s, f->cfg, items, 2, &err));
	g_test_assert_expected_messages();
	g_assert_no_error(err);
	g_autofree char *st1 = q_text(f->db, "SELECT state FROM bodies WHERE id = %"
				      G_GINT64_FORMAT, b1);
	g_assert_cmpstr(st1, ==, "expanded");
	g_autofree char *st2 = q_text(f->db, "SELECT state FROM bodies WHERE id = %"
				      G_GINT64_FORMAT, b2);
	g_assert_cmpstr(st2, ==, "bad");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events"), ==, events);
}

static void test_expand_same_wamid_in_one_body(struct fx *f, gconstpointer data)
{
	g_autofree char *m1 = msg_obj("wamid.TWICE", CITIZEN_A, NOW, NULL);
	g_autofree char *twice = g_strdup_printf("%s,%s", m1, m1);
	g_autofree char *body = envelope(PNID_BHP, twice, "");
	struct wb_expand_counts c = { 0 };
	ingest(f, body, &c);
	g_assert_cmpuint(c.added, ==, 1);
	g_assert_cmpuint(c.duplicates, ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages WHERE wamid = 'wamid.TWICE'"),
			==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM complaints"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events"), ==, 1);
}

static void test_expand_unrouted(struct fx *f, gconstpointer data)
{
	g_autofree char *m1 = msg_obj("wamid.LOST", CITIZEN_A, NOW, NULL);
	g_autofree char *body = envelope(PNID_NONE, m1, "");
	struct wb_expand_counts c = { 0 };
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*wamid.LOST*unrouted*"
			      PNID_NONE "*");
	ingest(f, body, &c);
	g_test_assert_expected_messages();
	g_assert_cmpuint(c.added, ==, 1);
	g_assert_cmpuint(c.unrouted, ==, 1);
	g_assert_cmpuint(c.duplicates, ==, 0);

	int64_t id = msg_id(f, "wamid.LOST");
	g_autoptr(wb_msg) m = get_msg(f, id);
	g_assert_cmpstr(m->state, ==, WB_ST_UNROUTED);
	g_assert_null(m->station);
	g_assert_cmpstr(m->phone_number_id, ==, PNID_NONE);
	g_assert_null(m->ref);
	g_assert_cmpint(m->complaint_id, ==, 0);
	g_assert_nonnull(m->last_error);
	g_assert_nonnull(strstr(m->last_error, PNID_NONE));
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM complaints"), ==, 0);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT " AND new = 'unrouted'", id), ==, 1);

	/* not work: neither claimed nor pending */
	g_autoptr(GError) err = NULL;
	g_autoptr(GArray) ids = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(ids->len, ==, 0);
	unsigned n = 99;
	gint64 soonest = -1;
	g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
	g_assert_cmpuint(n, ==, 0);

	/* a duplicate of an unrouted message is not counted unrouted again */
	ingest(f, body, &c);
	g_assert_cmpuint(c.duplicates, ==, 1);
	g_assert_cmpuint(c.unrouted, ==, 0);

	g_autoptr(GString) out = g_string_new(NULL);
	g_assert_true(wb_store_report(f->s, out, &err));
	g_assert_no_error(err);
	g_assert_nonnull(strstr(out->str, "(unrouted)"));
	g_assert_nonnull(strstr(out->str, "unrouted 1"));
	g_assert_nonnull(strstr(out->str, "last error: no station has phone_number_id " PNID_NONE));
}

static char *status_obj(const char *wamid, const char *status, gint64 ts)
{
	return g_strdup_printf("{\"id\":\"%s\",\"status\":\"%s\",\"timestamp\":\"%"
			       G_GINT64_FORMAT "\",\"recipient_id\":\"" CITIZEN_A "\"}",
			       wamid, status, ts);
}

static void test_expand_statuses(struct fx *f, gconstpointer data)
{
	g_autofree char *sent = status_obj("wamid.OUT1", "sent", NOW);
	g_autofree char *delivered = status_obj("wamid.OUT1", "delivered", NOW + 5);
	g_autofree char *read = status_obj("wamid.OUT1", "read", NOW + 60);
	g_autofree char *failed = g_strdup_printf(
		"{\"id\":\"wamid.OUT2\",\"status\":\"failed\",\"timestamp\":\"%" G_GINT64_FORMAT
		"\",\"recipient_id\":\"" CITIZEN_B "\",\"errors\":[{\"code\":131047,"
		"\"title\":\"Re-engagement message\"}]}", NOW);

	g_autofree char *s1 = g_strdup_printf("%s,%s", sent, delivered);
	g_autofree char *body1 = envelope(PNID_BHP, "", s1);
	struct wb_expand_counts c = { 0 };
	int64_t b1 = ingest(f, body1, &c);
	g_assert_cmpuint(c.statuses, ==, 2);
	g_assert_cmpuint(c.added, ==, 0);

	/* "delivered" again in another body, with "read" and a failure */
	g_autofree char *s2 = g_strdup_printf("%s,%s,%s", delivered, read, failed);
	g_autofree char *body2 = envelope(PNID_BHP, "", s2);
	ingest(f, body2, &c);
	g_assert_cmpuint(c.statuses, ==, 3);

	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM statuses"), ==, 4);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM statuses WHERE wamid = 'wamid.OUT1'"),
			==, 3);
	/* the first copy is kept */
	g_assert_cmpint(q_int(f->db, "SELECT body_id FROM statuses WHERE wamid = 'wamid.OUT1' AND "
			      "status = 'delivered'"), ==, b1);
	g_assert_cmpint(q_int(f->db, "SELECT ts FROM statuses WHERE wamid = 'wamid.OUT1' AND "
			      "status = 'read'"), ==, NOW + 60);
	g_assert_cmpint(q_int(f->db, "SELECT error_code FROM statuses WHERE wamid = 'wamid.OUT2'"),
			==, 131047);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages"), ==, 0);
}

/* Items the parser skipped are recorded on the body and shown by status. */
static void test_expand_problems(struct fx *f, gconstpointer data)
{
	g_autofree char *good = msg_obj("wamid.GOOD", CITIZEN_A, NOW, NULL);
	g_autofree char *list = g_strdup_printf("{\"from\":\"" CITIZEN_A "\",\"type\":\"text\"},%s",
						good);
	g_autofree char *body = envelope(PNID_BHP, list, "");
	struct wb_expand_counts c = { 0 };
	/* (while messages are expected, every other one must be listed too, in order) */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "complaint BHP-2026-000001 opened*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "message * wamid.GOOD * → received");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*skipped items*without a usable id*");
	int64_t id = ingest(f, body, &c);
	g_test_assert_expected_messages();
	g_assert_cmpuint(c.added, ==, 1);
	g_autofree char *state = q_text(f->db, "SELECT state FROM bodies WHERE id = %"
					G_GINT64_FORMAT, id);
	g_assert_cmpstr(state, ==, "expanded");
	g_autofree char *error = q_text(f->db, "SELECT error FROM bodies WHERE id = %"
					G_GINT64_FORMAT, id);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error, "message without a usable id"));

	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_assert_true(wb_store_report(f->s, out, &err));
	g_assert_no_error(err);
	g_assert_nonnull(strstr(out->str, "0 bad"));
	g_assert_nonnull(strstr(out->str, "expanded: entry 0, change 0, item 0: message without"));
}

/* ---- complaints ---------------------------------------------------------------------------- */

static void test_complaint_numbering(struct fx *f, gconstpointer data)
{
	/* 31 Dec 2026 20:00 UTC is 1 Jan 2027 01:30 in Asia/Kolkata. */
	gint64 t0 = utc(2026, 12, 31, 20, 0, 0);
	int64_t a1 = send1(f, PNID_BHP, "wamid.CA1", CITIZEN_A, t0, NULL);
	int64_t b1 = send1(f, PNID_BHP, "wamid.CB1", CITIZEN_B, t0 + 60, NULL);
	int64_t a2 = send1(f, PNID_BHP, "wamid.CA2", CITIZEN_A, t0 + 6 * DAY, NULL);
	int64_t k1 = send1(f, PNID_KAS, "wamid.KA1", CITIZEN_A, t0 + 120, NULL);

	g_autoptr(wb_msg) ma1 = get_msg(f, a1);
	g_autoptr(wb_msg) mb1 = get_msg(f, b1);
	g_autoptr(wb_msg) ma2 = get_msg(f, a2);
	g_autoptr(wb_msg) mk1 = get_msg(f, k1);
	g_assert_cmpstr(ma1->ref, ==, "BHP-2027-000001");
	g_assert_null(ma1->thread_root);          /* the first message is the root itself */
	g_assert_cmpstr(mb1->ref, ==, "BHP-2027-000002");
	g_assert_null(mb1->thread_root);
	g_assert_cmpstr(ma2->ref, ==, "BHP-2027-000001"); /* follow-up within 7 days */
	g_assert_cmpint(ma2->complaint_id, ==, ma1->complaint_id);
	g_assert_cmpstr(ma2->thread_root, ==, "wamid.CA1");
	g_assert_cmpstr(mk1->ref, ==, "KAS-2027-000001"); /* sequences are per station */
	g_assert_null(mk1->thread_root);
	g_assert_cmpint(mk1->complaint_id, !=, ma1->complaint_id);

	/* More than 7 idle days after the last activity: the old complaint closes, a new one
	 * opens with the next number; its first message is its own root. */
	gint64 t3 = t0 + 6 * DAY + 7 * DAY + 1;
	int64_t a3 = send1(f, PNID_BHP, "wamid.CA3", CITIZEN_A, t3, NULL);
	g_autoptr(wb_msg) ma3 = get_msg(f, a3);
	g_assert_cmpstr(ma3->ref, ==, "BHP-2027-000003");
	g_assert_null(ma3->thread_root);
	g_autofree char *old_state = q_text(f->db, "SELECT state FROM complaints WHERE ref = "
					    "'BHP-2027-000001'");
	g_assert_cmpstr(old_state, ==, "closed");
	g_autofree char *reason = q_text(f->db, "SELECT closed_reason FROM complaints WHERE ref = "
					 "'BHP-2027-000001'");
	g_assert_cmpstr(reason, ==, "idle");
	g_autofree char *new_state = q_text(f->db, "SELECT state FROM complaints WHERE ref = "
					    "'BHP-2027-000003'");
	g_assert_cmpstr(new_state, ==, "open");
	/* the other citizen's and the other station's complaints are untouched */
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM complaints WHERE state = 'open'"), ==, 3);
	/* the closed complaint keeps its messages */
	g_autoptr(wb_msg) again = get_msg(f, a2);
	g_assert_cmpstr(again->ref, ==, "BHP-2027-000001");
	g_assert_cmpint(q_int(f->db, "SELECT last_activity FROM complaints WHERE ref = "
			      "'BHP-2027-000001'"), ==, t0 + 6 * DAY);

	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_assert_true(wb_store_report(f->s, out, &err));
	g_assert_no_error(err);
	g_assert_nonnull(strstr(out->str, "  bhp: queue 4 "));
	g_assert_nonnull(strstr(out->str, "open complaints 2\n"));
	g_assert_nonnull(strstr(out->str, "  kas: queue 1 "));
}

/* Idle time counts from the last activity, not from the opening; exactly idle days joins. */
static void test_complaint_idle_from_last_activity(struct fx *f, gconstpointer data)
{
	gint64 t0 = NOW;
	struct { const char *wamid; gint64 ts; const char *ref; } steps[] = {
		{ "wamid.I1", t0, "BHP-2026-000001" },
		{ "wamid.I2", t0 + 6 * DAY, "BHP-2026-000001" },
		{ "wamid.I3", t0 + 12 * DAY, "BHP-2026-000001" },       /* 6 days after I2 */
		{ "wamid.I4", t0 + 19 * DAY, "BHP-2026-000001" },       /* exactly 7 days */
		{ "wamid.I5", t0 + 26 * DAY + 1, "BHP-2026-000002" },   /* 7 days + 1 s */
		{ "wamid.I6", t0 + 26 * DAY + 2, "BHP-2026-000002" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(steps); i++) {
		int64_t id = send1(f, PNID_BHP, steps[i].wamid, CITIZEN_A, steps[i].ts, NULL);
		g_autoptr(wb_msg) m = get_msg(f, id);
		g_assert_cmpstr(m->ref, ==, steps[i].ref);
	}
	g_autoptr(wb_msg) m6 = get_msg(f, msg_id(f, "wamid.I6"));
	g_assert_cmpstr(m6->thread_root, ==, "wamid.I5");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM complaints"), ==, 2);
}

/* The year of a reference is the year in Asia/Kolkata; each year counts from 1. */
static void test_complaint_year_in_kolkata(struct fx *f, gconstpointer data)
{
	struct { const char *wamid, *from; gint64 ts; const char *ref; } cases[] = {
		/* 23:59:59 on 31 Dec in Kolkata */
		{ "wamid.Y1", CITIZEN_A, utc(2026, 12, 31, 18, 29, 59), "BHP-2026-000001" },
		/* 00:00:00 on 1 Jan in Kolkata, still 31 Dec in UTC */
		{ "wamid.Y2", CITIZEN_B, utc(2026, 12, 31, 18, 30, 0), "BHP-2027-000001" },
		{ "wamid.Y3", "919830555666", utc(2026, 12, 31, 18, 0, 0), "BHP-2026-000002" },
		{ "wamid.Y4", "919830777888", utc(2027, 6, 1, 0, 0, 0), "BHP-2027-000002" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		int64_t id = send1(f, PNID_BHP, cases[i].wamid, cases[i].from, cases[i].ts, NULL);
		g_autoptr(wb_msg) m = get_msg(f, id);
		g_assert_cmpstr(m->ref, ==, cases[i].ref);
	}
}

/* A message without a usable timestamp takes the time it arrived. */
static void test_complaint_no_timestamp(struct fx *f, gconstpointer data)
{
	g_autofree char *body = envelope(PNID_BHP,
		"{\"id\":\"wamid.NOTS\",\"from\":\"" CITIZEN_A "\",\"type\":\"text\","
		"\"text\":{\"body\":\"hi\"}}", "");
	ingest(f, body, NULL);
	g_autoptr(wb_msg) m = get_msg(f, msg_id(f, "wamid.NOTS"));
	g_assert_cmpint(m->ts, ==, NOW);
	g_assert_cmpstr(m->ref, ==, "BHP-2026-000001");
}

static void test_complaint_reply_parent(struct fx *f, gconstpointer data)
{
	int64_t first = send1(f, PNID_BHP, "wamid.P1", CITIZEN_A, NOW, NULL);
	int64_t quoting = send1(f, PNID_BHP, "wamid.P2", CITIZEN_A, NOW + 60, "wamid.P1");
	int64_t unknown = send1(f, PNID_BHP, "wamid.P3", CITIZEN_A, NOW + 120, "wamid.NOTOURS");

	g_autoptr(wb_msg) m1 = get_msg(f, first);
	g_autoptr(wb_msg) m2 = get_msg(f, quoting);
	g_autoptr(wb_msg) m3 = get_msg(f, unknown);
	g_assert_null(m1->context_id);
	g_assert_null(m1->reply_parent);
	g_assert_cmpstr(m2->context_id, ==, "wamid.P1");
	g_assert_cmpstr(m2->reply_parent, ==, "wamid.P1");
	g_assert_cmpstr(m2->thread_root, ==, "wamid.P1");
	g_assert_cmpstr(m3->context_id, ==, "wamid.NOTOURS");
	g_assert_null(m3->reply_parent);

	/* forwarded is kept */
	g_autofree char *body = envelope(PNID_BHP,
		"{\"id\":\"wamid.FWD\",\"from\":\"" CITIZEN_B "\",\"timestamp\":\"1792051200\","
		"\"type\":\"text\",\"text\":{\"body\":\"fw\"},\"context\":{\"forwarded\":true}}", "");
	ingest(f, body, NULL);
	g_autoptr(wb_msg) fw = get_msg(f, msg_id(f, "wamid.FWD"));
	g_assert_true(fw->forwarded);
	g_assert_null(fw->reply_parent);
}

static void test_message_not_found(struct fx *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_assert_null(wb_store_message(f->s, 777, &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
}

/* ---- claims -------------------------------------------------------------------------------- */

/* Another process, spawned (fork + exec, so nothing of this one runs twice). */
static pid_t spawn(const char *const *argv)
{
	g_autoptr(GError) err = NULL;
	GPid pid = 0;
	g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				    &pid, &err));
	g_assert_no_error(err);
	return pid;
}

static void reap(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* A process that stays alive until end_child(), however long the test takes. */
static pid_t live_child(void)
{
	static const char *const argv[] = { "sleep", "infinity", NULL };
	return spawn(argv);
}

static void end_child(pid_t pid)
{
	kill(pid, SIGKILL);
	reap(pid);
}

/* The id of a bridge on this node (node: NULL) or another, as claims name it: node,
 * pid, and 0 for a start time not known (a live pid is then taken as that bridge).
 * Newly allocated. */
static char *bridge_of(const char *node, pid_t pid)
{
	const char *me = wb_bridge_id();
	const char *end = strrchr(me, ':');
	while (end > me && *--end != ':')
		;
	return node ? g_strdup_printf("%s:%d:0", node, (int)pid)
		    : g_strdup_printf("%.*s:%d:0", (int)(end - me), me, (int)pid);
}

/* The pid of a process that has exited and been reaped. */
static pid_t dead_pid(void)
{
	static const char *const argv[] = { "true", NULL };
	pid_t pid = spawn(argv);
	reap(pid);
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpint(errno, ==, ESRCH);
	return pid;
}

static void test_claim_basic(struct fx *f, gconstpointer data)
{
	int64_t a = send1(f, PNID_BHP, "wamid.C1", CITIZEN_A, NOW, NULL);
	int64_t b = send1(f, PNID_BHP, "wamid.C2", CITIZEN_B, NOW, NULL);
	int64_t c = send1(f, PNID_KAS, "wamid.C3", CITIZEN_A, NOW, NULL);
	g_autoptr(GError) err = NULL;

	/* max is respected, oldest first */
	g_autoptr(GArray) one = wb_store_claim(f->s, 1, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(one->len, ==, 1);
	g_assert_cmpint(g_array_index(one, int64_t, 0), ==, a);
	g_autofree char *by = q_text(f->db, "SELECT claim_by FROM messages WHERE id = %"
				     G_GINT64_FORMAT, a);
	g_assert_cmpstr(by, ==, wb_bridge_id());
	g_assert_cmpint(q_int(f->db, "SELECT lease_until FROM messages WHERE id = %"
			      G_GINT64_FORMAT, a), ==, NOW + wb_lease_seconds());
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages WHERE claim_by IS NOT NULL"),
			==, 1);
	/* the bridge registered itself before its first claim */
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM bridges WHERE id = '%s' AND "
			      "stopped_at IS NULL", wb_bridge_id()), ==, 1);

	g_autoptr(GArray) none = wb_store_claim(f->s, 0, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(none->len, ==, 0);

	/* This process may take its own claims again (a run loops over its work). */
	g_autoptr(GArray) all = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(all->len, ==, 3);
	g_assert_cmpint(g_array_index(all, int64_t, 0), ==, a);
	g_assert_cmpint(g_array_index(all, int64_t, 1), ==, b);
	g_assert_cmpint(g_array_index(all, int64_t, 2), ==, c);
}

static void test_claim_excludes_live_claimant(struct fx *f, gconstpointer data)
{
	int64_t a = send1(f, PNID_BHP, "wamid.L1", CITIZEN_A, NOW, NULL);
	int64_t b = send1(f, PNID_BHP, "wamid.L2", CITIZEN_B, NOW, NULL);
	pid_t other = live_child();
	g_autofree char *neighbour = bridge_of(NULL, other);
	q_exec(f->db, "UPDATE messages SET claim_by = '%s', lease_until = %" G_GINT64_FORMAT
	       " WHERE id = %" G_GINT64_FORMAT, neighbour, NOW + 60, a);

	g_autoptr(GError) err = NULL;
	g_autoptr(GArray) ids = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(ids->len, ==, 1);
	g_assert_cmpint(g_array_index(ids, int64_t, 0), ==, b);
	/* the other process keeps its claim */
	g_autofree char *kept = q_text(f->db, "SELECT claim_by FROM messages WHERE id = %"
				       G_GINT64_FORMAT, a);
	g_assert_cmpstr(kept, ==, neighbour);

	/* also while delivering */
	q_exec(f->db, "UPDATE messages SET state = 'delivering' WHERE id = %" G_GINT64_FORMAT, a);
	g_autoptr(GArray) ids2 = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_false(ids_contain(ids2, a));
	/* and past its lease: on this node the process says it is still at work (a `run`
	 * renews only between its steps) */
	q_exec(f->db, "UPDATE messages SET lease_until = %" G_GINT64_FORMAT " WHERE id = %"
	       G_GINT64_FORMAT, NOW - 60, a);
	g_autoptr(GArray) ids5 = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_false(ids_contain(ids5, a));

	/* A bridge on another node: its claim holds while its lease runs... */
	q_exec(f->db, "UPDATE messages SET claim_by = 'bridge-b:4242:77', lease_until = %"
	       G_GINT64_FORMAT " WHERE id = %" G_GINT64_FORMAT, NOW + 1, a);
	g_autoptr(GArray) ids4 = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_false(ids_contain(ids4, a));
	/* ...and ends with it, whether or not that bridge still lives: another takes over. */
	q_exec(f->db, "UPDATE messages SET lease_until = %" G_GINT64_FORMAT " WHERE id = %"
	       G_GINT64_FORMAT, NOW, a);
	g_autoptr(GArray) ids3 = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_true(ids_contain(ids3, a));
	g_autofree char *taken = q_text(f->db, "SELECT claim_by FROM messages WHERE id = %"
					G_GINT64_FORMAT, a);
	g_assert_cmpstr(taken, ==, wb_bridge_id());
	end_child(other);
}

static void test_claim_takes_over_dead_claimant(struct fx *f, gconstpointer data)
{
	int64_t a = send1(f, PNID_BHP, "wamid.D1", CITIZEN_A, NOW, NULL);
	int64_t b = send1(f, PNID_BHP, "wamid.D2", CITIZEN_B, NOW, NULL);
	pid_t gone = dead_pid();
	g_autofree char *dead = bridge_of(NULL, gone);
	/* one left received, one left mid-delivery by a dead process on this node, its
	 * lease still running: on this node the process is known gone at once */
	q_exec(f->db, "UPDATE messages SET claim_by = '%s', lease_until = %" G_GINT64_FORMAT,
	       dead, NOW + 3600);
	q_exec(f->db, "UPDATE messages SET state = 'delivering' WHERE id = %" G_GINT64_FORMAT, b);

	g_autoptr(GError) err = NULL;
	g_autoptr(GArray) ids = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(ids->len, ==, 2);
	g_assert_true(ids_contain(ids, a));
	g_assert_true(ids_contain(ids, b));
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages WHERE claim_by = '%s'",
			      wb_bridge_id()), ==, 2);
}

static void test_claim_not_before_next_at(struct fx *f, gconstpointer data)
{
	int64_t a = send1(f, PNID_BHP, "wamid.N1", CITIZEN_A, NOW, NULL);
	int64_t b = send1(f, PNID_BHP, "wamid.N2", CITIZEN_B, NOW, NULL);
	g_autoptr(GError) err = NULL;
	g_assert_true(store_retry(f->s, a, NOW + 300, "mailbox busy", &err));
	g_assert_no_error(err);

	g_autoptr(GArray) now_ids = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(now_ids->len, ==, 1);
	g_assert_cmpint(g_array_index(now_ids, int64_t, 0), ==, b);

	g_autoptr(GArray) early = wb_store_claim(f->s, 10, NOW + 299, &err);
	g_assert_no_error(err);
	g_assert_false(ids_contain(early, a));

	g_autoptr(GArray) due = wb_store_claim(f->s, 10, NOW + 300, &err);
	g_assert_no_error(err);
	g_assert_true(ids_contain(due, a));
}

/* Which states are work to claim, and which count as waiting (pending: retry only). */
static const struct { const char *state; bool claimable, pending; } state_cases[] = {
	{ WB_ST_RECEIVED, true, false },
	{ WB_ST_RENDERED, true, false },
	{ WB_ST_RETRY, true, true },
	{ WB_ST_DELIVERING, true, false }, /* claimant gone: here, nobody claimed it */
	{ WB_ST_DELIVERED, false, false },
	{ WB_ST_FAILED, false, false },
	{ WB_ST_UNROUTED, false, false },
};

static void test_claim_states(struct fx *f, gconstpointer data)
{
	for (size_t i = 0; i < G_N_ELEMENTS(state_cases); i++) {
		g_test_message("%s", state_cases[i].state);
		g_autofree char *wamid = g_strdup_printf("wamid.S%zu", i);
		int64_t id = send1(f, PNID_BHP, wamid, CITIZEN_A, NOW, NULL);
		q_exec(f->db, "UPDATE messages SET state = '%s' WHERE id = %" G_GINT64_FORMAT,
		       state_cases[i].state, id);
		g_autoptr(GError) err = NULL;
		g_autoptr(GArray) ids = wb_store_claim(f->s, 10, NOW, &err);
		g_assert_no_error(err);
		g_assert_cmpint(ids_contain(ids, id), ==, state_cases[i].claimable);
		unsigned n = 0;
		gint64 soonest = -1;
		g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
		g_assert_no_error(err);
		g_assert_cmpuint(n, ==, (state_cases[i].pending ? 1u : 0u));
		/* out of the way for the next case */
		q_exec(f->db, "UPDATE messages SET state = 'delivered', claim_by = NULL WHERE id = %"
		       G_GINT64_FORMAT, id);
	}
}

/* ---- state changes ------------------------------------------------------------------------- */

static void test_set_state(struct fx *f, gconstpointer data)
{
	int64_t id = send1(f, PNID_BHP, "wamid.ST1", CITIZEN_A, NOW, NULL);
	g_autoptr(GError) err = NULL;

	/* rendered keeps the claim: the claimant goes on to deliver it */
	g_autoptr(GArray) ids = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_true(ids_contain(ids, id));
	g_assert_true(wb_store_set_state(f->s, id, WB_ST_RENDERED, &err, NULL));
	g_assert_no_error(err);
	g_assert_cmpint(q_int(f->db, "SELECT claim_by = '%s' FROM messages WHERE id = %"
			      G_GINT64_FORMAT, wb_bridge_id(), id), ==, 1);
	g_autoptr(wb_msg) m = get_msg(f, id);
	g_assert_cmpstr(m->state, ==, WB_ST_RENDERED);
	g_assert_null(m->last_error);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT " AND old = 'received' AND new = 'rendered' AND "
			      "detail IS NULL AND at = %" G_GINT64_FORMAT, id, NOW), ==, 1);

	/* so does delivering */
	g_assert_true(wb_store_set_state(f->s, id, WB_ST_DELIVERING, &err, NULL));
	g_assert_no_error(err);
	g_assert_cmpint(q_int(f->db, "SELECT claim_by = '%s' FROM messages WHERE id = %"
			      G_GINT64_FORMAT, wb_bridge_id(), id), ==, 1);

	/* retry releases it and records why */
	g_assert_true(wb_store_set_state(f->s, id, WB_ST_RETRY, &err, "imap: %s (%d)", "timeout", 110));
	g_assert_no_error(err);
	g_autoptr(wb_msg) m2 = get_msg(f, id);
	g_assert_cmpstr(m2->state, ==, WB_ST_RETRY);
	g_assert_cmpstr(m2->last_error, ==, "imap: timeout (110)");
	g_assert_cmpint(q_int(f->db, "SELECT claim_by IS NULL FROM messages WHERE id = %"
			      G_GINT64_FORMAT, id), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT " AND old = 'delivering' AND new = 'retry' AND "
			      "detail = 'imap: timeout (110)'", id), ==, 1);

	/* failed: a warning, last_error replaced */
	g_autoptr(GArray) again = wb_store_claim(f->s, 10, NOW, &err);
	g_assert_true(ids_contain(again, id));
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*BHP-2026-000001*retry → failed*"
			      "mailbox full*");
	g_assert_true(wb_store_set_state(f->s, id, WB_ST_FAILED, &err, "mailbox full"));
	g_test_assert_expected_messages();
	g_assert_no_error(err);
	g_autoptr(wb_msg) m3 = get_msg(f, id);
	g_assert_cmpstr(m3->state, ==, WB_ST_FAILED);
	g_assert_cmpstr(m3->last_error, ==, "mailbox full");
	g_assert_cmpint(q_int(f->db, "SELECT claim_by IS NULL FROM messages WHERE id = %"
			      G_GINT64_FORMAT, id), ==, 1);

	/* a detail on another state is logged and kept in the event, not as last_error */
	g_assert_true(wb_store_set_state(f->s, id, WB_ST_DELIVERED, &err, "%s", "maildir:new/1"));
	g_assert_no_error(err);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT " AND old = 'failed' AND new = 'delivered' AND "
			      "detail = 'maildir:new/1'", id), ==, 1);
	g_autoptr(wb_msg) m4 = get_msg(f, id);
	g_assert_cmpstr(m4->last_error, ==, "mailbox full");

	/* one event per change, plus the first */
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT, id), ==, 6);

	/* an unknown message: NOT_FOUND, nothing recorded */
	gint64 events = q_int(f->db, "SELECT count(*) FROM events");
	g_assert_false(wb_store_set_state(f->s, 9999, WB_ST_RENDERED, &err, NULL));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events"), ==, events);
	/* and the store is usable afterwards (no transaction left open) */
	g_clear_error(&err);
	g_assert_true(wb_store_set_state(f->s, id, WB_ST_DELIVERED, &err, NULL));
	g_assert_no_error(err);
	g_assert_true(wb_store_writable(f->s));
}

static void test_retry_and_pending(struct fx *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	unsigned n = 99;
	gint64 soonest = -1;
	g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 0);
	g_assert_cmpint(soonest, ==, 0);

	int64_t a = send1(f, PNID_BHP, "wamid.R1", CITIZEN_A, NOW, NULL);
	int64_t b = send1(f, PNID_BHP, "wamid.R2", CITIZEN_B, NOW, NULL);

	g_assert_true(store_retry(f->s, a, NOW + 600, "connection refused", &err));
	g_assert_no_error(err);
	g_autoptr(wb_msg) m = get_msg(f, a);
	g_assert_cmpstr(m->state, ==, WB_ST_RETRY);
	g_assert_cmpint(m->attempts, ==, 1);
	g_assert_nonnull(strstr(m->last_error, "connection refused"));
	g_assert_nonnull(strstr(m->last_error, "next try"));
	g_assert_cmpint(q_int(f->db, "SELECT next_at FROM messages WHERE id = %" G_GINT64_FORMAT, a),
			==, NOW + 600);

	g_assert_true(store_retry(f->s, a, NOW + 1800, "connection refused", &err));
	g_assert_no_error(err);
	g_autoptr(wb_msg) m2 = get_msg(f, a);
	g_assert_cmpint(m2->attempts, ==, 2);
	g_assert_cmpint(q_int(f->db, "SELECT next_at FROM messages WHERE id = %" G_GINT64_FORMAT, a),
			==, NOW + 1800);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM events WHERE message_id = %"
			      G_GINT64_FORMAT " AND new = 'retry'", a), ==, 2);

	/* only retries wait: b (received) is work for a claimant, not waiting */
	g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpint(soonest, ==, NOW + 1800);

	/* the soonest of several */
	int64_t c = send1(f, PNID_KAS, "wamid.R3", CITIZEN_A, NOW, NULL);
	g_assert_true(store_retry(f->s, c, NOW + 900, "x", &err));
	g_assert_no_error(err);
	g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmpint(soonest, ==, NOW + 900);

	/* taken up again (rendered, delivering), finished or failed: no longer waiting */
	static const char *const moves[] = { WB_ST_RENDERED, WB_ST_DELIVERING, WB_ST_DELIVERED };
	for (size_t i = 0; i < G_N_ELEMENTS(moves); i++) {
		g_assert_true(wb_store_set_state(f->s, c, moves[i], &err, NULL));
		g_assert_no_error(err);
		g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
		g_assert_cmpuint(n, ==, 1);
		g_assert_cmpint(soonest, ==, NOW + 1800);
	}
	g_assert_true(wb_store_set_state(f->s, b, WB_ST_DELIVERED, &err, NULL));
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*retry → failed: gave up");
	g_assert_true(wb_store_set_state(f->s, a, WB_ST_FAILED, &err, "gave up"));
	g_test_assert_expected_messages();
	g_assert_true(wb_store_pending(f->s, &n, &soonest, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 0);
	g_assert_cmpint(soonest, ==, 0);
	g_autoptr(wb_msg) done = get_msg(f, a);
	g_assert_cmpint(done->attempts, ==, 2);

	/* an unknown message */
	g_assert_false(store_retry(f->s, 4242, NOW, "z", &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
}

/* ---- mail and location --------------------------------------------------------------------- */

static void test_mail_and_location(struct fx *f, gconstpointer data)
{
	int64_t id = send1(f, PNID_BHP, "wamid.M1", CITIZEN_A, NOW, NULL);
	g_autoptr(GError) err = NULL;
	static const char mail[] = "From: a@b\r\nSubject: =?UTF-8?B?4Kas?=\r\n\r\nbody\0with nul\xff\r\n";
	g_autoptr(GBytes) bytes = g_bytes_new_static(mail, sizeof mail - 1);
	g_assert_true(store_mail(f->s, id, bytes, &err));
	g_assert_no_error(err);
	g_autoptr(wb_msg) m = get_msg(f, id);
	g_assert_nonnull(m->mail);
	g_assert_true(g_bytes_equal(m->mail, bytes));
	g_assert_cmpstr(m->state, ==, WB_ST_RENDERED); /* kept in the same change */

	/* rendered again (a template changed): replaced */
	static const char mail2[] = "X: y\r\n\r\nz\r\n";
	g_autoptr(GBytes) other = g_bytes_new_static(mail2, sizeof mail2 - 1);
	g_assert_true(store_mail(f->s, id, other, &err));
	g_autoptr(wb_msg) m2 = get_msg(f, id);
	g_assert_true(g_bytes_equal(m2->mail, other));

	/* where it went; uids use the whole uint32 range */
	g_assert_true(store_location(f->s, id, "imap:INBOX", 4294967295u, 4294967294u, &err));
	g_assert_no_error(err);
	g_autofree char *loc = q_text(f->db, "SELECT location FROM messages WHERE id = %"
				      G_GINT64_FORMAT, id);
	g_assert_cmpstr(loc, ==, "imap:INBOX");
	g_assert_cmpint(q_int(f->db, "SELECT uidvalidity FROM messages WHERE id = %"
			      G_GINT64_FORMAT, id), ==, G_GINT64_CONSTANT(4294967295));
	g_assert_cmpint(q_int(f->db, "SELECT uid FROM messages WHERE id = %" G_GINT64_FORMAT, id),
			==, G_GINT64_CONSTANT(4294967294));
	g_assert_true(store_location(f->s, id, "maildir:new/123.M1", 0, 0, &err));
	g_autofree char *loc2 = q_text(f->db, "SELECT location FROM messages WHERE id = %"
				       G_GINT64_FORMAT, id);
	g_assert_cmpstr(loc2, ==, "maildir:new/123.M1");
	g_assert_no_error(err);

	/* delivered: recorded with the hash of its bytes and journaled, and the bytes gone */
	g_autofree char *sha = wb_mail_sha256(mail2, sizeof mail2 - 1);
	g_autofree char *rec = q_text(f->db, "SELECT d.station || ' ' || d.what || ' ' || "
				      "d.location || ' ' || d.uid || ' ' || d.sha256 FROM "
				      "deliveries d WHERE d.msg = %" G_GINT64_FORMAT, id);
	g_autofree char *want = g_strdup_printf("bhp message imap:INBOX 4294967294 %s", sha);
	g_assert_cmpstr(rec, ==, want);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM journal j JOIN deliveries d ON "
			      "d.journal_id = j.id WHERE j.kind = 'delivered' AND j.detail LIKE "
			      "'%%mail sha256 %s %%'", sha), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM rendered"), ==, 0);
	g_autoptr(wb_msg) m3 = get_msg(f, id);
	g_assert_null(m3->mail);
}

/* A database from before deliveries were recorded: its delivered mails' bytes are
 * recorded, journaled and let go a batch at a time, by the pass's give-back. */
static void test_settle_upgraded(struct fx *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) err = NULL;
	static const char mail[] = "Message-ID: <wamid.U1@wa.test>\r\nX-Complaint-Ref: "
				   "BHP-2026-000001\r\n\r\nold\r\n";
	int64_t id = send1(f, PNID_BHP, "wamid.U1", CITIZEN_A, NOW, NULL);
	q_exec(f->db, "UPDATE messages SET state = 'delivered', location = 'imap:INBOX', uid = 9 "
	       "WHERE id = %" G_GINT64_FORMAT, id);
	g_autofree char *blob = sql_blob_literal(f->db, mail, strlen(mail));
	q_exec(f->db, "INSERT INTO rendered (msg, mail) VALUES (%" G_GINT64_FORMAT ", %s)", id,
	       blob);
	unsigned n = 0;
	g_assert_true(wb_store_settle_delivered(f->s, 10, &n, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM rendered"), ==, 0);
	g_autofree char *rec = q_text(f->db, "SELECT message_id || ' ' || ref || ' ' || uid FROM "
				      "deliveries WHERE msg = %" G_GINT64_FORMAT, id);
	g_assert_cmpstr(rec, ==, "wamid.U1@wa.test BHP-2026-000001 9");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM journal WHERE kind = 'delivered' AND "
			      "detail LIKE '%%recorded after an upgrade'"), ==, 1);
	/* nothing left: a second pass does nothing */
	g_assert_true(wb_store_settle_delivered(f->s, 10, &n, &err));
	g_assert_cmpuint(n, ==, 0);
}

/* ---- a store that cannot write ------------------------------------------------------------- */

/* Runs in a subprocess: as root, becomes nobody first (root ignores file modes). The
 * subprocess's own fixture is removed first, while it still may. */
static void readonly_child(struct fx *f)
{
	const char *db = g_getenv("WB_TEST_RO_DB");
	g_assert_nonnull(db);
	wb_store_close(f->s);
	f->s = NULL;
	rm_rf(f->dir);
	if (geteuid() == 0) {
		g_assert_cmpint(setgroups(0, NULL), ==, 0);
		g_assert_cmpint(setresgid(65534, 65534, 65534), ==, 0);
		g_assert_cmpint(setresuid(65534, 65534, 65534), ==, 0);
		/* changing uid made us undumpable; LeakSanitizer needs to ptrace us at exit */
		g_assert_cmpint(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), ==, 0);
	}
	g_autoptr(GError) err = NULL;
	struct wb_store *s = wb_store_open(db, &err);
	if (s == NULL) {
		/* refusing to open is an acceptable way to say it */
		g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
		g_print("OK: open refused: %s\n", err->message);
		return;
	}
	/* The condition is real: the store cannot write. */
	int64_t id = 0;
	g_assert_false(wb_store_add_body(s, "{}", 2, true, "test", &id, NULL, &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
	g_print("add_body refused: %s\n", err->message);
	/* So /healthz must not say ok. */
	if (wb_store_writable(s)) {
		g_print("BUG: wb_store_writable() returned true\n");
		g_test_fail();
	} else {
		g_print("OK: not writable\n");
	}
	wb_store_close(s);
}

static void test_readonly(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("a state file the process may not write");
	if (g_test_subprocess()) {
		readonly_child(f);
		return;
	}
	send1(f, PNID_BHP, "wamid.RO", CITIZEN_A, NOW, NULL);
	wb_store_close(f->s);
	f->s = NULL;
	/* A database nobody else may write: world-readable file in a world-searchable
	 * directory, with its -wal and -shm present (a second store keeps them), all 0444. */
	struct wb_store *keeper = NULL;
	{
		g_autoptr(GError) err = NULL;
		keeper = wb_store_open(f->db, &err);
		g_assert_no_error(err);
	}
	g_assert_cmpint(g_chmod(f->dir, 0755), ==, 0);
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *p = g_strconcat(f->db, suffixes[i], NULL);
		g_assert_cmpint(g_chmod(p, 0444), ==, 0);
	}
	g_setenv("WB_TEST_RO_DB", f->db, TRUE);
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_unsetenv("WB_TEST_RO_DB");
	wb_store_close(keeper);
	/* wb_store_writable() must see that SQLite opened the file read-only. */
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout("*OK: *");
}

/* ---- giving space back ------------------------------------------------------------------- */

static gint64 file_size(const char *path)
{
	GStatBuf st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_size;
}

static void test_space_new_incremental(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("PRAGMA auto_vacuum");
	g_assert_cmpint(q_int(f->db, "PRAGMA auto_vacuum"), ==, 2);
}

/* A database from before auto_vacuum (NONE, as SQLite makes them) is converted by a
 * VACUUM at open, once, keeping what it holds. The store's own file, turned back to NONE,
 * plays the old one (with the current schema, so that no migration logs in between). */
static void test_space_convert_old(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("PRAGMA auto_vacuum and VACUUM");
	int64_t body = send1(f, PNID_BHP, "wamid.OLD1", CITIZEN_A, NOW, NULL);
	wb_store_close(f->s);
	f->s = NULL;
	q_exec(f->db, "CREATE TABLE scratch (b BLOB);"
		      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) "
		      "INSERT INTO scratch SELECT randomblob(32768) FROM n;"
		      "PRAGMA auto_vacuum = NONE; VACUUM;");
	g_assert_cmpint(q_int(f->db, "PRAGMA auto_vacuum"), ==, 0);

	g_autoptr(GError) err = NULL;
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
			      "*converted to auto_vacuum = incremental*");
	f->s = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(f->s);
	g_test_assert_expected_messages();
	g_assert_cmpint(q_int(f->db, "PRAGMA auto_vacuum"), ==, 2);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM scratch"), ==, 64);
	g_autoptr(wb_msg) m = get_msg(f, body);
	g_assert_cmpstr(m->wamid, ==, "wamid.OLD1");
	/* Converted, it is not converted again (that would log a second line). */
	wb_store_close(f->s);
	f->s = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_assert_cmpint(q_int(f->db, "PRAGMA auto_vacuum"), ==, 2);
}

/* Blobs written and deleted leave the file at its size until wb_store_give_back(). The
 * test's own connection checkpoints (TRUNCATE) so that the main file holds every page
 * when measured. */
static void test_space_give_back(struct fx *f, gconstpointer data)
{
	SQLITE_ONLY("the state file's size and freelist");
	g_autoptr(GError) err = NULL;
	q_exec(f->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	gint64 size0 = file_size(f->db);
	/* Nothing to give back: nothing changes. */
	g_assert_true(wb_store_give_back(f->s, &err));
	g_assert_no_error(err);
	g_assert_cmpint(file_size(f->db), ==, size0);

	q_exec(f->db, "CREATE TABLE scratch (b BLOB);"
		      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80) "
		      "INSERT INTO scratch SELECT randomblob(131072) FROM n;"
		      "PRAGMA wal_checkpoint(TRUNCATE)");
	gint64 size1 = file_size(f->db);
	g_assert_cmpint(size1, >, size0 + 10 * 1000 * 1000);
	q_exec(f->db, "DELETE FROM scratch; PRAGMA wal_checkpoint(TRUNCATE)");
	g_assert_cmpint(file_size(f->db), ==, size1);
	g_assert_cmpint(q_int(f->db, "PRAGMA freelist_count"), >, 2000);

	/* A little data after the freed pages, so that give-back has pages to move. */
	int64_t body = send1(f, PNID_BHP, "wamid.SPACE1", CITIZEN_A, NOW, NULL);
	g_assert_true(wb_store_give_back(f->s, &err));
	g_assert_no_error(err);
	/* Its own passive checkpoint has shrunk the file already. */
	gint64 size2 = file_size(f->db);
	g_assert_cmpint(size2, <, size1 - 9 * 1000 * 1000);
	g_assert_cmpint(q_int(f->db, "PRAGMA freelist_count"), <=, 256);
	g_autoptr(wb_msg) m = get_msg(f, body);
	g_assert_cmpstr(m->wamid, ==, "wamid.SPACE1");
	g_autofree char *check = q_text(f->db, "PRAGMA integrity_check");
	g_assert_cmpstr(check, ==, "ok");
}

/* ---- replies and the outbox ------------------------------------------------------------- */

/* A complaint from CITIZEN_A at bhp and an accepted reply queueing a text; returns the
 * outbox row id. */
static int64_t queued_reply(struct fx *f, const char *key)
{
	send1(f, PNID_BHP, "wamid.OB1", CITIZEN_A, NOW - 60, NULL);
	g_autoptr(GError) err = NULL;
	struct wb_outbox_in send = { .kind = "text", .lang = "bn", .text = "অভিযোগ নম্বর: 1/2026",
				     .fallback_template = "complaint_registered",
				     .fallback_params = "[\"1/2026\",\"Bhowanipore\"]" };
	struct wb_mailop_in op = { .station = "bhp", .kind = "flag",
				   .message_id = "wamid.OB1@wa.test", .keyword = "$WA_Registered" };
	struct wb_reply_in in = { .key = key, .sha256 = "00", .source = "pipe", .mail = "x",
				  .len = 1, .sender = "oc@police.test",
				  .complaint_id = q_int(f->db, "SELECT id FROM complaints"),
				  .matched_by = "token", .state = WB_RS_ACCEPTED, .text = "GD 1/2026",
				  .number = "1/2026", .send = &send, .ops = &op, .n_ops = 1 };
	int64_t rid = 0;
	bool already = true;
	g_assert_true(wb_store_add_reply(f->s, &in, &rid, &already, &err));
	g_assert_no_error(err);
	g_assert_false(already);
	g_assert_cmpint(rid, >, 0);
	return q_int(f->db, "SELECT id FROM outbox WHERE reply_id = %" G_GINT64_FORMAT, rid);
}

static char *status_obj2(const char *wamid, const char *status, const char *opaque, int code)
{
	g_autofree char *op = opaque ? g_strdup_printf(",\"biz_opaque_callback_data\":\"%s\"",
						       opaque) : g_strdup("");
	g_autofree char *err = code ? g_strdup_printf(",\"errors\":[{\"code\":%d,\"title\":"
						      "\"Re-engagement message\"}]", code)
				    : g_strdup("");
	return g_strdup_printf("{\"id\":\"%s\",\"status\":\"%s\",\"timestamp\":\"%" G_GINT64_FORMAT
			       "\",\"recipient_id\":\"" CITIZEN_A "\"%s%s}", wamid, status, NOW,
			       op, err);
}

static void status_in(struct fx *f, const char *wamid, const char *status, const char *opaque,
		      int code)
{
	g_autofree char *st = status_obj2(wamid, status, opaque, code);
	g_autofree char *body = envelope(PNID_BHP, "", st);
	ingest(f, body, NULL);
}

static void test_reply_replay(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r1@police.test>");
	g_assert_cmpint(ob, >, 0);
	g_autofree char *state = q_text(f->db, "SELECT state FROM outbox WHERE id = %" G_GINT64_FORMAT, ob);
	g_assert_cmpstr(state, ==, "queued");
	g_autofree char *number = q_text(f->db, "SELECT number FROM complaints");
	g_assert_cmpstr(number, ==, "1/2026");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM mailops WHERE keyword = "
			      "'$WA_Registered'"), ==, 1);
	/* The same mail again: nothing new. */
	g_autoptr(GError) err = NULL;
	struct wb_outbox_in send = { .kind = "text", .lang = "bn", .text = "again" };
	struct wb_reply_in in = { .key = "<r1@police.test>", .sha256 = "00", .source = "imap",
				  .mail = "x", .len = 1, .complaint_id = 1,
				  .state = WB_RS_ACCEPTED, .text = "again", .send = &send };
	int64_t rid = 0;
	bool already = false;
	g_assert_true(wb_store_add_reply(f->s, &in, &rid, &already, &err));
	g_assert_no_error(err);
	g_assert_true(already);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM outbox"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT seen FROM replies"), ==, 2);
}

static void test_reply_refused_then_accepted(struct fx *f, gconstpointer data)
{
	send1(f, PNID_BHP, "wamid.RA1", CITIZEN_A, NOW - 60, NULL);
	g_autoptr(GError) err = NULL;
	struct wb_outbox_in send = { .kind = "text", .lang = "en", .text = "hello" };
	struct wb_reply_in in = { .key = "<r2@police.test>", .sha256 = "00", .source = "pipe",
				  .mail = "x", .len = 1, .complaint_id = 1,
				  .state = WB_RS_UNAUTHORISED, .reason = "not an officer" };
	int64_t rid = 0;
	bool already = false;
	g_assert_true(wb_store_add_reply(f->s, &in, &rid, &already, &err));
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM outbox"), ==, 0);
	/* The admin added the officer; the MTA delivers the same mail again. */
	in.state = WB_RS_ACCEPTED;
	in.reason = NULL;
	in.text = "hello";
	in.send = &send;
	g_assert_true(wb_store_add_reply(f->s, &in, &rid, &already, &err));
	g_assert_no_error(err);
	g_assert_false(already);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM replies"), ==, 1);
	g_autofree char *state = q_text(f->db, "SELECT state FROM replies");
	g_assert_cmpstr(state, ==, "accepted");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM outbox"), ==, 1);
}

/* A refused reply queues its note for the thread in the same transaction, and only
 * once however often the same mail comes; refusals are counted per complaint. */
static void test_reply_refused_note(struct fx *f, gconstpointer data)
{
	send1(f, PNID_BHP, "wamid.RN1", CITIZEN_A, NOW - 60, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) note = g_bytes_new_static("note", 4);
	struct wb_mailop_in op = { .station = "bhp", .kind = "append",
				   .message_id = "wb-refused-1@wa.test", .mail = note };
	struct wb_reply_in in = { .key = "<f1@evil.test>", .sha256 = "00", .source = "pipe",
				  .mail = "x", .len = 1, .complaint_id = 1, .matched_by = "subject",
				  .state = WB_RS_UNAUTHORISED, .reason = "nothing proves it",
				  .ops = &op, .n_ops = 1 };
	int64_t rid = 0;
	bool already = false;
	for (int i = 0; i < 2; i++) {
		g_assert_true(wb_store_add_reply(f->s, &in, &rid, &already, &err));
		g_assert_no_error(err);
		g_assert_false(already);
	}
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM mailops WHERE kind = 'append' AND "
			      "message_id = 'wb-refused-1@wa.test' AND state = 'pending'"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM outbox"), ==, 0);
	g_assert_cmpint(q_int(f->db, "SELECT seen FROM replies"), ==, 2);

	unsigned n = 99;
	g_assert_true(wb_store_refusals_since(f->s, 1, 0, NULL, &n, &err));
	g_assert_cmpuint(n, ==, 1);
	g_assert_true(wb_store_refusals_since(f->s, 1, 0, "<f1@evil.test>", &n, &err));
	g_assert_cmpuint(n, ==, 0);
	g_assert_true(wb_store_refusals_since(f->s, 1, G_MAXINT64, NULL, &n, &err));
	g_assert_cmpuint(n, ==, 0);
	g_assert_true(wb_store_refusals_since(f->s, 2, 0, NULL, &n, &err));
	g_assert_cmpuint(n, ==, 0);
	/* An accepted reply is no refusal. */
	in = (struct wb_reply_in){ .key = "<ok@police.test>", .sha256 = "00", .source = "pipe",
				   .mail = "x", .len = 1, .complaint_id = 1, .matched_by = "token",
				   .state = WB_RS_ACCEPTED, .text = "ok" };
	g_assert_true(wb_store_add_reply(f->s, &in, &rid, &already, &err));
	g_assert_true(wb_store_refusals_since(f->s, 1, 0, NULL, &n, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 1);
}

static void test_outbox_take_once(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r3@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_outbox) o = wb_store_outbox_take(f->s, NOW, &err);
	g_assert_no_error(err);
	g_assert_nonnull(o);
	g_assert_cmpint(o->id, ==, ob);
	g_assert_cmpstr(o->state, ==, "sending");
	g_assert_cmpstr(o->recipient, ==, CITIZEN_A);
	g_assert_cmpstr(o->phone_number_id, ==, PNID_BHP);
	g_assert_cmpstr(o->ref, ==, "BHP-2026-000001");
	g_autoptr(wb_outbox) again = wb_store_outbox_take(f->s, NOW, &err);
	g_assert_no_error(err);
	g_assert_null(again); /* `sending` is never taken again: no blind resend */
	g_assert_true(wb_store_outbox_sent(f->s, ob, "wamid.OUT1", "{}", NULL, &err));
	g_autofree char *st = q_text(f->db, "SELECT state || ' ' || wamid FROM outbox");
	g_assert_cmpstr(st, ==, "accepted wamid.OUT1");
}

static void test_status_monotonic(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r4@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_outbox) o = wb_store_outbox_take(f->s, NOW, &err);
	g_assert_true(wb_store_outbox_sent(f->s, ob, "wamid.OUT2", "{}", NULL, &err));
	const char *seq[][2] = { { "delivered", "delivered" }, { "sent", "delivered" },
				 { "read", "read" }, { "delivered", "read" },
				 { "deleted", "read" } };
	for (size_t i = 0; i < G_N_ELEMENTS(seq); i++) {
		status_in(f, "wamid.OUT2", seq[i][0], NULL, 0);
		g_autofree char *st = q_text(f->db, "SELECT state FROM outbox");
		g_assert_cmpstr(st, ==, seq[i][1]);
	}
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*read → failed*131026*");
	status_in(f, "wamid.OUT2", "failed", NULL, 131026);
	g_test_assert_expected_messages();
	status_in(f, "wamid.OUT2", "read", NULL, 0);
	g_autofree char *st = q_text(f->db, "SELECT state || ' ' || error_code FROM outbox");
	g_assert_cmpstr(st, ==, "failed 131026"); /* failed is terminal */
	g_autoptr(GArray) unnoted = wb_store_outbox_unnoted(f->s, &err);
	g_assert_cmpuint(unnoted->len, ==, 1);
}

static void test_status_reconciles_crash(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r5@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_outbox) o = wb_store_outbox_take(f->s, NOW, &err);
	/* The process died before recording the answer: only the status says. */
	g_autofree char *opaque = g_strdup_printf("wb-outbox-%" G_GINT64_FORMAT, ob);
	status_in(f, "wamid.LOST", "sent", "wb-outbox-999", 0); /* names no row */
	status_in(f, "wamid.LOST", "sent", opaque, 0);
	g_autofree char *st = q_text(f->db, "SELECT state || ' ' || wamid FROM outbox");
	g_assert_cmpstr(st, ==, "sent wamid.LOST");
	/* A forged opaque for a row that already has its wamid changes nothing. */
	status_in(f, "wamid.OTHER", "read", opaque, 0);
	g_autofree char *st2 = q_text(f->db, "SELECT state || ' ' || wamid FROM outbox");
	g_assert_cmpstr(st2, ==, "sent wamid.LOST");
}

static void test_status_before_answer(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r6@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_outbox) o = wb_store_outbox_take(f->s, NOW, &err);
	status_in(f, "wamid.EARLY", "delivered", NULL, 0); /* before the call returned */
	g_assert_true(wb_store_outbox_sent(f->s, ob, "wamid.EARLY", "{}", NULL, &err));
	g_assert_no_error(err);
	g_autofree char *st = q_text(f->db, "SELECT state FROM outbox");
	g_assert_cmpstr(st, ==, "delivered");
}

static void test_outbox_expire(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r7@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_outbox) o = wb_store_outbox_take(f->s, NOW, &err);
	unsigned n = 9;
	/* Our own live claim is never expired. */
	g_assert_true(wb_store_outbox_expire(f->s, NOW + 1900, 1800, &n, &err));
	g_assert_cmpuint(n, ==, 0);
	/* A dead claimant within the grace time: still waiting for a status. */
	q_exec(f->db, "UPDATE outbox SET claim_by = 'gone:2147483646:0'");
	g_assert_true(wb_store_outbox_expire(f->s, NOW + 60, 1800, &n, &err));
	g_assert_cmpuint(n, ==, 0);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*sending → unknown*");
	g_assert_true(wb_store_outbox_expire(f->s, NOW + 1801, 1800, &n, &err));
	g_test_assert_expected_messages();
	g_assert_cmpuint(n, ==, 1);
	g_autofree char *st = q_text(f->db, "SELECT state FROM outbox WHERE id = %" G_GINT64_FORMAT, ob);
	g_assert_cmpstr(st, ==, "unknown");
	g_autoptr(wb_outbox) again = wb_store_outbox_take(f->s, NOW + 7200, &err);
	g_assert_null(again);
	/* A late status still settles it. */
	g_autofree char *opaque = g_strdup_printf("wb-outbox-%" G_GINT64_FORMAT, ob);
	status_in(f, "wamid.LATE", "delivered", opaque, 0);
	g_autofree char *st2 = q_text(f->db, "SELECT state FROM outbox");
	g_assert_cmpstr(st2, ==, "delivered");
}

static void test_outbox_fallback(struct fx *f, gconstpointer data)
{
	int64_t ob = queued_reply(f, "<r8@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_outbox) o = wb_store_outbox_take(f->s, NOW, &err);
	/* The failure is logged as a warning, which g_test would make fatal. */
	GLogLevelFlags fatal = g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	g_assert_true(wb_store_outbox_failed(f->s, ob, "{}", 131047, "window closed", -1, &err));
	g_assert_no_error(err);
	g_autofree char *t = q_text(f->db, "SELECT kind || ' ' || template || ' ' || params || ' ' "
				    "|| state FROM outbox WHERE id != %" G_GINT64_FORMAT, ob);
	g_assert_cmpstr(t, ==, "template complaint_registered [\"1/2026\",\"Bhowanipore\"] queued");
	/* Only once, however often the failure is reported. */
	status_in(f, "wamid.X", "failed", "wb-outbox-1", 131047);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM outbox"), ==, 2);
	/* A retry is not a failure. */
	g_autoptr(wb_outbox) tpl = wb_store_outbox_take(f->s, NOW, &err);
	g_assert_true(wb_store_outbox_failed(f->s, tpl->id, "{}", 130429, "throughput", NOW + 15,
					     &err));
	g_autofree char *st = q_text(f->db, "SELECT state || ' ' || next_at FROM outbox WHERE id = "
				     "%" G_GINT64_FORMAT, tpl->id);
	g_autofree char *want = g_strdup_printf("retry %" G_GINT64_FORMAT, NOW + 15);
	g_assert_cmpstr(st, ==, want);
	unsigned count = 0;
	gint64 soonest = 0;
	g_assert_true(wb_store_reply_pending(f->s, &count, &soonest, &err));
	g_assert_cmpuint(count, >=, 1);
	g_assert_cmpint(soonest, ==, 0); /* the $WA_Registered flag is due now */
	g_log_set_always_fatal(fatal);
}

static void test_mailops(struct fx *f, gconstpointer data)
{
	queued_reply(f, "<r9@police.test>");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) ops = wb_store_mailops_due(f->s, NOW, 10, &err);
	g_assert_cmpuint(ops->len, ==, 1);
	struct wb_mailop *op = ops->pdata[0];
	g_assert_cmpstr(op->kind, ==, "flag");
	g_assert_cmpstr(op->keyword, ==, "$WA_Registered");
	g_assert_true(wb_store_mailop_set(f->s, op->id, "pending", "not there yet", NOW + 60, &err));
	g_autoptr(GPtrArray) none = wb_store_mailops_due(f->s, NOW, 10, &err);
	g_assert_cmpuint(none->len, ==, 0);
	g_autoptr(GPtrArray) later = wb_store_mailops_due(f->s, NOW + 60, 10, &err);
	g_assert_cmpuint(later->len, ==, 1);
	g_assert_true(wb_store_mailop_set(f->s, op->id, "done", NULL, 0, &err));
	g_autoptr(GPtrArray) done = wb_store_mailops_due(f->s, NOW + 3600, 10, &err);
	g_assert_cmpuint(done->len, ==, 0);
}

/* A transfer in a reply's transaction: what moves, what is placed, what follows. */
static bool transfer_reply(struct fx *f, const char *key, GError **error)
{
	struct wb_transfer_in t = { .from_station = "bhp", .to_station = "kas",
				    .officer = "oc@police.test", .reason = "wrong area",
				    .domain = "wa.test" };
	struct wb_outbox_in send = { .kind = "text", .lang = "bn", .text = "now with Kasba" };
	struct wb_reply_in in = { .key = key, .sha256 = "00", .source = "pipe", .mail = "x",
				  .len = 1, .sender = "oc@police.test",
				  .complaint_id = q_int(f->db, "SELECT id FROM complaints"),
				  .matched_by = "token", .state = WB_RS_ACCEPTED, .text = "wrong area",
				  .tags = "#transfer KAS", .send = &send, .purpose = "transfer",
				  .transfer = &t };
	int64_t rid = 0;
	bool already = false;
	return wb_store_add_reply(f->s, &in, &rid, &already, error);
}

static void test_transfer(struct fx *f, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) mail = g_bytes_new_static("mail", 4);
	int64_t done = send1(f, PNID_BHP, "wamid.T1", CITIZEN_A, NOW - 600, NULL);
	int64_t waits = send1(f, PNID_BHP, "wamid.T2", CITIZEN_A, NOW - 500, NULL);
	int64_t busy = send1(f, PNID_BHP, "wamid.T3", CITIZEN_A, NOW - 400, NULL);
	int64_t fresh = send1(f, PNID_BHP, "wamid.T4", CITIZEN_A, NOW - 300, NULL);
	/* a mail with a medium, rendered into the spool (pipeline.c): no bytes here */
	int64_t spooled = send1(f, PNID_BHP, "wamid.T6", CITIZEN_A, NOW - 250, NULL);
	g_assert_true(store_mail(f->s, done, mail, &err));
	g_assert_true(store_location(f->s, done, "INBOX", 1, 1, &err));
	g_assert_true(store_mail(f->s, waits, mail, &err));
	g_assert_true(store_mail(f->s, busy, mail, &err));
	pid_t other = live_child();
	g_autofree char *neighbour = bridge_of(NULL, other);
	q_exec(f->db, "UPDATE messages SET claim_by = '%s', lease_until = %" G_GINT64_FORMAT
	       " WHERE id IN (%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ")",
	       neighbour, NOW + 60, busy, fresh, spooled);
	gint64 opened = q_int(f->db, "SELECT opened_at FROM complaints");

	g_assert_true(transfer_reply(f, "<t1@police.test>", &err));
	g_assert_no_error(err);
	g_autofree char *station = q_text(f->db, "SELECT station FROM complaints");
	g_assert_cmpstr(station, ==, "kas");
	g_assert_cmpint(q_int(f->db, "SELECT opened_at FROM complaints"), ==, opened);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM transfers WHERE from_station = 'bhp' "
			      "AND to_station = 'kas'"), ==, 1);
	/* the waiting message moves and is rendered again; the others keep their station */
	g_autofree char *moved = q_text(f->db, "SELECT station || ' ' || state || ' ' || "
					"(SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM rendered WHERE "
					"msg = m.id) FROM "
					"messages m WHERE id = %" G_GINT64_FORMAT, waits);
	g_assert_cmpstr(moved, ==, "kas received 1");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM messages WHERE station = 'bhp'"), ==, 4);
	/* the mails that exist and are (or may be) in Bhowanipore's mailbox are placed in
	 * Kasba's: the delivered one, whose bytes have left the database, copied from
	 * Bhowanipore's mailbox; the one being rendered right now follows when it is
	 * delivered */
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM rendered WHERE msg = %"
			      G_GINT64_FORMAT, done), ==, 0);
	g_autoptr(GPtrArray) ops_kas = sql_column(f->db, "SELECT kind || ' ' || message_id || "
						  "coalesce(' from ' || source, '') FROM mailops "
						  "WHERE station = 'kas' ORDER BY id", 0);
	g_ptr_array_add(ops_kas, NULL);
	g_autofree char *placed = g_strjoinv(", ", (char **)ops_kas->pdata);
	g_assert_cmpstr(placed, ==, "copy wamid.T1@wa.test from bhp, append wamid.T3@wa.test");
	g_autofree char *purpose = q_text(f->db, "SELECT purpose || ' ' || station FROM outbox");
	g_assert_cmpstr(purpose, ==, "transfer kas");
	struct wb_change c = { .id = fresh, .state = WB_ST_DELIVERED, .next_at = -1,
			       .mail = mail, .message_id = "wamid.T4@wa.test" };
	g_assert_true(wb_store_apply(f->s, &c, 1, &err));
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM mailops WHERE station = 'kas' AND "
			      "message_id = 'wamid.T4@wa.test'"), ==, 1);
	/* a spooled mail is recorded from its digest alone, and copied from the mailbox it
	 * went to, having no bytes here */
	static const char digest[] = "{\"v\":1,\"sha256\":\"5eed0000000000000000000000000000"
		"00000000000000000000000000000000\",\"size\":104857600,\"headers\":[[\"Message-ID"
		"\",\"<wamid.T6@wa.test>\"]],\"parts\":[]}";
	struct wb_change c6 = { .id = spooled, .state = WB_ST_DELIVERED, .next_at = -1,
				.location = "INBOX", .uidvalidity = 1, .uid = 6,
				.message_id = "wamid.T6@wa.test", .digest = digest };
	g_assert_true(wb_store_apply(f->s, &c6, 1, &err));
	g_assert_no_error(err);
	g_autofree char *copied = q_text(f->db, "SELECT kind || ' from ' || source || ' ' || "
					 "CASE WHEN mail IS NULL THEN 1 ELSE 0 END FROM mailops WHERE "
					 "station = 'kas' AND "
					 "message_id = 'wamid.T6@wa.test'");
	g_assert_cmpstr(copied, ==, "copy from bhp 1");
	g_autofree char *rec = q_text(f->db, "SELECT station || ' ' || sha256 || ' ' || size FROM "
				      "deliveries WHERE msg = %" G_GINT64_FORMAT, spooled);
	g_assert_cmpstr(rec, ==, "bhp 5eed000000000000000000000000000000000000000000000000000000000000"
			" 104857600");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM journal WHERE kind = 'delivered' AND "
			      "subject = 'wamid.T6@wa.test' AND detail LIKE '%%5eed0000%%'"), ==, 1);
	end_child(other);

	/* the citizen writes to Bhowanipore's number again: the complaint, at Kasba */
	int64_t later = send1(f, PNID_BHP, "wamid.T5", CITIZEN_A, NOW - 60, NULL);
	g_autofree char *routed = q_text(f->db, "SELECT m.station || ' ' || CAST(m.complaint_id = "
					 "(SELECT id FROM complaints) AS INTEGER) FROM messages m "
					 "WHERE m.id = %"
					 G_GINT64_FORMAT, later);
	g_assert_cmpstr(routed, ==, "kas 1");
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM complaints"), ==, 1);
	g_autoptr(wb_complaint) cp = wb_store_complaint(f->s, NULL,
							q_int(f->db, "SELECT id FROM complaints"),
							&err);
	g_assert_cmpint(cp->last_inbound, ==, NOW - 60);

	/* all or nothing: a transfer from a station that no longer holds it changes nothing */
	gint64 ops = q_int(f->db, "SELECT count(*) FROM mailops");
	g_assert_false(transfer_reply(f, "<t2@police.test>", &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM transfers"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM replies"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM outbox"), ==, 1);
	g_assert_cmpint(q_int(f->db, "SELECT count(*) FROM mailops"), ==, ops);
	g_autoptr(GPtrArray) list = wb_store_transfers(f->s, cp->id, &err);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_cmpstr(((struct wb_transfer *)list->pdata[0])->officer, ==, "oc@police.test");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, struct fx, NULL, fx_setup, fn, fx_teardown)
	ADD("/store/open/schema", test_open_schema);
	ADD("/store/open/newer_schema", test_open_newer_schema);
	ADD("/store/open/creates_directories", test_open_creates_directories);
	ADD("/store/open/not_a_database", test_open_not_a_database);
	ADD("/store/body/dedup", test_body_dedup);
	ADD("/store/body/bytes", test_body_bytes);
	ADD("/store/body/batch", test_body_batch);
	ADD("/store/body/batch_wakes", test_body_batch_wakes);
	ADD("/store/body/bad", test_body_bad);
	ADD("/store/expand/added_and_duplicates", test_expand_added_and_duplicates);
	ADD("/store/expand/same_wamid_in_one_body", test_expand_same_wamid_in_one_body);
	ADD("/store/expand/many_passes_over", test_expand_many_passes_over);
	ADD("/store/expand/unrouted", test_expand_unrouted);
	ADD("/store/expand/statuses", test_expand_statuses);
	ADD("/store/expand/problems", test_expand_problems);
	ADD("/store/complaint/numbering", test_complaint_numbering);
	ADD("/store/complaint/idle_from_last_activity", test_complaint_idle_from_last_activity);
	ADD("/store/complaint/year_in_kolkata", test_complaint_year_in_kolkata);
	ADD("/store/complaint/no_timestamp", test_complaint_no_timestamp);
	ADD("/store/complaint/reply_parent", test_complaint_reply_parent);
	ADD("/store/message/not_found", test_message_not_found);
	ADD("/store/claim/basic", test_claim_basic);
	ADD("/store/claim/excludes_live_claimant", test_claim_excludes_live_claimant);
	ADD("/store/claim/takes_over_dead_claimant", test_claim_takes_over_dead_claimant);
	ADD("/store/claim/not_before_next_at", test_claim_not_before_next_at);
	ADD("/store/claim/states", test_claim_states);
	ADD("/store/state/set_state", test_set_state);
	ADD("/store/state/retry_and_pending", test_retry_and_pending);
	ADD("/store/state/mail_and_location", test_mail_and_location);
	ADD("/store/state/settle_upgraded", test_settle_upgraded);
	ADD("/store/readonly", test_readonly);
	ADD("/store/space/new_incremental", test_space_new_incremental);
	ADD("/store/space/convert_old", test_space_convert_old);
	ADD("/store/space/give_back", test_space_give_back);
	ADD("/store/reply/replay", test_reply_replay);
	ADD("/store/reply/refused_then_accepted", test_reply_refused_then_accepted);
	ADD("/store/reply/refused_note", test_reply_refused_note);
	ADD("/store/outbox/take_once", test_outbox_take_once);
	ADD("/store/outbox/status_monotonic", test_status_monotonic);
	ADD("/store/outbox/status_reconciles_crash", test_status_reconciles_crash);
	ADD("/store/outbox/status_before_answer", test_status_before_answer);
	ADD("/store/outbox/expire", test_outbox_expire);
	ADD("/store/outbox/fallback", test_outbox_fallback);
	ADD("/store/mailops", test_mailops);
	ADD("/store/transfer", test_transfer);
#undef ADD
	return g_test_run();
}
