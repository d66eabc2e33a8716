"""The AI context of one turn (a customer message), built three ways with the Django ORM.

- ``before``: the backend's code before its optimisation, default ORM behaviour: every
  ``message.customer`` and ``page.website`` read is a query of its own (N+1), pages are fetched
  per website, every approved FAQ is fetched and ranked in Python.
- ``after``: the four changes of the optimisation report, made to run. Its change 1 as written,
  ``select_related('conversation', 'customer').only('type', 'content', 'created_at')``, defers
  the very relations it joins, which Django refuses (``FieldError``: "... cannot be both deferred
  and traversed using select_related at the same time"); ``seed`` runs it as written to show
  that. ``after`` joins the customer and keeps the one customer column the prompt uses.
- ``wrong``: ``after`` with one history message fewer, a plausible slip that only a prompt
  comparison catches.

All of them return the same plain dict, rendered by ``support.prompt.render_prompt``.
"""

from django.db.models import Q
from django.db.models.functions import Collate

from support.models import FAQ, AIPrompt, Message, WebsitePage, WebsiteSource, WKProduct
from support.prompt import (
    HISTORY_MESSAGES,
    PAGE_EXCERPT_CODE_POINTS,
    PAGES_PER_WEBSITE,
    PRODUCTS,
    WEBSITES,
    rank_faqs,
    speaker,
)

VERSIONS = ("before", "after", "wrong", "seed")


def _earlier_messages(message):
    """Messages of message's conversation before it: (created_at, id) < (M.created_at, M.id),
    newest first. Ids compare in byte order (COLLATE "C"), whatever the database's locale."""
    return (
        Message.objects.filter(conversation_id=message.conversation_id)
        .alias(id_bytes=Collate("id", "C"))
        .filter(Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, id_bytes__lt=message.id))
        .order_by("-created_at", "-id_bytes")
    )


def _history(message, version):
    if version == "before":
        recent = _earlier_messages(message)[:HISTORY_MESSAGES]
    elif version == "seed":
        # The report's change 1, exactly as written.
        recent = (
            _earlier_messages(message)
            .select_related("conversation", "customer")
            .only("type", "content", "created_at")[:HISTORY_MESSAGES]
        )
    else:
        limit = HISTORY_MESSAGES - 1 if version == "wrong" else HISTORY_MESSAGES
        recent = (
            _earlier_messages(message)
            .select_related("customer")
            .only("type", "content", "created_at", "customer__first_name")[:limit]
        )
    history = []
    for m in reversed(list(recent)):
        # As the backend's loop did: message.customer for every message that has one (a query
        # each, unless select_related fetched it).
        author = m.customer
        history.append({"speaker": speaker(m.type, None if author is None else author.first_name), "content": m.content})
    return history


def _products(user, version):
    products = WKProduct.objects.filter(user=user, is_active=True)
    if version != "before":
        products = products.only("title", "product_type", "description", "price", "link", "tags", "updated_at")
    return [
        {
            "title": p.title,
            "product_type": p.product_type,
            "description": p.description,
            "price": p.price,  # a Decimal: str() gives the database's text, e.g. 19.90
            "link": p.link,
            "tags": p.tags if isinstance(p.tags, list) else [],
        }
        for p in products.order_by("-updated_at", "id")[:PRODUCTS]
    ]


def _websites_and_pages(user, version):
    websites = WebsiteSource.objects.filter(user=user)
    if version != "before":
        websites = websites.only("id", "name", "url", "description", "updated_at")
    websites = list(websites.order_by("-updated_at", "id")[:WEBSITES])
    pages = []
    for site in websites:
        site_pages = WebsitePage.objects.filter(website=site, processing_status="completed")
        if version != "before":
            site_pages = site_pages.select_related("website").only(
                "title", "url", "summary", "cleaned_content", "updated_at", "website_id"
            )
        for page in site_pages.order_by("-updated_at", "id")[:PAGES_PER_WEBSITE]:
            pages.append(
                {
                    "website": page.website.name,  # before: one query per page
                    "title": page.title,
                    "url": page.url,
                    "summary": page.summary,
                    "excerpt": None if page.cleaned_content is None else page.cleaned_content[:PAGE_EXCERPT_CODE_POINTS],
                }
            )
    return [{"name": w.name, "url": w.url, "description": w.description} for w in websites], pages


def _faqs(user, content):
    faqs = [
        {
            "id": str(f.id),
            "keywords": f.keywords if isinstance(f.keywords, list) else [],
            "confidence_score": f.confidence_score,
            "question": f.question,
            "answer": f.answer,
        }
        for f in FAQ.objects.filter(user=user, is_approved=True)
    ]
    return [{"question": f["question"], "answer": f["answer"]} for f in rank_faqs(faqs, content)]


def build_context(message_id, version):
    """The context dict of the turn answering message ``message_id``, fetched the ``version`` way."""
    if version not in VERSIONS:
        raise ValueError("unknown context version %r (one of %s)" % (version, ", ".join(VERSIONS)))
    message = Message.objects.get(id=message_id)
    conversation = message.conversation
    user = conversation.user
    try:
        ai_prompt = user.ai_prompt
    except AIPrompt.DoesNotExist:
        ai_prompt = None
    customer = conversation.customer
    history = _history(message, version)
    products = _products(user, version)
    websites, pages = _websites_and_pages(user, version)
    return {
        "system": {
            "business_name": user.business_name,
            "manual_prompt": None if ai_prompt is None else ai_prompt.manual_prompt,
            "auto_prompt": None if ai_prompt is None else ai_prompt.auto_prompt,
            "tone": None if ai_prompt is None else ai_prompt.tone,
        },
        "customer": {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone_number": customer.phone_number,
            "source": conversation.source,
        },
        "history": history,
        "products": products,
        "websites": websites,
        "pages": pages,
        "faqs": _faqs(user, message.content),
        "question": message.content,
    }

