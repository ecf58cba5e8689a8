"""Version 5: the rollups count upstream errors (status 5xx: the provider or the server
failed) apart from all errors, so the overview can tell them from clients' own mistakes
(401, 403, 429…). Filled in from the request-log rows still kept; older periods keep 0."""

from collections import defaultdict

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate


class Base(pw.Model):
    class Meta:
        legacy_table_names = False


class RequestLog(Base):
    time = pw.DateTimeField()
    token_id = pw.IntegerField(null=True)
    endpoint_id = pw.IntegerField(null=True)
    provider_id = pw.IntegerField(null=True)
    model = pw.CharField(max_length=200, null=True)
    status = pw.IntegerField()


def up(db: pw.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(*[migrator.add_column(table, "upstream_errors", pw.IntegerField(default=0))
              for table in ("usage_hourly", "usage_daily")])
    counts: dict[tuple, int] = defaultdict(int)
    with db.bind_ctx([RequestLog]):
        failed = (RequestLog.select(RequestLog.time, RequestLog.token_id,
                                    RequestLog.endpoint_id, RequestLog.provider_id,
                                    RequestLog.model)
                  .where(RequestLog.status >= 500).tuples().iterator())
        for time, token_id, endpoint_id, provider_id, model in failed:
            key = (token_id or 0, endpoint_id or 0, provider_id or 0, model or "")
            counts[("usage_hourly", "hour", time.replace(minute=0, second=0, microsecond=0),
                    *key)] += 1
            counts[("usage_daily", "day", time.date(), *key)] += 1
    for (table, period, value, *key), count in counts.items():
        db.execute_sql(
            f'UPDATE "{table}" SET "upstream_errors" = {db.param} WHERE "{period}" = '
            f'{db.param} AND "token_id" = {db.param} AND "endpoint_id" = {db.param} AND '
            f'"provider_id" = {db.param} AND "model" = {db.param}', [count, value, *key])
