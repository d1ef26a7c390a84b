/* ingest: one webhook body from outside the daemon — `wabridge ingest` from a file or
 * stdin (MTA pipe, scripts), or as a CGI program behind any web server. */
#ifndef WB_INGEST_H
#define WB_INGEST_H

#include <stddef.h>

#include "config.h"

enum wb_ingest_outcome {
	WB_INGEST_STORED,     /* committed and expanded */
	WB_INGEST_BAD,        /* committed, kept as bad (not JSON, not a webhook) */
	WB_INGEST_SIGNATURE,  /* missing or wrong X-Hub-Signature-256: nothing stored */
	WB_INGEST_STORE,      /* the store failed: nothing stored, try again */
};

/* Verify the signature over the exact bytes, then store and expand. *why gets a
 * human-readable reason for anything but STORED (caller frees). */
enum wb_ingest_outcome wb_ingest_body(const struct wb_config *cfg, const void *body, size_t len,
				      const char *signature, const char *source, char **why);

/* Serve one CGI request (RFC 3875) on stdin/stdout: GET is the verification handshake,
 * POST a webhook. Answers with a Status header like the daemon would; returns 0, or a
 * sysexits code when not even a response could be produced. */
int wb_ingest_cgi(const struct wb_config *cfg);

#endif
