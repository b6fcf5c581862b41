"""Settings for the Ecosystem Gateway: every value comes from the environment.

Safe local defaults exist only when DEBUG is on; production must set them explicitly.
See .env.example for the full list.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from ecosystem.env import Env

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.text("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.flag("DEBUG", False)

# Development-only defaults: never used with DEBUG off.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-0123456789abcdefghijklmnop"
_DEV_FIELD_KEYS = "dev1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc="
_DEV_BLIND_INDEX_KEY = "ZGV2LW9ubHktYmxpbmQtaW5kZXgta2V5LTMyYnl0ZXM="
_DEV_RECEIPT_KEY = "devreceipt1:ZGV2LW9ubHktcmVjZWlwdC1zaWduaW5nLXNlZWQtMzI="


def _dev_default(value: str) -> str | None:
    return value if DEBUG else None


# Said when a required value is missing: the usual cause is a local run without DEBUG=1.
_LOCAL_HINT = " For local development, set DEBUG=1 (as make run and make test do)."


SECRET_KEY = env.text("SECRET_KEY", _dev_default(_DEV_SECRET_KEY), hint=_LOCAL_HINT)
ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env.text("SITE_URL", "http://127.0.0.1:8000" if DEBUG else None).rstrip("/")

# Field encryption: kid:base64(32 bytes), comma-separated; the first key encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = env.keys(
    "FIELD_ENCRYPTION_KEYS", _dev_default(_DEV_FIELD_KEYS), hint=_LOCAL_HINT
)
BLIND_INDEX_KEY = env.keys("BLIND_INDEX_KEY", _dev_default(f"bidx:{_DEV_BLIND_INDEX_KEY}"))
# Consent receipts and access checkpoints: one Ed25519 private seed, kid:base64url(32 bytes).
RECEIPT_SIGNING_KEY = env.keys(
    "RECEIPT_SIGNING_KEY", _dev_default(_DEV_RECEIPT_KEY), hint=_LOCAL_HINT
)
if len(RECEIPT_SIGNING_KEY) != 1:
    raise ImproperlyConfigured("RECEIPT_SIGNING_KEY takes exactly one kid:key.")
# The legal jurisdiction consent receipts name (Kantara "jurisdiction"), e.g. "EU" or "AU".
RECEIPT_JURISDICTION = env.text("RECEIPT_JURISDICTION", "EU")
# Retired receipt public keys, still published for verification: kid:base64url(32 bytes), ….
RECEIPT_VERIFY_KEYS = env.keys("RECEIPT_VERIFY_KEYS") if env.raw("RECEIPT_VERIFY_KEYS") else {}

INSTALLED_APPS = [
    "ecosystem.apps.EcosystemAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "oauth2_provider",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The layers, from the bottom (DESIGN.md, Layout; pyproject.toml's import-linter contract).
    "ecosystem",
    "partners",
    "partners.webhooks",
    "consent",
    "consent.connect",
    "exchanges.rewards",
    "exchanges.referrals",
    "exchanges.offers",
]

MIDDLEWARE = [
    "ecosystem.metrics.MetricsMiddleware",  # outermost: times and counts every answer
    "ecosystem.middleware.RequestIdMiddleware",
    "ecosystem.middleware.RateLimitHeadersMiddleware",
    "ecosystem.middleware.NulInPathMiddleware",
    "ecosystem.errors.OutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ecosystem.middleware.PrivateResponsesMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ecosystem.urls"
WSGI_APPLICATION = "ecosystem.wsgi.application"
AUTH_USER_MODEL = "ecosystem.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # admins and partner staff: username
    "consent.auth.CustomerEmailBackend",  # customers: email, through the blind index
]

# Widgets render through TEMPLATES, so templates/ can mend a widget's markup (the admin's
# split date/time widget, whose two inputs Django leaves without a <label>).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # takes the write lock at BEGIN (no upgrade deadlock), and the timeout waits instead of
    # failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so a Celery worker process can see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DB_CONN_MAX_AGE", 600, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Server-side binding, so psycopg prepares a statement on its connection once it has run
    # five times there: the hot paths then skip parsing and planning. Behind pgbouncer in
    # transaction mode this needs pgbouncer 1.21+ with max_prepared_statements > 0; with an
    # older pgbouncer, or in statement mode, set DB_PREPARED_STATEMENTS=0.
    if env.flag("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=5
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
CACHE_URL = env.url(
    "CACHE_URL", f"file://{VAR_DIR / 'cache'}", schemes={"file", "redis", "rediss", "locmem"}
)
if CACHE_URL.startswith(("redis://", "rediss://")):
    _cache: dict[str, object] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        # An unreachable cache fails fast (and answers 503) rather than hanging a worker.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
elif CACHE_URL.startswith("file://"):
    _cache = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": CACHE_URL.removeprefix("file://"),
    }
else:
    _cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
if "OPTIONS" not in _cache:
    # Django culls a third of a file or memory cache once it holds 300 entries (its default):
    # rate-limit windows, sign-in lockouts and token grants would vanish at random.
    _cache["OPTIONS"] = {"MAX_ENTRIES": env.integer("CACHE_MAX_ENTRIES", 50_000, minimum=300)}
CACHES = {"default": {**_cache, "KEY_PREFIX": env.text("CACHE_KEY_PREFIX", "eg")}}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.url(
    "CELERY_BROKER_URL",
    "filesystem://",
    schemes={"filesystem", "redis", "rediss", "amqp", "amqps", "memory"},
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-keys": {
        "task": "ecosystem.tasks.idempotency_purge_task",
        "schedule": 3600.0,
    },
}

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = {
    # Development backends print or write mail with recipient addresses redacted.
    "console": "ecosystem.mail.RedactingConsoleBackend",
    "file": "ecosystem.mail.RedactingFileBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}.get(env.text("EMAIL_BACKEND", "console"), "")
if not EMAIL_BACKEND:
    raise ImproperlyConfigured("EMAIL_BACKEND must be one of console, file, smtp, locmem.")
EMAIL_FILE_PATH = env.text("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env.text("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "Ecosystem Gateway <no-reply@localhost>")
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT_SECONDS", 30, minimum=1)
# Every email goes through the outbox (ecosystem.services.emails): seconds before each
# attempt, the first being the one queued at commit; then the email is given up.
_email_schedule = env.csv(
    "EMAIL_RETRY_SCHEDULE", ["0", "30", "120", "600", "1800", "3600", "7200", "14400"]
)
if not _email_schedule or not all(step.isdigit() for step in _email_schedule):
    raise ImproperlyConfigured("EMAIL_RETRY_SCHEDULE must be whole seconds, e.g. 0,30,120.")
EMAIL_RETRY_SCHEDULE = [int(step) for step in _email_schedule]
CELERY_BEAT_SCHEDULE["email-sweep"] = {
    "task": "ecosystem.tasks.email_sweep_task",
    "schedule": float(env.integer("EMAIL_SWEEP_SECONDS", 60, minimum=1)),
}

# --- Auth and security ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env.flag("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Content-Security-Policy (django-csp) on every answer, in development too so that a page
# breaking it shows up at once: our own static files only, no inline script or style (the
# templates have none; the few inline <style> elements Django's admin and the dashboard's
# server-drawn SVG charts carry get this request's nonce), no framing, no plugins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.NONE],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF, csp.NONCE],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "manifest-src": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "base-uri": [csp.NONE],
        "object-src": [csp.NONE],
    },
}

# --- Internationalisation and static files --------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- OAuth 2 (django-oauth-toolkit) ---------------------------------------------------------
# DOT's stock models; partner data hangs off them one-to-one rather than swapping them.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# Connect clients may register `http://127.0.0.1…` redirect URIs only when this is on.
CONNECT_LOOPBACK_REDIRECTS = env.flag("CONNECT_LOOPBACK_REDIRECTS", DEBUG)
# How long a connect refresh token lives past its access token (never past its consents).
CONNECT_REFRESH_TOKEN_SECONDS = env.integer(
    "CONNECT_REFRESH_TOKEN_SECONDS", 30 * 86_400, minimum=600, maximum=90 * 86_400
)
_DEV_OIDC_KEYS = BASE_DIR / "ecosystem" / "dev_keys"


def _pems(value: str) -> list[str]:
    """PEM private keys from one variable: literal \\n allowed, several keys back to back."""
    text = value.replace("\\n", "\n")
    end = "-----END PRIVATE KEY-----"
    return [f"{part.strip()}\n{end}\n" for part in text.split(end) if part.strip()]


# The ID-token signing key (RSA, PKCS#8 PEM) and the retired ones still published in the JWKS.
OIDC_RSA_PRIVATE_KEY = _pems(
    env.text(
        "OIDC_RSA_PRIVATE_KEY",
        (_DEV_OIDC_KEYS / "oidc-dev.pem").read_text() if DEBUG else None,
        hint=_LOCAL_HINT,
    )
)[0]
OIDC_RSA_PRIVATE_KEYS_INACTIVE = _pems(
    env.text(
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE",
        (_DEV_OIDC_KEYS / "oidc-dev-retired.pem").read_text() if DEBUG else "",
    )
)
OAUTH2_PROVIDER = {
    # At most 10 minutes: a bearer token is refused at once on revocation only where the
    # cache is read; its lifetime bounds every other exposure.
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.integer(
        "OAUTH_ACCESS_TOKEN_SECONDS", 600, minimum=60, maximum=600
    ),
    # RFC 9700 (OAuth 2.0 Security BCP): adopt every compliant behaviour DOT offers.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Connect clients (the authorization-code flow, docs/connect.md): PKCE S256 always, codes
    # single-use and short, refresh tokens rotated, `http` only for loopback in development.
    "PKCE_REQUIRED": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_EXPIRE_SECONDS": CONNECT_REFRESH_TOKEN_SECONDS,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if CONNECT_LOOPBACK_REDIRECTS else ["https"],
    "REQUEST_APPROVAL_PROMPT": "force",
    # OpenID Connect: RS256 ID tokens; retired keys stay in the JWKS until tokens signed with
    # them have expired.
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": SITE_URL,
    "OIDC_RSA_PRIVATE_KEY": OIDC_RSA_PRIVATE_KEY,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": OIDC_RSA_PRIVATE_KEYS_INACTIVE,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_SUBJECT_TYPES_SUPPORTED": ["pairwise"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "ID_TOKEN_EXPIRE_SECONDS": 600,
    "SCOPES_BACKEND_CLASS": "partners.oauth.scope_backend.PartnerClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "consent.connect.validators.ConnectOAuth2Validator",
    # Client secrets are 256-bit random: a fast salted hash (see partners/oauth/hashers.py).
    "CLIENT_SECRET_HASHER": "client_secret_sha256",
    "ERROR_RESPONSE_WITH_SCOPES": True,
}
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # people's passwords: the default
    "partners.oauth.hashers.ClientSecretSHA256Hasher",
]
# How long the emailed link to set a partner console password stays valid. Default: 3 days
PARTNER_SET_PASSWORD_SECONDS = env.integer("PARTNER_SET_PASSWORD_SECONDS", 3 * 86_400, minimum=3600)
# Partner applications a minute from one address (the public form and API).
PARTNER_APPLY_RATE_PER_MINUTE = env.integer("PARTNER_APPLY_RATE_PER_MINUTE", 5, minimum=1)
# Token requests a minute, per client id and per address, counted before the secret is checked.
OAUTH_TOKEN_RATE_PER_MINUTE = env.integer("OAUTH_TOKEN_RATE_PER_MINUTE", 60, minimum=1)
# Connect requests a minute: /o/authorize/ per address and per signed-in customer,
# /o/userinfo/ per address and per presented token.
OAUTH_CONNECT_RATE_PER_MINUTE = env.integer("OAUTH_CONNECT_RATE_PER_MINUTE", 60, minimum=1)
# API requests a minute per client.
API_RATE_LIMIT_PER_MINUTE = env.integer("API_RATE_LIMIT_PER_MINUTE", 600, minimum=1)

# Access-token grant cache (partners/oauth/token_cache.py): shared tier lifetime, and how long
# a process may trust its own copy (the bound on how late a revocation reaches it).
TOKEN_CACHE_SECONDS = env.integer("TOKEN_CACHE_SECONDS", 300, minimum=1)
TOKEN_CACHE_LOCAL_SECONDS = env.number("TOKEN_CACHE_LOCAL_SECONDS", 1.0, minimum=0, maximum=1)
TOKEN_CACHE_LOCAL_MAX_ENTRIES = 10_000

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "partners.api.auth.PartnerAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["partners.api.auth.PartnerScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["partners.api.auth.PartnerClientThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ecosystem.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "ecosystem.api.schema.GatewayAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "ecosystem.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "ecosystem.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ecosystem Gateway API",
    "DESCRIPTION": "Consented referrals, rewards and offers between partner brands.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "OAUTH2_FLOWS": ["clientCredentials", "authorizationCode"],
    "OAUTH2_AUTHORIZATION_URL": "/o/authorize/",
    "OAUTH2_REFRESH_URL": "/o/token/",
    "OAUTH2_TOKEN_URL": "/o/token/",
    # Operations sharing a path are routed by method (ecosystem/api/routing.py): each is
    # documented by its own view.
    "PREPROCESSING_HOOKS": ["ecosystem.api.routing.expand_operations"],
    # Several resources have a "status"; name each set so the schema's enums stay stable.
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "partners.webhooks.models.Delivery.Status",
        "PartnerStatusEnum": "partners.models.Partner.Status",
        "PartnershipStatusEnum": "partners.models.Partnership.Status",
        "StatementDirectionEnum": "exchanges.rewards.api.serializers.STATEMENT_DIRECTIONS",
        "StatementLineDirectionEnum": "exchanges.rewards.api.serializers.LINE_DIRECTIONS",
    },
}
IDEMPOTENCY_KEY_TTL_HOURS = env.integer("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=24)

# --- Webhooks (docs/webhooks.md) ------------------------------------------------------------
# host:port pairs that may be reached over http on loopback: local development and tests only.
WEBHOOK_ALLOWED_INSECURE_HOSTS = env.csv("WEBHOOK_ALLOWED_INSECURE_HOSTS", [])
# The destination ports a webhook may use (any other would make delivery a port probe).
_webhook_ports = env.csv("WEBHOOK_ALLOWED_PORTS", ["443"])
if not _webhook_ports or not all(p.isdigit() and 0 < int(p) < 65536 for p in _webhook_ports):
    raise ImproperlyConfigured("WEBHOOK_ALLOWED_PORTS must be TCP port numbers, e.g. 443,8443.")
WEBHOOK_ALLOWED_PORTS = [int(port) for port in _webhook_ports]
WEBHOOK_TIMEOUT_SECONDS = env.integer("WEBHOOK_TIMEOUT_SECONDS", 15, minimum=1)
# Seconds before each attempt (the first is the initial one): the Standard Webhooks schedule.
_webhook_schedule = env.csv(
    "WEBHOOK_RETRY_SCHEDULE", ["0", "5", "300", "1800", "7200", "18000", "36000", "36000"]
)
if not _webhook_schedule or not all(step.isdigit() for step in _webhook_schedule):
    raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE must be whole seconds, e.g. 0,5,300.")
WEBHOOK_RETRY_SCHEDULE = [int(step) for step in _webhook_schedule]
WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = env.integer(
    "WEBHOOK_SECRET_ROTATION_GRACE_SECONDS", 86_400, minimum=0
)
WEBHOOK_DISABLE_AFTER_FAILING_SECONDS = env.integer(
    "WEBHOOK_DISABLE_AFTER_FAILING_SECONDS", 5 * 86_400, minimum=60
)
WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = env.integer("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT", 4, minimum=1)
WEBHOOK_SWEEP_SECONDS = env.integer("WEBHOOK_SWEEP_SECONDS", 5, minimum=1)
WEBHOOK_EVENT_RETENTION_DAYS = env.integer("WEBHOOK_EVENT_RETENTION_DAYS", 30, minimum=30)
# Callable (endpoint) -> list of addresses told when an endpoint is disabled automatically.
WEBHOOK_ALERT_RECIPIENTS = env.text(
    "WEBHOOK_ALERT_RECIPIENTS", "partners.webhooks.alerts.partner_contact_recipients"
)
CELERY_BEAT_SCHEDULE["webhook-sweep"] = {
    "task": "partners.webhooks.tasks.webhook_sweep_task",
    "schedule": float(WEBHOOK_SWEEP_SECONDS),
}
CELERY_BEAT_SCHEDULE["purge-events"] = {
    "task": "partners.webhooks.tasks.events_purge_task",
    "schedule": 3600.0,
}

# --- Consent --------------------------------------------------------------------------------
# Days a consent lasts when granted (at most 365, also a database constraint).
CONSENT_DEFAULT_DAYS = env.integer("CONSENT_DEFAULT_DAYS", 365, minimum=1, maximum=365)
CONSENT_REQUEST_LAPSE_HOURS = env.integer("CONSENT_REQUEST_LAPSE_HOURS", 14 * 24, minimum=1)
# Hours after a customer refuses before the same partner may ask again for the same purpose.
CONSENT_REQUEST_COOLDOWN_HOURS = env.integer("CONSENT_REQUEST_COOLDOWN_HOURS", 30 * 24, minimum=0)
CUSTOMER_INVITATION_SECONDS = env.integer("CUSTOMER_INVITATION_SECONDS", 7 * 86_400, minimum=3600)
CUSTOMER_INVITATIONS_PER_PARTNER_PER_DAY = env.integer(
    "CUSTOMER_INVITATIONS_PER_PARTNER_PER_DAY", 1000, minimum=1
)
CELERY_BEAT_SCHEDULE["consents-expire"] = {
    "task": "consent.tasks.consents_expire_task",
    "schedule": 60.0,
}
# Consent reminders (docs/consent.md, Reminders): a digest of a customer's active consents at
# most every CONSENT_DIGEST_DAYS, a notice CONSENT_EXPIRY_NOTICE_DAYS before a consent expires.
CONSENT_DIGEST_DAYS = env.integer("CONSENT_DIGEST_DAYS", 90, minimum=1, maximum=365)
CONSENT_EXPIRY_NOTICE_DAYS = env.integer("CONSENT_EXPIRY_NOTICE_DAYS", 30, minimum=1, maximum=365)
CELERY_BEAT_SCHEDULE["consent-digests"] = {
    "task": "consent.tasks.consent_digests_send_task",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["consent-expiry-notices"] = {
    "task": "consent.tasks.consent_expiry_notices_send_task",
    "schedule": 3600.0,
}
# Referrals (exchanges/referrals). Hours before an unanswered referral expires. Default: 720
REFERRAL_EXPIRY_HOURS = env.integer("REFERRAL_EXPIRY_HOURS", 30 * 24, minimum=1)
# Referrals one partner may send about one customer per window. Defaults: 5 per 720 hours
REFERRAL_LIMIT_PER_CUSTOMER = env.integer("REFERRAL_LIMIT_PER_CUSTOMER", 5, minimum=1)
REFERRAL_LIMIT_WINDOW_HOURS = env.integer("REFERRAL_LIMIT_WINDOW_HOURS", 30 * 24, minimum=1)
# Token-cache invalidations the cache missed (partners/oauth/token_cache.py), replayed.
CELERY_BEAT_SCHEDULE["grant-invalidations-replay"] = {
    "task": "partners.tasks.grant_invalidations_replay_task",
    "schedule": 5.0,
}
CELERY_BEAT_SCHEDULE["referrals-expire"] = {
    "task": "exchanges.referrals.tasks.referrals_expire_task",
    "schedule": 300.0,
}
# Partnerships whose validity window has closed are ended (their consents terminated).
CELERY_BEAT_SCHEDULE["partnerships-end-lapsed"] = {
    "task": "partners.tasks.partnerships_end_lapsed_task",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["access-checkpoint"] = {
    "task": "consent.tasks.access_checkpoint_task",
    "schedule": float(env.integer("ACCESS_CHECKPOINT_SECONDS", 300, minimum=10)),
}
CELERY_BEAT_SCHEDULE["consent-requests-lapse"] = {
    "task": "consent.tasks.consent_requests_lapse_task",
    "schedule": 60.0,
}
# Rewards (exchanges/rewards). Days a reward stays pending before it is posted. Default: 14
REWARD_HOLD_DAYS = env.integer("REWARD_HOLD_DAYS", 14, minimum=0)
# Days back an activity's occurred_at may lie and still be accepted. Default: 60
ACTIVITY_MAX_AGE_DAYS = env.integer("ACTIVITY_MAX_AGE_DAYS", 60, minimum=1)
CELERY_BEAT_SCHEDULE["rewards-post-due"] = {
    "task": "exchanges.rewards.tasks.rewards_post_due_task",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["statements-close"] = {
    "task": "exchanges.rewards.tasks.statements_close_task",
    "schedule": 3600.0,
}

# Offers (exchanges/offers): approved offers are published when their window opens, and
# retired when it closes (customers stop seeing them at once either way: checked on read).
CELERY_BEAT_SCHEDULE["offers-publish-due"] = {
    "task": "exchanges.offers.tasks.offers_publish_due_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["offers-retire-ended"] = {
    "task": "exchanges.offers.tasks.offers_retire_ended_task",
    "schedule": 300.0,
}

# --- Logging (ecosystem/logs.py) -----------------------------------------------------------
LOG_LEVEL = env.text("LOG_LEVEL", "INFO")
# json: one object per line (production's default); plain: a readable line (DEBUG's).
LOG_FORMAT = env.text("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ecosystem.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {
            "()": "ecosystem.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "ecosystem.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
# Workers log through the same handler (JSON lines with the task's request id), not Celery's.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Metrics (ecosystem/metrics.py, docs/deployment.md) -------------------------------------
# /metrics answers a scraper that sends this bearer token (at least 32 characters) or comes
# from one of these networks (CIDR, comma-separated); with neither set it answers 404.
METRICS_TOKEN = env.text("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters.")
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(network, strict=False)
        for network in env.csv("METRICS_ALLOWED_NETWORKS", [])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None
# prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself, from the environment, at import:
# set it for every gunicorn and Celery process of a node (one directory per node, emptied
# before they start). Checked here so a typo fails at start rather than losing the series.
PROMETHEUS_MULTIPROC_DIR = env.text("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR and not (
    os.path.isdir(PROMETHEUS_MULTIPROC_DIR) and os.access(PROMETHEUS_MULTIPROC_DIR, os.W_OK)
):
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR} is not a writable directory."
    )

# Mounts the no-op views under /bench/ that bench/ scripts measure. Never on in production.
BENCHMARK_VIEWS = env.flag("BENCHMARK_VIEWS", False)

# Tests run against real servers in CI; with this set, a missing server fails instead of skipping.
REQUIRE_SERVICES = env.flag("REQUIRE_SERVICES", False)
