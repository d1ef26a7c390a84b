/* export: the evidence package (see export.h).
 *
 * Design rationale:
 * - The package is made in steps that each add files: the mails (read back from the
 *   mailboxes), the webhook bodies and media, the journal entries, the report, the
 *   certificate sheets, and last the MANIFEST over all of them. Every file goes through
 *   put_file(), which writes it (O_EXCL, never following a link), fsyncs it and records
 *   its size and SHA-256, so the certificate and the MANIFEST list exactly what was
 *   written.
 * - The certificate is written once, into both the text and the HTML sheet, through the
 *   small sheet_*() emitter: the two cannot drift apart, and every text from outside
 *   passes one escape (controls and bidi marks shown as escapes; for HTML then <>&"'
 *   as entities).
 * - Mails come from the mailbox: the database no longer holds their bytes. A mail that
 *   is gone is reported MISSING with its delivery record; the package is still made. */
#include "export.h"
#include "db.h"
#include "journal.h"
#include "maildigest.h"
#include "mailsource.h"
#include "util.h"
#include "verify.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sysexits.h>
#include <unistd.h>

#define NAME_MAX_ID 60   /* the Message-ID part of a mail's file name */
#define NAME_MAX_FILE 60 /* a medium's own file name part */

struct pfile {
	char *rel;
	gsize size;
	char *sha256;
};

/* One delivery in the package. */
struct item {
	const struct wb_delivery *d;
	unsigned n;
	char *file;          /* mails/…, NULL when the mail is missing */
	const char *state;   /* intact | altered | MISSING */
	GPtrArray *notes;    /* what differs, or why it is missing */
	char *where;         /* where the mailbox had it */
	char *subject, *from; /* of the mail, decoded (from outside: shown escaped) */
	char *now_sha;       /* the file's SHA-256 */
	bool refiled;        /* bytes differ, every header and part as delivered */
	char *payload;       /* the webhook body's hash, NULL for the bridge's own mail */
	GPtrArray *media;    /* rel paths */
};

struct pkg {
	const struct wb_config *cfg;
	struct wb_store *store;
	const struct wb_export_opts *o;
	char *dir;
	gint64 now;
	GPtrArray *files;     /* struct pfile * */
	GPtrArray *ds;        /* struct wb_delivery * */
	GPtrArray *items;     /* struct item * */
	GHashTable *bodies;   /* sha256 → rel path of bodies written */
	GArray *jids;         /* journal ids concerned */
	GPtrArray *entries;   /* struct wb_journal_entry * */
	struct wb_journal_head head;
	unsigned missing, altered, media_n, media_bad;
	char *verify_text;
	GError *error;
	int rc;               /* exit code when error is set */
};

static char *shown(const char *s, bool keep_lines)
{
	g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
	return wb_escape_controls(valid, keep_lines);
}

static bool fail(struct pkg *p, int rc, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool fail(struct pkg *p, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (!p->error) {
		g_set_error_literal(&p->error, G_FILE_ERROR, G_FILE_ERROR_FAILED, m);
		p->rc = rc;
	}
	return false;
}

/* ---- pure helpers ------------------------------------------------------------------- */

char *wb_export_safe_name(const char *s, size_t max)
{
	GString *g = g_string_new(NULL);
	for (const char *c = s ? s : ""; *c && g->len < MAX(max, 1); c++)
		g_string_append_c(g, g_ascii_isalnum(*c) || strchr("._-", *c) ? *c : '_');
	for (gsize i = 0; i < g->len && g->str[i] == '.'; i++)
		g->str[i] = '_';
	if (!g->len)
		g_string_append_c(g, '_');
	return g_string_free(g, FALSE);
}

static GDateTime *parse_day(const char *s, GTimeZone *tz)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return NULL;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !g_ascii_isdigit(s[i]))
			return NULL;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (!g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y))
		return NULL;
	return g_date_time_new(tz, y, m, d, 0, 0, 0);
}

bool wb_export_days(const char *from, const char *to, const char *zone, gint64 *start,
		    gint64 *end, GError **error)
{
	g_autoptr(GTimeZone) tz = zone ? g_time_zone_new_identifier(zone) : NULL;
	if (!tz)
		tz = g_time_zone_new_utc();
	g_autoptr(GDateTime) a = parse_day(from, tz);
	g_autoptr(GDateTime) b = parse_day(to, tz);
	if (!a || !b) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s '%s' is not a "
			    "day written YYYY-MM-DD (for example 2026-12-07)", a ? "to" : "from",
			    a ? (to ? to : "") : (from ? from : ""));
		return false;
	}
	g_autoptr(GDateTime) after = g_date_time_add_days(b, 1);
	if (!after) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--to %s is too far "
			    "in the future", to);
		return false;
	}
	g_autoptr(GDateTime) next = g_date_time_new(tz, g_date_time_get_year(after),
						    g_date_time_get_month(after),
						    g_date_time_get_day_of_month(after), 0, 0, 0);
	*start = g_date_time_to_unix(a);
	*end = g_date_time_to_unix(next);
	if (*start >= *end) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--from %s is after "
			    "--to %s", from, to);
		return false;
	}
	return true;
}

/* ---- files ---------------------------------------------------------------------------- */

static bool write_all(int fd, const void *data, size_t len)
{
	const char *c = data;
	while (len) {
		ssize_t w = write(fd, c, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		len -= (size_t)w;
	}
	return true;
}

static bool put_file(struct pkg *p, const char *rel, const void *data, size_t len)
{
	g_autofree char *path = g_build_filename(p->dir, rel, NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !write_all(fd, data, len) || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail(p, EX_CANTCREAT, "cannot write %s: %s", path, g_strerror(e));
	}
	close(fd);
	struct pfile *f = g_new0(struct pfile, 1);
	f->rel = g_strdup(rel);
	f->size = len;
	f->sha256 = wb_sha256_hex(data, len);
	g_ptr_array_add(p->files, f);
	return true;
}

static void pfile_free(gpointer x)
{
	struct pfile *f = x;
	g_free(f->rel);
	g_free(f->sha256);
	g_free(f);
}

static void item_free(gpointer x)
{
	struct item *it = x;
	g_free(it->file);
	g_free(it->where);
	g_free(it->subject);
	g_free(it->from);
	g_free(it->payload);
	g_free(it->now_sha);
	g_ptr_array_unref(it->notes);
	g_ptr_array_unref(it->media);
	g_free(it);
}

/* DIR made 0700, or an empty one taken; the subdirectories made. */
static bool make_dir(struct pkg *p)
{
	if (mkdir(p->dir, 0700) != 0) {
		int e = errno;
		GDir *dir = e == EEXIST ? g_dir_open(p->dir, 0, NULL) : NULL;
		bool empty = dir && !g_dir_read_name(dir);
		if (dir)
			g_dir_close(dir);
		if (!empty)
			return fail(p, EX_CANTCREAT, e == EEXIST ? "%s exists and is not an empty "
				    "directory; name a new one" : "cannot make %s: %s", p->dir,
				    g_strerror(e));
	}
	static const char *const subs[] = { "mails", "webhooks", "media" };
	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *sub = g_build_filename(p->dir, subs[i], NULL);
		if (mkdir(sub, 0700) != 0)
			return fail(p, EX_CANTCREAT, "cannot make %s: %s", sub, g_strerror(errno));
	}
	return true;
}

/* Nothing was written: leave no empty package behind (rmdir removes only empty ones). */
static void unmake_dir(struct pkg *p)
{
	static const char *const subs[] = { "mails", "webhooks", "media" };
	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *sub = g_build_filename(p->dir, subs[i], NULL);
		rmdir(sub);
	}
	rmdir(p->dir);
}

/* ---- mails, media, webhook bodies ---------------------------------------------------- */

static bool put_media(struct pkg *p, struct item *it, const struct wb_maildigest *now,
		      GMimeMessage *msg)
{
	for (guint i = 0; i < now->parts->len; i++) {
		const struct wb_mailpart *mp = now->parts->pdata[i];
		char said[65];
		if (!wb_mailpart_claimed_sha256(mp, said))
			continue;
		g_autoptr(GBytes) b = wb_mail_part_bytes(msg, mp->path);
		if (!b)
			continue;
		g_autofree char *path = wb_export_safe_name(mp->path, 20);
		g_autofree char *name = wb_export_safe_name(mp->name ? mp->name : mp->type,
							    NAME_MAX_FILE);
		g_autofree char *rel = g_strdup_printf("media/%03u-%s-%s", it->n, path, name);
		gsize len;
		const void *data = g_bytes_get_data(b, &len);
		if (!put_file(p, rel, data, len))
			return false;
		p->media_n++;
		const struct pfile *f = p->files->pdata[p->files->len - 1];
		if (strcmp(f->sha256, said) != 0) {
			p->media_bad++;
			g_autofree char *n = shown(mp->name ? mp->name : mp->type, false);
			g_ptr_array_add(it->notes, g_strdup_printf("medium %s (part %s): its bytes "
				"hash to %s, its Content-Description says %s", n, mp->path,
				f->sha256, said));
		}
		g_ptr_array_add(it->media, g_strdup(rel));
	}
	return true;
}

static bool put_body(struct pkg *p, struct item *it)
{
	if (!it->payload || g_hash_table_contains(p->bodies, it->payload))
		return true;
	GError *e = NULL;
	int64_t jid = 0;
	g_autoptr(GBytes) body = wb_store_body_by_sha(p->store, it->payload, &jid, &e);
	if (e) {
		fail(p, EX_TEMPFAIL, "%s", e->message);
		g_error_free(e);
		return false;
	}
	if (!body) {
		g_ptr_array_add(it->notes, g_strdup_printf("the webhook body %s is not in the "
							   "state database", it->payload));
		return true;
	}
	g_autofree char *safe = wb_export_safe_name(it->payload, 64);
	g_autofree char *rel = g_strdup_printf("webhooks/%s.json", safe);
	gsize len;
	const void *data = g_bytes_get_data(body, &len);
	if (!put_file(p, rel, data, len))
		return false;
	const struct pfile *f = p->files->pdata[p->files->len - 1];
	if (strcmp(f->sha256, it->payload) != 0)
		g_ptr_array_add(it->notes, g_strdup_printf("the stored webhook body %s now "
							   "hashes to %s", it->payload, f->sha256));
	if (jid)
		g_array_append_val(p->jids, jid);
	g_hash_table_insert(p->bodies, g_strdup(it->payload), g_strdup(rel));
	return true;
}

/* The mail as the mailbox has it against its delivery record. */
static void judge(struct item *it, const struct wb_maildigest *now)
{
	const struct wb_delivery *d = it->d;
	if (strcmp(now->sha256, d->sha256) == 0)
		return;
	g_autoptr(wb_maildigest) was = wb_maildigest_from_json(d->digest, NULL);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	guint n = was ? wb_maildigest_compare(was, now, it->notes, notes) : 0;
	if (!was)
		g_ptr_array_add(it->notes, g_strdup_printf("its bytes hash to %s, delivered were "
							   "%s", now->sha256, d->sha256));
	it->refiled = was && !n;
}

static bool put_mail(struct pkg *p, struct item *it, GBytes *mail)
{
	g_autofree char *safe = wb_export_safe_name(it->d->message_id, NAME_MAX_ID);
	it->file = g_strdup_printf("mails/%03u-%s.eml", it->n, safe);
	gsize len;
	const char *data = g_bytes_get_data(mail, &len);
	if (!put_file(p, it->file, data, len))
		return false;
	it->now_sha = g_strdup(((struct pfile *)p->files->pdata[p->files->len - 1])->sha256);
	GMimeMessage *msg = NULL;
	g_autoptr(wb_maildigest) now = wb_maildigest_of(data, len, &msg, NULL);
	if (!now) {
		g_ptr_array_add(it->notes, g_strdup("the mailbox holds something that is not a "
						    "mail under its Message-ID"));
		return true;
	}
	if (!it->payload) {
		const char *h = wb_maildigest_header(now, "X-Payload-SHA256");
		if (h && strlen(h) == 64)
			it->payload = g_ascii_strdown(h, -1);
	}
	const char *subject = g_mime_message_get_subject(msg);
	it->subject = subject ? g_strdup(subject) : NULL;
	InternetAddressList *from = g_mime_message_get_from(msg);
	it->from = from ? internet_address_list_to_string(from, NULL, FALSE) : NULL;
	judge(it, now);
	bool ok = put_media(p, it, now, msg);
	g_object_unref(msg);
	return ok;
}

static bool one_delivery(struct pkg *p, const struct wb_delivery *d)
{
	struct item *it = g_new0(struct item, 1);
	it->d = d;
	it->n = p->items->len + 1;
	it->notes = g_ptr_array_new_with_free_func(g_free);
	it->media = g_ptr_array_new_with_free_func(g_free);
	it->payload = d->payload_sha256 ? g_strdup(d->payload_sha256) : NULL;
	g_ptr_array_add(p->items, it);
	g_array_append_val(p->jids, d->journal_id);
	const struct wb_station *st = wb_config_station_stored(p->cfg, d->station);
	g_autoptr(GBytes) mail = NULL;
	GError *e = NULL;
	if (!st) {
		g_ptr_array_add(it->notes, g_strdup("its station is no longer configured, so its "
						    "mailbox cannot be read"));
	} else if (!wb_mailsource_fetch(p->cfg, st, d->message_id, &mail, &it->where, &e)) {
		if (e->domain != WB_MAILSOURCE_ERROR || e->code != WB_MAILSOURCE_NO_INPUT) {
			g_autofree char *m = shown(e->message, false);
			g_error_free(e);
			return fail(p, EX_TEMPFAIL, "the mailbox of station %s cannot be read: %s",
				    d->station, m);
		}
		g_ptr_array_add(it->notes, g_strdup_printf("its mailbox is gone: %s", e->message));
		g_error_free(e);
	} else if (!mail) {
		g_ptr_array_add(it->notes, g_strdup("no mail with its Message-ID is in the "
						    "station's mailbox"));
	}
	if (mail && !put_mail(p, it, mail))
		return false;
	it->state = !mail ? "MISSING" : it->notes->len ? "altered" : "intact";
	if (!mail)
		p->missing++;
	else if (it->notes->len)
		p->altered++;
	return put_body(p, it);
}

/* ---- the journal ------------------------------------------------------------------------ */

static gint cmp_id(gconstpointer a, gconstpointer b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static json_t *json_text(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (!j) {
		g_autofree char *valid = g_utf8_make_valid(s, -1);
		j = json_string(valid);
	}
	return j;
}

/* The ids of the entries concerned: the complaints', those already named (deliveries,
 * bodies) and the last anchor, sorted; and the head now. */
static bool journal_ids(struct pkg *p, GHashTable *refs, GError **e)
{
	GHashTableIter hi;
	gpointer ref;
	g_hash_table_iter_init(&hi, refs);
	while (g_hash_table_iter_next(&hi, &ref, NULL))
		if (!wb_store_journal_ids_of(p->store, ref, p->jids, e))
			return false;
	int64_t anchor;
	gint64 at;
	if (!wb_store_journal_last(p->store, "anchor", &anchor, &at, e) ||
	    !wb_store_journal_head(p->store, &p->head, e))
		return false;
	if (anchor)
		g_array_append_val(p->jids, anchor);
	g_array_sort(p->jids, cmp_id);
	return true;
}

static void journal_line(GString *out, const struct wb_journal_entry *je)
{
	json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
			      (json_int_t)je->id, "at", (json_int_t)je->at,
			      "kind", json_text(je->kind), "ref", json_text(je->ref),
			      "subject", json_text(je->subject), "detail", json_text(je->detail),
			      "prev", json_text(je->prev), "hash", json_text(je->hash));
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)
		       : NULL;
	g_string_append_printf(out, "%s\n", line ? line : "{}");
	free(line);
	json_decref(o);
}

static bool put_journal(struct pkg *p, GHashTable *refs)
{
	GError *e = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	bool ok = journal_ids(p, refs, &e);
	for (guint i = 0; ok && i < p->jids->len; i++) {
		int64_t id = g_array_index(p->jids, int64_t, i);
		if (!id || (i && id == g_array_index(p->jids, int64_t, i - 1)))
			continue;
		struct wb_journal_entry *je = wb_store_journal_get(p->store, id, &e);
		ok = !e;
		if (!je)
			continue;
		g_ptr_array_add(p->entries, je);
		journal_line(out, je);
	}
	if (!ok) {
		fail(p, EX_TEMPFAIL, "%s", e->message);
		g_error_free(e);
		return false;
	}
	return put_file(p, "journal.jsonl", out->str, out->len);
}

/* ---- report.txt ------------------------------------------------------------------------ */

static char *when2(const struct pkg *p, gint64 t)
{
	g_autofree char *local = wb_local_text(t, p->cfg->timezone, "%Y-%m-%d %H:%M:%S %Z");
	g_autofree char *utc = wb_local_text(t, "UTC", "%Y-%m-%d %H:%M:%SZ");
	return g_strdup_printf("%s (%s)", local, utc);
}

/* The WhatsApp timestamp of the message, 0 when none. */
static gint64 sent_at(const struct wb_delivery *d)
{
	json_t *m = d->json ? json_loads(d->json, 0, NULL) : NULL;
	const char *ts = json_string_value(json_object_get(m, "timestamp"));
	gint64 t = ts ? g_ascii_strtoll(ts, NULL, 10) : 0;
	json_decref(m);
	return t;
}

static void item_lines(const struct pkg *p, const struct item *it, GString *g)
{
	const struct wb_delivery *d = it->d;
	g_autofree char *mid = shown(d->message_id, false), *ref = shown(d->ref, false);
	g_autofree char *loc = shown(d->location ? d->location : "-", false);
	g_autofree char *delivered = when2(p, d->at);
	g_string_append_printf(g, "%03u  %s  <%s>\n", it->n, it->state, mid);
	g_string_append_printf(g, "     complaint %s, %s to station %s at %s\n", *ref ? ref : "-",
			       d->what, d->station, loc);
	g_string_append_printf(g, "     delivered %s; journal entry %" G_GINT64_FORMAT "\n",
			       delivered, (gint64)d->journal_id);
	gint64 sent = sent_at(d);
	if (sent) {
		g_autofree char *s = when2(p, sent);
		g_string_append_printf(g, "     sent on WhatsApp %s\n", s);
	}
	g_string_append_printf(g, "     delivered mail sha256 %s (%" G_GINT64_FORMAT " bytes)\n",
			       d->sha256, (gint64)d->size);
	if (it->from) {
		g_autofree char *f = shown(it->from, false);
		g_string_append_printf(g, "     From: %s\n", f);
	}
	if (it->subject) {
		g_autofree char *subj = shown(it->subject, false);
		g_string_append_printf(g, "     Subject: %s\n", subj);
	}
	if (it->file)
		g_string_append_printf(g, "     file %s (sha256 %s)\n", it->file, it->now_sha);
	if (it->payload)
		g_string_append_printf(g, "     webhook body webhooks/%s.json\n", it->payload);
	for (guint i = 0; i < it->media->len; i++)
		g_string_append_printf(g, "     medium %s\n", (const char *)it->media->pdata[i]);
	if (!it->file && d->journal_subject) {
		g_autofree char *subj = shown(d->journal_subject, false);
		g_autofree char *det = shown(d->journal_detail, false);
		g_string_append_printf(g, "     journal: %s; %s\n", subj, det);
	}
	if (it->refiled)
		g_string_append(g, "     - its bytes differ from those delivered only in what mail "
				"software adds when it files a mail; every header and part is as "
				"delivered\n");
	for (guint i = 0; i < it->notes->len; i++) {
		g_autofree char *n = shown(it->notes->pdata[i], false);
		g_string_append_printf(g, "     - %s\n", n);
	}
}

static void run_verify(struct pkg *p)
{
	if (p->items->len == p->missing)
		return;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		return;
	g_autofree char *mails = g_build_filename(p->dir, "mails", NULL);
	char *paths[] = { mails, NULL };
	wb_verify(p->cfg, p->store, NULL, paths, true, mem);
	fclose(mem);
	/* Paths in the package's own terms. */
	g_autofree char *prefix = g_strconcat(p->dir, "/", NULL);
	g_auto(GStrv) parts = g_strsplit(buf ? buf : "", prefix, -1);
	p->verify_text = g_strjoinv("", parts);
	free(buf);
}

static bool put_report(struct pkg *p)
{
	g_autoptr(GString) g = g_string_new(NULL);
	g_autofree char *at = when2(p, p->now);
	g_string_append_printf(g, "wabridge %s export report, made %s\n\n", WB_VERSION, at);
	g_string_append_printf(g, "%u mail%s: %u intact, %u altered, %u MISSING from the "
			       "mailbox\n\n", p->items->len, p->items->len == 1 ? "" : "s",
			       p->items->len - p->altered - p->missing, p->altered, p->missing);
	for (guint i = 0; i < p->items->len; i++)
		item_lines(p, p->items->pdata[i], g);
	g_string_append(g, "\nIndependent check: `wabridge verify` over mails/ (each mail "
			"against the journal and the stored webhook bodies):\n\n");
	g_string_append(g, p->verify_text ? p->verify_text : "(no mail to check)\n");
	return put_file(p, "report.txt", g->str, g->len);
}

/* ---- the certificate sheets ------------------------------------------------------------- */

struct sheet {
	GString *t, *h;
};

/* A paragraph: wrapped at 80 columns in the text sheet. */
static void sheet_para(struct sheet *s, const char *text)
{
	g_autofree char *x = shown(text, false);
	g_autofree char *e = g_markup_escape_text(x, -1);
	g_string_append_printf(s->h, "<p>%s</p>\n", e);
	g_auto(GStrv) words = g_strsplit(x, " ", -1);
	glong col = 0;
	for (char **w = words; *w; w++) {
		glong n = g_utf8_strlen(*w, -1);
		if (col && col + 1 + n > 80) {
			g_string_append_c(s->t, '\n');
			col = 0;
		} else if (col) {
			g_string_append_c(s->t, ' ');
			col++;
		}
		g_string_append(s->t, *w);
		col += n;
	}
	g_string_append(s->t, "\n\n");
}

static void sheet_head(struct sheet *s, const char *text)
{
	g_autofree char *e = g_markup_escape_text(text, -1);
	g_string_append_printf(s->h, "<h2>%s</h2>\n", e);
	g_string_append_printf(s->t, "%s\n", text);
	for (glong i = g_utf8_strlen(text, -1); i > 0; i--)
		g_string_append_c(s->t, '-');
	g_string_append(s->t, "\n\n");
}

static void sheet_field(struct sheet *s, const char *label, const char *value)
{
	g_autofree char *v = shown(value, false);
	g_autofree char *ev = g_markup_escape_text(v, -1);
	g_autofree char *el = g_markup_escape_text(label, -1);
	g_string_append_printf(s->h, "<tr><th>%s</th><td>%s</td></tr>\n", el, ev);
	g_string_append_printf(s->t, "  %-22s %s\n", label, v);
}

static void sheet_fields_start(struct sheet *s)
{
	g_string_append(s->h, "<table class=\"fields\">\n");
}

static void sheet_fields_end(struct sheet *s)
{
	g_string_append(s->h, "</table>\n");
	g_string_append_c(s->t, '\n');
}

/* A line to be filled in by hand. */
static void sheet_blank(struct sheet *s, const char *label)
{
	g_autofree char *el = g_markup_escape_text(label, -1);
	g_string_append_printf(s->h, "<tr><th>%s</th><td class=\"blank\"></td></tr>\n", el);
	g_string_append_printf(s->t, "  %-22s ______________________________________________\n",
			       label);
}

/* A preformatted block: lists of files, entries. */
static void sheet_pre(struct sheet *s, const char *text)
{
	g_autofree char *x = shown(text, true);
	g_autofree char *e = g_markup_escape_text(x, -1);
	g_string_append_printf(s->h, "<pre>%s</pre>\n", e);
	g_string_append_printf(s->t, "%s\n", x);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	"style-src 'unsafe-inline'\">\n<title>Certificate: electronic records "
	"(section 63, Bharatiya Sakshya Adhiniyam, 2023)</title>\n<style>\n"
	"body{font-family:serif;max-width:62em;margin:2em auto;padding:0 1em;line-height:1.4}\n"
	"h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #000;margin-top:1.6em}\n"
	"table{border-collapse:collapse;width:100%}th,td{border:1px solid #555;padding:.2em .4em;"
	"text-align:left;vertical-align:top}\ntable.fields th{width:14em}\n"
	"pre{white-space:pre-wrap;word-break:break-all;font-size:.85em}\n"
	"td.blank{height:2.2em}\n"
	"@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}"
	"pre{page-break-inside:auto}}\n</style>\n</head>\n<body>\n";

static void cert_intro(struct pkg *p, struct sheet *s, const char *what)
{
	static const char title[] = "Certificate for electronic records under section 63 of "
				    "the Bharatiya Sakshya Adhiniyam, 2023";
	g_string_append_printf(s->h, "<h1>%s</h1>\n", title);
	g_string_append_printf(s->t, "%s\n", title);
	for (size_t i = 0; i < sizeof title - 1; i++)
		g_string_append_c(s->t, '=');
	g_string_append(s->t, "\n\n");
	sheet_para(s, "This sheet was prepared by the program wabridge. It is NOT a certificate "
		   "until the responsible officer has checked it, completed the blank fields "
		   "and signed it. Part A is to be completed by the party producing the "
		   "records, Part B by the expert, following the form in the Schedule to the "
		   "Adhiniyam. Every file of this evidence package is listed with its SHA-256 "
		   "hash: anyone can recompute the hashes (for example with `sha256sum -c "
		   "MANIFEST` in the package directory) and so check that no file has been "
		   "changed since the package was made.");
	g_autofree char *at = when2(p, p->now);
	sheet_fields_start(s);
	sheet_field(s, "Records of", what);
	sheet_field(s, "Package made", at);
	g_autofree char *n = g_strdup_printf("%u (%u intact, %u altered, %u missing from the "
					     "mailbox)", p->items->len, p->items->len - p->altered -
					     p->missing, p->altered, p->missing);
	sheet_field(s, "Mails", n);
	sheet_blank(s, "SHA-256 of MANIFEST");
	sheet_fields_end(s);
}

static void cert_system(struct pkg *p, struct sheet *s)
{
	sheet_head(s, "Part A. The system and how the records were produced");
	sheet_para(s, "A citizen sends a WhatsApp message to the police station's WhatsApp "
		   "Business number. Meta's WhatsApp Business Cloud API posts it as a webhook "
		   "(an HTTPS request whose body is JSON) signed with HMAC-SHA256 under the "
		   "application's secret. wabridge checks that signature, then stores the "
		   "body byte for byte in its state database (SQLite) together with its "
		   "SHA-256 hash, and enters the hash in its custody journal. Photos and "
		   "documents are fetched from Meta's media store and checked against the "
		   "SHA-256 hash Meta gives for them. wabridge then renders each message into "
		   "one mail (headers X-Payload-SHA256: the hash of the webhook body; "
		   "Content-Description of each medium: its file name and SHA-256) and places "
		   "it in the IMAP mailbox (or Maildir) of the station, recording the mail's "
		   "SHA-256 and a digest of its headers and parts, and a journal entry. "
		   "Officers read the mails and reply by mail; replies, messages sent back on "
		   "WhatsApp and their delivery statuses are journaled as well.");
	sheet_para(s, "For this package each mail was read back from the mailbox of the "
		   "station it was delivered to and compared with its delivery record. The "
		   "webhook bodies come from the state database; the media were taken out of "
		   "the mails.");
	struct utsname u;
	bool have_u = uname(&u) == 0;
	sheet_fields_start(s);
	sheet_field(s, "Host name", g_get_host_name());
	if (have_u) {
		g_autofree char *os = g_strdup_printf("%s %s %s", u.sysname, u.release, u.machine);
		sheet_field(s, "Operating system", os);
	}
	g_autofree char *ver = g_strdup_printf("wabridge %s (GLib %u.%u.%u, GMime %u.%u.%u, "
					       "SQLite %s, jansson %s)", WB_VERSION,
					       glib_major_version, glib_minor_version,
					       glib_micro_version, gmime_major_version,
					       gmime_minor_version, gmime_micro_version,
					       sqlite3_libversion(), jansson_version_str());
	sheet_field(s, "Program", ver);
	sheet_field(s, "Configuration", p->cfg->path ? p->cfg->path : "(embedded defaults)");
	g_autofree char *state_shown = db_shown_location(p->cfg->state);
	sheet_field(s, "State database", state_shown);
	sheet_field(s, "Time zone", p->cfg->timezone ? p->cfg->timezone : "UTC");
	g_autofree char *jh = g_strdup_printf("%" G_GINT64_FORMAT " entries, head %s (entry %"
					      G_GINT64_FORMAT ")", (gint64)p->head.count,
					      p->head.hash, (gint64)p->head.id);
	sheet_field(s, "Custody journal", jh);
	sheet_fields_end(s);
	sheet_para(s, "To be completed by the party (Part A). I, the undersigned, state that the "
		   "records listed below were produced by the computer system described above, "
		   "which was in regular use for receiving citizens' complaints over WhatsApp "
		   "and was under lawful control of the office named below during that period; "
		   "that throughout the material part of that period the system was operating "
		   "properly (or, if not, that this did not affect the records or their "
		   "accuracy); and that the files of this package are true copies of the "
		   "records as held in the station's mailbox and the bridge's database.");
	sheet_fields_start(s);
	static const char *const a[] = { "Office / police station", "Device(s) in control of",
		"Name", "Designation", "Signature", "Date", "Place" };
	for (size_t i = 0; i < G_N_ELEMENTS(a); i++)
		sheet_blank(s, a[i]);
	sheet_fields_end(s);
}

static void cert_records(struct pkg *p, struct sheet *s)
{
	sheet_head(s, "The records");
	g_autoptr(GString) g = g_string_new(NULL);
	for (guint i = 0; i < p->items->len; i++) {
		item_lines(p, p->items->pdata[i], g);
		g_string_append_c(g, '\n');
	}
	sheet_pre(s, g->len ? g->str : "(no mail was delivered for this selection)\n");
}

static void cert_journal(struct pkg *p, struct sheet *s)
{
	sheet_head(s, "Custody chain (journal entries, in journal.jsonl)");
	sheet_para(s, "Each entry's hash is the lowercase hex SHA-256 of its canonical form: "
		   "the 19 bytes \"wabridge-journal-1\" and a newline, then F(id) F(at) F(kind) "
		   "F(ref) F(subject) F(detail) F(prev), where F(x) is the byte length of x "
		   "in decimal, a colon, the bytes of x (UTF-8) and a comma; id and at (Unix "
		   "seconds, UTC) are written in decimal first; an entry without a complaint "
		   "(ref null) contributes the two bytes \"N,\" instead. prev is the hash of "
		   "the entry before it in the whole journal, so the entries here are links of "
		   "one chain: `wabridge journal verify` recomputes it from the first entry, "
		   "and the head below must chain back to any head written down or anchored "
		   "earlier.");
	g_autoptr(GString) g = g_string_new(NULL);
	for (guint i = 0; i < p->entries->len; i++) {
		const struct wb_journal_entry *e = p->entries->pdata[i];
		g_autofree char *at = when2(p, e->at);
		g_autofree char *ref = shown(e->ref ? e->ref : "-", false);
		g_autofree char *subj = shown(e->subject, false), *det = shown(e->detail, false);
		g_string_append_printf(g, "%" G_GINT64_FORMAT "  %s  %s  %s\n    %s\n    %s\n"
				       "    hash %s\n", (gint64)e->id, at, e->kind, ref, subj,
				       det, e->hash);
	}
	g_autofree char *head = g_strdup_printf("At export: %" G_GINT64_FORMAT " entries, head "
						"%s (entry %" G_GINT64_FORMAT ")\n",
						(gint64)p->head.count, p->head.hash,
						(gint64)p->head.id);
	g_string_append(g, head);
	sheet_pre(s, g->str);
}

static void cert_files(struct pkg *p, struct sheet *s)
{
	sheet_head(s, "Files of the package (SHA-256, bytes, path)");
	sheet_para(s, "mails/NNN-<Message-ID>.eml: each mail as the station's mailbox holds it, "
		   "numbered in the order of delivery. webhooks/<SHA-256>.json: each webhook "
		   "body byte for byte; its SHA-256 is its name and the X-Payload-SHA256 of "
		   "its mail. media/NNN-<part>-<name>: each photo or document, decoded from "
		   "mail NNN; its SHA-256 is the one in the part's Content-Description. "
		   "journal.jsonl: the journal entries, one JSON object a line. report.txt: "
		   "what was checked and found, per mail. certificate.txt and certificate.html: "
		   "this sheet. MANIFEST: the SHA-256 of every file but itself, in the format "
		   "of sha256sum.");
	g_autoptr(GString) g = g_string_new(NULL);
	for (guint i = 0; i < p->files->len; i++) {
		const struct pfile *f = p->files->pdata[i];
		g_string_append_printf(g, "%s %10zu  %s\n", f->sha256, (size_t)f->size, f->rel);
	}
	sheet_pre(s, g->str);
}

static void cert_checks(struct pkg *p, struct sheet *s)
{
	sheet_head(s, "Part B. What was checked, and the outcome");
	g_autofree char *summary = g_strdup_printf(
		"Each mail read from the mailbox was hashed (SHA-256 over its bytes with CRLF "
		"line ends) and compared with the hash recorded when it was delivered; a mail "
		"that differs was compared header by header and part by part with the recorded "
		"digest. Each medium was hashed and compared with the SHA-256 in its "
		"Content-Description. Each webhook body was hashed and compared with the hash "
		"it is known by. Outcome: %u mail%s, %u intact, %u altered, %u missing from the "
		"mailbox; %u medi%s, %u not matching; the details are in report.txt.",
		p->items->len, p->items->len == 1 ? "" : "s", p->items->len - p->altered -
		p->missing, p->altered, p->missing, p->media_n, p->media_n == 1 ? "um" : "a",
		p->media_bad);
	sheet_para(s, summary);
	sheet_para(s, "To be completed by the expert (Part B). I, the undersigned, state that "
		   "I have examined the files listed above, that their hash values are as "
		   "stated, and that they were obtained as described.");
	sheet_fields_start(s);
	static const char *const b[] = { "Name", "Designation", "Hash algorithm", "Signature",
		"Date", "Time", "Place" };
	for (size_t i = 0; i < G_N_ELEMENTS(b); i++)
		sheet_blank(s, b[i]);
	sheet_fields_end(s);
}

static bool put_certificate(struct pkg *p, const char *what)
{
	struct sheet s = { g_string_new(NULL), g_string_new(html_head) };
	cert_intro(p, &s, what);
	cert_system(p, &s);
	cert_records(p, &s);
	cert_journal(p, &s);
	cert_files(p, &s);
	cert_checks(p, &s);
	g_string_append(s.h, "</body>\n</html>\n");
	bool ok = put_file(p, "certificate.txt", s.t->str, s.t->len) &&
		  put_file(p, "certificate.html", s.h->str, s.h->len);
	g_string_free(s.t, TRUE);
	g_string_free(s.h, TRUE);
	return ok;
}

/* ---- MANIFEST and the tar ----------------------------------------------------------------- */

static gint cmp_rel(gconstpointer a, gconstpointer b)
{
	const struct pfile *x = *(struct pfile *const *)a, *y = *(struct pfile *const *)b;
	return strcmp(x->rel, y->rel);
}

static bool put_manifest(struct pkg *p, char **sha)
{
	g_ptr_array_sort(p->files, cmp_rel);
	g_autoptr(GString) g = g_string_new(NULL);
	for (guint i = 0; i < p->files->len; i++) {
		const struct pfile *f = p->files->pdata[i];
		g_string_append_printf(g, "%s  %s\n", f->sha256, f->rel);
	}
	*sha = wb_sha256_hex(g->str, g->len);
	return put_file(p, "MANIFEST", g->str, g->len);
}

static void octal(char *field, size_t width, guint64 v)
{
	g_snprintf(field, width, "%0*" G_GINT64_MODIFIER "o", (int)(width - 1), v);
}

/* name split over ustar's prefix (155) and name (100) fields at a '/'. */
static bool ustar_name(char hdr[512], const char *full)
{
	size_t len = strlen(full);
	if (len <= 100) {
		memcpy(hdr, full, len);
		return true;
	}
	for (const char *s = strchr(full, '/'); s; s = strchr(s + 1, '/')) {
		size_t pre = (size_t)(s - full), rest = len - pre - 1;
		if (pre <= 155 && rest && rest <= 100) {
			memcpy(hdr + 345, full, pre);
			memcpy(hdr, s + 1, rest);
			return true;
		}
	}
	return false;
}

static bool ustar_entry(GString *out, const char *full, bool is_dir, const void *data,
			gsize len, gint64 mtime)
{
	char hdr[512] = { 0 };
	if (!ustar_name(hdr, full))
		return false;
	octal(hdr + 100, 8, is_dir ? 0755 : 0644);
	octal(hdr + 108, 8, 0);
	octal(hdr + 116, 8, 0);
	octal(hdr + 124, 12, is_dir ? 0 : len);
	octal(hdr + 136, 12, (guint64)MAX(mtime, 0));
	memset(hdr + 148, ' ', 8);
	hdr[156] = is_dir ? '5' : '0';
	memcpy(hdr + 257, "ustar", 6);
	memcpy(hdr + 263, "00", 2);
	memcpy(hdr + 265, "root", 4);
	memcpy(hdr + 297, "root", 4);
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof hdr; i++)
		sum += (unsigned char)hdr[i];
	g_snprintf(hdr + 148, 8, "%06o", sum);
	hdr[155] = ' ';
	g_string_append_len(out, hdr, sizeof hdr);
	if (!is_dir && len) {
		g_string_append_len(out, data, (gssize)len);
		static const char zeros[512];
		if (len % 512)
			g_string_append_len(out, zeros, (gssize)(512 - len % 512));
	}
	return true;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool wb_ustar_write(const char *tar_path, const char *dir, const char *top, GPtrArray *rels,
		    gint64 mtime, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	g_hash_table_add(seen, g_strconcat(top, "/", NULL));
	for (guint i = 0; i < rels->len; i++) {
		g_autofree char *full = g_strconcat(top, "/", (const char *)rels->pdata[i], NULL);
		for (char *s = strchr(full, '/'); s; s = strchr(s + 1, '/'))
			g_hash_table_add(seen, g_strndup(full, (gsize)(s - full + 1)));
		g_hash_table_add(seen, g_steal_pointer(&full));
	}
	GHashTableIter hi;
	gpointer k;
	g_hash_table_iter_init(&hi, seen);
	while (g_hash_table_iter_next(&hi, &k, NULL))
		g_ptr_array_add(names, k);
	g_ptr_array_sort(names, cmp_str);
	g_autoptr(GString) out = g_string_new(NULL);
	size_t toplen = strlen(top) + 1;
	for (guint i = 0; i < names->len; i++) {
		const char *full = names->pdata[i];
		bool is_dir = g_str_has_suffix(full, "/");
		g_autofree char *data = NULL;
		gsize len = 0;
		g_autofree char *path = g_build_filename(dir, full + toplen, NULL);
		if (!is_dir && !g_file_get_contents(path, &data, &len, error))
			return false;
		if (!ustar_entry(out, full, is_dir, data, len, mtime)) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "%s: the name is "
				    "too long for a ustar archive", full);
			return false;
		}
	}
	static const char end[1024];
	g_string_append_len(out, end, sizeof end);
	g_autofree char *tmp = g_strconcat(tar_path, ".tmp", NULL);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !write_all(fd, out->str, out->len) || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot write %s: %s",
			    tmp, g_strerror(e));
		return false;
	}
	close(fd);
	if (rename(tmp, tar_path) != 0) {
		int e = errno;
		unlink(tmp);
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot rename %s: %s",
			    tmp, g_strerror(e));
		return false;
	}
	return true;
}

static bool put_tar(struct pkg *p, const char *tar_path)
{
	g_autoptr(GPtrArray) rels = g_ptr_array_new();
	static const char *const subs[] = { "mails/", "webhooks/", "media/" };
	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++)
		g_ptr_array_add(rels, (gpointer)subs[i]);
	for (guint i = 0; i < p->files->len; i++)
		g_ptr_array_add(rels, ((struct pfile *)p->files->pdata[i])->rel);
	g_autofree char *top = g_path_get_basename(p->dir);
	GError *e = NULL;
	if (!wb_ustar_write(tar_path, p->dir, top, rels, p->now, &e)) {
		fail(p, EX_CANTCREAT, "%s", e->message);
		g_error_free(e);
		return false;
	}
	return true;
}

/* ---- the command ------------------------------------------------------------------------ */

/* The deliveries selected, and what the certificate calls them; false with p->error. */
static bool select_deliveries(struct pkg *p, char **what)
{
	const struct wb_export_opts *o = p->o;
	GError *e = NULL;
	if (o->ref) {
		g_autoptr(wb_complaint) c = wb_store_complaint(p->store, o->ref, 0, &e);
		if (!c) {
			bool unknown = g_error_matches(e, WB_STORE_ERROR, WB_STORE_NOT_FOUND);
			g_autofree char *r = shown(o->ref, false);
			fail(p, unknown ? EX_NOUSER : EX_TEMPFAIL, unknown ? "no complaint %s; "
			     "'wabridge complaints' lists them" : "%s", unknown ? r : e->message);
			g_error_free(e);
			return false;
		}
		p->ds = wb_store_deliveries(p->store, NULL, c->ref, 0, G_MAXINT64, &e);
		*what = g_strdup_printf("complaint %s (station %s): every mail delivered for it",
					c->ref, c->station);
	} else {
		gint64 from, to;
		if (!wb_export_days(o->from, o->to, p->cfg->timezone, &from, &to, &e)) {
			fail(p, EX_USAGE, "%s", e->message);
			g_error_free(e);
			return false;
		}
		if (!wb_config_station_stored(p->cfg, o->station)) {
			g_autofree char *st = shown(o->station, false);
			return fail(p, EX_USAGE, "no station '%s' in the configuration (wabridge "
				    "status lists them)", st);
		}
		p->ds = wb_store_deliveries(p->store, o->station, NULL, from, to, &e);
		*what = g_strdup_printf("station %s: every mail delivered from %s to %s "
					"inclusive (%s)", o->station, o->from, o->to,
					p->cfg->timezone ? p->cfg->timezone : "UTC");
	}
	if (!p->ds) {
		fail(p, EX_TEMPFAIL, "%s", e->message);
		g_error_free(e);
		return false;
	}
	return true;
}

static bool make_package(struct pkg *p, const char *tar_path, char **manifest_sha)
{
	g_autofree char *what = NULL;
	if (!select_deliveries(p, &what))
		return false;
	if (tar_path && g_file_test(tar_path, G_FILE_TEST_EXISTS))
		return fail(p, EX_CANTCREAT, "%s exists; move it away or name another DIR",
			    tar_path);
	if (!make_dir(p))
		return false;
	g_autoptr(GHashTable) refs = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < p->ds->len; i++) {
		const struct wb_delivery *d = p->ds->pdata[i];
		if (d->ref)
			g_hash_table_add(refs, d->ref);
		if (!one_delivery(p, d))
			return false;
	}
	if (p->o->ref && !p->ds->len)
		g_hash_table_add(refs, (gpointer)p->o->ref);
	run_verify(p);
	return put_journal(p, refs) && put_report(p) && put_certificate(p, what) &&
	       put_manifest(p, manifest_sha) && (!tar_path || put_tar(p, tar_path));
}

int wb_export(const struct wb_config *cfg, struct wb_store *store,
	      const struct wb_export_opts *o, FILE *out)
{
	struct pkg p = { .cfg = cfg, .store = store, .o = o, .now = wb_now() };
	/* Absolute, without "." or ".." or a trailing slash: DIR.tar and the archive's top
	 * directory are then named after DIR itself. */
	p.dir = g_canonicalize_filename(o->dir, NULL);
	p.files = g_ptr_array_new_with_free_func(pfile_free);
	p.items = g_ptr_array_new_with_free_func(item_free);
	p.bodies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	p.jids = g_array_new(FALSE, FALSE, sizeof(int64_t));
	p.entries = g_ptr_array_new_with_free_func(wb_journal_entry_free);
	g_autofree char *tar_path = o->tar ? g_strconcat(p.dir, ".tar", NULL) : NULL;
	g_autofree char *manifest = NULL;
	int rc = EX_OK;
	if (!make_package(&p, tar_path, &manifest)) {
		rc = p.rc;
		g_autofree char *m = shown(p.error->message, false);
		fprintf(stderr, "wabridge: export: %s%s\n", m, rc == EX_TEMPFAIL ||
			rc == EX_CANTCREAT ? (p.items->len ? "; the package is incomplete: remove "
					      "it and run again" : "") : "");
		g_error_free(p.error);
		if (!p.files->len)
			unmake_dir(&p);
	} else {
		for (guint i = 0; i < p.items->len; i++) {
			const struct item *it = p.items->pdata[i];
			if (strcmp(it->state, "intact") != 0) {
				g_autofree char *mid = shown(it->d->message_id, false);
				fprintf(stderr, "wabridge: warning: export: mail %03u <%s> is %s; see "
					"report.txt\n", it->n, mid, it->state);
			}
		}
		g_autofree char *d = shown(p.dir, false);
		fprintf(out, "%s: %u mail%s, %u missing, %u altered; %u webhook bod%s, %u "
			"medi%s, %u journal entr%s; %u files\n", d, p.items->len,
			p.items->len == 1 ? "" : "s", p.missing, p.altered,
			g_hash_table_size(p.bodies), g_hash_table_size(p.bodies) == 1 ? "y" : "ies",
			p.media_n, p.media_n == 1 ? "um" : "a", p.entries->len,
			p.entries->len == 1 ? "y" : "ies", p.files->len);
		if (tar_path) {
			g_autofree char *t = shown(tar_path, false);
			fprintf(out, "archive: %s\n", t);
		}
		fprintf(out, "MANIFEST sha256 %s (write it on the certificate)\n", manifest);
	}
	g_free(p.dir);
	g_free(p.verify_text);
	g_ptr_array_unref(p.files);
	g_ptr_array_unref(p.items);
	if (p.ds)
		g_ptr_array_unref(p.ds);
	g_hash_table_destroy(p.bodies);
	g_array_unref(p.jids);
	g_ptr_array_unref(p.entries);
	return rc;
}
