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
 *
 * Deviations: IMAP system flags map to the standard info letters (\Seen → S, ...);
 * $keywords cannot be stored in a plain Maildir (Dovecot keeps their letters in its own
 * dovecot-keywords file, which is not ours to write), so they are ignored here. */
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

/* Start of the line after the one at p (end if none). */
static const char *next_line(const char *p, const char *end)
{
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	return eol != NULL ? eol + 1 : end;
}

/* The Message-ID of a mail (without <>), from its header, folded or not; NULL if none. */
static char *find_message_id(const char *mail, size_t len)
{
	static const char name[] = "message-id:";
	const char *p = mail, *end = mail + len;

	while (p < end && *p != '\r' && *p != '\n') {
		const char *next = next_line(p, end);
		if ((size_t)(end - p) >= sizeof name - 1 &&
		    g_ascii_strncasecmp(p, name, sizeof name - 1) == 0) {
			while (next < end && (*next == ' ' || *next == '\t'))
				next = next_line(next, end);
			const char *lt = memchr(p, '<', (size_t)(next - p));
			const char *gt = lt != NULL ? memchr(lt, '>', (size_t)(next - lt)) : NULL;
			return gt != NULL ? g_strndup(lt + 1, (size_t)(gt - lt - 1)) : NULL;
		}
		p = next;
	}
	return NULL;
}

/* Info letters for IMAP system flags, in the ASCII order Maildir wants. */
static char *info_letters(const char *const *flags)
{
	static const struct {
		const char *flag;
		char letter;
	} map[] = {
		{ "\\Draft", 'D' }, { "\\Flagged", 'F' }, { "\\Answered", 'R' },
		{ "\\Seen", 'S' }, { "\\Deleted", 'T' },
	};
	GString *s = g_string_new(NULL);

	for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
		for (size_t j = 0; flags != NULL && flags[j] != NULL; j++) {
			if (g_ascii_strcasecmp(flags[j], map[i].flag) == 0) {
				g_string_append_c(s, map[i].letter);
				break;
			}
		}
	}
	return g_string_free(s, FALSE);
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

static bool maildir_deliver(struct wb_target *t, const char *mail, size_t len,
			    const char *const *flags, struct wb_delivered *out, GError **error)
{
	g_autofree char *mid = find_message_id(mail, len);
	if (mid == NULL) {
		g_set_error(error, WB_DELIVER_ERROR, WB_FAIL_FINAL,
			    "maildir: mail for %s has no Message-ID", t->root);
		return false;
	}
	g_autofree char *tag = hash_tag(mid);
	g_autofree char *info = info_letters(flags);
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

const struct wb_deliver_ops wb_deliver_maildir = {
	.name = "maildir",
	.open = maildir_open,
	.exists = maildir_exists,
	.deliver = maildir_deliver,
	.close = maildir_close,
};
