/* metrics: process-wide counters for /metrics (Prometheus text format).
 *
 * Counters are plain atomics, incremented wherever the event happens; gauges that live
 * in the store (queue depth, oldest unregistered complaint) are read when /metrics is
 * served. Counting is cheap and always on, also in one-shot commands (nobody reads it). */
#ifndef WB_METRICS_H
#define WB_METRICS_H

#include <glib.h>
#include <stdint.h>

/* busy: [webhook] body_memory (or the peer's share of it) was in use; 503. */
enum wb_reject {
	WB_REJECT_SIGNATURE, WB_REJECT_TOO_LARGE, WB_REJECT_STORE, WB_REJECT_BUSY, WB_REJECT_COUNT
};
enum wb_send_outcome { WB_SEND_OK, WB_SEND_RETRY, WB_SEND_FAILED, WB_SEND_DRY_RUN, WB_SEND_COUNT };

void wb_metrics_webhook_received(void);
void wb_metrics_webhook_rejected(enum wb_reject why);
void wb_metrics_message(const char *type);   /* a new (not duplicate) inbound message */
void wb_metrics_mail_delivered(void);
void wb_metrics_delivery_failed(void);
void wb_metrics_reply_parsed(void);
void wb_metrics_send(enum wb_send_outcome outcome);
/* The listener: a connection cut at its request deadline; gauges of open connections
 * and of body bytes held, moved by deltas. */
void wb_metrics_request_cut(void);
void wb_metrics_connections(int64_t delta);
void wb_metrics_body_bytes(int64_t delta);
/* IMAP delivery (imappool.c): a session opened, and the gauge of sessions open. */
void wb_metrics_imap_login(void);
void wb_metrics_imap_sessions(int64_t delta);

/* Append the exposition text; the gauges are passed in by the caller. */
void wb_metrics_render(GString *out, int64_t queue_depth, int64_t oldest_unregistered_s);
/* The bridges on this state (struct wb_bridge_row, store.h): whether each runs, and the
 * work each holds. */
void wb_metrics_render_bridges(GString *out, const GPtrArray *bridges);

#endif
