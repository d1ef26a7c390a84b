/* outbox: sending what officers' replies queued, and writing what became of it into the
 * complaint's thread.
 *
 * One pass: (1) sends interrupted by a crash and not confirmed by a status webhook
 * within WB_SEND_CONFIRM_GRACE become `unknown` (never sent again by themselves);
 * (2) due sends go to the Graph API (or the dry-run sender), each committed as `sending`
 * before the call, with "wb-outbox-<id>" in biz_opaque_callback_data; (3) every send
 * whose state the mailbox does not show yet gets its note: the record mail appended into
 * the thread once WhatsApp accepted it, keywords ($WA_Delivered, $WA_Read) on the record
 * as statuses come, and on failure a notice into the thread with $WA_SendFailed on the
 * complaint's first mail; (4) the queued mailbox operations are carried out. */
#ifndef WB_OUTBOX_H
#define WB_OUTBOX_H

#include <glib.h>
#include <stdbool.h>

#include "config.h"
#include "render.h"
#include "store.h"

#define WB_SEND_CONFIRM_GRACE (30 * 60) /* seconds an interrupted send waits for a status */
#define WB_MAILOP_GIVE_UP (7 * 86400)   /* a mail to flag that never appears: give up */

struct wb_outbox_result {
	unsigned sent, retrying, failed, unknown, notes, mailops_done, mailops_waiting;
	bool token_problem;  /* the Graph API refused the access token: sending stopped */
};

/* stop (may be NULL) is read between sends. False only when the store fails. */
bool wb_outbox_pass(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
		    struct wb_outbox_result *res, GError **error);

/* The subject (after "[REF] ") of the mail the complaint's thread gets when send o
 * moves from the state its mailbox shows (o->noted) to o->state; NULL when that change
 * needs no mail (it shows as a tag). Pure; newly allocated. */
char *wb_outbox_note_subject(const struct wb_outbox *o);

#endif
