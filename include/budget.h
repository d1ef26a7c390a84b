/* budget: the memory that webhook bodies in flight may hold, shared out so that no
 * flood can take the room of Meta's small signed POSTs.
 *
 * A body is charged before its bytes are read: by its Content-Length, or, when it comes
 * chunked, by the buffer it has grown to. Three rules, all of which a charge must keep:
 * - all bodies together hold at most `total` bytes;
 * - large bodies (over WB_BODY_SMALL) together hold at most half of it, so the other
 *   half is always there for small ones: Meta's webhooks are a few KiB, a flood of big
 *   bodies cannot take their room;
 * - the bodies of one peer address hold at most `per_address` bytes (0: no such rule,
 *   for a reverse proxy on the same host, through which every peer has one address).
 * A charge that would break a rule is refused and changes nothing; the caller answers
 * 503 and Meta retries.
 *
 * Pure bookkeeping: no clock, no I/O, no lock. The caller serialises the calls. */
#ifndef WB_BUDGET_H
#define WB_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

enum wb_budget_verdict {
	WB_BUDGET_OK,
	WB_BUDGET_FULL,    /* all bodies, or all large bodies, hold their most */
	WB_BUDGET_ADDRESS, /* this address holds its share */
};

struct wb_budget;

/* A budget of total bytes (at least twice the largest body it must take, so that one
 * always fits in the half large bodies may use). per_address: see above. */
struct wb_budget *wb_budget_new(size_t total, size_t per_address);
void wb_budget_free(struct wb_budget *b);

/* Move one body of addr's from a charge of `had` bytes (0 for a new body) to `want`.
 * On WB_BUDGET_OK the charge is now want; otherwise it stays had. want 0 releases. */
enum wb_budget_verdict wb_budget_charge(struct wb_budget *b, const char *addr, size_t had,
					size_t want);

/* Bytes charged now: all bodies, and those of one address. */
size_t wb_budget_used(const struct wb_budget *b);
size_t wb_budget_used_by(const struct wb_budget *b, const char *addr);

/* The share of one address a budget of total bytes gives when per-address limits are
 * on: an eighth of it, but never less than max_body, so one body of any size allowed
 * always fits. */
size_t wb_budget_share(size_t total, size_t max_body);

#endif
