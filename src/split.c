/* split: the note in the old thread and the root mail of a complaint split off by #new
 * (split.h). The root mail starts as a bridge note (wb_render_thread_note, so it looks
 * like every other note and an admin restyles it in one place) and then gets the moved
 * messages' mails attached byte for byte. */
#include "split.h"
#include "render.h"
#include "replyparse.h"
#include "util.h"
#include "view.h"
#include "webhook.h"

#include <gmime/gmime.h>
#include <string.h>

#define LIST_MAX 50          /* moved messages listed one by one in a note */
#define TEXT_MAX (4 * 1024)  /* of one message's text in the root mail */


/* For its summary and text only: no file is named, so the zone does not matter. */
static struct wb_view *view_of(const struct wb_split_msg *m)
{
	return wb_view_build(m->type ? m->type : "unknown", m->json ? m->json : "{}", NULL, m->ts,
			     "UTC");
}

char *wb_split_summary(const struct wb_split_msg *m)
{
	if (m->mail) {
		gsize len;
		const void *data = g_bytes_get_data(m->mail, &len);
		GMimeMessage *msg = wb_parse_mail(data, len);
		const char *subject = msg ? g_mime_message_get_subject(msg) : NULL;
		g_autofree char *clean = subject ? wb_clean_line(subject, 200) : NULL;
		if (msg)
			g_object_unref(msg);
		const char *s = clean;
		if (s && *s == '[' && strchr(s, ']'))
			s = strchr(s, ']') + 1;
		while (s && *s == ' ')
			s++;
		if (s && *s)
			return g_strdup(s);
	}
	struct wb_view *v = view_of(m);
	char *out = wb_clean_line(v->summary, 200);
	wb_view_free(v);
	return out;
}

/* "- 6 December 2026, 14:05 IST: first line" for each moved message. */
static void list_moved(GString *out, const struct wb_split_words *w)
{
	for (guint i = 0; i < w->moved->len && i < LIST_MAX; i++) {
		const struct wb_split_msg *m = w->moved->pdata[i];
		g_autofree char *at = wb_when_text(m->ts, w->cfg->timezone);
		struct wb_view *v = view_of(m);
		g_autofree char *line = wb_clean_line(v->summary, 120);
		g_string_append_printf(out, "- %s: %s\n", at, line);
		wb_view_free(v);
	}
	if (w->moved->len > LIST_MAX)
		g_string_append_printf(out, "- … and %u more\n", w->moved->len - LIST_MAX);
}

static char *moved_count(unsigned n)
{
	return g_strdup_printf("%u message%s", n, n == 1 ? "" : "s");
}

GBytes *wb_split_note(const struct wb_split_words *w, const char *msgid, GError **error)
{
	g_autofree char *count = moved_count(w->moved->len);
	g_autofree char *at = wb_when_text(w->when, w->cfg->timezone);
	g_autoptr(GString) body = g_string_new(NULL);
	g_string_append_printf(body, "%s split %s off this complaint into a new complaint, %s, "
			       "on %s: a different incident.\n\nMoved to %s:\n", w->officer, count,
			       w->to_ref, at, w->to_ref);
	list_moved(body, w);
	if (w->text && *w->text)
		g_string_append_printf(body, "\nIn the officer's words:\n%s\n", w->text);
	g_string_append_printf(body, "\nThose mails stay in this thread; the new complaint's "
			       "thread starts with a mail \"[%s] …\" that lists them. What is left "
			       "here stays %s, open as before. The citizen's next messages go to %s.",
			       w->to_ref, w->from_ref, w->to_ref);
	g_autofree char *summary = g_strdup_printf("Split: %s moved to new complaint %s", count,
						   w->to_ref);
	g_autofree char *tag = g_strdup_printf("%s -> %s", w->from_ref, w->to_ref);
	const char *headers[] = { "X-Wabridge-Split", tag, NULL };
	return wb_render_thread_note(w->cfg, w->st, w->from_ref, w->from_root, msgid, summary,
				     summary, body->str, headers, error);
}

static char *root_body(const struct wb_split_words *w)
{
	g_autofree char *at = wb_when_text(w->when, w->cfg->timezone);
	GString *body = g_string_new(NULL);
	g_string_append_printf(body, "Split from %s by %s on %s: these messages were first filed "
			       "under %s.\n", w->from_ref, w->officer, at, w->from_ref);
	if (w->text && *w->text)
		g_string_append_printf(body, "\nIn the officer's words:\n%s\n", w->text);
	for (guint i = 0; i < w->moved->len; i++) {
		const struct wb_split_msg *m = w->moved->pdata[i];
		g_autofree char *mat = wb_when_text(m->ts, w->cfg->timezone);
		struct wb_view *v = view_of(m);
		const char *text = v->text && *v->text ? v->text : v->label;
		g_autofree char *clean = wb_clean_text(text, strlen(text), TEXT_MAX);
		g_string_append_printf(body, "\n%s (%s):\n%s\n", mat, v->label, clean);
		wb_view_free(v);
	}
	unsigned kept = 0, attached = 0;
	for (guint i = 0; i < w->moved->len; i++) {
		const struct wb_split_msg *m = w->moved->pdata[i];
		kept += m->delivered && !m->mail;
		attached += m->mail != NULL;
	}
	if (kept)
		g_string_append_printf(body, "\nThe mails of these messages as delivered under %s "
				       "(photos and files included) stay in that complaint's "
				       "thread.", w->from_ref);
	if (attached)
		g_string_append_printf(body, "\nThe mails of %s as delivered under %s are "
				       "attached.", attached == 1 ? "one of them" : "some of them",
				       w->from_ref);
	g_string_append_printf(body, "\nThis is complaint %s: reply to this mail to answer the "
			       "citizen under it; a complaint number in the reply registers %s.",
			       w->to_ref, w->to_ref);
	return g_string_free(body, FALSE);
}

/* A delivered mail, attached as it is: message/rfc822 (7bit, CRLF, as rendered). */
static GMimeObject *rfc822_part(GBytes *mail)
{
	GMimePart *p = g_mime_part_new_with_type("message", "rfc822");
	gsize len;
	const void *data = g_bytes_get_data(mail, &len);
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, dw);
	g_object_unref(dw);
	g_object_unref(st);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_7BIT);
	g_mime_object_set_disposition(GMIME_OBJECT(p), "attachment");
	return GMIME_OBJECT(p);
}

GBytes *wb_split_root(const struct wb_split_words *w, GError **error)
{
	g_autofree char *msgid = g_strdup_printf("%s@%s", w->root, w->cfg->domain);
	g_autofree char *summary = wb_split_summary(w->moved->pdata[0]);
	g_autofree char *title = g_strdup_printf("New complaint %s, split from %s", w->to_ref,
						 w->from_ref);
	g_autofree char *body = root_body(w);
	g_autofree char *tag = g_strdup_printf("%s -> %s", w->from_ref, w->to_ref);
	const char *headers[] = { "X-Wabridge-Split-Root", tag, NULL };
	g_autoptr(GBytes) note = wb_render_thread_note(w->cfg, w->st, w->to_ref, NULL, msgid,
						       summary, title, body, headers, error);
	if (!note)
		return NULL;
	gsize len;
	const void *data = g_bytes_get_data(note, &len);
	GMimeMessage *mail = wb_parse_mail(data, len);
	if (!mail) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the root mail of %s cannot be "
			    "read back", w->to_ref);
		return NULL;
	}
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mixed, g_mime_message_get_mime_part(mail));
	for (guint i = 0; i < w->moved->len; i++) {
		const struct wb_split_msg *m = w->moved->pdata[i];
		if (!m->mail)
			continue; /* rendered again: it comes into the new thread by itself */
		GMimeObject *p = rfc822_part(m->mail);
		g_mime_multipart_add(mixed, p);
		g_object_unref(p);
	}
	g_mime_message_set_mime_part(mail, GMIME_OBJECT(mixed));
	g_object_unref(mixed);
	GBytes *out = wb_mail_serialize(mail);
	g_object_unref(mail);
	return out;
}
