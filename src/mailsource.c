/* mailsource: reading mail from files, directories and mailboxes (see mailsource.h).
 *
 * Design:
 * - Files are read through one small buffered reader over read(2) (struct reader): it
 *   is NUL-safe and never holds more than its buffer plus the mail being built, so an
 *   mbox of any size, or a binary file without a single newline, costs at most one
 *   mail (WB_MAX_MAIL_BYTES) of memory. A file's kind is decided from its first bytes.
 * - Files inside a directory are opened with openat(O_NOFOLLOW | O_NONBLOCK) relative to
 *   the directory's descriptor and checked with fstat: a symlink (ELOOP) or FIFO is
 *   never followed or waited on, and a name cannot be swapped for a link between
 *   listing and opening.
 * - Warnings about skipped entries go through g_warning(), naming the place and why;
 *   the walk goes on. Errors that stop it carry WB_MAILSOURCE_ERROR codes.
 * - IMAP: imapconn.c connects (TLS rules, timeouts, errors without the password); its
 *   errors (classified by wb_fail) become WB_MAILSOURCE_FAILED with the same text, a
 *   folder that LIST does not show becomes WB_MAILSOURCE_NO_INPUT. The folder is
 *   EXAMINEd; UID FETCH 1:* (UID RFC822.SIZE) lists the mails, then bodies come in
 *   batches of at most BATCH_MAILS mails and BATCH_BYTES bytes with
 *   BODY.PEEK[]<0.cap+1> (the partial fetch bounds what an honest server sends however
 *   it counts sizes).
 *
 * Known gaps: a mail a client moves from new/ to cur/ while a live Maildir is read may
 * be missed (it is gone from new/ and cur/ was listed before). Maildir++ subfolders
 * (.Folder/) are not descended into. mbox variants that rely on Content-Length (mboxcl)
 * are split on "From " lines like the others. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "caps.h"
#include "deliver.h"
#include "imapconn.h"
#include "mailsource.h"

G_DEFINE_QUARK(wb-mailsource-error-quark, wb_mailsource_error)

/* The domain imapconn.c sets its errors in, before they become ours. */
static GQuark conn_domain_quark(void)
{
	return g_quark_from_static_string("wb-mailsource-imap-quark");
}

#define READ_CHUNK  (64 * 1024)
#define LINE_PEEK   256             /* bytes looked at at a line start: "From ", ">>From " */
#define BATCH_MAILS 100u            /* bodies asked for in one UID FETCH ... */
#define BATCH_BYTES (32u << 20)     /* ... and their sizes together at most (one may be more) */
#define WHAT_TO_PASS "pass a Maildir, a directory of .eml files, a .eml file or an mbox file"

/* ---- reading a file ---------------------------------------------------------------- */

struct reader {
	int fd;
	const char *path;  /* for messages */
	char buf[READ_CHUNK];
	size_t pos, len;   /* unread bytes: buf[pos..len) */
	bool eof;
};

static size_t avail(const struct reader *r)
{
	return r->len - r->pos;
}

static bool io_error(GError **error, int err, const char *path)
{
	g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED, "cannot read %s: %s",
		    path, g_strerror(err));
	return false;
}

/* Make at least want bytes (at most the buffer) readable, unless the file ends first. */
static bool fill(struct reader *r, size_t want, GError **error)
{
	if (want > sizeof r->buf)
		want = sizeof r->buf;
	if (avail(r) >= want || r->eof)
		return true;
	memmove(r->buf, r->buf + r->pos, avail(r));
	r->len -= r->pos;
	r->pos = 0;
	while (r->len < want && !r->eof) {
		ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return io_error(error, errno, r->path);
		r->eof = n == 0;
		r->len += (size_t)n;
	}
	return true;
}

/* Does the unread part start with s? (fill() first for its length) */
static bool starts(const struct reader *r, const char *s)
{
	size_t n = strlen(s);
	return avail(r) >= n && memcmp(r->buf + r->pos, s, n) == 0;
}

/* Does a mail start here: a header field name (printable ASCII, no ':') and ':'? */
static bool looks_like_mail(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	return i > 0 && i < len && p[i] == ':';
}

/* ---- mbox ---------------------------------------------------------------------------- */

struct walk {
	wb_mail_cb cb;
	void *data;
	bool stopped; /* the callback returned false */
};

static bool hand_over(struct walk *w, const char *where, GBytes *mail, bool truncated,
		      GError **error)
{
	if (w->cb(where, mail, truncated, NULL, w->data, error))
		return true;
	w->stopped = true;
	return false;
}

/* An entry that is not usable mail: logged, and told to the callback. */
static bool skip(struct walk *w, const char *where, const char *why, GError **error)
{
	g_warning("%s: skipped: %s", where, why);
	if (w->cb(where, NULL, false, why, w->data, error))
		return true;
	w->stopped = true;
	return false;
}

struct mbox {
	struct reader *r;
	GByteArray *mail;    /* NULL while none is open, or while one over the cap is skipped */
	bool open;           /* a mail is open (mail may still be NULL: over the cap) */
	unsigned number;     /* of the open mail, from 1 */
	guint64 from_line;   /* its "From " line */
	guint64 line;        /* lines read */
	bool prev_empty;     /* the last complete line was empty ... */
	size_t prev_empty_len; /* ... of this many bytes ("\n" 1, "\r\n" 2) */
};

static char *mbox_where(const struct mbox *m)
{
	return g_strdup_printf("%s (mbox mail %u, line %" G_GUINT64_FORMAT ")", m->r->path,
			       m->number, m->from_line);
}

/* Hand over the open mail, if any. complete: it ended in the empty line before a "From "
 * line or at the end of the file, which is taken off. */
static bool mbox_close_mail(struct mbox *m, struct walk *w, bool complete, GError **error)
{
	if (!m->open)
		return true;
	g_autofree char *where = mbox_where(m);
	GByteArray *a = g_steal_pointer(&m->mail);
	m->open = false;
	if (a == NULL) {
		g_autofree char *why = g_strdup_printf("the mail is over the limit of %u bytes",
						       WB_MAX_MAIL_BYTES);
		return skip(w, where, why, error);
	}
	if (complete && m->prev_empty && a->len >= m->prev_empty_len)
		g_byte_array_set_size(a, a->len - (guint)m->prev_empty_len);
	if (a->len == 0) {
		g_byte_array_unref(a);
		return skip(w, where, "the mail is empty", error);
	}
	g_autoptr(GBytes) bytes = g_byte_array_free_to_bytes(a);
	return hand_over(w, where, bytes, !complete, error);
}

static void mbox_append(struct mbox *m, const char *p, size_t n)
{
	if (m->mail == NULL)
		return;
	if (m->mail->len + n > WB_MAX_MAIL_BYTES) {
		g_byte_array_unref(g_steal_pointer(&m->mail));
		return;
	}
	g_byte_array_append(m->mail, (const guint8 *)p, (guint)n);
}

/* Skip or copy the rest of the current line (its first bytes may already be gone);
 * *ended tells whether a newline ended it (else the file did). */
static bool mbox_rest_of_line(struct mbox *m, bool copy, bool *ended, GError **error)
{
	struct reader *r = m->r;

	*ended = false;
	while (!*ended) {
		if (!fill(r, 1, error))
			return false;
		if (avail(r) == 0)
			return true;
		const char *p = r->buf + r->pos;
		const char *nl = memchr(p, '\n', avail(r));
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : avail(r);
		if (copy)
			mbox_append(m, p, n);
		r->pos += n;
		*ended = nl != NULL;
	}
	return true;
}

/* One line: a "From " line opens the next mail, others go into the open one. */
static bool mbox_line(struct mbox *m, struct walk *w, GError **error)
{
	struct reader *r = m->r;
	bool ended;

	m->line++;
	if ((m->line == 1 || m->prev_empty) && starts(r, "From ")) {
		if (!mbox_close_mail(m, w, true, error))
			return false;
		m->open = true;
		m->number++;
		m->from_line = m->line;
		m->mail = g_byte_array_new();
		m->prev_empty = false;
		return mbox_rest_of_line(m, false, &ended, error);
	}
	const char *p = r->buf + r->pos;
	size_t gt = 0;
	while (gt < avail(r) && p[gt] == '>')
		gt++;
	if (gt > 0 && avail(r) - gt >= 5 && memcmp(p + gt, "From ", 5) == 0)
		r->pos++; /* mboxrd: one '>' less */
	bool empty = starts(r, "\n") || starts(r, "\r\n");
	size_t empty_len = starts(r, "\n") ? 1 : 2;
	if (!mbox_rest_of_line(m, true, &ended, error))
		return false;
	m->prev_empty = ended && empty;
	m->prev_empty_len = empty_len;
	return true;
}

/* The reader stands at the start of a file whose first line starts "From ". */
static bool read_mbox(struct reader *r, struct walk *w, GError **error)
{
	struct mbox m = { .r = r };
	bool ok = true;

	for (;;) {
		ok = fill(r, LINE_PEEK, error);
		if (!ok || avail(r) == 0)
			break;
		ok = mbox_line(&m, w, error);
		if (!ok)
			break;
	}
	/* Ended well: the last line was complete and empty (mbox_line saw its newline). */
	if (ok)
		ok = mbox_close_mail(&m, w, m.prev_empty, error);
	if (m.mail != NULL)
		g_byte_array_unref(m.mail);
	return ok;
}

/* ---- one file ------------------------------------------------------------------------ */

enum file_verdict { FILE_OK, FILE_SKIP, FILE_STOP };

/* Something wrong with one file: inside a directory a warning and the walk goes on, as
 * PATH itself an error. */
G_GNUC_PRINTF(5, 6)
static enum file_verdict not_usable(struct walk *w, bool inside, GError **error,
				    const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (inside)
		return skip(w, path, why, error) ? FILE_SKIP : FILE_STOP;
	g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED, "%s: %s; " WHAT_TO_PASS,
		    path, why);
	return FILE_STOP;
}

/* The rest of a single mail, up to the cap. */
static enum file_verdict read_single(struct reader *r, off_t size, struct walk *w, bool inside,
				     GError **error)
{
	g_autoptr(GByteArray) a = g_byte_array_new();

	if (size > (off_t)WB_MAX_MAIL_BYTES)
		return not_usable(w, inside, error, r->path,
				  "the mail has %jd bytes, over the limit of %u", (intmax_t)size,
				  WB_MAX_MAIL_BYTES);
	for (;;) {
		if (avail(r) > 0 && a->len + avail(r) > WB_MAX_MAIL_BYTES)
			return not_usable(w, inside, error, r->path,
					  "the mail is over the limit of %u bytes", WB_MAX_MAIL_BYTES);
		g_byte_array_append(a, (const guint8 *)r->buf + r->pos, (guint)avail(r));
		r->pos = r->len;
		if (r->eof)
			break;
		if (!fill(r, sizeof r->buf, error))
			return FILE_STOP;
	}
	g_autoptr(GBytes) bytes = g_byte_array_free_to_bytes(g_steal_pointer(&a));
	return hand_over(w, r->path, bytes, false, error) ? FILE_OK : FILE_STOP;
}

/* Read the open file fd (closed here) as a mail or an mbox, decided by its start. */
static enum file_verdict read_fd(int fd, const char *path, struct walk *w, bool inside,
				 GError **error)
{
	struct stat st;
	g_autofree struct reader *r = g_new0(struct reader, 1);
	enum file_verdict v;

	r->fd = fd;
	r->path = path;
	if (fstat(fd, &st) != 0)
		v = (io_error(error, errno, path), FILE_STOP);
	else if (!S_ISREG(st.st_mode))
		v = not_usable(w, inside, error, path, "not a regular file");
	else if (!fill(r, LINE_PEEK, error))
		v = FILE_STOP;
	else if (avail(r) == 0)
		v = not_usable(w, inside, error, path, "the file is empty");
	else if (starts(r, "From "))
		v = read_mbox(r, w, error) ? FILE_OK : FILE_STOP;
	else if (looks_like_mail(r->buf + r->pos, avail(r)))
		v = read_single(r, st.st_size, w, inside, error);
	else
		v = not_usable(w, inside, error, path,
			       "not mail: it starts with neither a header field nor an mbox "
			       "\"From \" line");
	close(fd);
	return v;
}

/* A file in the directory dirfd (never a link followed). */
static enum file_verdict read_entry(int dirfd, const char *name, const char *path,
				    struct walk *w, GError **error)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd >= 0)
		return read_fd(fd, path, w, true, error);
	if (errno == ELOOP)
		return not_usable(w, true, error, path, "a symbolic link (not followed)");
	if (errno == ENOENT) /* gone since the listing: moved by a mail client */
		return FILE_SKIP;
	g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED,
		    "cannot open %s: %s; make it readable to this user or move it away",
		    path, g_strerror(errno));
	return FILE_STOP;
}

/* ---- directories --------------------------------------------------------------------- */

struct entry {
	char *name;
	int dirfd;       /* not owned */
	const char *dir; /* not owned: the directory's path, for messages */
};

static void entry_free(gpointer p)
{
	struct entry *e = p;
	g_free(e->name);
	g_free(e);
}

static gint entry_cmp(gconstpointer a, gconstpointer b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : strcmp(x->dir, y->dir);
}

static bool has_eml_suffix(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && g_ascii_strcasecmp(name + n - 4, ".eml") == 0;
}

/* Add the entries of the directory dirfd (not consumed) to list; eml_only: *.eml. */
static bool list_dir(int dirfd, const char *dir, bool eml_only, GPtrArray *list,
		     GError **error)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return io_error(error, errno, dir);
	}
	rewinddir(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (eml_only && !has_eml_suffix(de->d_name)))
			continue;
		struct entry *e = g_new0(struct entry, 1);
		e->name = g_strdup(de->d_name);
		e->dirfd = dirfd;
		e->dir = dir;
		g_ptr_array_add(list, e);
		errno = 0;
	}
	int err = errno;
	closedir(d);
	return err == 0 || io_error(error, err, dir);
}

static bool read_entries(GPtrArray *list, struct walk *w, GError **error)
{
	g_ptr_array_sort(list, entry_cmp);
	for (guint i = 0; i < list->len; i++) {
		const struct entry *e = list->pdata[i];
		g_autofree char *path = g_build_filename(e->dir, e->name, NULL);
		if (read_entry(e->dirfd, e->name, path, w, error) == FILE_STOP)
			return false;
	}
	return true;
}

/* A real subdirectory (not a link) of dirfd, opened; -1 when there is none. */
static int open_subdir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW);
}

static bool read_maildir(int cur, int new, const char *root, struct walk *w, GError **error)
{
	g_autofree char *cur_path = g_build_filename(root, "cur", NULL);
	g_autofree char *new_path = g_build_filename(root, "new", NULL);
	g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(entry_free);

	return list_dir(cur, cur_path, false, list, error) &&
	       list_dir(new, new_path, false, list, error) && read_entries(list, w, error);
}

static bool read_dir(int dirfd, const char *path, struct walk *w, GError **error)
{
	int cur = open_subdir(dirfd, "cur"), new = open_subdir(dirfd, "new");
	bool ok;

	if (cur >= 0 && new >= 0) {
		ok = read_maildir(cur, new, path, w, error);
	} else {
		g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(entry_free);
		ok = list_dir(dirfd, path, true, list, error);
		if (ok && list->len == 0) {
			g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT,
				    "%s is neither a Maildir (no cur/ and new/ directories) nor a "
				    "directory holding *.eml files; " WHAT_TO_PASS, path);
			ok = false;
		}
		ok = ok && read_entries(list, w, error);
	}
	if (cur >= 0)
		close(cur);
	if (new >= 0)
		close(new);
	return ok;
}

/* ---- PATH ------------------------------------------------------------------------------ */

static bool no_input(GError **error, int err, const char *what, const char *path)
{
	g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT, "cannot open %s %s: %s; %s",
		    what, path, g_strerror(err), WHAT_TO_PASS);
	return false;
}

static bool walk_path(const char *path, const char *what, struct walk *w, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return no_input(error, errno, what, path);
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return io_error(error, err, path);
	}
	if (!S_ISDIR(st.st_mode))
		return read_fd(fd, path, w, false, error) == FILE_OK;
	bool ok = read_dir(fd, path, w, error);
	close(fd);
	return ok;
}

bool wb_mailsource_path(const char *path, wb_mail_cb cb, void *data, GError **error)
{
	struct walk w = { .cb = cb, .data = data };

	if (path == NULL || path[0] == '\0') {
		g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT,
			    "no path given; " WHAT_TO_PASS);
		return false;
	}
	return walk_path(path, "mail source", &w, error);
}

/* ---- a station's Maildir ---------------------------------------------------------------- */

static bool maildir_walk(const struct wb_config *cfg, const struct wb_station *st,
			 struct walk *w, GError **error)
{
	g_autofree char *root = wb_deliver_maildir_path(cfg, st);
	int fd = open(root, O_RDONLY | O_CLOEXEC | O_DIRECTORY);

	if (fd < 0) {
		g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT,
			    "cannot open the Maildir %s of station %s: %s; nothing delivered yet, "
			    "or check deliver = maildir:PATH", root, st->key, g_strerror(errno));
		return false;
	}
	int cur = open_subdir(fd, "cur"), new = open_subdir(fd, "new");
	bool ok;
	if (cur < 0 || new < 0) {
		g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT,
			    "%s (the Maildir of station %s) has no cur/ and new/ directories; "
			    "check deliver = maildir:PATH", root, st->key);
		ok = false;
	} else {
		ok = read_maildir(cur, new, root, w, error);
	}
	if (cur >= 0)
		close(cur);
	if (new >= 0)
		close(new);
	close(fd);
	return ok;
}

/* ---- a station's IMAP folder ------------------------------------------------------------ */

struct src_imap {
	struct wb_imapconn conn;
	const struct wb_station *st;
	char *folder;        /* UTF-8, for messages and URLs */
	char *folder_wire;   /* modified UTF-7 */
	uint32_t uidvalidity;
	uint32_t exists;
};

/* An error of imapconn.c, in its domain, made ours (the text stays). */
static bool conn_error(GError **error, GError *e)
{
	if (e == NULL)
		e = g_error_new_literal(WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED, "IMAP failed");
	e->domain = WB_MAILSOURCE_ERROR;
	e->code = WB_MAILSOURCE_FAILED;
	g_propagate_error(error, e);
	return false;
}

static void imap_clear(struct src_imap *s)
{
	wb_imapconn_clear(&s->conn);
	g_free(s->folder);
	g_free(s->folder_wire);
}

/* Connect and EXAMINE the station's folder. */
static bool imap_open(struct src_imap *s, const struct wb_config *cfg,
		      const struct wb_station *st, GError **error)
{
	GError *e = NULL;

	s->st = st;
	s->folder = g_strdup(st->folder != NULL && st->folder[0] != '\0' ? st->folder : "INBOX");
	s->folder_wire = wb_imapconn_mutf7(s->folder);
	if (!wb_imapconn_init(&s->conn, conn_domain_quark(), cfg, st->imap_user,
			      st->imap_password, &e))
		return conn_error(error, e);
	if (s->conn.user[0] == '\0' || s->folder_wire == NULL) {
		g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED,
			    "station %s: %s", st->key, s->folder_wire == NULL ?
			    "its folder is not UTF-8" : "no imap_user configured");
		return false;
	}
	if (!wb_imapconn_connect(&s->conn, &e))
		return conn_error(error, e);
	int r = mailimap_examine(s->conn.imap, s->folder_wire);
	if (r != MAILIMAP_NO_ERROR) {
		g_autofree char *what = g_strdup_printf("EXAMINE %s", s->folder);
		int listed = wb_imapconn_unusable(r) ? 1 : wb_imapconn_listed(&s->conn,
									   s->folder_wire, &e);
		if (listed == 0) {
			g_autofree char *url = wb_imapconn_url(&s->conn, s->folder, 0, 0);
			g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_NO_INPUT,
				    "%s (user %s): no such folder; check folder = of station %s",
				    url, s->conn.user, st->key);
			return false;
		}
		if (listed < 0)
			return conn_error(error, e);
		wb_imapconn_fail(&s->conn, &e, r, WB_FAIL_LATER, what);
		return conn_error(error, e);
	}
	const struct mailimap_selection_info *sel = s->conn.imap->imap_selection_info;
	s->uidvalidity = sel != NULL ? sel->sel_uidvalidity : 0;
	s->exists = sel != NULL ? sel->sel_exists : 0;
	return true;
}

/* UID FETCH set (UID att): the responses (maybe none), NULL on error (set). Takes set
 * and att (NULL: out of memory). */
static clist *uid_fetch(struct src_imap *s, struct mailimap_set *set,
			struct mailimap_fetch_att *att, GError **error)
{
	struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_fetch_att *uid = mailimap_fetch_att_new_uid();
	int r = MAILIMAP_ERROR_MEMORY;
	clist *result = NULL;

	if (type != NULL && uid != NULL && att != NULL && set != NULL &&
	    mailimap_fetch_type_new_fetch_att_list_add(type, uid) == MAILIMAP_NO_ERROR) {
		uid = NULL;
		if (mailimap_fetch_type_new_fetch_att_list_add(type, att) == MAILIMAP_NO_ERROR) {
			att = NULL;
			r = mailimap_uid_fetch(s->conn.imap, set, type, &result);
		}
	}
	if (uid != NULL)
		mailimap_fetch_att_free(uid);
	if (att != NULL)
		mailimap_fetch_att_free(att);
	if (type != NULL)
		mailimap_fetch_type_free(type);
	if (set != NULL)
		mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		GError *e = NULL;
		g_autofree char *what = g_strdup_printf("UID FETCH in %s", s->folder);
		wb_imapconn_fail(&s->conn, &e, r, WB_FAIL_SOON, what);
		conn_error(error, e);
		return NULL;
	}
	return result != NULL ? result : clist_new();
}

struct uid_size {
	uint32_t uid;
	uint32_t size;
};

static gint uid_size_cmp(gconstpointer a, gconstpointer b)
{
	uint32_t x = ((const struct uid_size *)a)->uid, y = ((const struct uid_size *)b)->uid;
	return x < y ? -1 : x > y;
}

/* Every mail's UID and RFC822.SIZE, in UID order; NULL on error (set). */
static GArray *list_mails(struct src_imap *s, GError **error)
{
	GArray *all = g_array_new(FALSE, FALSE, sizeof(struct uid_size));

	if (s->exists == 0)
		return all;
	clist *result = uid_fetch(s, mailimap_set_new_interval(1, 0),
				  mailimap_fetch_att_new_rfc822_size(), error);
	if (result == NULL) {
		g_array_unref(all);
		return NULL;
	}
	for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att *att = clist_content(it);
		const struct mailimap_msg_att_static *u = wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_UID);
		const struct mailimap_msg_att_static *z = wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_RFC822_SIZE);
		if (u == NULL)
			continue;
		struct uid_size us = { u->att_data.att_uid, z != NULL ? z->att_data.att_rfc822_size : 0 };
		g_array_append_val(all, us);
	}
	mailimap_fetch_list_free(result);
	g_array_sort(all, uid_size_cmp);
	return all;
}

/* BODY.PEEK[]<0.cap+1>: never sets \Seen, never more than one byte over the cap. */
static struct mailimap_fetch_att *body_att(void)
{
	struct mailimap_section *section = mailimap_section_new(NULL);
	struct mailimap_fetch_att *att = section != NULL ?
		mailimap_fetch_att_new_body_peek_section_partial(section, 0,
								 WB_MAX_MAIL_BYTES + 1u) : NULL;
	if (att == NULL && section != NULL)
		mailimap_section_free(section);
	return att;
}

/* Hand over the bodies in result, in UID order. */
static bool hand_over_bodies(struct src_imap *s, clist *result, struct walk *w,
			     GError **error)
{
	g_autoptr(GPtrArray) atts = g_ptr_array_new();

	for (clistiter *it = clist_begin(result); it != NULL; it = clist_next(it))
		g_ptr_array_add(atts, clist_content(it));
	for (guint i = 0; i < atts->len; i++) {
		const struct mailimap_msg_att *att = atts->pdata[i];
		const struct mailimap_msg_att_static *u = wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_UID);
		const struct mailimap_msg_att_static *b = wb_imapconn_att_static(att, MAILIMAP_MSG_ATT_BODY_SECTION);
		const struct mailimap_msg_att_body_section *sec =
			b != NULL ? b->att_data.att_body_section : NULL;
		if (u == NULL || sec == NULL)
			continue; /* an unasked FETCH (flags of another client) */
		g_autofree char *where = wb_imapconn_url(&s->conn, s->folder, s->uidvalidity,
							 u->att_data.att_uid);
		if (sec->sec_body_part == NULL || sec->sec_length > WB_MAX_MAIL_BYTES) {
			if (!skip(w, where, sec->sec_body_part == NULL ? "the server sent no body"
				  : "the mail is over the size limit", error))
				return false;
			continue;
		}
		g_autoptr(GBytes) mail = g_bytes_new(sec->sec_body_part, sec->sec_length);
		if (!hand_over(w, where, mail, false, error))
			return false;
	}
	return true;
}

/* Fetch and hand over the mails all[from..to). */
static bool imap_batch(struct src_imap *s, const GArray *all, guint from, guint to,
		       struct walk *w, GError **error)
{
	struct mailimap_set *set = mailimap_set_new_empty();

	for (guint i = from; set != NULL && i < to; i++) {
		if (mailimap_set_add_single(set, g_array_index(all, struct uid_size, i).uid) !=
		    MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			set = NULL;
		}
	}
	clist *result = uid_fetch(s, set, body_att(), error);
	if (result == NULL)
		return false;
	/* Responses come in sequence order, which is UID order. */
	bool ok = hand_over_bodies(s, result, w, error);
	mailimap_fetch_list_free(result);
	return ok;
}

static bool imap_walk(struct src_imap *s, struct walk *w, GError **error)
{
	g_autoptr(GArray) all = list_mails(s, error);
	guint start = 0;
	guint64 bytes = 0;

	if (all == NULL)
		return false;
	for (guint i = 0; i < all->len; i++) {
		const struct uid_size *m = &g_array_index(all, struct uid_size, i);
		if (m->size > WB_MAX_MAIL_BYTES) {
			g_autofree char *where = wb_imapconn_url(&s->conn, s->folder, s->uidvalidity,
								 m->uid);
			g_autofree char *why = g_strdup_printf("the mail has %" G_GUINT32_FORMAT
							       " bytes, over the limit of %u",
							       m->size, WB_MAX_MAIL_BYTES);
			if (!skip(w, where, why, error))
				return false;
			if (start < i && !imap_batch(s, all, start, i, w, error))
				return false;
			start = i + 1;
			bytes = 0;
			continue;
		}
		if (i > start && (i - start >= BATCH_MAILS || bytes + m->size > BATCH_BYTES)) {
			if (!imap_batch(s, all, start, i, w, error))
				return false;
			start = i;
			bytes = 0;
		}
		bytes += m->size;
	}
	return start >= all->len || imap_batch(s, all, start, all->len, w, error);
}

/* ---- stations ---------------------------------------------------------------------------- */

bool wb_mailsource_station(const struct wb_config *cfg, const struct wb_station *st,
			   wb_mail_cb cb, void *data, GError **error)
{
	struct walk w = { .cb = cb, .data = data };

	if (st->deliver != WB_DELIVER_IMAP)
		return maildir_walk(cfg, st, &w, error);
	struct src_imap s = { 0 };
	bool ok = imap_open(&s, cfg, st, error) && imap_walk(&s, &w, error);
	imap_clear(&s);
	return ok;
}

struct wanted {
	const char *message_id;
	GBytes *mail;
	char *where;
};

/* Stops the walk (false, no error) at the first mail with the Message-ID. */
static bool match_cb(const char *where, GBytes *mail, bool truncated, const char *skipped,
		     void *data, GError **error)
{
	struct wanted *want = data;
	if (mail == NULL || skipped != NULL)
		return true;
	gsize len;
	const char *p = g_bytes_get_data(mail, &len);
	g_autofree char *mid = p != NULL ? wb_deliver_message_id_of(p, len) : NULL;

	if (mid == NULL || strcmp(mid, want->message_id) != 0)
		return true;
	want->mail = g_bytes_ref(mail);
	want->where = g_strdup(where);
	return false;
}

/* UID SEARCH HEADER Message-ID <id>, then each hit fetched and checked (the search
 * matches substrings without case). */
static bool imap_find(struct src_imap *s, struct wanted *want, GError **error)
{
	g_autofree char *value = g_strdup_printf("<%s>", want->message_id);
	char *name_m = strdup("Message-ID"), *value_m = strdup(value);
	struct mailimap_search_key *key = name_m != NULL && value_m != NULL ?
		mailimap_search_key_new_header(name_m, value_m) : NULL;
	clist *uids = NULL;
	GError *e = NULL;

	if (key == NULL) {
		free(name_m);
		free(value_m);
	}
	int r = key != NULL ? mailimap_uid_search(s->conn.imap, NULL, key, &uids)
			    : MAILIMAP_ERROR_MEMORY;
	if (key != NULL)
		mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		g_autofree char *what = g_strdup_printf("UID SEARCH in %s", s->folder);
		wb_imapconn_fail(&s->conn, &e, r, WB_FAIL_LATER, what);
		return conn_error(error, e);
	}
	g_autoptr(GArray) hits = g_array_new(FALSE, TRUE, sizeof(struct uid_size));
	for (clistiter *it = clist_begin(uids); it != NULL; it = clist_next(it)) {
		struct uid_size us = { *(uint32_t *)clist_content(it), 0 };
		g_array_append_val(hits, us);
	}
	if (uids != NULL)
		mailimap_search_result_free(uids);
	g_array_sort(hits, uid_size_cmp);
	struct walk w = { .cb = match_cb, .data = want };
	for (guint i = 0; i < hits->len && want->mail == NULL; i++) {
		if (!imap_batch(s, hits, i, i + 1, &w, error) && !w.stopped)
			return false;
	}
	return true;
}

bool wb_mailsource_fetch(const struct wb_config *cfg, const struct wb_station *st,
			 const char *message_id, GBytes **mail, char **where, GError **error)
{
	struct wanted want = { .message_id = message_id };
	bool ok;

	*mail = NULL;
	if (where != NULL)
		*where = NULL;
	if (message_id == NULL || !wb_deliver_message_id_ok(message_id)) {
		g_autofree char *shown = g_strescape(message_id != NULL ? message_id : "", NULL);
		g_set_error(error, WB_MAILSOURCE_ERROR, WB_MAILSOURCE_FAILED,
			    "not a usable Message-ID: \"%.200s\"; give it without <>", shown);
		return false;
	}
	if (st->deliver == WB_DELIVER_IMAP) {
		struct src_imap s = { 0 };
		ok = imap_open(&s, cfg, st, error) && imap_find(&s, &want, error);
		imap_clear(&s);
	} else {
		struct walk w = { .cb = match_cb, .data = &want };
		ok = maildir_walk(cfg, st, &w, error) || w.stopped;
	}
	if (!ok) {
		g_clear_pointer(&want.mail, g_bytes_unref);
		g_free(want.where);
		return false;
	}
	*mail = want.mail;
	if (where != NULL)
		*where = want.where;
	else
		g_free(want.where);
	return true;
}
