from django.contrib import admin

from okwallet.kb.models import Article, Category, Feedback, FlowRun, SearchLog


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "name_zh", "name_en", "order"]
    list_editable = ["order"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["slug", "title_zh", "category", "published", "updated_at"]
    list_filter = ["category", "published"]
    search_fields = ["slug", "title_zh", "title_en"]
    filter_horizontal = ["related"]
    readonly_fields = ["content_hash", "created_at", "updated_at"]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["article", "helpful", "comment", "lang", "updated_at"]
    list_filter = ["helpful", "lang"]
    readonly_fields = ["article", "visitor", "user", "helpful", "comment", "lang", "created_at", "updated_at"]


@admin.register(SearchLog)
class SearchLogAdmin(admin.ModelAdmin):
    list_display = ["query", "lang", "results", "top_slug", "source", "created_at"]
    list_filter = ["lang", "source"]
    search_fields = ["normalised"]


@admin.register(FlowRun)
class FlowRunAdmin(admin.ModelAdmin):
    list_display = ["id", "flow", "outcome", "ticket_number", "created_at", "finished_at"]
    list_filter = ["flow", "outcome"]
    readonly_fields = [
        "flow",
        "visitor",
        "user",
        "facts",
        "findings",
        "outcome",
        "ticket_number",
        "created_at",
        "finished_at",
    ]
