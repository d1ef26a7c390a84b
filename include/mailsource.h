/* mailsource: reading mail back from the places archivists keep it — a Maildir, a
 * directory of .eml files, one .eml file, an mbox file, or a station's own mailbox
 * (its IMAP folder or its Maildir) — for `wabridge verify` and `wabridge export`.
 *
 * Contract:
 * - Every mail found is handed to a callback, one at a time, in a stable order (file
 *   names sorted bytewise; mbox order; IMAP UID order). The GBytes belongs to us and
 *   lives until the callback returns (g_bytes_ref() it to keep it); where likewise.
 *   A callback returning false stops the walk: the function returns false with the
 *   callback's error as it was set (any domain), or none if it set none.
 * - Nothing is ever changed: files are opened read-only, IMAP folders are EXAMINEd and
 *   fetched with BODY.PEEK[], so no flag (\Seen included) moves.
 * - The kind of a PATH is decided from its content: a directory with cur/ and new/
 *   directories is a Maildir, another directory is read for its *.eml files (name
 *   compared without case); a file whose first line starts "From " is an mbox, a file
 *   starting with a header field ("Name:") is one mail; anything else is not mail.
 * - Hostile input: no mail is held over WB_MAX_MAIL_BYTES (caps.h). Inside a
 *   directory or an mbox, a mail over the cap, a file that is not mail (empty, binary),
 *   a symlink (never followed out of the directory named: a Maildir's files are never
 *   links), a FIFO or other special file is skipped with a warning naming where it is,
 *   and the walk goes on: one bad entry does not hide the rest. The PATH itself is
 *   followed when it is a link, and when it is one file that is not mail or is over
 *   the cap the call fails (WB_MAILSOURCE_FAILED). A file in a directory that cannot
 *   be read (permissions, I/O error) stops the walk (WB_MAILSOURCE_FAILED): the
 *   answer would be incomplete. An IMAP mail over the cap (by RFC822.SIZE, or by what
 *   the server sends) is skipped with a warning too.
 * - mbox: a mail starts at a "From " line that is the first line of the file or
 *   follows an empty line; the "From " line is not part of the mail, nor is the empty
 *   line before the next one. ">From ", ">>From " ... lose one '>' (mboxrd). The last
 *   mail is truncated when the file does not end with the empty line every mbox writer
 *   puts after a mail (cut mid-line or mid-mail); it is still handed over, marked.
 * - IMAP uses the station's login and the [imap] server and TLS rules (imapconn.h);
 *   error messages name server, user, folder and command, never the password. */
#ifndef WB_MAILSOURCE_H
#define WB_MAILSOURCE_H

#include <glib.h>
#include <stdbool.h>

#include "config.h"

#define WB_MAILSOURCE_ERROR (wb_mailsource_error_quark())
GQuark wb_mailsource_error_quark(void);
enum {
	WB_MAILSOURCE_NO_INPUT = 1, /* no such file/dir/folder, or unreadable PATH: `verify` exits 66 */
	WB_MAILSOURCE_FAILED        /* read error, server trouble, PATH not mail */
};

/* One mail found. where: a human-readable place ("PATH", "PATH (mbox mail 3, line 120)",
 * "imap://host:port/INBOX;UIDVALIDITY=v;UID=n", a Maildir file path). mail: the bytes as
 * stored (line ends as the store has them). truncated: the source ended inside this mail
 * (an mbox cut short), so the bytes are incomplete. skipped: NULL, or for an entry that
 * is not usable mail (empty, not mail, over the size limit, a symbolic link, not a
 * regular file, a body the server did not send) why, with mail NULL: a checker can count
 * it (it is also logged as a warning). Return false (error set) to stop. */
typedef bool (*wb_mail_cb)(const char *where, GBytes *mail, bool truncated,
			   const char *skipped, void *data,
			   GError **error);

/* Every mail under PATH: a Maildir (cur/ and new/ together, sorted by file name), a
 * directory of *.eml files, a single .eml file or an mbox file. A PATH that does not
 * exist or cannot be opened, or a directory that is neither a Maildir nor holds any
 * *.eml file, is WB_MAILSOURCE_NO_INPUT. An empty Maildir is no error. */
bool wb_mailsource_path(const char *path, wb_mail_cb cb, void *data, GError **error);

/* Every mail in a station's mailbox: its IMAP folder (deliver = imap: [imap] url, the
 * station's imap_user, imap_password_file, folder; EXAMINE read-only, UID FETCH
 * BODY.PEEK[] in batches so flags never change) or its Maildir (deliver = maildir). A
 * folder or Maildir that does not exist is WB_MAILSOURCE_NO_INPUT. */
bool wb_mailsource_station(const struct wb_config *cfg, const struct wb_station *st,
			   wb_mail_cb cb, void *data, GError **error);

/* One mail of a station's mailbox by Message-ID (without <>), compared exactly: *mail
 * NULL (and *where NULL) and true when it is not there; otherwise the first one found,
 * both newly allocated (g_bytes_unref, g_free). IMAP: UID SEARCH HEADER Message-ID, each
 * hit checked; Maildir: the headers of every mail. A missing folder or Maildir is
 * WB_MAILSOURCE_NO_INPUT; a message_id deliver.h would refuse is WB_MAILSOURCE_FAILED. */
bool wb_mailsource_fetch(const struct wb_config *cfg, const struct wb_station *st,
			 const char *message_id, GBytes **mail, char **where, GError **error);

#endif
