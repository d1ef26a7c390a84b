/* templates: what admins may restyle (mail bodies, notes, citizen texts), loaded with the
 * configuration from [bridge] templates, or built into the binary.
 *
 * A loaded set is read-only and is shared by every thread that holds the configuration
 * it came with; SIGHUP loads a fresh set along with the fresh configuration. */
#ifndef WB_TEMPLATES_H
#define WB_TEMPLATES_H

#include <glib.h>

/* Languages of citizen-facing messages, in the order of wb_templates.citizen_*. */
enum wb_lang { WB_LANG_BN, WB_LANG_HI, WB_LANG_EN, WB_LANG_COUNT };

struct wb_templates {
	char *text;               /* mail.txt: a citizen's message as mail */
	char *html;               /* mail.html */
	char *note_text;          /* note.txt: the bridge's own notes in a thread */
	char *note_html;          /* note.html */
	/* What the citizen receives on WhatsApp inside the 24-hour window, by language:
	 * citizen-registered.LANG.txt (with {{number}}) and citizen-message.LANG.txt
	 * (an officer's message without a number); fields station, number, ref, text. */
	char *citizen_registered[WB_LANG_COUNT];
	char *citizen_message[WB_LANG_COUNT];
	/* The station's duty (duty.h): the acknowledgement when a complaint opens
	 * (citizen-ack: fields station, ref, paper), the signature instruction put into
	 * it while no photo or document has come (citizen-paper: station, ref), the
	 * reminder when none came in time (citizen-reminder: station, ref, hours) and the
	 * notice of a transfer (citizen-transferred: station, from, ref, text). */
	char *citizen_ack[WB_LANG_COUNT];
	char *citizen_paper[WB_LANG_COUNT];
	char *citizen_reminder[WB_LANG_COUNT];
	char *citizen_transferred[WB_LANG_COUNT];
};

/* "bn", "hi", "en"; and back (-1 for anything else). */
const char *wb_lang_code(enum wb_lang l);
int wb_lang_parse(const char *code);
/* "Bengali", "Hindi", "English" for a code (a template language such as "en_US" as
 * given). */
const char *wb_lang_name(const char *code);

/* Load the templates from dir, or the built-in ones when dir is NULL; a file missing
 * from dir is taken from the built-in set. NULL with error when a file cannot be read or
 * is not UTF-8. */
struct wb_templates *wb_templates_load(const char *dir, GError **error);
void wb_templates_free(struct wb_templates *t);

#endif
