/* deliver: the parts shared by both back ends (see deliver.h). */
#include <string.h>

#include "deliver.h"

G_DEFINE_QUARK(wb-deliver-error-quark, wb_deliver_error)

const struct wb_deliver_ops *wb_deliver_for(const struct wb_station *st)
{
	return st->deliver == WB_DELIVER_IMAP ? &wb_deliver_imap : &wb_deliver_maildir;
}

char *wb_deliver_maildir_path(const struct wb_config *cfg, const struct wb_station *st)
{
	if (st->maildir != NULL && st->maildir[0] != '\0')
		return g_strdup(st->maildir);
	return g_build_filename(cfg->data_dir != NULL ? cfg->data_dir : ".", "mail", st->key,
				NULL);
}

/* 1 to max bytes of printable ASCII, no space and nothing from forbidden. */
static bool token_ok(const char *s, size_t max, const char *forbidden)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr(forbidden, c) != NULL)
			return false;
	}
	return true;
}

bool wb_deliver_message_id_ok(const char *id)
{
	return token_ok(id, WB_MESSAGE_ID_MAX, "<>\"\\");
}

/* atom (RFC 3501) without atom-specials: what a keyword may be. */
bool wb_deliver_keyword_ok(const char *kw)
{
	return token_ok(kw, 100, "(){%*\"\\]");
}

bool wb_deliver_flag_ok(const char *flag)
{
	static const char *const system_flags[] = {
		"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
	};

	if (flag[0] != '\\')
		return wb_deliver_keyword_ok(flag);
	for (size_t i = 0; i < G_N_ELEMENTS(system_flags); i++) {
		if (g_ascii_strcasecmp(flag, system_flags[i]) == 0)
			return true;
	}
	return false;
}

/* Start of the line after the one at p (end if none). */
static const char *next_line(const char *p, const char *end)
{
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	return eol != NULL ? eol + 1 : end;
}

/* The Message-ID of a mail (without <>), from its header, folded or not; NULL if none. */
char *wb_deliver_message_id_of(const char *mail, size_t len)
{
	static const char name[] = "message-id:";
	const char *p = mail, *end = mail + len;

	while (p < end && *p != '\r' && *p != '\n') {
		const char *next = next_line(p, end);
		if ((size_t)(end - p) >= sizeof name - 1 &&
		    g_ascii_strncasecmp(p, name, sizeof name - 1) == 0) {
			while (next < end && (*next == ' ' || *next == '\t'))
				next = next_line(next, end);
			const char *lt = memchr(p, '<', (size_t)(next - p));
			const char *gt = lt != NULL ? memchr(lt, '>', (size_t)(next - lt)) : NULL;
			return gt != NULL ? g_strndup(lt + 1, (size_t)(gt - lt - 1)) : NULL;
		}
		p = next;
	}
	return NULL;
}
