/* deliver_imap: delivery by IMAP APPEND with libetpan (mailimap).
 *
 * Design:
 * - A target is a mailbox: a login and a folder. It holds no connection of its own:
 *   each operation takes a logged-in session for the login from the process's pool
 *   (imappool.h: at most [imap] max_connections for every mailbox together, kept for
 *   the next mail, the least recently used closed to make room) and gives it back at
 *   its end. So a pass over a thousand stations keeps a bounded number of sockets, and
 *   the next mail to a station whose session is still open costs no LOGIN. open() takes
 *   and gives one back at once, so a refused login or certificate fails open() as
 *   before. (imapconn.c: TLS, STARTTLS, pinning, login, reconnects, timeouts and the
 *   classification of failures are described there.)
 * - Every operation names or selects its folder itself (APPEND names it; exists() and
 *   set_flags() SELECT or EXAMINE it each time), so stations that share a login share
 *   its sessions whatever folder a session was left in.
 * - Any NO or BAD to the APPEND of one mail ([TOOBIG], [LIMIT], ...) without a code
 *   that says otherwise is WB_FAIL_FINAL for that mail.
 * - APPEND answered NO [TRYCREATE] creates the folder (and subscribes it: many clients
 *   show subscribed folders only) and appends once more. APPENDUID comes back through
 *   mailimap_uidplus_append; without UIDPLUS uid and uidvalidity stay 0.
 * - exists() and set_flags() find a mail by UID SEARCH HEADER Message-ID; set_flags()
 *   then adds the flags with UID STORE +FLAGS.SILENT on every match (clear_flags():
 *   -FLAGS.SILENT).
 * - Folder names are sent in modified UTF-7, so a folder may be named in Bengali.
 * - libetpan turns every bare CR or LF of the mail into CRLF on the wire. */
#include <libetpan/libetpan.h>
#include <string.h>

#include "caps.h"
#include "deliver.h"
#include "imapconn.h"
#include "imappool.h"

struct wb_target {
	struct wb_imapconn like;  /* server and login, never connected: the pool's key */
	struct wb_imapconn *conn; /* the session of the operation in progress, else NULL */
	char *folder;       /* UTF-8 as configured, for messages and locations */
	char *folder_wire;  /* modified UTF-7 (RFC 3501 5.1.3) as sent */
};

/* ---- session --------------------------------------------------------------------- */

static bool configure(struct wb_target *t, const struct wb_config *cfg,
		      const struct wb_station *st, GError **error)
{
	if (!wb_imapconn_init(&t->like, WB_DELIVER_ERROR, cfg, st->imap_user, st->imap_password,
			      error))
		return false;
	t->folder = g_strdup(st->folder != NULL && st->folder[0] != '\0' ? st->folder : "INBOX");
	t->folder_wire = wb_imapconn_mutf7(t->folder);
	if (t->like.user[0] == '\0')
		return wb_imapconn_fail_local(&t->like, error, WB_FAIL_LATER,
					      "station %s has no imap_user", st->key);
	if (t->folder_wire == NULL)
		return wb_imapconn_fail_local(&t->like, error, WB_FAIL_LATER,
					      "folder of station %s is not UTF-8", st->key);
	return true;
}

/* A session for this operation, from the pool. */
static bool begin(struct wb_target *t, GError **error)
{
	t->conn = wb_imappool_take(wb_imappool_shared(), &t->like, error);
	return t->conn != NULL;
}

/* The operation is over: the session goes back (or is freed, if it broke). */
static void end(struct wb_target *t)
{
	wb_imappool_give(wb_imappool_shared(), t->conn);
	t->conn = NULL;
}

static void imap_close(struct wb_target *t)
{
	if (t == NULL)
		return;
	end(t);
	wb_imapconn_clear(&t->like);
	g_free(t->folder);
	g_free(t->folder_wire);
	g_free(t);
}

static struct wb_target *imap_open(const struct wb_config *cfg, const struct wb_station *st,
				   GError **error)
{
	struct wb_target *t = g_new0(struct wb_target, 1);

	if (cfg->imap_max_connections > 0)
		wb_imappool_set_max(wb_imappool_shared(), (unsigned)cfg->imap_max_connections);
	if (!configure(t, cfg, st, error) || !begin(t, error)) {
		imap_close(t);
		return NULL;
	}
	end(t);
	return t;
}

/* ---- finding a mail -------------------------------------------------------------- */

/* SELECT (read_write) or EXAMINE the folder: each time, as it makes the server show mail
 * appended since. 1 selected, 0 the folder does not exist, -1 error (set). */
static int open_folder(struct wb_target *t, bool read_write, GError **error)
{
	int r = read_write ? mailimap_select(t->conn->imap, t->folder_wire)
			   : mailimap_examine(t->conn->imap, t->folder_wire);
	g_autofree char *what = g_strdup_printf("%s %s", read_write ? "SELECT" : "EXAMINE",
						t->folder);

	if (r == MAILIMAP_NO_ERROR)
		return 1;
	if (wb_imapconn_unusable(r)) {
		wb_imapconn_fail(t->conn, error, r, WB_FAIL_LATER, what);
		return -1;
	}
	int listed = wb_imapconn_listed(t->conn, t->folder_wire, error);
	if (listed == 1) {
		wb_imapconn_fail_local(t->conn, error, WB_FAIL_LATER,
				       "folder %s exists but %s was refused", t->folder, what);
		return -1;
	}
	return listed == 0 ? 0 : -1;
}

/* UID SEARCH HEADER Message-ID <id>: the UIDs found (a clist of uint32_t *, possibly
 * empty; free with mailimap_search_result_free), NULL on error (set). IMAP's header
 * search is a case-insensitive substring match; with the brackets included it can only
 * match this id or one that differs in case, which wamids (Meta-made) never do. */
static clist *search_message_id(struct wb_target *t, const char *message_id, GError **error)
{
	g_autofree char *value = g_strdup_printf("<%s>", message_id);
	char *name_m = strdup("Message-ID"), *value_m = strdup(value);
	struct mailimap_search_key *key = name_m != NULL && value_m != NULL ?
		mailimap_search_key_new_header(name_m, value_m) : NULL;

	if (key == NULL) {
		free(name_m);
		free(value_m);
		wb_imapconn_fail_local(t->conn, error, WB_FAIL_SOON, "out of memory");
		return NULL;
	}
	clist *result = NULL;
	int r = mailimap_uid_search(t->conn->imap, NULL, key, &result);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		wb_imapconn_fail(t->conn, error, r, WB_FAIL_LATER, "UID SEARCH");
		return NULL;
	}
	if (result == NULL)
		result = clist_new();
	if (result == NULL)
		wb_imapconn_fail_local(t->conn, error, WB_FAIL_SOON, "out of memory");
	return result;
}

/* Check the Message-ID, take a session and open the folder: 1 ready, 0 no folder, -1.
 * The caller ends the operation (end()) whatever the outcome. */
static int prepare(struct wb_target *t, const char *message_id, bool read_write,
		   GError **error)
{
	if (!wb_deliver_message_id_ok(message_id)) {
		g_autofree char *shown = g_strescape(message_id, NULL);
		wb_imapconn_fail_local(&t->like, error, WB_FAIL_FINAL,
				       "not a usable Message-ID: \"%.200s\"", shown);
		return -1;
	}
	if (!begin(t, error))
		return -1;
	return open_folder(t, read_write, error);
}

static int imap_exists(struct wb_target *t, const char *message_id, GError **error)
{
	int r = prepare(t, message_id, false, error);
	clist *uids = r > 0 ? search_message_id(t, message_id, error) : NULL;
	if (r > 0 && uids == NULL) {
		r = -1;
	} else if (r > 0) {
		r = clist_count(uids) > 0;
		mailimap_search_result_free(uids);
		t->conn->last_used = g_get_monotonic_time();
	}
	end(t);
	return r;
}

/* ---- set_flags ------------------------------------------------------------------- */

static struct mailimap_set *uid_set(const clist *uids)
{
	struct mailimap_set *set = mailimap_set_new_empty();

	for (clistiter *it = clist_begin((clist *)uids); set != NULL && it != NULL;
	     it = clist_next(it)) {
		const uint32_t *uid = clist_content(it);
		if (mailimap_set_add_single(set, *uid) != MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			set = NULL;
		}
	}
	return set;
}

/* UID STORE uids +FLAGS.SILENT (or -FLAGS.SILENT) list; takes list. */
static bool store_flags(struct wb_target *t, const clist *uids, struct mailimap_flag_list *list,
			bool remove, GError **error)
{
	g_autofree char *what = g_strdup_printf("UID STORE in %s", t->folder);

	return remove ? wb_imapconn_store_remove(t->conn, uid_set(uids), list, what, error)
		      : wb_imapconn_store_add(t->conn, uid_set(uids), list, what, error);
}

static int change_flags(struct wb_target *t, const char *message_id,
			const char *const *flags, bool remove, GError **error)
{
	struct mailimap_flag_list *list = wb_imapconn_flag_list(&t->like, flags, error);
	if (list == NULL)
		return -1;
	int r = prepare(t, message_id, true, error);
	clist *uids = r > 0 ? search_message_id(t, message_id, error) : NULL;
	if (r > 0 && uids == NULL)
		r = -1;
	else if (r > 0 && clist_count(uids) == 0)
		r = 0;
	else if (r > 0 && clist_count(list->fl_list) > 0)
		r = store_flags(t, uids, g_steal_pointer(&list), remove, error) ? 1 : -1;
	if (list != NULL)
		mailimap_flag_list_free(list);
	if (uids != NULL)
		mailimap_search_result_free(uids);
	end(t);
	return r;
}

static int imap_set_flags(struct wb_target *t, const char *message_id,
			  const char *const *flags, GError **error)
{
	return change_flags(t, message_id, flags, false, error);
}

static int imap_clear_flags(struct wb_target *t, const char *message_id,
			    const char *const *flags, GError **error)
{
	return change_flags(t, message_id, flags, true, error);
}

/* ---- deliver --------------------------------------------------------------------- */

/* CREATE after [TRYCREATE], then SUBSCRIBE: many clients show subscribed folders only. */
static bool create_folder(struct wb_target *t, GError **error)
{
	int r = mailimap_create(t->conn->imap, t->folder_wire);
	const char *code = wb_imapconn_code(t->conn);

	/* Someone else may have created it since: fine. */
	if (r != MAILIMAP_NO_ERROR &&
	    !(r == MAILIMAP_ERROR_CREATE && code != NULL && g_ascii_strcasecmp(code, "ALREADYEXISTS") == 0)) {
		g_autofree char *what = g_strdup_printf("CREATE %s", t->folder);
		return wb_imapconn_fail(t->conn, error, r, WB_FAIL_LATER, what);
	}
	r = mailimap_subscribe(t->conn->imap, t->folder_wire);
	if (r != MAILIMAP_NO_ERROR && wb_imapconn_unusable(r)) {
		g_autofree char *what = g_strdup_printf("SUBSCRIBE %s", t->folder);
		return wb_imapconn_fail(t->conn, error, r, WB_FAIL_SOON, what);
	}
	return true;
}

/* "imap://host:port/FOLDER;UIDVALIDITY=v;UID=n" (the UID part only with APPENDUID). */
static char *location(const struct wb_target *t, uint32_t uidvalidity, uint32_t uid)
{
	return wb_imapconn_url(t->conn, t->folder, uidvalidity, uid);
}

static bool append(struct wb_target *t, struct mailimap_flag_list *flags, const char *mail,
		   size_t len, struct wb_delivered *out, GError **error)
{
	uint32_t uidvalidity = 0, uid = 0;
	int r = mailimap_uidplus_append(t->conn->imap, t->folder_wire, flags, NULL, mail, len,
					&uidvalidity, &uid);

	if (r == MAILIMAP_ERROR_APPEND && wb_imapconn_trycreate(t->conn)) {
		if (!create_folder(t, error))
			return false;
		r = mailimap_uidplus_append(t->conn->imap, t->folder_wire, flags, NULL, mail, len,
					    &uidvalidity, &uid);
	}
	if (r != MAILIMAP_NO_ERROR) {
		g_autofree char *what = g_strdup_printf("APPEND to %s (%zu bytes)", t->folder, len);
		return wb_imapconn_fail(t->conn, error, r, WB_FAIL_FINAL, what);
	}
	t->conn->last_used = g_get_monotonic_time();
	*out = (struct wb_delivered){
		.uidvalidity = uidvalidity,
		.uid = uid,
		.location = location(t, uidvalidity, uid),
	};
	return true;
}

static bool imap_deliver(struct wb_target *t, const char *mail, size_t len,
			 const char *const *flags, struct wb_delivered *out, GError **error)
{
	if (len > WB_MAX_MAIL_BYTES)
		return wb_imapconn_fail_local(&t->like, error, WB_FAIL_FINAL,
					      "mail of %zu bytes is over the %u limit", len,
					      WB_MAX_MAIL_BYTES);
	struct mailimap_flag_list *list = wb_imapconn_flag_list(&t->like, flags, error);
	if (list == NULL)
		return false;
	bool ok = begin(t, error) && append(t, list, mail, len, out, error);
	end(t);
	mailimap_flag_list_free(list);
	return ok;
}

const struct wb_deliver_ops wb_deliver_imap = {
	.name = "imap",
	.open = imap_open,
	.exists = imap_exists,
	.deliver = imap_deliver,
	.set_flags = imap_set_flags,
	.clear_flags = imap_clear_flags,
	.close = imap_close,
};
