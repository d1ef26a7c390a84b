/* test-anchor: the journal's anchor mails (src/anchor.c, anchor.h).
 *
 * Every test gets a fresh store and a configuration whose [archive] is a Maildir in a
 * temporary directory, with the clock pinned. Anchors are written with wb_anchor_write()
 * and read back from the Maildir file; wb_anchor_check() is then given the real anchor,
 * the same after the journal was edited with SQL directly (as an intruder would),
 * mails that are no anchors, and anchors with hostile header values. */
#include "anchor.h"
#include "deliver.h"
#include "journal.h"
#include "replyparse.h"
#include "store.h"
#include "store-priv.h"
#include "testlib.h"
#include "util.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <gmime/gmime.h>
#include <string.h>

#define NOW "1792051200" /* 2026-10-15T08:00:00Z, 13:30 IST */

G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)

struct fx {
	char *dir, *db;
	struct wb_store *s;
	struct wb_config *cfg;
};

static struct wb_config *config(struct fx *f, const char *archive)
{
	g_autofree char *path = g_build_filename(f->dir, "wabridge.conf", NULL);
	g_autofree char *secret = g_build_filename(f->dir, "reply_secret", NULL);
	g_autofree char *text = g_strdup_printf(
		"[bridge]\nstate = %s\ndomain = wa.police.test\ntimezone = Asia/Kolkata\n"
		"[whatsapp]\ndry_run = true\n[replies]\ntoken_secret_file = %s\n"
		"[archive]\ndeliver = maildir:%s\n"
		"address = records.officer@police.example\n", f->db, secret, archive);
	g_autoptr(GError) err = NULL;
	g_assert_true(g_file_set_contents(secret, "0123456789abcdef0123456789abcdef\n", -1, &err));
	g_assert_cmpint(g_chmod(secret, 0600), ==, 0);
	g_assert_true(g_file_set_contents(path, text, -1, &err));
	struct wb_config *cfg = wb_config_load_no_templates(path, &err);
	g_assert_no_error(err);
	return cfg;
}

static void fx_setup(struct fx *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) err = NULL;
	g_setenv("WABRIDGE_NOW", NOW, TRUE);
	f->dir = g_dir_make_tmp("wb-test-anchor-XXXXXX", &err);
	g_assert_no_error(err);
	f->db = test_state_location(f->dir);
	f->s = wb_store_open(f->db, &err);
	g_assert_no_error(err);
	g_autofree char *archive = g_build_filename(f->dir, "archive", NULL);
	f->cfg = config(f, archive);
}

static void fx_teardown(struct fx *f, gconstpointer data)
{
	(void)data;
	wb_store_close(f->s);
	wb_config_free(f->cfg);
	rm_rf(f->dir);
	g_free(f->dir);
	test_state_drop(f->db);
	g_unsetenv("WABRIDGE_NOW");
}

static void tamper(struct fx *f, const char *sql)
{
	sql_on_state(f->db, sql);
}

static int64_t count(struct fx *f, const char *sql)
{
	g_autoptr(GPtrArray) col = sql_column(f->db, sql, 1);
	g_assert_cmpuint(col->len, ==, 1);
	return col->pdata[0] != NULL ? g_ascii_strtoll(col->pdata[0], NULL, 10) : 0;
}

static void add(struct fx *f, const char *kind, const char *subject, const char *detail)
{
	g_autoptr(GError) err = NULL;
	g_assert_true(sq_begin(f->s, &err));
	g_assert_true(wb_store_journal_add(f->s, kind, NULL, subject, detail, &err));
	g_assert_true(sq_commit(f->s, &err));
}

static GMimeMessage *parse(const char *data, size_t len)
{
	GMimeMessage *m = wb_parse_mail(data, len);
	g_assert_nonnull(m);
	return m;
}

/* An anchor written now, as the archive holds it. */
static GMimeMessage *anchor_now(struct fx *f, struct wb_anchor_result *r)
{
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_anchor_write(f->cfg, f->s, 0, r, &err));
	g_assert_no_error(err);
	g_assert_true(r->journaled);
	g_autofree char *data = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(r->location, &data, &len, &err));
	return parse(data, len);
}

static int check(struct fx *f, GMimeMessage *m, GString *why)
{
	g_autoptr(GError) err = NULL;
	g_string_truncate(why, 0);
	int rc = wb_anchor_check(f->s, m, why, &err);
	g_assert_no_error(err);
	return rc;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_real_anchor(struct fx *f, gconstpointer data)
{
	(void)data;
	add(f, "body", "abc", "d");
	add(f, "delivered", "x", "UIDVALIDITY 1 UID 7");
	struct wb_journal_check jc;
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_store_journal_verify(f->s, &jc, &err));
	g_autofree char *head = g_strdup(jc.head);
	wb_journal_check_clear(&jc);

	struct wb_anchor_result r;
	g_autoptr(GMimeMessage) m = anchor_now(f, &r);
	g_assert_cmpint(r.entry, ==, 2);
	g_assert_cmpstr(r.head, ==, head);
	g_autofree char *want_id = g_strdup_printf("anchor-2-%.12s@wa.police.test", head);
	g_assert_cmpstr(r.message_id, ==, want_id);
	GMimeObject *o = GMIME_OBJECT(m);
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Journal-Head"), ==, head);
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Journal-Entry"), ==, "2");
	g_assert_cmpstr(g_mime_object_get_header(o, "X-Journal-Entries"), ==, "2");
	g_assert_cmpstr(g_mime_object_get_header(o, "Auto-Submitted"), ==, "auto-generated");
	g_assert_cmpstr(g_mime_message_get_message_id(m), ==, want_id);
	g_autofree char *subject = g_strdup_printf("wabridge journal anchor: entry 2, head "
						   "%.16s\u2026", head);
	g_assert_cmpstr(g_mime_message_get_subject(m), ==, subject);
	/* Plain text alone: nothing a client could run. */
	GMimeObject *part = g_mime_message_get_mime_part(m);
	g_assert_true(GMIME_IS_TEXT_PART(part));
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(part), "text",
						  "plain"));
	g_autofree char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	g_assert_nonnull(strstr(text, head));
	g_assert_nonnull(strstr(text, "wabridge journal verify"));
	g_assert_nonnull(strstr(text, "wabridge verify"));

	/* Journaled: kind anchor, the anchored head, the entry and where the mail went. */
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal WHERE id = 3 AND kind = 'anchor'"),
			==, 1);
	g_autofree char *sql = g_strdup_printf("SELECT count(*) FROM journal WHERE id = 3 AND "
					       "subject = '%s' AND detail LIKE 'entry 2, mail "
					       "<anchor-2-%%' AND detail LIKE '%%%s%%'", head,
					       r.location);
	g_assert_cmpint(count(f, sql), ==, 1);

	g_autoptr(GString) why = g_string_new(NULL);
	g_assert_cmpint(check(f, m, why), ==, 1);

	/* The row's hash edited: the anchor no longer fits, and says how. */
	tamper(f, "UPDATE journal SET hash = CASE substr(hash, 1, 1) WHEN '0' THEN '1' ELSE '0' "
		  "END || substr(hash, 2) WHERE id = 2");
	g_assert_cmpint(check(f, m, why), ==, 0);
	g_assert_nonnull(strstr(why->str, "entry 2 now hashes to"));
	g_assert_nonnull(strstr(why->str, head));
	wb_anchor_result_clear(&r);
}

static void test_contents_edited(struct fx *f, gconstpointer data)
{
	(void)data;
	add(f, "body", "abc", "d");
	struct wb_anchor_result r;
	g_autoptr(GMimeMessage) m = anchor_now(f, &r);
	g_autoptr(GString) why = g_string_new(NULL);
	g_assert_cmpint(check(f, m, why), ==, 1);
	/* The contents edited, the hash kept: still found out. */
	tamper(f, "UPDATE journal SET detail = 'e' WHERE id = 1");
	g_assert_cmpint(check(f, m, why), ==, 0);
	g_assert_nonnull(strstr(why->str, "the entry was altered"));
	/* The entry deleted. */
	tamper(f, "DELETE FROM journal");
	g_assert_cmpint(check(f, m, why), ==, 0);
	g_assert_nonnull(strstr(why->str, "no such entry"));
	wb_anchor_result_clear(&r);
}

static void test_empty_journal(struct fx *f, gconstpointer data)
{
	(void)data;
	struct wb_anchor_result r;
	g_autoptr(GMimeMessage) m = anchor_now(f, &r);
	g_assert_cmpint(r.entry, ==, 0);
	g_assert_cmpstr(r.head, ==, WB_JOURNAL_GENESIS);
	g_autoptr(GString) why = g_string_new(NULL);
	g_assert_cmpint(check(f, m, why), ==, 1);
	wb_anchor_result_clear(&r);
	/* The same head again: the same mail, found in the archive, journaled once more. */
	tamper(f, "DELETE FROM journal");
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_anchor_write(f->cfg, f->s, 0, &r, &err));
	g_assert_true(r.found);
	wb_anchor_result_clear(&r);
}

static void test_daily_once(struct fx *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) err = NULL;
	struct wb_anchor_result r;
	/* not_since: another anchor entry since then keeps this one out of the journal. */
	g_assert_true(wb_anchor_write(f->cfg, f->s, 1, &r, &err));
	g_assert_true(r.journaled);
	wb_anchor_result_clear(&r);
	g_assert_true(wb_anchor_write(f->cfg, f->s, 1, &r, &err));
	g_assert_false(r.journaled);
	wb_anchor_result_clear(&r);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal WHERE kind = 'anchor'"), ==, 1);
	/* The pass: due (13:30 IST is past anchor_hour 0) but written already. */
	gint64 next = G_MAXINT64;
	unsigned waiting = 0;
	g_assert_true(wb_anchor_pass(f->cfg, f->s, wb_now(), &next, &waiting, &err));
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal WHERE kind = 'anchor'"), ==, 1);
	g_assert_cmpint(next, ==, 1792089000); /* 2026-10-16 00:00 IST */
	g_assert_cmpuint(waiting, ==, 0);
}

static void test_not_anchor(struct fx *f, gconstpointer data)
{
	(void)data;
	static const char *const mails[] = {
		"From: a@b.example\r\nSubject: hello\r\n\r\nbody\r\n",
		"From: a@b.example\r\nX-Journal-Head: 0000\r\n\r\nonly the head\r\n",
		"From: a@b.example\r\nX-Journal-Entry: 1\r\n\r\nonly the entry\r\n",
	};
	g_autoptr(GString) why = g_string_new(NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(mails); i++) {
		g_autoptr(GMimeMessage) m = parse(mails[i], strlen(mails[i]));
		g_assert_cmpint(check(f, m, why), ==, -1);
	}
}

static void test_hostile_headers(struct fx *f, gconstpointer data)
{
	(void)data;
	add(f, "body", "abc", "d");
	struct wb_journal_head head;
	g_autoptr(GError) err = NULL;
	g_assert_true(wb_store_journal_head(f->s, &head, &err));
	static const char *const entries[] = {
		"-1", "-0", "+1", "1e3", "0x1", "1 2", "one", "", "\xff\xfe", "١", "1.0",
		"9223372036854775808", "99999999999999999999999999999999999999",
		"00000000000000000000000000000000000000001", "9223372036854775807", "2",
	};
	g_autoptr(GString) why = g_string_new(NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(entries); i++) {
		g_autofree char *mail = g_strdup_printf("From: a@b.example\r\nX-Journal-Entry: %s"
							"\r\nX-Journal-Head: %s\r\n\r\nx\r\n",
							entries[i], head.hash);
		g_autoptr(GMimeMessage) m = parse(mail, strlen(mail));
		int rc = check(f, m, why);
		if (rc != 0)
			g_error("X-Journal-Entry \"%s\": %d, not 0", entries[i], rc);
		g_assert_cmpuint(why->len, >, 0);
		g_assert_null(strchr(why->str, '\xff'));
	}
	static const char *const heads[] = {
		"", "zz", "00", WB_JOURNAL_GENESIS "0",
		"g000000000000000000000000000000000000000000000000000000000000000",
		"=?utf-8?b?AAAA?=", "\x1b[31m",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(heads); i++) {
		g_autofree char *mail = g_strdup_printf("From: a@b.example\r\nX-Journal-Entry: 1\r\n"
							"X-Journal-Head: %s\r\n\r\nx\r\n", heads[i]);
		g_autoptr(GMimeMessage) m = parse(mail, strlen(mail));
		g_assert_cmpint(check(f, m, why), ==, 0);
		g_assert_null(strchr(why->str, '\x1b'));
	}
	/* The right head in upper case, with space around the number, still fits. */
	g_autofree char *upper = g_ascii_strup(head.hash, -1);
	g_autofree char *mail = g_strdup_printf("From: a@b.example\r\nX-Journal-Entry:  1 \r\n"
						"X-Journal-Head: %s\r\n\r\nx\r\n", upper);
	g_autoptr(GMimeMessage) m = parse(mail, strlen(mail));
	g_assert_cmpint(check(f, m, why), ==, 1);
	/* Entry 0 with a head that is not the genesis hash. */
	g_autofree char *zero = g_strdup_printf("From: a@b.example\r\nX-Journal-Entry: 0\r\n"
						"X-Journal-Head: %s\r\n\r\nx\r\n", head.hash);
	g_autoptr(GMimeMessage) z = parse(zero, strlen(zero));
	g_assert_cmpint(check(f, z, why), ==, 0);
}

static void test_unwritable(struct fx *f, gconstpointer data)
{
	(void)data;
	add(f, "body", "abc", "d");
	/* A Maildir under a regular file cannot be made, root or not. */
	g_autofree char *file = g_build_filename(f->dir, "plain-file", NULL);
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));
	g_autofree char *archive = g_build_filename(file, "archive", NULL);
	wb_config_free(f->cfg);
	f->cfg = config(f, archive);
	g_autoptr(GError) err = NULL;
	struct wb_anchor_result r;
	g_assert_false(wb_anchor_write(f->cfg, f->s, 0, &r, &err));
	g_assert_true(err->domain == WB_DELIVER_ERROR);
	g_assert_nonnull(strstr(err->message, "archive mailbox"));
	wb_anchor_result_clear(&r);
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal WHERE kind = 'anchor'"), ==, 0);
	/* The pass: counted as waiting, tried again later, nothing journaled. */
	g_clear_error(&err);
	gint64 next = G_MAXINT64;
	unsigned waiting = 0;
	g_test_expect_message("wabridge", G_LOG_LEVEL_WARNING, "*could not be written*");
	g_assert_true(wb_anchor_pass(f->cfg, f->s, wb_now(), &next, &waiting, &err));
	g_test_assert_expected_messages();
	g_assert_cmpuint(waiting, ==, 1);
	g_assert_cmpint(next, ==, wb_now() + 600);
	g_autoptr(GString) out = g_string_new(NULL);
	g_assert_true(wb_anchor_report(f->cfg, f->s, out, &err));
	g_assert_nonnull(strstr(out->str, "MISSING"));
	g_assert_cmpint(count(f, "SELECT count(*) FROM journal WHERE kind = 'anchor'"), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	static const struct {
		const char *name;
		void (*fn)(struct fx *, gconstpointer);
	} tests[] = {
		{ "/anchor/real_anchor", test_real_anchor },
		{ "/anchor/contents_edited", test_contents_edited },
		{ "/anchor/empty_journal", test_empty_journal },
		{ "/anchor/daily_once", test_daily_once },
		{ "/anchor/not_anchor", test_not_anchor },
		{ "/anchor/hostile_headers", test_hostile_headers },
		{ "/anchor/unwritable", test_unwritable },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(tests); i++)
		g_test_add(tests[i].name, struct fx, NULL, fx_setup, tests[i].fn, fx_teardown);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
