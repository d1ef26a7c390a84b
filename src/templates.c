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

const char *wb_lang_name(const char *code)
{
	static const char *const names[WB_LANG_COUNT] = { "Bengali", "Hindi", "English" };
	int l = wb_lang_parse(code);
	return l >= 0 ? names[l] : code ? code : "an unknown language";
}

int wb_lang_parse(const char *code)
{
	for (int i = 0; code && i < WB_LANG_COUNT; i++)
		if (strcmp(code, lang_codes[i]) == 0)
			return i;
	return -1;
}

/* The citizen texts, one file a language each: citizen-NAME.LANG.txt. */
static char **citizen_slot(struct wb_templates *t, size_t kind, int lang)
{
	char **slots[] = { t->citizen_registered, t->citizen_message, t->citizen_ack,
			   t->citizen_paper, t->citizen_reminder, t->citizen_transferred };
	return &slots[kind][lang];
}

static const char *const citizen_names[] = {
	"registered", "message", "ack", "paper", "reminder", "transferred",
};

struct wb_templates *wb_templates_load(const char *dir, GError **error)
{
	struct wb_templates *t = g_new0(struct wb_templates, 1);
	struct { char **slot; const char *name; } files[] = {
		{ &t->text, "mail.txt" }, { &t->html, "mail.html" },
		{ &t->note_text, "note.txt" }, { &t->note_html, "note.html" },
	};
	bool ok = true;
	for (size_t i = 0; ok && i < G_N_ELEMENTS(files); i++)
		ok = (*files[i].slot = load_one(dir, files[i].name, error)) != NULL;
	for (size_t k = 0; ok && k < G_N_ELEMENTS(citizen_names); k++)
		for (int l = 0; ok && l < WB_LANG_COUNT; l++) {
			g_autofree char *name = g_strdup_printf("citizen-%s.%s.txt",
								citizen_names[k], lang_codes[l]);
			ok = (*citizen_slot(t, k, l) = load_one(dir, name, error)) != NULL;
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
	for (size_t k = 0; k < G_N_ELEMENTS(citizen_names); k++)
		for (int l = 0; l < WB_LANG_COUNT; l++)
			g_free(*citizen_slot(t, k, l));
	g_free(t);
}
