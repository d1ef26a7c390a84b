/* webhook: the pure parser of WhatsApp Cloud API webhook bodies.
 *
 * No I/O, no clock, no config: bytes in, a list of inbound messages and statuses out.
 * Walks every entry, change, message and status; matches each sender's profile by
 * wa_id == from (or user_id == from_user_id), never by position. Every string that
 * comes out is valid UTF-8 without NUL; identifiers are checked against their shapes.
 * The signature must have been verified before this is called. */
#ifndef WB_WEBHOOK_H
#define WB_WEBHOOK_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#define WB_WEBHOOK_ERROR (wb_webhook_error_quark())
GQuark wb_webhook_error_quark(void);
enum wb_webhook_error {
	WB_WEBHOOK_NOT_JSON,   /* not parseable as JSON at all */
	WB_WEBHOOK_BAD_SHAPE,  /* JSON, but not a WhatsApp webhook envelope */
};

struct wb_inmsg {
	char *phone_number_id;  /* metadata.phone_number_id: routes to the station */
	char *display_phone;    /* metadata.display_phone_number, may be "" */
	char *wamid;            /* messages[].id */
	char *sender;           /* from (digits) or, for username users, from_user_id */
	char *wa_id;            /* digits or NULL */
	char *user_id;          /* BSUID or NULL */
	char *profile_name;     /* matched contact's profile.name, may be NULL */
	gint64 timestamp;       /* Unix seconds; 0 when missing or malformed */
	char *type;             /* "text", "image", ...; "unknown" when absent */
	char *context_id;       /* context.id (the quoted wamid) or NULL */
	char *reacts_to;        /* reaction.message_id for a reaction, else NULL */
	bool forwarded;         /* context.forwarded or frequently_forwarded */
	char *json;             /* this message object, compact JSON, UTF-8 */
};

struct wb_instatus {
	char *phone_number_id;
	char *wamid;            /* statuses[].id: one of our sends */
	char *status;           /* sent, delivered, read, played, failed, ... */
	gint64 timestamp;
	char *recipient;        /* recipient_id or NULL */
	int error_code;         /* errors[0].code or 0 */
	char *opaque;           /* biz_opaque_callback_data echoed from our send, or NULL */
	char *json;
};

struct wb_payload {
	GPtrArray *messages;    /* of struct wb_inmsg *, owned */
	GPtrArray *statuses;    /* of struct wb_instatus *, owned */
	GPtrArray *problems;    /* of char *: items skipped and why ("entry 0, change 1, message 2: no id") */
	unsigned ignored;       /* changes of other fields (account_update, ...) acknowledged and ignored */
};

/* Parse a body. Returns NULL with WB_WEBHOOK_ERROR when the whole body is unusable;
 * otherwise a payload, whose problems list names any single items that were skipped. */
struct wb_payload *wb_webhook_parse(const void *body, size_t len, GError **error);
void wb_payload_free(struct wb_payload *p);

/* Shape checks shared with other modules. */
bool wb_is_digits(const char *s, size_t max_len);
bool wb_is_bsuid(const char *s);         /* "IN.4471902385561207" */
bool wb_is_dot_atom(const char *s);      /* RFC 5322 dot-atom-text */

/* The Message-ID of the mail made of a message (render.h): "<wamid>@<domain>" when the
 * wamid is dot-atom text, else "<sha256 of it>.wa@<domain>". Without angle brackets.
 * Newly allocated. */
char *wb_message_id(const char *wamid, const char *domain);

#endif
