/* ratelog: log lines about refused requests, a bounded number however many come.
 *
 * Each reason (a missing signature, a body too large, …) has its own interval. The
 * first event in an interval is logged as it comes; the others are only counted, with
 * their peer addresses, and when the interval is over one summary line tells of them,
 * with the reason's name:
 *   "… and 1234 more refused (missing X-Hub-Signature-256) in 10 s, from 87 addresses,
 *    most from 203.0.113.9 (40)"
 * So a flood costs at most two lines per reason and interval; counters (/metrics) still
 * count every refusal.
 *
 * Pure: the caller passes the time (monotonic microseconds) and serialises the calls.
 * Summaries are returned as newly allocated strings in the caller's GPtrArray. */
#ifndef WB_RATELOG_H
#define WB_RATELOG_H

#include <glib.h>
#include <stdbool.h>

struct wb_ratelog;

/* names: what the events of each reason are, as a summary tells them ("refused
 * (missing X-Hub-Signature-256)"), NULL-terminated; kept by reference, so they must
 * outlive rl. interval_us: the length of an interval. */
struct wb_ratelog *wb_ratelog_new(const char *const *names, gint64 interval_us);
void wb_ratelog_free(struct wb_ratelog *rl);

/* An event of reason (an index into names) from peer address addr (NULL: none to
 * count) at now. True when the caller should log it now. An interval of this reason that is over is closed first, and its
 * summary, if it has one, added to summaries. */
bool wb_ratelog_note(struct wb_ratelog *rl, unsigned reason, const char *addr, gint64 now,
		     GPtrArray *summaries);

/* Close every interval that is over by now, adding the summaries to summaries; for a
 * periodic tick (or with G_MAXINT64, at the end, to close them all). */
void wb_ratelog_flush(struct wb_ratelog *rl, gint64 now, GPtrArray *summaries);

#endif
