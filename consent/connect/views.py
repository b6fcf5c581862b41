"""The connect flow's endpoints: DOT's authorization view with the gateway's consent screen,
and DOT's OpenID Connect discovery and introspection with what the connect flow adds.

The consent screen never trusts hidden fields: the authorization request stays in the URL,
and both the GET that shows the screen and the POST that answers it validate it again
through DOT (client, exact redirect URI, scopes, PKCE), then check what the gateway adds:
``state`` required, PKCE with S256 only, and every consent asked for allowed by the
partnerships. Errors reach the client per RFC 6749 §4.1.2.1 (with RFC 9207 ``iss``) only once
its redirect URI is known to be registered; before that, the customer sees them here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import Application
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView, ConnectDiscoveryInfoView, UserInfoView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from oauthlib.openid.connect.core.exceptions import (
    ConsentRequired,
    InteractionRequired,
    LoginRequired,
)

from consent.connect.models import ConnectToken
from consent.connect.selectors import connect_silent_choice
from consent.connect.services import (
    Ask,
    ConnectFlowNotAllowed,
    connect_approve,
    connect_plan,
    connect_refuse,
)
from consent.models import Customer
from consent.services.consents import consent_expiry
from ecosystem.errors import ApplicationError, problem_response
from ecosystem.models import User
from ecosystem.ratelimit import Window, client_address, ratelimit_hit, wait_text
from partners.models import DataCategory
from partners.oauth.token_cache import checksum_of
from partners.oauth.views import PartnerIntrospectView
from partners.scopes import IDENTITY_SCOPES

CATEGORIES_REQUIRED = "Tick at least one item for each sharing you approve, or refuse."
# Plain words for each purpose on the screen (the notice below each says it in full).
PURPOSE_WORDS = {
    "link": "know you are in the ecosystem, under a private id only it uses",
    "referral": "introduce you to {recipient}",
    "rewards": "share your activity with {recipient} so {recipient} can reward it",
    "offers": "show you offers it runs with other brands",
}


def _customer(user: Any) -> Customer | None:
    if not getattr(user, "is_authenticated", False) or user.kind != User.Kind.CUSTOMER:
        return None
    return Customer.objects.select_related("key").filter(user=user).first()


class ConnectForm(forms.Form):
    answer = forms.ChoiceField(choices=[("approve", "Approve"), ("refuse", "Refuse")])

    def __init__(self, *args: Any, plan: list[Ask], names: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.asks = []
        for index, ask in enumerate(plan):
            name = f"ask_{index}"
            if ask.categories:
                self.fields[name] = forms.MultipleChoiceField(
                    required=False,
                    choices=[(code, names.get(code, code)) for code in ask.categories],
                    initial=list(ask.categories),
                    widget=forms.CheckboxSelectMultiple,
                )
            self.asks.append((ask, name if ask.categories else None))

    def chosen(self) -> dict[str, list[str]]:
        return {
            ask.key: list(self.cleaned_data.get(name) or []) if name else []
            for ask, name in self.asks
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("answer") == "approve":
            for ask, name in self.asks:
                if name and not ask.purpose.single_partner and not data.get(name):
                    self.add_error(name, CATEGORIES_REQUIRED)
        return data


def _over_limit(keys: list[str]) -> Window | None:
    """Count one request against each key (all of them, so a refused one counts too); the
    first window it went over, or None."""
    limit = settings.OAUTH_CONNECT_RATE_PER_MINUTE
    windows = [ratelimit_hit(key, limit=limit, period=60) for key in keys]
    return next((window for window in windows if not window.allowed), None)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


@method_decorator(never_cache, name="dispatch")
class ConnectAuthorizationView(AuthorizationView):
    """/o/authorize/: DOT's authorization endpoint with the gateway's consent screen."""

    template_name = "connect/authorize.html"
    login_url = reverse_lazy("portal:login")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Counted before anything is validated or the sign-in step is reached: per network
        # address, and per signed-in account (never per client id, which anyone can name).
        keys = [f"authorize:ip:{client_address(request.META)}"]
        if request.user.is_authenticated:
            keys.append(f"authorize:user:{request.user.pk}")
        if window := _over_limit(keys):
            context = {"title": "Too many requests", "wait": wait_text(window.reset)}
            response = render(request, "connect/too_many.html", context, status=429)
            response["Retry-After"] = str(window.reset)
            return response
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.screen(request)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.screen(request)

    # --- prompt=none -------------------------------------------------------------------------
    def _silent(self) -> bool:
        return "none" in self.request.GET.get("prompt", "").split()

    def handle_no_permission(self) -> HttpResponse:
        """Not signed in. With ``prompt=none`` the app hears ``login_required`` on its
        redirect URI (OIDC Core 3.1.2.6) once the request is known to be valid (a request
        that is not valid hears that instead); otherwise, the sign-in page."""
        if not self._silent():
            return super().handle_no_permission()
        try:
            _scopes, credentials = self.validate_authorization_request(self.request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = Application.objects.get(client_id=credentials["client_id"])
        refused = self._refusal(credentials) or self._silent_error(LoginRequired, credentials)
        return self.error_response(refused, application)

    def _silent_error(self, kind: type, credentials: dict[str, Any]) -> OAuthToolkitError:
        error = kind(state=credentials.get("state"))
        return OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"])

    # --- errors ----------------------------------------------------------------------------
    def error_response(self, error: Any, application: Any, **kwargs: Any) -> HttpResponse:
        redirect, response = OAuthLibMixin.error_response(self, error, **kwargs)
        if redirect and error.oauthlib_error.redirect_uri:
            issuer = oauth2_settings.oauth2_authorization_server_issuer(self.request)
            url = add_params_to_uri(response["url"], [("iss", issuer)])
            return self.redirect(url, application)
        status = response["error"].status_code
        context = {"error": response["error"], "title": "This sign-in link does not work"}
        return render(self.request, "connect/error.html", context, status=status)

    def _refusal(self, credentials: dict[str, Any]) -> OAuthToolkitError | None:
        """What the gateway requires beyond DOT's checks: a state, and PKCE with S256."""
        redirect_uri, state = credentials["redirect_uri"], credentials.get("state")
        if not state:
            description = "state is required."
        elif credentials.get("code_challenge_method") != "S256":
            description = "PKCE with code_challenge_method=S256 is required; plain is refused."
        else:
            return None
        error = oauth_errors.InvalidRequestError(description=description, state=state)
        return OAuthToolkitError(error=error, redirect_uri=redirect_uri)

    # --- the screen ------------------------------------------------------------------------
    def screen(self, request: HttpRequest) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = Application.objects.select_related("partner_client__partner").get(
            client_id=credentials["client_id"]
        )
        self.redirect_origin = _origin(credentials["redirect_uri"])  # registered: DOT checked
        refused = self._refusal(credentials)
        if refused is not None:
            return self.error_response(refused, application)
        client = application.partner_client
        customer = _customer(request.user)
        silent = request.method == "GET" and self._silent()
        if customer is None and silent:  # a staff session: only the screen can switch
            return self.error_response(
                self._silent_error(InteractionRequired, credentials), application
            )
        if customer is None:
            context = {"partner": client.partner, "title": "Sign in as a customer"}
            return render(request, "connect/not_customer.html", context, status=403)
        try:
            plan = connect_plan(client=client, scopes=scopes)
        except ConnectFlowNotAllowed as refusal:
            error = oauth_errors.InvalidScopeError(
                description=refusal.detail, state=credentials.get("state")
            )
            back = self.error_response(
                OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"]),
                application,
            )
            if silent:  # no page to show it on
                return back
            context = {
                "partner": client.partner,
                "detail": refusal.detail,
                "back_url": back["Location"],
                "title": "This request cannot be approved",
            }
            return render(request, "connect/not_allowed.html", context, status=400)
        if silent:
            return self._silently(customer, client, application, plan, scopes, credentials)
        names = dict(DataCategory.objects.values_list("code", "name"))
        form = ConnectForm(request.POST or None, plan=plan, names=names)
        if request.method == "POST" and form.is_valid():
            answer = self._answer(request, form, customer, client, application, scopes)
            if answer is not None:
                return answer
        return self._render(request, form, customer, client, scopes)

    def _silently(
        self,
        customer: Customer,
        client: Any,
        application: Any,
        plan: list[Ask],
        scopes: list[str],
        credentials: dict[str, Any],
    ) -> HttpResponse:
        """``prompt=none`` with a signed-in customer: a code at once when the consents this
        app holds already cover the request (the customer's earlier choices stand),
        ``consent_required`` otherwise. Nothing new is granted: the same consents are
        confirmed, and the code is bound to them as on the screen."""
        chosen = connect_silent_choice(
            customer_id=customer.pk, client_id=client.pk, plan=plan, scopes=scopes
        )
        if chosen is None:
            return self.error_response(
                self._silent_error(ConsentRequired, credentials), application
            )
        scope = " ".join(scopes)
        with transaction.atomic():
            authorization = connect_approve(
                customer=customer, client=client, plan=plan, chosen=chosen, scope=scope
            )
            credentials = self._credentials(self.request)
            credentials["connect_authorization"] = authorization.pk
            response = self._authorized(self.request, scope, credentials, application, True)
            if response.status_code != 302 or "code=" not in response.get("Location", ""):
                transaction.set_rollback(True)
            return response

    def _answer(
        self,
        request: HttpRequest,
        form: ConnectForm,
        customer: Customer,
        client: Any,
        application: Any,
        scopes: list[str],
    ) -> HttpResponse | None:
        scope = " ".join(scopes)
        allow = form.cleaned_data["answer"] == "approve"
        credentials = self._credentials(request)
        if not allow:
            connect_refuse(customer=customer, client=client, scope=scope)
            return self._authorized(request, scope, credentials, application, allow=False)
        try:
            with transaction.atomic():
                plan = [ask for ask, _name in form.asks]
                authorization = connect_approve(
                    customer=customer, client=client, plan=plan, chosen=form.chosen(), scope=scope
                )
                credentials["connect_authorization"] = authorization.pk
                response = self._authorized(request, scope, credentials, application, allow=True)
                if response.status_code != 302 or "code=" not in response.get("Location", ""):
                    transaction.set_rollback(True)  # no code issued: nothing was approved
                return response
        except ApplicationError as refusal:
            form.add_error(None, refusal.detail)
            return None

    def _credentials(self, request: HttpRequest) -> dict[str, Any]:
        params = request.GET
        keys = ("client_id", "redirect_uri", "response_type", "state", "nonce")
        credentials = {key: params.get(key) for key in keys if params.get(key)}
        credentials["code_challenge"] = params.get("code_challenge")
        credentials["code_challenge_method"] = params.get("code_challenge_method")
        if params.get("claims"):
            credentials["claims"] = json.loads(params["claims"])
        return credentials

    def _authorized(
        self, request: HttpRequest, scope: str, credentials: dict, application: Any, allow: bool
    ) -> HttpResponse:
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=scope, credentials=credentials, allow=allow
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def _render(
        self,
        request: HttpRequest,
        form: ConnectForm,
        customer: Customer,
        client: Any,
        scopes: list[str],
    ) -> HttpResponse:
        asks = []
        for ask, name in form.asks:
            words = PURPOSE_WORDS.get(ask.purpose.pk, ask.purpose.description)
            asks.append(
                {
                    "ask": ask,
                    "sentence": words.format(recipient=ask.recipient.name),
                    "field": form[name] if name else None,
                }
            )
        context = {
            "partner": client.partner,
            "client": client,
            "asks": asks,
            "form": form,
            "signs_in": "openid" in scopes,
            "identity": [IDENTITY_SCOPES[s] for s in scopes if s in IDENTITY_SCOPES],
            "until": consent_expiry(timezone.now()),
            # The customer's own address, shown to them alone (never logged or sent on).
            "customer_email": customer.pii().email,
            "title": f"Connect {client.partner.name}",
        }
        response = render(request, self.template_name, context, status=400 if form.errors else 200)
        # The answer redirects to the client's registered URI: the page's CSP form-action must
        # allow that origin, or browsers stop the redirect (django-csp's per-response update).
        response._csp_update = {"form-action": [self.redirect_origin]}  # type: ignore[attr-defined]
        return response


@method_decorator(csrf_exempt, name="dispatch")  # DOT's view is exempt: keep it so
class ConnectUserInfoView(UserInfoView):
    """DOT's UserInfo behind per-address and per-token limits, counted before the token is
    looked up (an unknown token counts too); 429 problem+json with ``Retry-After``."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        bearer = request.META.get("HTTP_AUTHORIZATION", "")
        digest = salted_hmac("consent.connect.userinfo-throttle", bearer, algorithm="sha256")
        window = _over_limit(
            [
                f"userinfo:ip:{client_address(request.META)}",
                f"userinfo:token:{digest.hexdigest()[:32]}",
            ]
        )
        if window is None:
            return super().dispatch(request, *args, **kwargs)
        limit = settings.OAUTH_CONNECT_RATE_PER_MINUTE
        response = problem_response(
            request,
            status=429,
            code="rate_limited",
            title="Too many requests.",
            detail=f"At most {limit} UserInfo requests a minute; retry after the reset.",
        )
        response["Retry-After"] = str(window.reset)
        for name, value in window.headers().items():
            response[name] = value
        return response


class ConnectDiscoveryView(ConnectDiscoveryInfoView):
    """OpenID Provider metadata at /.well-known/openid-configuration: DOT's, with what this
    server really offers (authorization code with PKCE S256, RS256, pairwise subjects)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = json.loads(super().get(request, *args, **kwargs).content)
        data.update(
            {
                "scopes_supported": list(IDENTITY_SCOPES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "subject_types_supported": ["pairwise"],
                "claims_supported": ["sub", "name", "email"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "introspection_endpoint": request.build_absolute_uri(
                    str(reverse_lazy("oauth2_provider:introspect"))
                ),
                "revocation_endpoint": request.build_absolute_uri(
                    str(reverse_lazy("oauth2_provider:revoke-token"))
                ),
                "authorization_response_iss_parameter_supported": True,
                "prompt_values_supported": ["none", "login"],
            }
        )
        data.pop("client_id_metadata_document_supported", None)
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class ConnectIntrospectView(PartnerIntrospectView):
    """Introspection (partners/oauth/views.py) plus, for a token from the connect flow, the
    ids of the consents it was issued under (to the token's own client only: anyone else
    hears ``active: false``)."""

    def _answer(self, token_value: str | None) -> JsonResponse:
        response = super()._answer(token_value)
        body = json.loads(response.content)
        if not body.get("active"):
            return response
        row = (
            ConnectToken.objects.filter(access_token__token_checksum=checksum_of(token_value or ""))
            .select_related("authorization")
            .first()
        )
        if row is not None:
            body["consent_ids"] = sorted(row.authorization.consents.values_list("pk", flat=True))
            body["sub"] = row.authorization.link_id
        return JsonResponse(body)
