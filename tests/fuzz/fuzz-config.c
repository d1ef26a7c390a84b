/* fuzz-config: a configuration's text in, check-config's whole check on it (syntax,
 * every key's validator, the rules across keys). Paths in the text are looked at
 * relative to the working directory, as check-config does; nothing is created. */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GPtrArray *problems = g_ptr_array_new_with_free_func(g_free);
	bool ok = wb_config_check_text("fuzz.conf", data, size, problems);
	if (ok != (problems->len == 0))
		g_error("the checker's answer and its problems disagree");
	for (guint i = 0; i < problems->len; i++)
		if (!g_utf8_validate(problems->pdata[i], -1, NULL))
			g_error("a problem is not valid UTF-8");
	g_ptr_array_unref(problems);
	return 0;
}
