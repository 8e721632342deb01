"""The bare endpoint bench/web.py compares against: Flask + SQLAlchemy, one INSERT, nothing else.

Served by gunicorn like the site (`gunicorn -w 2 bench.web_bare:app` from the repository
root); the engine comes from minyi.db, so SQLite runs with the same pragmas (WAL, synchronous,
BEGIN IMMEDIATE) as the real write path.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert

from minyi.config import load_settings
from minyi.db import make_engine

# Created by bench/web.py (BARE_TABLE_SQL there) before the server starts.
bare_rows = Table(
    "bench_bare_rows",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("score", Integer, nullable=False),
    Column("source_ref", String(80), unique=True),
    Column("created_at", DateTime, nullable=False),
)

settings = load_settings()
engine = make_engine(settings)
app = Flask(__name__)


@app.post("/bare")
def bare_insert():
    with engine.begin() as conn:
        conn.execute(
            insert(bare_rows).values(
                score=int(request.form["score"]),
                source_ref=request.form["submission"],
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    return "ok"
