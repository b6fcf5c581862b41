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


def consent_question(consent: Consent, names: dict[str, str]) -> str:
    """A request as the question it is: 'Let Harbor Mutual show you offers it runs with other
    brands?'."""
    sentence = consent_sentence(consent, names)
    source = consent.source.name
    if sentence.startswith(f"{source} may "):
        sentence = f"Let {source} {sentence[len(source) + len(' may ') :]}"
    return f"{sentence}?"


def counted(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def home_summary(*, brands: int, things: int, shared: int, days: int) -> str:
    """The home page's first sentence: '3 brands know you; you let them share 3 things;
    nothing shared in the last 30 days'."""
    if brands == 0:
        return "No brand knows you yet"
    know = f"{counted(brands, 'brand knows', 'brands know')} you"
    them = "it" if brands == 1 else "them"
    let = (
        f"you let {them} share {counted(things, 'thing', 'things')}"
        if things
        else ("you let no brand share anything")
    )
    window = f"in the last {days} days"
    told = (
        f"nothing shared {window}"
        if shared == 0
        else f"shared {counted(shared, 'time', 'times')} {window}"
    )
    return f"{know}; {let}; {told}"


# Where a consent, a link or an introduction stands, in the customer's words (the status
# names are the partners' and the API's vocabulary, never shown to customers).
CONSENT_STATUS = {
    "requested": "waiting for your answer",
    "active": "given by you",
    "refused": "you said no",
    "lapsed": "you did not answer in time",
    "withdrawn": "you withdrew it",
    "expired": "it ran out",
    "terminated": "it ended when the brands changed their partnership",
    "superseded": "replaced by the changed consent you gave later",
}
LINK_STATUS = {
    "pending": "waiting for your answer",
    "active": "linked",
    "refused": "you said no",
    "ended": "no longer linked",
}
REFERRAL_STATUS = {
    "sent": "{to} has been told about you and has not answered yet",
    "accepted": "{to} accepted the introduction",
    "declined": "{to} declined the introduction",
    "converted": "You became a customer of {to}",
    "expired": "{to} did not answer in time; the introduction ended",
    "withdrawn": "The introduction was withdrawn; {to} may no longer use what it was sent",
}


def consent_status(status: str) -> str:
    return CONSENT_STATUS.get(status, status)


def link_status(status: str) -> str:
    return LINK_STATUS.get(status, status)


def referral_status(status: str, to: str) -> str:
    return REFERRAL_STATUS.get(status, status).format(to=to)


ENDED = {
    "withdrawn": "You withdrew it on {date}",
    "expired": "It expired on {date}",
    "refused": "You said no on {date}",
}


def ended_sentence(consent: Consent) -> str:
    return ENDED.get(consent.status, "It ended on {date}").format(
        date=f"{consent.ended_at:%-d %B %Y}" if consent.ended_at else "an unknown date"
    )


TOLD = {
    "delivered": "{brand} has been told.",
    "pending": "The message to {brand} is on its way.",
    "failing": (
        "We could not reach {brand} yet. We keep trying; check this page again later. "
        "Your data is refused to it in the meantime."
    ),
    "not_subscribed": (
        "{brand} does not receive messages from us; if it tries to use your data, it is refused."
    ),
    "unknown": "We no longer have a record of telling {brand}.",
}


def told_sentence(brand: str, state: str) -> str:
    """How far the news of a withdrawal got to one brand, in the customer's words."""
    return TOLD.get(state, TOLD["unknown"]).format(brand=brand)


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
