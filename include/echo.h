/* echo: does a reply repeat words that are not the officer's? The reply path's last
 * check before anything goes to a citizen (issue: the reply parser never sends someone
 * else's words): the parser may miss a quote that has no '>' marks, as some phone apps
 * write them, and then the citizen's own message, or the bridge's mail, would go back
 * out as if the officer had written it.
 *
 * A set holds every run of WB_ECHO_WORDS consecutive words of the texts added (the
 * complaint's messages, what was sent to the citizen, the bridge's own mail text);
 * a reply that contains one such run echoes them. Words are compared without case,
 * by letters, marks and digits only (Bengali and Devanagari digits as ASCII), so
 * punctuation, line breaks and spacing a mail client changes do not hide an echo.
 * Pure: no I/O. */
#ifndef WB_ECHO_H
#define WB_ECHO_H

#include <glib.h>

/* How many words in a row make an echo: long enough that common phrases ("your
 * complaint has been registered") do not, short enough that a quoted sentence does. */
#define WB_ECHO_WORDS 7

struct wb_echo;
struct wb_echo *wb_echo_new(void);
void wb_echo_free(struct wb_echo *e);
typedef struct wb_echo wb_echo;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_echo, wb_echo_free)

/* Remember every run of WB_ECHO_WORDS words of text (NULL or shorter: nothing). */
void wb_echo_add(struct wb_echo *e, const char *text);

/* The first run of text's words that was added, as it stands in text (for the
 * officer's notice), or NULL when text echoes nothing. Newly allocated. */
char *wb_echo_find(const struct wb_echo *e, const char *text);

#endif
