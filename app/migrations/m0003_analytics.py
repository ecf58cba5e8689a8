"""Version 3: latency histograms and hourly rollups for usage charts, provider health,
and the lock rows that keep scheduled jobs to one server at a time."""

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

# Frozen copy of app.latency.COLUMNS as of this version.
HISTOGRAM = ["lat_le_1", "lat_le_2", "lat_le_5", "lat_le_10", "lat_le_25", "lat_le_50",
             "lat_le_100", "lat_le_250", "lat_le_500", "lat_le_1000", "lat_le_2500",
             "lat_le_5000", "lat_le_10000", "lat_le_30000", "lat_le_60000", "lat_gt_60000"]


class Base(pw.Model):
    class Meta:
        legacy_table_names = False


class UsageHourly(Base):
    hour = pw.DateTimeField()
    token_id = pw.IntegerField(default=0)
    endpoint_id = pw.IntegerField(default=0)
    provider_id = pw.IntegerField(default=0)
    model = pw.CharField(max_length=200, default="")
    requests = pw.IntegerField(default=0)
    errors = pw.IntegerField(default=0)
    prompt_tokens = pw.BigIntegerField(default=0)
    completion_tokens = pw.BigIntegerField(default=0)
    latency_ms_sum = pw.FloatField(default=0.0)
    locals().update({name: pw.IntegerField(default=0) for name in HISTOGRAM})

    class Meta:
        indexes = ((("hour", "token_id", "endpoint_id", "provider_id", "model"), True),)


class ProviderHealth(Base):
    provider_id = pw.IntegerField(primary_key=True)
    checked_at = pw.DateTimeField()
    ok = pw.BooleanField()
    latency_ms = pw.FloatField(null=True)
    error = pw.TextField(null=True)


class JobLock(Base):
    name = pw.CharField(max_length=100, primary_key=True)
    holder = pw.CharField(max_length=100)
    expires_at = pw.DateTimeField()


TABLES = [UsageHourly, ProviderHealth, JobLock]


def up(db: pw.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(*[migrator.add_column("usage_daily", name, pw.IntegerField(default=0))
              for name in HISTOGRAM])
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES)
