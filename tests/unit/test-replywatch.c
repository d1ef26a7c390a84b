/* test-replywatch: the watched replies mailbox against the private Dovecot.
 *
 * Every test needs the Dovecot of tests/lib/dovecot.sh (user `replies`, password
 * `secret`) and is skipped when $WB_IMAP_PORT is unset; the ones that kick sessions
 * need $WB_DOVECOT_DIR too. Each test works in a folder of its own, so reruns against
 * one server never see old mail. Mails are put in with the IMAP delivery back end.
 * Timing asserts only say "well before the timeout": a wait of WAIT_S must end in less
 * than WOKEN_S, which no load makes a wake-up take, and which a wait that only ends at
 * its timeout cannot meet.
 *
 *   sh tests/lib/dovecot.sh start /tmp/wbdc.X
 *   WB_IMAP_PORT=$(cat /tmp/wbdc.X/port) WB_DOVECOT_DIR=/tmp/wbdc.X ./test-replywatch
 *   sh tests/lib/dovecot.sh stop /tmp/wbdc.X */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>

#include "deliver.h"
#include "imaptest.h"
#include "replywatch.h"

#define WAIT_S 120
#define WOKEN_S 60

/* ---- fixtures ------------------------------------------------------------------- */

/* A config for the watcher and a station that delivers into the same folder. */
typedef struct fx {
	struct wb_config cfg;
	struct wb_station st;
	struct wb_target *put; /* delivery into the folder, opened on first use */
} fx;

static void fx_free(fx *f)
{
	if (f->put != NULL)
		wb_deliver_imap.close(f->put);
	g_free(f->cfg.imap_url);
	g_free(f->cfg.replies_imap_user);
	g_free(f->cfg.replies_imap_password);
	g_free(f->cfg.replies_folder);
	g_free(f->st.key);
	g_free(f->st.imap_user);
	g_free(f->st.imap_password);
	g_free(f->st.folder);
	g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(fx, fx_free)

/* A fresh folder name; the folder itself comes with the first mail put in. */
static fx *fx_new(void)
{
	fx *f = g_new0(fx, 1);
	g_autofree char *uuid = g_uuid_string_random();

	const char *port = g_getenv("WB_IMAP_PORT");

	f->cfg.imap_url = g_strdup_printf("imap://127.0.0.1:%s", port != NULL ? port : "1");
	f->cfg.imap_idle = true;
	f->cfg.replies_imap_user = g_strdup("replies");
	f->cfg.replies_imap_password = g_strdup("secret");
	f->cfg.replies_folder = g_strdup_printf("replies-%s", uuid);
	f->st.key = g_strdup("replies");
	f->st.deliver = WB_DELIVER_IMAP;
	f->st.imap_user = g_strdup("replies");
	f->st.imap_password = g_strdup("secret");
	f->st.folder = g_strdup(f->cfg.replies_folder);
	return f;
}

static char *make_mail(const char *verdict, size_t padding)
{
	g_autofree char *uuid = g_uuid_string_random();
	g_autofree char *pad = g_strnfill(padding, 'x');
	return g_strdup_printf("Message-ID: <reply-%s@police.example>\r\n"
			       "From: si.roy@police.example\r\n"
			       "To: complaint+BHP-2026-000001.abcdef0123@wa.police.example\r\n"
			       "Subject: Re: [BHP-2026-000001] test\r\n"
			       "X-Test-Verdict: %s\r\n"
			       "\r\n"
			       "We are on it.\r\n%s%s",
			       uuid, verdict, pad, padding > 0 ? "\r\n" : "");
}

/* Put a mail in the folder (a connection of its own); its UID. */
static uint32_t put_mail(fx *f, const char *mail, const char *const *flags)
{
	g_autoptr(GError) error = NULL;
	struct wb_delivered out = { 0 };

	if (f->put == NULL)
		f->put = wb_deliver_imap.open(&f->cfg, &f->st, &error);
	g_assert_no_error(error);
	g_assert_true(wb_deliver_imap.deliver(f->put, mail, strlen(mail), flags, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out.uid, !=, 0);
	g_free(out.location);
	return out.uid;
}

static uint32_t put(fx *f, const char *verdict)
{
	g_autofree char *mail = make_mail(verdict, 0);
	return put_mail(f, mail, NULL);
}

static struct wb_replywatch *open_ok(const fx *f)
{
	g_autoptr(GError) error = NULL;
	struct wb_replywatch *w = wb_replywatch_open(&f->cfg, &error);
	g_assert_no_error(error);
	g_assert_nonnull(w);
	return w;
}

static bool has(const fx *f, uint32_t uid, const char *flag)
{
	return imaptest_has_flag("replies", f->cfg.replies_folder, uid, flag);
}

/* ---- the handler ---------------------------------------------------------------- */

struct seen {
	GPtrArray *mails;      /* of GBytes: every mail handed over, in order */
	gint stop;             /* set by the handler after stop_after mails (0: never) */
	unsigned stop_after;
	fx *put_during;        /* put a "done" mail in while handling the first one */
};

static void seen_clear(struct seen *s)
{
	g_ptr_array_unref(s->mails);
}

static struct seen seen_new(void)
{
	return (struct seen){ .mails = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref) };
}

static enum wb_reply_verdict handler(const void *mail, size_t len, void *data)
{
	struct seen *s = data;
	const char *verdict = g_strstr_len(mail, (gssize)len, "X-Test-Verdict: ");

	g_ptr_array_add(s->mails, g_bytes_new(mail, len));
	if (s->put_during != NULL && s->mails->len == 1)
		put(s->put_during, "done");
	if (s->stop_after != 0 && s->mails->len >= s->stop_after)
		g_atomic_int_set(&s->stop, 1);
	g_assert_nonnull(verdict);
	verdict += strlen("X-Test-Verdict: ");
	if (g_str_has_prefix(verdict, "rejected"))
		return WB_REPLY_REJECTED;
	if (g_str_has_prefix(verdict, "retry"))
		return WB_REPLY_RETRY;
	return WB_REPLY_DONE;
}

static unsigned poll_ok(struct wb_replywatch *w, struct seen *s, const gint *stop)
{
	g_autoptr(GError) error = NULL;
	unsigned handled = 12345;

	g_assert_true(wb_replywatch_poll(w, handler, s, stop, &handled, &error));
	g_assert_no_error(error);
	return handled;
}

/* ---- poll ----------------------------------------------------------------------- */

static void test_poll_verdicts(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	g_autofree char *first = make_mail("done", 0);
	uint32_t done = put_mail(f, first, NULL);
	uint32_t rejected = put(f, "rejected");
	uint32_t retry = put(f, "retry");
	struct wb_replywatch *w = open_ok(f);
	struct seen s = seen_new();

	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 3);
	g_assert_cmpuint(s.mails->len, ==, 3);
	/* Oldest first, and the mail exactly as it was put in. */
	gsize len = 0;
	const char *got = g_bytes_get_data(s.mails->pdata[0], &len);
	g_assert_cmpmem(got, len, first, strlen(first));
	g_assert_nonnull(g_strstr_len(g_bytes_get_data(s.mails->pdata[1], NULL),
				      (gssize)g_bytes_get_size(s.mails->pdata[1]), "rejected"));

	g_assert_true(has(f, done, "$WB_Processed"));
	g_assert_true(has(f, done, "\\Seen"));
	g_assert_false(has(f, done, "$WB_Rejected"));
	g_assert_true(has(f, rejected, "$WB_Processed"));
	g_assert_true(has(f, rejected, "$WB_Rejected"));
	g_assert_false(has(f, rejected, "\\Seen"));
	g_assert_false(has(f, retry, "$WB_Processed"));
	g_assert_false(has(f, retry, "$WB_Rejected"));
	g_assert_false(has(f, retry, "\\Seen")); /* fetched with BODY.PEEK */

	/* Again: only the one left for a retry. */
	g_ptr_array_set_size(s.mails, 0);
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	g_assert_nonnull(g_strstr_len(g_bytes_get_data(s.mails->pdata[0], NULL),
				      (gssize)g_bytes_get_size(s.mails->pdata[0]), "retry"));

	/* A new mail is seen by the next poll, the retry once more with it. */
	uint32_t later = put(f, "done");
	g_ptr_array_set_size(s.mails, 0);
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 2);
	g_assert_true(has(f, later, "$WB_Processed"));

	seen_clear(&s);
	wb_replywatch_close(w);
}

/* A mail that arrives while the handler runs is handled by the same poll. */
static void test_poll_arrival_during_handler(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	g_autoptr(fx) other = fx_new();
	put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	struct seen s = seen_new();

	g_free(other->st.folder);
	other->st.folder = g_strdup(f->cfg.replies_folder);
	s.put_during = other;
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 2);
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 0);
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* *stop is read between mails; handled counts what was handed over. NULL handled. */
static void test_poll_stop(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	for (int i = 0; i < 3; i++)
		put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	struct seen s = seen_new();
	g_autoptr(GError) error = NULL;

	s.stop_after = 1;
	g_assert_cmpuint(poll_ok(w, &s, &s.stop), ==, 1);
	g_atomic_int_set(&s.stop, 0);
	s.stop_after = 0;
	g_assert_true(wb_replywatch_poll(w, handler, &s, &s.stop, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(s.mails->len, ==, 3);
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* Mail marked \Deleted or already $WB_Processed (by another client) is left alone. */
static void test_poll_skips(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	g_autofree char *m1 = make_mail("done", 0);
	g_autofree char *m2 = make_mail("done", 0);
	const char *const deleted[] = { "\\Deleted", NULL };
	const char *const processed[] = { "$WB_Processed", NULL };
	put_mail(f, m1, deleted);
	put_mail(f, m2, processed);
	uint32_t fresh = put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	struct seen s = seen_new();

	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	g_assert_true(has(f, fresh, "$WB_Processed"));
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* A mail over the cap ($WB_REPLY_MAIL_MAX_TEST here) is rejected without the handler. */
static void test_poll_too_big(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	g_autofree char *big = make_mail("done", 2000);
	g_autofree char *small = make_mail("done", 0);
	g_assert_cmpuint(strlen(small), <, 1000);
	uint32_t big_uid = put_mail(f, big, NULL);
	uint32_t small_uid = put_mail(f, small, NULL);
	g_setenv("WB_REPLY_MAIL_MAX_TEST", "1000", TRUE);
	struct wb_replywatch *w = open_ok(f);
	g_unsetenv("WB_REPLY_MAIL_MAX_TEST");
	struct seen s = seen_new();

	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*UID*over the limit of 1000*");
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	g_test_assert_expected_messages();
	g_assert_cmpmem(g_bytes_get_data(s.mails->pdata[0], NULL),
			g_bytes_get_size(s.mails->pdata[0]), small, strlen(small));
	g_assert_true(has(f, big_uid, "$WB_Processed"));
	g_assert_true(has(f, big_uid, "$WB_Rejected"));
	g_assert_false(has(f, big_uid, "\\Seen"));
	g_assert_true(has(f, small_uid, "$WB_Processed"));
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 0);
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* A session the server ended is opened again by the next poll. */
static void test_poll_reconnects(void)
{
	if (!imaptest_need_doveadm())
		return;
	g_autoptr(fx) f = fx_new();
	put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	struct seen s = seen_new();
	g_autofree char *conf = g_build_filename(g_getenv("WB_DOVECOT_DIR"), "dovecot.conf", NULL);
	g_autofree char *kick = g_strdup_printf("doveadm -c '%s' kick replies >/dev/null", conf);

	g_assert_cmpint(system(kick), ==, 0);
	g_autoptr(GError) error = NULL;
	unsigned handled = 0;
	if (!wb_replywatch_poll(w, handler, &s, NULL, &handled, &error)) {
		g_test_message("poll after kick: %s", error->message);
		g_assert_cmpint(error->code, ==, WB_FAIL_SOON);
		g_clear_error(&error);
		g_assert_true(wb_replywatch_poll(w, handler, &s, NULL, &handled, &error));
	}
	g_assert_no_error(error);
	g_assert_cmpuint(handled, ==, 1);
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* ---- wait ----------------------------------------------------------------------- */

struct later {
	fx *f;          /* put a mail in ... */
	gint *stop;     /* ... or set *stop, after half a second */
};

static gpointer later_main(gpointer data)
{
	const struct later *l = data;

	g_usleep(G_USEC_PER_SEC / 2);
	if (l->f != NULL) {
		g_autoptr(fx) own = fx_new(); /* a connection of this thread */
		g_free(own->st.folder);
		own->st.folder = g_strdup(l->f->cfg.replies_folder);
		put(own, "done");
	}
	if (l->stop != NULL)
		g_atomic_int_set(l->stop, 1);
	return NULL;
}

/* wait(timeout_s) with a thread doing l after 0.5 s; seconds it took. */
static double timed_wait(struct wb_replywatch *w, int timeout_s, struct later *l,
			 const gint *stop)
{
	g_autoptr(GError) error = NULL;
	GThread *thread = l != NULL ? g_thread_new("later", later_main, l) : NULL;
	gint64 start = g_get_monotonic_time();

	g_assert_true(wb_replywatch_wait(w, timeout_s, stop, &error));
	g_assert_no_error(error);
	double took = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	if (thread != NULL)
		g_thread_join(thread);
	g_test_message("wait took %.2f s", took);
	return took;
}

static void test_wait_news(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	struct seen s = seen_new();
	struct later l = { .f = f };

	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	/* News between the poll and the wait: the IDLE reports it at once. */
	put(f, "done");
	g_assert_cmpfloat(timed_wait(w, WAIT_S, NULL, NULL), <, WOKEN_S);
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	/* News during the wait (or just before it, on a slow machine: either ends it), and
	 * again after news (a fresh IDLE). */
	g_assert_cmpfloat(timed_wait(w, WAIT_S, &l, NULL), <, WOKEN_S);
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	g_assert_cmpfloat(timed_wait(w, WAIT_S, &l, NULL), <, WOKEN_S);
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	seen_clear(&s);
	wb_replywatch_close(w);
}

static void test_wait_stop(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	gint stop = 0;
	struct later l = { .stop = &stop };

	g_assert_cmpfloat(timed_wait(w, WAIT_S, &l, &stop), <, WOKEN_S);
	/* Already set: at once. */
	g_assert_cmpfloat(timed_wait(w, WAIT_S, NULL, &stop), <, WOKEN_S);
	/* The session is still good. */
	struct seen s = seen_new();
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	seen_clear(&s);
	wb_replywatch_close(w);
}

static void test_wait_timeout(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	put(f, "done");
	struct wb_replywatch *w = open_ok(f);

	g_assert_cmpfloat(timed_wait(w, 2, NULL, NULL), >=, 1.9);
	g_assert_cmpfloat(timed_wait(w, 0, NULL, NULL), <, WOKEN_S);
	wb_replywatch_close(w);
}

/* [imap] idle = false: sleeps, stops on *stop, never misses mail for the next poll. */
static void test_wait_no_idle(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	put(f, "done");
	f->cfg.imap_idle = false;
	struct wb_replywatch *w = open_ok(f);
	gint stop = 0;
	struct later l = { .f = f, .stop = &stop };

	g_assert_cmpfloat(timed_wait(w, 2, NULL, NULL), >=, 1.9);
	g_assert_cmpfloat(timed_wait(w, WAIT_S, &l, &stop), <, WOKEN_S);
	struct seen s = seen_new();
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 2);
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* The server ending the session during IDLE: false, and the next poll reconnects. The
 * kick waits until Dovecot shows the session in IDLE (tests/lib/dovecot.sh sessions),
 * so it lands there on any machine. */
static void test_wait_kicked(void)
{
	if (!imaptest_need_doveadm())
		return;
	g_autoptr(fx) f = fx_new();
	put(f, "done");
	struct wb_replywatch *w = open_ok(f);
	const char *dir = g_getenv("WB_DOVECOT_DIR");
	const char *top = g_getenv("WB_TOP");
	g_autofree char *kick = g_strdup_printf(
		"i=0; until sh '%s/tests/lib/dovecot.sh' sessions '%s' | grep -q '^\\[replies .* "
		"IDLE\\]$'; do i=$((i + 1)); [ $i -lt 1200 ] || exit 1; sleep 0.05; done; "
		"sh '%s/tests/lib/dovecot.sh' doveadm '%s' kick replies >/dev/null",
		top != NULL ? top : ".", dir, top != NULL ? top : ".", dir);
	g_autoptr(GError) error = NULL;
	GPid pid = 0;
	const char *argv[] = { "/bin/sh", "-c", kick, NULL };

	g_assert_true(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
				    NULL, &pid, &error));
	gint64 start = g_get_monotonic_time();
	g_assert_false(wb_replywatch_wait(w, WAIT_S, NULL, &error));
	g_assert_cmpint(g_get_monotonic_time() - start, <, WOKEN_S * G_USEC_PER_SEC);
	g_assert_nonnull(error);
	g_assert_true(error->domain == WB_REPLYWATCH_ERROR);
	g_assert_cmpint(error->code, ==, WB_FAIL_SOON);
	g_test_message("kicked during IDLE: %s", error->message);
	int status = 0;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* it saw the IDLE */
	g_spawn_close_pid(pid);

	struct seen s = seen_new();
	g_assert_cmpuint(poll_ok(w, &s, NULL), ==, 1);
	seen_clear(&s);
	wb_replywatch_close(w);
}

/* ---- open ----------------------------------------------------------------------- */

static void test_wrong_password(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	const char *password = "Wr0ng-Pa55word";
	g_autoptr(GError) error = NULL;

	put(f, "done");
	g_free(f->cfg.replies_imap_password);
	f->cfg.replies_imap_password = g_strdup(password);
	g_assert_null(wb_replywatch_open(&f->cfg, &error));
	g_assert_nonnull(error);
	g_assert_true(error->domain == WB_REPLYWATCH_ERROR);
	g_assert_cmpint(error->code, ==, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "login refused"));
	g_assert_nonnull(strstr(error->message, "user replies"));
	g_assert_null(strstr(error->message, password));
	g_test_message("wrong password: %s", error->message);
}

static void test_missing_folder(void)
{
	if (!imaptest_need_imap())
		return;
	g_autoptr(fx) f = fx_new();
	g_autoptr(GError) error = NULL;

	g_assert_null(wb_replywatch_open(&f->cfg, &error));
	g_assert_nonnull(error);
	g_assert_cmpint(error->code, ==, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "does not exist"));
	g_test_message("missing folder: %s", error->message);
}

static void test_bad_config(void)
{
	g_autoptr(fx) f = fx_new();
	g_autoptr(GError) error = NULL;

	g_free(f->cfg.imap_url);
	f->cfg.imap_url = g_strdup("http://127.0.0.1/");
	g_assert_null(wb_replywatch_open(&f->cfg, &error));
	g_assert_cmpint(error->code, ==, WB_FAIL_LATER);
	g_clear_error(&error);

	g_free(f->cfg.imap_url);
	f->cfg.imap_url = g_strdup("imap://127.0.0.1:1");
	g_clear_pointer(&f->cfg.replies_imap_user, g_free);
	g_assert_null(wb_replywatch_open(&f->cfg, &error));
	g_assert_cmpint(error->code, ==, WB_FAIL_LATER);
	g_assert_nonnull(strstr(error->message, "imap_user"));
}

int main(int argc, char **argv)
{
	/* libetpan writes with send(2) without MSG_NOSIGNAL; the program ignores SIGPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/replywatch/poll/verdicts", test_poll_verdicts);
	g_test_add_func("/replywatch/poll/arrival-during-handler", test_poll_arrival_during_handler);
	g_test_add_func("/replywatch/poll/stop", test_poll_stop);
	g_test_add_func("/replywatch/poll/skips", test_poll_skips);
	g_test_add_func("/replywatch/poll/too-big", test_poll_too_big);
	g_test_add_func("/replywatch/poll/reconnects", test_poll_reconnects);
	g_test_add_func("/replywatch/wait/news", test_wait_news);
	g_test_add_func("/replywatch/wait/stop", test_wait_stop);
	g_test_add_func("/replywatch/wait/timeout", test_wait_timeout);
	g_test_add_func("/replywatch/wait/no-idle", test_wait_no_idle);
	g_test_add_func("/replywatch/wait/kicked", test_wait_kicked);
	g_test_add_func("/replywatch/open/wrong-password", test_wrong_password);
	g_test_add_func("/replywatch/open/missing-folder", test_missing_folder);
	g_test_add_func("/replywatch/open/bad-config", test_bad_config);

	return g_test_run();
}
