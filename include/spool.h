/* spool: the files that keep a medium, and the mail made from it, out of memory.
 *
 * Design rationale: a citizen's document runs to 100 MiB, a video to 32 MiB. Held in
 * memory, such a medium cost the daemon several times its size (the download, the mail
 * with it in base64, the copies made on the way to the mailbox and into the state
 * database). Instead the pipeline downloads a medium into a spool file, renders the mail
 * into another spool file (reading the medium from its file as the base64 is written),
 * and hands the mailbox a read-only mapping of that file. What the daemon then holds is a
 * few buffers; the mapped pages are the kernel's page cache, clean, and gone when the
 * mapping is (one mail at a time).
 *
 * The rendered mail stays in the spool, not in the state database, until its message is
 * delivered or has failed for good: a retry sends the same bytes without fetching the
 * medium again. A file is complete under its name or not there: it is synced before it
 * is renamed to it.
 *
 * Files, all in one directory ([bridge] spool_dir; default <data_dir>/spool; created
 * with mode 0700):
 *   mail-ID.STATION.REF.eml     the mail of message ID, rendered for that station and
 *                               complaint (characters other than letters, digits, _ and -
 *                               written %XX): a transfer or a split changes the name, so
 *                               the message is rendered again for where it goes now
 *   tmp-PID-WHAT-ID-XXXXXX      a download (WHAT "media") or a rendering ("mail") under
 *                               way in process PID
 * wb_spool_sweep() removes the temporary files of processes that are gone, and the mails
 * that no message needs any more. Errors are G_IO_ERROR, with the file in the message.
 * Nothing but wabridge may write in the spool: a mapped file cut short under its reader
 * would end the process (SIGBUS). Removing a file is harmless: a mapping keeps it. */
#ifndef WB_SPOOL_H
#define WB_SPOOL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Creates dir, and its parents, with mode 0700 when it is missing. */
bool wb_spool_ready(const char *dir, GError **error);

/* A new, empty temporary file in dir for what ("media", "mail") of message id, open for
 * reading and writing; its path in *path (newly allocated). -1 with error. */
int wb_spool_temp(const char *dir, const char *what, int64_t id, char **path, GError **error);

/* The path of message id's mail rendered for station and ref (either may be NULL).
 * Newly allocated. */
char *wb_spool_mail_path(const char *dir, int64_t id, const char *station, const char *ref);

/* Makes the temporary file tmp, open as fd, the complete file path: syncs it, closes fd
 * (also on failure) and renames it. On failure tmp is removed. */
bool wb_spool_commit(int fd, const char *tmp, const char *path, GError **error);

/* The bytes of the file at path as a read-only mapping, released (unmapped) with the
 * last reference. NULL with G_IO_ERROR_NOT_FOUND when there is no such file. */
GBytes *wb_spool_map(const char *path, GError **error);

/* While a mapping from wb_spool_map() is read through once (delivered, then digested),
 * the pages already read are let go every few milliseconds by a thread of its own
 * (madvise MADV_DONTNEED: for a read-only file mapping this only drops the page table
 * entries; a later read finds the same bytes in the page cache). The resident size of
 * the process then stays at a few MiB whatever the mail's size, instead of growing to
 * all of it. Holds a reference to mapping until stopped. Never for memory that is not
 * such a mapping (MADV_DONTNEED would zero it). */
struct wb_spool_drop;
struct wb_spool_drop *wb_spool_drop_behind(GBytes *mapping);
/* Stops it (NULL: nothing to stop) and lets the reference go. */
void wb_spool_drop_stop(struct wb_spool_drop *d);

/* Removes a spool file; one already gone is no error. A failure is logged. */
void wb_spool_remove(const char *path);

/* Does message id still need its mail spooled under the name `name` (the file's name,
 * without the directory)? */
typedef bool wb_spool_keep_fn(int64_t id, const char *name, void *user);

/* Removes from dir the temporary files of processes that are gone and each mail for which
 * keep answers false; a missing dir holds nothing. Returns how many files went. */
unsigned wb_spool_sweep(const char *dir, wb_spool_keep_fn *keep, void *user);

#endif
