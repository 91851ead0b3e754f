"""GovGrid settings: everything that differs between machines comes from the environment.

Defaults give the embedded set-up of `make run`: a SQLite file and a filesystem broker under var/.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from govgrid.net import tile_origin

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("GOVGRID_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    TIME_ZONE=(str, "Asia/Shanghai"),
    LANGUAGE_CODE=(str, "zh-hans"),
)
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded database, broker and media live here
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DEBUG = env("DEBUG")
# The production static build (`collectstatic`, the Dockerfile's build step) reads no data and signs nothing: it needs
# none of the secrets below, which a build machine should not hold.
STATIC_BUILD = sys.argv[1:2] == ["collectstatic"]
SECRET_KEY = env("SECRET_KEY", default="") or ("static-build-only" if STATIC_BUILD else "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see README, Configuration).")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105
# Personal data (parties/crypto.py): ID and phone numbers are encrypted with these Fernet keys (comma-separated,
# the first encrypts, all decrypt, so keys rotate) and found by exact value through an HMAC with its own key.
GOVGRID_FIELD_KEYS = env.list("GOVGRID_FIELD_KEYS", default=[])
GOVGRID_HMAC_KEY = env.str("GOVGRID_HMAC_KEY", default="")
if not GOVGRID_FIELD_KEYS or not GOVGRID_HMAC_KEY:
    if not DEBUG and not STATIC_BUILD:
        raise ImproperlyConfigured(
            "GOVGRID_FIELD_KEYS and GOVGRID_HMAC_KEY must be set when DEBUG is off: they encrypt and index residents' "
            "ID and phone numbers (see README, Configuration, and docs/parties.md)."
        )
    # Development keys derived from SECRET_KEY, so `make run` needs nothing (never used to serve with DEBUG off).
    import base64
    import hashlib

    if not GOVGRID_FIELD_KEYS:
        _digest = hashlib.sha256(b"govgrid-field-key:" + SECRET_KEY.encode()).digest()
        GOVGRID_FIELD_KEYS = [base64.urlsafe_b64encode(_digest).decode()]
    if not GOVGRID_HMAC_KEY:
        GOVGRID_HMAC_KEY = hashlib.sha256(b"govgrid-hmac-key:" + SECRET_KEY.encode()).hexdigest()
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "guardian",
    "treebeard",
    "grids",
    "cases",
    "casemap",
    "notifications",
    "parties",
    "mediation",
    "dashboard",
    "bench",
    "govgrid",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "govgrid.middleware.RefuseNulMiddleware",
    "govgrid.db_router.ReplicaReadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "grids.middleware.SessionIdleMiddleware",
    "grids.middleware.UserLanguageMiddleware",
    "grids.middleware.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "govgrid.urls"
FORM_RENDERER = "govgrid.forms_renderer.FastRenderer"
WSGI_APPLICATION = "govgrid.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "grids.context_processors.navigation",
            ],
            # Template tags of a sub-package (mediation/risk) are not found by app discovery: named here.
        },
    }
]

# Database: PostgreSQL in production and tests, SQLite for the embedded default.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'govgrid.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web, worker and beat processes read while one writes; IMMEDIATE avoids
            # "database is locked" on upgrade from a read to a write transaction.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction pooling a server-side cursor would outlive its transaction's server.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
# Read replicas (PostgreSQL streaming replicas): people's GETs read from them, see govgrid/db_router.py.
GOVGRID_REPLICAS: list[str] = []
for _n, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _replica = environ.Env.db_url_config(_url)
    _replica.setdefault("CONN_MAX_AGE", DATABASES["default"].get("CONN_MAX_AGE", 0))
    _replica["CONN_HEALTH_CHECKS"] = True
    _replica["DISABLE_SERVER_SIDE_CURSORS"] = DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False)
    _replica["TEST"] = {"MIRROR": "default"}  # tests that do not ask for a replica of their own read the primary
    DATABASES[f"replica{_n}"] = _replica
    GOVGRID_REPLICAS.append(f"replica{_n}")
DATABASE_ROUTERS = ["govgrid.db_router.ReplicaRouter"]
# Seconds a person who just wrote keeps reading from the primary (longer than the replicas' usual lag).
GOVGRID_REPLICA_PIN_SECONDS = env.int("GOVGRID_REPLICA_PIN_SECONDS", default=10)
if env.str("DATABASE_TEST_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("DATABASE_TEST_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "grids.User"
# django-axes first: it refuses a locked-out account or address before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "display_name", "first_name", "last_name", "email", "phone")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Object permissions live on region nodes through guardian's direct foreign-key models; all checks go
# through grids/access.py, which applies them to whole subtrees. No anonymous user object is needed.
# guardian's own backend answers per-object questions only; subtree checks are access.py's job.
SILENCED_SYSTEM_CHECKS = [
    "guardian.W001",
    # SQLite (the embedded default) keeps a covering index's key columns only; PostgreSQL carries the rest.
    "models.W040",
]
GUARDIAN_ANONYMOUS_USER_NAME = None
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = env("LANGUAGE_CODE")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Uploaded files: local disk by default; any S3-compatible object store (MinIO, Ceph, a cloud's) by setting
# GOVGRID_S3_BUCKET (with GOVGRID_S3_ENDPOINT_URL, GOVGRID_S3_ACCESS_KEY, GOVGRID_S3_SECRET_KEY).
_S3_BUCKET = env.str("GOVGRID_S3_BUCKET", default="")
_DEFAULT_STORAGE = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _S3_BUCKET,
            "endpoint_url": env.str("GOVGRID_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("GOVGRID_S3_ACCESS_KEY", default="") or None,
            "secret_key": env.str("GOVGRID_S3_SECRET_KEY", default="") or None,
            "region_name": env.str("GOVGRID_S3_REGION", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,  # files are private; the app serves them after its own check
            "file_overwrite": False,
        },
    }
    if _S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
)
STORAGES = {
    "default": _DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
if not DEBUG:  # runserver serves static files in development; WhiteNoise does in production
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

# Uploads: imports are read in memory up to this size and refused above it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 25 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 25 * 1024 * 1024
GOVGRID_IMPORT_MAX_BYTES = env.int("GOVGRID_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
GOVGRID_IMPORT_MAX_ROWS = env.int("GOVGRID_IMPORT_MAX_ROWS", default=50_000)
# Monthly reports (docs/dashboard.md): how many missed months the job writes after a downtime.
GOVGRID_MONTHLY_REPORTS_CATCH_UP = env.int("GOVGRID_MONTHLY_REPORTS_CATCH_UP", default=12)
# The dashboard's "overdue now" counts (made each minute by beat) older than this are ignored and counted live.
GOVGRID_OVERDUE_STALE_SECONDS = env.int("GOVGRID_OVERDUE_STALE_SECONDS", default=180)
# Risk warnings: how many missed nights the nightly job catches up after a downtime (docs/mediation.md).
GOVGRID_RISK_CATCH_UP = env.int("GOVGRID_RISK_CATCH_UP", default=7)

# Imports of households, residents and organisations (parties/transfer.py) run in Celery and may be larger.
GOVGRID_PARTIES_IMPORT_MAX_BYTES = env.int("GOVGRID_PARTIES_IMPORT_MAX_BYTES", default=40 * 1024 * 1024)
GOVGRID_PARTIES_IMPORT_MAX_ROWS = env.int("GOVGRID_PARTIES_IMPORT_MAX_ROWS", default=200_000)
# Celery queue of the imports ("" = the default queue), so a long import can get a worker of its own.
GOVGRID_IMPORT_QUEUE = env.str("GOVGRID_IMPORT_QUEUE", default="")
# Default 包联 limits of a new party member (admins change them per member).
GOVGRID_KEEPING_HOUSEHOLD_LIMIT = env.int("GOVGRID_KEEPING_HOUSEHOLD_LIMIT", default=10)
GOVGRID_KEEPING_ORGANISATION_LIMIT = env.int("GOVGRID_KEEPING_ORGANISATION_LIMIT", default=5)

# Attachments of case steps (checked by content; see cases/attachments.py).
GOVGRID_ATTACHMENT_MAX_BYTES = env.int("GOVGRID_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
GOVGRID_ATTACHMENT_MAX_FILES = env.int("GOVGRID_ATTACHMENT_MAX_FILES", default=9)
GOVGRID_STRIP_PHOTO_LOCATION = env.bool("GOVGRID_STRIP_PHOTO_LOCATION", default=False)

# Business calendar (cases/calendar.py): the working periods of a working day, and the country whose public
# holidays (for China with the weekend days made working days, 调休) seed the calendar table.
GOVGRID_WORKDAY_HOURS = env.str("GOVGRID_WORKDAY_HOURS", default="09:00-12:00,13:30-17:30")
GOVGRID_WORKDAY_COUNTRY = env.str("GOVGRID_WORKDAY_COUNTRY", default="CN")
# Deadlines (cases/deadlines.py): a step turns yellow when this share of its time is used (and its holder is
# reminded; the reminder, 催办 and 督办 each go to a unit, seen by all its members).
GOVGRID_YELLOW_FRACTION = env.float("GOVGRID_YELLOW_FRACTION", default=0.75)
# An unsatisfied call-back (回访不满意): "auto" sends the case back for re-handling (重办) at once, "queue" leaves
# the decision (re-handle or keep closed) to the dispatcher of the level that closed it.
GOVGRID_REHANDLE_ON_UNSATISFIED = env.str("GOVGRID_REHANDLE_ON_UNSATISFIED", default="auto")

# The benchmarks' floor page (bench/views.py): only for the server bench_cases starts; never on an installation.
GOVGRID_BENCH_FLOOR = env.bool("GOVGRID_BENCH_FLOOR", default=False)

# Map tiles: any XYZ tile server reachable from the intranet; boundaries draw without one.
GOVGRID_TILE_URL = env.str("GOVGRID_TILE_URL", default="")
GOVGRID_TILE_ATTRIBUTION = env.str("GOVGRID_TILE_ATTRIBUTION", default="")
# The case map (casemap/, docs/map.md): at most this many case points in one answer (beyond, one weighted point per
# grid), and at most this many polygons (beyond, the deepest level of the tree that has no more).
GOVGRID_MAP_MAX_POINTS = env.int("GOVGRID_MAP_MAX_POINTS", default=2000)
GOVGRID_MAP_MAX_AREAS = env.int("GOVGRID_MAP_MAX_AREAS", default=2000)

# Security
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_SAMESITE = "Lax"
# Behind the proxy that ends HTTPS (docs/operations.md): it says so in X-Forwarded-Proto. HSTS is only ever sent
# on HTTPS responses, so a year is safe as the production default; SECURE_SSL_REDIRECT is the proxy's job.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Addresses (or networks) of the reverse proxies in front of the app: only when the request comes from one of them
# is the client's address read from X-Forwarded-For (for the login lockout and the audit trail).
GOVGRID_TRUSTED_PROXIES = env.list("GOVGRID_TRUSTED_PROXIES", default=[])

# Content-Security-Policy on every response (Django's middleware): scripts and styles only from the app itself,
# no inline script. The tile server of the maps, when set, is the one other origin images may come from.
_TILE_ORIGIN = tile_origin(env.str("GOVGRID_TILE_URL", default=""))
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:", *([_TILE_ORIGIN] if _TILE_ORIGIN else [])],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "worker-src": [CSP.SELF],
    "manifest-src": [CSP.SELF],
    "media-src": [CSP.SELF, "blob:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Permissions-Policy: the report page asks for the position and the camera; nothing else is allowed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "geolocation": ["self"],
    "camera": ["self"],
    **{
        feature: []
        for feature in (
            "accelerometer",
            "autoplay",
            "browsing-topics",
            "display-capture",
            "encrypted-media",
            "fullscreen",
            "gyroscope",
            "hid",
            "magnetometer",
            "microphone",
            "midi",
            "payment",
            "picture-in-picture",
            "publickey-credentials-get",
            "screen-wake-lock",
            "serial",
            "usb",
            "xr-spatial-tracking",
        )
    },
}

# Sessions: signed out after GOVGRID_SESSION_IDLE_MINUTES without a request (shared office computers), unless
# the person ticked "keep me signed in on this phone" (GOVGRID_SESSION_REMEMBER_DAYS).
GOVGRID_SESSION_IDLE_MINUTES = env.int("GOVGRID_SESSION_IDLE_MINUTES", default=30)
GOVGRID_SESSION_REMEMBER_DAYS = env.int("GOVGRID_SESSION_REMEMBER_DAYS", default=7)
SESSION_COOKIE_AGE = GOVGRID_SESSION_REMEMBER_DAYS * 24 * 3600

# Failed logins (django-axes): after GOVGRID_LOGIN_FAILURE_LIMIT failures for one account, or from one address,
# further attempts are refused for GOVGRID_LOGIN_LOCKOUT_MINUTES (or until an admin unlocks the account).
AXES_FAILURE_LIMIT = env.int("GOVGRID_LOGIN_FAILURE_LIMIT", default=10)
GOVGRID_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("GOVGRID_LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
AXES_HANDLER = "grids.accounts.LoginAttemptHandler"
AXES_COOLOFF_TIME = timedelta(minutes=env.int("GOVGRID_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success does not forget failures: with the address among the lockout parameters, a reset would also wipe the
# failures against other accounts from that address (one valid login would reopen the guessing).
AXES_RESET_ON_SUCCESS = False
# A locked-out person trying again does not push the end of the lockout further away.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "govgrid.net.client_ip"
AXES_LOCKOUT_CALLABLE = "grids.account_views.login_locked_out"
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Sign-ins are in the audit trail (grids/accounts.py); axes keeps only the failure counts.
AXES_DISABLE_ACCESS_LOG = True

# Cache (Redis when REDIS_URL is set, process memory otherwise)
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions: read from the shared cache, written through to the database (which keeps them across a cache
# restart). Without a shared cache each process would hold its own stale copies, so the database alone serves.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

# Celery: Redis in production; by default a filesystem broker that needs no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
# The queue every task goes to unless routed (a separate installation on a shared Redis can take its own).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "grids.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["govgrid.api.filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "govgrid.api.pagination.KeysetPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "govgrid.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["govgrid.api.throttles.TokenOrUserThrottle"],
    # Per token, per signed-in user, and per address for the token endpoint (on the shared cache).
    "DEFAULT_THROTTLE_RATES": {
        "token": env.str("GOVGRID_API_RATE_TOKEN", default="600/min"),
        "user": env.str("GOVGRID_API_RATE_USER", default="600/min"),
        "anon": env.str("GOVGRID_API_RATE_ANON", default="30/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GovGrid API",
    "DESCRIPTION": "Cases, work orders, regions and notices of GovGrid. Errors: `{code, detail, fields, current}`.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CaseStateEnum": "cases.workflow.State",
        "WorkOrderStateEnum": "cases.workflow.WorkOrderState",
        "UrgencyEnum": "cases.models.Urgency",
        "CaseSourceEnum": "cases.models.Source",
        "ReportSourceEnum": "cases.api.serializers.REPORT_SOURCES",
        "HouseholdKindEnum": "parties.models.HouseholdKind",
        "OrganisationKindEnum": "parties.models.OrganisationKind",
    },
}

# Mail (Django 6.1 mailers): EMAIL_URL (smtp://user:password@host:587/?tls=True) or EMAIL_BACKEND chooses it.
# Without either, development prints mails on the console and production sends none: the e-mail channel is off,
# every notice still reaches the in-app inbox, and `check --deploy` says so (docs/operations.md).
_EMAIL_URL = env.str("EMAIL_URL", default="")
_EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="")
if _EMAIL_URL:
    _mail = environ.Env.email_url_config(_EMAIL_URL)
    MAILERS = {
        "default": {
            "BACKEND": _mail["EMAIL_BACKEND"],
            "OPTIONS": {
                "host": _mail.get("EMAIL_HOST") or "localhost",
                "port": _mail.get("EMAIL_PORT") or 25,
                "username": _mail.get("EMAIL_HOST_USER") or "",
                "password": _mail.get("EMAIL_HOST_PASSWORD") or "",
                "use_tls": bool(_mail.get("EMAIL_USE_TLS")),
                "use_ssl": bool(_mail.get("EMAIL_USE_SSL")),
                "timeout": 20,
            },
        }
    }
elif _EMAIL_BACKEND:
    MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND}}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.console.EmailBackend" if DEBUG else "govgrid.mail.MailOffBackend"
        }
    }
GOVGRID_EMAIL_CONFIGURED = bool(_EMAIL_URL or _EMAIL_BACKEND or DEBUG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="govgrid@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Notifications (notifications/): every notice lands in the in-app inbox; external channels are pluggable
# (code -> class path), chosen by each user, retried with backoff, and never block the change that caused them.
NOTIFY_CHANNELS = {
    "email": "notifications.channels.EmailChannel",
    "webhook": "notifications.channels.WebhookChannel",
}
# Channels a user gets until they choose on their notification settings page.
NOTIFY_DEFAULT_CHANNELS = env.list("NOTIFY_DEFAULT_CHANNELS", default=["email", "webhook"])
# A WeCom / DingTalk group robot (or any receiver of {"msgtype": "text", ...}); empty = channel off.
NOTIFY_WEBHOOK_URL = env.str("NOTIFY_WEBHOOK_URL", default="")
NOTIFY_WEBHOOK_TIMEOUT = env.float("NOTIFY_WEBHOOK_TIMEOUT", default=10)
# Base address of the site for links in e-mails and webhook messages (e.g. https://govgrid.example.org).
NOTIFY_SITE_URL = env.str("NOTIFY_SITE_URL", default="")

# Open311 GeoReport v2 (/open311/v2/): the jurisdiction_id clients must send (empty: none checked), the grid that
# takes requests placed by an address alone (a grid code; empty: a point is required), and the discovery contacts.
OPEN311_JURISDICTION = env.str("OPEN311_JURISDICTION", default="")
OPEN311_ADDRESS_GRID = env.str("OPEN311_ADDRESS_GRID", default="")
OPEN311_CONTACT = env.str("OPEN311_CONTACT", default="")
OPEN311_KEY_SERVICE = env.str("OPEN311_KEY_SERVICE", default="")
# Celery queue for deliveries ("" = the default queue), so a slow mail server cannot hold up the sweep.
NOTIFY_QUEUE = env.str("NOTIFY_QUEUE", default="")
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=9)
# Seconds after which an attempt still marked "sending" is taken as interrupted (worker killed mid-send);
# longer than any channel's timeout.
NOTIFY_SENDING_LEASE = env.int("NOTIFY_SENDING_LEASE", default=300)
# An interrupted attempt may or may not have reached the receiver: by default it is not repeated (the inbox
# has the notice anyway); True repeats it, so a receiver may see it twice.
NOTIFY_RESEND_INTERRUPTED = env.bool("NOTIFY_RESEND_INTERRUPTED", default=False)
# Seconds a delivery waits for its own task before the periodic retry_due_deliveries enqueues it again.
NOTIFY_REQUEUE_AFTER = env.int("NOTIFY_REQUEUE_AFTER", default=120)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Sign-ins are in the audit trail; axes would log each one (and each cleanup) at INFO.
    "loggers": {"axes": {"level": "WARNING"}},
}
