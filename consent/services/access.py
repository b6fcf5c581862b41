"""The access log: a hash chain per customer, signed checkpoints of every chain's tip, and
the verification ``manage.py verify_audit_chain`` runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from django.db import IntegrityError, transaction
from django.utils import timezone

from consent import jws
from consent.models import AccessChainHead, AccessCheckpoint, AccessEvent

GENESIS = "0" * 64
CHECKPOINT_TYPE = "access-checkpoint+jwt"


@dataclass(frozen=True)
class Access:
    """One disclosure of one customer's data: what left, to whom, why, under which consent.
    ``fields`` names the kinds of data (``consent_records``, ``contact.email``), never the
    values."""

    customer_id: str
    channel: str
    actor: str
    fields: tuple[str, ...]
    partner_id: str | None = None
    purpose: str = ""
    consent_id: str | None = None
    link_id: str | None = None


def _digest(prev_hash: str, seq: int, access: Access, at: datetime) -> str:
    content = {
        "prev": prev_hash,
        "customer": access.customer_id,
        "seq": seq,
        "channel": access.channel,
        "actor": access.actor,
        "partner": access.partner_id,
        "purpose": access.purpose,
        "consent": access.consent_id,
        "fields": sorted(access.fields),
        "at": at.isoformat(),
    }
    if access.link_id is not None:  # absent from rows written before links were named
        content["link"] = access.link_id
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _locked_head(customer_id: str) -> AccessChainHead:
    """Lock this customer's chain tip, and only it: appends for other customers never wait."""
    head = (
        AccessChainHead.objects.select_for_update(no_key=True)
        .filter(customer_id=customer_id)
        .first()
    )
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AccessChainHead.objects.create(customer_id=customer_id, seq=0, hash=GENESIS)
    except IntegrityError:
        pass  # another transaction started this chain first
    return AccessChainHead.objects.select_for_update(no_key=True).get(customer_id=customer_id)


def access_record_api(
    *,
    customer_id: str,
    client_id: str,
    partner_id: str,
    purpose: str,
    fields: tuple[str, ...],
    consent_id: str | None = None,
    consent_ids: Sequence[str] | None = None,
    link_id: str | None = None,
) -> None:
    """Record that an API response to this partner's client carries the customer's data:
    one row per consent it was disclosed under (a page of consent records: one each)."""
    access_record(
        *(
            Access(
                customer_id=customer_id,
                channel="api",
                actor=f"client:{client_id}",
                partner_id=partner_id,
                purpose=purpose,
                consent_id=one,
                link_id=link_id,
                fields=fields,
            )
            for one in (consent_ids if consent_ids is not None else [consent_id])
        )
    )


@transaction.atomic
def access_record(*accesses: Access) -> list[AccessEvent]:
    """Append each access to its customer's chain (in the caller's transaction, if any)."""
    rows = []
    now = timezone.now()
    for customer_id in sorted({a.customer_id for a in accesses}):  # fixed lock order
        head = _locked_head(customer_id)
        for access in (a for a in accesses if a.customer_id == customer_id):
            seq = head.seq + 1
            digest = _digest(head.hash, seq, access, now)
            rows.append(
                AccessEvent(
                    customer_id=customer_id,
                    seq=seq,
                    channel=access.channel,
                    actor=access.actor,
                    partner_id=access.partner_id,
                    purpose=access.purpose,
                    consent_id=access.consent_id,
                    link_id=access.link_id,
                    fields=sorted(access.fields),
                    at=now,
                    prev_hash=head.hash,
                    hash=digest,
                )
            )
            head.seq, head.hash = seq, digest
        head.save(update_fields=["seq", "hash", "updated_at"])
    return AccessEvent.objects.bulk_create(rows)


def access_checkpoint(*, now: datetime | None = None) -> AccessCheckpoint | None:
    """Sign the tips of the chains that moved since the last checkpoint (beat). None when
    nothing moved."""
    now = now or timezone.now()
    last = AccessCheckpoint.objects.order_by("-id").first()
    heads = AccessChainHead.objects.all()
    if last is not None:
        # A little overlap: a tip updated while the last checkpoint was being written is
        # signed again rather than missed.
        heads = heads.filter(updated_at__gte=last.created_at - timedelta(seconds=60))
    tips = {
        cid: [seq, digest] for cid, seq, digest in heads.values_list("customer_id", "seq", "hash")
    }
    if not tips:
        return None
    claims = {"iat": int(now.timestamp()), "heads": tips}
    return AccessCheckpoint.objects.create(
        created_at=now, heads=tips, jws=jws.sign(claims, typ=CHECKPOINT_TYPE)
    )


def access_chains_verify() -> list[str]:
    """Every problem found, first broken row of each chain first: an edited or deleted row
    (hash or sequence breaks), a missing tail (the chain ends before its recorded tip or a
    signed checkpoint), a missing chain, or a checkpoint whose signature fails."""
    problems: list[str] = []
    jwks = jws.published_jwks()
    pinned: dict[str, tuple[int, str]] = {}
    for checkpoint in AccessCheckpoint.objects.order_by("id"):
        try:
            claims = jws.receipt_verify(checkpoint.jws, jwks)
        except jws.ReceiptInvalid as error:
            problems.append(f"checkpoint {checkpoint.id}: signature invalid ({error})")
            continue
        for customer_id, (seq, digest) in claims["heads"].items():
            if seq >= pinned.get(customer_id, (0, ""))[0]:
                pinned[customer_id] = (seq, digest)
    tips = {
        cid: (seq, digest)
        for cid, seq, digest in AccessChainHead.objects.values_list("customer_id", "seq", "hash")
    }
    # One ordered pass over the log, not a query per chain.
    rows = AccessEvent.objects.order_by("customer_id", "seq").iterator(chunk_size=2000)
    verified = {cid: _verify_chain(cid, group) for cid, group in groupby(rows, key=_customer)}
    chains: dict[str, dict[int, str]] = {}
    broken: set[str] = set()
    for customer_id in sorted(set(tips) | set(pinned)):
        problem, hashes = verified.get(customer_id, ("", {}))
        chains[customer_id] = hashes
        if problem:  # the first broken row is what matters; later rows cannot verify
            problems.append(problem)
            broken.add(customer_id)
            continue
        last = max(hashes, default=0)
        recorded = tips.get(customer_id)
        if recorded is None:
            problems.append(
                f"{customer_id}: chain tip missing (checkpointed at #{pinned[customer_id][0]})"
            )
        elif recorded != (last, hashes.get(last, GENESIS)):
            problems.append(f"{customer_id}: rows after #{last} missing (tip says #{recorded[0]})")
    for customer_id, (seq, digest) in sorted(pinned.items()):
        if customer_id not in broken and chains.get(customer_id, {}).get(seq) != digest:
            problems.append(
                f"{customer_id}: row #{seq} signed in a checkpoint is missing or changed"
            )
    return problems


def _customer(row: AccessEvent) -> str:
    return row.customer_id


def _verify_chain(customer_id: str, rows: Iterable[AccessEvent]) -> tuple[str, dict[int, str]]:
    """The first problem in one customer's rows (in ``seq`` order), and the hashes verified
    up to it."""
    hashes: dict[int, str] = {}
    previous = GENESIS
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected:
            return f"{customer_id}: row #{expected} missing (next is #{row.seq})", hashes
        access = Access(
            customer_id=customer_id,
            channel=row.channel,
            actor=row.actor,
            fields=tuple(row.fields),
            partner_id=row.partner_id,
            purpose=row.purpose,
            consent_id=row.consent_id,
            link_id=row.link_id,
        )
        if row.prev_hash != previous or row.hash != _digest(previous, row.seq, access, row.at):
            return f"{customer_id}: row #{row.seq} (id {row.pk}) was changed", hashes
        hashes[row.seq] = previous = row.hash
    return "", hashes
