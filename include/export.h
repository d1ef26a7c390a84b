/* export: `wabridge export`, an evidence package of bridge mail for a court or an
 * inquiry.
 *
 * The deliveries selected (one complaint's, or one station's between two days) are read
 * back from the mailbox of the station each went to (mailsource.h) and checked against
 * their delivery records and the custody journal; the package holds what the mailbox
 * has, plainly marked when it is not what was delivered. Layout of DIR (README: Evidence
 * package):
 *
 *   mails/NNN-<Message-ID>.eml        each mail as the mailbox holds it, in delivery order
 *   webhooks/<sha256>.json            each webhook body byte for byte, named by its hash
 *   media/NNN-<part>-<file name>      each medium's decoded bytes (from its mail)
 *   journal.jsonl                     the custody journal entries concerned, one a line
 *   report.txt                        per mail: intact, altered (what) or MISSING
 *   certificate.txt, certificate.html a sheet for section 63 of the Bharatiya Sakshya
 *                                     Adhiniyam 2023, for the responsible officer to
 *                                     complete and sign
 *   MANIFEST                          "HEX  path" (sha256sum -c) of every other file
 *
 * File names are built from [A-Za-z0-9._-] only: nothing from outside can name a path. */
#ifndef WB_EXPORT_H
#define WB_EXPORT_H

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

struct wb_export_opts {
	const char *ref;        /* a complaint reference; or NULL, and then: */
	const char *station;    /* a station key, with */
	const char *from, *to;  /* YYYY-MM-DD, whole days in [bridge] timezone, inclusive */
	const char *dir;        /* the package directory (made; must not hold anything) */
	bool tar;               /* also DIR.tar */
};

/* Make the package and print a summary to out (warnings to stderr). Returns the exit
 * code: 0 (also when mails are missing from the mailbox: the report says so), EX_USAGE
 * (bad dates, unknown station), EX_NOUSER (unknown REF), EX_CANTCREAT (DIR not empty,
 * DIR.tar exists, cannot write), EX_TEMPFAIL (mailbox or store unreachable). */
int wb_export(const struct wb_config *cfg, struct wb_store *store,
	      const struct wb_export_opts *o, FILE *out);

/* s with every byte outside [A-Za-z0-9._-] made '_', leading dots made '_', cut to
 * max bytes (at least 1); "_" for an empty s. Newly allocated. */
char *wb_export_safe_name(const char *s, size_t max);

/* [*start, *end): from 00:00 of day `from` to 00:00 of the day after `to` in zone.
 * False with a message for a date that is not YYYY-MM-DD or not a day, or from > to. */
bool wb_export_days(const char *from, const char *to, const char *zone, gint64 *start,
		    gint64 *end, GError **error);

/* A POSIX ustar archive at tar_path of the files rels (paths relative to dir, sorted
 * here), each stored as "top/REL", with the directories leading to them; uid/gid 0,
 * mode 0644 (files) and 0755 (directories), mtime fixed: the same files give the same
 * bytes. Written to tar_path.tmp and renamed. */
bool wb_ustar_write(const char *tar_path, const char *dir, const char *top, GPtrArray *rels,
		    gint64 mtime, GError **error);

#endif
