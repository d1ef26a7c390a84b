/* webhook: parse a WhatsApp Cloud API webhook body into messages and statuses.
 *
 * Design: jansson decodes (including \uXXXX surrogate pairs); every value we keep is
 * copied out through one of the get_* helpers, which enforce type, length and shape, so
 * nothing from the body reaches the rest of the program unchecked. A malformed item is
 * skipped with a problem line, never silently; only a body that is not a webhook at all
 * fails as a whole. */
#include "webhook.h"
#include "caps.h"
#include "util.h"

#include <jansson.h>
#include <string.h>

G_DEFINE_QUARK(wb-webhook-error-quark, wb_webhook_error)

bool wb_is_digits(const char *s, size_t max_len)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max_len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isdigit(s[i]))
			return false;
	return true;
}

bool wb_is_bsuid(const char *s)
{
	/* CC. + up to 128 alphanumerics; a parent id has a further "ENT." part. */
	size_t n = s ? strlen(s) : 0;
	if (n < 4 || n > 140 || !g_ascii_isupper(s[0]) || !g_ascii_isupper(s[1]) || s[2] != '.')
		return false;
	for (size_t i = 3; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '.')
			return false;
	return s[n - 1] != '.';
}

static bool is_atext(char c)
{
	return g_ascii_isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

bool wb_is_dot_atom(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > WB_MAX_ID_BYTES || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i]))
			return false;
	}
	return true;
}

char *wb_message_id(const char *wamid, const char *domain)
{
	if (wb_is_dot_atom(wamid))
		return g_strdup_printf("%s@%s", wamid, domain);
	g_autofree char *h = wb_sha256_hex(wamid, strlen(wamid));
	return g_strdup_printf("%s.wa@%s", h, domain);
}

/* A string member, cleaned: valid UTF-8, no NUL, at most max bytes. NULL when absent,
 * not a string, or empty. Numbers are accepted as strings (Meta is not consistent). */
static char *get_str(json_t *obj, const char *key, size_t max)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_integer(v))
		return g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (!json_is_string(v) || json_string_length(v) == 0)
		return NULL;
	return wb_clean_text(json_string_value(v), json_string_length(v), max);
}

/* An identifier: must be printable ASCII without spaces, angle brackets or quotes. */
static char *get_id(json_t *obj, const char *key)
{
	char *s = get_str(obj, key, WB_MAX_ID_BYTES + 1);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	bool ok = n <= WB_MAX_ID_BYTES;
	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] > ' ' && s[i] < 0x7f && !strchr("<>\"\\()[],;:@", s[i]);
	if (!ok)
		g_clear_pointer(&s, g_free);
	return s;
}

static gint64 get_time(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	gint64 t = 0;
	if (json_is_integer(v))
		t = json_integer_value(v);
	else if (json_is_string(v) && wb_is_digits(json_string_value(v), 12))
		t = g_ascii_strtoll(json_string_value(v), NULL, 10);
	/* Before 2009 or after 9999 is not a WhatsApp timestamp. */
	return (t >= 1230768000 && t < 253402300800) ? t : 0;
}

static bool get_bool(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

static char *compact(json_t *v)
{
	/* UTF-8 out, not \u escapes: the attachment is for people to read. */
	/* 15 significant digits: 22.5187 stays 22.5187 (jansson's default 17 would print
	 * 22.518699999999999). */
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
			     JSON_REAL_PRECISION(15));
	char *copy = g_strdup(s ? s : "null");
	free(s);
	return copy;
}

static void inmsg_free(gpointer p)
{
	struct wb_inmsg *m = p;
	g_free(m->phone_number_id);
	g_free(m->display_phone);
	g_free(m->wamid);
	g_free(m->sender);
	g_free(m->wa_id);
	g_free(m->user_id);
	g_free(m->profile_name);
	g_free(m->type);
	g_free(m->context_id);
	g_free(m->reacts_to);
	g_free(m->json);
	g_free(m);
}

static void instatus_free(gpointer p)
{
	struct wb_instatus *s = p;
	g_free(s->phone_number_id);
	g_free(s->wamid);
	g_free(s->status);
	g_free(s->recipient);
	g_free(s->opaque);
	g_free(s->json);
	g_free(s);
}

void wb_payload_free(struct wb_payload *p)
{
	if (!p)
		return;
	g_ptr_array_unref(p->messages);
	g_ptr_array_unref(p->statuses);
	g_ptr_array_unref(p->problems);
	g_free(p);
}

struct where {
	struct wb_payload *out;
	size_t entry, change;
	const char *pnid, *display;
	json_t *contacts;
	unsigned items; /* messages + statuses so far, against WB_MAX_MESSAGES */
};

G_GNUC_PRINTF(3, 4)
static void problem(struct where *w, size_t item, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(w->out->problems,
			g_strdup_printf("entry %zu, change %zu, item %zu: %s", w->entry, w->change,
					item, what));
}

/* The contact whose wa_id (or user_id) names this sender; NULL when none does. */
static json_t *contact_for(json_t *contacts, const char *wa_id, const char *user_id)
{
	size_t i;
	json_t *c;
	json_array_foreach(contacts, i, c) {
		json_t *w = json_object_get(c, "wa_id"), *u = json_object_get(c, "user_id");
		if (wa_id && json_is_string(w) && strcmp(json_string_value(w), wa_id) == 0)
			return c;
		if (user_id && json_is_string(u) && strcmp(json_string_value(u), user_id) == 0)
			return c;
	}
	return NULL;
}

static void parse_message(struct where *w, size_t idx, json_t *m)
{
	if (!json_is_object(m)) {
		problem(w, idx, "message is not an object");
		return;
	}
	g_autofree char *wamid = get_id(m, "id");
	g_autofree char *from = get_id(m, "from");
	g_autofree char *from_uid = get_id(m, "from_user_id");
	if (!wamid) {
		problem(w, idx, "message without a usable id");
		return;
	}
	if (from && !wb_is_digits(from, 32))
		g_clear_pointer(&from, g_free);
	if (from_uid && !wb_is_bsuid(from_uid))
		g_clear_pointer(&from_uid, g_free);
	if (!from && !from_uid) {
		problem(w, idx, "message %s without a usable sender (from / from_user_id)", wamid);
		return;
	}
	struct wb_inmsg *im = g_new0(struct wb_inmsg, 1);
	im->phone_number_id = g_strdup(w->pnid);
	im->display_phone = g_strdup(w->display ? w->display : "");
	im->wamid = g_steal_pointer(&wamid);
	im->sender = g_strdup(from ? from : from_uid);
	im->wa_id = g_steal_pointer(&from);
	im->user_id = g_steal_pointer(&from_uid);
	json_t *c = contact_for(w->contacts, im->wa_id, im->user_id);
	if (c)
		im->profile_name = get_str(json_object_get(c, "profile"), "name", 4 * WB_MAX_NAME_CHARS);
	im->timestamp = get_time(m, "timestamp");
	im->type = get_id(m, "type");
	if (!im->type)
		im->type = g_strdup("unknown");
	json_t *ctx = json_object_get(m, "context");
	if (json_is_object(ctx)) {
		im->context_id = get_id(ctx, "id");
		im->forwarded = get_bool(ctx, "forwarded") || get_bool(ctx, "frequently_forwarded");
	}
	json_t *reaction = json_object_get(m, "reaction");
	if (strcmp(im->type, "reaction") == 0 && json_is_object(reaction))
		im->reacts_to = get_id(reaction, "message_id");
	im->json = compact(m);
	g_ptr_array_add(w->out->messages, im);
}

static void parse_status(struct where *w, size_t idx, json_t *s)
{
	g_autofree char *wamid = json_is_object(s) ? get_id(s, "id") : NULL;
	g_autofree char *status = wamid ? get_id(s, "status") : NULL;
	if (!wamid || !status) {
		problem(w, idx, "status without a usable id or status");
		return;
	}
	struct wb_instatus *st = g_new0(struct wb_instatus, 1);
	st->phone_number_id = g_strdup(w->pnid);
	st->wamid = g_steal_pointer(&wamid);
	st->status = g_steal_pointer(&status);
	st->timestamp = get_time(s, "timestamp");
	st->recipient = get_id(s, "recipient_id");
	st->opaque = get_str(s, "biz_opaque_callback_data", 512);
	json_t *e = json_array_get(json_object_get(s, "errors"), 0);
	json_t *code = json_object_get(e, "code");
	if (json_is_integer(code) && json_integer_value(code) > 0 &&
	    json_integer_value(code) < G_MAXINT)
		st->error_code = (int)json_integer_value(code);
	st->json = compact(s);
	g_ptr_array_add(w->out->statuses, st);
}

static void parse_change(struct where *w, json_t *change)
{
	json_t *field = json_object_get(change, "field");
	json_t *value = json_object_get(change, "value");
	if (json_is_string(field) && strcmp(json_string_value(field), "messages") != 0) {
		w->out->ignored++;
		return;
	}
	if (!json_is_object(value)) {
		problem(w, 0, "change without a value object");
		return;
	}
	json_t *meta = json_object_get(value, "metadata");
	g_autofree char *pnid = json_is_object(meta) ? get_id(meta, "phone_number_id") : NULL;
	g_autofree char *display = json_is_object(meta) ? get_id(meta, "display_phone_number") : NULL;
	if (!pnid || !wb_is_digits(pnid, 32)) {
		problem(w, 0, "change without a usable metadata.phone_number_id");
		return;
	}
	w->pnid = pnid;
	w->display = display;
	w->contacts = json_object_get(value, "contacts");

	json_t *list[2] = { json_object_get(value, "messages"), json_object_get(value, "statuses") };
	for (int k = 0; k < 2; k++) {
		size_t i;
		json_t *item;
		json_array_foreach(list[k], i, item) {
			if (++w->items > WB_MAX_MESSAGES) {
				problem(w, i, "more than %u items in one body; rest skipped",
					WB_MAX_MESSAGES);
				return;
			}
			if (k == 0)
				parse_message(w, i, item);
			else
				parse_status(w, i, item);
		}
	}
}

struct wb_payload *wb_webhook_parse(const void *body, size_t len, GError **error)
{
	json_error_t jerr;
	/* JSON_ALLOW_NUL: a \u0000 inside a string is the sender's text, not a broken body;
	 * get_str() removes it. */
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (!root) {
		g_set_error(error, WB_WEBHOOK_ERROR, WB_WEBHOOK_NOT_JSON,
			    "not valid JSON: %s at line %d column %d", jerr.text, jerr.line,
			    jerr.column);
		return NULL;
	}
	json_t *entries = json_object_get(root, "entry");
	json_t *object = json_object_get(root, "object");
	if (!json_is_object(root) || !json_is_array(entries) || !json_is_string(object)) {
		g_set_error(error, WB_WEBHOOK_ERROR, WB_WEBHOOK_BAD_SHAPE,
			    "JSON is not a webhook envelope (needs \"object\" and an \"entry\" array)");
		json_decref(root);
		return NULL;
	}
	struct wb_payload *out = g_new0(struct wb_payload, 1);
	out->messages = g_ptr_array_new_with_free_func(inmsg_free);
	out->statuses = g_ptr_array_new_with_free_func(instatus_free);
	out->problems = g_ptr_array_new_with_free_func(g_free);
	if (strcmp(json_string_value(object), "whatsapp_business_account") != 0) {
		out->ignored++; /* another product's webhook: acknowledge, keep, ignore */
		json_decref(root);
		return out;
	}
	struct where w = { .out = out };
	json_t *entry;
	json_array_foreach(entries, w.entry, entry) {
		json_t *change;
		json_array_foreach(json_object_get(entry, "changes"), w.change, change)
			parse_change(&w, change);
	}
	json_decref(root);
	return out;
}
