"""Version 1: the configuration tables (providers, endpoints, tokens, admins, sessions,
settings)."""

import peewee as pw

from app.migrations.frozen import JSONField, utcnow


class Base(pw.Model):
    class Meta:
        legacy_table_names = False


class Provider(Base):
    name = pw.CharField(max_length=100, unique=True)
    type = pw.CharField(max_length=50)
    base_url = pw.CharField(max_length=500)
    api_key_encrypted = pw.TextField(null=True)
    api_key_hint = pw.CharField(max_length=16, null=True)
    headers = JSONField(default=dict)
    timeout_s = pw.FloatField(default=60.0)
    enabled = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Endpoint(Base):
    name = pw.CharField(max_length=100, unique=True)
    path = pw.CharField(max_length=200, unique=True)
    kind = pw.CharField(max_length=20)
    model = pw.CharField(max_length=200)
    provider = pw.ForeignKeyField(Provider, on_delete="RESTRICT")
    enabled = pw.BooleanField(default=True)
    price_input_per_m = pw.DecimalField(max_digits=12, decimal_places=6, null=True)
    price_output_per_m = pw.DecimalField(max_digits=12, decimal_places=6, null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Token(Base):
    name = pw.CharField(max_length=100)
    prefix = pw.CharField(max_length=16, unique=True)
    secret_hash = pw.CharField(max_length=100)
    scopes = JSONField(default=list)
    rpm = pw.IntegerField(null=True)
    monthly_requests = pw.IntegerField(null=True)
    monthly_tokens = pw.BigIntegerField(null=True)
    allowed_ips = JSONField(default=list)
    allowed_endpoints = JSONField(default=list)
    expires_at = pw.DateTimeField(null=True)
    revoked = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)


class Admin(Base):
    username = pw.CharField(max_length=100, unique=True)
    password_hash = pw.CharField(max_length=100)
    role = pw.CharField(max_length=20, default="admin")
    created_at = pw.DateTimeField(default=utcnow)


class AdminSession(Base):
    admin = pw.ForeignKeyField(Admin, on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    last_seen_at = pw.DateTimeField(default=utcnow)
    client_ip = pw.CharField(max_length=64, null=True)
    revoked = pw.BooleanField(default=False)


class Setting(Base):
    key = pw.CharField(max_length=100, primary_key=True)
    value = JSONField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)


TABLES = [Provider, Endpoint, Token, Admin, AdminSession, Setting]


def up(db: pw.Database) -> None:
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES)
