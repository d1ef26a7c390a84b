/* authres: Authentication-Results header fields (RFC 8601), and whether a mail server the
 * configuration trusts vouches for a From: domain.
 *
 * Pure: strings in, a parse or a verdict out; no store, no network, no clock. What a
 * function returns belongs to the caller.
 *
 * The parser follows RFC 8601 §2.2: CFWS between any two tokens (comments nest and take
 * quoted-pairs), the authserv-id as a token or a quoted string, an optional version after
 * it, then "; none" or one or more resinfos: method[/version]=result, an optional
 * reason=value, and ptype.property=pvalue items. Method, result, ptype and property names
 * are case-insensitive and come back lowercase; values come back as written, without
 * quotes. A pvalue is read leniently (anything up to CFWS or ';', so header.b's base64
 * passes), but never across a ';'. A control character, a NUL, invalid UTF-8, an
 * unterminated comment or quoted string, and anything over a cap (WB_AUTHRES_* in caps.h)
 * make the field unreadable.
 *
 * The trust rule (wb_authres_vouch). Only fields whose authserv-id is one of the trusted
 * ids count; every other field is ignored, whatever it says. That is sound only because
 * the receiving MTA removes incoming fields that claim its own authserv-id (RFC 8601 §5).
 * Among the trusted fields, the results about domain D are the dmarc results whose
 * header.from is D, and the dkim results whose signing domain (header.d, else the domain
 * of header.i) is D: strict alignment, equal but for ASCII case. D is vouched for when at
 * least one of them is a pass and none is anything else. So every trusted field must
 * agree, whichever of them is the real one: a "pass" added below the server's own "fail"
 * refuses, and so do a trusted dmarc result that is not a pass and names no header.from,
 * a trusted field that cannot be read, and more than WB_AUTHRES_MAX_FIELDS fields. A
 * dmarc pass that names no header.from proves nothing. */
#ifndef WB_AUTHRES_H
#define WB_AUTHRES_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "caps.h"

#define WB_AUTHRES_ERROR (wb_authres_error_quark())
GQuark wb_authres_error_quark(void);
enum { WB_AUTHRES_BAD = 1 }; /* the field cannot be read; the message says where and why */

struct wb_authres_prop {
	char *ptype, *property;   /* lowercase: "header", "from" */
	char *value;              /* as written, without quotes */
};

struct wb_authres_result {
	char *method;             /* lowercase, without its version: "dkim", "dmarc", "spf" */
	char *result;             /* lowercase: "pass", "fail", "none", "temperror", … */
	char *reason;             /* the reason= value, or NULL */
	struct wb_authres_prop props[WB_AUTHRES_MAX_PROPS];
	unsigned n_props;
};

struct wb_authres {
	char *authserv_id;        /* as written */
	unsigned version;         /* 1 when the field names none */
	GPtrArray *results;       /* of struct wb_authres_result *; empty for "none" */
};
typedef struct wb_authres wb_authres;

/* One field's value (what follows "Authentication-Results:"), len bytes. NULL with
 * WB_AUTHRES_BAD when it cannot be read. */
struct wb_authres *wb_authres_parse(const char *field, size_t len, GError **error);
void wb_authres_free(struct wb_authres *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wb_authres, wb_authres_free)

/* The value of the first ptype.property (lowercase names) in r, or NULL. */
const char *wb_authres_prop(const struct wb_authres_result *r, const char *ptype,
			    const char *property);

enum wb_authres_verdict {
	WB_AUTHRES_VOUCHED,    /* a trusted pass about the domain, and nothing trusted against it */
	WB_AUTHRES_UNPROVEN,   /* no trusted result about the domain (or no trusted id at all) */
	WB_AUTHRES_REFUTED,    /* a trusted result about the domain that is not a pass */
	WB_AUTHRES_UNREADABLE, /* a trusted field that cannot be read, or too many fields */
};

/* fields: one mail's Authentication-Results field values, NULL-terminated (may be NULL).
 * trusted: the trusted authserv-ids, compared ASCII case-insensitively (NULL or empty:
 * nothing is trusted). domain: the From: address's domain. why (may be NULL) gets one
 * line saying what vouched, or why nothing did; it quotes only the trusted id, method and
 * result names, and domain. */
enum wb_authres_verdict wb_authres_vouch(const char *const *fields, const char *const *trusted,
					 const char *domain, char **why);

#endif
