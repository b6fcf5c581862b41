"""The taxonomy partnership flows and consents are written in: purposes and data categories.

It sits in the partner directory because a partnership's flows name them; consent, one
layer up, uses the same rows. The tables keep the names they had when the taxonomy lived in
the consent app."""

from __future__ import annotations

from django.db import models


class DataCategory(models.Model):
    """A kind of customer data that can flow, e.g. ``contact.email`` or ``activity.visits``."""

    code = models.CharField(primary_key=True, max_length=50)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    taxonomy_version = models.CharField(max_length=20)

    class Meta:
        db_table = "consent_datacategory"
        ordering = ("code",)
        verbose_name_plural = "data categories"

    def __str__(self) -> str:
        return self.code


class Purpose(models.Model):
    """Why data may flow. ``single_partner`` purposes (``link``, ``offers``) concern one
    partner: their consents have source = recipient."""

    code = models.SlugField(primary_key=True, max_length=50)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    single_partner = models.BooleanField(default=False)
    allowed_categories = models.ManyToManyField(DataCategory, blank=True, related_name="purposes")
    taxonomy_version = models.CharField(max_length=20)

    class Meta:
        db_table = "consent_purpose"
        ordering = ("code",)

    def __str__(self) -> str:
        return self.code
