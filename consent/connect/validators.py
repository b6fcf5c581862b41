"""The gateway's OAuth2Validator with the connect flow (DOT's extension point for every token
decision): authorization codes and tokens bound to the consents approved on the connect
screen, and OpenID Connect claims released only under consent, with a pairwise ``sub``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

from consent.connect.models import ConnectAuthorization, ConnectToken
from consent.connect.selectors import CLAIM_CATEGORIES, CLAIM_SCOPES
from consent.connect.services import (
    ConsentEnded,
    connect_authorization_bind_grant,
    connect_authorization_holds,
    connect_code_exchanged,
    connect_code_reuse_revoke,
    connect_consents_hold,
)
from consent.models import Customer, PartnerLink
from consent.selectors import consent_allowance
from consent.services.access import access_record_api
from partners.oauth.token_cache import checksum_of
from partners.oauth.validators import PartnerOAuth2Validator


class ConnectOAuth2Validator(PartnerOAuth2Validator):
    oidc_claim_scope = {"sub": "openid", **CLAIM_SCOPES}

    # --- the authorization code --------------------------------------------------------
    def _create_authorization_code(self, request: Any, code: Any, expires: Any = None) -> Grant:
        grant = super()._create_authorization_code(request, code, expires)
        authorization_id = getattr(request, "connect_authorization", None)
        if authorization_id:
            connect_authorization_bind_grant(authorization_id=authorization_id, grant=grant)
        return grant

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            # Already exchanged: refused, and what it was exchanged for ends (RFC 9700 §4.2.4).
            connect_code_reuse_revoke(client_id=client.client_id, code=code)
            return False
        authorization = (
            ConnectAuthorization.objects.filter(grant__code=code, grant__application=client)
            .select_related("client")
            .first()
        )
        # A code without an approval behind it, or whose consents ended since: invalid_grant.
        if authorization is None or not connect_authorization_holds(
            authorization, at=timezone.now()
        ):
            return False
        request.connect_authorization = authorization
        return True

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: Any, *args: Any, **kwargs: Any
    ) -> None:
        try:
            super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        except InvalidGrantError:
            # Another exchange of this code deleted it between our validation and now: both
            # exchanges' tokens end, and this one is refused.
            connect_code_reuse_revoke(client_id=request.client.client_id, code=code)
            raise
        connect_code_exchanged(client_id=request.client.client_id, code=code)

    # --- prompt=none (OIDC Core 3.1.2.6) ---------------------------------------------------
    # oauthlib asks these while validating a prompt=none request. The authorization view
    # decides both itself, since both need the customer and the consents the request means:
    # an anonymous request is answered login_required before it is validated, a signed-in
    # one consent_required (or a code) after (consent/connect/views.py).
    def validate_silent_login(self, request: Any) -> bool:
        return True

    def validate_silent_authorization(self, request: Any) -> bool:
        return True

    # --- refresh ---------------------------------------------------------------------------
    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        row = (
            ConnectToken.objects.filter(refresh_token=request.refresh_token_instance)
            .select_related("authorization")
            .first()
        )
        if row is None or not connect_authorization_holds(row.authorization, at=timezone.now()):
            return False
        request.connect_authorization = row.authorization
        return True

    # --- issuing ---------------------------------------------------------------------------
    def save_bearer_token(self, token: dict, request: Any, *args: Any, **kwargs: Any) -> None:
        authorization = getattr(request, "connect_authorization", None)
        if authorization is None:
            super().save_bearer_token(token, request, *args, **kwargs)
            return
        with transaction.atomic():
            now = timezone.now()
            try:
                shortest = connect_consents_hold(authorization, at=now)
            except ConsentEnded as ended:
                raise InvalidGrantError(description=ended.detail, request=request) from None
            # Never outlive the shortest consent (the answer's expires_in says so too).
            left = int((shortest - now).total_seconds())
            token["expires_in"] = max(1, min(int(token.get("expires_in", left)), left))
            super().save_bearer_token(token, request, *args, **kwargs)
            access = AccessToken.objects.get(token_checksum=checksum_of(token["access_token"]))
            rows = [ConnectToken(authorization=authorization, access_token=access)]
            if token.get("refresh_token"):
                refresh = RefreshToken.objects.get(
                    token_checksum=checksum_of(token["refresh_token"]), revoked__isnull=True
                )
                rows.append(ConnectToken(authorization=authorization, refresh_token=refresh))
            ConnectToken.objects.bulk_create(rows, ignore_conflicts=True)

    # --- OpenID Connect --------------------------------------------------------------------
    def validate_bearer_token(self, token: str, scopes: Any, request: Any) -> bool:
        # UserInfo (asking for openid): a token of a revoked client or an inactive partner is
        # refused even when DOT would accept it. The API asks for no scope here and checks the
        # same itself, answering partner_inactive (partners/api/auth.py).
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if "openid" not in (scopes or ()):
            return True  # the API: its authentication class names the refusal itself
        access = request.access_token
        partner = getattr(access, "partner", None)
        return bool(partner and partner.is_active and not access.client_revoked)

    def _link(self, request: Any) -> PartnerLink | None:
        # request.client may be the token cache's light application: find the partner by id.
        user_id = getattr(request.user, "pk", None)
        if user_id is None:
            return None
        return (
            PartnerLink.objects.filter(
                customer__user_id=user_id,
                customer__status=Customer.Status.ACTIVE,
                partner__clients__pk=request.client.client_id,
                status=PartnerLink.Status.ACTIVE,
            )
            .select_related("customer")
            .first()
        )

    def get_oidc_claims(self, token: Any, token_handler: Any, request: Any) -> dict[str, Any]:
        """``sub`` is the partner's own pairwise ``cus_…`` id; ``name`` and ``email`` only
        when asked for (profile, email) and covered by the customer's link consent to this
        partner now, each release recorded in the customer's access log."""
        link = self._link(request)
        if link is None:
            return {}
        claims: dict[str, Any] = {"sub": link.pk}
        wanted = [c for c in CLAIM_CATEGORIES if self.oidc_claim_scope[c] in request.scopes]
        allowance = consent_allowance(
            customer_id=link.customer_id,
            source_id=link.partner_id,
            recipient_id=link.partner_id,
            purpose="link",
        )
        if not wanted or allowance is None:
            return claims
        consent, categories = allowance
        released = [c for c in wanted if CLAIM_CATEGORIES[c] in categories]
        if not released:
            return claims
        pii = link.customer.pii()
        values = {"name": pii.name, "email": pii.email}
        claims.update({claim: values[claim] for claim in released if values[claim]})
        access_record_api(
            customer_id=link.customer_id,
            client_id=request.client.client_id,
            partner_id=link.partner_id,
            purpose="link",
            fields=tuple(CLAIM_CATEGORIES[c] for c in released),
            consent_id=consent.pk,
            link_id=link.pk,
        )
        return claims

    def get_discovery_claims(self, request: Any) -> list[str]:
        return ["sub", "name", "email"]
