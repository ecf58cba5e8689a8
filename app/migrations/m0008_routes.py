"""Version 8 (issue 13, routes and money): an endpoint routes to targets (a provider and its
model name there, with a priority, a weight and optional prices); each endpoint's one
provider and model become its one target, and its two prices that target's (the cached
input price taken as the input price: it was not told apart). Endpoints and tokens get a
monthly budget (USD). Request-log rows record the target, the attempts, the cached prompt
tokens and the cost at the prices of the day (NULL for the rows before: their cost was
never stored); the rollups add cached tokens, the cost and the requests that had no price
(0 for the periods before). `budget_alert` keeps each budget's crossings of 80 % and 100 %."""

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from app.migrations.frozen import JSONField, utcnow


class Base(pw.Model):
    class Meta:
        legacy_table_names = False


class Provider(Base):
    pass


class Endpoint(Base):
    pass


def _price() -> pw.DecimalField:
    return pw.DecimalField(max_digits=12, decimal_places=6, null=True)


def _budget() -> pw.DecimalField:
    return pw.DecimalField(max_digits=14, decimal_places=6, null=True)


class EndpointTarget(Base):
    endpoint = pw.ForeignKeyField(Endpoint, on_delete="CASCADE")
    provider = pw.ForeignKeyField(Provider, on_delete="RESTRICT")
    model = pw.CharField(max_length=200)
    priority = pw.IntegerField(default=0)
    weight = pw.IntegerField(default=1)
    enabled = pw.BooleanField(default=True)
    price_input_per_m = _price()
    price_cached_input_per_m = _price()
    price_output_per_m = _price()
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class BudgetAlert(Base):
    subject = pw.CharField(max_length=10)
    subject_id = pw.IntegerField()
    month = pw.DateField()
    threshold = pw.IntegerField()
    created_at = pw.DateTimeField(default=utcnow)
    sent_at = pw.DateTimeField(null=True)
    tries = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("subject", "subject_id", "month", "threshold"), True),)


def up(db: pw.Database) -> None:
    with db.bind_ctx([Provider, Endpoint, EndpointTarget, BudgetAlert]):
        db.create_tables([EndpointTarget, BudgetAlert])
        _one_target_each(db)
    migrator = SchemaMigrator.from_database(db)
    operations = [
        migrator.drop_column("endpoint", "price_input_per_m"),
        migrator.drop_column("endpoint", "price_output_per_m"),
        migrator.add_column("endpoint", "monthly_budget", _budget()),
        migrator.add_column("token", "monthly_budget", _budget()),
        migrator.add_column("request_log", "target_id", pw.IntegerField(null=True)),
        migrator.add_column("request_log", "attempts", pw.IntegerField(default=1)),
        migrator.add_column("request_log", "attempt_log", JSONField(null=True)),
        migrator.add_column("request_log", "cached_tokens", pw.IntegerField(default=0)),
        migrator.add_column("request_log", "cost_nanos", pw.BigIntegerField(null=True)),
    ]
    for table in ("usage_hourly", "usage_daily"):
        operations += [
            migrator.add_column(table, "cached_tokens", pw.BigIntegerField(default=0)),
            migrator.add_column(table, "cost_nanos", pw.BigIntegerField(default=0)),
            migrator.add_column(table, "unpriced", pw.IntegerField(default=0)),
        ]
    migrate(*operations)


def _one_target_each(db: pw.Database) -> None:
    """Each endpoint's provider, model and prices as its one target."""
    rows = db.execute_sql(
        'SELECT "id", "provider_id", "model", "price_input_per_m", "price_output_per_m" '
        'FROM "endpoint"').fetchall()
    now = utcnow()
    for endpoint_id, provider_id, model, price_in, price_out in rows:
        EndpointTarget.create(endpoint=endpoint_id, provider=provider_id, model=model,
                              price_input_per_m=price_in, price_cached_input_per_m=price_in,
                              price_output_per_m=price_out, created_at=now, updated_at=now)
