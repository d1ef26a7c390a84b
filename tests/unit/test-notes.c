/* The subjects of the records and notices a send puts into a complaint's thread: each
 * kind of news has its own, so that the message list alone tells the story, and none
 * carries Meta's raw error text or a code. */
#include "outbox.h"

#include <glib.h>
#include <string.h>

struct row {
	const char *kind, *state, *noted, *purpose, *number, *last_error;
	int error_code;
	const char *want;   /* NULL: no mail */
	bool after_template; /* kept words whose number went by template */
};

static const struct row rows[] = {
	/* the records of sends WhatsApp took */
	{ "text", "accepted", "queued", NULL, "123/2026", NULL, 0,
	  "Number 123/2026 sent to the citizen", false },
	{ "template", "accepted", "queued", NULL, "123/2026", NULL, 0,
	  "Number 123/2026 sent to the citizen by template", false },
	{ "text", "delivered", "queued", NULL, "123/2026", NULL, 0,
	  "Number 123/2026 delivered to the citizen", false },
	{ "text", "accepted", "queued", NULL, NULL, NULL, 0,
	  "Officer's message sent to the citizen", false },
	{ "text", "accepted", "held", NULL, NULL, NULL, 0,
	  "Officer's words sent after the citizen wrote again", false },
	{ "text", "accepted", "queued", NULL, "55/2026", NULL, 0,
	  "Officer's words sent after the citizen wrote again", true },
	{ "text", "accepted", "queued", "ack", NULL, NULL, 0, "Acknowledged to the citizen", false },
	{ "text", "accepted", "queued", "reminder", NULL, NULL, 0,
	  "Reminder sent: signed complaint not yet received", false },
	{ "text", "accepted", "queued", "transfer", NULL, NULL, 0, "Citizen told of the transfer", false },
	/* what follows a record */
	{ "text", "delivered", "accepted", NULL, "123/2026", NULL, 0,
	  "Number 123/2026 delivered to the citizen", false },
	{ "template", "read", "delivered", NULL, "123/2026", NULL, 0,
	  "Number 123/2026 read by the citizen", false },
	{ "text", "played", "accepted", NULL, "123/2026", NULL, 0,
	  "Number 123/2026 read by the citizen", false },
	{ "text", "sent", "accepted", NULL, "123/2026", NULL, 0, NULL, false },
	{ "text", "read", "read", NULL, "123/2026", NULL, 0, NULL, false },
	{ "text", "delivered", "accepted", NULL, NULL, NULL, 0, NULL, false },
	/* the number's news came with the template; the kept words do not tell it again */
	{ "text", "delivered", "accepted", NULL, "55/2026", NULL, 0, NULL, true },
	{ "text", "delivered", "accepted", "ack", "123/2026", NULL, 0, NULL, false },
	/* trouble */
	{ "text", "failed", "accepted", NULL, "123/2026",
	  "WhatsApp reported failure 131047: Re-engagement message — Message failed to send "
	  "because more than 24 hours have passed", 131047,
	  "Not delivered: the 24-hour window had closed; template sent instead", false },
	{ "text", "held", "accepted", NULL, "123/2026", "(#131047) Re-engagement message",
	  131047, "Not delivered: the 24-hour window had closed; template sent instead", false },
	{ "text", "failed", "accepted", NULL, NULL, "(#131047) Re-engagement message", 131047,
	  "Not delivered: the 24-hour window had closed", false },
	{ "text", "held", "queued", NULL, NULL, NULL, 0,
	  "Officer's words not sent yet: the 24-hour window had closed", false },
	{ "text", "failed", "queued", NULL, "9/2026", "(#131026) Message undeliverable", 131026,
	  "Not delivered: this number cannot receive WhatsApp messages", false },
	{ "template", "failed", "queued", NULL, "9/2026", "(#132001) Template name does not "
	  "exist in the translation", 132001, "Not delivered: WhatsApp refused the template", false },
	{ "text", "failed", "queued", NULL, NULL, "(#190) Error validating access token", 190,
	  "Not delivered: the bridge's WhatsApp access token is no longer valid", false },
	{ "text", "failed", "queued", NULL, NULL, "(#131000) Something went wrong\r\nBcc: x@y",
	  131000, "Not delivered: WhatsApp refused it", false },
	{ "text", "unknown", "queued", NULL, "9/2026", NULL, 0,
	  "Not confirmed: check whether the citizen got the message", false },
};

static struct wb_outbox *outbox_of(const struct row *r)
{
	struct wb_outbox *o = g_new0(struct wb_outbox, 1);
	o->kind = g_strdup(r->kind);
	o->state = g_strdup(r->state);
	o->noted = g_strdup(r->noted);
	o->purpose = g_strdup(r->purpose);
	o->number = g_strdup(r->number);
	o->last_error = g_strdup(r->last_error);
	o->error_code = r->error_code;
	o->after_template = r->after_template;
	o->lang = g_strdup("bn");
	o->recipient = g_strdup("919830111222");
	o->ref = g_strdup("BHP-2026-000001");
	return o;
}

static void test_subjects(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_autoptr(wb_outbox) o = outbox_of(&rows[i]);
		g_autofree char *got = wb_outbox_note_subject(o);
		if (g_strcmp0(got, rows[i].want) != 0)
			g_error("row %zu (%s %s after %s): got \"%s\", want \"%s\"", i, rows[i].kind,
				rows[i].state, rows[i].noted, got ? got : "(none)",
				rows[i].want ? rows[i].want : "(none)");
	}
}

/* The kinds of news are told apart in the list: subjects differ unless the news is the
 * same (a record written late says delivered, as the later notice would). */
static void test_distinct(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	guint distinct = 0, mails = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_autoptr(wb_outbox) o = outbox_of(&rows[i]);
		char *got = wb_outbox_note_subject(o);
		if (!got)
			continue;
		mails++;
		g_assert_null(strchr(got, '\r'));
		g_assert_null(strchr(got, '\n'));
		g_assert_null(strstr(got, "#"));
		g_assert_null(strstr(got, "1310"));
		if (g_hash_table_add(seen, got))
			distinct++;
	}
	/* Four pairs tell the same news on purpose: delivered (a late record and the
	 * notice), read (read and played), a 131047 whether the words were kept, and kept
	 * words sent after a 131047 or after the reply came too late. */
	g_assert_cmpuint(distinct, ==, mails - 4);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/notes/subjects", test_subjects);
	g_test_add_func("/notes/distinct", test_distinct);
	return g_test_run();
}
