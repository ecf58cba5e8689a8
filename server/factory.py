"""create_app(settings) -> Flask: the one place the HTTP app is put together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import peewee as pw
from flask import Flask

from app.crypto import SecretBox
from app.db import open_database
from app.services import secret_key
from app.settings import Settings
from server import errors, health

log = logging.getLogger(__name__)


@dataclass
class State:
    """What the routes share, kept on `app.extensions["modelproxy"]` (no module globals)."""

    settings: Settings
    db: pw.Database
    box: SecretBox

    def close(self) -> None:
        """Release what the app holds; called once the server has stopped."""
        self.db.close_all()


def create_app(settings: Settings) -> Flask:
    """Open the database (migrating it), load the secret key, register every part."""
    db = open_database(settings)
    with db.connection_context():
        box = secret_key.load_box(settings)
    app = Flask("modelproxy")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    app.extensions["modelproxy"] = State(settings=settings, db=db, box=box)

    @app.teardown_appcontext
    def release_connection(exc: BaseException | None) -> None:
        if not db.is_closed():
            db.close()  # back to the pool

    errors.init_app(app)
    app.register_blueprint(health.bp)
    return app
