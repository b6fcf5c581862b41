"""Offer bodies: plain text with limited formatting, cleaned to an allow-list by nh3
(Ammonia) when stored and again when rendered, so a body is safe whatever wrote the row."""

from __future__ import annotations

import html
from typing import Any

import nh3
from django.utils.safestring import SafeString, mark_safe

from exchanges.rewards.wording import value_words

ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li"}


def body_clean(value: str) -> str:
    """What is stored: the allowed tags without attributes; everything else is dropped
    (script and style with their content), text escaped."""
    return nh3.clean(value, tags=ALLOWED_TAGS, attributes={}, url_schemes=set()).strip()


def body_html(value: str) -> SafeString:
    """The body for an HTML page (portal, preview, admin), cleaned again on the way out."""
    return mark_safe(body_clean(value))  # noqa: S308 (nh3's output is the allow-list only)


def body_text(value: str) -> str:
    """The body as plain text (emails, list columns): no markup at all."""
    return html.unescape(nh3.clean(value, tags=set(), attributes={})).strip()


def reward_words(offer: Any) -> str:
    """'EUR 5 from Pulse Fitness': what a redemption earns the customer ('' for nothing).
    Plain text: templates escape it."""
    if offer.reward_funder_id is None or offer.reward_amount is None:
        return ""
    return f"{value_words(offer.reward_amount, offer.reward_unit)} from {offer.reward_funder.name}"
