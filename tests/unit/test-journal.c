/* test-journal: the custody journal (src/store_journal.c, journal.h).
 *
 * Every test gets a fresh store on <tmpdir>/state.db (on the PostgreSQL pass, a fresh
 * database: testlib.h) with the clock pinned. Entries are written through the store's own
 * events (webhook bodies) and through wb_store_journal_add() inside a transaction
 * (store-priv.h: this is the store's own test); tampering is done the way an intruder
 * would, with SQL on the database directly. */
#include "journal.h"
#include "store.h"
#include "store-priv.h"
#include "testlib.h"
#include "util.h"

#include <glib.h>
#include <string.h>

#define NOW "1792051200" /* 2026-10-15T08:00:00Z */

struct fx {
	char *dir, *db;
	struct wb_store *s;
};

static void fx_setup(struct fx *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) err = NULL;
	g_setenv("WABRIDGE_NOW", NOW, TRUE);
	f->dir = g_dir_make_tmp("wb-test-journal-XXXXXX", &err);
	g_assert_no_error(err);
	f->db = test_state_location(f->dir);
	f->s = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(f->s);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
	(void)data;
	wb_store_close(f->s);
	rm_rf(f->dir);
	g_free(f->dir);
	test_state_drop(f->db);
	g_unsetenv("WABRIDGE_NOW");
}

/* SQL on the database through a second connection, as someone with access to it would. */
static void tamper(struct fx *f, const char *sql)
{
	sql_on_state(f->db, sql);
}

static void add(struct fx *f, const char *kind, const char *ref, const char *subject,
		const char *detail)
{
	g_autoptr(GError) err = NULL;
	g_assert_true(sq_begin(f->s, &err));
	g_assert_true(wb_store_journal_add(f->s, kind, ref, subject, detail, &err));
	g_assert_no_error(err);
	g_assert_true(sq_commit(f->s, &err));
}

static void add_body(struct fx *f, const char *text)
{
	g_autoptr(GError) err = NULL;
	int64_t id;
	bool is_new;
	g_assert_true(wb_store_add_body(f->s, text, strlen(text), true, "test", &id, &is_new,
					&err));
	g_assert_no_error(err);
}

static void check(struct fx *f, struct wb_journal_check *jc)
{
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_store_journal_verify(f->s, jc, &err));
	g_assert_no_error(err);
}

static int64_t count(struct fx *f, const char *sql)
{
	g_autoptr(GPtrArray) col = sql_column(f->db, sql, 1);
	g_assert_cmpuint(col->len, ==, 1);
	return col->pdata[0] != NULL ? g_ascii_strtoll(col->pdata[0], NULL, 10) : 0;
}

/* ---- tests -------------------------------------------------------------------------- */

/* The canonical form is the contract with anyone who checks the chain by other means:
 * these hashes were computed outside wabridge (Python's hashlib over the form in
 * journal.h). */
static void test_canonical_vector(struct fx *f, gconstpointer data)
{
	(void)data;
	add(f, "body", NULL, "abc", "d");
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 0);
	g_assert_cmpint(jc.checked, ==, 1);
	g_assert_cmpstr(jc.head, ==,
			"1fb70ae68722193f82814322bbe6fa143f5eefc53efaa740ee9400a15a32eb0d");
	wb_journal_check_clear(&jc);
	g_autoptr(GString) g = wb_journal_canonical(1, 1792051200, "body", "", 0, "abc", 3, "d", 1,
						    WB_JOURNAL_GENESIS);
	g_autofree char *h = wb_sha256_hex(g->str, g->len);
	/* An empty ref is not a missing one. */
	g_assert_cmpstr(h, ==, "747e7de6bf0ca38f4cc8e935372e237754b72186475700fa3ea3ee6b6ff6bd03");
}

static void test_chain_intact(struct fx *f, gconstpointer data)
{
	(void)data;
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.checked, ==, 0);
	g_assert_cmpstr(jc.head, ==, WB_JOURNAL_GENESIS);
	add_body(f, "{\"one\":1}");
	add_body(f, "{\"one\":1}"); /* Meta's retry: counted, not journaled again */
	add_body(f, "{\"two\":2}");
	add(f, "reply", "BHP-2026-000001", "key-1", "accepted");
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 0);
	g_assert_cmpint(jc.checked, ==, 3);
	wb_journal_check_clear(&jc);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal WHERE kind = 'body'"), ==, 2);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal j JOIN journal p ON p.id = j.id - 1 "
			      "AND p.hash = j.prev"), ==, 2);
	g_autoptr(GString) out = g_string_new(NULL);
	unsigned n = 0;
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_store_journal_show(f->s, "BHP-2026-000001", 0, out, &n, &err));
	g_assert_cmpuint(n, ==, 1);
	g_assert_true(strstr(out->str, "3  2026-10-15 08:00:00Z  reply  BHP-2026-000001  key-1  "
			     "accepted\n") != NULL);
	g_string_truncate(out, 0);
	g_assert_true(wb_store_journal_show(f->s, NULL, 2, out, &n, &err));
	g_assert_cmpuint(n, ==, 2);
	g_assert_true(g_str_has_prefix(out->str, "2  "));
}

static void test_edited_entry(struct fx *f, gconstpointer data)
{
	(void)data;
	for (int i = 0; i < 4; i++)
		add(f, "send", "BHP-2026-000001", "outbox 1", "accepted by WhatsApp");
	tamper(f, "UPDATE journal SET detail = 'failed' WHERE id = 3");
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 3);
	g_assert_cmpint(jc.bad_at, ==, 1792051200);
	g_assert_cmpstr(jc.bad_kind, ==, "send");
	g_assert_true(strstr(jc.why, "altered") != NULL);
	wb_journal_check_clear(&jc);
}

/* A clever edit recomputes the entry's own hash: the next entry's prev then tells. */
static void test_rehashed_entry(struct fx *f, gconstpointer data)
{
	(void)data;
	for (int i = 0; i < 3; i++)
		add(f, "duty", NULL, "overdue", "station bhp");
	tamper(f, "UPDATE journal SET hash = replace(hash, substr(hash, 1, 1), 'x') WHERE id = 2");
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 2);
	wb_journal_check_clear(&jc);
}

static void test_deleted_entry(struct fx *f, gconstpointer data)
{
	(void)data;
	for (int i = 0; i < 5; i++)
		add(f, "status", NULL, "outbox 2", "accepted → delivered");
	tamper(f, "DELETE FROM journal WHERE id IN (2, 3)");
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 4);
	g_assert_cmpint(jc.checked, ==, 2);
	g_assert_true(strstr(jc.why, "2–3 are missing") != NULL);
	wb_journal_check_clear(&jc);
	/* The first entry gone: the new first one does not start the chain. */
	tamper(f, "DELETE FROM journal WHERE id = 1");
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 4);
	wb_journal_check_clear(&jc);
}

/* An event whose transaction rolls back leaves no entry; nor can an entry be written
 * outside a transaction. */
static void test_rollback(struct fx *f, gconstpointer data)
{
	(void)data;
	if (test_state_pg())
		tamper(f, "CREATE FUNCTION no_big() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
		       "IF NEW.size > 10 THEN RAISE EXCEPTION 'too big for the test'; END IF; "
		       "RETURN NEW; END$$; CREATE TRIGGER no_big BEFORE INSERT ON bodies FOR EACH "
		       "ROW EXECUTE FUNCTION no_big()");
	else
		tamper(f, "CREATE TRIGGER no_big BEFORE INSERT ON bodies WHEN NEW.size > 10 "
		       "BEGIN SELECT RAISE(ABORT, 'too big for the test'); END");
	struct wb_body_in in[2] = { { .body = "{}", .len = 2 },
				    { .body = "{\"eleven\":1}", .len = 12 } };
	g_autoptr(GError) err = NULL;
	g_assert_false(wb_store_add_bodies(f->s, in, 2, "http", &err));
	g_assert_nonnull(err);
	g_clear_error(&err);
	g_assert_cmpint(count(f, "SELECT count(*) FROM bodies"), ==, 0);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal"), ==, 0);
	g_assert_false(wb_store_journal_add(f->s, "body", NULL, "x", "y", &err));
	g_assert_error(err, WB_STORE_ERROR, WB_STORE_FAILED);
	g_clear_error(&err);
	add_body(f, "{}");
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.checked, ==, 1);
	g_assert_cmpint(jc.bad_id, ==, 0);
	wb_journal_check_clear(&jc);
}

/* A batch of bodies chains its entries one onto the other within its transaction (the
 * last one kept in memory, not read back each time); a write by another connection
 * between two batches is chained onto, not passed over: the next batch reads the
 * journal's end again. The same bytes twice in a batch are one entry. */
static void test_batch_chain(struct fx *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) err = NULL;
	struct wb_body_in in[3] = { { .body = "{\"a\":1}", .len = 7 },
				    { .body = "{\"b\":1}", .len = 7 },
				    { .body = "{\"a\":1}", .len = 7 } };
	g_assert_true(wb_store_add_bodies(f->s, in, 3, "http", &err));
	g_assert_no_error(err);
	g_assert_cmpint(in[0].body_id, ==, in[2].body_id);
	g_assert_cmpint(in[1].body_id, !=, in[0].body_id);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal"), ==, 2);
	g_autofree char *seen = g_strdup_printf("SELECT seen FROM bodies WHERE id = %"
						G_GINT64_FORMAT, in[0].body_id);
	g_assert_cmpint(count(f, seen), ==, 2);

	/* another bridge (connection) writes in between */
	struct wb_store *other = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	int64_t id;
	g_assert_true(wb_store_add_body(other, "{\"c\":1}", 7, true, "http", &id, NULL, &err));
	g_assert_no_error(err);
	wb_store_close(other);

	struct wb_body_in more[2] = { { .body = "{\"d\":1}", .len = 7 },
				      { .body = "{\"e\":1}", .len = 7 } };
	g_assert_true(wb_store_add_bodies(f->s, more, 2, "http", &err));
	g_assert_no_error(err);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal"), ==, 5);
	g_assert_cmpint(count(f, "SELECT max(id) FROM journal"), ==, 5);
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.checked, ==, 5);
	g_assert_cmpint(jc.bad_id, ==, 0);
	wb_journal_check_clear(&jc);
}

/* Control characters, terminal escapes, field-separator look-alikes and a 4 MiB detail
 * are stored byte for byte, hash the same when read back, and print escaped. */
static void test_hostile_text(struct fx *f, gconstpointer data)
{
	(void)data;
	GString *big = g_string_new(NULL);
	for (int i = 0; i < 4 << 20; i++)
		g_string_append_c(big, (char)(1 + i % 127));
	const char *hostile = "\x1b[2J\r\n3:abc,N,\t\x7f\xe2\x80\xae ok";
	add(f, "reply", hostile, hostile, big->str);
	add(f, "reply", "", "5:a,", ",");
	add(f, "reply", NULL, "", "");
	struct wb_journal_check jc;
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 0);
	g_assert_cmpint(jc.checked, ==, 3);
	char head[65];
	g_strlcpy(head, jc.head, sizeof head);
	wb_journal_check_clear(&jc);
	g_assert_cmpint(count(f, test_state_pg()
				 ? "SELECT octet_length(detail) FROM journal WHERE id = 1"
				 : "SELECT length(CAST(detail AS BLOB)) FROM journal WHERE id = 1"),
			==, 4 << 20);
	/* Stable: the same check again gives the same head. */
	check(f, &jc);
	g_assert_cmpstr(jc.head, ==, head);
	wb_journal_check_clear(&jc);
	g_autoptr(GString) out = g_string_new(NULL);
	unsigned n = 0;
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_store_journal_show(f->s, NULL, 0, out, &n, &err));
	g_assert_cmpuint(n, ==, 3);
	g_assert_null(strchr(out->str, '\x1b'));
	g_assert_null(strchr(out->str, '\r'));
	g_string_free(big, TRUE);
	/* A NUL slipped into a text through SQLite directly is hashed, not cut off (a
	 * PostgreSQL text cannot hold one). */
	if (test_state_pg())
		return;
	tamper(f, "UPDATE journal SET subject = CAST(X'35003a61' AS TEXT) WHERE id = 2");
	check(f, &jc);
	g_assert_cmpint(jc.bad_id, ==, 2);
	wb_journal_check_clear(&jc);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	static const struct {
		const char *name;
		void (*fn)(struct fx *, gconstpointer);
	} tests[] = {
		{ "/journal/canonical_vector", test_canonical_vector },
		{ "/journal/chain_intact", test_chain_intact },
		{ "/journal/edited_entry", test_edited_entry },
		{ "/journal/rehashed_entry", test_rehashed_entry },
		{ "/journal/deleted_entry", test_deleted_entry },
		{ "/journal/rollback", test_rollback },
		{ "/journal/batch_chain", test_batch_chain },
		{ "/journal/hostile_text", test_hostile_text },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(tests); i++)
		g_test_add(tests[i].name, struct fx, NULL, fx_setup, tests[i].fn, fx_teardown);
	return g_test_run();
}
