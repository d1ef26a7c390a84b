/* Unit tests for wasend against tests/lib/fakegraph.py (Meta's wire format): the exact
 * bodies, headers and path the fake receives, how every injected error is classified,
 * the text cut and the parameter cleaning, and the dry run that sends nothing. */
#include "testlib.h"
#include "media.h"
#include "wasend.h"

#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Long and distinctive, so finding it in a message cannot be an accident. */
#define TOKEN  "EAAJtestTOKENx7Qm2ZC9pBAsecretZBZCw4kq0"
#include "fakegraph.h" /* after TOKEN, which it uses */
#define PNID   "441880000100101"
#define TO     "919830012345"
#define QUOTED "wamid.HBgMOTE5ODMwMDEyMzQ1FQIAEhggQ0FGRTM3"
#define OPAQUE "complaint BHP/2026/004512"
#define BN_TEXT "আপনার অভিযোগ নম্বর: BHP/2026/004512"

/* The next send fails as spec (stolen) says; "send":true is added. */
static void inject(json_t *spec)
{
	json_object_set_new(spec, "send", json_true());
	control_json("/_fake/fail", spec);
}

/* ---- fixture ------------------------------------------------------------------------- */

struct fx {
	struct wb_send_req req;
	struct wb_send_result out;
	int code;           /* graph_code */
	GError *err;
	json_t *reqs;       /* what the fake saw, after send_with() */
};

static void fx_setup(struct fx *f, gconstpointer unused)
{
	g_free(control("/_fake/reset", "{}"));
	f->req = (struct wb_send_req){ .api_base = api_base, .access_token = TOKEN,
				       .phone_number_id = PNID, .to = TO, .kind = WB_SEND_TEXT,
				       .text = BN_TEXT, .context_wamid = QUOTED, .opaque = OPAQUE,
				       .timeout_s = 10 };
	f->code = -1;
}

static void fx_teardown(struct fx *f, gconstpointer unused)
{
	wb_send_result_clear(&f->out);
	g_clear_error(&f->err);
	json_decref(f->reqs);
}

/* Sends with ops and collects the requests the fake saw. */
static bool send_with(struct fx *f, const struct wb_sender_ops *ops)
{
	wb_send_result_clear(&f->out);
	g_clear_error(&f->err);
	f->code = -1;
	bool ok = ops->send(&f->req, &f->out, &f->code, &f->err);
	json_decref(f->reqs);
	f->reqs = seen();
	if (ok) {
		g_assert_no_error(f->err);
		g_assert_cmpint(f->code, ==, 0);
		g_assert_nonnull(f->out.wamid);
		g_assert_nonnull(f->out.request_json);
	}
	return ok;
}

static bool send_graph(struct fx *f)
{
	return send_with(f, &wb_sender_graph);
}

/* A failure of this class and Graph code whose message has needle and never the token. */
static void assert_failed(struct fx *f, bool ok, enum wb_fail fail, int code, const char *needle)
{
	g_assert_false(ok);
	g_assert_error(f->err, WB_SEND_ERROR, (gint)fail);
	g_assert_cmpint(f->code, ==, code);
	g_assert_null(strstr(f->err->message, TOKEN));
	if (needle != NULL && strstr(f->err->message, needle) == NULL)
		g_error("\"%s\" not in \"%s\"", needle, f->err->message);
	g_assert_null(f->out.wamid);
	g_assert_null(f->out.request_json);
}

/* The body of the i-th request the fake saw, parsed (caller json_decref()s). */
static json_t *sent_body(struct fx *f, size_t i)
{
	json_error_t jerr;
	json_t *b = json_loads(field(f->reqs, i, "body"), 0, &jerr);
	if (b == NULL)
		g_error("the fake got no JSON: %s", jerr.text);
	return b;
}

/* The keys of obj in order, joined by commas. */
static char *keys_of(json_t *obj)
{
	GString *s = g_string_new(NULL);
	for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it))
		g_string_append_printf(s, "%s%s", s->len ? "," : "", json_object_iter_key(it));
	return g_string_free(s, FALSE);
}

/* The text param of the i-th body parameter of a template body. */
static const char *param_of(json_t *body, size_t i)
{
	json_t *c = json_array_get(json_object_get(json_object_get(body, "template"),
						   "components"), 0);
	return json_string_value(json_object_get(json_array_get(json_object_get(c, "parameters"),
								i), "text"));
}

static void use_template(struct fx *f, const char *const *params)
{
	f->req.kind = WB_SEND_TEMPLATE;
	f->req.template_name = "complaint_registered";
	f->req.template_lang = "bn";
	f->req.params = params;
}

/* ---- the body, without the network --------------------------------------------------------- */

static void test_body_text(struct fx *f, gconstpointer unused)
{
	g_autofree char *b = wb_send_body(&f->req);
	g_assert_cmpstr(b, ==, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
			"\"to\":\"" TO "\",\"type\":\"text\",\"text\":{\"preview_url\":false,"
			"\"body\":\"" BN_TEXT "\"},\"context\":{\"message_id\":\"" QUOTED "\"},"
			"\"biz_opaque_callback_data\":\"" OPAQUE "\"}");
}

static void test_body_template(struct fx *f, gconstpointer unused)
{
	static const char *const params[] = { "BHP/2026/004512", "Bhowanipore PS", NULL };
	use_template(f, params);
	g_autofree char *b = wb_send_body(&f->req);
	g_assert_cmpstr(b, ==, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
			"\"to\":\"" TO "\",\"type\":\"template\",\"template\":{"
			"\"name\":\"complaint_registered\",\"language\":{\"code\":\"bn\"},"
			"\"components\":[{\"type\":\"body\",\"parameters\":["
			"{\"type\":\"text\",\"text\":\"BHP/2026/004512\"},"
			"{\"type\":\"text\",\"text\":\"Bhowanipore PS\"}]}]},"
			"\"biz_opaque_callback_data\":\"" OPAQUE "\"}");
}

/* No context, no opaque, no components: the keys are left out, not sent empty. A
 * template is never a quoted reply. CRLF becomes LF, other controls go. */
static void test_body_optional(struct fx *f, gconstpointer unused)
{
	f->req.context_wamid = NULL;
	f->req.opaque = "";
	f->req.text = "line one\r\nline two\x01\x7f\ttabbed";
	g_autofree char *b = wb_send_body(&f->req);
	g_assert_cmpstr(b, ==, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
			"\"to\":\"" TO "\",\"type\":\"text\",\"text\":{\"preview_url\":false,"
			"\"body\":\"line one\\nline two\\ttabbed\"}}");
	use_template(f, NULL);
	f->req.context_wamid = QUOTED;
	f->req.opaque = NULL;
	g_autofree char *t = wb_send_body(&f->req);
	g_assert_cmpstr(t, ==, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
			"\"to\":\"" TO "\",\"type\":\"template\",\"template\":{"
			"\"name\":\"complaint_registered\",\"language\":{\"code\":\"bn\"}}}");
}

/* ---- sends and the wire ---------------------------------------------------------------- */

static void assert_wire(struct fx *f)
{
	g_assert_cmpuint(json_array_size(f->reqs), ==, 1);
	g_assert_cmpstr(field(f->reqs, 0, "method"), ==, "POST");
	g_assert_cmpstr(field(f->reqs, 0, "path"), ==, "/v26.0/" PNID "/messages");
	g_assert_cmpstr(field(f->reqs, 0, "query"), ==, "");
	g_assert_cmpstr(header(f->reqs, 0, "authorization"), ==, "Bearer " TOKEN);
	g_assert_cmpstr(header(f->reqs, 0, "user-agent"), ==, wb_media_user_agent());
	g_assert_true(g_str_has_prefix(wb_media_user_agent(), "wabridge/"));
	g_assert_cmpstr(header(f->reqs, 0, "content-type"), ==, "application/json");
	g_assert_null(header(f->reqs, 0, "expect"));
	/* request_json is byte for byte what went out, and the wamid is the fake's. */
	g_assert_cmpstr(field(f->reqs, 0, "body"), ==, f->out.request_json);
	g_assert_cmpstr(field(f->reqs, 0, "wamid"), ==, f->out.wamid);
	g_assert_true(g_str_has_prefix(f->out.wamid, "wamid."));
}

static void test_send_text(struct fx *f, gconstpointer unused)
{
	g_assert_true(send_graph(f));
	assert_wire(f);
	json_t *b = sent_body(f, 0);
	g_autofree char *keys = keys_of(b);
	g_assert_cmpstr(keys, ==, "messaging_product,recipient_type,to,type,text,context,"
			"biz_opaque_callback_data");
	const char *mp, *rt, *to, *type, *body, *quoted, *opaque;
	int preview = -1;
	json_error_t jerr;
	if (json_unpack_ex(b, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:s, s:{s:b, s:s}, s:{s:s}, s:s}",
			   "messaging_product", &mp, "recipient_type", &rt, "to", &to, "type", &type,
			   "text", "preview_url", &preview, "body", &body, "context", "message_id",
			   &quoted, "biz_opaque_callback_data", &opaque) != 0)
		g_error("body shape: %s", jerr.text);
	g_assert_cmpstr(mp, ==, "whatsapp");
	g_assert_cmpstr(rt, ==, "individual");
	g_assert_cmpstr(to, ==, TO);
	g_assert_cmpstr(type, ==, "text");
	g_assert_false(preview);
	g_assert_cmpstr(body, ==, BN_TEXT);
	g_assert_cmpstr(quoted, ==, QUOTED);
	g_assert_cmpstr(opaque, ==, OPAQUE);
	json_decref(b);
}

static void test_send_template(struct fx *f, gconstpointer unused)
{
	static const char *const params[] = { "BHP/2026/004512", "ভবানীপুর থানা",
					       NULL };
	control_json("/_fake/templates", json_pack("{s:[{s:s, s:s, s:i}]}", "templates", "name",
						   "complaint_registered", "language", "bn",
						   "params", 2));
	use_template(f, params);
	g_assert_true(send_graph(f));
	assert_wire(f);
	json_t *b = sent_body(f, 0);
	g_autofree char *keys = keys_of(b);
	g_assert_cmpstr(keys, ==, "messaging_product,recipient_type,to,type,template,"
			"biz_opaque_callback_data");
	const char *mp, *rt, *to, *type, *name, *lang, *ctype, *t1, *p1, *t2, *p2, *opaque;
	json_error_t jerr;
	if (json_unpack_ex(b, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:s, s:{s:s, s:{s:s}, "
			   "s:[{s:s, s:[{s:s, s:s}, {s:s, s:s}]}]}, s:s}",
			   "messaging_product", &mp, "recipient_type", &rt, "to", &to, "type", &type,
			   "template", "name", &name, "language", "code", &lang, "components",
			   "type", &ctype, "parameters", "type", &t1, "text", &p1, "type", &t2,
			   "text", &p2, "biz_opaque_callback_data", &opaque) != 0)
		g_error("body shape: %s", jerr.text);
	g_assert_cmpstr(mp, ==, "whatsapp");
	g_assert_cmpstr(rt, ==, "individual");
	g_assert_cmpstr(to, ==, TO);
	g_assert_cmpstr(type, ==, "template");
	g_assert_cmpstr(name, ==, "complaint_registered");
	g_assert_cmpstr(lang, ==, "bn");
	g_assert_cmpstr(ctype, ==, "body");
	g_assert_cmpstr(t1, ==, "text");
	g_assert_cmpstr(p1, ==, params[0]);
	g_assert_cmpstr(t2, ==, "text");
	g_assert_cmpstr(p2, ==, params[1]);
	g_assert_cmpstr(opaque, ==, OPAQUE);
	json_decref(b);
}

/* The fake knows the approved templates, as Graph does: a wrong count or language. */
static void test_template_refused(struct fx *f, gconstpointer unused)
{
	static const char *const one[] = { "BHP/2026/004512", NULL };
	control_json("/_fake/templates", json_pack("{s:[{s:s, s:s, s:i}]}", "templates", "name",
						   "complaint_registered", "language", "bn",
						   "params", 2));
	use_template(f, one);
	assert_failed(f, send_graph(f), WB_FAIL_FINAL, 132000, "HTTP 400, Graph code 132000");
	g_assert_nonnull(strstr(f->err->message, "localizable_params (1)"));
	static const char *const two[] = { "BHP/2026/004512", "Bhowanipore PS", NULL };
	f->req.params = two;
	f->req.template_lang = "en";
	assert_failed(f, send_graph(f), WB_FAIL_FINAL, 132001, "Graph code 132001");
	f->req.template_lang = "bn";
	g_assert_true(send_graph(f));
}

/* ---- error classification ------------------------------------------------------------- */

static const struct err_case {
	int code, http, transient;  /* transient: -1 absent */
	enum wb_fail want;
	const char *needle;
} err_cases[] = {
	{ 130429, 400, -1, WB_FAIL_SOON, "HTTP 400, Graph code 130429, fbtrace_id A" },
	{ 131056, 400, -1, WB_FAIL_SOON, "pair rate limit hit (Too many messages" },
	{ 131000, 500, -1, WB_FAIL_SOON, "HTTP 500, Graph code 131000" },
	{ 190, 401, -1, WB_FAIL_LATER, "HTTP 401, Graph code 190" },
	{ 131047, 400, -1, WB_FAIL_FINAL, "(#131047) Re-engagement message (Message failed" },
	{ 131026, 400, -1, WB_FAIL_FINAL, "Graph code 131026" },
	{ 132000, 400, -1, WB_FAIL_FINAL, "Graph code 132000" },
	{ 132001, 404, -1, WB_FAIL_FINAL, "HTTP 404, Graph code 132001" },
	{ 132018, 400, -1, WB_FAIL_FINAL, "Graph code 132018" },
	{ 100, 400, -1, WB_FAIL_FINAL, "Graph code 100" },
	{ 2, 500, 1, WB_FAIL_SOON, "HTTP 500, Graph code 2" },         /* a 500, is_transient */
	{ 135000, 400, 1, WB_FAIL_SOON, "Graph code 135000" },         /* is_transient wins */
	{ 135000, 400, -1, WB_FAIL_FINAL, "Graph code 135000" },       /* an unknown 4xx */
	{ 135000, 503, -1, WB_FAIL_SOON, "HTTP 503" },                 /* an unknown 5xx */
	{ 131031, 400, -1, WB_FAIL_LATER, "Graph code 131031" },       /* account locked */
	{ 80007, 429, -1, WB_FAIL_SOON, "HTTP 429, Graph code 80007" },
	{ 100, 500, -1, WB_FAIL_FINAL, "HTTP 500, Graph code 100" },   /* the code wins */
};

static void test_error_table(struct fx *f, gconstpointer unused)
{
	for (size_t i = 0; i < G_N_ELEMENTS(err_cases); i++) {
		const struct err_case *c = &err_cases[i];
		json_t *spec = json_pack("{s:i, s:i}", "code", c->code, "http", c->http);
		if (c->transient >= 0)
			json_object_set_new(spec, "is_transient", json_boolean(c->transient));
		inject(spec);
		g_test_message("code %d, HTTP %d", c->code, c->http);
		assert_failed(f, send_graph(f), c->want, c->code, c->needle);
	}
	g_assert_true(send_graph(f));  /* and it behaves again */
}

/* A server that echoes the token back must not get it into our messages. */
static void test_token_scrubbed(struct fx *f, gconstpointer unused)
{
	inject(json_pack("{s:i, s:i, s:s}", "code", 190, "http", 401, "message",
			 "Error validating access token " TOKEN " (expired)"));
	assert_failed(f, send_graph(f), WB_FAIL_LATER, 190, "access token [token] (expired)");
}

static void test_wrong_token(struct fx *f, gconstpointer unused)
{
	f->req.access_token = "EAAJsomeOTHERtokenZZZZZZZZZZZZZ";
	assert_failed(f, send_graph(f), WB_FAIL_LATER, 190, "HTTP 401, Graph code 190");
	g_assert_null(strstr(f->err->message, "EAAJsomeOTHERtoken"));
}

/* A proxy's own 429 or 502 page: no Graph code, the status decides. */
static void test_proxy_status(struct fx *f, gconstpointer unused)
{
	inject(json_pack("{s:s, s:i}", "raw", "Too Many Requests\n", "http", 429));
	assert_failed(f, send_graph(f), WB_FAIL_SOON, 0, "HTTP 429: Too Many Requests");
	inject(json_pack("{s:s, s:i, s:s}", "raw", "<html><h1>502 Bad Gateway</h1></html>",
			 "http", 502, "ctype", "text/html"));
	assert_failed(f, send_graph(f), WB_FAIL_SOON, 0, "HTTP 502: <html>");
	inject(json_pack("{s:s, s:i}", "raw", "Forbidden by policy\n", "http", 403));
	assert_failed(f, send_graph(f), WB_FAIL_LATER, 0, "HTTP 403");
}

static void test_connection_refused(struct fx *f, gconstpointer unused)
{
	int s;
	g_autofree char *base = g_strdup_printf("http://127.0.0.1:%d/v26.0", unanswered_port(&s));
	f->req.api_base = base;
	assert_failed(f, send_graph(f), WB_FAIL_SOON, 0, "Couldn't connect");
	close(s);
	g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
}

/* The fake holds its answer until released, so only the timeout can end the first send
 * (the time is checked only from below, and for a hang). */
static void test_timeout(struct fx *f, gconstpointer unused)
{
	inject(json_pack("{s:b, s:b}", "hold", 1, "ok", 1));
	f->req.timeout_s = 1;
	gint64 t0 = g_get_monotonic_time();
	bool ok = send_graph(f);
	gint64 took = g_get_monotonic_time() - t0;
	g_free(control("/_fake/release", "{}"));
	g_assert_cmpint(took, >=, 900 * 1000);
	g_assert_cmpint(took, <, 60 * G_USEC_PER_SEC);
	assert_failed(f, ok, WB_FAIL_SOON, 0, "Timeout was reached");
	inject(json_pack("{s:f, s:b}", "delay", 0.3, "ok", 1));
	f->req.timeout_s = 60;
	g_assert_true(send_graph(f));  /* slow, but in time */
}

/* HTTP 200 means Graph accepted the message; an answer we cannot read is FINAL so that no
 * retry sends the citizen the same reply twice (see wasend.c). An error object in a 200
 * is still classified by its code. */
static void test_malformed_success(struct fx *f, gconstpointer unused)
{
	static const char *const bodies[] = {
		"{\"messaging_product\":\"whatsapp\",\"messages\":[]}",
		"{\"messaging_product\":\"whatsapp\",\"messages\":[{\"id\":\"wamid.a b\"}]}",
		"{\"messages\":[{\"id\":42}]}",
		"<html>OK</html>",
		"",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
		inject(json_pack("{s:s, s:s}", "raw", bodies[i], "ctype", "application/json"));
		assert_failed(f, send_graph(f), WB_FAIL_FINAL, 0, "HTTP 200 but no message id");
	}
	g_autofree char *huge = g_strnfill(100 * 1024, ' ');  /* over what is kept of an answer */
	inject(json_pack("{s:s}", "raw", huge));
	assert_failed(f, send_graph(f), WB_FAIL_FINAL, 0, "HTTP 200 but the answer was cut short");
	inject(json_pack("{s:s}", "raw", "{\"error\":{\"code\":131056,\"message\":\"pair\"}}"));
	assert_failed(f, send_graph(f), WB_FAIL_SOON, 131056, "HTTP 200, Graph code 131056: pair");
}

/* No redirect is followed (Graph sends none): a proxy or a wrong api_base; a human looks. */
static void test_no_redirect(struct fx *f, gconstpointer unused)
{
	g_autofree char *to = g_strdup_printf("http://127.0.0.1:%d/v26.0/" PNID "/messages",
					      fake_port);
	inject(json_pack("{s:s, s:i, s:{s:s}}", "raw", "", "http", 302, "headers", "Location", to));
	assert_failed(f, send_graph(f), WB_FAIL_LATER, 0, "HTTP 302");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 1);
}

/* ---- refused before sending ------------------------------------------------------------ */

static void assert_refused(struct fx *f, enum wb_fail fail, const char *needle)
{
	assert_failed(f, send_graph(f), fail, 0, needle);
	g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
}

static void test_refused(struct fx *f, gconstpointer unused)
{
	static const char *const empty[] = { "BHP/1", "\n \t ", NULL };
	struct wb_send_req good = f->req;
	static const char *const bad_to[] = { NULL, "", "+", "91 98300", "9198300123a",
					      "919830012345\r\nX: 1" };
	for (size_t i = 0; i < G_N_ELEMENTS(bad_to); i++) {
		f->req.to = bad_to[i];
		assert_refused(f, WB_FAIL_FINAL, "the recipient is not a WhatsApp id");
	}
	f->req = good;
	f->req.text = " \r\n\x01 ";
	assert_refused(f, WB_FAIL_FINAL, "the text is empty");
	f->req = good;
	f->req.context_wamid = "wamid.with space";
	assert_refused(f, WB_FAIL_FINAL, "wamid");
	f->req = good;
	use_template(f, empty);
	assert_refused(f, WB_FAIL_FINAL, "a template parameter is empty");
	f->req.params = NULL;
	f->req.template_name = "Complaint Registered";
	assert_refused(f, WB_FAIL_FINAL, "template name");
	f->req.template_name = "complaint_registered";
	f->req.template_lang = "bn-IN\"";
	assert_refused(f, WB_FAIL_FINAL, "template language");
	f->req = good;
	f->req.access_token = "EAAJ bad\r\nX-Injected: 1";
	assert_refused(f, WB_FAIL_LATER, "access token");
	f->req = good;
	f->req.api_base = "http://graph.facebook.com/v26.0";
	assert_refused(f, WB_FAIL_LATER, "api_base");
	f->req = good;
	f->req.phone_number_id = "../me";
	assert_refused(f, WB_FAIL_LATER, "phone_number_id");
	f->req = good;
	f->req.to = "+" TO;  /* Graph tolerates the plus */
	g_assert_true(send_graph(f));
}

/* ---- the fake refuses what Graph refuses ------------------------------------------------- */

/* POSTs body to the fake's messages endpoint with the token; returns Graph's error code
 * (0 for a success). The sends above pass these checks, so they mean something. */
static long fake_code(const char *body)
{
	g_autofree char *url = g_strdup_printf("%s/" PNID "/messages", api_base);
	GString *out = g_string_new(NULL);
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	g_assert_cmpint(curl_easy_perform(h), ==, CURLE_OK);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	json_t *a = json_loads(out->str, 0, NULL);
	long code = (long)json_integer_value(json_object_get(json_object_get(a, "error"), "code"));
	json_decref(a);
	g_string_free(out, TRUE);
	return code;
}

#define MSG_HEAD "{\"messaging_product\":\"whatsapp\",\"to\":\"" TO "\","
#define TPL(params) MSG_HEAD "\"type\":\"template\",\"template\":{" \
	"\"name\":\"complaint_registered\",\"language\":{\"code\":\"bn\"}," \
	"\"components\":[{\"type\":\"body\",\"parameters\":[" params "]}]}}"

static void test_fake_checks(struct fx *f, gconstpointer unused)
{
	g_autofree char *long_text = g_strnfill(4097, 'a');
	g_autofree char *too_long = g_strdup_printf(MSG_HEAD "\"type\":\"text\",\"text\":{\"body\":"
						    "\"%s\"}}", long_text);
	g_assert_cmpint(fake_code(too_long), ==, 100);
	g_assert_cmpint(fake_code(MSG_HEAD "\"type\":\"text\",\"text\":{\"body\":\"hi\"}}"), ==, 0);
	g_assert_cmpint(fake_code(MSG_HEAD "\"type\":\"text\",\"text\":{\"body\":\"\"}}"), ==, 100);
	g_assert_cmpint(fake_code(MSG_HEAD "\"type\":\"text\",\"text\":{\"body\":\"hi\"},"
				  "\"contxt\":{}}"), ==, 100);
	g_assert_cmpint(fake_code(MSG_HEAD "\"type\":\"text\",\"text\":{\"body\":\"hi\"},"
				  "\"context\":{\"id\":\"x\"}}"), ==, 100);
	g_assert_cmpint(fake_code(MSG_HEAD "\"type\":\"template\",\"template\":{\"name\":\"x\"}}"),
			==, 100);
	g_assert_cmpint(fake_code(TPL("{\"type\":\"text\",\"text\":\"a\\tb\"}")), ==, 132018);
	g_assert_cmpint(fake_code(TPL("{\"type\":\"text\",\"text\":\"a     b\"}")), ==, 132018);
	g_assert_cmpint(fake_code(TPL("{\"type\":\"text\",\"text\":\"a    b\"}")), ==, 0);
	g_assert_cmpint(fake_code(TPL("{\"type\":\"text\"}")), ==, 100);
	control_json("/_fake/templates", json_pack("{s:[{s:s, s:s, s:i}]}", "templates", "name",
						   "complaint_registered", "language", "en",
						   "params", 1));
	g_assert_cmpint(fake_code(TPL("{\"type\":\"text\",\"text\":\"a\"}")), ==, 132001);
}

/* ---- the dry run ----------------------------------------------------------------------- */

static void test_dry_run(struct fx *f, gconstpointer unused)
{
	f->req.access_token = NULL;  /* the embedded defaults have no token nor Graph URL */
	f->req.api_base = NULL;
	g_assert_cmpstr(wb_sender_dry_run.name, ==, "dry-run");
	g_assert_cmpstr(wb_sender_graph.name, ==, "graph");
	g_assert_true(send_with(f, &wb_sender_dry_run));
	g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
	g_assert_true(g_regex_match_simple("^wamid\\.dryrun\\.[0-9a-f]{16}$", f->out.wamid, 0, 0));
	g_autofree char *body = wb_send_body(&f->req);
	g_assert_cmpstr(f->out.request_json, ==, body);
	g_autofree char *first = g_strdup(f->out.wamid);
	g_assert_true(send_with(f, &wb_sender_dry_run));
	g_assert_cmpstr(f->out.wamid, !=, first);
	f->req.to = "not a number";
	assert_failed(f, send_with(f, &wb_sender_dry_run), WB_FAIL_FINAL, 0, "recipient");
	g_assert_cmpuint(json_array_size(f->reqs), ==, 0);
}

/* ---- text cut and parameter cleaning --------------------------------------------------- */

/* 5000 characters of Bengali in which characters 4095 to 4097 are the conjunct ক্ষ
 * (KA, VIRAMA, SSA): a cut at 4096 characters would leave "ক্" dangling; the text is
 * cut before the conjunct instead, to 4094 characters. The fake (len() ≤ 4096 like
 * Graph) takes it, and text of exactly 4096 characters goes whole. */
static void test_bengali_cut(struct fx *f, gconstpointer unused)
{
	GString *s = g_string_new(NULL);
	while (g_utf8_strlen(s->str, -1) + 7 <= 4094)
		g_string_append(s, "অভিযোগ ");  /* 7 characters */
	g_string_append(s, "অভিযোগ");  /* 4094 now */
	g_assert_cmpint(g_utf8_strlen(s->str, -1), ==, 4094);
	g_autofree char *want = g_strdup(s->str);
	g_string_append(s, "ক্ষমা");
	while (g_utf8_strlen(s->str, -1) + 5 <= 5000)
		g_string_append(s, " থানা");
	while (g_utf8_strlen(s->str, -1) < 5000)
		g_string_append(s, "।");
	g_assert_cmpint(g_utf8_strlen(s->str, -1), ==, 5000);
	f->req.text = s->str;
	g_assert_true(send_graph(f));
	json_t *b = sent_body(f, 0);
	const char *got = json_string_value(json_object_get(json_object_get(b, "text"), "body"));
	g_assert_cmpint(g_utf8_strlen(got, -1), ==, 4094);
	g_assert_cmpstr(got, ==, want);
	json_decref(b);

	g_string_truncate(s, strlen(want));
	g_string_append(s, "কক");  /* exactly 4096 characters, ending on a whole grapheme */
	f->req.text = s->str;
	g_assert_true(send_graph(f));
	b = sent_body(f, 1);
	g_assert_cmpstr(json_string_value(json_object_get(json_object_get(b, "text"), "body")),
			==, s->str);
	json_decref(b);
	g_string_free(s, TRUE);
}

/* Newlines, tabs and runs of more than four spaces (Graph's 132018) are cleaned; the
 * fake applies Graph's check, so the send going through proves the cleaning. */
static void test_params_cleaned(struct fx *f, gconstpointer unused)
{
	g_autofree char *longp = g_strnfill(1500, 'x');
	const char *const params[] = {
		"BHP/2026/004512\n",
		"line one\nline two\r\nline three",
		"tab\there\t\tand\tthere",
		"six      spaces",
		"four    spaces stay",
		"  \t padded  \n",
		"many\n\n\n\n\n\nnewlines",
		longp,
		NULL,
	};
	static const char *const want[] = {
		"BHP/2026/004512", "line one line two line three", "tab here  and there",
		"six spaces", "four    spaces stay", "padded", "many newlines",
	};
	use_template(f, params);
	g_assert_true(send_graph(f));
	json_t *b = sent_body(f, 0);
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpstr(param_of(b, i), ==, want[i]);
	const char *cut = param_of(b, G_N_ELEMENTS(want));
	g_assert_cmpuint(strlen(cut), ==, 1024);
	g_assert_true(strspn(cut, "x") == 1024);
	g_assert_null(param_of(b, G_N_ELEMENTS(params) - 1));
	json_decref(b);
}

/* biz_opaque_callback_data is capped at 512 bytes, at a character boundary. */
static void test_opaque_cut(struct fx *f, gconstpointer unused)
{
	g_autofree char *ascii = g_strnfill(600, 'c');
	f->req.opaque = ascii;
	g_assert_true(send_graph(f));
	GString *bn = g_string_new(NULL);
	for (int i = 0; i < 200; i++)
		g_string_append(bn, "ক");  /* 3 bytes each */
	f->req.opaque = bn->str;
	g_assert_true(send_graph(f));
	json_t *b0 = sent_body(f, 0), *b1 = sent_body(f, 1);
	const char *o0 = json_string_value(json_object_get(b0, "biz_opaque_callback_data"));
	const char *o1 = json_string_value(json_object_get(b1, "biz_opaque_callback_data"));
	g_assert_cmpuint(strlen(o0), ==, 512);
	g_assert_cmpuint(strlen(o1), ==, 510);
	g_assert_true(g_str_has_prefix(bn->str, o1));
	json_decref(b0);
	json_decref(b1);
	g_string_free(bn, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	fake_graph_setup();

#define T(path, fn) g_test_add("/wasend/" path, struct fx, NULL, fx_setup, fn, fx_teardown)
	T("body/text", test_body_text);
	T("body/template", test_body_template);
	T("body/optional", test_body_optional);
	T("send/text", test_send_text);
	T("send/template", test_send_template);
	T("send/template-refused", test_template_refused);
	T("error/table", test_error_table);
	T("error/token-scrubbed", test_token_scrubbed);
	T("error/wrong-token", test_wrong_token);
	T("error/proxy-status", test_proxy_status);
	T("error/connection-refused", test_connection_refused);
	T("error/timeout", test_timeout);
	T("error/malformed-success", test_malformed_success);
	T("error/no-redirect", test_no_redirect);
	T("refuse/before-sending", test_refused);
	T("fake/checks", test_fake_checks);
	T("dry-run", test_dry_run);
	T("clean/bengali-cut", test_bengali_cut);
	T("clean/params", test_params_cleaned);
	T("clean/opaque", test_opaque_cut);
#undef T

	int rc = g_test_run();
	stop_fake();
	curl_global_cleanup();
	return rc;
}
