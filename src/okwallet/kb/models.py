"""Help centre: articles (zh-Hans + English), feedback, searches, visits and diagnosis-flow runs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

LANGS = ("zh-hans", "en")


def normalise_lang(lang: str | None) -> str:
    """Any language code → one we have articles in (unknown codes fall back to zh-Hans)."""
    return "en" if (lang or "").strip().lower().startswith("en") else "zh-hans"


class Category(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name_zh = models.CharField(max_length=80)
    name_en = models.CharField(max_length=80)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name_en

    def name(self, lang: str) -> str:
        return self.name_en if normalise_lang(lang) == "en" else self.name_zh


class Article(models.Model):
    """One help topic with a stable slug; both languages live on the row.

    ``questions_*`` hold curated ways customers ask about the topic (one per line); they are
    searched with the title and body and make the bot's answers robust to phrasing.
    """

    slug = models.SlugField(max_length=80, unique=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="articles")
    title_zh = models.CharField(max_length=200)
    title_en = models.CharField(max_length=200)
    summary_zh = models.TextField(blank=True)
    summary_en = models.TextField(blank=True)
    body_zh = models.TextField(help_text=_("Markdown"))
    body_en = models.TextField(blank=True, help_text=_("Markdown"))
    questions_zh = models.TextField(blank=True, help_text=_("Ways customers ask about this, one per line"))
    questions_en = models.TextField(blank=True, help_text=_("Ways customers ask about this, one per line"))
    related = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    flow = models.CharField(
        max_length=40, blank=True, help_text=_("Diagnosis flow this article offers, e.g. deposit")
    )
    order = models.PositiveSmallIntegerField(default=0)
    published = models.BooleanField(default=True)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category__order", "order", "id"]

    def __str__(self) -> str:
        return self.slug

    def title(self, lang: str) -> str:
        return self.title_en if normalise_lang(lang) == "en" and self.title_en else self.title_zh

    def summary(self, lang: str) -> str:
        return self.summary_en if normalise_lang(lang) == "en" and self.body_en else self.summary_zh

    def body(self, lang: str) -> str:
        return self.body_en if normalise_lang(lang) == "en" and self.body_en else self.body_zh

    def questions(self, lang: str) -> list[str]:
        text = self.questions_en if normalise_lang(lang) == "en" else self.questions_zh
        return [line.strip() for line in text.splitlines() if line.strip()]


class IndexVersion(models.Model):
    """A single row whose ``version`` goes up whenever an article changes. Every app process
    compares it with the version its in-memory search index was built from and rebuilds when
    they differ, so several processes always search the same content."""

    version = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)


class Feedback(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    visitor = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    helpful = models.BooleanField()
    comment = models.TextField(blank=True, max_length=2000)
    lang = models.CharField(max_length=10, default="zh-hans")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "visitor"], name="kb_feedback_once")]


class SearchLog(models.Model):
    query = models.CharField(max_length=200)
    normalised = models.CharField(max_length=200, db_index=True)
    lang = models.CharField(max_length=10)
    results = models.PositiveIntegerField()
    top_slug = models.CharField(max_length=80, blank=True)
    source = models.CharField(max_length=20, default="web")  # web | api | bot
    visitor = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)


class Visit(models.Model):
    """What a help-centre visitor did, for the deflection measure.

    ``visitor`` is ``u:<user id>`` for a signed-in customer, otherwise ``c:<cookie>``.
    """

    class Kind(models.TextChoices):
        VIEW = "view", _("Viewed an article")
        SEARCH = "search", _("Searched")
        FLOW_DONE = "flow_done", _("Finished a flow")
        CONTACT = "contact", _("Went on to contact us")

    visitor = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    target = models.CharField(max_length=80, blank=True)  # article slug, flow code or channel
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"])]


class FlowRun(models.Model):
    class Outcome(models.TextChoices):
        OPEN = "open", _("In progress")
        SOLVED = "solved", _("Solved")
        TICKET = "ticket", _("Ticket opened")
        CHAT = "chat", _("Handed to chat")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.CharField(max_length=40)
    visitor = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    facts = models.JSONField(default=dict, blank=True)
    findings = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OPEN)
    ticket_number = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["flow", "outcome"])]
