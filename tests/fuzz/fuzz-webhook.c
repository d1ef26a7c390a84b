/* fuzz-webhook: a webhook body in, every message in it rendered into a mail, as the
 * pipeline does without the store and the network: the webhook parser, the view of each
 * message type and the renderer. A message with media gets the input's own bytes as its
 * media, or, every other one, a fetch failure. */
#include "fuzz.h"
#include "render.h"
#include "store.h"
#include "view.h"
#include "webhook.h"

#include <string.h>

static struct wb_templates *tpl;

static char st_key[] = "bhowanipore", st_name[] = "ভবানীপুর থানা", st_code[] = "BHP",
	    st_pnid[] = "441880000100101", st_address[] = "bhowanipore.ps@police.example";
static const struct wb_station station = {
	.key = st_key, .name = st_name, .code = st_code, .phone_number_id = st_pnid,
	.address = st_address,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	g_autoptr(GError) err = NULL;
	tpl = wb_templates_load(NULL, &err);
	if (!tpl)
		g_error("built-in templates: %s", err->message);
	return 0;
}

/* The message as the store hands it to the renderer. */
static void fill_msg(struct wb_msg *m, const struct wb_inmsg *in, size_t i, const char *sha,
		     GBytes *input)
{
	*m = (struct wb_msg){
		.id = (int64_t)i + 1, .wamid = in->wamid, .station = st_key,
		.phone_number_id = in->phone_number_id, .sender = in->sender, .wa_id = in->wa_id,
		.user_id = in->user_id, .profile_name = in->profile_name, .type = in->type,
		.json = in->json, .context_id = in->context_id, .payload_sha256 = (char *)sha,
		.ts = in->timestamp, .received_at = in->timestamp + 2, .forwarded = in->forwarded,
		.ref = (char *)"BHP-2026-000042", .reply_parent = in->context_id,
	};
	if (i > 0)
		m->thread_root = (char *)"wamid.first";
	g_autofree char *id = NULL, *b64 = NULL;
	char *mime = NULL;
	bool media = wb_view_media_ref(in->type, in->json, &id, &b64, &mime);
	if (media && i % 2 == 0) {
		m->media = input;
		m->media_mime = mime; /* freed by the caller */
		m->media_sha256 = (char *)sha;
		return;
	}
	g_free(mime);
	if (media)
		m->media_error = (char *)"the media URL has expired";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)wb_ogg_opus_seconds(data, size);
	struct wb_payload *p = wb_webhook_parse(data, size, NULL);
	if (!p)
		return 0;
	g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
	GBytes *input = g_bytes_new_static(data, size);
	for (guint i = 0; i < p->messages->len; i++) {
		struct wb_msg m;
		fill_msg(&m, p->messages->pdata[i], i, sha, input);
		g_autofree char *reply_to = g_strdup_printf(
			"complaint+%s.0a1b2c3d4e@wa.police.example", m.ref);
		struct wb_render_in in = {
			.domain = "wa.police.example", .timezone = "Asia/Kolkata",
			.reply_to = reply_to, .station = &station, .msg = &m, .tpl = tpl,
		};
		g_autoptr(GError) err = NULL;
		GBytes *mail = wb_render_mail(&in, &err);
		if (!mail)
			g_error("a message did not render: %s", err->message);
		g_bytes_unref(mail);
		g_free(m.media_mime);
	}
	g_bytes_unref(input);
	wb_payload_free(p);
	return 0;
}
