"""A settlement statement as CSV, one row per line, the same for the API and the console.

Cells a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR at the start)
are prefixed with an apostrophe (OWASP "CSV injection"); amounts are never negative here, so
no number is touched."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from exchanges.rewards.models import Statement
from exchanges.rewards.money import quantize

COLUMNS = (
    "statement_id",
    "period",
    "unit",
    "transaction_id",
    "kind",
    "reward_id",
    "rule_id",
    "trigger",
    "booked_at",
    "payer",
    "payee",
    "direction",
    "amount",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def statement_rows(statement: Statement, *, partner_id: str) -> Iterable[list[str]]:
    """The lines as ``partner_id`` sees them (``direction``: to_you or from_you). The lines
    must be prefetched (``selectors.statement_of``)."""
    for line in statement.lines.all():
        yield [
            _cell(v)
            for v in (
                statement.pk,
                statement.period,
                statement.unit,
                line.transaction_id,
                line.kind,
                line.reward_id,
                line.transaction.rule_id,
                line.transaction.trigger_ref,
                line.booked_at.isoformat(),
                line.payer_id,
                line.payee_id,
                "to_you" if line.payee_id == partner_id else "from_you",
                quantize(line.amount, statement.unit),
            )
        ]


def statement_csv(statement: Statement, *, partner_id: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(COLUMNS)
    writer.writerows(statement_rows(statement, partner_id=partner_id))
    return out.getvalue()
