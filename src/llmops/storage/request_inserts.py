"""New request rows and their rollups through the driver: the common case of storing request rows.

Nearly every request row written before a reply is new: its id is fresh or was claimed, and the
exporter has not stored its span yet. Then the rows go in with one driver `executemany` (no
`RETURNING`: the count of rows inserted says whether all were new), their rollups with another, and
one commit. When any row was not inserted (its id taken, by a stored row or another of the batch)
the transaction is rolled back and nothing is counted, and the caller takes the path that finds out
which rows were stored (`trace_store.write_requests`): the outcome is the same, only slower.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import Dialect, Engine
from sqlalchemy.exc import DBAPIError

from llmops.storage.dialect import insert_for_dialect
from llmops.storage.driver_sql import DriverStatement, driver_statement
from llmops.storage.rollups import REQUESTS, RollupBatch, upsert_statement
from llmops.storage.tables import EVAL_SOURCE, requests
from llmops.storage.trace_store import RequestRecord, request_rollup_key, request_rollup_values

_FIELDS = tuple(field.name for field in dataclasses.fields(RequestRecord))


@lru_cache(maxsize=8)
def _statements(dialect: Dialect) -> tuple[DriverStatement, DriverStatement]:
    """The request insert and the rollup upsert, rendered once per dialect."""
    insert = insert_for_dialect(dialect.name, requests).on_conflict_do_nothing(index_elements=["request_id"])
    spec = REQUESTS
    return (
        driver_statement(insert, requests, dialect, _FIELDS),
        driver_statement(
            upsert_statement(spec, dialect.name), spec.table, dialect, spec.keys + spec.counters
        ),
    )


def insert_new_requests(engine: Engine, records: Sequence[RequestRecord]) -> bool:
    """Insert every row and count it in the rollups, in one transaction; False (nothing written) when
    any of them could not be inserted as new."""
    insert, upsert = _statements(engine.dialect)
    batch = RollupBatch(REQUESTS)
    for record in records:
        if record.source != EVAL_SOURCE:
            batch.add(
                record.created_at,
                request_rollup_key(record),
                request_rollup_values(record),
                record.latency_ms,
            )
    dbapi_error = engine.dialect.loaded_dbapi.Error
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            inserted = insert.executemany(cursor, [_row(record) for record in records])
            if inserted != len(records):
                connection.rollback()
                return False
            if len(batch):
                upsert.executemany(cursor, batch.rows())
        finally:
            cursor.close()
        connection.commit()
    except dbapi_error as exc:
        # In SQLAlchemy's exception tree, as the Core path raises them (a lock: OperationalError).
        raise DBAPIError.instance(insert.sql, None, exc, dbapi_error) from exc
    finally:
        connection.close()  # back to the pool, which rolls back whatever was not committed
    return True


def _row(record: RequestRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in _FIELDS}
