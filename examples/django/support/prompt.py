"""The one prompt renderer: a plain context dict in, the prompt text out.

Every version of the context builder returns the same kind of dict and this module alone turns
it into text, so two versions give different prompts only when they fetched different data.
The layout is ctxbench's reference layout (sections SYSTEM, CUSTOMER, HISTORY, PRODUCTS,
WEBSITES, FAQ, QUESTION); NULL renders as empty text, never "None".
"""

import unicodedata

HISTORY_MESSAGES = 6
PRODUCTS = 6
WEBSITES = 2
PAGES_PER_WEBSITE = 5
FAQS = 8
PAGE_EXCERPT_CODE_POINTS = 600


def text(value):
    return "" if value is None else str(value)


def speaker(message_type, customer_first_name):
    """A customer message's customer's first name (or ``customer``), else the message type."""
    if message_type == "customer":
        return "customer" if customer_first_name is None else customer_first_name
    return text(message_type)


def message_tokens(content):
    """Distinct tokens of a message, in order: lowercase runs of letters, marks and digits, >= 3 code points.

    Python's ``\\w`` leaves out combining marks (Persian vowel signs), so the runs are cut by
    Unicode category instead.

    >>> message_tokens("Do you ship to Köln? ok")
    ['you', 'ship', 'köln']
    """
    tokens = []
    seen = set()
    run = []

    def close_run():
        token = "".join(run)
        if len(token) >= 3 and token not in seen:
            seen.add(token)
            tokens.append(token)
        del run[:]

    for ch in text(content).lower():
        if unicodedata.category(ch)[0] in "LMN":
            run.append(ch)
        else:
            close_run()
    close_run()
    return tokens


def rank_faqs(faqs, content):
    """The FAQS best FAQs for a message: distinct message tokens among the FAQ's keywords
    desc, confidence_score desc (NULL last), id asc. ``faqs`` are dicts with keywords,
    confidence_score, id (text), question, answer."""
    tokens = message_tokens(content)

    def key(faq):
        keywords = set(k for k in (faq["keywords"] or []) if isinstance(k, str))
        score = sum(1 for t in tokens if t in keywords)
        confidence = faq["confidence_score"]
        return (-score, confidence is None, -(confidence or 0.0), faq["id"].encode("utf-8"))

    return sorted(faqs, key=key)[:FAQS]


def render_prompt(context):
    """The prompt for one turn, from the dict the context builders return."""
    out = []

    def section(title, lines):
        out.append("## " + title)
        out.extend(lines)
        out.append("")

    s = context["system"]
    section(
        "SYSTEM",
        []
        if s is None
        else [
            "Business: " + text(s["business_name"]),
            "Tone: " + text(s["tone"]),
            "Instructions:",
            text(s["manual_prompt"]),
            "Learned instructions:",
            text(s["auto_prompt"]),
        ],
    )
    c = context["customer"]
    section(
        "CUSTOMER",
        []
        if c is None
        else [
            "First name: " + text(c["first_name"]),
            "Last name: " + text(c["last_name"]),
            "Phone: " + text(c["phone_number"]),
            "Channel: " + text(c["source"]),
        ],
    )
    section("HISTORY", ["%s: %s" % (h["speaker"], text(h["content"])) for h in context["history"]])
    products = []
    for p in context["products"]:
        products += [
            "- %s [%s] %s" % (text(p["title"]), text(p["product_type"]), text(p["price"])),
            "  Description: " + text(p["description"]),
            "  Link: " + text(p["link"]),
            "  Tags: " + ", ".join(text(t) for t in p["tags"]),
        ]
    section("PRODUCTS", products)
    websites = ["- %s <%s>: %s" % (text(w["name"]), text(w["url"]), text(w["description"])) for w in context["websites"]]
    for p in context["pages"]:
        websites += [
            "- Page of %s: %s <%s>" % (text(p["website"]), text(p["title"]), text(p["url"])),
            "  Summary: " + text(p["summary"]),
            "  Content: " + text(p["excerpt"]),
        ]
    section("WEBSITES", websites)
    faqs = []
    for f in context["faqs"]:
        faqs += ["Q: " + text(f["question"]), "A: " + text(f["answer"])]
    section("FAQ", faqs)
    out += ["## QUESTION", text(context["question"]), ""]
    return "\n".join(out)
