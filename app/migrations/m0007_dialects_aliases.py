"""Version 7 (issue 12, coding agents): endpoints answer to aliases (extra model names, a
JSON list, [] for the existing ones); request-log rows record the client's dialect, the
provider's dialect and the agent's session id (NULL for the rows before); the rollups are
keyed by the two dialects too ("" for the periods before: unknown), so usage can be grouped
by them however old. The session id is not in the rollups: it is unbounded, and rollups are
kept forever; usage by session is read from the request-log rows still kept."""

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from app.migrations.frozen import JSONField

OLD_KEY = ("token_id", "endpoint_id", "provider_id", "model")
NEW_KEY = (*OLD_KEY, "client_dialect", "provider_dialect")


def up(db: pw.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    operations = [
        migrator.add_column("endpoint", "aliases", JSONField(default=list)),
        migrator.add_column("request_log", "client_dialect", pw.CharField(max_length=20,
                                                                          null=True)),
        migrator.add_column("request_log", "provider_dialect", pw.CharField(max_length=20,
                                                                            null=True)),
        migrator.add_column("request_log", "agent_session", pw.CharField(max_length=128,
                                                                         null=True)),
        migrator.add_index("request_log", ("agent_session", "time")),
    ]
    for table, period in (("usage_hourly", "hour"), ("usage_daily", "day")):
        operations += [
            migrator.add_column(table, "client_dialect", pw.CharField(max_length=20, default="")),
            migrator.add_column(table, "provider_dialect", pw.CharField(max_length=20,
                                                                        default="")),
            migrator.drop_index(table, f"{table}_{period}_{'_'.join(OLD_KEY)}"),
            migrator.add_index(table, (period, *NEW_KEY), unique=True),
        ]
    migrate(*operations)
