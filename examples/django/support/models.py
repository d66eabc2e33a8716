"""The reference schema, as the support-chat backend's models name it.

Unmanaged (``managed = False``): ctxbench creates and seeds these tables (``ctxbench seed``);
Django only reads them, and never migrates them.
"""

from django.db import models


class User(models.Model):
    """A tenant: the business whose AI assistant answers its customers."""

    id = models.BigIntegerField(primary_key=True)
    email = models.CharField(max_length=254)
    business_name = models.CharField(max_length=255)
    first_name = models.CharField(max_length=150, null=True)
    last_name = models.CharField(max_length=150, null=True)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "users"


class AIPrompt(models.Model):
    id = models.BigIntegerField(primary_key=True)
    user = models.OneToOneField(User, models.DO_NOTHING, related_name="ai_prompt")
    manual_prompt = models.TextField(null=True)
    auto_prompt = models.TextField(null=True)
    tone = models.CharField(max_length=30, null=True)
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "ai_prompts"


class Customer(models.Model):
    id = models.BigIntegerField(primary_key=True)
    first_name = models.CharField(max_length=150, null=True)
    last_name = models.CharField(max_length=150, null=True)
    username = models.CharField(max_length=150, null=True)
    phone_number = models.CharField(max_length=32, null=True)
    email = models.CharField(max_length=254, null=True)
    bio = models.TextField(null=True)
    persona_data = models.JSONField(null=True)
    source = models.CharField(max_length=20)
    source_id = models.CharField(max_length=64)
    profile_picture = models.CharField(max_length=500, null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "customers"


class Conversation(models.Model):
    id = models.CharField(max_length=10, primary_key=True)
    user = models.ForeignKey(User, models.DO_NOTHING, related_name="conversations")
    customer = models.ForeignKey(Customer, models.DO_NOTHING, related_name="conversations")
    source = models.CharField(max_length=20)
    status = models.CharField(max_length=20)
    title = models.CharField(max_length=255, null=True)
    is_active = models.BooleanField()
    priority = models.CharField(max_length=10)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "conversations"


class Message(models.Model):
    id = models.CharField(max_length=10, primary_key=True)
    conversation = models.ForeignKey(Conversation, models.DO_NOTHING, related_name="messages")
    # AI replies carry the conversation's customer too, as in the real backend.
    customer = models.ForeignKey(Customer, models.DO_NOTHING, null=True, related_name="messages")
    type = models.CharField(max_length=20)  # 'customer', 'AI', 'support', 'marketing'
    content = models.TextField()
    is_ai_response = models.BooleanField()
    is_answered = models.BooleanField()
    metadata = models.JSONField(null=True)
    input_tokens = models.IntegerField(null=True)
    output_tokens = models.IntegerField(null=True)
    total_tokens = models.IntegerField(null=True)
    feedback = models.CharField(max_length=10, null=True)
    feedback_comment = models.TextField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "messages"


class WKProduct(models.Model):
    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(User, models.DO_NOTHING, related_name="products")
    title = models.CharField(max_length=255)
    product_type = models.CharField(max_length=50, null=True)
    description = models.TextField(null=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    link = models.CharField(max_length=500, null=True)
    tags = models.JSONField()
    is_active = models.BooleanField()
    specifications = models.JSONField()
    features = models.JSONField()
    images = models.JSONField()
    meta_description = models.CharField(max_length=300, null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "products"


class WebsiteSource(models.Model):
    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(User, models.DO_NOTHING, related_name="websites")
    name = models.CharField(max_length=255)
    url = models.CharField(max_length=500)
    description = models.TextField(null=True)
    max_pages = models.IntegerField()
    crawl_depth = models.IntegerField()
    crawl_status = models.CharField(max_length=20)
    pages_crawled = models.IntegerField()
    crawl_error_message = models.TextField(null=True)
    crawl_progress = models.FloatField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "website_sources"


class WebsitePage(models.Model):
    id = models.UUIDField(primary_key=True)
    website = models.ForeignKey(WebsiteSource, models.DO_NOTHING, related_name="pages")
    url = models.CharField(max_length=1000, unique=True)
    title = models.CharField(max_length=500, null=True)
    raw_content = models.TextField(null=True)  # the crawled HTML: most of SELECT *'s bytes
    cleaned_content = models.TextField(null=True)
    summary = models.TextField(null=True)
    meta_description = models.TextField(null=True)
    meta_keywords = models.TextField(null=True)
    word_count = models.IntegerField(null=True)
    processing_status = models.CharField(max_length=20)
    h1_tags = models.JSONField()
    h2_tags = models.JSONField()
    links = models.JSONField()
    crawled_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "website_pages"


class FAQ(models.Model):
    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(User, models.DO_NOTHING, related_name="faqs")
    page = models.ForeignKey(WebsitePage, models.DO_NOTHING, null=True, related_name="faqs")
    question = models.TextField()
    answer = models.TextField()
    context = models.TextField(null=True)
    keywords = models.JSONField()  # a list of lowercase words
    confidence_score = models.FloatField(null=True)
    category = models.CharField(max_length=100, null=True)
    is_approved = models.BooleanField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "faqs"
