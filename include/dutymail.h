/* dutymail: the mails of the station's duty (issue 10) — the escalation to superiors and
 * the daily digest. Pure, like render.h: everything comes in through the struct (the
 * clock as now), nothing from the store, the network or the clock; the result is the
 * complete mail, CRLF line ends, newly owned by the caller. Every string may be hostile
 * (names, texts, states): it is cleaned, capped and escaped, never pasted into a header
 * or into markup as raw text.
 *
 * Both bodies are built in code, not from templates/: they are lists and tables whose
 * length varies, which the flat {{field}} / data-wb templates of render.h cannot express
 * without a loop construct. */
#ifndef WB_DUTYMAIL_H
#define WB_DUTYMAIL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* ---- the escalation --------------------------------------------------------------- */

struct wb_dm_message {        /* one message of the complaint, oldest first */
	gint64 ts;                /* WhatsApp timestamp */
	const char *type;         /* "text", "image", "audio", ... */
	const char *text;         /* its text or caption, or a label like "Photo"; may be "" */
	GBytes *mail;             /* the mail as delivered to the station (render.c's output), or NULL */
};

enum wb_escalation_why { WB_ESC_SERIOUS, WB_ESC_MANUAL, WB_ESC_OVERDUE, WB_ESC_LATE };

struct wb_escalation_in {
	const char *domain, *timezone;
	const char *from;                 /* envelope/header From: ([smtp] from) */
	const char *const *to;            /* NULL-terminated */
	const struct wb_station *station; /* name, code, address (Reply-To: a superior's answer reaches the station) */
	const char *ref;                  /* "BHP-2026-000042" */
	const char *citizen;              /* digits of the WhatsApp number */
	const char *profile_name;         /* may be NULL */
	const char *message_id;           /* this mail's, without <> */
	const char *thread_id;            /* the complaint's first escalation mail's id, for In-Reply-To/References; NULL when this is the first */
	enum wb_escalation_why why;
	const char *const *matched;       /* SERIOUS: the list words that matched (may be NULL) */
	const char *officer, *officer_text; /* MANUAL: who asked (#escalate in a reply) and their words; may be NULL */
	gint64 opened_at, now, deadline;  /* deadline: when the complaint number is due */
	int sla_hours;                    /* the clock that applies */
	const char *state;                /* one line, e.g. "no complaint number yet" */
	const struct wb_dm_message *msgs;
	size_t n_msgs;
	size_t media_budget;              /* bytes of media to attach at most; the rest are listed */
};

/* To superiors, sent by SMTP. Subject "[REF] ESCALATED (serious: murder, acid): first
 * text", "[REF] ESCALATED by officer: …", "[REF] OVERDUE 26 h, no complaint number: …",
 * "[REF] OVERDUE 50 h (second tier), no complaint number: …". Headers: Reply-To the
 * station; In-Reply-To/References <thread_id>; Auto-Submitted; X-Complaint-Ref,
 * X-Station (the station's key), X-Wabridge-Escalation (serious|manual|overdue|late);
 * Importance: high and X-Priority: 1 for serious ones alone; Date: now in the zone.
 *
 * Body (plain and HTML): why, the station, the citizen, when opened, the wait against the
 * clock, the state, what to do, then every message in time order. Then the media taken
 * from each message's mail (every attachment but whatsapp-message.json, vCards
 * included): the original bytes, MIME type, file name and "NAME; SHA-256 HEX" in
 * Content-Description, the hash computed from the bytes; attached in time order while
 * they fit media_budget, the others listed by name, size and SHA-256 as being in the
 * station's mailbox. A mail that does not parse is named in the body and skipped.
 * NULL with error only when a required field (ref, station, from, message_id) is
 * missing. */
GBytes *wb_render_escalation(const struct wb_escalation_in *in, GError **error);

/* "serious", "manual", "overdue", "late" (the X-Wabridge-Escalation value). */
const char *wb_escalation_why_name(enum wb_escalation_why why);

/* ---- the daily digest -------------------------------------------------------------- */

struct wb_digest_row {
	const char *ref, *citizen, *profile_name; /* profile_name may be NULL */
	const char *summary;    /* first text of the complaint, may be "" */
	gint64 opened_at, deadline;
	const char *state;      /* the caller's words, e.g. "overdue", "number delivered" */
	const char *number;     /* the complaint number, or NULL */
	bool serious;
};

struct wb_digest_in {
	const char *domain, *timezone, *from;
	const char *const *to;            /* station address first, then others */
	const struct wb_station *station;
	const char *message_id;           /* without <> */
	gint64 now;
	const struct wb_digest_row *rows; /* already oldest first */
	size_t n_rows;
};

/* Into the station's mailbox and to escalate_to. Subject "STATION: 7 open complaints, 2
 * overdue — digest for 6 December 2026" ("no open complaints" when there are none); a
 * complaint counts as overdue when it has no number and its deadline has passed. The
 * plain part gives each complaint a block whose first line holds only ASCII fields
 * (reference, opening, age, due) and ends with the state, and whose next lines hold the
 * citizen and the summary, so nothing depends on the width of Bengali text; the HTML
 * part is a <table> with the state highlighted. X-Station, X-Wabridge-Digest (the local
 * date, YYYY-MM-DD), Auto-Submitted; Date: now in the zone. NULL with error only when a
 * required field (station, from, message_id) is missing. */
GBytes *wb_render_digest(const struct wb_digest_in *in, GError **error);

#endif
