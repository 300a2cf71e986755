#!/usr/bin/env python3
"""Writes the hand-made seed inputs into fuzz/corpus/<target>/ (run from the repo root).

The fuzzers add their own discoveries beside these; `cargo fuzz cmin` may later merge
them away, which is fine: this script can always put them back.
"""
import datetime
import json
import os
import tomllib
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


# The next evening-group session after 2026-11-24T15:00Z: Wednesday 18:00 New York.
SESSION = int(datetime.datetime(2026, 11, 25, 23, 0, tzinfo=datetime.timezone.utc).timestamp()) // 60

# --- triage: one control byte (bits: 0-1 dialogue, 2 SMS, 3 settled, 4 alumnus,
# 5 Spanish, 6-7 moment), then the message.
messages = {
    "hi": (0x00, "hi"),
    "hours-en": (0x00, "how many hours a week is the program?"),
    "hours-es": (0x20, "¿cuántas horas a la semana son?"),
    "parking-es": (0x20, "hay estacionamiento en la clínica"),
    "crisis-en": (0x08, "i want to kill myself"),
    "crisis-leet": (0x00, "k1ll mys3lf tonight"),
    "crisis-es": (0x28, "quiero morir, ya no puedo más"),
    "overdose": (0x18, "I took too many pills"),
    "idiom": (0x00, "this traffic is killing me lol"),
    "clinical": (0x00, "should I stop taking my meds?"),
    "support": (0x08, "i'm so stressed and lonely today"),
    "smalltalk": (0x00, "thanks, you're great"),
    "start": (0x00, "/start"),
    "start-invite": (0x00, "/start AbCdEfGhIjKlMnOp"),
    "faq": (0x00, "/faq"),
    "privacy": (0x08, "/privacy"),
    "forget": (0x00, "/forget"),
    "stop": (0x04, "STOP"),
    "ayuda": (0x24, "AYUDA"),
    "choice": (0x04, "2"),
    "timezone-typed": (0x01, "America/Chicago"),
    "timezone-city": (0x01, "chicago"),
    "confirm-forget": (0x02, "yes"),
    "alias": (0x03, "Sam"),
    "consent": (0x00, "c:y:en"),
    "consent-es": (0x20, "c:y:es"),
    "consent-invite": (0x00, "c:y:en:AbCdEfGhIjKlMnOp"),
    "decline": (0x00, "c:n:en"),
    "tz-button": (0x01, "tz:America/Chicago"),
    "lang": (0x00, "l:es"),
    "forget-yes": (0x02, "f:y"),
    "forget-no": (0x02, "f:n"),
    "safe-no": (0x08, "s:n"),
    "outreach": (0x08, "o:y:c"),
    "share": (0x08, "x:y"),
    "topic": (0x00, "t:practical"),
    "entry": (0x00, "q:what-is-iop"),
    "program": (0x08, "p:evening"),
    "rsvp": (0x08, "v:%d:a" % SESSION),
    "rsvp-dst": (0x48, "v:1234:g"),
    "mood": (0x18, "k:m:1"),
    "used": (0x18, "k:u:y"),
    "reach-out": (0x18, "k:r:y"),
    "new-year": (0xd8, "/timezone"),
    "fall-back": (0x98, "hello"),
    "emoji": (0x00, "😀🙏🏽 ok"),
    "rtl": (0x00, "\u202eevil\u202c"),
}
for name, (control, text) in messages.items():
    write("triage", name, bytes([control]) + text.encode("utf-8"))

# --- config
write("config", "example", read("waypoint.example.toml"))
write("config", "minimal", "[bot]\ndefault_language = \"es\"\n")
write("config", "sms", """[resources]
clinic_line = "+15550100100"

[sms]
listen = "127.0.0.1:8088"
webhook_url = "https://waypoint.example.org/sms/inbound"
from = "+15550100000"
name = "Northside Clinic"
per_second = 1.0
max_per_day = 1
max_per_week = 3
send_window = "08:00-21:00"

[metrics]
listen = "127.0.0.1:9898"
""")
write("config", "program", """[bot]
default_timezone = "Pacific/Chatham"

[schedule]
quiet_hours = "22:30-06:15"
milestone_time = "23:59"

[[schedule.checkins]]
until_day = 7
cron = "15 2 * * *"
[[schedule.checkins]]
cron = "0 12 29 2 *"

[[program]]
id = "dst"
name = "Night group"
timezone = "America/New_York"
reminders = ["24h", "30m"]
cancelled = ["2026-03-08"]

[[program.session]]
cron = "30 2 * * SUN"
duration = "90m"
place = "Room 1"

[staff]
members = [{ id = 123456789, name = "Dana" }]
group_chat_id = -1001234567890
""")

# --- content: one selector byte (bits 0-2: 0 en/replies, 1 es/replies, 2 en/faq,
# 3 es/faq_terms, 4 en/safety, 5 es/safety, 6 rules, 7 the clinic's FAQ file; bit 3:
# sparse, the file alone; bit 7: exercise in Spanish), then the file.
# The compact content the content target loads (see KEEP and PATTERNS_PER_CONCEPT in
# fuzz_targets/content.rs): seeds made the same way load without a problem there.
KEEP = ["what-is-iop", "vs-php", "hours", "length", "therapies", "insurance", "first-day",
        "what-to-bring", "bot-capabilities", "bot-crisis"]
PATTERNS_PER_CONCEPT = 3


def toml_value(v):
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def compact_safety(locale):
    with open(os.path.join(ROOT, "messages", locale, "safety.toml"), "rb") as f:
        concepts = tomllib.load(f)["concepts"]
    lines = ["[concepts]"]
    for name, patterns in concepts.items():
        lines.append("%s = %s" % (name, toml_value(patterns[:PATTERNS_PER_CONCEPT])))
    return "\n".join(lines) + "\n"


def compact_faq(locale):
    with open(os.path.join(ROOT, "messages", locale, "faq.toml"), "rb") as f:
        faq = tomllib.load(f)
    out = []
    for topic in faq["topic"]:
        out.append("[[topic]]")
        out += ["%s = %s" % (k, toml_value(v)) for k, v in topic.items()]
        out.append("")
    for entry in faq["entry"]:
        if entry["id"] not in KEEP:
            continue
        if "related" in entry:
            entry["related"] = [r for r in entry["related"] if r in KEEP]
        out.append("[[entry]]")
        out += ["%s = %s" % (k, toml_value(v)) for k, v in entry.items()]
        out.append("")
    return "\n".join(out)


def first_lines(path, limit):
    text = read(path).decode("utf-8")
    return "\n".join(text.splitlines()[:limit]) + "\n"

write("content", "en-replies", b"\x00" + read("messages/en/replies.toml"))
write("content", "es-replies-head", b"\x01" + first_lines("messages/es/replies.toml", 40).encode())
write("content", "es-faq-terms", b"\x03" + read("messages/es/faq_terms.toml"))
write("content", "en-faq", b"\x02" + compact_faq("en").encode())
write("content", "en-safety", b"\x04" + compact_safety("en").encode())
write("content", "es-safety", b"\x85" + compact_safety("es").encode())
write("content", "rules", b"\x06" + read("messages/rules.toml"))
write("content", "clinic", b"\x07" + """
[[topic]]
locale = "en"
id = "clinic"
title = "Our clinic"

[[topic]]
locale = "es"
id = "clinic"
title = "Nuestra clínica"

[[entry]]
locale = "en"
id = "parking"
topic = "clinic"
question = "Where do I park?"
phrasings = ["is there parking at the clinic", "where can i leave my car"]
keywords = ["parking", "park", "car"]
answer = "Free parking is behind the building on Elm Street."
source = "Clinic front desk"
reviewed = "2026-11-20"
related = ["what-to-bring"]

[[entry]]
locale = "es"
id = "parking"
topic = "clinic"
question = "¿Dónde me estaciono?"
phrasings = ["hay estacionamiento en la clínica"]
keywords = ["estacionamiento", "estacionar", "carro"]
answer = "Hay estacionamiento gratis detrás del edificio, en la calle Elm."
source = "Recepción de la clínica"
reviewed = "2026-11-20"
""".encode())
write("content", "clinic-override", b"\x07" + """[[entry]]
locale = "en"
id = "what-to-bring"
topic = "practical"
question = "What should I bring?"
phrasings = ["what do i need to bring on the first day"]
answer = "Bring a photo ID, your insurance card and a list of your medicines."
source = "Clinic intake packet"
reviewed = "2026-11-20"
""".encode())

write("content", "sparse-en-safety", b"\x0c" + compact_safety("en").encode())
write("content", "sparse-rules", b"\x0e" + read("messages/rules.toml"))
write("content", "sparse-es-faq", b"\x0a" + compact_faq("es").encode())
write("content", "sparse-es-replies", b"\x09" + read("messages/es/replies.toml"))

# --- callback: button data as the engine writes it, and near misses.
callbacks = [
    "c:y:en", "c:n:es", "c:y:en:AbCdEfGhIjKlMnOp", "c:y:es-MX", "x:y", "x:n",
    "tz:America/Chicago", "tz:America/Argentina/ComodRivadavia", "tz:Etc/GMT+5", "l:es",
    "f:y", "f:n", "s:y", "s:n", "o:y:c", "o:n:s", "t:practical", "q:what-is-iop",
    "p:evening", "v:1234:g", "v:%d:a" % SESSION, "v:-9223372036854775808:l", "k:m:5",
    "k:u:p", "k:r:n", "a:c:18446744073709551615", "a:d:7", "b:y", "b:n", "k:m:06",
    "v:+12:g", "tz::", "c:y:EN_us",
]
for i, data in enumerate(callbacks):
    write("callback", "%02d" % i, data)

# --- sms_webhook: `<signature header>\n<form body>`, as Twilio posts an inbound SMS.
def form(body, sid="SM2003cbd5e6a3701999aa3e5f20ff2787", sender="+14159354345"):
    params = [
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", sid), ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"), ("FromZip", "94107"), ("SmsSid", sid),
        ("FromState", "CA"), ("SmsStatus", "received"), ("FromCity", "SAN FRANCISCO"),
        ("Body", body), ("FromCountry", "US"), ("To", "+14158141819"), ("ToZip", "94105"),
        ("NumSegments", "1"), ("MessageSid", sid),
        ("AccountSid", "ACba8bc05eacf94afdae398e642c9cc32d"), ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    return urllib.parse.urlencode(params)

sms = {
    "hello": ("mxeiv65lEe0b8L6LdVw2jgJi8yw=", form("Hello there")),
    "stop": ("", form("Stop.")),
    "parar": ("AAAA", form("PARAR")),
    "choice": ("  RSOYDt4T1cUTdK1PDd93/VVr8B8=\r", form("2\ufe0f\u20e3")),
    "join": ("not base64!!", form("JOIN 7K3M-QX2P-9WTR")),
    "spanish": ("", form("¿Cuántas horas a la semana son? Gracias 😀")),
    "long": ("", form(("I have a question about the program. " * 30).strip())),
    "paragraphs": ("", form("First line\n\nSecond paragraph with “smart quotes” — and a dash…\nthird")),
    "whatsapp": ("", form("hi", sender="whatsapp:+14159354345")),
    "bare-code": ("", form("7k3m-qx2p-9wtr")),
    "gsm-ext": ("", form("{[~^|€]}\\ " * 20)),
}
for name, (header, body) in sms.items():
    write("sms_webhook", name, header.encode() + b"\n" + body.encode())
