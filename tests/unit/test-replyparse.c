/* Unit tests for replyparse: replies as Gmail, Outlook (desktop and web), Apple Mail,
 * Thunderbird, K-9 and Roundcube write them, in English, Bengali and Hindi; complaint
 * numbers, tags, headers; hostile mails. Every mail here was written for this file. */
#include "caps.h"
#include "replyparse.h"

#include <gmime/gmime.h>
#include <string.h>

/* Headers of a reply to complaint BHP-2026-000042, up to Content-Type. */
#define HDRS                                                                               \
	"From: OC Bhowanipore <OC.Bhowanipore@Police.Example>\n"                           \
	"To: complaint+BHP-2026-000042.0a1b2c3d4e@wa.police.example\n"                     \
	"Subject: Re: [BHP-2026-000042] Phone stolen\n"                                     \
	"Date: Thu, 15 Jan 2026 11:02:00 +0530\n"                                           \
	"Message-ID: <reply-1@police.example>\n"                                            \
	"In-Reply-To: <wamid.HBgMOTE5ODMwMDEyMzQ1@wa.police.example>\n"                     \
	"MIME-Version: 1.0\n"
#define PLAIN HDRS "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n"
#define HTML HDRS "Content-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n"

struct reply_case {
	const char *name;
	const char *mail;
	const char *text;   /* the new text exactly */
	const char *number; /* NULL: none */
	bool escalate, close;
	const char *transfer;
	unsigned transfers; /* 0: one when transfer is set, else none */
	bool split;         /* #new */
};

/* ---- clients, plain text ------------------------------------------------------------- */

static const struct reply_case plain_cases[] = {
	{ .name = "gmail/top-posted",
	  PLAIN
	  "Registered. Complaint No. 123/2026. SI Das will call you today.\n"
	  "\n"
	  "On Thu, 15 Jan 2026 at 10:30, Rahim Sheikh (+91 98300 12345) <\n"
	  "wa-919830012345@wa.police.example> wrote:\n"
	  "\n"
	  "> My phone was stolen near Jatin Das Park at 9 pm.\n"
	  "> Complaint No. 999/2025 was my old one.\n",
	  "Registered. Complaint No. 123/2026. SI Das will call you today.", "123/2026" },

	{ .name = "gmail/bengali-wrapped-attribution",
	  PLAIN
	  "আপনার অভিযোগ নথিভুক্ত হয়েছে। অভিযোগ নং ১২৩/২০২৬।\n"
	  "তদন্তকারী অফিসার শীঘ্রই যোগাযোগ করবেন।\n"
	  "\n"
	  "বৃহস্পতি, ১৫ জানু, ২০২৬ তারিখে ১০:৩০ AM-এ Rahim Sheikh <wa-919830012345@wa.police.example>\n"
	  "লিখেছেন:\n"
	  "\n"
	  "> আমার ফোন চুরি হয়েছে।\n",
	  "আপনার অভিযোগ নথিভুক্ত হয়েছে। অভিযোগ নং ১২৩/২০২৬।\n"
	  "তদন্তকারী অফিসার শীঘ্রই যোগাযোগ করবেন।",
	  "123/2026" },

	{ .name = "gmail/hindi-attribution",
	  PLAIN
	  "आपकी शिकायत दर्ज कर ली गई है। शिकायत संख्या ४५।\n"
	  "\n"
	  "गुरु, 15 जन॰ 2026 को 10:30 am बजे Ramesh Kumar <wa-919830012345@wa.police.example> ने लिखा:\n"
	  "\n"
	  "> मेरा फ़ोन चोरी हो गया। शिकायत संख्या ९९\n",
	  "आपकी शिकायत दर्ज कर ली गई है। शिकायत संख्या ४५।", "45" },

	{ .name = "outlook-desktop/header-block",
	  PLAIN
	  "Dear Sir,\n"
	  "Your complaint is registered as GDE No. 45/2026 at Bhowanipore PS.\n"
	  "\n"
	  "Regards\n"
	  "OC Bhowanipore\n"
	  "\n"
	  "From: Rahim Sheikh (+91 98300 12345) <wa-919830012345@wa.police.example>\n"
	  "Sent: Thursday, January 15, 2026 10:30 AM\n"
	  "To: Bhowanipore PS <bhowanipore.ps@police.example>\n"
	  "Subject: [BHP-2026-000042] Phone stolen\n"
	  "\n"
	  "My phone was stolen. GD 1/26\n",
	  "Dear Sir,\n"
	  "Your complaint is registered as GDE No. 45/2026 at Bhowanipore PS.\n"
	  "\n"
	  "Regards\n"
	  "OC Bhowanipore",
	  "45/2026" },

	{ .name = "outlook-desktop/original-message",
	  PLAIN
	  "FIR No. 55/2026 registered u/s 303 BNS.\n"
	  "\n"
	  "-----Original Message-----\n"
	  "From: Rahim Sheikh <wa-919830012345@wa.police.example>\n"
	  "Sent: Thursday, January 15, 2026 10:30 AM\n"
	  "\n"
	  "Theft at my shop.\n",
	  "FIR No. 55/2026 registered u/s 303 BNS.", "55/2026" },

	{ .name = "outlook-desktop/hindi-header-block",
	  PLAIN
	  "शिकायत क्रमांक 45/2026 दर्ज की गई।\n"
	  "\n"
	  "प्रेषक: Ramesh Kumar <wa-919830012345@wa.police.example>\n"
	  "भेजा गया: गुरुवार, 15 जनवरी 2026 10:30 AM\n"
	  "प्रति: Bhowanipore PS <bhowanipore.ps@police.example>\n"
	  "विषय: [BHP-2026-000042] फ़ोन चोरी\n"
	  "\n"
	  "मेरा फ़ोन चोरी हो गया।\n",
	  "शिकायत क्रमांक 45/2026 दर्ज की गई।", "45/2026" },

	{ .name = "outlook-desktop/bengali-header-block",
	  PLAIN
	  "জিডি নং ৪৫ নথিভুক্ত হয়েছে।\n"
	  "\n"
	  "প্রেরক: Rahim Sheikh <wa-919830012345@wa.police.example>\n"
	  "পাঠানো হয়েছে: বৃহস্পতিবার, ১৫ জানুয়ারী, ২০২৬ ১০:৩০\n"
	  "প্রাপক: Bhowanipore PS <bhowanipore.ps@police.example>\n"
	  "বিষয়: [BHP-2026-000042] ফোন চুরি\n"
	  "\n"
	  "আমার ফোন চুরি হয়েছে।\n",
	  "জিডি নং ৪৫ নথিভুক্ত হয়েছে।", "45" },

	/* "পাঠানো হয়েছে" and "বিষয়" with য় as one code point, then as য + nukta. */
	{ .name = "outlook-desktop/bengali-nukta-precomposed",
	  PLAIN
	  "জিডি নং ৪৬\n"
	  "\n"
	  "প্রেরক: Rahim <wa@x>\n"
	  "পাঠানো হ\u09DFেছে: ১৫ জানু ২০২৬\n"
	  "বিষ\u09DF: চুরি\n"
	  "\n"
	  "জিডি নং ১\n",
	  "জিডি নং ৪৬", "46" },

	{ .name = "outlook-desktop/bengali-nukta-decomposed",
	  PLAIN
	  "জিডি নং ৪৭\n"
	  "\n"
	  "প্রেরক: Rahim <wa@x>\n"
	  "পাঠানো হ\u09AF\u09BCেছে: ১৫ জানু ২০২৬\n"
	  "বিষ\u09AF\u09BC: চুরি\n"
	  "\n"
	  "জিডি নং ১\n",
	  "জিডি নং ৪৭", "47" },

	{ .name = "zimbra/nic-mail",
	  PLAIN
	  "GD No. 31/2026 registered.\n"
	  "\n"
	  "SI Roy\n"
	  "\n"
	  "----- Original Message -----\n"
	  "From: \"Rahim Sheikh\" <wa-919830012345@wa.police.example>\n"
	  "To: \"Bhowanipore PS\" <bhowanipore.ps@police.example>\n"
	  "Sent: Thursday, January 15, 2026 10:30:00 AM\n"
	  "Subject: [BHP-2026-000042] Phone stolen\n"
	  "\n"
	  "GD 1/1\n",
	  "GD No. 31/2026 registered.\n\nSI Roy", "31/2026" },

	{ .name = "zoho/attribution",
	  PLAIN
	  "Complaint No. 8/2026\n"
	  "\n"
	  "---- On Thu, 15 Jan 2026 10:30:00 +0530 Rahim <wa@x> wrote ----\n"
	  "\n"
	  "Complaint No. 1/2000\n",
	  "Complaint No. 8/2026", "8/2026" },

	{ .name = "outlook-web/underscores",
	  PLAIN
	  "Complaint number 77/2026. #escalate\n"
	  "________________________________\n"
	  "From: Rahim Sheikh <wa-919830012345@wa.police.example>\n"
	  "Sent: 15 January 2026 10:30\n"
	  "To: bhowanipore.ps@police.example\n"
	  "Subject: [BHP-2026-000042] Phone stolen\n"
	  "\n"
	  "Phone stolen\n",
	  "Complaint number 77/2026.", "77/2026", .escalate = true },

	{ .name = "outlook-mobile/footer",
	  PLAIN
	  "G.D. No. 12 lodged.\n"
	  "\n"
	  "Get Outlook for Android<https://aka.ms/AAb9ysg>\n"
	  "________________________________\n"
	  "From: Rahim Sheikh <wa-919830012345@wa.police.example>\n",
	  "G.D. No. 12 lodged.", "12" },

	{ .name = "apple/iphone",
	  HDRS "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: quoted-printable\n\n"
	  "Case closed, phone recovered. #close\n"
	  "\n"
	  "Sent from my iPhone\n"
	  "\n"
	  "> On 15-Jan-2026, at 10:30=E2=80=AFAM, Rahim Sheikh <wa-919830012345@wa.pol=\n"
	  "ice.example> wrote:\n"
	  ">=20\n"
	  "> =EF=BB=BFMy phone was stolen.\n",
	  "Case closed, phone recovered.", NULL, .close = true },

	{ .name = "apple/bengali-footer",
	  PLAIN
	  "অভিযোগ নম্বর ১২৩ নথিভুক্ত।\n"
	  "\n"
	  "আমার iPhone থেকে পাঠানো\n"
	  "\n"
	  "> On 15-Jan-2026, at 10:30 AM, Rahim Sheikh <wa-919830012345@wa.police.example> wrote:\n",
	  "অভিযোগ নম্বর ১২৩ নথিভুক্ত।", "123" },

	{ .name = "apple/hindi-footer",
	  PLAIN
	  "शिकायत सं. 9 दर्ज।\n"
	  "\n"
	  "मेरे iPhone से भेजा गया\n"
	  "\n"
	  "> 15 जन॰ 2026 को 10:30 am बजे, Ramesh <wa-919830012345@wa.police.example> ने लिखा:\n",
	  "शिकायत सं. 9 दर्ज।", "9" },

	{ .name = "thunderbird/flowed-signature",
	  HDRS "Content-Type: text/plain; charset=UTF-8; format=flowed\n"
	  "Content-Transfer-Encoding: 8bit\n\n"
	  "We have registered your complaint as GD 1234/26. An officer will visit \n"
	  "your house this evening to record your statement.\n"
	  "\n"
	  "-- \n"
	  "Officer in Charge\n"
	  "Bhowanipore Police Station\n"
	  "\n"
	  "On 15/01/26 10:30 am, Rahim Sheikh wrote:\n"
	  "> My phone was stolen.\n",
	  "We have registered your complaint as GD 1234/26. An officer will visit your house "
	  "this evening to record your statement.",
	  "1234/26" },

	{ .name = "thunderbird/bottom-posted-flowed-delsp",
	  HDRS "Content-Type: text/plain; charset=UTF-8; format=flowed; delsp=yes\n"
	  "Content-Transfer-Encoding: 8bit\n\n"
	  "On 15/01/26 10:30 am, Rahim Sheikh wrote:\n"
	  "> My phone was stolen near the park. Complaint No. 1/2020 was \n"
	  "> the old one.\n"
	  "\n"
	  "Complaint No. 321/2026 registe \n"
	  "red.\n"
	  "\n"
	  "-- \n"
	  "OC\n",
	  "Complaint No. 321/2026 registered.", "321/2026" },

	{ .name = "k9/android",
	  PLAIN
	  "অভিযোগ নং ৭/২৬ #transfer kbp\n"
	  "\n"
	  "On January 15, 2026 10:30:00 AM GMT+05:30, Rahim Sheikh <wa-919830012345@wa.police.example> wrote:\n"
	  ">আমার ফোন চুরি হয়েছে।\n"
	  "\n"
	  "-- \n"
	  "Sent from my Android device with K-9 Mail. Please excuse my brevity.\n",
	  "অভিযোগ নং ৭/২৬", "7/26", .transfer = "KBP" },

	{ .name = "k9/header-quote-style",
	  PLAIN
	  "GD 88/26 registered.\n"
	  "\n"
	  "-------- Original Message --------\n"
	  "From: Rahim Sheikh <wa-919830012345@wa.police.example>\n"
	  "Sent: January 15, 2026 10:30:00 AM GMT+05:30\n"
	  "To: bhowanipore.ps@police.example\n"
	  "Subject: [BHP-2026-000042] Phone stolen\n"
	  "\n"
	  "GD 11/11\n",
	  "GD 88/26 registered.", "88/26" },

	{ .name = "roundcube/bottom-posted",
	  PLAIN
	  "On 2026-01-15 10:30, Rahim Sheikh wrote:\n"
	  "> My phone was stolen.\n"
	  "> Complaint No. 5/2025 is older.\n"
	  "\n"
	  "Complaint No. 6/2026: registered, we will call you.\n"
	  "\n"
	  "-- \n"
	  "Bhowanipore PS\n",
	  "Complaint No. 6/2026: registered, we will call you.", "6/2026" },

	{ .name = "inline/answers-between-quotes",
	  PLAIN
	  "> Where should I come?\n"
	  "Bhowanipore PS, 1st floor.\n"
	  "\n"
	  "> And my complaint number?\n"
	  "\n"
	  "Complaint No. 42/2026\n"
	  "\n"
	  "> Thanks\n",
	  "Bhowanipore PS, 1st floor.\n\nComplaint No. 42/2026", "42/2026" },

	{ .name = "inline/salutation-then-quote",
	  PLAIN
	  "Sir,\n"
	  "> Please tell me the status.\n"
	  "Your GDE No 45 is under inquiry.\n",
	  "Sir,\nYour GDE No 45 is under inquiry.", "45" },

	{ .name = "quote-only",
	  PLAIN
	  "On Thu, 15 Jan 2026 at 10:30, Rahim <wa-919830012345@wa.police.example> wrote:\n"
	  "> Complaint No. 9/2026\n",
	  "", NULL },

	{ .name = "number-only-in-quote",
	  PLAIN
	  "We are looking into it.\n"
	  "\n"
	  "On Thu, 15 Jan 2026 at 10:30, Rahim <wa-919830012345@wa.police.example> wrote:\n"
	  "> My earlier complaint was GD 1234/26 and FIR No. 55/2026.\n",
	  "We are looking into it.", NULL },

	{ .name = "weak-attribution-kept-as-text",
	  PLAIN
	  "The complainant wrote:\n"
	  "that the phone was black.\n",
	  "The complainant wrote:\nthat the phone was black.", NULL },

	{ .name = "sent-from-my-in-a-sentence",
	  PLAIN
	  "Sent from my office to the spot: SI Das.\n"
	  "GD 5/26\n",
	  "Sent from my office to the spot: SI Das.\nGD 5/26", "5/26" },

	{ .name = "tags/alone-on-lines",
	  PLAIN
	  "#escalate\n"
	  "Serious case, DC informed.\n"
	  "#Close #transfer BHP\n",
	  "Serious case, DC informed.", NULL, .escalate = true, .close = true, .transfer = "BHP" },

	{ .name = "tags/two-transfers",
	  PLAIN
	  "Wrong area. #transfer GRH then #transfer to pst\n",
	  "Wrong area. then", NULL, .transfer = "GRH", .transfers = 2 },

	{ .name = "tags/not-tags",
	  PLAIN
	  "Use #closed and abc#close and #transfer X and #escalated: none are tags.\n",
	  "Use #closed and abc#close and #transfer X and #escalated: none are tags.", NULL },

	{ .name = "tags/new",
	  PLAIN
	  "This is a different incident: the bicycle.\n"
	  "#New\n",
	  "This is a different incident: the bicycle.", NULL, .split = true },

	{ .name = "tags/new-in-a-sentence",
	  PLAIN
	  "Separate matter, #new please. GD 9/26\n",
	  "Separate matter, please. GD 9/26", "9/26", .split = true },

	{ .name = "tags/not-new",
	  PLAIN
	  "Read the #newspaper, abc#new, #new_case, #newer and x#NEW: none are tags.\n",
	  "Read the #newspaper, abc#new, #new_case, #newer and x#NEW: none are tags.", NULL },

	{ .name = "crlf-and-blank-runs",
	  "From: oc@police.example\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	  "\r\n\r\nLine one   \r\n\r\n\r\n\r\nLine two\r\n\r\n\r\n",
	  "Line one\n\nLine two", NULL },

	{ .name = "latin1",
	  "From: oc@police.example\nSubject: Re: x\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
	  "Caf\xe9 robbery: GD 3/26\n",
	  "Caf\xc3\xa9 robbery: GD 3/26", "3/26" },

	{ .name = "no-charset-windows-1252",
	  "From: oc@police.example\nSubject: Re: x\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain\n\n"
	  "\x93Registered\x94 GD 4/26\n",
	  "\xe2\x80\x9cRegistered\xe2\x80\x9d GD 4/26", "4/26" },

	{ .name = "base64-bengali",
	  "From: oc@police.example\nSubject: Re: x\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
	  /* "অভিযোগ নং ১২৩/২০২৬\n" */
	  "4KaF4Kat4Ka/4Kav4KeL4KaXIOCmqOCmgiDgp6fgp6jgp6kv4Keo4Kem4Keo4KesCg==\n",
	  "অভিযোগ নং ১২৩/২০২৬", "123/2026" },

	{ .name = "nul-and-invalid-bytes",
	  "From: oc@police.example\nSubject: Re: x\nMIME-Version: 1.0\n"
	  "Content-Type: text/plain; charset=utf-8\n\n"
	  "GD 9/26 \xff ok\n",
	  "GD 9/26 \xef\xbf\xbd ok", "9/26" },
};

/* ---- clients, HTML ------------------------------------------------------------------- */

static const struct reply_case html_cases[] = {
	{ .name = "gmail/html-bengali",
	  HTML
	  "<div dir=\"ltr\"><div>আপনার অভিযোগ নথিভুক্ত হয়েছে।</div><div><br></div>"
	  "<div>অভিযোগ নং ১২৩/২০২৬</div></div><br>"
	  "<div class=\"gmail_quote gmail_quote_container\"><div dir=\"ltr\" class=\"gmail_attr\">"
	  "বৃহস্পতি, ১৫ জানু, ২০২৬ তারিখে ১০:৩০ AM-এ Rahim &lt;<a href=\"mailto:wa@x\">wa@x</a>&gt; "
	  "লিখেছেন:<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex\">"
	  "অভিযোগ নং ৯৯৯</blockquote></div>\n",
	  "আপনার অভিযোগ নথিভুক্ত হয়েছে।\n\nঅভিযোগ নং ১২৩/২০২৬", "123/2026" },

	{ .name = "gmail/html-signature",
	  HTML
	  "<div dir=\"ltr\">GD 21/26 registered.<br clear=\"all\"><div><br></div>"
	  "<span class=\"gmail_signature_prefix\">-- </span><br><div dir=\"ltr\" "
	  "class=\"gmail_signature\">SI Das<br>Bhowanipore PS</div></div>",
	  "GD 21/26 registered.", "21/26" },

	{ .name = "outlook-desktop/html-hindi",
	  HDRS "Content-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "<html xmlns:o=3D\"urn:schemas-microsoft-com:office:office\"><head>\n"
	  "<meta http-equiv=3D\"Content-Type\" content=3D\"text/html; charset=3Dutf-8\">\n"
	  "<style><!-- p.MsoNormal {margin:0cm;} --></style></head>\n"
	  "<body lang=3D\"EN-IN\"><div class=3D\"WordSection1\">\n"
	  "<p class=3DMsoNormal>=E0=A4=B6=E0=A4=BF=E0=A4=95=E0=A4=BE=E0=A4=AF=E0=A4=A4 "
	  "=E0=A4=B8=E0=A4=82=E0=A4=96=E0=A5=8D=E0=A4=AF=E0=A4=BE =E0=A5=AA=E0=A5=AB<o:p></o:p></p>\n"
	  "<p class=3DMsoNormal><o:p>&nbsp;</o:p></p>\n"
	  "<p class=3DMsoNormal>SI Das<o:p></o:p></p>\n"
	  "<div><div style=3D\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">\n"
	  "<p class=3DMsoNormal><b>From:</b> Ramesh &lt;wa@x&gt; <br><b>Sent:</b> Thursday, "
	  "January 15, 2026 10:30 AM<br><b>To:</b> PS<br><b>Subject:</b> theft<o:p></o:p></p>\n"
	  "</div></div>\n"
	  "<p class=3DMsoNormal>=E0=A4=B6=E0=A4=BF=E0=A4=95=E0=A4=BE=E0=A4=AF=E0=A4=A4 "
	  "=E0=A4=B8=E0=A4=82=E0=A4=96=E0=A5=8D=E0=A4=AF=E0=A4=BE 99<o:p></o:p></p>\n"
	  "</div></body></html>\n",
	  "शिकायत संख्या ४५\n\nSI Das", "45" },

	{ .name = "outlook-web/html",
	  HTML
	  "<html><head><style type=\"text/css\" style=\"display:none;\"> P {margin:0;} </style>"
	  "</head><body dir=\"ltr\"><div class=\"elementToProof\" style=\"font-size: 12pt;\">"
	  "Complaint No. 88/2026 &amp; FIR to follow. #escalate</div>"
	  "<div id=\"Signature\"><div>OC Bhowanipore</div></div>"
	  "<div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\" tabindex=\"-1\">"
	  "<div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\"><b>From:</b> "
	  "Rahim<br><b>Sent:</b> Thursday<br><b>To:</b> PS<br><b>Subject:</b> x</font></div>"
	  "<div>Complaint No. 1/2000</div></body></html>",
	  "Complaint No. 88/2026 & FIR to follow.", "88/2026", .escalate = true },

	{ .name = "outlook-web/requoted-x-prefix",
	  HTML
	  "<div>GDE No. 46/2026</div><div id=\"x_divRplyFwdMsg\"><b>From:</b> Rahim</div>"
	  "<div>GDE No. 1/2000</div>",
	  "GDE No. 46/2026", "46/2026" },

	{ .name = "apple/html",
	  HTML
	  "<html><head><meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\"></head>"
	  "<body dir=\"auto\"><div dir=\"ltr\">Phone traced. GD 1234/26.</div><div dir=\"ltr\"><br>"
	  "</div><div dir=\"ltr\">Sent from my iPhone</div><div dir=\"ltr\"><br><blockquote "
	  "type=\"cite\">On 15-Jan-2026, at 10:30\u202fAM, Rahim &lt;wa@x&gt; wrote:<br><br>"
	  "</blockquote></div><blockquote type=\"cite\"><div dir=\"ltr\">\ufeffMy phone. GD 1/1"
	  "</div></blockquote></body></html>",
	  "Phone traced. GD 1234/26.", "1234/26" },

	{ .name = "thunderbird/html",
	  HTML
	  "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">"
	  "</head><body><p>Complaint No. 10/2026 registered.<br>We will call you.</p>"
	  "<pre class=\"moz-signature\" cols=\"72\">-- \nOC Bhowanipore</pre>"
	  "<div class=\"moz-cite-prefix\">On 15/01/26 10:30 am, Rahim wrote:<br></div>"
	  "<blockquote type=\"cite\" cite=\"mid:wamid.x@wa.police.example\">My phone. Complaint "
	  "No. 1/2020</blockquote><br></body></html>",
	  "Complaint No. 10/2026 registered.\nWe will call you.", "10/2026" },

	{ .name = "thunderbird/html-bottom-posted",
	  HTML
	  "<html><body><div class=\"moz-cite-prefix\">On 15/01/26 10:30 am, Rahim wrote:<br></div>"
	  "<blockquote type=\"cite\">My phone. Complaint No. 1/2020</blockquote>"
	  "<p>Complaint No. 11/2026 registered.</p></body></html>",
	  "Complaint No. 11/2026 registered.", "11/2026" },

	{ .name = "roundcube/html",
	  HTML
	  "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />"
	  "</head><body style='font-size: 10pt; font-family: Verdana,Geneva,sans-serif'>\n"
	  "<p>शिकायत संख्या ४५/२०२६</p>\n<p>जाँच जारी है।</p>\n"
	  "<div id=\"_rc_sig\">-- <br />SI Sharma</div>\n"
	  "<p id=\"reply-intro\">On 2026-01-15 10:30, Ramesh wrote:</p>\n"
	  "<blockquote type=\"cite\" style=\"padding: 0 0.4em; border-left: #1010ff 2px solid; "
	  "margin: 0\">\n<div class=\"pre\">शिकायत संख्या १</div>\n</blockquote>\n</body></html>",
	  "शिकायत संख्या ४५/२०२६\nजाँच जारी है।", "45/2026" },

	{ .name = "zimbra/html",
	  HTML
	  "<html><body><div style=\"font-family: arial\"><div>GD No. 32/2026 registered.</div>"
	  "<div><br></div><div>SI Roy</div><br><hr id=\"zwchr\" data-marker=\"__DIVIDER__\">"
	  "<div data-marker=\"__HEADERS__\"><b>From: </b>\"Rahim\" &lt;wa@x&gt;<br><b>To: </b>PS"
	  "<br><b>Sent: </b>Thursday<br><b>Subject: </b>x<br></div><br>"
	  "<div data-marker=\"__QUOTED_TEXT__\">GD 1/1</div></div></body></html>",
	  "GD No. 32/2026 registered.\n\nSI Roy", "32/2026" },

	{ .name = "k9/html",
	  HTML
	  "<div dir=\"auto\">FIR No. 7/2026<br><br></div><div class=\"gmail_quote\">On January 15, "
	  "2026 10:30:00 AM GMT+05:30, Rahim &lt;wa@x&gt; wrote:<blockquote class=\"gmail_quote\" "
	  "style=\"margin: 0pt 0pt 0pt 0.8ex;\">FIR No. 1/2000</blockquote></div>",
	  "FIR No. 7/2026", "7/2026" },

	{ .name = "script-style-dropped",
	  HTML
	  "<html><head><title>Reply</title><style>p { color: red }</style></head><body>"
	  "<script>document.write('GD 666/66')</script><noscript>GD 667/66</noscript>"
	  "<p>Visible text, <b>bold</b> and <a href=\"https://x\">a link</a>.</p>"
	  "<ul><li>first</li><li>second</li></ul>"
	  "<table><tr><td>cell 1</td><td>cell 2</td></tr></table>"
	  "<pre>  kept\n    spacing</pre><!-- GD 668/66 --></body></html>",
	  "Visible text, bold and a link.\n- first\n- second\ncell 1 cell 2\n  kept\n    spacing",
	  NULL },

	{ .name = "html-quote-never-closed",
	  HTML
	  "<p>Reply above. GD 2/26</p><blockquote><p>old<blockquote>older GD 3/26<div>and on",
	  "Reply above. GD 2/26", "2/26" },

	{ .name = "html-latin1-meta",
	  "From: oc@police.example\nSubject: Re: x\nMIME-Version: 1.0\n"
	  "Content-Type: text/html\n\n"
	  "<html><head><meta charset=\"iso-8859-1\"></head><body>Caf\xe9 GD 5/26</body></html>",
	  "Caf\xc3\xa9 GD 5/26", "5/26" },
};

/* ---- MIME structure ------------------------------------------------------------------ */

static const struct reply_case mime_cases[] = {
	{ .name = "alternative-prefers-plain",
	  HDRS "Content-Type: multipart/alternative; boundary=\"alt\"\n\n"
	  "--alt\nContent-Type: text/plain; charset=UTF-8\n\n"
	  "Plain: GD 1/26\n\nOn Thu, 15 Jan 2026 at 10:30, R <r@x> wrote:\n> q\n"
	  "--alt\nContent-Type: text/html; charset=UTF-8\n\n"
	  "<div>HTML: GD 2/26</div>\n"
	  "--alt--\n",
	  "Plain: GD 1/26", "1/26" },

	{ .name = "alternative-empty-plain-uses-html",
	  HDRS "Content-Type: multipart/alternative; boundary=\"alt\"\n\n"
	  "--alt\nContent-Type: text/plain; charset=UTF-8\n\n \n"
	  "--alt\nContent-Type: text/html; charset=UTF-8\n\n"
	  "<div>HTML: GD 2/26</div>\n"
	  "--alt--\n",
	  "HTML: GD 2/26", "2/26" },

	{ .name = "mixed-related-html-and-attachment",
	  HDRS "Content-Type: multipart/mixed; boundary=\"mix\"\n\n"
	  "--mix\nContent-Type: multipart/related; boundary=\"rel\"\n\n"
	  "--rel\nContent-Type: text/html; charset=UTF-8\n\n"
	  "<p>See the photo. Complaint #77</p><img src=\"cid:p1\">\n"
	  "--rel\nContent-Type: image/png\nContent-ID: <p1>\nContent-Transfer-Encoding: base64\n\n"
	  "iVBORw0KGgo=\n"
	  "--rel--\n"
	  "--mix\nContent-Type: text/plain; name=\"notes.txt\"\n"
	  "Content-Disposition: attachment; filename=\"notes.txt\"\n\nGD 3/26\n"
	  "--mix--\n",
	  "See the photo. Complaint #77", "77" },

	{ .name = "forwarded-message-not-entered",
	  HDRS "Content-Type: multipart/mixed; boundary=\"mix\"\n\n"
	  "--mix\nContent-Type: text/plain; charset=UTF-8\n\n"
	  "Forwarding the earlier case for reference.\n"
	  "--mix\nContent-Type: message/rfc822\n\n"
	  "From: someone@else.example\nSubject: old\nContent-Type: text/plain\n\n"
	  "Complaint No. 500/2025\n"
	  "--mix--\n",
	  "Forwarding the earlier case for reference.", NULL },

	{ .name = "signed",
	  HDRS "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; "
	  "micalg=pgp-sha256; boundary=\"sig\"\n\n"
	  "--sig\nContent-Type: text/plain; charset=UTF-8\n\nGD 8/26 registered.\n"
	  "--sig\nContent-Type: application/pgp-signature\n\n-----BEGIN PGP SIGNATURE-----\n"
	  "--sig--\n",
	  "GD 8/26 registered.", "8/26" },
};

static void check_case(const struct reply_case *c)
{
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(c->mail, strlen(c->mail), NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(r);
	g_assert_cmpstr(r->text, ==, c->text);
	g_assert_cmpstr(r->number, ==, c->number);
	g_assert_cmpint(r->escalate, ==, c->escalate);
	g_assert_cmpint(r->close, ==, c->close);
	g_assert_cmpstr(r->transfer_to, ==, c->transfer);
	g_assert_cmpuint(r->transfers, ==, c->transfers ? c->transfers : c->transfer ? 1 : 0);
	g_assert_cmpint(r->split, ==, c->split);
	wb_reply_free(r);
}

static void test_case(gconstpointer data)
{
	check_case(data);
}

/* ---- issue 12: footers, attributions, separators, header blocks, banners in many
 * languages and scripts; the answer on the attribution's line, below a footer, between
 * quotes ------------------------------------------------------------------------------ */

#define Q "\n> Mein Handy wurde gestohlen. GD 999/25\n"

static const struct reply_case intl_cases[] = {
	/* footers above or below the answer */
	{ .name = "footer/first-line-en", PLAIN
	  "Sent from my iPhone\n\nYes, SI Das will call you. GD 12/26\n\n"
	  "On Tue, 3 Mar 2026 at 10:00, Ramesh <r@x.in> wrote:\n> my phone\n",
	  "Yes, SI Das will call you. GD 12/26", "12/26" },
	{ .name = "footer/first-line-fr", PLAIN
	  "Envoyé de mon iPhone\n\nOui, l'agent vous appellera.\n\n"
	  "Le mar. 3 mars 2026 à 10:00, Ramesh <r@x.in> a écrit :\n> mon téléphone\n",
	  "Oui, l'agent vous appellera.", NULL },
	{ .name = "footer/de", PLAIN "Wir kommen morgen.\n\nVon meinem iPhone gesendet\n" Q,
	  "Wir kommen morgen.", NULL },
	{ .name = "footer/es", PLAIN "Vamos mañana.\n\nEnviado desde mi iPhone\n", "Vamos mañana.", NULL },
	{ .name = "footer/it", PLAIN "Arriviamo domani.\n\nInviato da iPhone\n", "Arriviamo domani.", NULL },
	{ .name = "footer/nl", PLAIN "We komen morgen.\n\nVerzonden vanaf mijn iPhone\n",
	  "We komen morgen.", NULL },
	{ .name = "footer/pl", PLAIN "Przyjedziemy jutro.\n\nWysłane z iPhone'a\n",
	  "Przyjedziemy jutro.", NULL },
	{ .name = "footer/ru", PLAIN "Приедем завтра.\n\nОтправлено с iPhone\n", "Приедем завтра.", NULL },
	{ .name = "footer/zh", PLAIN "明天到。\n\n从我的iPhone发送\n", "明天到。", NULL },
	{ .name = "footer/ja", PLAIN "明日伺います。\n\niPhoneから送信\n", "明日伺います。", NULL },
	{ .name = "footer/ar", PLAIN "سنأتي غدا.\n\nأُرسلت من iPhone\n", "سنأتي غدا.", NULL },
	{ .name = "footer/vi", PLAIN "Ngày mai chúng tôi đến.\n\nĐược gửi từ iPhone của tôi\n",
	  "Ngày mai chúng tôi đến.", NULL },
	{ .name = "footer/outlook-android", PLAIN "Coming tomorrow.\n\nGet Outlook for Android\n"
	  "________________________________\nFrom: Ramesh <r@x.in>\nSent: Tuesday\n",
	  "Coming tomorrow.", NULL },
	{ .name = "footer/samsung-de", PLAIN "Kommen morgen.\n\n\nVon meinem Samsung Galaxy Smartphone gesendet.\n",
	  "Kommen morgen.", NULL },
	{ .name = "footer/yahoo-es", PLAIN "Vamos.\n\nEnviado desde Yahoo Mail para Android\n", "Vamos.", NULL },
	{ .name = "footer/not-in-a-sentence", PLAIN "Sent SI Das from the station to the spot.\nHe will call.\n",
	  "Sent SI Das from the station to the spot.\nHe will call.", NULL },

	/* attributions */
	{ .name = "attrib/de-schrieb", PLAIN
	  "Wir kümmern uns. GD 5/26\n\nAm Di., 3. März 2026 um 10:00 Uhr schrieb Ramesh <r@x.in>:\n" Q,
	  "Wir kümmern uns. GD 5/26", "5/26" },
	{ .name = "attrib/es", PLAIN "Ya está.\n\nEl mar, 3 mar 2026 a las 10:00, Ramesh (<r@x.in>) escribió:\n" Q,
	  "Ya está.", NULL },
	{ .name = "attrib/it", PLAIN "Fatto.\n\nIl giorno mar 3 mar 2026 alle ore 10:00 Ramesh <r@x.in> ha scritto:\n" Q,
	  "Fatto.", NULL },
	{ .name = "attrib/pt", PLAIN "Feito.\n\nEm ter., 3 de mar. de 2026 às 10:00, Ramesh <r@x.in> escreveu:\n" Q,
	  "Feito.", NULL },
	{ .name = "attrib/pl", PLAIN "Zrobione.\n\nwt., 3 mar 2026 o 10:00 Ramesh <r@x.in> napisał(a):\n" Q,
	  "Zrobione.", NULL },
	{ .name = "attrib/sv", PLAIN "Klart.\n\nDen tis 3 mars 2026 kl 10:00 skrev Ramesh <r@x.in>:\n" Q,
	  "Klart.", NULL },
	{ .name = "attrib/el", PLAIN "Έγινε.\n\nΣτις Τρί 3 Μαρ 2026 στις 10:00, ο/η Ramesh <r@x.in> έγραψε:\n" Q,
	  "Έγινε.", NULL },
	{ .name = "attrib/tr", PLAIN "Tamam.\n\nRamesh <r@x.in>, 3 Mar 2026 Sal, 10:00 tarihinde şunu yazdı:\n" Q,
	  "Tamam.", NULL },
	{ .name = "attrib/ru", PLAIN "Сделано.\n\nвт, 3 мар. 2026 г. в 10:00, Ramesh <r@x.in>:\n" Q,
	  "Сделано.", NULL },
	{ .name = "attrib/ru-verb", PLAIN "Сделано.\n\n3 марта 2026 г. Рамеш написал(а):\n" Q,
	  "Сделано.", NULL },
	{ .name = "attrib/ar", PLAIN "تم.\n\nفي الثلاثاء، 3 مارس 2026 10:00 ص، كتب Ramesh <r@x.in>:\n" Q,
	  "تم.", NULL },
	{ .name = "attrib/vi", PLAIN "Xong.\n\nVào Th 3, 3 thg 3, 2026 lúc 10:00 Ramesh <r@x.in> đã viết:\n" Q,
	  "Xong.", NULL },
	{ .name = "attrib/zh", PLAIN "好的。\n\n张三 <r@x.in> 于2026年3月3日周二 10:00写道：\n" Q, "好的。", NULL },
	{ .name = "attrib/zh-no-space", PLAIN "好的。\n\n张三写道：\n" Q, "好的。", NULL },
	{ .name = "attrib/ja", PLAIN "了解です。\n\n2026年3月3日(火) 10:00 山田 <r@x.in>:\n" Q, "了解です。", NULL },
	{ .name = "attrib/ko", PLAIN "알겠습니다.\n\n2026년 3월 3일 (화) 오전 10:00, Ramesh <r@x.in>님이 작성:\n" Q,
	  "알겠습니다.", NULL },
	{ .name = "attrib/no-colon", PLAIN "Done.\n\nOn Tue, 3 Mar 2026 at 10:00, Ramesh <r@x.in> wrote\n" Q,
	  "Done.", NULL },
	{ .name = "attrib/dashes", PLAIN "Done.\n\n---- On Tue, 03 Mar 2026 10:00:00 +0530 Ramesh <r@x.in> wrote ----\n\nold text\n",
	  "Done.", NULL },
	{ .name = "attrib/wrapped-three-lines-fr", PLAIN "D'accord.\n\nLe mar. 3 mars 2026 à 10:00,\n"
	  "Ramesh Kumar\n<r@x.in> a écrit :\n" Q, "D'accord.", NULL },
	{ .name = "attrib/same-line-en", PLAIN
	  "Yes, fine. On Tue, 3 Mar 2026, Ramesh <r@x.in> wrote:\n> may I come at 10?\n",
	  "Yes, fine.", NULL },
	{ .name = "attrib/same-line-wrapped-de", PLAIN
	  "Ja, passt, GD 7/26. Am Di., 3. März 2026 um 10:00 Uhr schrieb Ramesh\n<r@x.in>:\n" Q,
	  "Ja, passt, GD 7/26.", "7/26" },
	{ .name = "attrib/same-line-sentence-kept", PLAIN
	  "We went there. On Tuesday 3 March we found the phone.\n",
	  "We went there. On Tuesday 3 March we found the phone.", NULL },

	/* separators */
	{ .name = "separator/de", PLAIN "Erledigt.\n\n-----Ursprüngliche Nachricht-----\nVon: Ramesh\nold\n",
	  "Erledigt.", NULL },
	{ .name = "separator/fr", PLAIN "Fait.\n\n-------- Message d'origine --------\nold\n", "Fait.", NULL },
	{ .name = "separator/es", PLAIN "Hecho.\n\n-------- Mensaje original --------\nold\n", "Hecho.", NULL },
	{ .name = "separator/it", PLAIN "Fatto.\n\n-----Messaggio originale-----\nold\n", "Fatto.", NULL },
	{ .name = "separator/nl", PLAIN "Klaar.\n\n-----Oorspronkelijk bericht-----\nold\n", "Klaar.", NULL },
	{ .name = "separator/ru", PLAIN "Готово.\n\n-------- Исходное сообщение --------\nold\n", "Готово.", NULL },
	{ .name = "separator/zh", PLAIN "好的。\n\n------------------ 原始邮件 ------------------\nold\n", "好的。", NULL },
	{ .name = "separator/ja", PLAIN "了解。\n\n-------- 元のメッセージ --------\nold\n", "了解。", NULL },
	{ .name = "separator/forwarded-newsletter", PLAIN
	  "See below.\n\n---------- Forwarded message ---------\nFrom: News <news@shop.example>\n"
	  "Date: Tue, 3 Mar 2026\n\nBig sale! Everything must go.\n", "See below.", NULL },
	{ .name = "separator/begin-forwarded", PLAIN "FYI\n\nBegin forwarded message:\n\nold\n", "FYI", NULL },
	{ .name = "separator/begin-forwarded-fr", PLAIN "Pour info\n\nDébut du message réexpédié :\n\nold\n",
	  "Pour info", NULL },

	/* header blocks */
	{ .name = "header/two-lines", PLAIN "Will do.\n\nFrom: Ramesh <r@x.in>\nSent: Tuesday, 3 March 2026 10:00\n\nold\n",
	  "Will do.", NULL },
	{ .name = "header/single-line", PLAIN
	  "Will do.\nFrom: Ramesh <r@x.in> Sent: Tuesday, March 3, 2026 10:00 AM To: OC <oc@p.in> Subject: phone\nold text\n",
	  "Will do.", NULL },
	{ .name = "header/de", PLAIN "Mache ich.\n\nVon: Ramesh\nGesendet: Dienstag, 3. März 2026 10:00\nAn: OC\nBetreff: Handy\n\nold\n",
	  "Mache ich.", NULL },
	{ .name = "header/fr", PLAIN "Entendu.\n\nDe : Ramesh\nEnvoyé : mardi 3 mars 2026 10:00\nÀ : OC\nObjet : téléphone\n\nold\n",
	  "Entendu.", NULL },
	{ .name = "header/es", PLAIN "Vale.\n\nDe: Ramesh\nEnviado: martes, 3 de marzo de 2026 10:00\nPara: OC\nAsunto: móvil\n\nold\n",
	  "Vale.", NULL },
	{ .name = "header/ru", PLAIN "Хорошо.\n\nОт: Рамеш\nОтправлено: 3 марта 2026 г. 10:00\nКому: OC\nТема: телефон\n\nold\n",
	  "Хорошо.", NULL },
	{ .name = "header/zh", PLAIN "好。\n\n发件人: 张三\n发送时间: 2026年3月3日 10:00\n收件人: OC\n主题: 手机\n\nold\n",
	  "好。", NULL },
	{ .name = "header/ja", PLAIN "了解。\n\n差出人: 山田\n送信日時: 2026年3月3日 10:00\n宛先: OC\n件名: 携帯\n\nold\n",
	  "了解。", NULL },
	{ .name = "header/ar", PLAIN "حسنا.\n\nمن: رامش\nأرسل: الثلاثاء 3 مارس 2026\nإلى: OC\nالموضوع: هاتف\n\nold\n",
	  "حسنا.", NULL },
	{ .name = "header/vi", PLAIN "Được.\n\nTừ: Ramesh\nGửi: 3 tháng 3 2026\nĐến: OC\nChủ đề: điện thoại\n\nold\n",
	  "Được.", NULL },
	{ .name = "header/bn", PLAIN "ঠিক আছে।\n\nপ্রেরক: রমেশ\nপাঠানো হয়েছে: ৩ মার্চ ২০২৬\nপ্রাপক: OC\nবিষয়: ফোন\n\nold\n",
	  "ঠিক আছে।", NULL },
	{ .name = "header/hi", PLAIN "ठीक है।\n\nप्रेषक: रमेश\nभेजा गया: 3 मार्च 2026\nप्रति: OC\nविषय: फोन\n\nold\n",
	  "ठीक है।", NULL },
	{ .name = "header/html-bold", HTML
	  "<p>Noted, GD 8/26.</p><p><b>From:</b> Ramesh &lt;r@x.in&gt;<br><b>Sent:</b> Tuesday, "
	  "3 March 2026<br><b>To:</b> OC<br><b>Subject:</b> phone</p><p>old text</p>",
	  "Noted, GD 8/26.", "8/26" },
	{ .name = "header/html-bold-de-one-line", HTML
	  "<p>Erledigt.</p><p><b>Von:</b> Ramesh <b>Gesendet:</b> Dienstag, 3. März 2026 "
	  "<b>An:</b> OC <b>Betreff:</b> Handy</p><p>old text</p>",
	  "Erledigt.", NULL },
	{ .name = "header/officer-to-line-kept", PLAIN "To: the complainant\nPlease come at 10.\n",
	  "To: the complainant\nPlease come at 10.", NULL },

	/* banners */
	{ .name = "banner/top", PLAIN
	  "CAUTION: This email originated from outside of the organization. Do not click links\n"
	  "unless you recognize the sender.\n\nYour complaint is registered. GD 9/26\n",
	  "Your complaint is registered. GD 9/26", "9/26" },
	{ .name = "banner/answer-right-below", PLAIN
	  "CAUTION: This email originated from outside of the organization. Do not click\n"
	  "links or open attachments unless you recognize the sender.\nThe phone was found.\n"
	  "Collect it today.\n\nThanks\n",
	  "The phone was found.\nCollect it today.\n\nThanks", NULL },
	{ .name = "header/officer-number-and-date-kept", PLAIN
	  "No: 45/2026\nDate: 3 March 2026\nPlease come to the station.\n",
	  "No: 45/2026\nDate: 3 March 2026\nPlease come to the station.", NULL },
	{ .name = "banner/external-tag", PLAIN "[EXTERNAL]\n\nRegistered. GD 10/26\n", "Registered. GD 10/26", "10/26" },
	{ .name = "banner/bottom-disclaimer", PLAIN
	  "Registered.\n\nDISCLAIMER: This e-mail is confidential and intended only for the addressee.\n",
	  "Registered.", NULL },
	{ .name = "banner/de", PLAIN
	  "ACHTUNG: Diese E-Mail stammt von außerhalb der Organisation.\n\nErledigt.\n", "Erledigt.", NULL },

	/* interleaved: the officer answers between the quotes */
	{ .name = "interleaved/text-quote-text", PLAIN
	  "Dear Ramesh,\nthanks for the details.\n\n> Where is the phone?\n\nAt the station, GD 11/26.\n\n"
	  "> Can I come today?\n\nYes, after 4 pm.\n",
	  "Dear Ramesh,\nthanks for the details.\n\nAt the station, GD 11/26.\n\nYes, after 4 pm.", "11/26" },
	{ .name = "interleaved/html", HTML
	  "<div>Dear Ramesh,</div><div>thanks.</div><blockquote type=\"cite\">Where is it?</blockquote>"
	  "<div>At the station.</div><blockquote type=\"cite\">Can I come?</blockquote>"
	  "<blockquote type=\"cite\">Today?</blockquote><div>Yes, after 4 pm.</div>",
	  "Dear Ramesh,\nthanks.\n\nAt the station.\n\nYes, after 4 pm.", NULL },
	{ .name = "interleaved/wrapped-quote-is-old", PLAIN
	  "Done.\n\n> my phone was stolen near the park and I would like to\nknow what to do next\n",
	  "Done.", NULL },
};
#undef Q

static void add_cases(const char *prefix, const struct reply_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_autofree char *path = g_strdup_printf("/replyparse/%s/%s", prefix, cases[i].name);
		g_test_add_data_func(path, &cases[i], test_case);
	}
}

/* ---- numbers, digits, tags ----------------------------------------------------------- */

static const struct { const char *text, *number; } numbers[] = {
	{ "Complaint No. 123/2026", "123/2026" },
	{ "complaint number 123/2026", "123/2026" },
	{ "COMPLAINT NO: 77", "77" },
	{ "Complaint #12", "12" },
	{ "GDE No 45", "45" },
	{ "GDE No. 45/2026", "45/2026" },
	{ "GD 1234/26", "1234/26" },
	{ "G.D. No. 12", "12" },
	{ "#GD 123/26", "123/26" },
	{ "gd entry no. 9", "9" },
	{ "FIR No. 55/2026", "55/2026" },
	{ "অভিযোগ নং ১২৩/২০২৬", "123/2026" },
	{ "অভিযোগ নম্বর ১২৩", "123" },
	{ "জিডি নং ৪৫", "45" },
	{ "शिकायत संख्या ४५", "45" },
	{ "शिकायत क्रमांक 45/2026", "45/2026" },
	{ "Complaint No. ১২৩/২০২৬", "123/2026" },
	{ "Registered: GD 12/26, FIR No. 5/2026 to follow", "12/26" },
	{ "GD 123/20261", "123" },
	{ "GDPR 2016", NULL },
	{ "Complaint not registered for 5 days", NULL },
	{ "See page 12 of the diary", NULL },
	{ "figure 12", NULL },
	{ "", NULL },
};

static void test_find_number(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(numbers); i++) {
		g_autofree char *got = wb_reply_find_number(numbers[i].text, NULL);
		g_assert_cmpstr(got, ==, numbers[i].number);
	}
	g_assert_null(wb_reply_find_number(NULL, NULL));
}

static void test_extra_patterns(void)
{
	const char *const extra[] = { "PS Case No\\. ([0-9]+/[0-9]+)", "Ref ([A-Z]+-[0-9]+)", NULL };
	g_autofree char *a = wb_reply_find_number("GD 5/26 and Bhowanipore PS Case No. 12/2026", extra);
	g_assert_cmpstr(a, ==, "12/2026"); /* extra patterns first, wherever they match */
	g_autofree char *b = wb_reply_find_number("PS Case No. ১২/২০২৬", extra);
	g_assert_cmpstr(b, ==, "12/2026"); /* digits made ASCII before matching */
	g_autofree char *c = wb_reply_find_number("Ref KOL-77", extra);
	g_assert_cmpstr(c, ==, "KOL-77");
	g_autofree char *d = wb_reply_find_number("GD 5/26", extra);
	g_assert_cmpstr(d, ==, "5/26"); /* then the default ones */

	const char *const bad[] = { "(unclosed", "Docket ([0-9]+)", NULL };
	g_test_expect_message("wabridge", G_LOG_LEVEL_WARNING, "*unclosed*");
	g_autofree char *e = wb_reply_find_number("Docket 31", bad);
	g_test_assert_expected_messages();
	g_assert_cmpstr(e, ==, "31");

	const char *const mail_extra[] = { "Docket ([0-9]+)", NULL };
	const char *mail = PLAIN "Docket 31, GD 4/26\n";
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(mail, strlen(mail), mail_extra, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(r->number, ==, "31");
	wb_reply_free(r);
}

static void test_ascii_digits(void)
{
	g_autofree char *a = wb_ascii_digits("০১২৩৪৫৬৭৮৯ ०१२३४५६७८९ 0123456789");
	g_assert_cmpstr(a, ==, "0123456789 0123456789 0123456789");
	g_autofree char *b = wb_ascii_digits("অভিযোগ নং ১২৩");
	g_assert_cmpstr(b, ==, "অভিযোগ নং 123");
	g_autofree char *c = wb_ascii_digits("bad \xff byte ৭");
	g_assert_cmpstr(c, ==, "bad \xff byte 7");
	g_autofree char *d = wb_ascii_digits("");
	g_assert_cmpstr(d, ==, "");
}

/* ---- headers ------------------------------------------------------------------------- */

static void test_headers(void)
{
	const char *mail =
		"From: =?UTF-8?B?4KaT4Ka44Ka/IOCmreCmrOCmvuCmqOCngOCmquCngeCmsA==?= <OC.Bhowanipore@Police.Example>\n"
		"To: complaint+BHP-2026-000042.0a1b2c3d4e@wa.police.example, Team: a@x.example, "
		"b@x.example;\n"
		"Cc: \"Duty Officer\" <duty@police.example>\n"
		"Delivered-To: complaint+BHP-2026-000042.0a1b2c3d4e@wa.police.example\n"
		"Delivered-To: archive@police.example\n"
		"Subject: =?UTF-8?B?UmU6IFtCSFAtMjAyNi0wMDAwNDJdIOCmq+Cni+CmqCDgpprgp4HgprDgpr8=?=\n"
		"In-Reply-To: <wamid.B@wa.police.example>\n"
		"References: <wamid.A@wa.police.example>\n <wamid.B@wa.police.example>\n"
		"Authentication-Results: mx.police.example;\n\tdmarc=pass (p=reject)\n"
		"\theader.from=police.example\n"
		"authentication-results: mx.police.example; dkim=pass header.d=police.example\n"
		"X-Authentication-Results: not this one\n"
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nok\n";
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(mail, strlen(mail), NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(r->from_addr, ==, "oc.bhowanipore@police.example");
	g_assert_cmpstr(r->to_addrs, ==,
			"complaint+BHP-2026-000042.0a1b2c3d4e@wa.police.example a@x.example "
			"b@x.example duty@police.example "
			"complaint+BHP-2026-000042.0a1b2c3d4e@wa.police.example archive@police.example");
	g_assert_cmpstr(r->in_reply_to, ==,
			"wamid.B@wa.police.example wamid.A@wa.police.example wamid.B@wa.police.example");
	g_assert_cmpstr(r->answers, ==, "wamid.B@wa.police.example");
	g_assert_cmpstr(r->subject, ==, "Re: [BHP-2026-000042] ফোন চুরি");
	g_assert_cmpstr(r->text, ==, "ok");
	/* Authentication-Results as written, topmost first, folding kept */
	g_assert_cmpuint(g_strv_length(r->auth_results), ==, 2);
	g_assert_nonnull(strstr(r->auth_results[0], "mx.police.example;\n\tdmarc=pass"));
	g_assert_nonnull(strstr(r->auth_results[0], "header.from=police.example"));
	g_assert_nonnull(strstr(r->auth_results[1], "dkim=pass header.d=police.example"));
	wb_reply_free(r);

	const char *bare = "Subject: only a subject\n\nhello\n";
	r = wb_reply_parse(bare, strlen(bare), NULL, &err);
	g_assert_no_error(err);
	g_assert_null(r->from_addr);
	g_assert_cmpstr(r->to_addrs, ==, "");
	g_assert_cmpstr(r->in_reply_to, ==, "");
	g_assert_null(r->answers);
	g_assert_null(r->from_name);
	g_assert_cmpstr(r->text, ==, "hello");
	g_assert_null(r->auth_results[0]);
	wb_reply_free(r);

	/* Without In-Reply-To the mail answered is the last of References. */
	const char *refs = "From: \"SI  Das\" <si.das@police.example>\n"
			   "References: <a@x.example> <b@x.example>\nSubject: x\n\nhi\n";
	r = wb_reply_parse(refs, strlen(refs), NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(r->answers, ==, "b@x.example");
	g_assert_nonnull(r->from_name);
	g_assert_nonnull(strstr(r->from_name, "Das"));
	wb_reply_free(r);

	/* Hundreds of Authentication-Results: one more than the cap is kept, so that the
	 * decision sees there were too many. */
	g_autoptr(GString) many = g_string_new(NULL);
	for (unsigned i = 0; i < 500; i++)
		g_string_append_printf(many, "Authentication-Results: h%u.example; none\n", i);
	g_string_append(many, "Subject: x\n\nhello\n");
	r = wb_reply_parse(many->str, many->len, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(g_strv_length(r->auth_results), ==, WB_AUTHRES_MAX_FIELDS + 1);
	g_assert_nonnull(strstr(r->auth_results[0], "h0.example"));
	wb_reply_free(r);
}

/* ---- hostile mails ------------------------------------------------------------------- */

static void expect_unparsable(const void *mail, size_t len)
{
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(mail, len, NULL, &err);
	g_assert_null(r);
	g_assert_error(err, WB_REPLY_ERROR, WB_REPLY_UNPARSABLE);
	g_assert_nonnull(err->message);
}

static void test_no_text_part(void)
{
	const char *mail = HDRS "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
			   "--b\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n"
			   "/9j/4AAQ\n--b\nContent-Type: message/rfc822\n\n"
			   "Subject: fwd\nContent-Type: text/plain\n\nGD 1/26\n--b--\n";
	expect_unparsable(mail, strlen(mail));
	const char *attached = HDRS "Content-Type: text/plain\n"
			       "Content-Disposition: attachment; filename=a.txt\n\nGD 1/26\n";
	expect_unparsable(attached, strlen(attached));
}

static void test_not_a_mail(void)
{
	GRand *rand = g_rand_new_with_seed(20260115);
	for (int round = 0; round < 20; round++) {
		guint8 junk[4096];
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (guint8)g_rand_int_range(rand, 0, 256);
		junk[0] = 0xff; /* never a header name */
		expect_unparsable(junk, sizeof junk);
	}
	g_rand_free(rand);
	expect_unparsable("", 0);
	expect_unparsable(NULL, 0);
	const char *text = "just some words, no header at all\n";
	expect_unparsable(text, strlen(text));
}

static void test_too_big(void)
{
	size_t len = 10u * 1024u * 1024u + 1;
	char *mail = g_malloc(len);
	const char *head = PLAIN;
	memset(mail, 'a', len);
	memcpy(mail, head, strlen(head));
	expect_unparsable(mail, len);
	g_free(mail);
}

static char *nested_mail(int depth)
{
	GString *s = g_string_new("From: oc@police.example\nMIME-Version: 1.0\n");
	for (int i = 0; i < depth; i++)
		g_string_append_printf(s, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n",
				       i, i);
	g_string_append(s, "Content-Type: text/plain\n\ndeep GD 1/26\n");
	for (int i = depth - 1; i >= 0; i--)
		g_string_append_printf(s, "--b%d--\n", i);
	return g_string_free(s, FALSE);
}

static void test_nested_multiparts(void)
{
	g_autofree char *shallow = nested_mail(10);
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(shallow, strlen(shallow), NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(r->text, ==, "deep GD 1/26");
	wb_reply_free(r);

	g_autofree char *deep = nested_mail(5000); /* beyond any limit: no text part found */
	expect_unparsable(deep, strlen(deep));
}

static void test_deep_html(void)
{
	GString *s = g_string_new(HTML "<p>top GD 2/26</p>");
	for (int i = 0; i < 100000; i++)
		g_string_append(s, "<div><span>");
	g_string_append(s, "bottom");
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(s->str, s->len, NULL, &err);
	g_assert_no_error(err);
	g_assert_true(g_str_has_prefix(r->text, "top GD 2/26"));
	g_assert_cmpstr(r->number, ==, "2/26");
	wb_reply_free(r);
	g_string_free(s, TRUE);
}

/* Nested Outlook-like separator divs around a long text: each is looked into, boundedly. */
static void test_separator_divs(void)
{
	GString *s = g_string_new(HTML "<p>GD 3/26</p>");
	for (int i = 0; i < 200; i++)
		g_string_append(s, "<div style=\"border-top:solid 1pt\">");
	for (int i = 0; i < 100000; i++)
		g_string_append(s, "no header here ");
	g_autoptr(GError) err = NULL;
	gint64 start = g_get_monotonic_time();
	struct wb_reply *r = wb_reply_parse(s->str, s->len, NULL, &err);
	g_assert_no_error(err);
	/* Well under a second here; a walk quadratic in the 1.5 MB would take hours. The
	 * bound leaves room for valgrind on a busy machine. */
	g_assert_cmpint(g_get_monotonic_time() - start, <, 120 * G_USEC_PER_SEC);
	g_assert_true(g_str_has_prefix(r->text, "GD 3/26\nno header here"));
	wb_reply_free(r);
	g_string_free(s, TRUE);
}

static void test_quote_never_ends(void)
{
	GString *s = g_string_new(PLAIN "Noted. GD 6/26\n\nOn Thu, 15 Jan 2026, R <r@x> wrote:\n");
	while (s->len < 8u * 1024u * 1024u)
		g_string_append(s, "> and the quote goes on, GD 7/26, and on\n");
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(s->str, s->len, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpstr(r->text, ==, "Noted. GD 6/26");
	g_assert_cmpstr(r->number, ==, "6/26");
	wb_reply_free(r);
	g_string_free(s, TRUE);
}

static void test_long_text_capped(void)
{
	GString *s = g_string_new(PLAIN);
	while (s->len < 300u * 1024u)
		g_string_append(s, "অভিযোগ লম্বা লেখা। ");
	g_autoptr(GError) err = NULL;
	struct wb_reply *r = wb_reply_parse(s->str, s->len, NULL, &err);
	g_assert_no_error(err);
	g_assert_cmpuint(strlen(r->text), <=, WB_MAX_TEXT_BYTES);
	g_assert_cmpuint(strlen(r->text), >, WB_MAX_TEXT_BYTES - 8);
	g_assert_true(g_utf8_validate(r->text, -1, NULL));
	wb_reply_free(r);
	g_string_free(s, TRUE);
}

/* HTML with bytes that are not UTF-8, labelled UTF-8 or not labelled at all (then its
 * <meta> says UTF-8): libxml2 keeps stray bytes in its text nodes, and the walk over them
 * must not trust them. Each body ends on a lead byte whose continuation would lie past
 * the end of the text. */
static void test_html_invalid_utf8(void)
{
#define HTML_NO_CHARSET HDRS "Content-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n"
	static const struct { const char *mail, *text, *number; } cases[] = {
		{ HTML "<p>ab\xf0</p>", "ab\xef\xbf\xbd", NULL },
		{ HTML "<p>GD 4/26 \xe0\xa6</p>", "GD 4/26 \xef\xbf\xbd\xef\xbf\xbd", "4/26" },
		/* the text after a stray byte is still read as UTF-8 */
		{ HTML "<p>\xff অভিযোগ নং ১২৩/২০২৬</p>", "\xef\xbf\xbd অভিযোগ নং ১২৩/২০২৬",
		  "123/2026" },
		{ HTML "<div>x\xc3</div><p>\xf4\x90\x80\x80 y</p>", NULL, NULL },
		{ HTML "\xf0", NULL, NULL },
		{ HTML_NO_CHARSET "<meta charset=\"utf-8\"><p>ab\xf0</p>", NULL, NULL },
		{ HTML_NO_CHARSET "<meta charset=\"utf-8\"><p>\xe0\xa6</p>", NULL, NULL },
		{ HTML_NO_CHARSET "<p>ab\xf0</p>", NULL, NULL },
		{ HTML_NO_CHARSET "<p>ab\xf0", NULL, NULL },
		{ HDRS "Content-Type: text/html; charset=x-unknown\n\n<p>ab\xf0</p>", NULL, NULL },
		{ HDRS "Content-Type: text/html; charset=utf-16\n\n<p>ab\xf0</p>", NULL, NULL },
	};
#undef HTML_NO_CHARSET
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		/* on the heap and exactly sized, so that a read past its end is caught */
		size_t len = strlen(cases[i].mail);
		g_autofree char *mail = g_memdup2(cases[i].mail, len);
		g_autoptr(GError) err = NULL;
		struct wb_reply *r = wb_reply_parse(mail, len, NULL, &err);
		g_assert_no_error(err);
		g_assert_true(g_utf8_validate(r->text, -1, NULL));
		if (cases[i].text)
			g_assert_cmpstr(r->text, ==, cases[i].text);
		g_assert_cmpstr(r->number, ==, cases[i].number);
		wb_reply_free(r);
	}
}

/* ---- the safety net ------------------------------------------------------------------ */

static void test_suspicious(void)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "Noted.\nFrom: Ramesh <r@x.in>\nThanks", "a quoted header line: \u201cFrom: Ramesh <r@x.in>\u201d" },
		{ "Noted.\nVon: Ramesh\nGesendet: Dienstag, 3. März 2026 10:00", "a quoted header line: \u201cVon: Ramesh\u201d" },
		{ "ঠিক আছে।\nপ্রেরক: রমেশ <r@x.in>", "a quoted header line: \u201cপ্রেরক: রমেশ <r@x.in>\u201d" },
		{ "Ok.\nFrom: A Sent: Tue 3 Mar To: B Subject: theft", "a quoted header block on one line: \u201cFrom: A Sent: Tue 3 Mar To: B Subject: theft\u201d" },
		{ "Yes.\n> my phone was stolen", "a quoted line: \u201c> my phone was stolen\u201d" },
		{ "Yes.\n-----Original Message-----\nold", "a forwarded or original-message separator: \u201c-----Original Message-----\u201d" },
		{ "Ja.\nAm Di., 3. März 2026 um 10:00 Uhr schrieb Ramesh <r@x.in>:", NULL },
		{ "Oui.\nLe mar. 3 mars 2026 à 10:00, Ramesh <r@x.in> a écrit :", NULL },
		{ "Yes.\nOn Tue, 3 Mar 2026 at 10:00, Ramesh\n<r@x.in> wrote:", NULL },
		{ "Хорошо.\nОт: Рамеш\nОтправлено: 3 марта 2026 г. 10:00", NULL },
		{ "好。\n------------------ 原始邮件 ------------------", NULL },
		{ "حسنا.\nفي الثلاثاء، 3 مارس 2026 10:00 ص، كتب Ramesh <r@x.in>:", NULL },
		{ "了解。\n差出人: 山田 <y@x.jp>", NULL },
		{ "Được.\nVào Th 3, 3 thg 3, 2026 lúc 10:00 Ramesh <r@x.in> đã viết:", NULL },
		{ "ठीक है।\nप्रेषक: रमेश\nभेजा गया: 3 मार्च 2026", NULL },
		{ "Ok.\nBegin forwarded message:", NULL },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *why = NULL;
		g_assert_true(wb_reply_text_suspicious(bad[i].text, &why));
		g_assert_nonnull(why);
		if (bad[i].why)
			g_assert_cmpstr(why, ==, bad[i].why);
		g_assert_true(wb_reply_text_suspicious(bad[i].text, NULL));
	}
	static const char *const good[] = {
		"Registered. Complaint No. 123/2026. SI Das will call you today.",
		"Date: 5 March, at the police station.",
		"To: the complainant. Please come at 10 am.",
		"As you wrote: the phone is black.",
		"Sent SI Das from the station to the spot.",
		"____\nOC Bhowanipore",
		"",
		"\xff\xfe broken bytes",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
		char *why = (char *)"unset";
		g_assert_false(wb_reply_text_suspicious(good[i], &why));
		g_assert_null(why);
	}
	g_assert_false(wb_reply_text_suspicious(NULL, NULL));
}

/* ---- where the rules cut (parse-reply --json) ---------------------------------------- */

static void test_cuts(void)
{
	static const struct {
		const char *mail;
		struct { unsigned line; const char *rule; } cuts[4];
	} cases[] = {
		{ PLAIN "Sent from my iPhone\n\nYes, fine. On Tue, 3 Mar 2026, R <r@x.in> wrote:\n> q\n",
		  { { 1, "footer" }, { 3, "attribution" } } },
		{ PLAIN "[EXTERNAL]\nOk.\n\nFrom: R <r@x.in>\nSent: Tue 3 Mar 2026\n",
		  { { 1, "banner" }, { 4, "header-block" } } },
		{ PLAIN "Hi,\n\n> q1\n\nA1\n\n> q2\n\nA2\n-- \nSI Das\n",
		  { { 3, "quote" }, { 7, "quote" }, { 10, "signature" } } },
		{ PLAIN "Ok.\n-----Original Message-----\nold\n", { { 2, "separator" } } },
		{ PLAIN "Ok.\n\nDISCLAIMER: This e-mail is confidential.\n", { { 3, "banner" } } },
		{ PLAIN "Just the answer.\n", { { 0, NULL } } },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) err = NULL;
		struct wb_reply *r = wb_reply_parse(cases[i].mail, strlen(cases[i].mail), NULL, &err);
		g_assert_no_error(err);
		size_t n = 0;
		while (n < G_N_ELEMENTS(cases[i].cuts) && cases[i].cuts[n].rule)
			n++;
		g_assert_cmpuint(r->n_cuts, ==, n);
		for (size_t k = 0; k < n; k++) {
			g_assert_cmpuint(r->cuts[k].line, ==, cases[i].cuts[k].line);
			g_assert_cmpstr(r->cuts[k].rule, ==, cases[i].cuts[k].rule);
		}
		wb_reply_free(r);
	}
}

/* ---- hostile bodies: bounded time, no crash ------------------------------------------ */

static struct wb_reply *parse_timed(const char *mail, size_t len, gint64 *usec)
{
	g_autoptr(GError) err = NULL;
	gint64 start = g_get_monotonic_time();
	struct wb_reply *r = wb_reply_parse(mail, len, NULL, &err);
	*usec = g_get_monotonic_time() - start;
	g_assert_no_error(err);
	g_assert_true(g_utf8_validate(r->text, -1, NULL));
	return r;
}

static void test_hostile_bodies(void)
{
	/* No time is asserted (a test must not depend on the machine's speed): a
	 * backtracking blow-up would take hours and the harness's time-out would end it;
	 * the times are reported, and `make bench` measures the parser. */
	gint64 usec;
	GString *s = g_string_new(PLAIN "Answer GD 1/26.\n\n");
	for (int i = 0; i < 10000; i++)
		g_string_append(s, "> > quoted From: x Sent: y To: z wrote: -----\n");
	struct wb_reply *r = parse_timed(s->str, s->len, &usec);
	g_assert_cmpstr(r->text, ==, "Answer GD 1/26.");
	g_test_message("%" G_GINT64_FORMAT " us", usec);
	wb_reply_free(r);

	/* one huge line of near misses for every pattern, no newline at the end */
	g_string_assign(s, PLAIN);
	while (s->len < 2u * 1024u * 1024u)
		g_string_append(s, "On Tue 3 Mar From: Sent: Von: wrote schrieb Sent from my a. ");
	r = parse_timed(s->str, s->len, &usec);
	g_test_message("%" G_GINT64_FORMAT " us", usec);
	wb_reply_free(r);

	/* many short lines that each start an attribution or a header block */
	g_string_assign(s, PLAIN);
	for (int i = 0; i < 20000; i++)
		g_string_append(s, i % 2 ? "From: a\n" : "On Tue, 3 Mar 2026 at 10:00, Ramesh\n");
	r = parse_timed(s->str, s->len, &usec);
	g_test_message("%" G_GINT64_FORMAT " us", usec);
	wb_reply_free(r);

	/* NULs and bytes that are not UTF-8 */
	static const char nul[] = PLAIN "Yes\0 GD 2/26\n\xff\xfe\xc3 On \xe0\xa6 wrote:\n> q\n";
	r = parse_timed(nul, sizeof nul - 1, &usec);
	wb_reply_free(r);
	g_string_free(s, TRUE);
}

/* The time a mail takes, reported (the figure against the 2 ms budget is make bench's). */
static void test_speed(void)
{
	const char *mail = PLAIN
		"Sent from my iPhone\n\nYes, fine, GD 3/26. On Tue, 3 Mar 2026, R <r@x.in> wrote:\n"
		"> question one\n\nanswer\n\nVon: Ramesh <r@x.in>\nGesendet: Dienstag\nAn: OC\n"
		"Betreff: Handy\n\nold text\n";
	g_autoptr(GError) err = NULL;
	wb_reply_free(wb_reply_parse(mail, strlen(mail), NULL, &err));
	gint64 start = g_get_monotonic_time();
	for (int i = 0; i < 100; i++)
		wb_reply_free(wb_reply_parse(mail, strlen(mail), NULL, &err));
	gint64 per_mail = (g_get_monotonic_time() - start) / 100;
	g_test_message("%" G_GINT64_FORMAT " us a mail (make bench measures it)", per_mail);
}

static void test_free_null(void)
{
	wb_reply_free(NULL);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	add_cases("plain", plain_cases, G_N_ELEMENTS(plain_cases));
	add_cases("html", html_cases, G_N_ELEMENTS(html_cases));
	add_cases("mime", mime_cases, G_N_ELEMENTS(mime_cases));
	add_cases("intl", intl_cases, G_N_ELEMENTS(intl_cases));
	g_test_add_func("/replyparse/number/find", test_find_number);
	g_test_add_func("/replyparse/number/extra_patterns", test_extra_patterns);
	g_test_add_func("/replyparse/number/ascii_digits", test_ascii_digits);
	g_test_add_func("/replyparse/headers", test_headers);
	g_test_add_func("/replyparse/hostile/no_text_part", test_no_text_part);
	g_test_add_func("/replyparse/hostile/not_a_mail", test_not_a_mail);
	g_test_add_func("/replyparse/hostile/too_big", test_too_big);
	g_test_add_func("/replyparse/hostile/nested_multiparts", test_nested_multiparts);
	g_test_add_func("/replyparse/hostile/deep_html", test_deep_html);
	g_test_add_func("/replyparse/hostile/separator_divs", test_separator_divs);
	g_test_add_func("/replyparse/hostile/quote_never_ends", test_quote_never_ends);
	g_test_add_func("/replyparse/hostile/long_text_capped", test_long_text_capped);
	g_test_add_func("/replyparse/hostile/html_invalid_utf8", test_html_invalid_utf8);
	g_test_add_func("/replyparse/suspicious", test_suspicious);
	g_test_add_func("/replyparse/cuts", test_cuts);
	g_test_add_func("/replyparse/hostile/bodies", test_hostile_bodies);
	g_test_add_func("/replyparse/speed", test_speed);
	g_test_add_func("/replyparse/free_null", test_free_null);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
