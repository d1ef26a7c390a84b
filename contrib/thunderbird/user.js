// Thunderbird tags for the keywords wabridge sets on a complaint's mails.
//
// Copy these lines into user.js in the Thunderbird profile folder (Help >
// Troubleshooting Information > Profile Folder > Open Folder), with Thunderbird
// closed; the tags then show in colour in the message list, and View > Tags and the
// quick filter can select them. A station that manages Thunderbird centrally can use
// policies.json (next to this file) instead.
//
// Thunderbird keys tags by the keyword in lower case; the ordinal decides which colour
// a row takes when a mail has several tags (the lowest first).
user_pref("mailnews.tags.$wa_sendfailed.tag", "WA: message not delivered");
user_pref("mailnews.tags.$wa_sendfailed.color", "#b00020");
user_pref("mailnews.tags.$wa_sendfailed.ordinal", "wa1");
user_pref("mailnews.tags.$wa_escalated.tag", "WA: escalated");
user_pref("mailnews.tags.$wa_escalated.color", "#d50000");
user_pref("mailnews.tags.$wa_escalated.ordinal", "wa2");
user_pref("mailnews.tags.$wa_overdue.tag", "WA: overdue");
user_pref("mailnews.tags.$wa_overdue.color", "#e65100");
user_pref("mailnews.tags.$wa_overdue.ordinal", "wa3");
user_pref("mailnews.tags.$wa_registered.tag", "WA: registered");
user_pref("mailnews.tags.$wa_registered.color", "#2e7d32");
user_pref("mailnews.tags.$wa_registered.ordinal", "wa4");
user_pref("mailnews.tags.$wa_acknowledged.tag", "WA: acknowledged");
user_pref("mailnews.tags.$wa_acknowledged.color", "#1565c0");
user_pref("mailnews.tags.$wa_acknowledged.ordinal", "wa5");
user_pref("mailnews.tags.$wa_read.tag", "WA: read by the citizen");
user_pref("mailnews.tags.$wa_read.color", "#00695c");
user_pref("mailnews.tags.$wa_read.ordinal", "wa6");
user_pref("mailnews.tags.$wa_delivered.tag", "WA: delivered to the citizen");
user_pref("mailnews.tags.$wa_delivered.color", "#00897b");
user_pref("mailnews.tags.$wa_delivered.ordinal", "wa7");
