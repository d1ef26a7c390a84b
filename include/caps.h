/* caps: every cap on something that grows from outside input, in one place. */
#ifndef WB_CAPS_H
#define WB_CAPS_H

#define WB_MAX_BODY_DEFAULT   (4u * 1024u * 1024u) /* webhook body, [webhook] max_body */
#define WB_MAX_BODY_CEILING   (64u * 1024u * 1024u) /* largest max_body a config may set */
#define WB_MAX_TEXT_BYTES     (64u * 1024u)  /* text.body kept (Meta caps at 4096 chars) */
#define WB_MAX_NAME_CHARS     128u           /* profile name shown in From: */
#define WB_MAX_SUBJECT_CHARS  78u            /* summary part of Subject: */
#define WB_MAX_ID_BYTES       256u           /* wamid, phone_number_id, wa_id, BSUID */
#define WB_MAX_MESSAGES       4096u          /* messages + statuses in one body */
#define WB_MAX_STATIONS       1024u          /* stations in one config */
#define WB_MAX_SECRET_BYTES   4096u          /* a secret file */
#define WB_MAX_CONFIG_BYTES   (1024u * 1024u) /* the config file itself */
/* Media caps per type, each also bounded by [whatsapp] media_max. Twice what WhatsApp
 * lets users send (image 5 MB, audio and video 16 MB, sticker 500 KB), so a legitimate
 * file is never refused, while a hostile size is. Documents use media_max alone. */
#define WB_MAX_IMAGE_BYTES    (16u * 1024u * 1024u)
#define WB_MAX_AUDIO_BYTES    (32u * 1024u * 1024u)
#define WB_MAX_VIDEO_BYTES    (32u * 1024u * 1024u)
#define WB_MAX_STICKER_BYTES  (1u * 1024u * 1024u)
#define WB_MEDIA_GIVE_UP_S    (6 * 86400) /* media ids die after about 7 days */
#define WB_MEDIA_MAX_TRIES    20          /* damaged transfers before the mail goes without */
#define WB_MAX_MAIL_BYTES     (150u * 1024u * 1024u) /* a rendered mail */

#endif
