"""Catalogue import figures: a county-sized catalogue loaded, then imported again.

    python bench/import_catalog.py                       # SQLite file in a temp dir
    python bench/import_catalog.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/import_catalog.py --departments 60 --services 3000 --outlets 40

A county's 政务服务事项 list holds a few thousand services. The file is imported three times,
each in one transaction as `minyi import catalog` does: first into an empty database (every
row created and audited), then unchanged (every row looked up, nothing written but the
import's own audit entry), then with every name changed (every row updated and audited).
Prints seconds and rows per second for each. On PostgreSQL the script works in a schema of
its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from private_db import private_engine  # noqa: E402

from minyi.catalog_import import import_catalog  # noqa: E402
from minyi.config import load_settings  # noqa: E402
from minyi.db import make_session_factory  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402


def write_catalogue(path: Path, departments: int, services: int, outlets: int, suffix: str):
    lines = ["kind,code,name,name_en,department,address,active"]
    lines += [f"department,d{n},测试部门{n}{suffix},Department {n},,," for n in range(departments)]
    lines += [
        f"service,s{n:05d},测试服务事项{n}{suffix},,d{n % departments},,"
        for n in range(services)
    ]
    lines += [f"outlet,o{n},服务大厅{n}{suffix},,,县府路 {n} 号," for n in range(outlets)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: an SQLite file in a temp dir)")
    parser.add_argument("--departments", type=int, default=60)
    parser.add_argument("--services", type=int, default=3000)
    parser.add_argument("--outlets", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        settings = load_settings(database={"url": url})
        with private_engine(settings, url, "bench_catalog") as engine:
            upgrade(engine)
            factory = make_session_factory(engine)
            figures = {}
            for label, suffix in (("first", ""), ("unchanged", ""), ("renamed", "（新）")):
                path = Path(folder) / f"{label}.csv"
                rows = write_catalogue(
                    path, args.departments, args.services, args.outlets, suffix
                )
                started = time.perf_counter()
                with factory.begin() as session:
                    import_catalog(session, path)
                seconds = time.perf_counter() - started
                figures[label] = {
                    "rows": rows,
                    "seconds": round(seconds, 2),
                    "rows_per_second": round(rows / seconds),
                }
            print(json.dumps({"backend": engine.dialect.name, **figures}, indent=2))


if __name__ == "__main__":
    main()
