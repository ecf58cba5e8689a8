"""The peewee tables. Times are naive UTC datetimes. The schema itself is made by
`app/migrations/`; these classes must match the latest migration (a test checks)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee as pw

from app import latency

# Bound at run time by app.db.open_database(); models are shared by every database.
database_proxy = pw.DatabaseProxy()


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime every table stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONField(pw.TextField):
    """A JSON value stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Provider(BaseModel):
    name = pw.CharField(max_length=100, unique=True)
    type = pw.CharField(max_length=50)
    base_url = pw.CharField(max_length=500)
    api_key_encrypted = pw.TextField(null=True)  # Fernet token; never the plaintext
    api_key_hint = pw.CharField(max_length=16, null=True)  # "…a1b2"
    headers = JSONField(default=dict)  # extra header names -> hints ("…a1b2"), never values
    headers_encrypted = pw.TextField(null=True)  # Fernet token of {name: value}
    timeout_s = pw.FloatField(default=60.0)
    enabled = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


def price_field() -> pw.DecimalField:
    """USD per million tokens; NULL: none set."""
    return pw.DecimalField(max_digits=12, decimal_places=6, null=True)


def budget_field() -> pw.DecimalField:
    """USD per calendar month (UTC); NULL: no budget."""
    return pw.DecimalField(max_digits=14, decimal_places=6, null=True)


class Endpoint(BaseModel):
    name = pw.CharField(max_length=100, unique=True)
    path = pw.CharField(max_length=200, unique=True)
    kind = pw.CharField(max_length=20)
    # The first target's (lowest priority, then id), kept in step by app.services.targets:
    # the contract's endpoint fields, and what a request naming an upstream model finds.
    model = pw.CharField(max_length=200)
    provider = pw.ForeignKeyField(Provider, backref="endpoints", on_delete="RESTRICT")
    enabled = pw.BooleanField(default=True)
    aliases = JSONField(default=list)  # extra model names it answers to
    monthly_budget = budget_field()
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class EndpointTarget(BaseModel):
    """Where an endpoint's requests go: a provider and its model name there. Tried by
    priority (lower first), by weight among equals; prices override the shipped table."""

    endpoint = pw.ForeignKeyField(Endpoint, backref="targets", on_delete="CASCADE")
    provider = pw.ForeignKeyField(Provider, backref="targets", on_delete="RESTRICT")
    model = pw.CharField(max_length=200)
    priority = pw.IntegerField(default=0)
    weight = pw.IntegerField(default=1)
    enabled = pw.BooleanField(default=True)
    price_input_per_m = price_field()
    price_cached_input_per_m = price_field()
    price_output_per_m = price_field()
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Token(BaseModel):
    name = pw.CharField(max_length=100)
    prefix = pw.CharField(max_length=16, unique=True)  # the public, indexable part
    secret_hash = pw.CharField(max_length=100)  # bcrypt of the whole token
    scopes = JSONField(default=list)
    rpm = pw.IntegerField(null=True)
    monthly_requests = pw.IntegerField(null=True)
    monthly_tokens = pw.BigIntegerField(null=True)
    allowed_ips = JSONField(default=list)
    allowed_endpoints = JSONField(default=list)  # endpoint ids; empty: all
    monthly_budget = budget_field()
    expires_at = pw.DateTimeField(null=True)
    revoked = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)


class Admin(BaseModel):
    username = pw.CharField(max_length=100, unique=True)
    password_hash = pw.CharField(max_length=100)
    role = pw.CharField(max_length=20, default="admin")
    created_at = pw.DateTimeField(default=utcnow)


class AdminSession(BaseModel):
    admin = pw.ForeignKeyField(Admin, backref="sessions", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)  # sha256 of the session token
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    last_seen_at = pw.DateTimeField(default=utcnow)
    client_ip = pw.CharField(max_length=64, null=True)
    revoked = pw.BooleanField(default=False)


class RequestLog(BaseModel):
    # Plain ids, not foreign keys: the history outlives what it names and costs no checks.
    id = pw.BigAutoField()
    time = pw.DateTimeField(index=True)
    request_id = pw.CharField(max_length=128, index=True)
    token_id = pw.IntegerField(null=True)
    endpoint_id = pw.IntegerField(null=True)
    provider_id = pw.IntegerField(null=True)
    model = pw.CharField(max_length=200, null=True)
    status = pw.IntegerField()
    latency_ms = pw.FloatField()
    ttfb_ms = pw.FloatField(null=True)
    prompt_tokens = pw.IntegerField(default=0)
    completion_tokens = pw.IntegerField(default=0)
    usage_estimated = pw.BooleanField(default=False)
    client_ip = pw.CharField(max_length=64, null=True)
    stream = pw.BooleanField(default=False)
    error = pw.TextField(null=True)
    client_dialect = pw.CharField(max_length=20, null=True)  # chat, responses, messages
    provider_dialect = pw.CharField(max_length=20, null=True)
    agent_session = pw.CharField(max_length=128, null=True)  # e.g. X-Claude-Code-Session-Id
    target_id = pw.IntegerField(null=True)  # the target that answered (or was tried last)
    attempts = pw.IntegerField(default=1)
    attempt_log = JSONField(null=True)  # each attempt, where there was more than one
    cached_tokens = pw.IntegerField(default=0)  # of prompt_tokens, read from a prompt cache
    # Billionths of a US dollar, at the prices in force when the row was written (exact and
    # additive on both databases); NULL: no price was known for the model.
    cost_nanos = pw.BigIntegerField(null=True)

    class Meta:
        indexes = ((("token_id", "time"), False), (("endpoint_id", "time"), False),
                   (("agent_session", "time"), False))


class Rollup(BaseModel):
    """Request-log totals per period and (token, endpoint, provider, model, client dialect,
    provider dialect); kept when old log rows are purged. 0 or "", not NULL, means "none",
    so the unique key can be upserted on."""

    token_id = pw.IntegerField(default=0)
    endpoint_id = pw.IntegerField(default=0)
    provider_id = pw.IntegerField(default=0)
    model = pw.CharField(max_length=200, default="")
    client_dialect = pw.CharField(max_length=20, default="")
    provider_dialect = pw.CharField(max_length=20, default="")
    requests = pw.IntegerField(default=0)
    errors = pw.IntegerField(default=0)  # status 400 and above
    upstream_errors = pw.IntegerField(default=0)  # of those, 500 and above (502, 504…)
    prompt_tokens = pw.BigIntegerField(default=0)
    completion_tokens = pw.BigIntegerField(default=0)
    latency_ms_sum = pw.FloatField(default=0.0)
    cached_tokens = pw.BigIntegerField(default=0)
    cost_nanos = pw.BigIntegerField(default=0)
    unpriced = pw.IntegerField(default=0)  # requests that used tokens but had no price
    # One count per latency bucket (app.latency.COLUMNS): they add up like the rest.
    locals().update({name: pw.IntegerField(default=0) for name in latency.COLUMNS})


class UsageDaily(Rollup):
    day = pw.DateField()

    class Meta:
        indexes = ((("day", "token_id", "endpoint_id", "provider_id", "model", "client_dialect",
                     "provider_dialect"), True),)


class UsageHourly(Rollup):
    hour = pw.DateTimeField()

    class Meta:
        indexes = ((("hour", "token_id", "endpoint_id", "provider_id", "model",
                     "client_dialect", "provider_dialect"), True),)


class ProviderHealth(BaseModel):
    """The last check of each provider (by the scheduled job or the admin's "test")."""

    provider_id = pw.IntegerField(primary_key=True)
    checked_at = pw.DateTimeField()
    ok = pw.BooleanField()
    latency_ms = pw.FloatField(null=True)
    error = pw.TextField(null=True)


class JobLock(BaseModel):
    """Who runs a scheduled job now, so servers sharing a database run it once."""

    name = pw.CharField(max_length=100, primary_key=True)
    holder = pw.CharField(max_length=100)
    expires_at = pw.DateTimeField()


class AuditEntry(BaseModel):
    id = pw.BigAutoField()
    time = pw.DateTimeField(default=utcnow, index=True)
    actor = pw.CharField(max_length=100)  # admin username, or "cli:<os user>"
    source = pw.CharField(max_length=64, null=True)  # client IP, or "cli"
    action = pw.CharField(max_length=50)  # e.g. "provider.create"
    target_type = pw.CharField(max_length=30)
    target_id = pw.IntegerField(null=True)
    changes = JSONField(default=dict)  # never secrets


class BudgetAlert(BaseModel):
    """A budget's crossing of a threshold in a month: the row's insertion is what makes it
    happen once, across restarts and servers; the webhook's delivery is noted on it."""

    subject = pw.CharField(max_length=10)  # token, endpoint
    subject_id = pw.IntegerField()
    month = pw.DateField()
    threshold = pw.IntegerField()  # percent: 80, 100
    created_at = pw.DateTimeField(default=utcnow)
    sent_at = pw.DateTimeField(null=True)
    tries = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("subject", "subject_id", "month", "threshold"), True),)


class Setting(BaseModel):
    key = pw.CharField(max_length=100, primary_key=True)
    value = JSONField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)


TABLES: list[type[BaseModel]] = [
    Provider,
    Endpoint,
    EndpointTarget,
    Token,
    Admin,
    AdminSession,
    RequestLog,
    UsageDaily,
    UsageHourly,
    ProviderHealth,
    JobLock,
    AuditEntry,
    BudgetAlert,
    Setting,
]
