"""Version 2: the history tables — request logs, daily usage rollups, the admin audit log."""

import peewee as pw

from app.migrations.frozen import JSONField, utcnow


class Base(pw.Model):
    class Meta:
        legacy_table_names = False


class RequestLog(Base):
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

    class Meta:
        indexes = ((("token_id", "time"), False),)


class UsageDaily(Base):
    day = pw.DateField()
    # 0, not NULL, for "none", so the unique key below can be upserted on.
    token_id = pw.IntegerField(default=0)
    endpoint_id = pw.IntegerField(default=0)
    provider_id = pw.IntegerField(default=0)
    model = pw.CharField(max_length=200, default="")
    requests = pw.IntegerField(default=0)
    errors = pw.IntegerField(default=0)
    prompt_tokens = pw.BigIntegerField(default=0)
    completion_tokens = pw.BigIntegerField(default=0)
    latency_ms_sum = pw.FloatField(default=0.0)

    class Meta:
        indexes = ((("day", "token_id", "endpoint_id", "provider_id", "model"), True),)


class AuditEntry(Base):
    id = pw.BigAutoField()
    time = pw.DateTimeField(default=utcnow, index=True)
    actor = pw.CharField(max_length=100)
    source = pw.CharField(max_length=64, null=True)
    action = pw.CharField(max_length=50)
    target_type = pw.CharField(max_length=30)
    target_id = pw.IntegerField(null=True)
    changes = JSONField(default=dict)


TABLES = [RequestLog, UsageDaily, AuditEntry]


def up(db: pw.Database) -> None:
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES)
