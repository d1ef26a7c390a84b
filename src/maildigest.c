/* maildigest: the headers and parts of a mail, hashed (see maildigest.h). */
#include "maildigest.h"
#include "replyparse.h"
#include "util.h"

#include <jansson.h>
#include <string.h>

#define SHOWN_MAX 120 /* characters of a header value quoted in a report */

GBytes *wb_mail_canonical(const void *mail, size_t len)
{
	const char *p = mail;
	GByteArray *out = g_byte_array_sized_new((guint)(len + len / 32 + 2));
	size_t from = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n' || (i > 0 && p[i - 1] == '\r'))
			continue;
		g_byte_array_append(out, (const guint8 *)p + from, (guint)(i - from));
		g_byte_array_append(out, (const guint8 *)"\r\n", 2);
		from = i + 1;
	}
	g_byte_array_append(out, (const guint8 *)p + from, (guint)(len - from));
	return g_byte_array_free_to_bytes(out);
}

/* The SHA-256 (hex) and size of mail's canonical form, worked out without making it;
 * *same (may be NULL): mail is in that form already. */
static char *canonical_sum(const char *p, size_t len, gsize *size, bool *same)
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	size_t from = 0, added = 0;
	const char *nl;
	for (size_t i = 0; i < len && (nl = memchr(p + i, '\n', len - i)); i = (size_t)(nl - p) + 1) {
		size_t at = (size_t)(nl - p);
		if (at > 0 && p[at - 1] == '\r')
			continue;
		g_checksum_update(c, (const guchar *)p + from, (gssize)(at - from));
		g_checksum_update(c, (const guchar *)"\r\n", 2);
		from = at + 1;
		added++;
	}
	g_checksum_update(c, (const guchar *)p + from, (gssize)(len - from));
	char *hex = g_strdup(g_checksum_get_string(c));
	g_checksum_free(c);
	if (size)
		*size = len + added;
	if (same)
		*same = added == 0;
	return hex;
}

char *wb_mail_sha256(const void *mail, size_t len)
{
	return canonical_sum(mail, len, NULL, NULL);
}

static void header_free(gpointer p)
{
	g_strfreev(p);
}

static void part_free(gpointer p)
{
	struct wb_mailpart *m = p;
	g_free(m->path);
	g_free(m->type);
	g_free(m->name);
	g_free(m->desc);
	g_free(m->sha256);
	g_free(m);
}

void wb_maildigest_free(struct wb_maildigest *d)
{
	if (!d)
		return;
	g_free(d->sha256);
	g_ptr_array_unref(d->headers);
	g_ptr_array_unref(d->parts);
	g_free(d);
}

static struct wb_maildigest *digest_new(void)
{
	struct wb_maildigest *d = g_new0(struct wb_maildigest, 1);
	d->headers = g_ptr_array_new_with_free_func(header_free);
	d->parts = g_ptr_array_new_with_free_func(part_free);
	return d;
}

/* One header field: the name before ':', the value with its folding removed, trimmed.
 * The bridge writes ASCII; bytes that are not UTF-8 (a changed mail) become U+FFFD, so
 * every digest has a JSON form. */
static void add_field(struct wb_maildigest *d, const char *f, size_t n)
{
	const char *colon = memchr(f, ':', n);
	if (!colon)
		colon = f + n;
	char **h = g_new0(char *, 3);
	g_autofree char *name = g_utf8_make_valid(f, colon - f);
	h[0] = g_strstrip(g_strdup(name));
	GString *v = g_string_sized_new(n);
	for (const char *p = colon < f + n ? colon + 1 : colon; p < f + n; p++)
		if (*p != '\r' && *p != '\n')
			g_string_append_c(v, *p);
	h[1] = g_strstrip(g_utf8_make_valid(v->str, (gssize)v->len));
	g_string_free(v, TRUE);
	g_ptr_array_add(d->headers, h);
}

/* The header block, up to the first empty line (canonical CRLF bytes). */
static void read_headers(struct wb_maildigest *d, const char *m, size_t len)
{
	size_t start = 0, i = 0;
	while (i < len) {
		const char *eol = memchr(m + i, '\n', len - i);
		size_t next = eol ? (size_t)(eol - m) + 1 : len;
		size_t line_len = next - i;
		bool empty = line_len <= 2 && (m[i] == '\r' || m[i] == '\n');
		bool folded = m[i] == ' ' || m[i] == '\t';
		if ((empty || !folded) && i > start)
			add_field(d, m + start, i - start);
		if (empty)
			return;
		if (!folded)
			start = i;
		i = next;
	}
	if (i > start)
		add_field(d, m + start, i - start);
}

static bool is_text(const char *type)
{
	return g_str_has_prefix(type, "text/") || strcmp(type, "message/rfc822") == 0;
}

static GBytes *decoded(GMimePart *part)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (w)
		g_mime_data_wrapper_write_to_stream(w, mem);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	GBytes *b = g_bytes_new(ba->data, ba->len);
	g_object_unref(mem);
	return b;
}

GBytes *wb_mail_part_bytes(GMimeMessage *msg, const char *path)
{
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	if (top && GMIME_IS_PART(top))
		return strcmp(path, "1") == 0 ? decoded(GMIME_PART(top)) : NULL;
	GMimeObject *found = NULL;
	GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
	if (g_mime_part_iter_is_valid(it)) {
		do {
			g_autofree char *at = g_mime_part_iter_get_path(it);
			GMimeObject *cur = g_mime_part_iter_get_current(it);
			if (GMIME_IS_PART(cur) && strcmp(at, path) == 0)
				found = cur;
		} while (!found && g_mime_part_iter_next(it));
	}
	GBytes *b = found ? decoded(GMIME_PART(found)) : NULL;
	g_mime_part_iter_free(it);
	return b;
}

bool wb_mailpart_claimed_sha256(const struct wb_mailpart *p, char out[65])
{
	const char *s = p->desc ? strstr(p->desc, "SHA-256 ") : NULL;
	if (!s)
		return false;
	s += 8;
	for (int i = 0; i < 64; i++) {
		if (!g_ascii_isxdigit(s[i]))
			return false;
		out[i] = g_ascii_tolower(s[i]);
	}
	out[64] = '\0';
	return true;
}

/* The size and SHA-256 of a part's decoded content, worked out as it is decoded (a
 * medium is never held whole); canonical: of its canonical line ends (maildigest.h). */
static void content_sum(GMimePart *part, bool canonical, gsize *size, char **sha256)
{
	GMimeStream *null = g_mime_stream_null_new();
	GMimeStream *f = g_mime_stream_filter_new(null);
	if (canonical) {
		GMimeFilter *crlf = g_mime_filter_unix2dos_new(FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), crlf);
		g_object_unref(crlf);
	}
	GMimeFilter *sum = g_mime_filter_checksum_new(G_CHECKSUM_SHA256);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), sum);
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (w)
		g_mime_data_wrapper_write_to_stream(w, f);
	g_mime_stream_flush(f);
	*size = GMIME_STREAM_NULL(null)->written;
	*sha256 = g_mime_filter_checksum_get_string(GMIME_FILTER_CHECKSUM(sum));
	g_object_unref(sum);
	g_object_unref(f);
	g_object_unref(null);
}

static struct wb_mailpart *part_of(GMimePart *part, const char *path)
{
	struct wb_mailpart *p = g_new0(struct wb_mailpart, 1);
	p->path = g_strdup(path);
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	g_autofree char *mime_type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	p->type = g_ascii_strdown(mime_type ? mime_type : "text/plain", -1);
	const char *name = g_mime_part_get_filename(part);
	p->name = name ? g_strdup(name) : NULL;
	const char *desc = g_mime_object_get_header(GMIME_OBJECT(part), "Content-Description");
	p->desc = desc ? g_strstrip(g_strdup(desc)) : NULL;
	/* base64 carries bytes exactly (media, the JSON record): their hash is the file's.
	 * Text in 7bit, 8bit or quoted-printable may come back with other line ends. */
	bool exact = g_mime_part_get_content_encoding(part) == GMIME_CONTENT_ENCODING_BASE64;
	content_sum(part, is_text(p->type) && !exact, &p->size, &p->sha256);
	return p;
}

static void read_parts(struct wb_maildigest *d, GMimeMessage *msg)
{
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	if (!top)
		return;
	if (GMIME_IS_PART(top)) {
		g_ptr_array_add(d->parts, part_of(GMIME_PART(top), "1"));
		return;
	}
	GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(msg));
	if (g_mime_part_iter_is_valid(it)) {
		do {
			GMimeObject *cur = g_mime_part_iter_get_current(it);
			if (!GMIME_IS_PART(cur))
				continue;
			g_autofree char *path = g_mime_part_iter_get_path(it);
			g_ptr_array_add(d->parts, part_of(GMIME_PART(cur), path));
		} while (g_mime_part_iter_next(it));
	}
	g_mime_part_iter_free(it);
}

/* The mail parsed where it lies: GMime's memory stream copies what it is given, and a
 * mail runs to 150 MiB. The array borrows m (GMime only reads it) and must outlive the
 * message; *array is freed with g_byte_array_free(array, FALSE), which leaves m alone. */
static GMimeMessage *parse_in_place(const char *m, size_t n, GByteArray **array)
{
	*array = g_byte_array_new_take((guint8 *)(void *)m, n);
	GMimeStream *st = g_mime_stream_mem_new_with_byte_array(*array);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(st), FALSE);
	GMimeMessage *msg = wb_parse_mail_stream(st);
	g_object_unref(st);
	return msg;
}

/* A mail the bridge wrote is canonical already (CRLF): it is hashed and parsed where it
 * lies, with no copy, and each part hashed as it is decoded, so a digest costs a few
 * buffers whatever the mail's size. Only a mail with other line ends (read back from a
 * Maildir) is first copied into the canonical form. A message the caller keeps (msg_out)
 * is parsed from a copy of its own. */
struct wb_maildigest *wb_maildigest_of(const void *mail, size_t len, GMimeMessage **msg_out,
				       GError **error)
{
	if (msg_out)
		*msg_out = NULL;
	bool same;
	gsize n;
	struct wb_maildigest *d = digest_new();
	d->sha256 = canonical_sum(mail, len, &n, &same);
	d->size = n;
	g_autoptr(GBytes) c = same ? g_bytes_new_static(mail, len) : wb_mail_canonical(mail, len);
	const char *m = g_bytes_get_data(c, NULL);
	GByteArray *borrowed = NULL;
	GMimeMessage *msg = msg_out ? wb_parse_mail(m, n) : parse_in_place(m, n, &borrowed);
	if (msg) {
		read_headers(d, m, n);
		read_parts(d, msg);
		if (msg_out)
			*msg_out = g_object_ref(msg);
		g_object_unref(msg);
	}
	if (borrowed)
		g_byte_array_free(borrowed, FALSE);
	if (!msg) {
		wb_maildigest_free(d);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "not a mail: it does not start with a header field");
		return NULL;
	}
	return d;
}

const char *wb_maildigest_header(const struct wb_maildigest *d, const char *name)
{
	for (guint i = 0; i < d->headers->len; i++) {
		char **h = d->headers->pdata[i];
		if (g_ascii_strcasecmp(h[0], name) == 0)
			return h[1];
	}
	return NULL;
}

char *wb_maildigest_message_id(const struct wb_maildigest *d)
{
	const char *h = wb_maildigest_header(d, "Message-ID");
	if (!h)
		return NULL;
	const char *lt = strchr(h, '<');
	const char *p = lt ? lt + 1 : h;
	size_t n = strcspn(p, ">");
	return n ? g_strndup(p, n) : NULL;
}

/* ---- JSON form ---------------------------------------------------------------------- */

char *wb_maildigest_json(const struct wb_maildigest *d)
{
	json_t *headers = json_array();
	for (guint i = 0; i < d->headers->len; i++) {
		char **h = d->headers->pdata[i];
		/* A changed mail's header may hold bytes that are not UTF-8; the bridge's
		 * own never do, and only the bridge's are stored. */
		json_array_append_new(headers, json_pack("[ss]", h[0], h[1]));
	}
	json_t *parts = json_array();
	for (guint i = 0; i < d->parts->len; i++) {
		const struct wb_mailpart *p = d->parts->pdata[i];
		json_array_append_new(parts, json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:s}",
						       "path", p->path, "type", p->type,
						       "name", p->name, "desc", p->desc,
						       "size", (json_int_t)p->size, "sha256",
						       p->sha256));
	}
	json_t *o = json_pack("{s:i, s:s, s:I, s:o, s:o}", "v", 1, "sha256", d->sha256, "size",
			      (json_int_t)d->size, "headers", headers, "parts", parts);
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	char *out = g_strdup(text);
	free(text);
	return out;
}

static char *str_or_null(json_t *v)
{
	return json_is_string(v) ? g_strdup(json_string_value(v)) : NULL;
}

struct wb_maildigest *wb_maildigest_from_json(const char *text, GError **error)
{
	json_error_t je;
	json_t *o = json_loads(text ? text : "", 0, &je);
	json_t *headers = json_object_get(o, "headers"), *parts = json_object_get(o, "parts");
	const char *sha = json_string_value(json_object_get(o, "sha256"));
	if (!json_is_object(o) || !json_is_array(headers) || !json_is_array(parts) || !sha) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "a stored mail digest is not in the expected form");
		json_decref(o);
		return NULL;
	}
	struct wb_maildigest *d = digest_new();
	d->sha256 = g_strdup(sha);
	d->size = (gsize)json_integer_value(json_object_get(o, "size"));
	size_t i;
	json_t *v;
	json_array_foreach(headers, i, v) {
		const char *name = json_string_value(json_array_get(v, 0));
		const char *value = json_string_value(json_array_get(v, 1));
		if (!name || !value)
			continue;
		char **h = g_new0(char *, 3);
		h[0] = g_strdup(name);
		h[1] = g_strdup(value);
		g_ptr_array_add(d->headers, h);
	}
	json_array_foreach(parts, i, v) {
		struct wb_mailpart *p = g_new0(struct wb_mailpart, 1);
		p->path = str_or_null(json_object_get(v, "path"));
		p->type = str_or_null(json_object_get(v, "type"));
		p->name = str_or_null(json_object_get(v, "name"));
		p->desc = str_or_null(json_object_get(v, "desc"));
		p->size = (gsize)json_integer_value(json_object_get(v, "size"));
		p->sha256 = str_or_null(json_object_get(v, "sha256"));
		if (!p->path || !p->type || !p->sha256) {
			part_free(p);
			continue;
		}
		g_ptr_array_add(d->parts, p);
	}
	json_decref(o);
	return d;
}

/* ---- comparing ---------------------------------------------------------------------- */

/* Headers that mail software adds when it files, moves or exports a mail: they say
 * nothing about the mail's content. */
static bool filing_header(const char *name)
{
	static const char *const names[] = {
		"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAPbase", "X-IMAP",
		"Content-Length", "Lines", "X-Mozilla-Status", "X-Mozilla-Status2",
		"X-Mozilla-Keys", "X-Account-Key", "X-UIDL", "X-Evolution-Source",
		"X-Evolution-Transport", "X-Evolution-Fcc",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		if (g_ascii_strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static char *shown(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
	g_autofree char *cut = wb_summary_line(valid, SHOWN_MAX);
	return wb_escape_controls(cut, false);
}

static const struct wb_mailpart *part_at(const struct wb_maildigest *d, const char *path)
{
	for (guint i = 0; i < d->parts->len; i++) {
		const struct wb_mailpart *p = d->parts->pdata[i];
		if (strcmp(p->path, path) == 0)
			return p;
	}
	return NULL;
}

static char *part_label(const struct wb_mailpart *p)
{
	g_autofree char *name = p->name ? shown(p->name) : NULL;
	g_autofree char *type = shown(p->type);
	return name ? g_strdup_printf("part %s (%s, %s)", p->path, name, type)
		    : g_strdup_printf("part %s (%s)", p->path, type);
}

static void compare_headers(const struct wb_maildigest *was, const struct wb_maildigest *now,
			    GPtrArray *diffs, GPtrArray *notes)
{
	g_autofree bool *used = g_new0(bool, now->headers->len + 1);
	for (guint i = 0; i < was->headers->len; i++) {
		char **h = was->headers->pdata[i];
		guint j;
		for (j = 0; j < now->headers->len; j++) {
			char **k = now->headers->pdata[j];
			if (!used[j] && g_ascii_strcasecmp(h[0], k[0]) == 0)
				break;
		}
		g_autofree char *name = shown(h[0]);
		g_autofree char *old = shown(h[1]);
		if (j == now->headers->len) {
			g_ptr_array_add(diffs, g_strdup_printf("header %s removed (was \"%s\")",
							       name, old));
			continue;
		}
		used[j] = true;
		char **k = now->headers->pdata[j];
		if (strcmp(h[1], k[1]) != 0) {
			g_autofree char *new = shown(k[1]);
			g_ptr_array_add(diffs, g_strdup_printf("header %s changed: was \"%s\", "
							       "now \"%s\"", name, old, new));
		}
	}
	for (guint j = 0; j < now->headers->len; j++) {
		if (used[j])
			continue;
		char **k = now->headers->pdata[j];
		g_autofree char *name = shown(k[0]);
		g_autofree char *value = shown(k[1]);
		if (filing_header(k[0]))
			g_ptr_array_add(notes, g_strdup_printf("header %s added by mail software",
							       name));
		else
			g_ptr_array_add(diffs, g_strdup_printf("header %s added: \"%s\"", name,
							       value));
	}
}

guint wb_maildigest_compare(const struct wb_maildigest *was, const struct wb_maildigest *now,
			    GPtrArray *diffs, GPtrArray *notes)
{
	guint before = diffs->len;
	compare_headers(was, now, diffs, notes);
	for (guint i = 0; i < was->parts->len; i++) {
		const struct wb_mailpart *p = was->parts->pdata[i];
		const struct wb_mailpart *q = part_at(now, p->path);
		g_autofree char *label = part_label(p);
		if (!q) {
			g_ptr_array_add(diffs, g_strdup_printf("%s removed", label));
			continue;
		}
		if (strcmp(p->type, q->type) != 0) {
			g_autofree char *type = shown(q->type);
			g_ptr_array_add(diffs, g_strdup_printf("%s changed its type to %s", label,
							       type));
		}
		if (g_strcmp0(p->name, q->name) != 0) {
			g_autofree char *name = shown(q->name ? q->name : "(none)");
			g_ptr_array_add(diffs, g_strdup_printf("%s changed its file name to %s",
							       label, name));
		}
		if (strcmp(p->sha256, q->sha256) != 0)
			g_ptr_array_add(diffs, g_strdup_printf(
				"%s changed: its content has sha256 %s (%zu bytes), delivered "
				"was %s (%zu bytes)", label, q->sha256, (size_t)q->size,
				p->sha256, (size_t)p->size));
	}
	for (guint i = 0; i < now->parts->len; i++) {
		const struct wb_mailpart *q = now->parts->pdata[i];
		if (part_at(was, q->path))
			continue;
		g_autofree char *label = part_label(q);
		g_ptr_array_add(diffs, g_strdup_printf("%s added", label));
	}
	return diffs->len - before;
}
