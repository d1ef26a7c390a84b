/* caps: every cap on something that grows from outside input, in one place. */
#ifndef WB_CAPS_H
#define WB_CAPS_H

#define WB_MAX_BODY_DEFAULT   (4u * 1024u * 1024u) /* webhook body, [webhook] max_body */
#define WB_MAX_BODY_CEILING   (64u * 1024u * 1024u) /* largest max_body a config may set */
#define WB_MAX_TEXT_BYTES     (64u * 1024u)  /* text.body kept (Meta caps at 4096 chars) */
#define WB_MAX_NAME_CHARS     128u           /* profile name shown in From: */
#define WB_MAX_SUBJECT_CHARS  78u            /* summary part of Subject: */
#define WB_MAX_LINK_BYTES     2000u          /* a URL in a text made a link; longer stays text */
#define WB_MAX_STATE_BYTES    1024u          /* the state line a mail or note opens with */
#define WB_MAX_ID_BYTES       256u           /* wamid, phone_number_id, wa_id, BSUID */
#define WB_MAX_MESSAGES       4096u          /* messages + statuses in one body */
#define WB_MAX_STATIONS       4096u          /* stations in one config (a large state has 2,000) */
#define WB_MAX_SECRET_BYTES   4096u          /* a secret file */
#define WB_MAX_CONFIG_BYTES   (16u * 1024u * 1024u) /* the config file: 4 KiB a station */
/* [imap] max_connections at most: IMAP sockets must stay below descriptor 1024 (libetpan
 * waits with select(2)), beside the store's, libcurl's and the standard ones. */
#define WB_IMAP_CONNECTIONS_CEILING 512
/* Media caps per type, each also bounded by [whatsapp] media_max. Twice what WhatsApp
 * lets users send (image 5 MB, audio and video 16 MB, sticker 500 KB), so a legitimate
 * file is never refused, while a hostile size is. Documents use media_max alone. */
#define WB_MAX_IMAGE_BYTES    (16u * 1024u * 1024u)
#define WB_MAX_AUDIO_BYTES    (32u * 1024u * 1024u)
#define WB_MAX_VIDEO_BYTES    (32u * 1024u * 1024u)
#define WB_MAX_STICKER_BYTES  (1u * 1024u * 1024u)
#define WB_MEDIA_GIVE_UP_S    (6 * 86400) /* media ids die after about 7 days */
#define WB_MEDIA_MAX_TRIES    20          /* damaged transfers before the mail goes without */
#define WB_MAX_REPLY_BYTES    (10u * 1024u * 1024u) /* an officer's reply mail */
#define WB_REPLY_SCAN_BYTES   (1024u * 1024u) /* body text searched for the new text */
#define WB_REPLY_MAX_DEPTH    32              /* MIME nesting followed in a reply */
#define WB_REPLY_MAX_CUTS     64              /* cuts reported for one reply (parse-reply --json) */
#define WB_REPLY_MAX_IDS      100             /* Message-IDs kept from In-Reply-To/References */
#define WB_REPLY_MAX_ADDRS    100             /* addresses kept from To/Cc/Delivered-To */
#define WB_MAX_ADDR_CHARS     320u            /* one of them (RFC 5321: 64 + 1 + 255) */
#define WB_MAX_REFUSAL_NOTES  20u             /* notes of refused replies per complaint ... */
#define WB_REFUSAL_NOTES_S    86400           /* ... in this many seconds */
/* Authentication-Results fields (RFC 8601) of a reply, src/authres.c. */
#define WB_AUTHRES_MAX_FIELDS  32u            /* fields read from one mail; more: none counts */
#define WB_AUTHRES_MAX_BYTES   (16u * 1024u)  /* one field */
#define WB_AUTHRES_MAX_RESULTS 32u            /* resinfos (method=result ...) in one field */
#define WB_AUTHRES_MAX_PROPS   16u            /* ptype.property=value in one resinfo */
#define WB_AUTHRES_MAX_WORD    1024u          /* one token, quoted string or value */
#define WB_AUTHRES_MAX_NESTING 8u             /* comments inside comments */
#define WB_MAX_MAIL_BYTES     (150u * 1024u * 1024u) /* a rendered mail */
/* The duty mails (dutymail.c): escalations and the daily digest. */
#define WB_DM_SUBJECT_CHARS   140u  /* the part of an escalation's Subject: after "[REF] " */
#define WB_DM_MAX_MESSAGES    1000u /* messages listed in an escalation; more are counted */
#define WB_DM_MAX_MEDIA       1000u /* media attached or listed in an escalation */
#define WB_DM_MAX_MATCHED     8u    /* serious words named in an escalation's Subject: */
#define WB_DM_MAX_ROWS        2000u /* complaints listed in a digest; more are counted */
#define WB_DM_LINE_CHARS      200u  /* a name, a state, an officer or a number shown */
#define WB_DM_SUMMARY_CHARS   70u   /* a complaint's summary in a digest */

/* The HTTP listener (listener.c, connreg.c, budget.c, ratelog.c). */
#define WB_BODY_SMALL         (64u * 1024u)  /* bodies this small have room big ones cannot take */
#define WB_CONN_MEMORY        (16u * 1024u)  /* per connection: request line, headers, read buffer */
#define WB_MAX_CHALLENGE      512u           /* hub.challenge echoed by the handshake */
#define WB_DRAIN_GRACE_S      10             /* SIGTERM: the longest wait for requests in flight */
#define WB_REFUSAL_LOG_S      10             /* one log line per refusal reason per this long */
#define WB_REFUSAL_ADDRS      1024u          /* peer addresses a refusal summary counts one by one */
#define WB_BODY_MEMORY_CEILING (16ull * 1024u * 1024u * 1024u) /* largest [webhook] body_memory */
#define WB_FD_RESERVE         256            /* descriptors kept for the store, IMAP, Graph, logs */

/* Graph API exchanges (graph.c, media.c, wasend.c). */
#define WB_MAX_GRAPH_REPLY_BYTES  (64u * 1024u) /* kept of a JSON answer or an error body */
#define WB_MAX_GRAPH_TEXT_CHARS   300u  /* of Graph's message or details quoted in an error */
#define WB_MAX_GRAPH_WORD_CHARS   64u   /* of Graph's fbtrace_id or error type */
#define WB_GRAPH_CONNECT_S        15L   /* to connect to Graph or its CDN */
#define WB_MAX_MEDIA_ID_DIGITS    64u   /* a media id (Meta's have 15 to 17 digits) */
#define WB_MAX_MIME_BYTES         255u  /* a lookup's mime_type */
#define WB_MEDIA_REDIRECTS        3L    /* followed by a download (the lookup follows none) */
#define WB_MEDIA_TIMEOUT_S        120L  /* one media request, when the caller sets none */
#define WB_MEDIA_LOW_SPEED_BYTES  1024L /* a media transfer slower than this a second ... */
#define WB_MEDIA_LOW_SPEED_S      30L   /* ... for this long is given up */
#define WB_MAX_SEND_TEXT_CHARS    4096u /* text.body sent (Meta's cap; longer is cut) */
#define WB_MAX_PARAM_CHARS        1024u /* one template parameter sent */
#define WB_MAX_OPAQUE_BYTES       512u  /* biz_opaque_callback_data sent */
#define WB_MAX_TEMPLATE_CHARS     512u  /* a template name (Meta's cap) */
#define WB_MAX_LANG_CHARS         15u   /* a template language: "bn", "en_US", "zh_HK" ... */
#define WB_SEND_TIMEOUT_S         30L   /* one send, when the caller sets none */

/* The serious-crime list (serious.c). */
#define WB_SERIOUS_MAX_FILE_BYTES  (256u * 1024u) /* the list file */
#define WB_SERIOUS_MAX_ENTRIES     2000u          /* entries in it */
#define WB_SERIOUS_MAX_ENTRY_BYTES 200u           /* one entry, as written */
#define WB_SERIOUS_MAX_PROBLEMS    20u            /* bad lines named in one error */
#define WB_SERIOUS_SCAN_BYTES      (64u * 1024u)  /* of a text searched (Meta caps at 4096 chars) */

#endif
