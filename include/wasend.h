/* wasend: sending one WhatsApp message to a citizen through the Graph API, or recording
 * it instead (the dry-run sender of the embedded defaults). Two back ends behind one
 * table, like delivery.
 *
 *   POST {api_base}/{phone_number_id}/messages, "Authorization: Bearer TOKEN",
 *   Content-Type: application/json, a User-Agent; body:
 *     free-form: {"messaging_product":"whatsapp","recipient_type":"individual","to":TO,
 *                 "type":"text","text":{"preview_url":false,"body":TEXT},
 *                 "context":{"message_id":WAMID}?, "biz_opaque_callback_data":OPAQUE?}
 *     template:  {"messaging_product":"whatsapp","recipient_type":"individual","to":TO,
 *                 "type":"template","template":{"name":N,"language":{"code":L},
 *                 "components":[{"type":"body","parameters":[{"type":"text","text":P},…]}]},
 *                 "biz_opaque_callback_data":OPAQUE?}
 *   → 200 {"messages":[{"id":"wamid…","message_status":"accepted"}]}
 *
 * Errors are in WB_SEND_ERROR with enum wb_fail codes (fail.h), and *graph_code set:
 *   SOON  — 130429, 131056, 131000, 131016, 1, 2, 4, 80007, is_transient, 5xx, 429,
 *           timeouts and connection failures (the caller backs off and retries)
 *   LATER — 190 (token: stop sending, alert), 0, 3, 10, 200–299, 131031, 131037,
 *           131042, 131045, 133010, 368, 131057 (a human must act)
 *   FINAL — 131047 (window closed: send the template instead), 131026, 131051, 131021,
 *           131030, 131062, 1320xx (template problems), 100, 131008, 131009, other 4xx
 * The message names the HTTP status, Graph's code and fbtrace_id, never the token.
 * Template parameters must not hold newlines, tabs or more than four spaces in a row
 * (Graph error 132018): they are cleaned before sending. */
#ifndef WB_WASEND_H
#define WB_WASEND_H

#include <glib.h>
#include <stdbool.h>

#include "fail.h"

#define WB_SEND_ERROR (wb_send_error_quark())
GQuark wb_send_error_quark(void);

enum wb_send_kind { WB_SEND_TEXT, WB_SEND_TEMPLATE };

struct wb_send_req {
	const char *api_base;          /* "https://graph.facebook.com/v26.0" */
	const char *access_token;      /* secret */
	const char *ca_file;           /* optional */
	const char *phone_number_id;   /* the station's number, digits */
	const char *to;                /* the citizen's wa_id, digits */
	enum wb_send_kind kind;
	const char *text;              /* TEXT: the body, ≤ 4096 characters (cut if longer) */
	const char *context_wamid;     /* TEXT: optional, makes it a quoted reply */
	const char *template_name;     /* TEMPLATE */
	const char *template_lang;     /* TEMPLATE: "bn", "en", "hi" */
	const char *const *params;     /* TEMPLATE: NULL-terminated body parameters */
	const char *opaque;            /* optional biz_opaque_callback_data (≤ 512 bytes) */
	long timeout_s;                /* 0: 30 s */
};

struct wb_send_result {
	char *wamid;                   /* the id Meta gave the message */
	char *request_json;            /* exactly what was (or, dry run, would have been) sent */
};

struct wb_sender_ops {
	const char *name;              /* "graph", "dry-run" */
	/* On failure returns false, sets error (WB_SEND_ERROR, wb_fail code) and *graph_code
	 * (0 when none). out is filled on success; the caller frees its strings. */
	bool (*send)(const struct wb_send_req *req, struct wb_send_result *out, int *graph_code,
		     GError **error);
};

extern const struct wb_sender_ops wb_sender_graph;
extern const struct wb_sender_ops wb_sender_dry_run; /* builds the request, sends nothing,
							 * answers a made-up "wamid.dryrun.…" */

/* The JSON body for a request (shared by both back ends). Newly allocated. */
char *wb_send_body(const struct wb_send_req *req);

void wb_send_result_clear(struct wb_send_result *r);

#endif
