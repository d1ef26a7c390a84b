/* deliver_maildir: delivery into a local Maildir (the embedded default).
 *
 * Design (after the Maildir convention and mblaze's mdeliver):
 * - A mail is written to tmp/, fsynced, then renamed into new/ (or cur/ when it carries
 *   flags), and the directory is fsynced: a crash leaves either nothing visible or the
 *   whole mail, never half of it.
 * - The file name is "<unixtime>.W<24 hex>.<host>", the hex being the start of
 *   SHA-256(Message-ID). It is unique per mail, and exists() finds a mail again by
 *   looking for that hash in new/ and cur/, even after a client moved it to cur/ and
 *   appended ":2,S". 96 bits of hash make an accidental collision irrelevant.
 * - Lines end in LF on disk (the Maildir convention); CRLF from the renderer is turned
 *   into LF, a lone CR is kept.
 * - Flags live in the info part of the file name, ":2,<letters>", letters in ASCII
 *   order. IMAP system flags map to the standard letters (\Draft D, \Flagged F,
 *   \Answered R, \Seen S, \Deleted T). Keywords follow Dovecot's convention, so that
 *   Dovecot serving this Maildir shows them: the file dovecot-keywords in the Maildir
 *   root holds lines "N name" (N 0..25, names compared without case) and keyword N is
 *   the letter 'a' + N. A keyword not listed yet gets the lowest free N; the file is
 *   rewritten through a temporary file and rename(), with an mtime that always grows
 *   (Dovecot rereads it only when the mtime changed).
 * - While it reads and rewrites dovecot-keywords and renames mails, the back end holds
 *   Dovecot's own lock of the Maildir, the dot-lock file dovecot-uidlist.lock (created
 *   exclusively; taken over when older than LOCK_STALE_S, as Dovecot does; waited for
 *   at most LOCK_WAIT_S). Dovecot holds that lock whenever it changes dovecot-keywords,
 *   so neither overwrites the other's new keyword.
 * - set_flags() and clear_flags() rename every file of the mail (new/ or cur/) to carry
 *   the merged letters (clear_flags() never adds a name to dovecot-keywords); a mail in new/ moves to cur/, as Maildir requires once it has an info part.
 *   A client renaming the file at the same moment makes the rename fail with ENOENT:
 *   the back end looks again.
 *
 * Deviations: with all 26 keyword letters taken, deliver() stores the mail without the
 * keywords that found no letter (a warning is logged: the mail matters more than its
 * tag), while set_flags() fails (WB_FAIL_LATER). Dovecot's CONTROL= setting (control
 * files outside the Maildir) is not followed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver.h"
#include "util.h"

#define HASH_HEX_LEN 24 /* 96 bits of SHA-256(Message-ID) in the file name */
#define KEYWORDS_FILE "dovecot-keywords"
#define KEYWORDS_MAX  26              /* letters a..z */
#define KEYWORDS_FILE_MAX (64 * 1024) /* 26 lines of 100-byte names fit many times */
#define LOCK_FILE     "dovecot-uidlist.lock"
#define LOCK_STALE_S  120             /* Dovecot's stale timeout for this lock */
#define LOCK_WAIT_S   10
#define RENAME_TRIES  5               /* looks again after a client renamed the file */

struct wb_target {
	char *root; /* the Maildir: root/{cur,new,tmp} */
	char *host; /* sanitised host name, the last field of file names */
};

/* Out of space, quota, read-only or no permission: a human must act first. */
static enum wb_fail fail_for_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
	case EROFS:
	case EACCES:
	case EPERM:
		return WB_FAIL_LATER;
	default:
		return WB_FAIL_SOON;
	}
}

static void set_io_error(GError **error, int err, const char *what, const char *path)
{
	g_set_error(error, WB_DELIVER_ERROR, fail_for_errno(err), "maildir: cannot %s %s: %s",
		    what, path, g_strerror(err));
}

/* The host name with everything but [A-Za-z0-9.-] replaced, so that '/' and ':' (which
 * Maildir readers split on) never reach a file name. */
static char *sanitized_hostname(void)
{
	char buf[256] = "";

	if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
		g_strlcpy(buf, "localhost", sizeof buf);
	for (char *p = buf; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-')
			*p = '_';
	}
	return g_strdup(buf);
}

static bool make_dir(const char *path, GError **error)
{
	if (g_mkdir_with_parents(path, 0700) != 0) {
		set_io_error(error, errno, "create directory", path);
		return false;
	}
	return true;
}

static bool make_maildir(const char *root, GError **error)
{
	static const char *const subs[] = { "cur", "new", "tmp" };

	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *sub = g_build_filename(root, subs[i], NULL);
		if (!make_dir(sub, error))
			return false;
	}
	return true;
}

static struct wb_target *maildir_open(const struct wb_config *cfg, const struct wb_station *st,
				      GError **error)
{
	g_autofree char *root = wb_deliver_maildir_path(cfg, st);

	if (!make_maildir(root, error))
		return NULL;
	struct wb_target *t = g_new0(struct wb_target, 1);
	t->root = g_steal_pointer(&root);
	t->host = sanitized_hostname();
	return t;
}

static void maildir_close(struct wb_target *t)
{
	if (t == NULL)
		return;
	g_free(t->root);
	g_free(t->host);
	g_free(t);
}

/* ".W<hash>." as it appears inside a file name. */
static char *hash_tag(const char *message_id)
{
	g_autofree char *hex = wb_sha256_hex(message_id, strlen(message_id));
	return g_strdup_printf(".W%.*s.", HASH_HEX_LEN, hex);
}

/* Does dir hold a file whose name contains tag? 1 yes, 0 no (or no such dir), -1 error. */
static int dir_has(const char *dir, const char *tag, GError **error)
{
	DIR *d = opendir(dir);

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		set_io_error(error, errno, "read directory", dir);
		return -1;
	}
	int found = 0;
	const struct dirent *e;
	errno = 0;
	while (found == 0 && (e = readdir(d)) != NULL)
		found = strstr(e->d_name, tag) != NULL;
	int err = errno;
	closedir(d);
	if (found == 0 && err != 0) {
		set_io_error(error, err, "read directory", dir);
		return -1;
	}
	return found;
}

static int maildir_exists(struct wb_target *t, const char *message_id, GError **error)
{
	static const char *const subs[] = { "new", "cur" };
	g_autofree char *tag = hash_tag(message_id);

	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *dir = g_build_filename(t->root, subs[i], NULL);
		int r = dir_has(dir, tag, error);
		if (r != 0)
			return r;
	}
	return 0;
}

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Write mail with every CRLF turned into LF, through a bounded buffer. */
static bool write_lf(int fd, const char *mail, size_t len)
{
	char buf[64 * 1024];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (mail[i] == '\r' && i + 1 < len && mail[i + 1] == '\n')
			continue;
		buf[n++] = mail[i];
		if (n == sizeof buf) {
			if (!write_all(fd, buf, n))
				return false;
			n = 0;
		}
	}
	return write_all(fd, buf, n);
}

/* Create tmp/name exclusively. A file of that name can only be left over from a crash
 * during the same second for the same Message-ID, so it is replaced. */
static int create_tmp(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 && errno == EEXIST) {
		(void)unlink(path);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	return fd;
}

static bool write_tmp(const char *path, const char *mail, size_t len, GError **error)
{
	int fd = create_tmp(path);

	if (fd < 0) {
		set_io_error(error, errno, "create", path);
		return false;
	}
	if (!write_lf(fd, mail, len) || fsync(fd) != 0) {
		int err = errno;
		close(fd);
		(void)unlink(path);
		set_io_error(error, err, "write", path);
		return false;
	}
	if (close(fd) != 0) {
		int err = errno;
		(void)unlink(path);
		set_io_error(error, err, "write", path);
		return false;
	}
	return true;
}

/* The rename is durable only once the directory holding the new name is on disk. */
static bool sync_dir(const char *dir, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		set_io_error(error, err, "sync directory", dir);
		return false;
	}
	close(fd);
	return true;
}

/* ---- flags ----------------------------------------------------------------------- */

/* The letter of an IMAP system flag, 0 for a keyword (or anything else). */
static char system_letter(const char *flag)
{
	static const struct {
		const char *flag;
		char letter;
	} map[] = {
		{ "\\Draft", 'D' }, { "\\Flagged", 'F' }, { "\\Answered", 'R' },
		{ "\\Seen", 'S' }, { "\\Deleted", 'T' },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
		if (g_ascii_strcasecmp(flag, map[i].flag) == 0)
			return map[i].letter;
	}
	return 0;
}

static bool flags_ok(const struct wb_target *t, const char *const *flags, bool *keywords,
		     GError **error)
{
	*keywords = false;
	for (size_t i = 0; flags != NULL && flags[i] != NULL; i++) {
		if (!wb_deliver_flag_ok(flags[i])) {
			g_autofree char *shown = g_strescape(flags[i], NULL);
			g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL,
				    "maildir %s: cannot set IMAP flag \"%.200s\"", t->root, shown);
			return false;
		}
		*keywords |= flags[i][0] != '\\';
	}
	return true;
}

/* A set of info letters: any byte but NUL and '/' may stand in a file name. */
typedef struct {
	bool on[256];
} letters;

static void letters_add(letters *l, const char *s)
{
	for (; *s != '\0'; s++)
		l->on[(unsigned char)*s] = true;
}

/* In ASCII order, as Maildir wants: system letters (uppercase) before keywords. */
static char *letters_str(const letters *l)
{
	GString *s = g_string_new(NULL);

	for (unsigned c = 1; c < G_N_ELEMENTS(l->on); c++) {
		if (l->on[c] && c != '/')
			g_string_append_c(s, (char)c);
	}
	return g_string_free(s, FALSE);
}

/* ---- dovecot-keywords and its lock ----------------------------------------------- */

struct keywords {
	char *name[KEYWORDS_MAX]; /* NULL: letter free */
	gint64 mtime;             /* of the file read, 0 when there was none */
	bool changed;
};

static void keywords_clear(struct keywords *k)
{
	for (size_t i = 0; i < KEYWORDS_MAX; i++)
		g_clear_pointer(&k->name[i], g_free);
}

/* Take the Maildir's dot-lock: create it exclusively, taking over a stale one. */
static bool lock_take(const struct wb_target *t, GError **error)
{
	g_autofree char *path = g_build_filename(t->root, LOCK_FILE, NULL);
	gint64 deadline = g_get_monotonic_time() + LOCK_WAIT_S * G_USEC_PER_SEC;

	for (;;) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			close(fd);
			return true;
		}
		if (errno != EEXIST) {
			set_io_error(error, errno, "create lock", path);
			return false;
		}
		struct stat st;
		if (lstat(path, &st) == 0 && wb_now() - (gint64)st.st_mtime > LOCK_STALE_S) {
			g_warning("maildir: taking over the stale lock %s", path);
			(void)unlink(path);
			continue;
		}
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_SOON,
				    "maildir: %s is still locked after %d s", path, LOCK_WAIT_S);
			return false;
		}
		g_usleep(50 * 1000);
	}
}

static void lock_release(const struct wb_target *t)
{
	g_autofree char *path = g_build_filename(t->root, LOCK_FILE, NULL);

	(void)unlink(path);
}

/* Read up to cap bytes of a regular file; ENOENT gives "" with *mtime 0. */
static char *read_small(const char *path, size_t cap, gint64 *mtime, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	*mtime = 0;
	if (fd < 0 && errno == ENOENT)
		return g_strdup("");
	if (fd < 0 || fstat(fd, &st) != 0) {
		set_io_error(error, errno, "read", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > cap) {
		close(fd);
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_LATER,
			    "maildir: %s is not a regular file of at most %zu bytes", path, cap);
		return NULL;
	}
	char *buf = g_malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_io_error(error, errno, "read", path);
			close(fd);
			g_free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*mtime = (gint64)st.st_mtime;
	return buf;
}

/* Lines "N name"; like Dovecot, lines that are not (N out of 0..25, no name) are
 * skipped and a later line for the same N wins. */
static bool keywords_read(const struct wb_target *t, struct keywords *k, GError **error)
{
	g_autofree char *path = g_build_filename(t->root, KEYWORDS_FILE, NULL);
	g_autofree char *text = read_small(path, KEYWORDS_FILE_MAX, &k->mtime, error);

	if (text == NULL)
		return false;
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (size_t i = 0; lines[i] != NULL; i++) {
		const char *sp = strchr(lines[i], ' ');
		if (sp == NULL || sp == lines[i] || sp - lines[i] > 2 || sp[1] == '\0')
			continue;
		unsigned idx = 0;
		bool digits = true;
		for (const char *p = lines[i]; p < sp; p++) {
			digits &= g_ascii_isdigit(*p);
			idx = idx * 10 + (unsigned)(*p - '0');
		}
		if (!digits || idx >= KEYWORDS_MAX)
			continue;
		g_free(k->name[idx]);
		k->name[idx] = g_strdup(sp + 1);
	}
	return true;
}

/* The letter of keyword kw, adding it at the lowest free index; 0 when all are taken. */
static char keywords_letter(struct keywords *k, const char *kw)
{
	int free_idx = -1;

	for (int i = 0; i < KEYWORDS_MAX; i++) {
		if (k->name[i] != NULL && g_ascii_strcasecmp(k->name[i], kw) == 0)
			return (char)('a' + i);
		if (k->name[i] == NULL && free_idx < 0)
			free_idx = i;
	}
	if (free_idx < 0)
		return 0;
	k->name[free_idx] = g_strdup(kw);
	k->changed = true;
	return (char)('a' + free_idx);
}

/* Replace dovecot-keywords through a temporary file. Its mtime must grow, or Dovecot,
 * which rereads the file only when its mtime changed, would miss the new names. */
static bool keywords_write(const struct wb_target *t, const struct keywords *k, GError **error)
{
	g_autofree char *path = g_build_filename(t->root, KEYWORDS_FILE, NULL);
	g_autofree char *tmp = g_build_filename(t->root, KEYWORDS_FILE ".lock", NULL);
	GString *text = g_string_new(NULL);

	for (unsigned i = 0; i < KEYWORDS_MAX; i++) {
		if (k->name[i] != NULL)
			g_string_append_printf(text, "%u %s\n", i, k->name[i]);
	}
	(void)unlink(tmp); /* left by a crash: we hold the Maildir's lock */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	bool ok = fd >= 0 && write_all(fd, text->str, text->len);
	struct stat st;
	if (ok && fstat(fd, &st) == 0 && k->mtime != 0 && (gint64)st.st_mtime <= k->mtime) {
		const struct timespec times[2] = { { .tv_nsec = UTIME_OMIT },
						   { .tv_sec = (time_t)(k->mtime + 1) } };
		ok = futimens(fd, times) == 0;
	}
	ok = ok && fsync(fd) == 0;
	int err = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		err = errno;
	}
	g_string_free(text, TRUE);
	if (!ok) {
		(void)unlink(tmp);
		set_io_error(error, err, "write", path);
		return false;
	}
	return sync_dir(t->root, error);
}

/* The info letters for flags: system letters and the keywords' letters from
 * dovecot-keywords (written back when keywords were added). strict: a keyword without a
 * free letter is an error, else it is left out with a warning. Call under the lock. */
static bool flag_letters(const struct wb_target *t, const char *const *flags, bool strict,
			 letters *out, GError **error)
{
	struct keywords k = { 0 };
	bool ok = true, have_keywords = false;

	for (size_t i = 0; flags != NULL && flags[i] != NULL; i++) {
		char c = system_letter(flags[i]);
		if (c != 0)
			out->on[(unsigned char)c] = true;
		have_keywords |= c == 0;
	}
	if (have_keywords)
		ok = keywords_read(t, &k, error);
	for (size_t i = 0; ok && have_keywords && flags[i] != NULL; i++) {
		if (system_letter(flags[i]) != 0)
			continue;
		char c = keywords_letter(&k, flags[i]);
		if (c != 0) {
			out->on[(unsigned char)c] = true;
		} else if (strict) {
			g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_LATER,
				    "maildir %s: all %d keyword letters of " KEYWORDS_FILE
				    " are taken; cannot add %s", t->root, KEYWORDS_MAX, flags[i]);
			ok = false;
		} else {
			g_warning("maildir %s: all %d keyword letters of " KEYWORDS_FILE " are "
				  "taken; %s is not stored", t->root, KEYWORDS_MAX, flags[i]);
		}
	}
	if (ok && k.changed)
		ok = keywords_write(t, &k, error);
	keywords_clear(&k);
	return ok;
}

/* ---- deliver --------------------------------------------------------------------- */

static bool maildir_deliver(struct wb_target *t, const char *mail, size_t len,
			    const char *const *flags, struct wb_delivered *out, GError **error)
{
	g_autofree char *mid = wb_deliver_message_id_of(mail, len);
	if (mid == NULL) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL,
			    "maildir: mail for %s has no Message-ID", t->root);
		return false;
	}
	bool keywords = false;
	if (!flags_ok(t, flags, &keywords, error))
		return false;
	/* The lock covers dovecot-keywords only: letters once given are never taken back. */
	letters l = { 0 };
	if (keywords && !lock_take(t, error))
		return false;
	bool ok = flag_letters(t, flags, false, &l, error);
	if (keywords)
		lock_release(t);
	if (!ok)
		return false;

	g_autofree char *tag = hash_tag(mid);
	g_autofree char *info = letters_str(&l);
	g_autofree char *name = g_strdup_printf("%" G_GINT64_FORMAT "%s%s", wb_now(), tag,
						t->host);
	g_autofree char *final = g_strdup_printf("%s%s%s", name, info[0] ? ":2," : "", info);
	/* Flagged mail goes straight to cur/: new/ is for mail nobody has seen yet. */
	g_autofree char *dir = g_build_filename(t->root, info[0] ? "cur" : "new", NULL);
	g_autofree char *tmp = g_build_filename(t->root, "tmp", name, NULL);
	g_autofree char *dst = g_build_filename(dir, final, NULL);

	if (!write_tmp(tmp, mail, len, error))
		return false;
	if (rename(tmp, dst) != 0) {
		int err = errno;
		(void)unlink(tmp);
		set_io_error(error, err, "move mail into", dst);
		return false;
	}
	if (!sync_dir(dir, error))
		return false;
	*out = (struct wb_delivered){ .location = g_steal_pointer(&dst) };
	return true;
}

/* ---- set_flags ------------------------------------------------------------------- */

/* Names in dir that contain tag (none when dir is missing); NULL on error (set). */
static GPtrArray *names_with(const char *dir, const char *tag, GError **error)
{
	DIR *d = opendir(dir);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

	if (d == NULL) {
		if (errno == ENOENT)
			return names;
		set_io_error(error, errno, "read directory", dir);
		g_ptr_array_unref(names);
		return NULL;
	}
	const struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, tag) != NULL)
			g_ptr_array_add(names, g_strdup(e->d_name));
	}
	int err = errno;
	closedir(d);
	if (err != 0) {
		set_io_error(error, err, "read directory", dir);
		g_ptr_array_unref(names);
		return NULL;
	}
	return names;
}

/* name ("base" or "base:2,letters") with add merged into its letters and del taken out;
 * NULL when its info part is some other (experimental) kind. *same: nothing changes. */
static char *merged_name(const char *name, const letters *add, const letters *del, bool *same)
{
	const char *colon = strchr(name, ':');
	letters l = *add;

	if (colon != NULL && !g_str_has_prefix(colon, ":2,"))
		return NULL;
	if (colon != NULL)
		letters_add(&l, colon + 3);
	for (size_t c = 0; c < G_N_ELEMENTS(l.on); c++)
		l.on[c] = l.on[c] && !del->on[c];
	g_autofree char *info = letters_str(&l);
	size_t base = colon != NULL ? (size_t)(colon - name) : strlen(name);
	char *merged = g_strdup_printf("%.*s:2,%s", (int)base, name, info);
	*same = colon != NULL ? strcmp(merged, name) == 0 : info[0] == '\0';
	return merged;
}

/* Rename the file sub/name to cur/ with add merged in and del taken out. 1 done or
 * nothing to do, 0 it is gone (a client renamed it: look again), -1 error (set). */
static int update_one(const struct wb_target *t, const char *sub, const char *name,
		      const letters *add, const letters *del, bool *moved, GError **error)
{
	bool same = false;
	g_autofree char *merged = merged_name(name, add, del, &same);
	g_autofree char *from = g_build_filename(t->root, sub, name, NULL);

	if (merged == NULL) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL,
			    "maildir: %s has an info part other than \":2,\"", from);
		return -1;
	}
	if (same)
		return 1;
	g_autofree char *to = g_build_filename(t->root, "cur", merged, NULL);
	if (rename(from, to) == 0) {
		*moved = true;
		return 1;
	}
	if (errno == ENOENT)
		return 0;
	set_io_error(error, errno, "rename mail to", to);
	return -1;
}

/* Give every file of the mail (tag) the letters add, without the letters del. 1 done,
 * 0 no such file, -1 error. */
static int update_all(const struct wb_target *t, const char *tag, const letters *add,
		      const letters *del, GError **error)
{
	static const char *const subs[] = { "new", "cur" };
	bool moved = false;
	int result = 0;

	for (int tries = 0; tries < RENAME_TRIES; tries++) {
		bool again = false;
		result = 0;
		for (size_t i = 0; i < G_N_ELEMENTS(subs) && result >= 0; i++) {
			g_autofree char *dir = g_build_filename(t->root, subs[i], NULL);
			g_autoptr(GPtrArray) names = names_with(dir, tag, error);
			if (names == NULL)
				return -1;
			for (guint j = 0; j < names->len && result >= 0; j++) {
				int r = update_one(t, subs[i], names->pdata[j], add, del, &moved,
						 error);
				if (r < 0)
					return -1;
				again |= r == 0;
				result = MAX(result, r);
			}
		}
		if (!again)
			break;
	}
	if (moved) {
		g_autofree char *cur = g_build_filename(t->root, "cur", NULL);
		g_autofree char *new = g_build_filename(t->root, "new", NULL);
		if (!sync_dir(cur, error) || !sync_dir(new, error))
			return -1;
	}
	return result;
}

/* The letters flags have now, without adding any keyword to dovecot-keywords: a keyword
 * it does not list is on no mail. Call under the lock. */
static bool known_letters(const struct wb_target *t, const char *const *flags, letters *out,
			  GError **error)
{
	struct keywords k = { 0 };
	bool ok = keywords_read(t, &k, error);
	for (size_t i = 0; ok && flags[i] != NULL; i++) {
		char c = system_letter(flags[i]);
		for (int n = 0; c == 0 && n < KEYWORDS_MAX; n++)
			if (k.name[n] != NULL && g_ascii_strcasecmp(k.name[n], flags[i]) == 0)
				c = (char)('a' + n);
		if (c != 0)
			out->on[(unsigned char)c] = true;
	}
	keywords_clear(&k);
	return ok;
}

static int change_flags(struct wb_target *t, const char *message_id, const char *const *flags,
			bool remove, GError **error)
{
	if (!wb_deliver_message_id_ok(message_id)) {
		g_autofree char *shown = g_strescape(message_id, NULL);
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL,
			    "maildir %s: not a usable Message-ID: \"%.200s\"", t->root, shown);
		return -1;
	}
	bool keywords = false;
	if (!flags_ok(t, flags, &keywords, error))
		return -1;
	/* No mail, no new keyword in dovecot-keywords. */
	int found = maildir_exists(t, message_id, error);
	if (found <= 0)
		return found;
	g_autofree char *tag = hash_tag(message_id);
	letters add = { 0 }, del = { 0 };
	if (!lock_take(t, error))
		return -1;
	bool ok = remove ? known_letters(t, flags, &del, error)
			 : flag_letters(t, flags, true, &add, error);
	int r = ok ? update_all(t, tag, &add, &del, error) : -1;
	lock_release(t);
	return r;
}

static int maildir_set_flags(struct wb_target *t, const char *message_id,
			     const char *const *flags, GError **error)
{
	return change_flags(t, message_id, flags, false, error);
}

static int maildir_clear_flags(struct wb_target *t, const char *message_id,
			       const char *const *flags, GError **error)
{
	return change_flags(t, message_id, flags, true, error);
}

const struct wb_deliver_ops wb_deliver_maildir = {
	.name = "maildir",
	.open = maildir_open,
	.exists = maildir_exists,
	.deliver = maildir_deliver,
	.set_flags = maildir_set_flags,
	.clear_flags = maildir_clear_flags,
	.close = maildir_close,
};
