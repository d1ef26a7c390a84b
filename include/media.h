/* media: fetching one WhatsApp media object from the Graph API, in Meta's two steps.
 *
 *   1. GET {api_base}/{media_id}[?phone_number_id=P] with "Authorization: Bearer TOKEN"
 *      → JSON {url, mime_type, sha256 (hex), file_size, id}
 *   2. GET {url} with the same bearer token and an explicit User-Agent → the bytes
 *
 * The bytes go to a file the caller gives (a spool file, spool.h) as they arrive, hashed
 * on the way, so memory does not grow with the medium. The size cap is enforced while
 * downloading (announced file_size and Content-Length are checked first, then the running
 * total), never after keeping everything. The bytes' SHA-256 must equal the webhook's
 * (base64) and the lookup's (hex) when given; a mismatch is refused. A URL that has expired (it lives five minutes) is looked up again once
 * within the same call. The access token is never logged nor put in an error message.
 *
 * Errors are in WB_MEDIA_ERROR with enum wb_fail codes (fail.h):
 *   SOON  — 429, 5xx, Graph codes 1/2/4/80007/130429/131000/131016, timeouts, connection
 *           failures, truncated bodies, an expired URL that stays expired, a hash mismatch
 *           (a damaged transfer; the caller gives up after a few)
 *   LATER — 401 / Graph code 190 (token expired or invalid), other auth/permission codes
 *           (0, 3, 10, 200–299): a human must act
 *   FINAL — the media id is unknown or gone (404, Graph code 100 or 131052/131053 on the
 *           lookup), the file is over the cap, the lookup answer is malformed
 * The message names the step, the HTTP status, Graph's error code and fbtrace_id. */
#ifndef WB_MEDIA_H
#define WB_MEDIA_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "fail.h"

#define WB_MEDIA_ERROR (wb_media_error_quark())
GQuark wb_media_error_quark(void);

struct wb_media_req {
	const char *api_base;         /* "https://graph.facebook.com/v26.0", no trailing / */
	const char *access_token;     /* secret */
	const char *ca_file;          /* optional CA bundle (tests, private CAs) */
	const char *media_id;         /* digits, from the webhook */
	const char *phone_number_id;  /* optional: sent as ?phone_number_id= on the lookup */
	const char *sha256_b64;       /* optional: the webhook's hash, base64 */
	size_t max_bytes;             /* cap for this medium */
	long timeout_s;               /* whole-transfer timeout per request (0: 120 s) */
};

struct wb_media {
	char *mime_type;              /* as the lookup gave it, cleaned ("audio/ogg; codecs=opus") */
	char *sha256_hex;             /* of the bytes, lowercase hex */
	guint64 size;                 /* bytes written */
	int write_errno;              /* after a failure: nonzero when it was the file that took
				       * no more (a full disk), not the fetch: WB_FAIL_LATER */
};

/* Fetches the medium into fd, a regular file open for reading and writing (its name in
 * file, for messages), from its start: the file is emptied before each download. On
 * success the file holds exactly the bytes; on failure whatever had arrived (the caller
 * removes it). out is filled on success, out->write_errno also on failure. */
bool wb_media_fetch(const struct wb_media_req *req, int fd, const char *file,
		    struct wb_media *out, GError **error);
void wb_media_clear(struct wb_media *m);

/* The User-Agent sent on every Graph request: wb_graph_user_agent() (graph.h). */
const char *wb_media_user_agent(void);

#endif
