/* deliver: the parts shared by both back ends (see deliver.h). */
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
