/* fuzz: what every libFuzzer target in tests/fuzz shares (header-only).
 *
 * A target is one fuzz-NAME.c defining LLVMFuzzerTestOneInput; its corpus is
 * corpus/NAME/. GMime is set up once, and GLib's log is quiet, except that a critical
 * (a g_return_if_fail that fired: our code handed a library something it must not) or an
 * error aborts, so that the fuzzer reports it as a finding. */
#ifndef WB_FUZZ_H
#define WB_FUZZ_H

#include <glib.h>
#include <gmime/gmime.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static GLogWriterOutput fuzz_log(GLogLevelFlags level, const GLogField *fields, gsize n,
				 gpointer data)
{
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
		g_log_writer_standard_streams(level, fields, n, data);
		abort();
	}
	return G_LOG_WRITER_HANDLED;
}

static inline void fuzz_init(void)
{
	g_log_set_writer_func(fuzz_log, NULL, NULL);
	g_mime_init();
}

#endif
