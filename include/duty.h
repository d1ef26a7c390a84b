/* duty: the station's duty of care, kept by the bridge so that nobody in the station has
 * to watch a clock (SPEC §7 "Timely").
 *
 * For each open complaint, one pass:
 * - reads the messages that came since the last look: a text or caption with a word of
 *   the serious-crime list (serious.h) escalates the complaint at once;
 * - acknowledges it to the citizen once ([bridge] send_ack), in their language, with the
 *   signature instruction while no photo or document has come;
 * - keeps its clock: from the first message until the complaint number has been
 *   delivered to the citizen's phone (a delivered or read status, not the officer's
 *   reply and not `sent`), against the station's sla_hours, or serious_sla_hours once
 *   escalated. At half of it a "due soon" note goes into the thread; at the limit an
 *   "overdue" note, $WA_Overdue, and the escalation mail to escalate_to; at twice the
 *   limit the mail to escalate_late_to;
 * - reminds the citizen once to send the signed complaint when no photo or document
 *   came within signature_reminder_hours;
 * - an officer's #escalate escalates by hand, like a serious word.
 * Then, per station, the daily digest at digest_hour (local time), into the station's
 * mailbox and to escalate_to; and the mail queued for SMTP is sent (smtp.h), retried
 * with backoff while the server is down, never dropped. Once a day at [archive]
 * anchor_hour the journal's head is mailed to the archive (anchor.h).
 *
 * Each duty fires exactly once, in `serve` and `run` alike and across crashes: see
 * store_duty.c. Times come from wb_now(), which tests pin with WABRIDGE_NOW. */
#ifndef WB_DUTY_H
#define WB_DUTY_H

#include <glib.h>
#include <stdbool.h>

#include "config.h"
#include "store.h"

struct wb_duty_result {
	unsigned fired;          /* duties that fired in this pass */
	unsigned mails_sent, mails_waiting, mails_failed;
	unsigned anchors_waiting; /* today's journal anchor failed: tried again later */
	gint64 soonest;          /* when the next duty or mail is due (0: nothing waits) */
};

/* One pass. stop (may be NULL) is read between complaints. False only when the store
 * fails. */
bool wb_duty_pass(const struct wb_config *cfg, struct wb_store *store, const gint *stop,
		  struct wb_duty_result *res, GError **error);

/* The clock of a complaint at station st: its length in seconds (0: no clock). */
gint64 wb_duty_clock(const struct wb_config *cfg, const struct wb_station *st, bool escalated);

/* Words for where a complaint stands, for the digest and the listings: "number
 * delivered", "number sent", "overdue", "escalated", "due soon", "unacknowledged",
 * "open". */
const char *wb_duty_state(const struct wb_config *cfg, const struct wb_station *st,
			  const struct wb_duty_case *c, gint64 now);

/* The line at the top of a complaint's mails: where it stands and what is expected of
 * the station, with the due time ("NOT REGISTERED – reply to this mail with the
 * complaint number by Mon 7 Dec, 14:00 IST (11 h 20 min left)."). Newly allocated. */
char *wb_duty_state_line(const struct wb_config *cfg, const struct wb_station *st,
			 const struct wb_duty_case *c, gint64 now);

#endif
