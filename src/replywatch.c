/* replywatch: the watched replies mailbox (see replywatch.h).
 *
 * Design:
 * - The session (imapconn.c) keeps the folder SELECTed. wb_imapconn_ready() reconnects a
 *   session that died; the generation it counts tells us to SELECT again.
 * - A poll is rounds of NOOP (so that the server shows mail delivered since; a SEARCH
 *   alone need not) and UID SEARCH UNDELETED UNKEYWORD $WB_Processed UID n:*, n one
 *   above the highest UID this poll has looked at; the UIDs found are taken in
 *   ascending order. The poll ends when a round finds nothing new, so mail that came
 *   in while the handler ran is still handled, while a mail left for a retry is not
 *   handed over twice in one poll.
 * - Per mail: UID FETCH (UID FLAGS RFC822.SIZE) first (the flags again, as another
 *   client may have acted since the SEARCH; the size, to refuse a huge mail before
 *   fetching it), then UID FETCH (UID BODY.PEEK[]<0.cap+1>): PEEK leaves \Seen alone,
 *   and the partial fetch bounds what an honest server sends however it counts sizes.
 *   A mail over the cap, or with no body, is marked rejected and logged.
 * - IDLE (RFC 2177): after the continuation we read the server's lines ourselves,
 *   between polls of the socket of at most a second (for *stop and the deadline). A
 *   line "* N EXISTS|RECENT|FETCH" is news; "* OK Still here" and the like are not; a
 *   BYE or a tagged line (the server ended the IDLE) breaks the session. DONE is sent
 *   through libetpan, which parses the rest of the answer. Lines already buffered in
 *   the stream are read before polling the socket again. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "imapconn.h"
#include "replywatch.h"

#define IDLE_MAX_S   (25 * 60) /* RFC 2177: re-issue IDLE at least every 29 minutes */
#define TICK_MS      1000      /* *stop and deadlines are looked at this often */

G_DEFINE_QUARK(wb-replywatch-error-quark, wb_replywatch_error)

struct wb_replywatch {
	struct wb_imapconn conn;
	char *folder;            /* UTF-8 as configured, for messages */
	char *folder_wire;       /* modified UTF-7 */
	bool want_idle;          /* [imap] idle */
	size_t mail_max;         /* WB_REPLY_MAIL_MAX, or lower for tests */
	unsigned selected_gen;   /* conn.generation the folder was selected in; 0 none */
};

static bool stopped(const gint *stop)
{
	return stop != NULL && g_atomic_int_get(stop) != 0;
}

/* $WB_REPLY_MAIL_MAX_TEST may lower the cap (tests); anything else is ignored. */
static size_t mail_cap(void)
{
	const char *env = g_getenv("WB_REPLY_MAIL_MAX_TEST");
	guint64 v = 0;

	if (env != NULL && g_ascii_string_to_unsigned(env, 10, 1, WB_REPLY_MAIL_MAX, &v, NULL))
		return (size_t)v;
	return WB_REPLY_MAIL_MAX;
}

/* ---- session --------------------------------------------------------------------- */

/* May the folder keep our keywords? Without PERMANENTFLAGS everything is permanent. */
static bool keywords_allowed(const mailimap *s)
{
	const struct mailimap_selection_info *si = s->imap_selection_info;

	if (si == NULL || si->sel_perm_flags == NULL)
		return true;
	for (clistiter *it = clist_begin(si->sel_perm_flags); it != NULL; it = clist_next(it)) {
		const struct mailimap_flag_perm *fp = clist_content(it);
		if (fp->fl_type == MAILIMAP_FLAG_PERM_ALL)
			return true;
		if (fp->fl_type == MAILIMAP_FLAG_PERM_FLAG && fp->fl_flag != NULL &&
		    fp->fl_flag->fl_type == MAILIMAP_FLAG_KEYWORD &&
		    fp->fl_flag->fl_data.fl_keyword != NULL &&
		    g_ascii_strcasecmp(fp->fl_flag->fl_data.fl_keyword, WB_REPLY_KW_PROCESSED) == 0)
			return true;
	}
	return false;
}

static bool select_folder(struct wb_replywatch *w, GError **error)
{
	g_autofree char *what = g_strdup_printf("SELECT %s", w->folder);
	int r = mailimap_select(w->conn.imap, w->folder_wire);

	if (r != MAILIMAP_NO_ERROR && wb_imapconn_unusable(r))
		return wb_imapconn_fail(&w->conn, error, r, WB_FAIL_SOON, what);
	if (r != MAILIMAP_NO_ERROR) {
		int listed = wb_imapconn_listed(&w->conn, w->folder_wire, error);
		if (listed < 0)
			return false;
		if (listed == 0)
			return wb_imapconn_fail_local(&w->conn, error, WB_FAIL_LATER,
						      "[replies] folder %s does not exist",
						      w->folder);
		return wb_imapconn_fail(&w->conn, error, r, WB_FAIL_LATER, what);
	}
	const struct mailimap_selection_info *si = w->conn.imap->imap_selection_info;
	if (si != NULL && si->sel_perm == MAILIMAP_MAILBOX_READONLY)
		return wb_imapconn_fail_local(&w->conn, error, WB_FAIL_LATER,
					      "folder %s is read-only for user %s, so handled mail "
					      "cannot be marked", w->folder, w->conn.user);
	if (!keywords_allowed(w->conn.imap))
		return wb_imapconn_fail_local(&w->conn, error, WB_FAIL_LATER,
					      "folder %s keeps no keywords (PERMANENTFLAGS), so "
					      "handled mail cannot be marked " WB_REPLY_KW_PROCESSED,
					      w->folder);
	w->selected_gen = w->conn.generation;
	w->conn.last_used = g_get_monotonic_time();
	return true;
}

/* A logged-in session with the folder selected. */
static bool ensure(struct wb_replywatch *w, GError **error)
{
	if (!wb_imapconn_ready(&w->conn, error))
		return false;
	return w->selected_gen == w->conn.generation || select_folder(w, error);
}

void wb_replywatch_close(struct wb_replywatch *w)
{
	if (w == NULL)
		return;
	wb_imapconn_clear(&w->conn);
	g_free(w->folder);
	g_free(w->folder_wire);
	g_free(w);
}

struct wb_replywatch *wb_replywatch_open(const struct wb_config *cfg, GError **error)
{
	struct wb_replywatch *w = g_new0(struct wb_replywatch, 1);
	bool ok = wb_imapconn_init(&w->conn, WB_REPLYWATCH_ERROR, cfg, cfg->replies_imap_user,
				   cfg->replies_imap_password, error);

	w->folder = g_strdup(cfg->replies_folder != NULL && cfg->replies_folder[0] != '\0' ?
			     cfg->replies_folder : "INBOX");
	w->folder_wire = wb_imapconn_mutf7(w->folder);
	w->want_idle = cfg->imap_idle;
	w->mail_max = mail_cap();
	if (ok && w->conn.user[0] == '\0')
		ok = wb_imapconn_fail_local(&w->conn, error, WB_FAIL_LATER,
					    "[replies] imap_user is not set");
	if (ok && w->folder_wire == NULL)
		ok = wb_imapconn_fail_local(&w->conn, error, WB_FAIL_LATER,
					    "[replies] folder is not UTF-8");
	if (!ok || !wb_imapconn_connect(&w->conn, error) || !select_folder(w, error)) {
		wb_replywatch_close(w);
		return NULL;
	}
	return w;
}

/* ---- poll ------------------------------------------------------------------------ */

static int cmp_uid(gconstpointer a, gconstpointer b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* UNDELETED UNKEYWORD $WB_Processed UID first:*; NULL when out of memory. */
static struct mailimap_search_key *unprocessed_key(uint32_t first)
{
	char *kw = strdup(WB_REPLY_KW_PROCESSED);
	struct mailimap_set *set = mailimap_set_new_interval(first, 0); /* 0 is "*" */
	struct mailimap_search_key *parts[] = {
		mailimap_search_key_new(MAILIMAP_SEARCH_KEY_UNDELETED, NULL, NULL, NULL, NULL, NULL,
					NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
					NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL),
		kw != NULL ? mailimap_search_key_new_unkeyword(kw) : NULL,
		set != NULL ? mailimap_search_key_new_uid(set) : NULL,
	};
	struct mailimap_search_key *all = mailimap_search_key_new_multiple_empty();

	if (parts[1] == NULL)
		free(kw);
	if (parts[2] == NULL && set != NULL)
		mailimap_set_free(set);
	bool ok = all != NULL && parts[0] != NULL && parts[1] != NULL && parts[2] != NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
		if (ok && mailimap_search_key_multiple_add(all, parts[i]) == MAILIMAP_NO_ERROR)
			continue;
		ok = false;
		if (parts[i] != NULL)
			mailimap_search_key_free(parts[i]);
	}
	if (!ok && all != NULL) {
		mailimap_search_key_free(all);
		all = NULL;
	}
	return all;
}

/* UIDs above after of unprocessed, undeleted mail, ascending; NULL on error (set). */
static GArray *search_unprocessed(struct wb_replywatch *w, uint32_t after, GError **error)
{
	struct mailimap_search_key *key = unprocessed_key(after + 1);
	if (key == NULL) {
		wb_imapconn_fail_local(&w->conn, error, WB_FAIL_SOON, "out of memory");
		return NULL;
	}
	clist *result = NULL;
	int r = mailimap_uid_search(w->conn.imap, NULL, key, &result);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		g_autofree char *what = g_strdup_printf("UID SEARCH in %s", w->folder);
		wb_imapconn_fail(&w->conn, error, r, WB_FAIL_SOON, what);
		return NULL;
	}
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL; it != NULL;
	     it = clist_next(it)) {
		const uint32_t *uid = clist_content(it);
		/* "n:*" always takes in the highest UID, even below n. */
		if (*uid > after)
			g_array_append_val(uids, *uid);
	}
	if (result != NULL)
		mailimap_search_result_free(result);
	g_array_sort(uids, cmp_uid);
	return uids;
}

/* The response for uid among those of a FETCH (others may come unasked). */
static const struct mailimap_msg_att *att_for(clist *result, uint32_t uid)
{
	for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att *att = clist_content(it);
		const struct mailimap_msg_att_static *u = wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_UID);
		if (u != NULL && u->att_data.att_uid == uid)
			return att;
	}
	return NULL;
}

/* UID FETCH uid (UID att [att2]): the list, which may lack uid; NULL on error (set).
 * Takes att and att2; att NULL means out of memory, att2 may be NULL. */
static clist *fetch(struct wb_replywatch *w, uint32_t uid, struct mailimap_fetch_att *att,
		    struct mailimap_fetch_att *att2, GError **error)
{
	struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_fetch_att *atts[] = { mailimap_fetch_att_new_uid(), att, att2 };
	bool ok = type != NULL && atts[0] != NULL && att != NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(atts); i++) {
		if (atts[i] == NULL)
			continue;
		if (ok && mailimap_fetch_type_new_fetch_att_list_add(type, atts[i]) == MAILIMAP_NO_ERROR)
			continue;
		mailimap_fetch_att_free(atts[i]);
		ok = false;
	}
	struct mailimap_set *set = ok ? mailimap_set_new_single(uid) : NULL;
	clist *result = NULL;
	int r = set != NULL ? mailimap_uid_fetch(w->conn.imap, set, type, &result)
			    : MAILIMAP_ERROR_MEMORY;
	if (set != NULL)
		mailimap_set_free(set);
	if (type != NULL)
		mailimap_fetch_type_free(type);
	if (r != MAILIMAP_NO_ERROR) {
		g_autofree char *what = g_strdup_printf("UID FETCH %" G_GUINT32_FORMAT " in %s", uid,
							w->folder);
		wb_imapconn_fail(&w->conn, error, r, WB_FAIL_SOON, what);
		return NULL;
	}
	return result != NULL ? result : clist_new();
}

static bool mark(struct wb_replywatch *w, uint32_t uid, const char *const *flags,
		 GError **error)
{
	struct mailimap_flag_list *list = wb_imapconn_flag_list(&w->conn, flags, error);
	if (list == NULL)
		return false;
	g_autofree char *what = g_strdup_printf("UID STORE %" G_GUINT32_FORMAT " in %s", uid,
						w->folder);
	return wb_imapconn_store_add(&w->conn, mailimap_set_new_single(uid), list, what, error);
}

static bool reject(struct wb_replywatch *w, uint32_t uid, const char *why, GError **error)
{
	static const char *const flags[] = { WB_REPLY_KW_PROCESSED, WB_REPLY_KW_REJECTED, NULL };

	g_warning("replies: mail UID %" G_GUINT32_FORMAT " in %s %s: marked " WB_REPLY_KW_REJECTED,
		  uid, w->folder, why);
	return mark(w, uid, flags, error);
}

/* Look at the flags and size of uid again. 1 fetch its body, 0 leave it (gone, deleted,
 * processed, or too big and now rejected), -1 error. */
static int precheck(struct wb_replywatch *w, uint32_t uid, GError **error)
{
	clist *result = fetch(w, uid, mailimap_fetch_att_new_flags(),
			      mailimap_fetch_att_new_rfc822_size(), error);
	if (result == NULL)
		return -1;
	const struct mailimap_msg_att *att = att_for(result, uid);
	int verdict = att != NULL;
	if (att != NULL) {
		g_auto(GStrv) flags = wb_imapconn_att_flags(att);
		const struct mailimap_msg_att_static *size =
			wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_RFC822_SIZE);
		if (wb_imapconn_flags_have(flags, "\\Deleted") ||
		    wb_imapconn_flags_have(flags, WB_REPLY_KW_PROCESSED)) {
			verdict = 0;
		} else if (size != NULL && size->att_data.att_rfc822_size > w->mail_max) {
			g_autofree char *why = g_strdup_printf(
				"has %" G_GUINT32_FORMAT " bytes, over the limit of %zu",
				size->att_data.att_rfc822_size, w->mail_max);
			verdict = reject(w, uid, why, error) ? 0 : -1;
		}
	}
	mailimap_fetch_list_free(result);
	return verdict;
}

/* Fetch, hand over and mark one mail. 0 done (or left), -1 error (set). */
static int one_mail(struct wb_replywatch *w, uint32_t uid, wb_reply_handler h, void *data,
		    unsigned *handled, GError **error)
{
	int pre = precheck(w, uid, error);
	if (pre <= 0)
		return pre;
	struct mailimap_section *section = mailimap_section_new(NULL);
	struct mailimap_fetch_att *body = section != NULL ?
		mailimap_fetch_att_new_body_peek_section_partial(section, 0,
								 (uint32_t)w->mail_max + 1) : NULL;
	if (body == NULL && section != NULL)
		mailimap_section_free(section);
	clist *result = fetch(w, uid, body, NULL, error);
	if (result == NULL)
		return -1;
	const struct mailimap_msg_att *att = att_for(result, uid);
	const struct mailimap_msg_att_static *s =
		att != NULL ? wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_BODY_SECTION) : NULL;
	const struct mailimap_msg_att_body_section *sec =
		s != NULL ? s->att_data.att_body_section : NULL;
	bool ok = true;
	if (att == NULL) {
		/* expunged since the first look */
	} else if (sec == NULL || sec->sec_body_part == NULL || sec->sec_length == 0) {
		ok = reject(w, uid, "came without a body", error);
	} else if (sec->sec_length > w->mail_max) {
		ok = reject(w, uid, "is over the size limit", error);
	} else {
		enum wb_reply_verdict v = h(sec->sec_body_part, sec->sec_length, data);
		if (handled != NULL)
			(*handled)++;
		static const char *const done[] = { WB_REPLY_KW_PROCESSED, "\\Seen", NULL };
		static const char *const rejected[] = { WB_REPLY_KW_PROCESSED, WB_REPLY_KW_REJECTED,
							NULL };
		if (v == WB_REPLY_DONE)
			ok = mark(w, uid, done, error);
		else if (v == WB_REPLY_REJECTED)
			ok = mark(w, uid, rejected, error);
	}
	mailimap_fetch_list_free(result);
	return ok ? 0 : -1;
}

bool wb_replywatch_poll(struct wb_replywatch *w, wb_reply_handler h, void *data,
			const gint *stop, unsigned *handled, GError **error)
{
	uint32_t after = 0; /* the highest UID looked at in this poll */

	if (handled != NULL)
		*handled = 0;
	if (!ensure(w, error))
		return false;
	while (!stopped(stop) && after < G_MAXUINT32) {
		int r = mailimap_noop(w->conn.imap);
		if (r != MAILIMAP_NO_ERROR)
			return wb_imapconn_fail(&w->conn, error, r, WB_FAIL_SOON, "NOOP");
		GArray *uids = search_unprocessed(w, after, error);
		if (uids == NULL)
			return false;
		bool any = uids->len > 0;
		for (guint i = 0; i < uids->len && !stopped(stop); i++) {
			uint32_t uid = g_array_index(uids, uint32_t, i);
			if (one_mail(w, uid, h, data, handled, error) < 0) {
				g_array_unref(uids);
				return false;
			}
			after = uid;
		}
		g_array_unref(uids);
		if (!any)
			break;
	}
	w->conn.last_used = g_get_monotonic_time();
	return true;
}

/* ---- wait ------------------------------------------------------------------------ */

enum idle_line { LINE_QUIET, LINE_NEWS, LINE_BROKEN };

/* What an untagged line during IDLE means to us. */
static enum idle_line idle_line_kind(const char *line)
{
	if (line[0] == '+')
		return LINE_QUIET;
	if (line[0] != '*' || line[1] != ' ')
		return LINE_BROKEN; /* tagged: the server ended the IDLE itself */
	const char *p = line + 2;
	if (g_ascii_strncasecmp(p, "BYE", 3) == 0)
		return LINE_BROKEN;
	if (!g_ascii_isdigit(*p))
		return LINE_QUIET;
	while (g_ascii_isdigit(*p))
		p++;
	if (*p++ != ' ')
		return LINE_QUIET;
	static const char *const news[] = { "EXISTS", "RECENT", "FETCH" };
	for (size_t i = 0; i < G_N_ELEMENTS(news); i++) {
		size_t n = strlen(news[i]);
		if (g_ascii_strncasecmp(p, news[i], n) == 0 &&
		    (p[n] == '\0' || p[n] == '\r' || p[n] == '\n' || p[n] == ' '))
			return LINE_NEWS;
	}
	return LINE_QUIET;
}

/* Wait in IDLE until news, the deadline or *stop. 1 news or time, -1 error (set). */
static int idle_lines(struct wb_replywatch *w, gint64 deadline, const gint *stop,
		      GError **error)
{
	mailimap *s = w->conn.imap;

	while (!stopped(stop)) {
		gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
		if (left_ms <= 0)
			return 1;
		if (s->imap_stream->read_buffer_len == 0) {
			struct pollfd p = { .fd = mailimap_idle_get_fd(s), .events = POLLIN };
			int n = poll(&p, 1, (int)MIN(left_ms, (gint64)TICK_MS));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int err = errno;
				wb_imapconn_drop(&w->conn);
				wb_imapconn_fail_local(&w->conn, error, WB_FAIL_SOON,
						       "poll during IDLE: %s", g_strerror(err));
				return -1;
			}
			if (n == 0)
				continue;
		}
		const char *line = mailimap_read_line(s);
		enum idle_line kind = line != NULL ? idle_line_kind(line) : LINE_BROKEN;
		if (kind == LINE_NEWS)
			return 1;
		if (kind == LINE_BROKEN) {
			wb_imapconn_drop(&w->conn);
			wb_imapconn_fail_local(&w->conn, error, WB_FAIL_SOON, "%s during IDLE",
					       line == NULL ? "connection lost"
							    : "session ended by the server");
			return -1;
		}
	}
	return 1;
}

static bool idle(struct wb_replywatch *w, gint64 deadline, const gint *stop, GError **error)
{
	int r = mailimap_idle(w->conn.imap);

	if (r != MAILIMAP_NO_ERROR)
		return wb_imapconn_fail(&w->conn, error, r, WB_FAIL_SOON, "IDLE");
	if (idle_lines(w, deadline, stop, error) < 0)
		return false;
	r = mailimap_idle_done(w->conn.imap);
	if (r != MAILIMAP_NO_ERROR)
		return wb_imapconn_fail(&w->conn, error, r, WB_FAIL_SOON, "IDLE DONE");
	w->conn.last_used = g_get_monotonic_time();
	return true;
}

bool wb_replywatch_idles(struct wb_replywatch *w)
{
	return w->want_idle && wb_imapconn_has_capability(&w->conn, "IDLE");
}

bool wb_replywatch_wait(struct wb_replywatch *w, int timeout_s, const gint *stop,
			GError **error)
{
	gint64 deadline = g_get_monotonic_time() +
			  (gint64)CLAMP(timeout_s, 0, IDLE_MAX_S) * G_USEC_PER_SEC;

	if (timeout_s <= 0 || stopped(stop))
		return true;
	if (!ensure(w, error))
		return false;
	if (wb_replywatch_idles(w))
		return idle(w, deadline, stop, error);
	while (!stopped(stop)) {
		gint64 left = deadline - g_get_monotonic_time();
		if (left <= 0)
			break;
		g_usleep((gulong)MIN(left, (gint64)TICK_MS * 1000));
	}
	return true;
}
