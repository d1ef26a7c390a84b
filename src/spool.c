/* spool: media and rendered mails in files (contract and design in spool.h). */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAIL_PREFIX "mail-"
#define MAIL_SUFFIX ".eml"
#define TMP_PREFIX "tmp-"

static bool io_error(GError **error, int err, const char *what, const char *path)
{
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "spool: cannot %s %s: %s",
		    what, path, g_strerror(err));
	return false;
}

bool wb_spool_ready(const char *dir, GError **error)
{
	if (g_mkdir_with_parents(dir, 0700) == 0)
		return true;
	return io_error(error, errno, "create the directory", dir);
}

int wb_spool_temp(const char *dir, const char *what, int64_t id, char **path, GError **error)
{
	*path = NULL;
	if (!wb_spool_ready(dir, error))
		return -1;
	g_autofree char *name = g_strdup_printf(TMP_PREFIX "%ld-%s-%" G_GINT64_FORMAT "-XXXXXX",
						(long)getpid(), what, (gint64)id);
	char *p = g_build_filename(dir, name, NULL);
	int fd = g_mkstemp_full(p, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		io_error(error, errno, "create a file in", dir);
		g_free(p);
		return -1;
	}
	*path = p;
	return fd;
}

/* A name's part, with anything but letters, digits, _ and - as %XX (so '.' and '/'
 * never occur in it, and two different values never give the same part). */
static void append_part(GString *s, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)(v ? v : "-"); *p; p++) {
		if (g_ascii_isalnum(*p) || *p == '_' || *p == '-')
			g_string_append_c(s, (char)*p);
		else
			g_string_append_printf(s, "%%%02X", *p);
	}
}

char *wb_spool_mail_path(const char *dir, int64_t id, const char *station, const char *ref)
{
	GString *name = g_string_new(NULL);
	g_string_printf(name, MAIL_PREFIX "%" G_GINT64_FORMAT ".", (gint64)id);
	append_part(name, station);
	g_string_append_c(name, '.');
	append_part(name, ref);
	g_string_append(name, MAIL_SUFFIX);
	char *path = g_build_filename(dir, name->str, NULL);
	g_string_free(name, TRUE);
	return path;
}

bool wb_spool_commit(int fd, const char *tmp, const char *path, GError **error)
{
	bool ok = fsync(fd) == 0 || io_error(error, errno, "write", tmp);
	if (close(fd) != 0 && ok)
		ok = io_error(error, errno, "write", tmp);
	if (ok && rename(tmp, path) != 0)
		ok = io_error(error, errno, "rename into place", tmp);
	if (!ok)
		wb_spool_remove(tmp);
	return ok;
}

GBytes *wb_spool_map(const char *path, GError **error)
{
	GError *e = NULL;
	GMappedFile *f = g_mapped_file_new(path, FALSE, &e);
	if (!f) {
		int err = e->domain == G_FILE_ERROR && e->code == G_FILE_ERROR_NOENT ? ENOENT : EIO;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "spool: %s", e->message);
		g_error_free(e);
		return NULL;
	}
	GBytes *b = g_mapped_file_get_bytes(f);
	g_mapped_file_unref(f);
	return b;
}

/* ---- reading a mapping through --------------------------------------------------------- */

#define DROP_EVERY_US (10 * 1000) /* a back end reads some MiB in that time */

struct wb_spool_drop {
	GBytes *mapping;
	GThread *thread;
	GMutex lock;
	GCond cond;
	bool stop;
};

static gpointer drop_loop(gpointer p)
{
	struct wb_spool_drop *d = p;
	gsize len;
	const void *data = g_bytes_get_data(d->mapping, &len);
	g_mutex_lock(&d->lock);
	while (!d->stop) {
		/* Only a hint: should the kernel refuse, the pages stay until the unmap. */
		(void)madvise((void *)data, len, MADV_DONTNEED);
		g_cond_wait_until(&d->cond, &d->lock, g_get_monotonic_time() + DROP_EVERY_US);
	}
	g_mutex_unlock(&d->lock);
	return NULL;
}

struct wb_spool_drop *wb_spool_drop_behind(GBytes *mapping)
{
	if (!mapping || g_bytes_get_size(mapping) == 0)
		return NULL;
	struct wb_spool_drop *d = g_new0(struct wb_spool_drop, 1);
	d->mapping = g_bytes_ref(mapping);
	g_mutex_init(&d->lock);
	g_cond_init(&d->cond);
	d->thread = g_thread_new("spool-drop", drop_loop, d);
	return d;
}

void wb_spool_drop_stop(struct wb_spool_drop *d)
{
	if (!d)
		return;
	g_mutex_lock(&d->lock);
	d->stop = true;
	g_cond_signal(&d->cond);
	g_mutex_unlock(&d->lock);
	g_thread_join(d->thread);
	g_mutex_clear(&d->lock);
	g_cond_clear(&d->cond);
	g_bytes_unref(d->mapping);
	g_free(d);
}

void wb_spool_remove(const char *path)
{
	if (path && g_unlink(path) != 0 && errno != ENOENT)
		g_warning("spool: cannot remove %s: %s", path, g_strerror(errno));
}

/* ---- the sweep ---------------------------------------------------------------------- */

/* Is process pid (from a temporary file's name) still there? */
static bool pid_alive(gint64 pid)
{
	if (pid <= 0 || pid > G_MAXINT)
		return false;
	return pid == getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Should the file `name` in the spool go? Names the spool does not make stay. */
static bool stale(const char *name, wb_spool_keep_fn *keep, void *user)
{
	char *end = NULL;
	if (g_str_has_prefix(name, TMP_PREFIX)) {
		gint64 pid = g_ascii_strtoll(name + strlen(TMP_PREFIX), &end, 10);
		return end && *end == '-' && !pid_alive(pid);
	}
	if (!g_str_has_prefix(name, MAIL_PREFIX) || !g_str_has_suffix(name, MAIL_SUFFIX))
		return false;
	gint64 id = g_ascii_strtoll(name + strlen(MAIL_PREFIX), &end, 10);
	return end && *end == '.' && id > 0 && !keep(id, name, user);
}

unsigned wb_spool_sweep(const char *dir, wb_spool_keep_fn *keep, void *user)
{
	GError *e = NULL;
	GDir *d = g_dir_open(dir, 0, &e);
	if (!d) {
		if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_warning("spool: cannot look through %s: %s", dir, e->message);
		g_error_free(e);
		return 0;
	}
	unsigned gone = 0;
	const char *name;
	while ((name = g_dir_read_name(d))) {
		if (!stale(name, keep, user))
			continue;
		g_autofree char *path = g_build_filename(dir, name, NULL);
		if (g_unlink(path) == 0)
			gone++;
		else if (errno != ENOENT)
			g_warning("spool: cannot remove %s: %s", path, g_strerror(errno));
	}
	g_dir_close(d);
	return gone;
}
