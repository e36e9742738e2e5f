"""Reference data for the sample generator: names, places, products, code lists.

Everything here is static, so a given seed always draws from the same lists.
"""

from __future__ import annotations

# --- timeline (milliseconds since the Unix epoch, UTC) --------------------------------------

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

T0 = 1_672_531_200_000  # 2023-01-01T00:00:00Z: start of the initial load
T1 = 1_751_328_000_000  # 2025-07-01T00:00:00Z: end (exclusive) of the initial load; drop 1 day

CAMPAIGN_EVERY = DAY * 7 // 2  # an email campaign every 3.5 days during the initial load
CAMPAIGN_HOUR = 10 * HOUR

# --- people -----------------------------------------------------------------------------

COUNTRIES = ["US", "GB", "DE", "FR", "CA", "AU", "NL"]
COUNTRY_P = [0.55, 0.15, 0.08, 0.07, 0.05, 0.05, 0.05]

CITIES = {
    "US": [
        "New York",
        "Los Angeles",
        "Chicago",
        "Houston",
        "Phoenix",
        "Philadelphia",
        "San Antonio",
        "San Diego",
        "Dallas",
        "Austin",
        "Seattle",
        "Denver",
        "Boston",
        "Atlanta",
        "Miami",
        "Portland",
        "San Francisco",
        "Minneapolis",
    ],
    "GB": [
        "London",
        "Manchester",
        "Birmingham",
        "Leeds",
        "Glasgow",
        "Bristol",
        "Edinburgh",
        "Liverpool",
    ],
    "DE": [
        "Berlin",
        "Hamburg",
        "München",
        "Köln",
        "Frankfurt am Main",
        "Stuttgart",
        "Düsseldorf",
        "Leipzig",
    ],
    "FR": ["Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Bordeaux", "Lille"],
    "CA": ["Toronto", "Montréal", "Vancouver", "Calgary", "Ottawa", "Edmonton"],
    "AU": ["Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Canberra"],
    "NL": ["Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen"],
}

# (display name, ascii form used in email addresses)
FIRST_NAMES = [
    ("James", "james"),
    ("Mary", "mary"),
    ("John", "john"),
    ("Patricia", "patricia"),
    ("Robert", "robert"),
    ("Jennifer", "jennifer"),
    ("Michael", "michael"),
    ("Linda", "linda"),
    ("William", "william"),
    ("Elizabeth", "elizabeth"),
    ("David", "david"),
    ("Barbara", "barbara"),
    ("Richard", "richard"),
    ("Susan", "susan"),
    ("Joseph", "joseph"),
    ("Jessica", "jessica"),
    ("Thomas", "thomas"),
    ("Sarah", "sarah"),
    ("Charles", "charles"),
    ("Karen", "karen"),
    ("Daniel", "daniel"),
    ("Nancy", "nancy"),
    ("Matthew", "matthew"),
    ("Lisa", "lisa"),
    ("Anthony", "anthony"),
    ("Emily", "emily"),
    ("Mark", "mark"),
    ("Ashley", "ashley"),
    ("Steven", "steven"),
    ("Michelle", "michelle"),
    ("Andrew", "andrew"),
    ("Amanda", "amanda"),
    ("Kevin", "kevin"),
    ("Melissa", "melissa"),
    ("Brian", "brian"),
    ("Laura", "laura"),
    ("Jason", "jason"),
    ("Rachel", "rachel"),
    ("Ryan", "ryan"),
    ("Olivia", "olivia"),
    ("Ethan", "ethan"),
    ("Emma", "emma"),
    ("Noah", "noah"),
    ("Sophia", "sophia"),
    ("Liam", "liam"),
    ("Ava", "ava"),
    ("Lucas", "lucas"),
    ("Mia", "mia"),
    ("Oliver", "oliver"),
    ("Isla", "isla"),
    ("Harry", "harry"),
    ("Amelia", "amelia"),
    ("George", "george"),
    ("Grace", "grace"),
    ("Jack", "jack"),
    ("Chloe", "chloe"),
    ("Lukas", "lukas"),
    ("Lena", "lena"),
    ("Jonas", "jonas"),
    ("Hannah", "hannah"),
    ("Felix", "felix"),
    ("Jürgen", "juergen"),
    ("Sören", "soeren"),
    ("Léa", "lea"),
    ("Chloé", "chloe"),
    ("Hugo", "hugo"),
    ("Louis", "louis"),
    ("Camille", "camille"),
    ("Manon", "manon"),
    ("Théo", "theo"),
    ("Zoë", "zoe"),
    ("Sem", "sem"),
    ("Daan", "daan"),
    ("Julia", "julia"),
    ("Fleur", "fleur"),
    ("José", "jose"),
    ("María", "maria"),
    ("Carlos", "carlos"),
    ("Sofia", "sofia"),
    ("Mateo", "mateo"),
    ("Priya", "priya"),
    ("Arjun", "arjun"),
    ("Wei", "wei"),
    ("Mei", "mei"),
    ("Hiroshi", "hiroshi"),
    ("Yuki", "yuki"),
    ("Min-jun", "minjun"),
    ("Ji-woo", "jiwoo"),
    ("Fatima", "fatima"),
    ("Omar", "omar"),
    ("Aisha", "aisha"),
    ("Ali", "ali"),
    ("Sean", "sean"),
    ("Siobhan", "siobhan"),
    ("Connor", "connor"),
    ("Aoife", "aoife"),
    ("Ivan", "ivan"),
    ("Anna", "anna"),
    ("Piotr", "piotr"),
]

LAST_NAMES = [
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Garcia", "garcia"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Rodriguez", "rodriguez"),
    ("Martinez", "martinez"),
    ("Hernandez", "hernandez"),
    ("Lopez", "lopez"),
    ("Gonzalez", "gonzalez"),
    ("Wilson", "wilson"),
    ("Anderson", "anderson"),
    ("Thomas", "thomas"),
    ("Taylor", "taylor"),
    ("Moore", "moore"),
    ("Jackson", "jackson"),
    ("Martin", "martin"),
    ("Lee", "lee"),
    ("Perez", "perez"),
    ("Thompson", "thompson"),
    ("White", "white"),
    ("Harris", "harris"),
    ("Sanchez", "sanchez"),
    ("Clark", "clark"),
    ("Ramirez", "ramirez"),
    ("Lewis", "lewis"),
    ("Robinson", "robinson"),
    ("Walker", "walker"),
    ("Young", "young"),
    ("Allen", "allen"),
    ("King", "king"),
    ("Wright", "wright"),
    ("Scott", "scott"),
    ("Torres", "torres"),
    ("Nguyen", "nguyen"),
    ("Hill", "hill"),
    ("Flores", "flores"),
    ("Green", "green"),
    ("Adams", "adams"),
    ("Nelson", "nelson"),
    ("Baker", "baker"),
    ("Hall", "hall"),
    ("Rivera", "rivera"),
    ("Campbell", "campbell"),
    ("Mitchell", "mitchell"),
    ("Carter", "carter"),
    ("Roberts", "roberts"),
    ("Evans", "evans"),
    ("Hughes", "hughes"),
    ("Patel", "patel"),
    ("Singh", "singh"),
    ("Khan", "khan"),
    ("Murphy", "murphy"),
    ("O'Brien", "obrien"),
    ("Kelly", "kelly"),
    ("Müller", "mueller"),
    ("Schmidt", "schmidt"),
    ("Schneider", "schneider"),
    ("Fischer", "fischer"),
    ("Weber", "weber"),
    ("Meyer", "meyer"),
    ("Wagner", "wagner"),
    ("Becker", "becker"),
    ("Schäfer", "schaefer"),
    ("Bernard", "bernard"),
    ("Dubois", "dubois"),
    ("Durand", "durand"),
    ("Lefèvre", "lefevre"),
    ("Moreau", "moreau"),
    ("Laurent", "laurent"),
    ("Girard", "girard"),
    ("Petit", "petit"),
    ("de Vries", "devries"),
    ("van Dijk", "vandijk"),
    ("Bakker", "bakker"),
    ("Janssen", "janssen"),
    ("Visser", "visser"),
    ("de Boer", "deboer"),
    ("Mulder", "mulder"),
    ("Chen", "chen"),
    ("Wang", "wang"),
    ("Li", "li"),
    ("Zhang", "zhang"),
    ("Kim", "kim"),
    ("Park", "park"),
    ("Tanaka", "tanaka"),
    ("Sato", "sato"),
    ("Rossi", "rossi"),
    ("Russo", "russo"),
    ("Silva", "silva"),
    ("Santos", "santos"),
    ("Costa", "costa"),
    ("Kowalski", "kowalski"),
    ("Nowak", "nowak"),
    ("Jensen", "jensen"),
    ("Hansen", "hansen"),
    ("Andersson", "andersson"),
    ("Cohen", "cohen"),
    ("Ivanova", "ivanova"),
]

# Email address shapes; every one ends in a letter so the unique number appended after it
# makes the whole address unique. Weights sum to 1.
EMAIL_STYLES = ["{f}.{l}", "{f}{l}", "{fi}.{l}", "{f}_{l}", "{f}.{li}", "{l}.{f}"]
EMAIL_STYLE_P = [0.38, 0.2, 0.14, 0.1, 0.08, 0.1]

GENERIC_DOMAINS = [
    ("gmail.com", 0.38),
    ("yahoo.com", 0.1),
    ("hotmail.com", 0.08),
    ("outlook.com", 0.1),
    ("icloud.com", 0.08),
    ("aol.com", 0.03),
    ("protonmail.com", 0.03),
]
COUNTRY_DOMAINS = {
    "US": ["comcast.net", "att.net", "verizon.net"],
    "GB": ["btinternet.com", "yahoo.co.uk", "sky.com"],
    "DE": ["gmx.de", "web.de", "t-online.de"],
    "FR": ["orange.fr", "free.fr", "laposte.net"],
    "CA": ["rogers.com", "shaw.ca", "sympatico.ca"],
    "AU": ["bigpond.com", "optusnet.com.au", "iinet.net.au"],
    "NL": ["ziggo.nl", "kpnmail.nl", "planet.nl"],
}
NEW_EMAIL_DOMAINS = ["fastmail.com", "hey.com", "me.com", "live.com", "pm.me", "mail.com"]

PLACEHOLDER_EMAILS = ["test@test.com", "noemail@example.com", "none@none.com"]
PLACEHOLDER_PHONES = ["0000000000", "1234567890", "n/a"]
BAD_PHONES = ["call me", "555-CALL", "12", "ask for Sam", "+", "ext. 42"]
BAD_TIMESTAMPS = ["not a date", "2024-13-45", None, "0000-00-00 00:00:00", "31/02/2024 25:61"]
BAD_AMOUNTS = ["abc", "12,34.5", "N/A", "1.2.3", "$-"]

# Phone numbering plans. Each country: national prefixes (all of one length), subscriber
# length, the lowest allowed first subscriber digit, and formatting templates ("#" = next
# national digit) with weights. A person's national number is unique within the country.
PHONE_PLANS = {
    "US": {
        "prefixes": [
            "212",
            "213",
            "312",
            "415",
            "512",
            "617",
            "702",
            "206",
            "303",
            "305",
            "404",
            "503",
            "602",
            "713",
            "214",
            "310",
            "619",
            "646",
            "718",
            "773",
            "818",
            "917",
        ],
        "subscriber": 7,
        "first_digit_min": 2,
        "templates": [
            ("+1 (###) ###-####", 0.22),
            ("###.###.####", 0.14),
            ("##########", 0.2),
            ("1-###-###-####", 0.1),
            ("001 ### ### ####", 0.04),
            ("(###) ###-####", 0.18),
            ("+1##########", 0.12),
        ],
    },
    "CA": {
        "prefixes": ["416", "647", "514", "438", "604", "778", "403", "587", "613", "780"],
        "subscriber": 7,
        "first_digit_min": 2,
        "templates": [
            ("+1 (###) ###-####", 0.25),
            ("###-###-####", 0.25),
            ("##########", 0.15),
            ("1-###-###-####", 0.1),
            ("+1##########", 0.15),
            ("(###) ###-####", 0.1),
        ],
    },
    "GB": {
        "prefixes": ["20", "74", "75", "77", "78", "79"],
        "subscriber": 8,
        "first_digit_min": 0,
        "templates": [
            ("+44 ## #### ####", 0.25),
            ("0## #### ####", 0.3),
            ("0044 ## #### ####", 0.08),
            ("+44##########", 0.17),
            ("0##########", 0.2),
        ],
    },
    "DE": {
        "prefixes": ["151", "152", "157", "160", "170", "171", "172", "176", "177", "178"],
        "subscriber": 8,
        "first_digit_min": 0,
        "templates": [
            ("+49 ### ########", 0.25),
            ("0### ########", 0.25),
            ("0049 ### ########", 0.08),
            ("+49###########", 0.17),
            ("0###/########", 0.15),
            ("(0###) ########", 0.1),
        ],
    },
    "FR": {
        "prefixes": ["1", "6", "7"],
        "subscriber": 8,
        "first_digit_min": 0,
        "templates": [
            ("+33 # ## ## ## ##", 0.25),
            ("0# ## ## ## ##", 0.35),
            ("0033 # ## ## ## ##", 0.07),
            ("+33#########", 0.13),
            ("0#.##.##.##.##", 0.2),
        ],
    },
    "AU": {
        "prefixes": ["2", "3", "4", "7", "8"],
        "subscriber": 8,
        "first_digit_min": 0,
        "templates": [
            ("+61 ### ### ###", 0.25),
            ("0### ### ###", 0.35),
            ("0061 ### ### ###", 0.07),
            ("+61#########", 0.18),
            ("0#########", 0.15),
        ],
    },
    "NL": {
        "prefixes": ["61", "62", "63", "64", "65", "20"],
        "subscriber": 7,
        "first_digit_min": 0,
        "templates": [
            ("+31 # ########", 0.25),
            ("0# ########", 0.3),
            ("0031 # ########", 0.07),
            ("+31#########", 0.18),
            ("0#-## ## ## ##", 0.2),
        ],
    },
}

# --- CRM ----------------------------------------------------------------------------------

LIFECYCLE_STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
LIFECYCLE_P = [0.2, 0.3, 0.12, 0.06, 0.05, 0.22, 0.02, 0.03]

COMPANIES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Retail",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Pied Piper",
    "Vandelay Industries",
    "Soylent",
    "Tyrell Systems",
    "Cyberdyne",
    "Wonka Foods",
    "Aperture Labs",
    "Northwind Traders",
    "Contoso",
    "Fabrikam",
    "Blue Harbor Logistics",
    "Greenfield Health",
    "Summit Analytics",
    "Brightline Media",
    "Oakridge Partners",
    "Lumen Software",
    "Redwood Studio",
    "Atlas Outdoor",
]
JOB_TITLES = [
    "Marketing Manager",
    "Software Engineer",
    "Product Manager",
    "Sales Director",
    "Data Analyst",
    "Designer",
    "Teacher",
    "Nurse",
    "Consultant",
    "Founder",
    "Operations Lead",
    "Student",
    "Accountant",
    "Customer Success Manager",
    "VP Marketing",
]

DELETED_TRUE = ["true", "1", "TRUE"]
DELETED_FALSE = ["false", "0", "FALSE"]
DELETED_VARIANT_P = [0.86, 0.08, 0.06]

# --- shop ---------------------------------------------------------------------------------

ACCEPTS_MARKETING = ["true", "false", "yes", "no", None]
ACCEPTS_MARKETING_P = [0.36, 0.3, 0.1, 0.1, 0.14]

ORDER_STATUSES = ["paid", "partially_refunded", "refunded", "cancelled"]
ORDER_STATUS_P = [0.8, 0.04, 0.05, 0.11]

# category -> (sku prefix, [(product name, unit price in cents)])
CATALOG = {
    "Apparel": (
        "APP",
        [
            ("Classic Cotton Tee", 2400),
            ("Merino Crew Sweater", 8900),
            ("Slim Chino Pants", 6800),
            ("Linen Button-Down Shirt", 5900),
            ("Hooded Sweatshirt", 6400),
            ("Rain Shell Jacket", 12900),
            ("Denim Jacket", 9800),
            ("Athletic Shorts", 3200),
        ],
    ),
    "Footwear": (
        "FTW",
        [
            ("Everyday Sneaker", 8500),
            ("Trail Running Shoe", 12500),
            ("Leather Chelsea Boot", 17900),
            ("Canvas Slip-On", 4900),
            ("Wool Runner", 9500),
            ("Hiking Boot", 15900),
            ("Recovery Sandal", 3900),
        ],
    ),
    "Accessories": (
        "ACC",
        [
            ("Leather Belt", 4500),
            ("Canvas Tote Bag", 2800),
            ("Wool Beanie", 2200),
            ("Polarized Sunglasses", 7900),
            ("Leather Wallet", 5500),
            ("Baseball Cap", 2600),
            ("Everyday Backpack", 8900),
        ],
    ),
    "Home": (
        "HOM",
        [
            ("Ceramic Mug Set", 3400),
            ("Linen Duvet Cover", 14900),
            ("Scented Candle", 2900),
            ("Throw Blanket", 6900),
            ("Cotton Bath Towel", 1900),
            ("Cast Iron Skillet", 4800),
            ("Glass Carafe", 2450),
        ],
    ),
    "Beauty": (
        "BEA",
        [
            ("Hydrating Face Cream", 3800),
            ("Vitamin C Serum", 4200),
            ("Lip Balm Trio", 1250),
            ("Body Wash", 1400),
            ("Shampoo Bar", 1150),
            ("Sunscreen SPF 50", 2299),
            ("Eau de Parfum", 8500),
        ],
    ),
    "Outdoor": (
        "OUT",
        [
            ("Insulated Water Bottle", 3500),
            ("Camping Hammock", 6900),
            ("Trekking Poles", 8900),
            ("Rechargeable Headlamp", 4499),
            ("Compact Tent", 24900),
            ("Down Sleeping Bag", 19900),
            ("Rain Poncho", 1999),
        ],
    ),
}

PAGE_PATHS = [
    "/",
    "/collections/apparel",
    "/collections/footwear",
    "/collections/home",
    "/collections/sale",
    "/cart",
    "/account",
    "/blog/spring-lookbook",
    "/search?q=boots",
    "/pages/shipping",
    "/pages/returns",
]
SIGNUP_METHODS = ["email", "google", "apple"]
TRACK_EVENTS = [
    "Page Viewed",
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Signed Up",
]
GENERIC_TRACK_P = [0.55, 0.3, 0.12, 0.03]  # the first four events, browsing without an order

# --- email ----------------------------------------------------------------------------------

EMAIL_EVENT_TYPES = ["sent", "delivered", "open", "click", "bounce", "unsubscribe", "spam_report"]

# --- support ------------------------------------------------------------------------------

TICKET_CHANNELS = ["email", "chat", "phone", "web"]
TICKET_CHANNEL_P = [0.4, 0.3, 0.15, 0.15]
TICKET_PRIORITIES = ["low", "normal", "high", "urgent"]
TICKET_PRIORITY_P = [0.2, 0.55, 0.2, 0.05]
TICKET_STATUSES = ["open", "pending", "solved", "closed"]
TICKET_STATUS_OLD_P = [0.04, 0.04, 0.45, 0.47]
TICKET_STATUS_RECENT_P = [0.5, 0.3, 0.2, 0.0]
SATISFACTION_P = [0.06, 0.06, 0.13, 0.3, 0.45]

# --- consent and privacy -----------------------------------------------------------------------

CONSENT_PURPOSES = ["email_marketing", "sms_marketing", "ads_personalization", "data_sale_sharing"]
CONSENT_STATUSES = ["granted", "denied", "revoked"]
CONSENT_SOURCES = ["web_form", "checkout", "preference_center", "crm_import", "support"]
CONSENT_GRANT_SOURCE_P = [0.4, 0.3, 0.1, 0.17, 0.03]
CONSENT_REVOKE_SOURCE_P = [0.25, 0.0, 0.6, 0.0, 0.15]
IDENTIFIER_TYPES = ["email", "phone", "user_id", "contact_id"]

# --- timestamps -----------------------------------------------------------------------------

# (text, seconds east of UTC) used by the "with offset" timestamp shape
UTC_OFFSETS = [
    ("+00:00", 0),
    ("+01:00", 3600),
    ("+02:00", 7200),
    ("-04:00", -14400),
    ("-05:00", -18000),
    ("-07:00", -25200),
    ("-08:00", -28800),
    ("+10:00", 36000),
    ("+05:30", 19800),
]
