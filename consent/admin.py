from django.contrib import admin

from consent.models import DataCategory, Notice, Purpose
from consent.services import notice_publish


@admin.register(DataCategory)
class DataCategoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "taxonomy_version")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()  # codes are referenced by consents and flows


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "single_partner", "taxonomy_version")
    filter_horizontal = ("allowed_categories",)

    def get_readonly_fields(self, request, obj=None):
        return ("code", "single_partner") if obj else ()


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    """Adding publishes the next version through notice_publish; versions are never edited,
    because consents keep the hash of the exact text they showed."""

    list_display = ("purpose", "language", "version", "partnership", "created_at")
    list_filter = ("purpose", "language")
    fields = ("purpose", "language", "partnership", "text")
    raw_id_fields = ("partnership",)

    def get_readonly_fields(self, request, obj=None):
        return (
            ("purpose", "language", "partnership", "version", "text", "text_sha256") if obj else ()
        )

    def get_fields(self, request, obj=None):
        return self.fields + (("version", "text_sha256") if obj else ())

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        published = notice_publish(
            purpose=form.cleaned_data["purpose"],
            language=form.cleaned_data["language"],
            text=form.cleaned_data["text"],
            partnership=form.cleaned_data["partnership"],
            actor=request.user,
        )
        obj.pk, obj.version = published.pk, published.version
