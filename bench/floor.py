"""The raw-SQL floor of a referral create (``POST /bench/referral-floor``, BENCHMARK_VIEWS only).

The same database work as ``POST /api/v1/referrals`` on its happy path, done directly: one
read for everything the rules need (A's link with the customer and their wrapped key, the
live consent share-locked as ``consent_hold`` locks it, both partners' states, the
partnership window, the flow's categories, the rate count, B's link, and an id for the
idempotency record), then one statement of data-modifying CTEs that writes every row a
create writes (B's link on conflict do nothing, the referral with its sealed snapshot, the
audit row, the event, B's payload, the deliveries to B's subscribed endpoints, and the
completed idempotency record with its encrypted response), and the commit pipelined with it.
Two round trips, prepared statements, server-side binding. The crypto (unwrap the data key,
open the PII, seal the snapshot, encrypt the stored response) is the create's too and is
done here the same way, so the floor differs from the create only in what the stack adds.

PostgreSQL only, no refusal paths beyond "not found" (it is a yardstick, not a service).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.views import APIView

from ecosystem import crypto
from ecosystem.ids import new_id

READ = """
SELECT c.id, c.name_sealed, c.email_sealed, c.phone_sealed, k.wrapped,
       con.id, con.data_categories, con.partnership_id,
       (SELECT array_agg(fc.datacategory_id)
          FROM partners_partnershipflow f
          JOIN partners_partnershipflow_data_categories fc ON fc.partnershipflow_id = f.id
         WHERE f.partnership_id = con.partnership_id AND f.source_id = %(a)s
           AND f.recipient_id = %(b)s AND f.purpose_id = 'referral'),
       (SELECT count(*) FROM partners_referral r
         WHERE r.from_partner_id = %(a)s AND r.customer_id = c.id AND r.created_at >= %(since)s),
       (SELECT bl.id FROM consent_partnerlink bl
         WHERE bl.partner_id = %(b)s AND bl.customer_id = c.id FOR NO KEY UPDATE),
       nextval(pg_get_serial_sequence('ecosystem_idempotencyrecord', 'id'))
  FROM consent_partnerlink l
  JOIN consent_customer c ON c.id = l.customer_id
  JOIN consent_customerkey k ON k.customer_id = c.id
  JOIN LATERAL (
        SELECT s.id, s.data_categories, s.partnership_id FROM consent_consent s
         WHERE s.customer_id = c.id AND s.source_id = %(a)s AND s.recipient_id = %(b)s
           AND s.purpose_id = 'referral' AND s.status = 'active' AND s.expires_at > %(now)s
         LIMIT 1 FOR SHARE) con ON true
  JOIN partners_partnership p ON p.id = con.partnership_id
  JOIN partners_partner pa ON pa.id = %(a)s
  JOIN partners_partner pb ON pb.id = %(b)s
 WHERE l.id = %(link)s AND l.partner_id = %(a)s AND l.status = 'active'
   AND pa.status = 'active' AND pb.status = 'active'
   AND p.status = 'active' AND p.valid_from <= %(now)s
   AND (p.valid_until IS NULL OR p.valid_until > %(now)s)
"""

WRITE = """
WITH link AS (
  INSERT INTO consent_partnerlink (id, customer_id, partner_id, status, method, created_at,
                                   confirmed_at)
  VALUES (%(b_link)s, %(customer)s, %(b)s, 'active', 'referral', %(now)s, %(now)s)
  ON CONFLICT (partner_id, customer_id) DO NOTHING
), referral AS (
  INSERT INTO partners_referral (id, status, note_sealed, snapshot_categories, snapshot_sealed,
      reason, value_currency, created_at, expires_at, consent_id, customer_id, from_partner_id,
      partnership_id, to_partner_id)
  VALUES (%(referral)s, 'sent', %(note)s, %(categories)s, %(snapshot)s, '', '', %(now)s,
      %(expires)s, %(consent)s, %(customer)s, %(a)s, %(partnership)s, %(b)s)
), audit AS (
  INSERT INTO ecosystem_auditentry (at, actor, action, object_type, object_id, data, request_id)
  VALUES (%(now)s, %(actor)s, 'referral.create', 'referral', %(referral)s, '{}', '')
), event AS (
  INSERT INTO ecosystem_event (id, type, created_at)
  VALUES (%(event)s, 'referral.received', %(event_at)s)
), payload AS (
  INSERT INTO ecosystem_eventpayload (public_id, event_id, partner_id, body, created_at)
  VALUES (%(public_id)s, %(event)s, %(b)s, %(body)s, %(event_at)s)
  RETURNING id, partner_id
), delivery AS (
  INSERT INTO ecosystem_delivery (id, status, attempts, next_attempt_at, last_error, created_at,
                                  partner_id, event_id, payload_id, endpoint_id)
  SELECT 'dlv_' || md5(random()::text || e.id), 'pending', 0, %(event_at)s, '', %(event_at)s,
         e.partner_id, %(event)s, payload.id, e.id
    FROM payload JOIN ecosystem_webhookendpoint e ON e.partner_id = payload.partner_id
   WHERE e.enabled AND e.event_types ? 'referral.received'
  RETURNING endpoint_id
), idempotency AS (
  INSERT INTO ecosystem_idempotencyrecord (id, scope, route, key, fingerprint, state,
      response_status, response_body, response_content_type, created_at)
  VALUES (%(record)s, %(scope)s, %(route)s, %(key)s, '', 'completed', 201, %(response)s,
          'application/json', %(now)s)
)
SELECT count(*) FROM delivery
"""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


class BenchReferralFloorApi(APIView):
    required_scopes = ["partner:read"]
    throttle_classes = []

    def post(self, request: Request) -> HttpResponse:
        body = json.loads(request.body)
        a = request.auth.partner.pk
        b = body["to_partner"]
        now = timezone.now()
        since = now - timedelta(hours=settings.REFERRAL_LIMIT_WINDOW_HOURS)
        connection.ensure_connection()
        raw: psycopg.Connection = connection.connection
        cursor = psycopg.Cursor(raw)  # server-side binding: statements can be prepared
        # Its own transaction, BEGIN and COMMIT pipelined with the statements; inside a caller's
        # (a test's) it only runs the statements.
        own = not connection.in_atomic_block
        with raw.pipeline() as pipeline:
            if own:
                cursor.execute("BEGIN")
            cursor.execute(
                READ,
                {"a": a, "b": b, "link": body["customer_id"], "now": now, "since": since},
                prepare=True,
            )
            pipeline.sync()
            row = cursor.fetchone()
            if row is None:
                if own:
                    cursor.execute("ROLLBACK")
                return JsonResponse({"detail": "not found"}, status=404)
            (customer, name, email, phone, wrapped, consent, consented, partnership) = row[:8]
            if isinstance(consented, str):  # Django loads jsonb as text
                consented = json.loads(consented)
            flow, sent, b_link, record = row[8:]
            if sent >= settings.REFERRAL_LIMIT_PER_CUSTOMER:
                if own:
                    cursor.execute("ROLLBACK")
                return JsonResponse({"detail": "rate"}, status=429)
            data_key = crypto.data_key_unwrap(
                wrapped, aad=crypto.associated_data("consent_customerkey", "wrapped", customer)
            )

            def opened(column: str, sealed: str) -> str:
                aad = crypto.associated_data("consent_customer", column, customer)
                return crypto.unseal(sealed, data_key=data_key, aad=aad) if sealed else ""

            available = {
                "contact.name": opened("name", name),
                "contact.email": opened("email", email),
                "contact.phone": opened("phone", phone),
            }
            allowed = set(consented) & set(flow or ())
            data = {code: value for code, value in available.items() if code in allowed and value}
            referral = new_id("ref")
            snapshot = crypto.seal(
                json.dumps(data),
                data_key=data_key,
                aad=crypto.associated_data("partners_referral", "snapshot_sealed", referral),
            )
            expires = now + timedelta(hours=settings.REFERRAL_EXPIRY_HOURS)
            b_link = b_link or new_id("cus")
            event_at = now.replace(microsecond=0)
            event_body = json.dumps(
                {
                    "type": "referral.received",
                    "timestamp": event_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "data": {
                        "referral_id": referral,
                        "customer_id": b_link,
                        "from_partner": a,
                        "to_partner": b,
                        "status": "sent",
                        "reason": "",
                    },
                },
                separators=(",", ":"),
            )
            shown = {
                "id": referral,
                "direction": "outbound",
                "customer_id": body["customer_id"],
                "from_partner": a,
                "to_partner": b,
                "status": "sent",
                "note": None,
                "data_categories": sorted(data),
                "data": None,
                "value": None,
                "reason": "",
                "created_at": _iso(now),
                "expires_at": _iso(expires),
                "answered_at": None,
                "ended_at": None,
            }
            content = json.dumps(shown, separators=(",", ":")).encode()
            response = crypto.encrypt(
                content,
                aad=crypto.associated_data("ecosystem_idempotencyrecord", "response_body", record),
            ).encode()
            cursor.execute(
                WRITE,
                {
                    "a": a,
                    "b": b,
                    "b_link": b_link,
                    "customer": customer,
                    "now": now,
                    "referral": referral,
                    "note": "",
                    "categories": json.dumps(sorted(data)),
                    "snapshot": snapshot,
                    "expires": expires,
                    "consent": consent,
                    "partnership": partnership,
                    "actor": f"client:{request.auth.partner_client_id}",
                    "event": new_id("evt"),
                    "event_at": event_at,
                    "public_id": new_id("evt"),
                    "body": event_body,
                    "record": record,
                    "scope": f"client:{request.auth.application.client_id}",
                    "route": request.path,
                    "key": request.headers.get("Idempotency-Key", new_id("key")),
                    "response": response,
                },
                prepare=True,
            )
            if own:
                cursor.execute("COMMIT")
            pipeline.sync()
        return HttpResponse(content, status=201, content_type="application/json")
