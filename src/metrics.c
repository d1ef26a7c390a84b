/* metrics: counters behind /metrics. */
#include "metrics.h"
#include "store.h"

#include <string.h>

/* Types counted one by one; anything else is "other" (the label set stays bounded
 * whatever a payload claims its type to be). */
static const char *const types[] = {
	"text", "image", "audio", "video", "document", "sticker", "location", "contacts",
	"interactive", "button", "reaction", "order", "system", "unsupported", "other",
};
#define N_TYPES G_N_ELEMENTS(types)

static const char *const reject_names[WB_REJECT_COUNT] = {
	"signature", "too_large", "store", "busy",
};
static const char *const send_names[WB_SEND_COUNT] = { "sent", "retry", "failed", "dry_run" };

static struct {
	uint64_t received, delivered, delivery_failed, replies, cut, imap_logins;
	int64_t connections, body_bytes, imap_sessions;
	uint64_t rejected[WB_REJECT_COUNT];
	uint64_t messages[N_TYPES];
	uint64_t sends[WB_SEND_COUNT];
} m;

static void bump(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void wb_metrics_webhook_received(void) { bump(&m.received); }
void wb_metrics_mail_delivered(void) { bump(&m.delivered); }
void wb_metrics_delivery_failed(void) { bump(&m.delivery_failed); }
void wb_metrics_reply_parsed(void) { bump(&m.replies); }

void wb_metrics_request_cut(void) { bump(&m.cut); }

void wb_metrics_connections(int64_t delta)
{
	__atomic_add_fetch(&m.connections, delta, __ATOMIC_RELAXED);
}

void wb_metrics_body_bytes(int64_t delta)
{
	__atomic_add_fetch(&m.body_bytes, delta, __ATOMIC_RELAXED);
}

void wb_metrics_imap_login(void) { bump(&m.imap_logins); }

void wb_metrics_imap_sessions(int64_t delta)
{
	__atomic_add_fetch(&m.imap_sessions, delta, __ATOMIC_RELAXED);
}

void wb_metrics_webhook_rejected(enum wb_reject why)
{
	if (why < WB_REJECT_COUNT)
		bump(&m.rejected[why]);
}

void wb_metrics_send(enum wb_send_outcome outcome)
{
	if (outcome < WB_SEND_COUNT)
		bump(&m.sends[outcome]);
}

void wb_metrics_message(const char *type)
{
	size_t i = 0;
	while (i < N_TYPES - 1 && strcmp(types[i], type) != 0)
		i++;
	bump(&m.messages[i]);
}

static void family(GString *out, const char *name, const char *kind, const char *help)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind);
}

/* A family of one sample without labels. */
static void single(GString *out, const char *name, const char *kind, const char *help,
		   int64_t value)
{
	family(out, name, kind, help);
	g_string_append_printf(out, "%s %" G_GINT64_FORMAT "\n", name, value);
}

void wb_metrics_render(GString *out, int64_t queue_depth, int64_t oldest_unregistered_s)
{
	single(out, "wabridge_webhooks_received_total", "counter",
	       "Signed webhook bodies committed to the store.", (int64_t)get(&m.received));
	family(out, "wabridge_webhooks_rejected_total", "counter",
	       "Webhook requests refused, by reason.");
	for (int i = 0; i < WB_REJECT_COUNT; i++)
		g_string_append_printf(out, "wabridge_webhooks_rejected_total{reason=\"%s\"} %"
				       G_GUINT64_FORMAT "\n", reject_names[i], get(&m.rejected[i]));
	single(out, "wabridge_http_requests_cut_total", "counter",
	       "Connections cut because their request was not complete within request_timeout.",
	       (int64_t)get(&m.cut));
	single(out, "wabridge_http_connections", "gauge", "Open connections to the listener.",
	       __atomic_load_n(&m.connections, __ATOMIC_RELAXED));
	single(out, "wabridge_http_body_bytes", "gauge",
	       "Bytes held for request bodies in flight (limited by body_memory).",
	       __atomic_load_n(&m.body_bytes, __ATOMIC_RELAXED));
	family(out, "wabridge_messages_total", "counter", "New WhatsApp messages, by type.");
	for (size_t i = 0; i < N_TYPES; i++)
		g_string_append_printf(out, "wabridge_messages_total{type=\"%s\"} %" G_GUINT64_FORMAT
				       "\n", types[i], get(&m.messages[i]));
	single(out, "wabridge_mails_delivered_total", "counter", "Mails put into station mailboxes.",
	       (int64_t)get(&m.delivered));
	single(out, "wabridge_mail_delivery_failures_total", "counter",
	       "Delivery attempts that failed (each retry counts).", (int64_t)get(&m.delivery_failed));
	single(out, "wabridge_imap_sessions", "gauge",
	       "Delivery sessions open to the IMAP server (at most [imap] max_connections).",
	       __atomic_load_n(&m.imap_sessions, __ATOMIC_RELAXED));
	single(out, "wabridge_imap_logins_total", "counter",
	       "Delivery sessions opened (connect and LOGIN); the others reuse one.",
	       (int64_t)get(&m.imap_logins));
	single(out, "wabridge_replies_parsed_total", "counter", "Officer replies parsed.",
	       (int64_t)get(&m.replies));
	family(out, "wabridge_whatsapp_sends_total", "counter", "WhatsApp sends, by outcome.");
	for (int i = 0; i < WB_SEND_COUNT; i++)
		g_string_append_printf(out, "wabridge_whatsapp_sends_total{outcome=\"%s\"} %"
				       G_GUINT64_FORMAT "\n", send_names[i], get(&m.sends[i]));
	single(out, "wabridge_queue_depth", "gauge", "Messages not yet delivered (-1: unknown).",
	       queue_depth);
	single(out, "wabridge_oldest_unregistered_complaint_seconds", "gauge",
	       "Age of the oldest open complaint without a complaint number (0: none).",
	       oldest_unregistered_s);
}

/* A label value as Prometheus's text format wants it: \\, \" and \n escaped. */
static void label(GString *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			g_string_append_c(out, '\\');
		if (*p == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *p);
	}
}

void wb_metrics_render_bridges(GString *out, const GPtrArray *bridges)
{
	static const char *const what[] = { "messages", "sends", "mailops", "mailout" };
	family(out, "wabridge_bridge_up", "gauge",
	       "Bridges on this state: 1 running (heartbeat within its lease), 0 stopped or gone.");
	for (guint i = 0; i < bridges->len; i++) {
		const struct wb_bridge_row *b = bridges->pdata[i];
		g_string_append(out, "wabridge_bridge_up{bridge=\"");
		label(out, b->id);
		g_string_append(out, "\",node=\"");
		label(out, b->node);
		g_string_append_printf(out, "\",self=\"%d\"} %d\n", b->me, b->alive);
	}
	family(out, "wabridge_bridge_claims", "gauge", "Work each bridge holds, by kind.");
	for (guint i = 0; i < bridges->len; i++) {
		const struct wb_bridge_row *b = bridges->pdata[i];
		for (int k = 0; k < 4; k++) {
			g_string_append(out, "wabridge_bridge_claims{bridge=\"");
			label(out, b->id);
			g_string_append_printf(out, "\",kind=\"%s\"} %lld\n", what[k],
					       (long long)b->claims[k]);
		}
	}
}
