/* fail: how a failure is classified — by what to do next (isync's FAIL_TEMP / FAIL_WAIT /
 * FAIL_FINAL). Delivery, media fetches and WhatsApp sends all report their errors as
 * GError codes from this enum, and the pipeline schedules retries from it alone. */
#ifndef WB_FAIL_H
#define WB_FAIL_H

enum wb_fail {
	WB_FAIL_NONE = 0,
	WB_FAIL_SOON,  /* transient (connection dropped, server busy, 5xx, 429): retry in seconds */
	WB_FAIL_LATER, /* needs time or a human (login refused, quota, token expired): back off */
	WB_FAIL_FINAL  /* can never succeed (rejected as too big, gone, malformed): give up */
};

#endif
