"""The customer portal's "My rewards" page. The portal belongs to consent, which may not
import the exchanges; so this exchange brings its own page, and ecosystem/urls.py mounts it
in the portal's namespace (as referrals does)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from consent import wording as consent_wording
from consent.portal.views import PAGE_SIZE, customer_required
from exchanges.rewards import wording
from exchanges.rewards.selectors import customer_balances, rewards_of_customer


@customer_required
def my_rewards(request: HttpRequest) -> HttpResponse:
    """Balances per unit and every reward in plain words, each with the consent behind it."""
    customer_id = request.customer.pk
    now = timezone.now()
    page = Paginator(rewards_of_customer(customer_id=customer_id), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    names = consent_wording.category_names()
    rows = [
        {
            "reward": reward,
            "sentence": wording.reward_sentence(reward),
            "state": wording.reward_state(reward, now),
            "consent": consent_wording.consent_sentence(reward.consent, names),
            "honoured": reward.consent.is_honoured(now),
            "status": wording.reward_status(reward.status),
            "consent_status": consent_wording.consent_status(reward.consent.effective_status(now)),
        }
        for reward in page
    ]
    balances = [
        {
            "unit": row["unit"],
            "available": wording.value_words(row["available"], row["unit"]),
            "pending": wording.value_words(row["pending"], row["unit"]),
        }
        for row in customer_balances(customer_id=customer_id)
    ]
    context = {"nav": "rewards", "page": page, "rows": rows, "balances": balances}
    return render(request, "portal/rewards.html", context)


portal_urlpatterns = [path("rewards/", my_rewards, name="rewards")]
