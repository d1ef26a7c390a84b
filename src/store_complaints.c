/* store_complaints: the complaint listings of `wabridge complaints` and the whole history
 * of one complaint (`wabridge complaint REF`), read from the store.
 *
 * Design rationale: an admin asking "what happened to BHP-2026-000042?" needs every
 * step in one time-ordered list — each citizen message and where its mail went, each
 * officer reply and why it was taken or refused, each WhatsApp send and every status
 * Meta reported for it, each duty the bridge kept (acknowledgement, due soon, overdue,
 * escalations) and each mail it sent to superiors — so the history is one UNION query ordered by time, not four
 * lists to put side by side. */
#include "store.h"
#include "store-priv.h"
#include "util.h"

#include <jansson.h>
#include <string.h>

bool wb_store_complaints_list(struct wb_store *s, const char *station,
			      enum wb_complaint_filter filter, wb_duty_state_fn *state_of,
			      void *ctx, GString *out, unsigned *count, GError **error)
{
	*count = 0;
	db_stmt *st = sq_prep(s,
		"SELECT c.ref, c.station, c.state, c.opened_at, c.last_activity, c.number, "
		"c.citizen, (SELECT count(*) FROM messages m WHERE m.complaint_id = c.id), "
		"(SELECT count(*) FROM outbox o WHERE o.complaint_id = c.id AND o.state = 'failed'), "
		"c.id, (SELECT count(*) FROM transfers t WHERE t.complaint_id = c.id) "
		"FROM complaints c WHERE (?1 IS NULL OR c.station = ?1) AND (?2 = 0 OR c.state = "
		"'open') ORDER BY c.opened_at, c.id", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, station);
	db_bind_int64(st, 2, filter != WB_COMPLAINTS_ALL);
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		const char *state = (const char *)db_col_text(st, 2);
		bool open = strcmp(state, "open") == 0;
		const char *duty = open && state_of ? state_of(ctx, db_col_int64(st, 9)) : NULL;
		if (filter == WB_COMPLAINTS_OVERDUE && !(duty && strcmp(duty, "overdue") == 0))
			continue;
		const char *number = (const char *)db_col_text(st, 5);
		g_autofree char *shown = sq_shown(st, 5);
		g_autofree char *when = sq_time_text(db_col_int64(st, 3));
		g_autofree char *last = sq_time_text(db_col_int64(st, 4));
		if (!*count)
			g_string_append(out, "REF              STATION      STATE   OPENED (UTC)          "
					     "LAST ACTIVITY         MSGS  NUMBER  [DUTY]\n");
		g_string_append_printf(out, "%-16s %-12s %-7s %-21s %-21s %4lld  %s%s%s%s%s%s\n",
				       db_col_text(st, 0), db_col_text(st, 1), state,
				       when, last, db_col_int64(st, 7), number ? shown : "-",
				       duty ? "  [" : "", duty ? duty : "", duty ? "]" : "",
				       db_col_int64(st, 10) ? "  TRANSFERRED" : "",
				       db_col_int64(st, 8) ? "  SEND FAILED" : "");
		(*count)++;
	}
	db_reset(st);
	return rc == DB_DONE || sq_fail(s, error, "listing complaints");
}

/* The first line of what the citizen wrote, or the type. */
static char *message_gist(const char *type, const char *json)
{
	json_t *v = json ? json_loads(json, 0, NULL) : NULL;
	json_t *obj = json_object_get(v, type);
	const char *t = json_string_value(json_object_get(obj, "body"));
	if (!t)
		t = json_string_value(json_object_get(obj, "caption"));
	char *out = t ? wb_clean_line(t, 60) : g_strdup("");
	json_decref(v);
	return out;
}

bool wb_store_complaint_history(struct wb_store *s, const char *ref, GString *out,
				GError **error)
{
	g_autoptr(wb_complaint) c = wb_store_complaint(s, ref, 0, error);
	if (!c)
		return false;
	g_autofree char *opened = sq_time_text(c->opened_at);
	g_autofree char *last = sq_time_text(c->last_activity);
	g_autofree char *citizen = wb_escape_controls(c->citizen, false);
	g_autofree char *number = c->number ? wb_escape_controls(c->number, false)
					    : g_strdup("(not registered yet)");
	g_string_append_printf(out, "Complaint %s at station %s\n  citizen: %s\n  opened: %s, "
			       "last activity: %s\n  state: %s\n  complaint number: %s\n\n",
			       c->ref, c->station, citizen, opened, last, c->state, number);
	db_stmt *st = sq_prep(s,
		"SELECT at, kind, a, b, c, d FROM ("
		" SELECT coalesce(nullif(m.ts, 0), m.received_at) AS at, 'message' AS kind, "
		"  m.wamid AS a, m.type AS b, m.state || coalesce(': ' || m.last_error, '') || "
		"  coalesce(' → ' || m.location, '') AS c, m.json AS d, 0 AS o, m.id AS k "
		"  FROM messages m WHERE m.complaint_id = ?1"
		" UNION ALL SELECT r.received_at, 'reply', coalesce(r.sender, '?'), r.state, "
		"  coalesce(r.reason, coalesce('number ' || r.number, 'no number') || "
		"  coalesce(', tags ' || r.tags, '')), r.source, 1, r.id FROM replies r "
		"  WHERE r.complaint_id = ?1"
		" UNION ALL SELECT o.created_at, 'send', o.kind || ' in ' || o.lang, o.state, "
		"  coalesce(o.wamid, '-'), o.last_error, 2, o.id FROM outbox o "
		"  WHERE o.complaint_id = ?1"
		" UNION ALL SELECT t.ts, 'status', t.wamid, t.status, CAST(t.error_code AS TEXT), "
		"  NULL, 3, t.id "
		"  FROM statuses t JOIN outbox o ON o.wamid = t.wamid WHERE o.complaint_id = ?1"
		" UNION ALL SELECT d.at, 'duty', d.kind, coalesce(d.detail, ''), NULL, NULL, 4, "
		"  d.id FROM duties d WHERE d.complaint_id = ?1"
		" UNION ALL SELECT x.created_at, 'mail', x.kind, x.rcpts, x.state || coalesce(': ' "
		"  || x.last_error, ''), NULL, 5, x.id FROM mailout x WHERE x.complaint_id = ?1"
		" UNION ALL SELECT x.at, 'transfer', x.from_station, x.to_station, "
		"  coalesce(x.officer, '?'), x.reason, 1, x.id FROM transfers x "
		"  WHERE x.complaint_id = ?1"
		" UNION ALL SELECT x.at, 'split', f.ref, t.ref, coalesce(x.officer, '?'), "
		"  CASE WHEN x.from_complaint = ?1 THEN 'into ' ELSE 'from ' END || x.moved, 1, "
		"  x.id FROM splits x JOIN complaints f ON f.id = x.from_complaint JOIN complaints "
		"  t ON t.id = x.to_complaint WHERE ?1 IN (x.from_complaint, x.to_complaint)"
		") AS history ORDER BY at, o, k", error);
	if (!st)
		return false;
	db_bind_int64(st, 1, c->id);
	g_string_append(out, "History (UTC):\n");
	int rc;
	while ((rc = db_step(st)) == DB_ROW) {
		g_autofree char *when = sq_time_text(db_col_int64(st, 0));
		const char *kind = (const char *)db_col_text(st, 1);
		g_autofree char *a = sq_shown(st, 2), *b = sq_shown(st, 3), *cc = sq_shown(st, 4);
		/* d: a message's JSON (not shown), a reply's source, a send's last error, a
		 * transfer's reason */
		const char *json = (const char *)db_col_text(st, 5);
		bool message = strcmp(kind, "message") == 0;
		g_autofree char *d = json && !message ? sq_shown(st, 5) : NULL;
		if (message) {
			g_autofree char *gist = message_gist((const char *)db_col_text(st, 3),
							     json);
			g_string_append_printf(out, "  %s  citizen %s %s%s%s%s: mail %s\n", when, b, a,
					       *gist ? " \"" : "", gist, *gist ? "\"" : "", cc);
		} else if (strcmp(kind, "reply") == 0) {
			g_string_append_printf(out, "  %s  officer reply from %s (via %s): %s: %s\n",
					       when, a, d, b, cc);
		} else if (strcmp(kind, "transfer") == 0) {
			g_autofree char *why = json ? wb_clean_line(json, 60) : g_strdup("");
			g_autofree char *shown = wb_escape_controls(why, false);
			g_string_append_printf(out, "  %s  transferred from station %s to %s by %s%s%s%s\n",
					       when, a, b, cc, *shown ? ": \"" : "", shown,
					       *shown ? "\"" : "");
		} else if (strcmp(kind, "split") == 0) {
			bool into = json && g_str_has_prefix(json, "into ");
			const char *n = json && strchr(json, ' ') ? strchr(json, ' ') + 1 : "?";
			g_string_append_printf(out, "  %s  split %s %s by %s (#new): %s message%s "
					       "moved %s\n", when, into ? "into" : "from", into ? b : a,
					       cc, n, strcmp(n, "1") ? "s" : "", into ? "there" : "here");
		} else if (strcmp(kind, "send") == 0) {
			bool held = strcmp(b, "held") == 0;
			g_string_append_printf(out, "  %s  WhatsApp %s to the citizen: %s%s, message id "
					       "%s%s%s\n", when, a, b, held ? " (the officer's words "
					       "wait for the citizen's next message)" : "", cc,
					       d ? ": " : "", d ? d : "");
		} else if (strcmp(kind, "duty") == 0) {
			g_string_append_printf(out, "  %s  duty %s%s%s\n", when, a, *b ? ": " : "", b);
		} else if (strcmp(kind, "mail") == 0) {
			g_string_append_printf(out, "  %s  %s mail to %s: %s\n", when, a, b, cc);
		} else {
			g_string_append_printf(out, "  %s  status of %s: %s%s%s\n", when, a, b,
					       strcmp(cc, "0") ? ", error " : "",
					       strcmp(cc, "0") ? cc : "");
		}
	}
	db_reset(st);
	return rc == DB_DONE || sq_fail(s, error, "reading a complaint's history");
}

void wb_wamid_info_clear(struct wb_wamid_info *w)
{
	g_free(w->type);
	g_free(w->json);
	g_free(w->purpose);
	g_free(w->number);
	*w = (struct wb_wamid_info){ 0 };
}

bool wb_store_wamid_info(struct wb_store *s, const char *wamid, const char *sender,
			 struct wb_wamid_info *out, GError **error)
{
	*out = (struct wb_wamid_info){ 0 };
	if (!wamid)
		return true;
	/* One of this citizen's messages, else one of the bridge's sends to them. */
	db_stmt *st = sq_prep(s,
		"SELECT 0, type, json, NULL, NULL, ts FROM messages WHERE wamid = ?1 AND sender = "
		"?2 UNION ALL SELECT 1, o.kind, NULL, o.purpose, CASE WHEN o.reply_id IS NULL "
		"THEN NULL ELSE r.number END, coalesce(o.accepted_at, o.created_at) FROM outbox o "
		"LEFT JOIN replies r ON r.id = o.reply_id WHERE o.wamid = ?1 AND o.recipient = ?2 "
		"LIMIT 1", error);
	if (!st)
		return false;
	sq_bind_text(st, 1, wamid);
	sq_bind_text(st, 2, sender);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		out->found = true;
		out->ours = db_col_int(st, 0) == 1;
		out->type = sq_col_text(st, 1);
		out->json = sq_col_text(st, 2);
		out->purpose = sq_col_text(st, 3);
		out->number = sq_col_text(st, 4);
		out->ts = db_col_int64(st, 5);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE || sq_fail(s, error, "finding a reaction's message");
}
