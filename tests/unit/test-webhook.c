/* Unit tests for the webhook parser: shapes, sender matching, escapes, hostile input. */
#include "testlib.h"
#include "webhook.h"

#include <string.h>

static struct wb_payload *parse_fixture(const char *name)
{
	g_autoptr(GBytes) b = fixture(name);
	gsize len;
	const void *data = g_bytes_get_data(b, &len);
	g_autoptr(GError) err = NULL;
	struct wb_payload *p = wb_webhook_parse(data, len, &err);
	g_assert_no_error(err);
	g_assert_nonnull(p);
	return p;
}

static struct wb_payload *parse_str(const char *s, GError **err)
{
	return wb_webhook_parse(s, strlen(s), err);
}

static void test_bengali_text(void)
{
	struct wb_payload *p = parse_fixture("bengali-text.json");
	g_assert_cmpuint(p->messages->len, ==, 1);
	struct wb_inmsg *m = p->messages->pdata[0];
	g_assert_cmpstr(m->phone_number_id, ==, "441880000100101");
	g_assert_cmpstr(m->wamid, ==, "wamid.HBgMOTE5ODMwMTExMjIyFQIAEhgUQkQ0RjE3QTI5QzBFNTU4MTIzQUIA");
	g_assert_cmpstr(m->sender, ==, "919830111222");
	g_assert_cmpstr(m->user_id, ==, "IN.5512093847561023");
	g_assert_cmpstr(m->profile_name, ==, "তনুশ্রী বসু");
	g_assert_cmpint(m->timestamp, ==, 1792051200);
	g_assert_cmpstr(m->type, ==, "text");
	g_assert_false(m->forwarded);
	g_assert_true(strstr(m->json, "স্কুটার চুরি") != NULL);
	g_assert_cmpuint(p->problems->len, ==, 0);
	wb_payload_free(p);
}

static void test_wire_escapes(void)
{
	struct wb_payload *p = parse_fixture("wire-escaped.json");
	struct wb_inmsg *m = p->messages->pdata[0];
	/* \uXXXX and surrogate pairs come out as UTF-8, \/ as / */
	g_assert_cmpstr(m->profile_name, ==, "রাহুল ঘোষ 🚓");
	g_assert_true(strstr(m->json, "🙏") != NULL);
	g_assert_true(strstr(m->json, "https://example.org/map") != NULL);
	wb_payload_free(p);
}

static void test_batch_matches_by_wa_id(void)
{
	struct wb_payload *p = parse_fixture("batch-two.json");
	g_assert_cmpuint(p->messages->len, ==, 2);
	struct wb_inmsg *a = p->messages->pdata[0], *b = p->messages->pdata[1];
	/* contacts[] is in the other order than messages[] */
	g_assert_cmpstr(a->sender, ==, "919830777888");
	g_assert_cmpstr(a->profile_name, ==, "মিতালী পাল");
	g_assert_cmpstr(b->sender, ==, "919830555666");
	g_assert_cmpstr(b->profile_name, ==, "Imran Sheikh");
	wb_payload_free(p);
}

static void test_statuses(void)
{
	struct wb_payload *p = parse_fixture("status-read.json");
	g_assert_cmpuint(p->messages->len, ==, 0);
	g_assert_cmpuint(p->statuses->len, ==, 1);
	struct wb_instatus *s = p->statuses->pdata[0];
	g_assert_cmpstr(s->status, ==, "read");
	g_assert_cmpstr(s->recipient, ==, "919830111222");
	wb_payload_free(p);
}

static void test_not_json(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) b = fixture("not-json.txt");
	gsize len;
	const void *d = g_bytes_get_data(b, &len);
	g_assert_null(wb_webhook_parse(d, len, &err));
	g_assert_error(err, WB_WEBHOOK_ERROR, WB_WEBHOOK_NOT_JSON);
	g_clear_error(&err);
	g_assert_null(wb_webhook_parse("", 0, &err));
	g_assert_error(err, WB_WEBHOOK_ERROR, WB_WEBHOOK_NOT_JSON);
}

static const char *const bad_shapes[] = {
	"[]", "42", "\"text\"", "{}", "{\"object\":\"whatsapp_business_account\"}",
	"{\"object\":\"whatsapp_business_account\",\"entry\":{\"id\":\"1\"}}",
	"{\"object\":7,\"entry\":[]}",
};

static void test_bad_shapes(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bad_shapes); i++) {
		g_autoptr(GError) err = NULL;
		g_assert_null(parse_str(bad_shapes[i], &err));
		g_assert_error(err, WB_WEBHOOK_ERROR, WB_WEBHOOK_BAD_SHAPE);
	}
}

static void test_items_skipped_with_reason(void)
{
	const char *body =
		"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":["
		"{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"123\"},"
		"\"messages\":[{\"from\":\"9198\",\"type\":\"text\"},"            /* no id */
		"{\"id\":\"wamid.A\",\"type\":\"text\"},"                           /* no sender */
		"{\"id\":\"wamid.<B>\",\"from\":\"9198\"},"                          /* bad id */
		"{\"id\":\"wamid.C\",\"from\":\"91 98\"},"                           /* bad from */
		"7,"
		"{\"id\":\"wamid.D\",\"from\":\"9198\",\"timestamp\":\"soon\"}]}},"   /* kept */
		"{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"../x\"}}},"
		"{\"field\":\"account_update\",\"value\":{}}]}]}";
	g_autoptr(GError) err = NULL;
	struct wb_payload *p = parse_str(body, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(p->messages->len, ==, 1);
	struct wb_inmsg *m = p->messages->pdata[0];
	g_assert_cmpstr(m->wamid, ==, "wamid.D");
	g_assert_cmpint(m->timestamp, ==, 0);     /* unusable timestamp: unknown */
	g_assert_cmpstr(m->type, ==, "unknown");
	g_assert_null(m->profile_name);
	g_assert_cmpuint(p->problems->len, ==, 6);
	g_assert_cmpuint(p->ignored, ==, 1);
	wb_payload_free(p);
}

static void test_hostile_strings(void)
{
	/* NUL, CR/LF inside a name; the name must not carry them out. */
	const char *body =
		"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"field\":"
		"\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"123\"},\"contacts\":"
		"[{\"wa_id\":\"9198\",\"profile\":{\"name\":\"Eve\\u0000\\r\\nBcc: x@y\"}}],"
		"\"messages\":[{\"id\":\"wamid.E\",\"from\":\"9198\",\"timestamp\":1792051200,"
		"\"type\":\"text\",\"text\":{\"body\":\"a\\u0000b\"}}]}}]}]}";
	g_autoptr(GError) err = NULL;
	struct wb_payload *p = parse_str(body, &err);
	g_assert_no_error(err);
	struct wb_inmsg *m = p->messages->pdata[0];
	g_assert_cmpstr(m->profile_name, ==, "Eve\nBcc: x@y"); /* NUL and CR gone */
	g_assert_cmpint(m->timestamp, ==, 1792051200); /* numbers accepted too */
	wb_payload_free(p);
}

static void test_other_object_ignored(void)
{
	g_autoptr(GError) err = NULL;
	struct wb_payload *p = parse_str("{\"object\":\"page\",\"entry\":[{}]}", &err);
	g_assert_no_error(err);
	g_assert_cmpuint(p->messages->len, ==, 0);
	g_assert_cmpuint(p->ignored, ==, 1);
	wb_payload_free(p);
}

static void test_shapes(void)
{
	g_assert_true(wb_is_dot_atom("wamid.HBgMOTE5ODMwMDEyMzQ1FQIAERgSQzlEMDMxNUI5RDBCM0FEQTVDAA=="));
	g_assert_true(wb_is_dot_atom("a+b/c=d"));
	g_assert_false(wb_is_dot_atom("a..b"));
	g_assert_false(wb_is_dot_atom(".a"));
	g_assert_false(wb_is_dot_atom("a b"));
	g_assert_false(wb_is_dot_atom("a<b>"));
	g_assert_false(wb_is_dot_atom(""));
	g_assert_true(wb_is_bsuid("IN.4471902385561207"));
	g_assert_false(wb_is_bsuid("in.4471902385561207"));
	g_assert_false(wb_is_bsuid("IN.44/71"));
	g_assert_true(wb_is_digits("919830012345", 32));
	g_assert_false(wb_is_digits("+919830012345", 32));
	g_assert_false(wb_is_digits("", 32));
}

/* A location body as Meta writes it: the message object keeps every decimal (the mail
 * shows what it keeps), whatever form the number had. */
static char *location_json(const char *lat, const char *lon, GError **err)
{
	g_autofree char *body = g_strdup_printf(
		"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"field\":"
		"\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"123\"},\"messages\":"
		"[{\"id\":\"wamid.L\",\"from\":\"9198\",\"timestamp\":\"1792051200\",\"type\":"
		"\"location\",\"location\":{\"latitude\":%s,\"longitude\":%s}}]}}]}]}", lat, lon);
	struct wb_payload *p = parse_str(body, err);
	if (!p)
		return NULL;
	g_assert_cmpuint(p->messages->len, ==, 1);
	char *json = g_strdup(((struct wb_inmsg *)p->messages->pdata[0])->json);
	wb_payload_free(p);
	return json;
}

static void test_location_decimals(void)
{
	static const struct { const char *lat, *lon, *kept; } cases[] = {
		{ "22.5726459", "88.3638953", "\"latitude\":22.5726459,\"longitude\":88.3638953" },
		{ "-33.8688197", "-0.0000001", "\"latitude\":-33.8688197,\"longitude\":-1e-7" },
		{ "2.25726459e1", "8.83638953E+1", "\"latitude\":22.5726459,\"longitude\":88.3638953" },
		{ "0", "88", "\"latitude\":0,\"longitude\":88" },
		{ "1e300", "-1e-300", "\"latitude\":1e300,\"longitude\":-1e-300" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *json = location_json(cases[i].lat, cases[i].lon, &err);
		g_assert_no_error(err);
		g_assert_nonnull(strstr(json, cases[i].kept));
	}
	/* Beyond a double: not JSON this parser takes, so the body is kept as bad. */
	g_autoptr(GError) err = NULL;
	g_assert_null(location_json("1e400", "0", &err));
	g_assert_error(err, WB_WEBHOOK_ERROR, WB_WEBHOOK_NOT_JSON);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/webhook/bengali_text", test_bengali_text);
	g_test_add_func("/webhook/wire_escapes", test_wire_escapes);
	g_test_add_func("/webhook/batch_matches_by_wa_id", test_batch_matches_by_wa_id);
	g_test_add_func("/webhook/statuses", test_statuses);
	g_test_add_func("/webhook/not_json", test_not_json);
	g_test_add_func("/webhook/bad_shapes", test_bad_shapes);
	g_test_add_func("/webhook/items_skipped_with_reason", test_items_skipped_with_reason);
	g_test_add_func("/webhook/hostile_strings", test_hostile_strings);
	g_test_add_func("/webhook/other_object_ignored", test_other_object_ignored);
	g_test_add_func("/webhook/shapes", test_shapes);
	g_test_add_func("/webhook/location_decimals", test_location_decimals);
	return g_test_run();
}
