/* fuzz-replyparse: an officer's reply mail in, the reply parser's result out (the new
 * text, the complaint number with a station's extra patterns, the tags, the headers, the
 * cuts), and the safety net on the text. */
#include "caps.h"
#include "fuzz.h"
#include "replyparse.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const extra[] = { "(?i)docket\\s+(\\d+)", "PS/(\\d+/\\d{2})", NULL };
	struct wb_reply *r = wb_reply_parse(data, size, extra, NULL);
	if (!r)
		return 0;
	if (!g_utf8_validate(r->text, -1, NULL) || strlen(r->text) > WB_MAX_TEXT_BYTES)
		g_error("the new text is not valid UTF-8 or over its cap");
	if (r->number && strspn(r->number, "0123456789/") != strlen(r->number))
		g_error("the complaint number is not ASCII digits");
	if (r->n_cuts > WB_REPLY_MAX_CUTS)
		g_error("more cuts than the cap");
	for (size_t i = 0; i < r->n_cuts; i++)
		if (!r->cuts[i].rule || r->cuts[i].line == 0 ||
		    (i && r->cuts[i].line < r->cuts[i - 1].line))
			g_error("a cut without a rule, or out of order");
	char *why = NULL;
	if (wb_reply_text_suspicious(r->text, &why) != (why != NULL))
		g_error("suspicious without a reason, or a reason without suspicion");
	g_free(why);
	wb_reply_free(r);
	return 0;
}
