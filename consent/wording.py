"""Consents, events and accesses in plain words, for the portal and the emails to customers."""

from __future__ import annotations

from datetime import datetime

from consent.models import AccessEvent, Consent, ConsentEvent
from partners.models import DataCategory

CONSENT_DETAILS = "your consent: what it covers, whether it is active and until when"
# In the order a sentence names them; consent.* fields together read as one phrase.
FIELD_WORDS = {
    "contact.name": "your name",
    "contact.email": "your email address",
    "contact.phone": "your phone number",
    "link.status": "whether you linked your account with them",
    "referral.note": "the note the referring brand wrote about you",
    "offer.redemption": "that you redeemed one of their offers",
}
TRANSITIONS = {
    "requested": "{source} asked for your consent",
    "active": "You gave your consent",
    "refused": "The request was refused",
    "lapsed": "The request lapsed unanswered",
    "withdrawn": "You withdrew your consent",
    "expired": "Your consent expired",
    "terminated": "Your consent ended",
    "superseded": "Your consent was replaced by a changed one",
}


def join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def categories(codes: list[str], names: dict[str, str]) -> str:
    return join([names.get(code, code).lower() for code in codes]) or "no personal data"


def category_names() -> dict[str, str]:
    return dict(DataCategory.objects.values_list("code", "name"))


def consent_sentence(consent: Consent, names: dict[str, str]) -> str:
    """'Pulse Fitness may share your visits with Harbor Mutual so Harbor Mutual can reward
    you' (without the date: templates add 'until …')."""
    source, recipient = consent.source.name, consent.recipient.name
    what = categories(consent.data_categories, names)
    return {
        "rewards": f"{source} may share your {what} with {recipient} so {recipient} can reward you",
        "referral": f"{source} may introduce you to {recipient}, sharing your {what}",
        "link": f"{source} may know that you use the ecosystem",
        "offers": f"{source} may show you offers it runs with other brands",
    }.get(
        consent.purpose_id,
        f"{source} may share your {what} with {recipient} for {consent.purpose_id}",
    )


def on_hold(consent: Consent, now: datetime) -> str:
    """Why nothing is shared under an active consent that consents_in_force left out while
    neither brand is suspended (the portal says that on its own): 'nothing is shared under
    it while …'."""
    for partner in (consent.source, consent.recipient):
        if not partner.is_active:
            return f"{partner.name} is not active in the ecosystem"
    return (
        f"{consent.source.name} and {consent.recipient.name} have no partnership in force "
        "that covers it"
    )


def event_sentence(event: ConsentEvent) -> str:
    text = TRANSITIONS.get(event.to_status, event.to_status).format(
        source=event.consent.source.name
    )
    if event.method == ConsentEvent.Method.WRITTEN_REQUEST:
        text += " (recorded by our staff on your written request)"
    elif event.to_status == "active" and event.consent.method == "connect":
        text += f" on {event.consent.source.name}'s connect screen"
    return text


def access_sentence(access: AccessEvent) -> str:
    words = [FIELD_WORDS[f] for f in FIELD_WORDS if f in access.fields]
    if any(field.startswith("consent.") for field in access.fields):
        words.append(CONSENT_DETAILS)
    words += [f for f in access.fields if f not in FIELD_WORDS and not f.startswith("consent.")]
    what = join(words)
    if access.channel == AccessEvent.Channel.ADMIN:
        return f"An ecosystem administrator looked at {what}"
    who = access.partner.name if access.partner else "A partner"
    if access.channel == AccessEvent.Channel.WEBHOOK:
        return f"{who} was notified of {what}"
    return f"{who} looked up {what}"
