/* templates: reading the restyleable templates from a directory, falling back to the
 * copies compiled into the binary (GResource, built from templates/). */
#include "templates.h"

#include <gio/gio.h>
#include <stdbool.h>
#include <string.h>

#define RESOURCE_DIR "/org/wabridge/templates/"

static char *load_one(const char *dir, const char *name, GError **error)
{
	if (dir) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		char *text = NULL;
		gsize len = 0;
		GError *e = NULL;
		if (!g_file_get_contents(path, &text, &len, &e)) {
			if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
				g_propagate_error(error, e);
				return NULL;
			}
			g_error_free(e);
			g_info("template %s is not there: using the built-in one", path);
			return load_one(NULL, name, error);
		}
		if (!g_utf8_validate(text, (gssize)len, NULL)) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "template %s is not valid UTF-8", path);
			g_free(text);
			return NULL;
		}
		return text;
	}
	g_autofree char *rpath = g_strconcat(RESOURCE_DIR, name, NULL);
	GBytes *b = g_resources_lookup_data(rpath, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
	if (!b)
		return NULL;
	gsize len;
	const char *data = g_bytes_get_data(b, &len);
	char *text = g_strndup(data, len);
	g_bytes_unref(b);
	return text;
}

static const char *const lang_codes[WB_LANG_COUNT] = { "bn", "hi", "en" };

const char *wb_lang_code(enum wb_lang l)
{
	return (unsigned)l < WB_LANG_COUNT ? lang_codes[l] : "en";
}

int wb_lang_parse(const char *code)
{
	for (int i = 0; code && i < WB_LANG_COUNT; i++)
		if (strcmp(code, lang_codes[i]) == 0)
			return i;
	return -1;
}

struct wb_templates *wb_templates_load(const char *dir, GError **error)
{
	struct wb_templates *t = g_new0(struct wb_templates, 1);
	struct { char **slot; char *name; } files[4 + 2 * WB_LANG_COUNT] = {
		{ &t->text, g_strdup("mail.txt") }, { &t->html, g_strdup("mail.html") },
		{ &t->note_text, g_strdup("note.txt") }, { &t->note_html, g_strdup("note.html") },
	};
	for (int l = 0; l < WB_LANG_COUNT; l++) {
		files[4 + 2 * l].slot = &t->citizen_registered[l];
		files[4 + 2 * l].name = g_strdup_printf("citizen-registered.%s.txt", lang_codes[l]);
		files[5 + 2 * l].slot = &t->citizen_message[l];
		files[5 + 2 * l].name = g_strdup_printf("citizen-message.%s.txt", lang_codes[l]);
	}
	bool ok = true;
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		if (ok)
			ok = (*files[i].slot = load_one(dir, files[i].name, error)) != NULL;
		g_free(files[i].name);
	}
	if (!ok) {
		wb_templates_free(t);
		return NULL;
	}
	return t;
}

void wb_templates_free(struct wb_templates *t)
{
	if (!t)
		return;
	g_free(t->text);
	g_free(t->html);
	g_free(t->note_text);
	g_free(t->note_html);
	for (int l = 0; l < WB_LANG_COUNT; l++) {
		g_free(t->citizen_registered[l]);
		g_free(t->citizen_message[l]);
	}
	g_free(t);
}
