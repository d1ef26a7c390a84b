/* serious: the serious-crime list ([bridge] serious_keywords_file, SPEC §4 and §7) and its
 * matcher. A text or caption holding one of the list's entries escalates at once.
 *
 * The list is a UTF-8 file an admin edits: one entry a line, # comment lines, blank lines;
 * the format is described at the top of src/serious.c and of templates/serious-keywords.txt
 * (the built-in list). A loaded list never changes: every thread may match against it at
 * once, without a lock. */
#ifndef WB_SERIOUS_H
#define WB_SERIOUS_H

#include <glib.h>

struct wb_serious;

/* Load the list from path, or the built-in list when path is NULL. NULL with an error
 * naming FILE:LINE and what is wrong (bad entry, not UTF-8, too long, too many); every bad
 * line is named, up to WB_SERIOUS_MAX_PROBLEMS, separated by "; ". The built-in list is
 * compiled once per process and shared: loading it again is cheap. Either way the result
 * is the caller's, to be given back with wb_serious_free(). */
struct wb_serious *wb_serious_load(const char *path, GError **error);
void wb_serious_free(struct wb_serious *s);
typedef struct wb_serious wb_serious;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_serious, wb_serious_free)

/* The list's entries found in text (as written in the list), each once, in order of first
 * appearance; NULL when none. text may be any bytes (invalid UTF-8 is repaired first);
 * only its first WB_SERIOUS_SCAN_BYTES are looked at. The caller frees the result with
 * g_strfreev(). Safe from several threads at once. */
char **wb_serious_match(const struct wb_serious *s, const char *text);

/* Number of entries in the list (duplicates counted once). */
unsigned wb_serious_count(const struct wb_serious *s);

#endif
