/* imaptest: a look into a mailbox of the private Dovecot (tests/lib/dovecot.sh) over
 * IMAP, for the unit tests of the IMAP back ends (header-only). Every user there has
 * the password "secret"; the port is $WB_IMAP_PORT. */
#ifndef WB_IMAPTEST_H
#define WB_IMAPTEST_H

#include <glib.h>

#include "config.h"
#include "deliver.h"
#include "imapconn.h"

/* Is the private Dovecot there? Skips the test when not. */
static inline bool imaptest_need_imap(void)
{
	if (g_getenv("WB_IMAP_PORT") != NULL)
		return true;
	g_test_skip("WB_IMAP_PORT not set (start tests/lib/dovecot.sh)");
	return false;
}

/* And its directory, for doveadm? Skips the test when not. */
static inline bool imaptest_need_doveadm(void)
{
	if (imaptest_need_imap() && g_getenv("WB_DOVECOT_DIR") != NULL)
		return true;
	if (g_getenv("WB_IMAP_PORT") != NULL)
		g_test_skip("WB_DOVECOT_DIR not set");
	return false;
}

/* The flags of message uid in folder (EXAMINE, UID FETCH uid FLAGS) as "\\Seen",
 * "$Keyword" ...; NULL when there is no such message. Fails the test on IMAP errors. */
static inline char **imaptest_flags(const char *user, const char *folder, uint32_t uid)
{
	g_autofree char *url = g_strdup_printf("imap://127.0.0.1:%s", g_getenv("WB_IMAP_PORT"));
	struct wb_config cfg = { .imap_url = url };
	struct wb_imapconn c = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(wb_imapconn_init(&c, WB_DELIVER_ERROR, &cfg, user, "secret", &error));
	g_assert_true(wb_imapconn_connect(&c, &error));
	g_assert_no_error(error);
	g_autofree char *wire = wb_imapconn_mutf7(folder);
	g_assert_cmpint(mailimap_examine(c.imap, wire), ==, MAILIMAP_NO_ERROR);

	struct mailimap_set *set = mailimap_set_new_single(uid);
	struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_flags());
	clist *result = NULL;
	g_assert_cmpint(mailimap_uid_fetch(c.imap, set, type, &result), ==, MAILIMAP_NO_ERROR);
	mailimap_fetch_type_free(type);
	mailimap_set_free(set);

	char **flags = NULL;
	for (clistiter *it = clist_begin(result); it != NULL && flags == NULL; it = clist_next(it))
		flags = wb_imapconn_att_flags(clist_content(it));
	mailimap_fetch_list_free(result);
	wb_imapconn_clear(&c);
	return flags;
}

/* Does message uid in folder carry flag? */
static inline bool imaptest_has_flag(const char *user, const char *folder, uint32_t uid,
				     const char *flag)
{
	g_auto(GStrv) flags = imaptest_flags(user, folder, uid);
	g_assert_nonnull(flags);
	g_autofree char *all = g_strjoinv(" ", flags);
	g_test_message("flags of %s/%u: %s", folder, uid, all);
	return wb_imapconn_flags_have(flags, flag);
}

#endif
