/* replyparse: what an officer wrote in a reply mail, and the complaint number in it.
 *
 * Design rationale. Mail clients mark quoted text in two ways: HTML clients wrap it in a
 * container (Gmail's div.gmail_quote, Apple's and Thunderbird's blockquote type=cite,
 * Roundcube's #reply-intro + blockquote) or start a header block after which everything
 * is the old mail (Outlook's #divRplyFwdMsg, its border-top separator div); plain-text
 * clients prefix quoted lines with ">" or, again, write a header block ("On … wrote:",
 * "From: … Sent: …", "-----Original Message-----") above the unquoted old mail.
 *
 * So the work is in two stages. HTML becomes text first: quote containers are dropped
 * and leave a ">" line in their place, header-block containers end the text. Then one
 * line-based pass over the text (plain or from HTML) keeps the officer's lines. A reply
 * that starts with a quote (or "On … wrote:" and a quote) is bottom-posted or answers
 * between quotes: every quote is skipped and the rest kept. Otherwise the reply is
 * top-posted and its first quote ends the new text, since what follows is the old mail
 * even where it lost its ">" (clients wrap long quoted lines without it) -- unless a
 * blank line ends the quote and the officer's words follow: then the officer answers
 * between quotes, and the quotes alone go. An attribution followed by unquoted text, a
 * header block, a separator ("-----Original Message-----", Outlook's underscores), the
 * signature delimiter, a client's footer ("Sent from my iPhone") and a bottom banner end
 * the new text too; separator junk is trimmed from its end. A footer or a gateway banner
 * above any text is dropped instead (phones put the footer first when the officer types
 * below it), and an attribution after the answer on the same line ("Yes. On … wrote:")
 * is split off first. Every pattern is built from word lists per language, compiled once,
 * with bounded repeats only (no nested unbounded ones: no catastrophic backtracking).
 * Each rule that cuts records where (parse-reply --json shows it).
 *
 * Caps: a mail over WB_MAX_REPLY_BYTES is refused; the body text examined is capped at
 * WB_REPLY_SCAN_BYTES (a long quote above a bottom-posted answer still fits); the text
 * returned at WB_MAX_TEXT_BYTES. MIME nesting deeper than WB_REPLY_MAX_DEPTH is ignored
 * (GMime itself stops at 1024). */
#include "replyparse.h"
#include "caps.h"
#include "util.h"

#include <gmime/gmime.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <string.h>


G_DEFINE_QUARK(wb-reply-error-quark, wb_reply_error)

/* ---- patterns ------------------------------------------------------------------------ */

/* Word lists, by language, joined into alternations when the patterns are compiled. */

/* The verb ending an attribution line, "… wrote:". Each entry is a regex fragment; the
 * ones that a name may follow ("Am … schrieb Name <addr>:") allow it. */
static const char *const attrib_verbs[] = {
	"wrote", "writes", "has written",                           /* en */
	"লিখেছেন", "লিখেছে", "লিখলেন",                               /* bn */
	"ने\\s+लिखा", "लिखा", "लिखते\\s+हैं",                          /* hi */
	"a\\s+écrit", "escribió", "escreveu", "ha\\s+scritto", "ha\\s+escrit",
	"napisał(?:\\(a\\)|a)?", "napisao", "napisala", "je\\s+napisal(?:\\(a\\)|a)?",
	"написал(?:\\(а\\)|а)?", "написав(?:\\(ла\\)|ла)?", "написа", "пише", "pisze",
	"写道", "寫道", "작성", "님이\\s+작성", "のメッセージ", "さんは書きました",
	"schrieb.{0,200}", "schreef.{0,200}", "skrev.{0,200}", "kirjoitti.{0,200}",
	"napsal(?:\\(a\\)|a)?.{0,200}", "napísal(?:\\(a\\)|a)?.{0,200}", "írta.{0,200}",
	"a\\s+scris", "έγραψε", "yazdı", "kirjutas", "rašė", "rakstīja", "kiteb", "scríobh",
	"كتب.{0,200}", "đã\\s+viết", "viết",
	NULL,
};

/* Words that open an attribution a client may wrap over several lines (or that the
 * officer's answer may precede on the same line). */
static const char *const attrib_openers[] = {
	"On", "Le", "Am", "El", "Il", "Op", "Em", "Den", "Dne", "W dniu", "В", "У", "Στις",
	"Vào", "في", "Dňa", "Dana", "Il giorno", "Kl\\.", "Pe", "Ar", "Kom", NULL,
};

/* Labels of the header block Outlook (and others) put above the old mail. */
static const char *const hdr_from[] = {
	"From", "প্রেরক", "প্রেষক", "থেকে", "प्रेषक", "भेजने वाला", "से",
	"Von", "De", "De la", "Van", "Da", "Od", "Från", "Fra", "Frá", "От", "Від", "Από",
	"Kimden", "Feladó", "Lähettäjä", "Saatja", "Nuo", "Šalje", "Mittente",
	"Remitente", "Expéditeur", "Absender", "Afzender", "Nadawca", "Отправитель",
	"发件人", "寄件者", "寄件人", "差出人", "보낸 사람", "من", "المرسل", "Từ", "Người gửi",
	NULL,
};
static const char *const hdr_other[] = {
	"Sent", "Date", "To", "Cc", "Bcc", "Subject", "Reply-To",
	"পাঠানো হয়েছে", "পাঠানো", "তারিখ", "প্রাপক", "প্রতি", "সিসি", "বিষয়",
	"भेजा गया", "भेजा", "दिनांक", "तारीख", "प्रति", "प्राप्तकर्ता", "सीसी", "विषय",
	"Gesendet", "Datum", "An", "Betreff", "Kopie", "Envoyé", "Envoyé le", "À", "Objet",
	"Copie à", "Cc ", "Sujet", "Message du", "Enviado", "Enviada", "Enviado el", "Fecha",
	"Para", "Asunto", "Assunto", "Verzonden", "Aan", "Onderwerp", "Inviato", "Data", "A",
	"Oggetto", "Risposta", "Wysłano", "Wysłane", "Do", "Temat", "DW", "Skickat", "Till",
	"Ämne", "Sendt", "Til", "Emne", "Lähetetty", "Vastaanottaja", "Aihe", "Odesláno",
	"Odoslané", "Komu", "Předmět", "Predmet", "Elküldve", "Küldve", "Címzett", "Tárgy",
	"Dátum", "Trimis", "Către", "Subiect", "Στάλθηκε", "Ημερομηνία", "Προς", "Κοιν",
	"Θέμα", "Gönderildi", "Gönderim", "Tarih", "Kime", "Konu", "Saadetud", "Adressaat",
	"Teema", "Išsiųsta", "Kam", "Tema", "Nosūtīts", "Tēma", "Poslano", "Prima", "Za",
	"Zadeva", "Отправлено", "Дата", "Кому", "Тема", "Копия", "Надіслано", "Изпратено",
	"До", "Относно", "发送时间", "日期", "收件人", "抄送", "主题", "寄件日期", "收件者",
	"副本", "主旨", "送信日時", "宛先", "件名", "보낸 날짜", "받는 사람", "참조", "제목",
	"أرسل", "أرسلت", "تاريخ", "التاريخ", "إلى", "نسخة", "الموضوع", "Gửi", "Đã gửi",
	"Ngày", "Đến", "Tới", "Chủ đề", "Dato",
	NULL,
};

/* "-----Original Message-----" and its kin: everything below is the old mail. */
static const char *const original_words[] = {
	"Original Message", "Original", "Forwarded message", "Forwarded Message",
	"Forwarded", "Reply message", "Message",
	"মূল বার্তা", "মূল মেসেজ", "ফরোয়ার্ড করা বার্তা", "मूल संदेश", "अग्रेषित संदेश",
	"Ursprüngliche Nachricht", "Weitergeleitete Nachricht", "Originalnachricht",
	"Message d'origine", "Message original", "Message transféré", "Mensaje original",
	"Mensaje reenviado", "Oorspronkelijk bericht", "Doorgestuurd bericht",
	"Messaggio originale", "Messaggio inoltrato", "Mensagem original",
	"Mensagem encaminhada", "Wiadomość oryginalna", "Oryginalna wiadomość",
	"Wiadomość przekazana", "Przekazana wiadomość", "Ursprungligt meddelande",
	"Vidarebefordrat meddelande", "Opprinnelig melding", "Videresendt melding",
	"Oprindelig meddelelse", "Oprindelig besked", "Videresendt meddelelse",
	"Alkuperäinen viesti", "Välitetty viesti", "Původní zpráva", "Přeposlaná zpráva",
	"Pôvodná správa", "Preposlaná správa", "Eredeti üzenet", "Továbbított üzenet",
	"Mesaj original", "Mesaj redirecționat", "Αρχικό μήνυμα", "Προωθημένο μήνυμα",
	"Orijinal mesaj", "İletilen mesaj", "Algne kiri", "Edastatud kiri",
	"Pradinis laiškas", "Persiųstas laiškas", "Sākotnējā ziņa", "Pārsūtīta ziņa",
	"Izvorna poruka", "Proslijeđena poruka", "Izvirno sporočilo", "Posredovano sporočilo",
	"Оригинално съобщение", "Препратено съобщение", "Исходное сообщение",
	"Пересылаемое сообщение", "Пересланное сообщение", "Оригінальне повідомлення",
	"Переслане повідомлення", "原始邮件", "原始郵件", "转发邮件", "轉寄郵件", "原邮件",
	"元のメッセージ", "転送メッセージ", "転送されたメッセージ", "원본 메시지", "전달된 메시지",
	"الرسالة الأصلية", "رسالة محولة", "Thư gốc", "Tin nhắn gốc", "Thư chuyển tiếp",
	NULL,
};

/* Lines that start a forwarded mail without dashes: "Begin forwarded message:". */
static const char *const forward_lines[] = {
	"Begin forwarded message", "Anfang der weitergeleiteten Nachricht",
	"Début du message réexpédié", "Début du message transféré",
	"Inicio del mensaje reenviado", "Comienzo del mensaje reenviado",
	"Inizio messaggio inoltrato", "Begin doorgestuurd bericht",
	"Início da mensagem reencaminhada", "Início da mensagem encaminhada",
	"Początek przekazywanej wiadomości", "Vidarebefordrat brev",
	"Videresendt besked", "Начало переадресованного сообщения",
	"Начало пересылаемого сообщения", "以下是转发的邮件", "转发的邮件", "転送されたメッセージ",
	"전달된 메시지", "بداية الرسالة المُعاد توجيهها", "Bắt đầu thư được chuyển tiếp",
	NULL,
};

/* Phone and mail-app footers. A verb of sending ("Sent", "Envoyé", "Отправлено"), a
 * preposition, then a device or app within a short line; or, in languages that put
 * the verb last, the device first ("Von meinem iPhone gesendet", "iPhoneから送信"). */
static const char *const footer_devices[] = {
	"iPhone", "iPad", "iPod", "Android", "Samsung", "Galaxy", "Huawei", "Xiaomi", "Redmi",
	"OnePlus", "Oppo", "Vivo", "Realme", "Pixel", "Nokia", "Motorola", "Sony", "Xperia",
	"BlackBerry", "Windows Phone", "Surface", "Mac", "Outlook", "Yahoo", "Gmail", "Mail",
	"AOL", "Proton", "Zoho", "Rediffmail", "Spark", "Airmail", "K-9", "Tuta", "GMX",
	"WEB\\.DE", "Mobile", "mobile", "phone", "cell", "tablet", "Handy", "Smartphone",
	"móvil", "movil", "celular", "cellulare", "telefono", "telefone", "telefoon",
	"telefon", "téléphone", "mobil", "mobiel", "мобильного", "телефона", "смартфона",
	"手机", "手機", "スマートフォン", "휴대폰", "الجوال", "جوال", "هاتف", "điện thoại",
	"স্মার্টফোন", "মোবাইল", "स्मार्टफ़ोन", "स्मार्टफोन", "मोबाइल",
	NULL,
};
static const char *const footer_verbs[] = {
	"Sent", "Envoyé", "Envoye", "Expédié", "Gesendet", "Enviado", "Enviada", "Inviato",
	"Verzonden", "Verstuurd", "Wysłane", "Wysłano", "Skickat", "Skickades", "Sendt",
	"Lähetetty", "Odesláno", "Odoslané", "Elküldve", "Küldve", "Trimis", "Στάλθηκε",
	"Εστάλη", "Gönderildi", "Saadetud", "Išsiųsta", "Nosūtīts", "Sūtīts", "Poslano",
	"Poslato", "Изпратено", "Отправлено", "Надіслано", "Надіслане", "Enviat",
	"Được gửi", "Gửi", "أُرسلت", "أرسلت", "أرسل", "مرسل", "Seolta", "Mibgħut",
	NULL,
};
static const char *const footer_preps[] = {
	"from", "via", "with", "by", "on", "using", "de", "depuis", "à partir de", "avec",
	"von", "vom", "mit", "über", "desde", "del", "do", "dal", "dall'", "da", "vanaf", "van",
	"met", "via", "z", "ze", "za pomocą", "från", "fra", "fran", "iz", "s", "sa",
	"с", "со", "з", "із", "от", "από", "ile", "iš", "no", "din", "de pe", "từ", "bằng", "من",
	"ó", "minu", "mijn",
	NULL,
};
static const char *const footer_verbs_last[] = {
	"gesendet", "verzonden", "verstuurd", "送信", "发送", "發送", "보냄", "보냈습니다",
	"전송됨", "gönderildi", "küldve", "elküldve", "lähetetty", "saadetud", "iPhonesta",
	"থেকে\\s+(?:পাঠানো|প্রেরিত|পাঠানো হয়েছে)", "से\\s+(?:भेजा गया|भेजा|प्रेषित)",
	NULL,
};

/* Prefixes of the complaint number (matched on text with ASCII digits, caselessly). */
static const char *const number_prefixes[] = {
	"complaint\\s*(?:no|nos|number|num)(?![a-z])\\.?",
	"complaint\\s*#",
	"(?<![a-z0-9])g\\.?\\s?d\\.?\\s?e\\.?\\s*(?:(?:no|number)(?![a-z])\\.?)?",
	"(?<![a-z0-9])g\\.?\\s?d\\.?\\s*(?:(?:entry\\s*)?(?:no|number)(?![a-z])\\.?)?",
	"(?<![a-z0-9])f\\.?\\s?i\\.?\\s?r\\.?\\s*(?:(?:no|number)(?![a-z])\\.?)?",
	"অভিযোগ\\s*(?:নং|নম্বর|নাম্বার|সংখ্যা)\\.?",
	"জি\\.?\\s?ডি\\.?\\s*(?:ই\\s*)?(?:নং|নম্বর|নাম্বার)?\\.?",
	"এফ\\.?\\s?আই\\.?\\s?আর\\.?\\s*(?:নং|নম্বর|নাম্বার)?\\.?",
	"शिकायत\\s*(?:संख्या|क्रमांक|नंबर|नम्बर|नं|सं)\\.?",
	"जी\\.?\\s?डी\\.?\\s*(?:संख्या|क्रमांक|नंबर|नं)?\\.?",
	"एफ\\.?\\s?आई\\.?\\s?आर\\.?\\s*(?:संख्या|क्रमांक|नंबर|नं)?\\.?",
	NULL,
};

/* Verbs of CJK attributions, which follow the name with no space ("张三写道："). */
static const char *const attrib_verbs_cjk[] = {
	"写道", "寫道", "のメッセージ", "さんは書きました", "は書きました", "작성", NULL,
};

/* Banners mail gateways put above or below the text: the words that open a warning
 * about an outside sender, and the words for "outside". */
static const char *const banner_openers[] = {
	"CAUTION", "WARNING", "ATTENTION", "NOTICE", "EXTERNAL(?: EMAIL| MAIL| SENDER| MESSAGE)?",
	"ACHTUNG", "VORSICHT", "WARNUNG", "EXTERNE E-MAIL", "AVERTISSEMENT", "PRUDENCE",
	"ATENCIÓN", "PRECAUCIÓN", "ATENÇÃO", "CUIDADO", "ATTENZIONE", "WAARSCHUWING", "LET OP",
	"UWAGA", "OSTRZEŻENIE", "VARNING", "ADVARSEL", "VAROITUS", "UPOZORNĚNÍ", "FIGYELEM",
	"ATENȚIE", "ΠΡΟΣΟΧΗ", "DİKKAT", "ВНИМАНИЕ", "ПРЕДУПРЕЖДЕНИЕ", "УВАГА", "注意", "警告",
	"تنبيه", "تحذير", "CẢNH BÁO", "CHÚ Ý", "সতর্কতা", "चेतावनी", "सावधान",
	NULL,
};
static const char *const banner_outside[] = {
	"outside", "external", "extern", "externe", "externo", "externa", "esterno", "esterna",
	"außerhalb", "l'extérieur", "fuera", "fora", "di fuori", "buiten", "spoza",
	"zewnętrzn", "utanför", "utenfor", "uden for", "ulkopuol", "mimo", "kívül", "din afara",
	"εκτός", "dışından", "dışı", "вне ", "внешн", "за межами", "зовнішн", "外部", "组织外",
	"خارج", "bên ngoài", "বাইরে", "बाहर",
	NULL,
};
/* The openings of confidentiality disclaimers: a bottom banner. */
static const char *const disclaimer_openers[] = {
	"DISCLAIMER", "Disclaimer", "CONFIDENTIALITY NOTICE", "Confidentiality Notice",
	"Confidentiality notice", "LEGAL DISCLAIMER", "Legal disclaimer",
	"This (?:e-?mail|message|communication)(?: and any (?:files|attachments)[^.]{0,60})?"
	"(?: transmitted with it)? (?:is|are|may (?:be|contain)|contains?) (?:strictly )?"
	"(?:confidential|privileged|intended (?:solely|only))",
	"AVIS DE CONFIDENTIALITÉ", "Avis de confidentialité", "Ce (?:message|courriel|e-mail)"
	"(?: et (?:ses|toutes les) pièces jointes)? (?:est|sont|peut) (?:strictement )?"
	"(?:confidentiel|destiné)", "Vertraulichkeitshinweis", "Haftungsausschluss",
	"Diese (?:E-Mail|Nachricht) (?:enthält|ist) vertraulich", "AVISO DE CONFIDENCIALIDAD",
	"Aviso de confidencialidad", "AVISO LEGAL", "Aviso legal", "AVVISO DI RISERVATEZZA",
	"Avviso di riservatezza", "Questo messaggio (?:e i suoi allegati )?(?:è|sono) riservat",
	"Dit bericht is vertrouwelijk", "Niniejsza wiadomość (?:jest|może) (?:poufna|zawierać)",
	"КОНФИДЕНЦИАЛЬНОСТЬ", "Конфиденциальность", "免责声明", "免責聲明", "保密声明",
	"機密保持", "機密情報", "إخلاء مسؤولية", "إشعار السرية", "Tuyên bố miễn trừ",
	"অস্বীকৃতি", "अस्वीकरण",
	NULL,
};

enum pat {
	P_QUOTE,        /* a quoted line */
	P_ATTRIB,       /* an attribution line (or two or three joined) */
	P_ATTRIB_STRONG,/* what makes an attribution certain: a date, a time or an address */
	P_ATTRIB_OPEN,  /* first line of a wrapped attribution */
	P_ATTRIB_TAIL,  /* an attribution after the answer on its line: where it starts */
	P_HDR_FROM,     /* first line of a header block */
	P_HDR_OTHER,    /* the other lines of a header block */
	P_HDR_SQUASH,   /* a header block squashed onto one line ("From: X Sent: Y To: Z") */
	P_CUT,          /* a separator line below which everything is old */
	P_SIG,          /* the signature delimiter */
	P_FOOTER,       /* a client's footer */
	P_FOOTER_LOOSE, /* "Sent from my <anything>": a footer when it stands alone */
	P_BANNER,       /* a gateway's "this mail came from outside" banner */
	P_DISCLAIMER,   /* the start of a confidentiality disclaimer */
	P_JUNK,         /* separator leftovers at the end */
	P_NUMBER,       /* the complaint number */
	P_TAG,          /* an officer's tag */
	P_COUNT
};

struct pat_src {
	enum pat id;
	GRegexCompileFlags flags;
	const char *fmt;          /* its "%s" becomes the joined word list, each "%{name}"
				   * the word list of that name (word_lists below) */
	const char *const *words; /* NULL: fmt is the pattern */
};

/* The word lists a pattern names as "%{name}". */
static const struct { const char *name; const char *const *words; } word_lists[] = {
	{ "%{verbs}", attrib_verbs },          { "%{verbs_cjk}", attrib_verbs_cjk },
	{ "%{openers}", attrib_openers },      { "%{hdr_from}", hdr_from },
	{ "%{hdr_other}", hdr_other },         { "%{forward}", forward_lines },
	{ "%{devices}", footer_devices },      { "%{fverbs}", footer_verbs },
	{ "%{fpreps}", footer_preps },         { "%{fverbs_last}", footer_verbs_last },
	{ "%{outside}", banner_outside },      { "%{banner}", banner_openers },
	{ "%{disclaimer}", disclaimer_openers },
};

#define CI G_REGEX_CASELESS
/* A header label, maybe bold ("*From:*" from HTML turned to text by a client). */
#define LABEL(list) "\\s*\\*?\\s*(?:%{" list "})\\s*\\*?\\s*[:：]"
static const struct pat_src pat_src[] = {
	{ P_QUOTE, 0, "^[ \\t]*>", NULL },
	{ P_ATTRIB, CI,
	  "^(?:.{0,400}?(?<![\\p{L}\\p{M}])(?:%{verbs})\\s*[:：]?"  /* "… wrote:" */
	  "|.{0,400}?(?:%{verbs_cjk})\\s*[:：]?"                     /* "…写道：" */
	  "|[^<>]{0,300}?\\d[^<>]{0,300}<[^<>]*@[^<>]*>\\s*[:：]" /* "date, Name <addr>:" */
	  /* Gmail's older "2016-03-03 17:21 GMT+01:00 Name <addr>" */
	  "|\\s*\\d{4}[/.-]\\d{1,2}[/.-]\\d{1,2}(?:\\s+\\d{1,2}:\\d{2})?\\s*GMT[+-]\\d{1,2}:?\\d{2}\\s.{1,100}"
	  "|\\s*\\d{4}[/.-]\\d{1,2}[/.-]\\d{1,2}(?:\\s+\\d{1,2}:\\d{2})?\\s[^<>]{1,100}<[^<>]*@[^<>]*>)"
	  "(?:\\s*[-=]{2,})?\\s*$",                                 /* Zoho: "--- … wrote ---" */
	  NULL },
	{ P_ATTRIB_STRONG, 0, "[\\d@]", NULL },
	{ P_ATTRIB_OPEN, 0, "^\\s*[-=]*\\s*(?:%{openers})\\s", NULL },
	{ P_ATTRIB_TAIL, 0, "[.!?。！？)]\\s{1,8}(?=(?:%{openers})\\s.{0,300}\\d)", NULL },
	{ P_HDR_FROM, CI, "^" LABEL("hdr_from"), NULL },
	{ P_HDR_OTHER, CI, "^" LABEL("hdr_other"), NULL },
	{ P_HDR_SQUASH, CI,
	  "^" LABEL("hdr_from") ".{1,200}?\\s" LABEL("hdr_other") ".{1,200}?\\s" LABEL("hdr_other"),
	  NULL },
	{ P_CUT, CI,
	  "^\\s*\\*?\\s*(?:[-=_]{2,}\\s*(?:%s)\\s*[-=_]{2,}|_{2,}|(?:%{forward})\\s*[:：]?)"
	  "\\s*\\*?\\s*$",
	  original_words },
	{ P_SIG, 0, "^--[ \\t]?$", NULL },
	{ P_FOOTER, CI,
	  "^\\s*[(<\\[]*\\s*(?=.{0,120}$)(?:"
	  /* a verb of sending first: "Sent from my iPhone", "Envoyé de mon iPhone" */
	  "(?:%{fverbs})\\s+(?:%{fpreps})\\s+(?:\\S+\\s+){0,2}?[\"'„“«\\[]?(?:%{devices}).{0,60}"
	  "|(?:%{fverbs})\\s+(?:%{devices})\\S{0,10}.{0,40}"     /* "Lähetetty iPhonesta" */
	  /* the device first: "Von meinem iPhone gesendet", "iPhoneから送信" */
	  "|(?=.{0,90}?(?:%{fverbs_last})[.。!]?\\s*$).{0,40}?(?:%{devices}).{0,40}?"
	  "(?:%{fverbs_last})[.。!]?"
	  "|(?:发自|寄自|來自)我的.{1,40}"
	  "|Sent from \\S+\\s?<https?://[^>]*>"
	  /* "Get Outlook for iOS", "Outlook für Android herunterladen" */
	  "|.{0,50}?Outlook.{0,40}?(?:iOS|Android).{0,40}"
	  "|.{0,30}?(?:iOS|Android).{0,30}?Outlook.{0,40}"          /* bn, hi, ar word order */
	  "|Diese Nachricht wurde von meinem .{1,80} gesendet\\.?"
	  ")\\s*$",
	  NULL },
	{ P_FOOTER_LOOSE, CI,
	  "^\\s*Sent from my [^,.!?]{1,40}(?:,\\s*(?:please|pls|excuse|sorry|pardon)\\b.{0,60})?$",
	  NULL },
	{ P_BANNER, CI,
	  "^\\s*[\\[(*<]*\\s*(?:"
	  "(?:%{banner})\\s*[\\])*>]*\\s*[:：!\\-–]?(?=.{0,300}(?:%{outside})).{0,1000}"
	  "|\\[\\s*(?:EXTERNAL|EXTERN|EXTERNE|EXTERNO|ESTERNO|ZEWNĘTRZNY|ВНЕШНИЙ|外部|خارجي)[^\\]]{0,30}\\]"
	  "|This (?:e-?mail|message) (?:originated|was sent|came|comes) from (?:an? )?"
	  "(?:outside|external).{0,1000}"
	  ")\\s*$",
	  NULL },
	{ P_DISCLAIMER, 0, "^\\s*[\\[(*]*\\s*(?:%{disclaimer})", NULL },
	{ P_JUNK, 0, "^[\\s\\-_=*~+#.ᐧ|]*$", NULL },
	{ P_NUMBER, CI, "(?:%s)\\s*[:#\\-–]?\\s*([0-9]+(?:/[0-9]{2,4})?)(?![0-9])", number_prefixes },
	{ P_TAG, CI,
	  "(?<![\\p{L}\\p{M}\\p{N}_])#(escalate|close|new|transfer[ \\t]+(?:to[ \\t]+)?([a-z0-9]{2,8}))"
	  "(?![\\p{L}\\p{M}\\p{N}_])[ \\t]*",
	  NULL },
};
#undef LABEL
#undef CI

static GRegex *pats[P_COUNT];

/* Bengali and Devanagari letters with a nukta have two spellings, one code point
 * (U+09DF য় …) or base + nukta (U+09BC, U+093C); keyboards produce either. A pattern
 * accepts both. */
static const struct { const char *one, *two; } nukta[] = {
	{ "\u09DC", "\u09A1\u09BC" }, { "\u09DD", "\u09A2\u09BC" }, { "\u09DF", "\u09AF\u09BC" },
	{ "\u0958", "\u0915\u093C" }, { "\u0959", "\u0916\u093C" }, { "\u095A", "\u0917\u093C" },
	{ "\u095B", "\u091C\u093C" }, { "\u095C", "\u0921\u093C" }, { "\u095D", "\u0922\u093C" },
	{ "\u095E", "\u092B\u093C" }, { "\u095F", "\u092F\u093C" },
};

static void both_nukta_spellings(GString *src)
{
	for (size_t i = 0; i < G_N_ELEMENTS(nukta); i++) {
		g_autofree char *either = g_strdup_printf("(?:%s|%s)", nukta[i].one, nukta[i].two);
		g_string_replace(src, nukta[i].two, nukta[i].one, 0);
		g_string_replace(src, nukta[i].one, either, 0);
	}
}

static char *join_words(const char *const *words)
{
	GString *s = g_string_new(NULL);
	for (size_t i = 0; words[i]; i++) {
		if (i)
			g_string_append_c(s, '|');
		g_string_append(s, words[i]);
	}
	return g_string_free(s, FALSE);
}

/* Compiled once; the patterns are constants, so a failure is a programming error. */
static void compile_patterns(void)
{
	static gsize done;
	if (!g_once_init_enter(&done))
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(pat_src); i++) {
		const struct pat_src *p = &pat_src[i];
		g_autofree char *words = p->words ? join_words(p->words) : NULL;
		g_autoptr(GString) src = g_string_new(p->fmt);
		if (words)
			g_string_replace(src, "%s", words, 1);
		for (size_t w = 0; w < G_N_ELEMENTS(word_lists); w++) {
			if (!strstr(src->str, word_lists[w].name))
				continue;
			g_autofree char *list = join_words(word_lists[w].words);
			g_string_replace(src, word_lists[w].name, list, 0);
		}
		both_nukta_spellings(src);
		g_autoptr(GError) err = NULL;
		/* optimised: compiled to machine code, the word lists make long alternations
		 * (about five times faster); WABRIDGE_REGEX_JIT=0 turns that off for valgrind,
		 * which cannot follow code made at run time */
		const char *jit = g_getenv("WABRIDGE_REGEX_JIT");
		GRegexCompileFlags opt = jit && strcmp(jit, "0") == 0 ? 0 : G_REGEX_OPTIMIZE;
		pats[p->id] = g_regex_new(src->str, p->flags | opt, 0, &err);
		if (!pats[p->id])
			g_error("replyparse: pattern %d does not compile: %s", p->id, err->message);
	}
	g_once_init_leave(&done, 1);
}

static bool matches(enum pat p, const char *s)
{
	return g_regex_match(pats[p], s, 0, NULL);
}

/* ---- digits, number, tags ------------------------------------------------------------ */

char *wb_ascii_digits(const char *s)
{
	GString *out = g_string_sized_new(strlen(s) + 1);
	const char *p = s;
	while (*p) {
		gunichar c = g_utf8_get_char_validated(p, -1);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_c(out, *p++); /* not UTF-8: copy the byte */
			continue;
		}
		const char *next = g_utf8_next_char(p);
		if (c >= 0x09E6 && c <= 0x09EF) /* Bengali ০-৯ */
			g_string_append_c(out, (char)('0' + (c - 0x09E6)));
		else if (c >= 0x0966 && c <= 0x096F) /* Devanagari ०-९ */
			g_string_append_c(out, (char)('0' + (c - 0x0966)));
		else
			g_string_append_len(out, p, next - p);
		p = next;
	}
	return g_string_free(out, FALSE);
}

/* The first group of an extra pattern, or its whole match when it has none. */
static char *extra_number(const char *pattern, const char *text)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GRegex) re = g_regex_new(pattern, 0, 0, &err);
	if (!re) {
		g_warning("number pattern '%s' ignored: %s", pattern, err->message);
		return NULL;
	}
	g_autoptr(GMatchInfo) mi = NULL;
	if (!g_regex_match(re, text, 0, &mi))
		return NULL;
	char *num = g_regex_get_capture_count(re) >= 1 ? g_match_info_fetch(mi, 1) : NULL;
	if (!num || !*num) {
		g_free(num);
		num = g_match_info_fetch(mi, 0);
	}
	g_strstrip(num);
	if (*num)
		return num;
	g_free(num);
	return NULL;
}

char *wb_reply_find_number(const char *text, const char *const *extra_patterns)
{
	if (!text)
		return NULL;
	compile_patterns();
	g_autofree char *ascii = wb_ascii_digits(text);
	for (size_t i = 0; extra_patterns && extra_patterns[i]; i++) {
		char *num = extra_number(extra_patterns[i], ascii);
		if (num)
			return num;
	}
	g_autoptr(GMatchInfo) mi = NULL;
	if (!g_regex_match(pats[P_NUMBER], ascii, 0, &mi))
		return NULL;
	return g_match_info_fetch(mi, 1);
}

/* Words that add nothing to a complaint number (the template says it is registered). */
static const char *const filler_words[] = {
	"complaint", "no", "number", "registered", "register", "is", "has", "been", "was",
	"your", "the", "a", "with", "us", "here", "thanks", "thank", "you", "dear", "sir",
	"madam", "regards", "and", "of", "gd", "gde", "fir", "entry",
	"অভিযোগ", "নং", "নম্বর", "নথিভুক্ত", "হয়েছে", "করা", "আপনার", "ধন্যবাদ",
	"শিকায়ত", "शिकायत", "संख्या", "दर्ज", "हो", "गई", "गया", "है", "की", "कर", "ली",
	"आपकी", "धन्यवाद",
	NULL,
};

static bool filler(const char *word)
{
	for (size_t i = 0; filler_words[i]; i++)
		if (strcmp(word, filler_words[i]) == 0)
			return true;
	return false;
}

bool wb_reply_has_words(const char *text, const char *const *extra_patterns)
{
	if (!text || !*text)
		return false;
	compile_patterns();
	g_autofree char *ascii = wb_ascii_digits(text);
	g_autofree char *rest = g_regex_replace_literal(pats[P_NUMBER], ascii, -1, 0, " ", 0, NULL);
	for (size_t i = 0; rest && extra_patterns && extra_patterns[i]; i++) {
		g_autoptr(GRegex) re = g_regex_new(extra_patterns[i], 0, 0, NULL);
		char *next = re ? g_regex_replace_literal(re, rest, -1, 0, " ", 0, NULL) : NULL;
		if (next) {
			g_free(rest);
			rest = next;
		}
	}
	if (!rest)
		return true; /* cannot tell: keep them */
	g_autofree char *low = g_utf8_strdown(rest, -1);
	GString *word = g_string_new(NULL);
	bool more = false;
	for (const char *p = low; !more; p = g_utf8_next_char(p)) {
		gunichar c = *p ? g_utf8_get_char(p) : 0;
		if (c && (g_unichar_isalpha(c) || g_unichar_ismark(c))) {
			g_string_append_unichar(word, c);
			continue;
		}
		more = word->len && !filler(word->str);
		g_string_truncate(word, 0);
		if (!c)
			break;
	}
	g_string_free(word, TRUE);
	return more;
}

struct tags {
	bool escalate, close, split;
	char *transfer_to;
	unsigned transfers;
};

static gboolean take_tag(const GMatchInfo *mi, GString *res, gpointer data)
{
	struct tags *t = data;
	g_autofree char *word = g_match_info_fetch(mi, 1);
	if (g_ascii_strcasecmp(word, "escalate") == 0) {
		t->escalate = true;
	} else if (g_ascii_strcasecmp(word, "close") == 0) {
		t->close = true;
	} else if (g_ascii_strcasecmp(word, "new") == 0) {
		t->split = true;
	} else if (t->transfers++ == 0) {
		g_autofree char *code = g_match_info_fetch(mi, 2);
		t->transfer_to = g_ascii_strup(code, -1);
	}
	return FALSE; /* replaced by nothing */
}

/* Removes the tags from text, recording them; a line that held only tags goes. */
static char *strip_tags(const char *text, struct tags *t)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);
	for (size_t i = 0; lines[i]; i++) {
		char *line = lines[i];
		g_autofree char *stripped = NULL;
		if (g_regex_match(pats[P_TAG], line, 0, NULL)) {
			stripped = g_regex_replace_eval(pats[P_TAG], line, -1, 0, 0, take_tag, t, NULL);
			if (!stripped)
				stripped = g_strdup(line);
			g_strchomp(stripped);
			if (!*stripped)
				continue;
			line = stripped;
		}
		if (out->len)
			g_string_append_c(out, '\n');
		g_string_append(out, line);
	}
	return g_string_free(out, FALSE);
}

/* ---- the new text, line by line ------------------------------------------------------ */

static bool blank(const char *l)
{
	for (; *l; l++)
		if (!g_ascii_isspace(*l))
			return false;
	return true;
}

static size_t next_nonblank(char **v, size_t n, size_t i)
{
	while (i < n && blank(v[i]))
		i++;
	return i;
}

/* Lines v[i..i+k) joined by spaces. */
static char *join_lines(char **v, size_t i, size_t k)
{
	GString *s = g_string_new(v[i]);
	for (size_t j = 1; j < k; j++) {
		g_string_append_c(s, ' ');
		g_string_append(s, v[i + j]);
	}
	return g_string_free(s, FALSE);
}

/* An attribution line: "… wrote:" with its colon, or without one when an address, a
 * dashed frame ("---- On … wrote ----") or a leading date says it is one. */
static bool attribution(const char *l)
{
	if (!matches(P_ATTRIB, l))
		return false;
	const char *end = l + strlen(l);
	while (end > l && (g_ascii_isspace(end[-1]) || end[-1] == '-' || end[-1] == '='))
		end--;
	if (end > l && end[-1] == ':')
		return true;
	if (end - l >= 3 && memcmp(end - 3, "\uFF1A", 3) == 0)
		return true;
	while (g_ascii_isspace(*l))
		l++;
	bool dated = strspn(l, "0123456789") == 4; /* Gmail's older "2016-03-03 17:21 …" */
	return dated || strchr(l, '@') != NULL || strstr(l, "--") != NULL;
}

/* Whether a line that is an attribution by itself rather ends one started above: the
 * verb alone ("wrote:") or the address ("<addr> wrote:", the name being above). */
static bool continues_attribution(const char *l)
{
	while (g_ascii_isspace(*l))
		l++;
	return *l == '<' || g_utf8_strlen(l, -1) <= 12;
}

/* How many lines the attribution starting at v[i] takes, or 0. A strong one (with a
 * date, a time or an address) is certain; a weak one ("Name wrote:") counts only when a
 * quote follows, and only on one line. Clients wrap long attributions: two lines are
 * joined when the second is not an attribution of its own, up to five when the first
 * opens one ("On …"). */
static size_t attribution_span(char **v, size_t n, size_t i, bool *strong)
{
	enum { MAX_LINE = 600, MAX_OPENED = 5 };
	*strong = false;
	if (blank(v[i]) || strlen(v[i]) > MAX_LINE)
		return 0;
	if (attribution(v[i])) {
		*strong = matches(P_ATTRIB_STRONG, v[i]);
		return 1;
	}
	/* "… Name <addr" (or "(addr") wrapped inside the address: "addr> wrote:" or ">:"
	 * (which then looks like a quoted line) on the next line */
	const char *lt = strrchr(v[i], '<'), *lp = strrchr(v[i], '(');
	bool open_addr = (lt && !strchr(lt, '>')) || (lp && !strchr(lp, ')'));
	if (i + 1 >= n ||
	    (attribution(v[i + 1]) && !open_addr && !continues_attribution(v[i + 1])))
		return 0;
	bool opener = matches(P_ATTRIB_OPEN, v[i]) && matches(P_ATTRIB_STRONG, v[i]);
	size_t total = strlen(v[i]);
	for (size_t k = 2; k <= (opener ? MAX_OPENED : 2) && i + k <= n; k++) {
		const char *last = v[i + k - 1];
		total += strlen(last) + 1;
		if (total > MAX_LINE)
			return 0;
		if (!opener && (blank(last) || (matches(P_QUOTE, last) && !open_addr)))
			return 0;
		g_autofree char *joined = join_lines(v, i, k);
		if (attribution(joined) && matches(P_ATTRIB_STRONG, joined)) {
			*strong = true;
			return k;
		}
	}
	return 0;
}

/* The first line of a header block: a header line ("From:", "Sent:", …) starting a run
 * of at most 8 lines that holds a "From:" and at least three header lines in all; or
 * two lines, "From:" and another, when the "From:" names an address or the other holds
 * a date; or the whole block squashed onto one line. */
static bool header_block_at(char **v, size_t n, size_t i)
{
	if (matches(P_HDR_SQUASH, v[i]))
		return true;
	bool from = matches(P_HDR_FROM, v[i]);
	if (!from && !matches(P_HDR_OTHER, v[i]))
		return false;
	bool sure = from && strchr(v[i], '@');
	int labels = 1;
	for (size_t j = i + 1, seen = 1; j < n && seen < 8; j++) {
		if (blank(v[j]))
			continue;
		seen++;
		if (matches(P_HDR_FROM, v[j])) {
			from = true;
			sure = sure || strchr(v[j], '@');
		} else if (!matches(P_HDR_OTHER, v[j])) {
			continue;
		} else if (from && matches(P_ATTRIB_STRONG, v[j])) {
			sure = true;
		}
		labels++;
		if (from && (labels >= 3 || sure))
			return true;
	}
	return false;
}

static bool trailing_junk(const char *l)
{
	return matches(P_JUNK, l) || matches(P_FOOTER, l) || matches(P_FOOTER_LOOSE, l);
}

/* Whether the lines kept so far are just "Hi," or "Sir,": an answer below the quote,
 * or between quotes, follows. */
static bool salutation_only(GPtrArray *keep)
{
	const char *line = NULL;
	for (size_t i = 0; i < keep->len; i++) {
		const char *l = keep->pdata[i];
		if (blank(l))
			continue;
		if (line)
			return false;
		line = l;
	}
	size_t len = line ? strlen(line) : 0;
	return len > 0 && len <= 40 && line[len - 1] == ',';
}

/* A client's footer: "Sent from my Wiko RIDGE FAB 4G" is one as a paragraph of its own,
 * "Sent from my office to the spot" in a paragraph is not. */
static bool footer_at(char **v, size_t n, size_t i)
{
	if (matches(P_FOOTER_LOOSE, v[i]) && (i == 0 || blank(v[i - 1])) &&
	    (i + 1 == n || blank(v[i + 1])))
		return true;
	return matches(P_FOOTER, v[i]);
}

/* Where the old mail starts for sure, and by what rule (NULL: not here): a signature, a
 * client's footer, a separator, a header block, a banner below the text. */
static const char *end_of_new(char **v, size_t n, size_t i)
{
	if (matches(P_SIG, v[i]))
		return "signature";
	if (footer_at(v, n, i))
		return "footer";
	if (matches(P_CUT, v[i]))
		return "separator";
	if (header_block_at(v, n, i))
		return "header-block";
	if (matches(P_BANNER, v[i]) || matches(P_DISCLAIMER, v[i]))
		return "banner";
	return NULL;
}

/* The lines of the body, with an attribution that follows the answer on its line
 * ("Yes, fine. On Tue, 3 Mar 2026, X <x@y> wrote:") split off onto a line of its own;
 * nos[k] is the body's line number (from 1) of line k. */
static GPtrArray *body_lines(const char *text, GArray *nos)
{
	g_auto(GStrv) v = g_strsplit(text, "\n", -1);
	size_t n = g_strv_length(v);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	for (size_t i = 0; i < n; i++) {
		unsigned no = (unsigned)MIN(i + 1, UINT_MAX);
		g_strchomp(v[i]);
		g_autoptr(GMatchInfo) mi = NULL;
		int at = 0;
		if (strlen(v[i]) <= 1000 && !matches(P_ATTRIB_OPEN, v[i]) &&
		    g_regex_match(pats[P_ATTRIB_TAIL], v[i], 0, &mi) &&
		    g_match_info_fetch_pos(mi, 0, NULL, &at)) {
			char *tail[4] = { v[i] + at, i + 1 < n ? v[i + 1] : NULL,
					  i + 2 < n ? v[i + 2] : NULL, NULL };
			bool strong = false;
			if (attribution_span(tail, g_strv_length(tail), 0, &strong) > 0 && strong) {
				g_ptr_array_add(out, g_strchomp(g_strndup(v[i], (gsize)at)));
				g_array_append_val(nos, no);
				g_ptr_array_add(out, g_strdup(v[i] + at));
				g_array_append_val(nos, no);
				continue;
			}
		}
		g_ptr_array_add(out, g_strdup(v[i]));
		g_array_append_val(nos, no);
	}
	g_ptr_array_add(out, NULL);
	return out;
}

static void add_cut(GArray *cuts, unsigned line, const char *rule)
{
	if (!cuts || cuts->len >= WB_REPLY_MAX_CUTS)
		return;
	struct wb_reply_cut c = { line, rule };
	g_array_append_val(cuts, c);
}

/* The end of a banner starting at v[i]: its lines run on while a line does not end a
 * sentence (the banner wrapped), at most BANNER_LINES; the answer may follow at once. */
static size_t paragraph_end(char **v, size_t n, size_t i)
{
	enum { BANNER_LINES = 6 };
	size_t end = i + 1;
	while (end < n && end < i + BANNER_LINES && !blank(v[end])) {
		const char *prev = v[end - 1];
		size_t len = strlen(prev);
		if (len && strchr(".!?", prev[len - 1]))
			break;
		end++;
	}
	return end;
}
/* Whether the quote at v[i] is one the officer answers below (an interleaved reply):
 * the quoted lines end with a blank line and the officer's own words follow. A quoted
 * line followed at once by unquoted text is rather the old mail, a client having
 * wrapped a long quoted line without its ">". */
static bool answered_below(char **v, size_t n, size_t i)
{
	while (i < n && (blank(v[i]) || matches(P_QUOTE, v[i])))
		i++;
	bool strong = false;
	return i < n && blank(v[i - 1]) && !end_of_new(v, n, i) &&
	       !attribution_span(v, n, i, &strong);
}

struct pass {
	char **v;
	size_t n;
	const unsigned *nos;
	GArray *cuts;
	GPtrArray *keep;
	bool seen_text, inline_mode, after_quote;
};

/* What to do with the line at v[i] before the text proper: a banner or footer above
 * the answer is dropped, with the rest of its paragraph for a banner. Returns the next
 * line to look at, or i when the line is not one of them. */
static size_t skip_top(struct pass *p, size_t i)
{
	if (p->seen_text)
		return i;
	if (matches(P_BANNER, p->v[i]) || matches(P_DISCLAIMER, p->v[i])) {
		add_cut(p->cuts, p->nos[i], "banner");
		return paragraph_end(p->v, p->n, i);
	}
	if (footer_at(p->v, p->n, i)) {
		add_cut(p->cuts, p->nos[i], "footer");
		return i + 1;
	}
	return i;
}

/* A quote or an attribution at v[i]: how many lines to skip, 0 to end the text there,
 * or 0 with *text when the lines are the officer's after all. */
static size_t quote_span(struct pass *p, size_t i, bool *text)
{
	bool strong = false, quote = matches(P_QUOTE, p->v[i]);
	size_t span = quote ? 1 : attribution_span(p->v, p->n, i, &strong);
	*text = false;
	if (!span) {
		*text = true;
		return 0;
	}
	const char *rule = quote ? "quote" : "attribution";
	if (!quote) {
		size_t j = next_nonblank(p->v, p->n, i + span);
		if (j == p->n || !matches(P_QUOTE, p->v[j])) {
			if (!strong && j < p->n) {
				*text = true; /* "Name wrote:" with no quote below */
				return 0;
			}
			add_cut(p->cuts, p->nos[i], rule);
			return 0;
		}
	}
	if (p->seen_text && !p->inline_mode && !salutation_only(p->keep) &&
	    !(quote && answered_below(p->v, p->n, i))) {
		add_cut(p->cuts, p->nos[i], rule);
		return 0;
	}
	if (!quote || !p->after_quote)
		add_cut(p->cuts, p->nos[i], rule);
	return span;
}

/* The officer's lines of text (see the rationale at the top); cuts (may be NULL) gets
 * where a rule dropped lines, by the body's line numbers. */
static char *new_text(const char *text, GArray *cuts)
{
	g_autoptr(GArray) nos = g_array_new(FALSE, FALSE, sizeof(unsigned));
	g_autoptr(GPtrArray) lines = body_lines(text, nos);
	struct pass p = { .v = (char **)lines->pdata, .n = lines->len - 1,
			  .nos = (const unsigned *)(void *)nos->data, .cuts = cuts,
			  .keep = g_ptr_array_new() };

	for (size_t i = 0; i < p.n; i++) {
		size_t next = skip_top(&p, i);
		if (next != i) {
			i = next - 1;
			continue;
		}
		bool text_line = blank(p.v[i]);
		size_t span = 0;
		if (!text_line && !matches(P_QUOTE, p.v[i])) {
			const char *rule = end_of_new(p.v, p.n, i);
			if (rule) {
				add_cut(cuts, p.nos[i], rule);
				break;
			}
		}
		if (!text_line) {
			span = quote_span(&p, i, &text_line);
			if (!span && !text_line)
				break;
		}
		if (span) {
			p.inline_mode = p.after_quote = true;
			i += span - 1;
			continue;
		}
		if (blank(p.v[i]) && p.after_quote)
			continue; /* the answer below a quote starts right there */
		if (p.after_quote && p.keep->len && !blank(p.keep->pdata[p.keep->len - 1]) &&
		    !salutation_only(p.keep))
			g_ptr_array_add(p.keep, (char *)""); /* a paragraph where a quote was */
		g_ptr_array_add(p.keep, p.v[i]);
		if (!blank(p.v[i])) {
			p.seen_text = true;
			p.after_quote = false;
		}
	}
	while (p.keep->len && trailing_junk(p.keep->pdata[p.keep->len - 1]))
		g_ptr_array_remove_index(p.keep, p.keep->len - 1);

	GString *out = g_string_new(NULL);
	bool prev_blank = true; /* drops leading blank lines, and runs of them */
	for (size_t i = 0; i < p.keep->len; i++) {
		const char *l = p.keep->pdata[i];
		bool b = blank(l);
		if (b && prev_blank)
			continue;
		if (out->len)
			g_string_append_c(out, '\n');
		if (!b)
			g_string_append(out, l);
		prev_blank = b;
	}
	g_ptr_array_free(p.keep, TRUE);
	return g_string_free(out, FALSE);
}

/* ---- the safety net ------------------------------------------------------------------ */

enum { SUSPECT_SHOW_CHARS = 80 };

static bool has_letter(const char *l)
{
	for (const char *p = l; *p; p = g_utf8_next_char(p))
		if (g_unichar_isalpha(g_utf8_get_char(p)))
			return true;
	return false;
}

/* A header label followed by a value ("To: x", not "To:" alone). */
static bool header_line(const char *l)
{
	for (enum pat p = P_HDR_FROM; p <= P_HDR_OTHER; p++) {
		g_autoptr(GMatchInfo) mi = NULL;
		int end = 0;
		if (g_regex_match(pats[p], l, 0, &mi) && g_match_info_fetch_pos(mi, 0, NULL, &end))
			return !blank(l + end);
	}
	return false;
}

/* What sign of someone else's words line i of v is, or NULL. */
static const char *suspect_line(char **v, size_t n, size_t i)
{
	if (matches(P_QUOTE, v[i]))
		return "a quoted line";
	if (matches(P_CUT, v[i]) && has_letter(v[i]))
		return "a forwarded or original-message separator";
	if (matches(P_HDR_SQUASH, v[i]))
		return "a quoted header block on one line";
	if (header_line(v[i])) {
		if (matches(P_HDR_FROM, v[i]) && strchr(v[i], '@'))
			return "a quoted header line";
		size_t j = next_nonblank(v, n, i + 1);
		if (j < n && j <= i + 2 && header_line(v[j]))
			return "a quoted header line";
	}
	bool strong = false;
	if (attribution_span(v, n, i, &strong) > 0 && strong)
		return "an attribution line";
	return NULL;
}

bool wb_reply_text_suspicious(const char *text, char **why)
{
	if (why)
		*why = NULL;
	if (!text)
		return false;
	compile_patterns();
	g_autofree char *valid = g_utf8_make_valid(text, -1);
	g_auto(GStrv) v = g_strsplit(valid, "\n", -1);
	size_t n = g_strv_length(v);
	for (size_t i = 0; i < n; i++)
		g_strchomp(v[i]);
	for (size_t i = 0; i < n; i++) {
		const char *sign = suspect_line(v, n, i);
		if (!sign)
			continue;
		if (why) {
			g_autofree char *line = g_strstrip(g_strdup(v[i]));
			if (g_utf8_strlen(line, -1) > SUSPECT_SHOW_CHARS)
				*g_utf8_offset_to_pointer(line, SUSPECT_SHOW_CHARS) = '\0';
			*why = g_strdup_printf("%s: \u201c%s\u201d", sign, line);
		}
		return true;
	}
	return false;
}

static void emit_line(GString *out, int depth, GString *para)
{
	for (int k = 0; k < depth; k++)
		g_string_append_c(out, '>');
	if (depth)
		g_string_append_c(out, ' ');
	g_string_append_len(out, para->str, (gssize)para->len);
	g_string_append_c(out, '\n');
	g_string_truncate(para, 0);
}

/* RFC 3676 format=flowed: soft line breaks joined, space-stuffing undone; quote depth
 * kept as a ">" prefix so that the line pass still sees the quotes. */
static char *unflow(const char *text, bool delsp)
{
	g_auto(GStrv) v = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);
	GString *para = g_string_new(NULL);
	int para_depth = -1;

	for (size_t i = 0; v[i]; i++) {
		const char *l = v[i];
		int depth = 0;
		while (l[depth] == '>')
			depth++;
		const char *c = l + depth;
		if (*c == ' ')
			c++;
		size_t len = strlen(c);
		bool flowed = len > 0 && c[len - 1] == ' ' && strcmp(c, "-- ") != 0;
		if (para_depth >= 0 && depth != para_depth)
			emit_line(out, para_depth, para); /* a flowed line, then another depth */
		para_depth = depth;
		g_string_append_len(para, c, (gssize)(flowed && delsp ? len - 1 : len));
		if (!flowed) {
			emit_line(out, depth, para);
			para_depth = -1;
		}
	}
	if (para_depth >= 0)
		emit_line(out, para_depth, para);
	if (out->len)
		g_string_truncate(out, out->len - 1);
	g_string_free(para, TRUE);
	return g_string_free(out, FALSE);
}

/* ---- HTML to text -------------------------------------------------------------------- */

enum h_act {
	H_INLINE, /* text flows through */
	H_BLOCK,  /* on lines of its own */
	H_SKIP,   /* dropped with everything inside (script, style, a signature) */
	H_QUOTE,  /* dropped, a ">" line left in its place for the line pass */
	H_CUT,    /* the old mail starts here: nothing after it is new */
	H_BR, H_LI, H_PRE, H_CELL,
};

static const struct { const char *tag; enum h_act act; } tag_acts[] = {
	{ "script", H_SKIP }, { "style", H_SKIP }, { "head", H_SKIP }, { "title", H_SKIP },
	{ "template", H_SKIP }, { "noscript", H_SKIP }, { "object", H_SKIP },
	{ "iframe", H_SKIP }, { "svg", H_SKIP }, { "math", H_SKIP }, { "select", H_SKIP },
	{ "blockquote", H_QUOTE },
	{ "br", H_BR }, { "li", H_LI }, { "pre", H_PRE }, { "td", H_CELL }, { "th", H_CELL },
	{ "p", H_BLOCK }, { "div", H_BLOCK }, { "hr", H_BLOCK }, { "table", H_BLOCK },
	{ "tr", H_BLOCK }, { "ul", H_BLOCK }, { "ol", H_BLOCK }, { "dl", H_BLOCK },
	{ "dt", H_BLOCK }, { "dd", H_BLOCK }, { "h1", H_BLOCK }, { "h2", H_BLOCK },
	{ "h3", H_BLOCK }, { "h4", H_BLOCK }, { "h5", H_BLOCK }, { "h6", H_BLOCK },
	{ "address", H_BLOCK }, { "article", H_BLOCK }, { "aside", H_BLOCK },
	{ "center", H_BLOCK }, { "details", H_BLOCK }, { "fieldset", H_BLOCK },
	{ "figure", H_BLOCK }, { "footer", H_BLOCK }, { "form", H_BLOCK },
	{ "header", H_BLOCK }, { "main", H_BLOCK }, { "nav", H_BLOCK },
	{ "section", H_BLOCK }, { "summary", H_BLOCK }, { "caption", H_BLOCK },
};

/* The clients' quote, header and signature containers, by id or class (Outlook on the
 * web prefixes "x_" to both when it quotes a mail again; that prefix is ignored). */
static const struct { const char *attr, *value; enum h_act act; } marker_acts[] = {
	{ "id", "divRplyFwdMsg", H_CUT },       /* Outlook on the web */
	{ "id", "appendonsend", H_CUT },        /* Outlook on the web, above the header */
	{ "id", "stopSpelling", H_CUT },        /* old Outlook and Hotmail */
	{ "id", "mail-editor-reference-message-container", H_CUT }, /* new Outlook */
	{ "id", "OLK_SRC_BODY_SECTION", H_CUT }, /* Outlook for Mac */
	{ "class", "OutlookMessageHeader", H_CUT },
	{ "id", "zwchr", H_CUT },               /* Zimbra (NIC mail): the rule above the header */
	{ "class", "gmail_quote", H_QUOTE },    /* Gmail, K-9 */
	{ "class", "gmail_quote_container", H_QUOTE },
	{ "class", "gmail_attr", H_QUOTE },
	{ "class", "moz-cite-prefix", H_QUOTE }, /* Thunderbird */
	{ "class", "moz-forward-container", H_QUOTE },
	{ "class", "yahoo_quoted", H_QUOTE },
	{ "id", "reply-intro", H_QUOTE },       /* Roundcube */
	{ "class", "reply-intro", H_QUOTE },
	{ "class", "gmail_signature", H_SKIP },
	{ "class", "gmail_signature_prefix", H_SKIP },
	{ "class", "moz-signature", H_SKIP },
	{ "id", "Signature", H_SKIP },          /* Outlook on the web */
	{ "id", "_rc_sig", H_SKIP },            /* Roundcube */
};

static bool token_is(const char *tok, size_t len, const char *value)
{
	if (len > 2 && g_ascii_strncasecmp(tok, "x_", 2) == 0 && strlen(value) == len - 2 &&
	    g_ascii_strncasecmp(tok + 2, value, len - 2) == 0)
		return true;
	return strlen(value) == len && g_ascii_strncasecmp(tok, value, len) == 0;
}

/* Whether the space-separated attribute value holds value. */
static bool attr_has(const char *attr, const char *value)
{
	const char *p = attr;
	while (*p) {
		while (*p && g_ascii_isspace(*p))
			p++;
		const char *start = p;
		while (*p && !g_ascii_isspace(*p))
			p++;
		if (p > start && token_is(start, (size_t)(p - start), value))
			return true;
	}
	return false;
}

static char *get_attr(xmlNode *el, const char *name)
{
	xmlChar *v = xmlGetProp(el, (const xmlChar *)name);
	char *s = v ? g_strdup((const char *)v) : NULL;
	xmlFree(v);
	return s;
}

/* The first max bytes or so of the text inside el (bounded: divs nest). */
static char *text_head(xmlNode *el, size_t max)
{
	GString *s = g_string_new(NULL);
	xmlNode *node = el->children;
	while (node && s->len < max) {
		if (node->type == XML_TEXT_NODE && node->content) {
			const char *t = (const char *)node->content;
			size_t room = max - s->len, len = strnlen(t, room + 1);
			if (len > room) {
				len = room; /* back to the start of a character */
				while (len > 0 && ((unsigned char)t[len] & 0xC0) == 0x80)
					len--;
			}
			g_string_append_len(s, t, (gssize)len);
		}
		if (node->type == XML_ELEMENT_NODE && node->children) {
			node = node->children;
			continue;
		}
		while (node && node != el && !node->next)
			node = node->parent;
		node = (node && node != el) ? node->next : NULL;
	}
	return g_string_free(s, FALSE);
}

/* Outlook's separator: a div with a top border holding a "From:" header block. */
static bool outlook_separator(xmlNode *el)
{
	g_autofree char *style = get_attr(el, "style");
	if (!style || !strstr(style, "border-top"))
		return false;
	g_autofree char *head = text_head(el, 300);
	g_strchug(head);
	return matches(P_HDR_FROM, head);
}

static enum h_act tag_act(const xmlNode *el)
{
	for (size_t i = 0; i < G_N_ELEMENTS(tag_acts); i++)
		if (g_ascii_strcasecmp((const char *)el->name, tag_acts[i].tag) == 0)
			return tag_acts[i].act;
	return H_INLINE;
}

static enum h_act element_act(xmlNode *el)
{
	g_autofree char *id = get_attr(el, "id");
	g_autofree char *class = get_attr(el, "class");
	for (size_t i = 0; i < G_N_ELEMENTS(marker_acts); i++) {
		const char *v = strcmp(marker_acts[i].attr, "id") == 0 ? id : class;
		if (v && attr_has(v, marker_acts[i].value))
			return marker_acts[i].act;
	}
	enum h_act act = tag_act(el);
	if (act == H_BLOCK && g_ascii_strcasecmp((const char *)el->name, "div") == 0 &&
	    outlook_separator(el))
		return H_CUT;
	return act;
}

struct h2t {
	GString *s;
	bool space; /* whitespace seen since the last character */
	int pre;    /* inside <pre>: whitespace kept */
	bool full;  /* WB_REPLY_SCAN_BYTES reached */
};

static void h_newline(struct h2t *h)
{
	if (h->s->len && h->s->str[h->s->len - 1] != '\n')
		g_string_append_c(h->s, '\n');
	h->space = false;
}

/* raw: a text node's content. When libxml2 recovers from an encoding error it copies the
 * stray byte into the text node. html_to_text hands it valid UTF-8 for that reason; a
 * node that is still not valid UTF-8 is made so here all the same, since the character
 * walk below trusts every lead byte. */
static void h_text(struct h2t *h, const char *raw)
{
	g_autofree char *fixed = NULL;
	const char *t = raw;
	if (!raw)
		return;
	if (!g_utf8_validate(raw, -1, NULL))
		t = fixed = g_utf8_make_valid(raw, -1);
	for (const char *p = t; *p && !h->full; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == 0x200B || c == 0xFEFF || c == '\r')
			continue; /* zero-width space and BOM: Outlook's and editors' leftovers */
		if (!h->pre && (c == ' ' || c == '\t' || c == '\n' || c == '\f')) {
			h->space = true;
			continue;
		}
		if (h->space && h->s->len && h->s->str[h->s->len - 1] != '\n')
			g_string_append_c(h->s, ' ');
		h->space = false;
		if (c == 0xA0)
			g_string_append_c(h->s, ' ');
		else
			g_string_append_len(h->s, p, g_utf8_next_char(p) - p);
		h->full = h->s->len >= WB_REPLY_SCAN_BYTES;
	}
}

/* Entering an element: what it adds before its content, and whether to descend. */
static bool h_enter(struct h2t *h, xmlNode *el, enum h_act act)
{
	switch (act) {
	case H_SKIP:
		return false;
	case H_QUOTE:
		h_newline(h);
		g_string_append(h->s, ">\n\n"); /* what follows is not the quote wrapped */
		return false;
	case H_BR:
		g_string_append_c(h->s, '\n');
		h->space = false;
		return false;
	case H_LI:
		h_newline(h);
		g_string_append(h->s, "- ");
		return true;
	case H_PRE:
		h_newline(h);
		h->pre++;
		return true;
	case H_CELL:
		h->space = true;
		return true;
	case H_BLOCK:
		h_newline(h);
		return el->children != NULL;
	case H_INLINE:
	case H_CUT:
		break;
	}
	return true;
}

static void h_leave(struct h2t *h, enum h_act act)
{
	if (act == H_PRE && h->pre > 0)
		h->pre--;
	if (act == H_BLOCK || act == H_LI || act == H_PRE)
		h_newline(h);
}

/* Walks the tree without recursion (hostile HTML nests deeply). */
static void h_walk(struct h2t *h, xmlNode *root)
{
	xmlNode *node = root;
	while (node && !h->full) {
		bool descend = false;
		if (node->type == XML_ELEMENT_NODE) {
			enum h_act act = element_act(node);
			if (act == H_CUT)
				return;
			descend = h_enter(h, node, act) && node->children;
			if (!descend)
				h_leave(h, act);
		} else if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
			h_text(h, (const char *)node->content);
		}
		if (descend) {
			node = node->children;
			continue;
		}
		while (node && node != root && !node->next) {
			node = node->parent;
			if (node && node->type == XML_ELEMENT_NODE)
				h_leave(h, tag_act(node)); /* only those by tag are entered */
		}
		node = (node && node != root) ? node->next : NULL;
	}
}

/* utf8: the bytes are meant to be UTF-8 (else libxml2 reads the document's own <meta>).
 * Bytes that are not UTF-8 after all become U+FFFD first: libxml2, told UTF-8, would
 * otherwise read the rest of the document as Latin-1 after the first one (and garble a
 * Bengali complaint number that follows). */
static char *html_to_text(const char *html, size_t len, bool utf8)
{
	int opts = HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING;
	g_autofree char *fixed = NULL;
	if (utf8 && !g_utf8_validate_len(html, len, NULL)) {
		html = fixed = g_utf8_make_valid(html, (gssize)len);
		len = strlen(fixed);
	}
	if (utf8)
		opts |= HTML_PARSE_IGNORE_ENC;
	if (len > INT_MAX)
		len = INT_MAX;
	htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, utf8 ? "UTF-8" : NULL, opts);
	struct h2t h = { .s = g_string_new(NULL) };
	if (doc && xmlDocGetRootElement(doc))
		h_walk(&h, xmlDocGetRootElement(doc));
	if (doc)
		xmlFreeDoc(doc);
	return g_string_free(h.s, FALSE);
}

/* ---- MIME ---------------------------------------------------------------------------- */

static bool is_text(GMimeObject *o, const char *subtype)
{
	if (!GMIME_IS_PART(o))
		return false;
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(o);
	if (d && g_mime_content_disposition_is_attachment(d))
		return false;
	return g_mime_content_type_is_type(g_mime_object_get_content_type(o), "text", subtype);
}

/* The part holding the reply: in a multipart/alternative the text/plain one (the HTML
 * one when want_html or when there is no plain one), elsewhere the first one, in
 * document order. Forwarded messages (message/rfc822) are never entered. */
static GMimeObject *body_part(GMimeObject *o, bool want_html, int depth)
{
	if (depth > WB_REPLY_MAX_DEPTH)
		return NULL;
	if (is_text(o, "plain") || is_text(o, "html"))
		return o;
	if (!GMIME_IS_MULTIPART(o))
		return NULL;
	GMimeMultipart *mp = (GMimeMultipart *)o;
	bool alt = g_mime_content_type_is_type(g_mime_object_get_content_type(o), "multipart",
					       "alternative");
	GMimeObject *first = NULL;
	for (int i = 0; i < g_mime_multipart_get_count(mp); i++) {
		GMimeObject *b = body_part(g_mime_multipart_get_part(mp, i), want_html, depth + 1);
		if (!b)
			continue;
		if (!alt)
			return b;
		if (is_text(b, want_html ? "html" : "plain"))
			return b;
		if (!first)
			first = b;
	}
	return first;
}

static bool charset_is_utf8ish(const char *cs)
{
	static const char *const same[] = { "utf-8", "utf8", "us-ascii", "ascii",
					    "ansi_x3.4-1968", NULL };
	for (size_t i = 0; same[i]; i++)
		if (g_ascii_strcasecmp(cs, same[i]) == 0)
			return true;
	return false;
}

/* The part's content, transfer encoding undone and converted to UTF-8 when its charset
 * says how; *utf8 tells whether the result is (meant to be) UTF-8. */
static GByteArray *part_bytes(GMimeObject *o, bool *utf8)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeDataWrapper *w = g_mime_part_get_content((GMimePart *)o);
	const char *cs = g_mime_object_get_content_type_parameter(o, "charset");
	*utf8 = false;
	if (w) {
		GMimeFilter *f = NULL;
		if (cs && charset_is_utf8ish(cs))
			*utf8 = true;
		else if (cs && (f = g_mime_filter_charset_new(cs, "UTF-8")) != NULL)
			*utf8 = true;
		if (f) {
			GMimeStream *filtered = g_mime_stream_filter_new(mem);
			g_mime_stream_filter_add((GMimeStreamFilter *)filtered, f);
			g_mime_data_wrapper_write_to_stream(w, filtered);
			g_mime_stream_flush(filtered);
			g_object_unref(filtered);
			g_object_unref(f);
		} else {
			g_mime_data_wrapper_write_to_stream(w, mem);
		}
	}
	GByteArray *src = g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem);
	GByteArray *copy = g_byte_array_sized_new(src->len);
	g_byte_array_append(copy, src->data, src->len);
	g_object_unref(mem);
	/* No charset (or an unknown one): UTF-8 if it is, else the usual Windows-1252. */
	if (!*utf8 && g_utf8_validate((const char *)copy->data, (gssize)copy->len, NULL))
		*utf8 = true;
	return copy;
}

/* The body text of a part as clean UTF-8, from HTML when it is HTML. */
static char *part_text(GMimeObject *o)
{
	bool utf8;
	g_autoptr(GByteArray) b = part_bytes(o, &utf8);
	const char *data = (const char *)b->data;
	size_t len = b->len;

	if (is_text(o, "html")) {
		g_autofree char *raw = html_to_text(data, len, utf8);
		return wb_clean_text(raw, strlen(raw), WB_REPLY_SCAN_BYTES);
	}
	g_autofree char *conv = NULL;
	if (!utf8) {
		gsize out_len = 0;
		conv = g_convert(data, (gssize)len, "UTF-8", "WINDOWS-1252", NULL, &out_len, NULL);
		if (conv) {
			data = conv;
			len = out_len;
		}
	}
	g_autofree char *text = wb_clean_text(data, len, WB_REPLY_SCAN_BYTES);
	const char *format = g_mime_object_get_content_type_parameter(o, "format");
	if (format && g_ascii_strcasecmp(format, "flowed") == 0) {
		const char *delsp = g_mime_object_get_content_type_parameter(o, "delsp");
		return unflow(text, delsp && g_ascii_strcasecmp(delsp, "yes") == 0);
	}
	return g_steal_pointer(&text);
}

/* The reply's text: the plain part, or the HTML one when there is no plain one or the
 * plain one is empty. NULL when the mail has no text part at all. */
static char *body_text(GMimeMessage *msg)
{
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	GMimeObject *part = top ? body_part(top, false, 0) : NULL;
	if (!part)
		return NULL;
	char *text = part_text(part);
	if (blank(text) && is_text(part, "plain")) {
		GMimeObject *html = body_part(top, true, 0);
		if (html && is_text(html, "html")) {
			g_free(text);
			text = part_text(html);
		}
	}
	return text;
}

/* ---- headers ------------------------------------------------------------------------- */

/* Every mailbox's addr-spec in list (groups flattened) appended to out, space separated. */
static void add_addrs(GString *out, InternetAddressList *list, int depth, unsigned *count)
{
	if (!list || depth > 2)
		return;
	for (int i = 0; i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			add_addrs(out, internet_address_group_get_members((InternetAddressGroup *)a),
				  depth + 1, count);
			continue;
		}
		const char *addr = internet_address_mailbox_get_addr((InternetAddressMailbox *)a);
		g_autofree char *clean = wb_clean_line(addr, WB_MAX_ADDR_CHARS);
		if (!*clean || strchr(clean, ' ') || *count >= WB_REPLY_MAX_ADDRS)
			continue;
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, clean);
		++*count;
	}
}

static char *from_addr(GMimeMessage *msg)
{
	GString *s = g_string_new(NULL);
	unsigned count = 0;
	add_addrs(s, g_mime_message_get_from(msg), 0, &count);
	char *first = s->len ? g_utf8_strdown(s->str, (gssize)strcspn(s->str, " ")) : NULL;
	g_string_free(s, TRUE);
	return first;
}

/* The display name of the first From: mailbox, one clean line, or NULL. */
static char *from_name(GMimeMessage *msg)
{
	InternetAddressList *l = g_mime_message_get_from(msg);
	InternetAddress *a = l && internet_address_list_length(l) > 0
		? internet_address_list_get_address(l, 0) : NULL;
	const char *name = a ? internet_address_get_name(a) : NULL;
	char *clean = name ? wb_clean_line(name, 100) : NULL;
	if (clean && !*clean)
		g_clear_pointer(&clean, g_free);
	return clean;
}

static char *to_addrs(GMimeMessage *msg)
{
	GString *s = g_string_new(NULL);
	unsigned count = 0;
	add_addrs(s, g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO), 0, &count);
	add_addrs(s, g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_CC), 0, &count);
	GMimeHeaderList *hl = g_mime_object_get_header_list((GMimeObject *)msg);
	for (int i = 0; i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), "Delivered-To") != 0)
			continue;
		InternetAddressList *l = internet_address_list_parse(NULL, g_mime_header_get_value(h));
		if (l) {
			add_addrs(s, l, 0, &count);
			g_object_unref(l);
		}
	}
	return g_string_free(s, FALSE);
}

static void add_ids(GString *out, const char *value, unsigned *count)
{
	if (!value)
		return;
	GMimeReferences *refs = g_mime_references_parse(NULL, value);
	if (!refs)
		return;
	for (int i = 0; i < g_mime_references_length(refs) && *count < WB_REPLY_MAX_IDS; i++) {
		g_autofree char *id = wb_clean_line(g_mime_references_get_message_id(refs, i),
						    WB_MAX_ID_BYTES * 4);
		if (!*id || strchr(id, ' '))
			continue;
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, id);
		++*count;
	}
	g_mime_references_free(refs);
}

static char *thread_ids(GMimeMessage *msg)
{
	GString *s = g_string_new(NULL);
	unsigned count = 0;
	add_ids(s, g_mime_object_get_header((GMimeObject *)msg, "In-Reply-To"), &count);
	add_ids(s, g_mime_object_get_header((GMimeObject *)msg, "References"), &count);
	return g_string_free(s, FALSE);
}

/* The mail the reply answers: In-Reply-To's first Message-ID, else the last of
 * References (RFC 5322 §3.6.4), or NULL. */
static char *answers(GMimeMessage *msg)
{
	const char *names[] = { "In-Reply-To", "References" };
	for (size_t n = 0; n < G_N_ELEMENTS(names); n++) {
		const char *v = g_mime_object_get_header((GMimeObject *)msg, names[n]);
		GMimeReferences *refs = v ? g_mime_references_parse(NULL, v) : NULL;
		int len = refs ? g_mime_references_length(refs) : 0;
		char *id = len ? wb_clean_line(g_mime_references_get_message_id(refs, n ? len - 1 : 0),
					       WB_MAX_ID_BYTES * 4) : NULL;
		if (refs)
			g_mime_references_free(refs);
		if (id && *id && !strchr(id, ' '))
			return id;
		g_free(id);
	}
	return NULL;
}

static char **auth_results(GMimeMessage *msg)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	GMimeHeaderList *hl = g_mime_object_get_header_list((GMimeObject *)msg);
	unsigned n = 0;
	for (int i = 0; i < g_mime_header_list_get_count(hl) && n <= WB_AUTHRES_MAX_FIELDS; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), "Authentication-Results") != 0)
			continue;
		const char *raw = g_mime_header_get_raw_value(h);
		g_strv_builder_add(b, raw ? raw : "");
		n++;
	}
	return g_strv_builder_end(b);
}

/* ---- the whole mail ------------------------------------------------------------------ */

/* RFC 5322 field name: printable ASCII but the colon. */
static bool field_name_ok(const char *name)
{
	if (!name || !*name)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 33 || *p > 126 || *p == ':')
			return false;
	return true;
}

/* The message, or NULL when the bytes do not start with a header (GMime reads any
 * "bytes:" as one, so binary junk would otherwise pass for a mail). */
GMimeMessage *wb_parse_mail(const void *mail, size_t len)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(mail, len);
	GMimeMessage *msg = wb_parse_mail_stream(st);
	g_object_unref(st);
	return msg;
}

GMimeMessage *wb_parse_mail_stream(GMimeStream *st)
{
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	if (!msg)
		return NULL;
	GMimeHeaderList *hl = g_mime_object_get_header_list((GMimeObject *)msg);
	if (g_mime_header_list_get_count(hl) == 0 ||
	    !field_name_ok(g_mime_header_get_name(g_mime_header_list_get_header_at(hl, 0)))) {
		g_object_unref(msg);
		return NULL;
	}
	return msg;
}

struct wb_reply *wb_reply_parse(const void *mail, size_t len, const char *const *extra_patterns,
				GError **error)
{
	if (len > WB_MAX_REPLY_BYTES) {
		g_set_error(error, WB_REPLY_ERROR, WB_REPLY_UNPARSABLE,
			    "the reply mail is %zu bytes, over the %u-byte limit", len,
			    WB_MAX_REPLY_BYTES);
		return NULL;
	}
	compile_patterns();
	GMimeMessage *msg = mail ? wb_parse_mail(mail, len) : NULL;
	if (!msg) {
		g_set_error(error, WB_REPLY_ERROR, WB_REPLY_UNPARSABLE,
			    "the reply is not a mail (no header could be read)");
		return NULL;
	}
	g_autofree char *body = body_text(msg);
	if (!body) {
		g_set_error(error, WB_REPLY_ERROR, WB_REPLY_UNPARSABLE,
			    "the reply mail has no text/plain or text/html part");
		g_object_unref(msg);
		return NULL;
	}
	struct wb_reply *r = g_new0(struct wb_reply, 1);
	r->from_addr = from_addr(msg);
	r->from_name = from_name(msg);
	r->answers = answers(msg);
	r->to_addrs = to_addrs(msg);
	r->in_reply_to = thread_ids(msg);
	r->auth_results = auth_results(msg);
	r->subject = wb_clean_line(g_mime_message_get_subject(msg), 998);
	const char *mid = g_mime_message_get_message_id(msg);
	if (mid && *mid)
		r->message_id = wb_clean_line(mid, WB_MAX_ID_BYTES * 4);
	g_object_unref(msg);

	g_autoptr(GArray) cuts = g_array_new(FALSE, FALSE, sizeof(struct wb_reply_cut));
	g_autofree char *fresh = new_text(body, cuts);
	r->n_cuts = cuts->len;
	r->cuts = (struct wb_reply_cut *)(void *)g_array_free(g_steal_pointer(&cuts), FALSE);
	struct tags t = { 0 };
	g_autofree char *untagged = strip_tags(fresh, &t);
	r->text = wb_clean_text(untagged, strlen(untagged), WB_MAX_TEXT_BYTES);
	r->escalate = t.escalate;
	r->close = t.close;
	r->split = t.split;
	r->transfer_to = t.transfer_to;
	r->transfers = t.transfers;
	r->number = wb_reply_find_number(r->text, extra_patterns);
	return r;
}

void wb_reply_free(struct wb_reply *r)
{
	if (!r)
		return;
	g_free(r->text);
	g_free(r->number);
	g_free(r->transfer_to);
	g_free(r->from_addr);
	g_free(r->from_name);
	g_free(r->answers);
	g_free(r->to_addrs);
	g_free(r->in_reply_to);
	g_free(r->subject);
	g_free(r->message_id);
	g_strfreev(r->auth_results);
	g_free(r->cuts);
	g_free(r);
}
