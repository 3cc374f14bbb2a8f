"""Alembic environment: runs on the connection ``storage.migrate`` hands over, or on
``sqlalchemy.url`` from alembic.ini / ``BIHUAN_DATABASE_URL`` for developers' commands."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import bihuan.storage.analysis_models  # noqa: F401  (registers the tables on SQLModel.metadata)
import bihuan.storage.case_models  # noqa: F401
import bihuan.storage.outbox_models  # noqa: F401
import bihuan.storage.pdca_models  # noqa: F401
import bihuan.storage.models  # noqa: F401
from bihuan.storage.engine import create_db_engine
from bihuan.storage.text_search import include_name

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # the text index (migration 0005) is not in the models
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or None)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
