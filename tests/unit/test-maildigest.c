/* test-maildigest: hashing a mail's headers and parts (src/maildigest.c), and telling a
 * mail that mail software merely re-filed from one whose content was changed. */
#include "maildigest.h"
#include "util.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>

/* A small bridge-like mail: text, a base64 photo with its hash in the description, and
 * the JSON record. CRLF throughout, as the bridge writes. */
#define PHOTO_B64 "/9j/4AAQSkZJRgABAQ=="
static char *mail_text(const char *subject, const char *photo_b64, const char *extra_header)
{
	/* The description names the original photo's hash, whatever the bytes are now. */
	g_autofree char *sha_ok = wb_sha256_hex((const guchar *)"\xff\xd8\xff\xe0\x00\x10JFIF"
						"\x00\x01\x01", 13);
	return g_strdup_printf(
		"%s"
		"From: \"Citizen (+91 98300 12345)\" <wa-919830012345@wa.test>\r\n"
		"To: bhp@police.test\r\n"
		"Subject: %s\r\n"
		"Message-ID: <wamid.A1@wa.test>\r\n"
		"X-Complaint-Ref: BHP-2026-000001\r\n"
		"X-Payload-SHA256: 00aa\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
		"\r\n"
		"--b1\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"My bicycle was stolen.\r\n"
		"Second line.\r\n"
		"--b1\r\n"
		"Content-Type: image/jpeg\r\n"
		"Content-Disposition: attachment; filename=\"photo.jpg\"\r\n"
		"Content-Description: photo.jpg; SHA-256 %s\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"%s\r\n"
		"--b1--\r\n",
		extra_header ? extra_header : "", subject, sha_ok, photo_b64);
}

static char *joined(GPtrArray *lines)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < lines->len; i++)
		g_string_append_printf(s, "%s | ", (const char *)lines->pdata[i]);
	return g_string_free(s, FALSE);
}

static struct wb_maildigest *digest(const char *m)
{
	g_autoptr(GError) err = NULL;
	struct wb_maildigest *d = wb_maildigest_of(m, strlen(m), NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(d);
	return d;
}

static void test_canonical(void)
{
	const char *crlf = "A: b\r\nC: d\r\n\r\nbody\r\n";
	const char *lf = "A: b\nC: d\n\nbody\n";
	g_autofree char *x = wb_mail_sha256(crlf, strlen(crlf));
	g_autofree char *y = wb_mail_sha256(lf, strlen(lf));
	g_assert_cmpstr(x, ==, y);
	/* a lone CR is content, not a line end */
	const char *cr = "A: b\r\nC: d\r\n\r\nbo\rdy\r\n";
	g_autofree char *z = wb_mail_sha256(cr, strlen(cr));
	g_assert_cmpstr(x, !=, z);
}

static void test_parts_and_headers(void)
{
	g_autofree char *m = mail_text("[BHP-2026-000001] Bicycle", PHOTO_B64, NULL);
	g_autoptr(wb_maildigest) d = digest(m);
	g_assert_cmpstr(wb_maildigest_header(d, "subject"), ==, "[BHP-2026-000001] Bicycle");
	g_assert_cmpstr(wb_maildigest_header(d, "Message-ID"), ==, "<wamid.A1@wa.test>");
	g_assert_cmpuint(d->parts->len, ==, 2);
	const struct wb_mailpart *photo = d->parts->pdata[1];
	g_assert_cmpstr(photo->path, ==, "2");
	g_assert_cmpstr(photo->type, ==, "image/jpeg");
	g_assert_cmpstr(photo->name, ==, "photo.jpg");
	g_assert_cmpuint(photo->size, ==, 13);
	g_autofree char *want = wb_sha256_hex((const guchar *)"\xff\xd8\xff\xe0\x00\x10JFIF"
					      "\x00\x01\x01", 13);
	g_assert_cmpstr(photo->sha256, ==, want);
	g_assert_nonnull(strstr(photo->desc, want));

	/* the JSON form gives back the same digest */
	g_autofree char *json = wb_maildigest_json(d);
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_maildigest) back = wb_maildigest_from_json(json, &err);
	g_assert_no_error(err);
	g_autoptr(GPtrArray) diffs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpuint(wb_maildigest_compare(back, d, diffs, notes), ==, 0);
	g_assert_cmpstr(back->sha256, ==, d->sha256);
	g_assert_cmpuint(notes->len, ==, 0);
}

/* An mbox or a client adds status headers and stores LF: content unchanged. */
static void test_refiled(void)
{
	g_autofree char *m = mail_text("[BHP-2026-000001] Bicycle", PHOTO_B64, NULL);
	g_autofree char *filed_crlf = mail_text("[BHP-2026-000001] Bicycle", PHOTO_B64,
						"X-Mozilla-Status: 0001\r\nStatus: RO\r\n");
	g_autoptr(GString) lf = g_string_new(NULL);
	for (const char *p = filed_crlf; *p; p++)
		if (*p != '\r')
			g_string_append_c(lf, *p);
	g_autoptr(wb_maildigest) was = digest(m);
	g_autoptr(wb_maildigest) now = digest(lf->str);
	g_assert_cmpstr(was->sha256, !=, now->sha256);
	g_autoptr(GPtrArray) diffs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpuint(wb_maildigest_compare(was, now, diffs, notes), ==, 0);
	g_assert_cmpuint(notes->len, ==, 2);
	g_assert_nonnull(strstr(notes->pdata[0], "X-Mozilla-Status"));
}

static void test_changes_named(void)
{
	g_autofree char *m = mail_text("[BHP-2026-000001] Bicycle", PHOTO_B64, NULL);
	g_autofree char *changed = mail_text("[BHP-2026-000001] Nothing happened",
					     "/9j/4AAQSkZJRgABAg==", "X-Note: edited\r\n");
	g_autoptr(wb_maildigest) was = digest(m);
	g_autoptr(wb_maildigest) now = digest(changed);
	g_autoptr(GPtrArray) diffs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpuint(wb_maildigest_compare(was, now, diffs, notes), ==, 3);
	g_autofree char *all = joined(diffs);
	g_assert_nonnull(strstr(all, "header Subject changed: was \"[BHP-2026-000001] Bicycle\", "
				"now \"[BHP-2026-000001] Nothing happened\""));
	g_assert_nonnull(strstr(all, "part 2 (photo.jpg, image/jpeg) changed"));
	g_assert_nonnull(strstr(all, "header X-Note added"));
}

/* A part taken away, headers with control characters and junk: named, escaped. */
static void test_removed_and_hostile(void)
{
	g_autofree char *m = mail_text("[BHP-2026-000001] Bicycle", PHOTO_B64, NULL);
	char *cut = strstr(m, "--b1\r\nContent-Type: image/jpeg");
	g_autofree char *head = g_strndup(m, (gsize)(cut - m));
	g_autofree char *shorter = g_strconcat("X-Evil: \x1b[31mred\xff\r\n", head,
					       "--b1--\r\n", NULL);
	g_autoptr(wb_maildigest) was = digest(m);
	g_autoptr(wb_maildigest) now = digest(shorter);
	g_autoptr(GPtrArray) diffs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
	wb_maildigest_compare(was, now, diffs, notes);
	g_autofree char *all = joined(diffs);
	g_assert_nonnull(strstr(all, "part 2 (photo.jpg, image/jpeg) removed"));
	g_assert_nonnull(strstr(all, "header X-Evil added"));
	g_assert_null(strchr(all, '\x1b'));
	/* the hostile header still has a JSON form */
	g_autofree char *json = wb_maildigest_json(now);
	g_assert_nonnull(json);

	/* not a mail at all, and an empty one: no crash, a digest without headers */
	g_autoptr(GError) err = NULL;
	g_autoptr(wb_maildigest) junk = wb_maildigest_of("\x00\x01\x02garbage", 10, NULL, &err);
	g_assert_true(junk == NULL || junk->headers->len == 0);
	g_clear_error(&err);
	g_autoptr(wb_maildigest) bad = wb_maildigest_from_json("{\"v\":1}", &err);
	g_assert_null(bad);
	g_assert_nonnull(err);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/maildigest/canonical", test_canonical);
	g_test_add_func("/maildigest/parts-and-headers", test_parts_and_headers);
	g_test_add_func("/maildigest/refiled", test_refiled);
	g_test_add_func("/maildigest/changes-named", test_changes_named);
	g_test_add_func("/maildigest/removed-and-hostile", test_removed_and_hostile);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
