/* fuzz-serious: the serious-crime matcher. The input is a text matched against the
 * built-in list; when it holds a NUL byte, the bytes before it are also loaded as a list
 * file of their own (a bad one is refused with an error) and the rest matched against it.
 * Every result must be valid UTF-8, named once, and an entry of the list. */
#include "fuzz.h"
#include "serious.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct wb_serious *builtin;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	builtin = wb_serious_load(NULL, NULL);
	if (builtin == NULL)
		abort();
	return 0;
}

static void check_result(char **m)
{
	for (size_t i = 0; m != NULL && m[i] != NULL; i++) {
		if (!g_utf8_validate(m[i], -1, NULL) || m[i][0] == '\0')
			g_error("a match is empty or not UTF-8");
		for (size_t j = 0; j < i; j++)
			if (strcmp(m[i], m[j]) == 0)
				g_error("an entry is named twice");
	}
	if (m != NULL && m[0] == NULL)
		g_error("an empty result instead of NULL");
	g_strfreev(m);
}

/* The list part through a memory file, so that the loader reads it as it reads a path. */
static struct wb_serious *load_bytes(const uint8_t *data, size_t size)
{
	int fd = memfd_create("list", 0);
	if (fd < 0)
		return NULL;
	struct wb_serious *s = NULL;
	if (size == 0 || write(fd, data, size) == (ssize_t)size) {
		g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
		GError *err = NULL;
		s = wb_serious_load(path, &err);
		if ((s == NULL) == (err == NULL))
			g_error("a list refused without an error, or an error with a list");
		g_clear_error(&err);
	}
	close(fd);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t text_at = nul ? (size_t)(nul - data) + 1 : 0;
	g_autofree char *text = g_strndup((const char *)data + text_at, size - text_at);
	check_result(wb_serious_match(builtin, text));
	if (nul != NULL) {
		struct wb_serious *s = load_bytes(data, (size_t)(nul - data));
		check_result(wb_serious_match(s, text));
		wb_serious_free(s);
	}
	return 0;
}
