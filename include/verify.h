/* verify: `wabridge verify`, bridge mail checked against the custody journal and the store.
 *
 * Each mail read (mailsource.h: a station's mailbox, Maildirs, mbox files, .eml files)
 * is found by its Message-ID among the recorded deliveries (store_deliveries.c) and
 * judged:
 *   intact   its bytes are those delivered (canonical line ends); or they differ only in
 *            what mail software adds when it files a mail (an mbox's headers), and every
 *            header and part the bridge wrote is unchanged;
 *   altered  anything else, with what differs: a header (was, now), a part swapped,
 *            added or removed, a medium whose bytes no longer match the SHA-256 in its
 *            Content-Description or the hash recorded when it was fetched, a
 *            whatsapp-message.json that is not the message in the stored webhook body, an
 *            X-Payload-SHA256 naming a body the bridge never received, a delivery record
 *            that no longer fits its journal entry, a mail cut short;
 *   unknown  not a mail, or a mail the journal has no delivery of (another's mail in the
 *            folder, or one made to look like the bridge's);
 *   missing  (a station's mailbox) delivered there, per the journal, but not found.
 * Anchor mails of the journal (anchor.h) are checked against the chain.
 *
 * One line per problem, then a summary; with verbose, a line per intact mail too. */
#ifndef WB_VERIFY_H
#define WB_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

#define WB_VERIFY_PROBLEMS 1 /* exit code: problems found (SPEC §2) */

/* station: a station key or NULL; paths: NULL-terminated, may be empty. With a station
 * and no paths, its configured mailbox is read; with paths, those are taken as (copies
 * of) its mailbox. Returns the exit code: 0 all intact, WB_VERIFY_PROBLEMS, EX_NOINPUT
 * (no such input or station), EX_TEMPFAIL (mailbox or store unreachable). */
int wb_verify(const struct wb_config *cfg, struct wb_store *store, const char *station,
	      char *const *paths, bool verbose, FILE *out);

#endif
