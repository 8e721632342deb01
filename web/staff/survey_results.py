"""A survey round's results: per question figures and charts, the comparison with the previous
round, free text through the NLP, and the CSV / XLSX export.

Everything is computed by the engine (surveys.results: intervals, NPS, the significance of
changes; surveys.export: the rows), read through surveys.staff, which limits an officer to the
questions tied to their department and refuses them the export (which holds every answer).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import Response, render_template, request, send_file

from minyi.services.permissions import allowed
from surveys import staff as staff_surveys
from surveys.export import FORMATS, csv_lines, export_rows, write_export
from web.database import read_session, service_context
from web.staff import survey_charts
from web.staff.common import bp, staff_actor
from web.staff.survey_forms import KIND_NAMES
from web.visitor import current_language

SENTIMENTS = {
    "positive": ("正面", "positive"),
    "neutral": ("中性", "neutral"),
    "negative": ("负面", "negative"),
}


@bp.get("/surveys/<slug>/results")
def survey_results(slug: str):
    actor = staff_actor()
    found = staff_surveys.survey_results(
        read_session(),
        service_context(),
        slug,
        actor=actor,
        round_number=request.args.get("round", type=int),
        previous_number=request.args.get("compare", type=int),
    )
    language = current_language()
    charts, comparisons, trends = {}, {}, {}
    if found is not None and found.round.definition is not None:
        definition = found.round.definition
        for key in found.keys:
            question = definition.question(key)
            charts[key] = survey_charts.distribution(
                question, found.results["questions"][key], language
            )
            series = found.trend["questions"].get(key)
            if series:
                trends[key] = survey_charts.trend(question, series, language)
            compared = found.comparison["questions"].get(key)
            if compared:
                comparisons[key] = survey_charts.comparison(
                    question, compared["changes"], language
                )
    return render_template(
        "staff/surveys/results.html",
        slug=slug,
        found=found,
        charts=charts,
        comparisons=comparisons,
        trends=trends,
        kinds=KIND_NAMES,
        sentiments=SENTIMENTS,
        manage=allowed(actor, "survey.manage"),
    )


@bp.get("/surveys/<slug>/export.<any(csv, xlsx):fmt>")
def survey_export(slug: str, fmt: str):
    """Every submitted response of the survey (or of ?round=N), one column per question key."""
    assert fmt in FORMATS
    number = request.args.get("round", type=int)
    session = read_session()
    checked = staff_surveys.check_export(session, slug, actor=staff_actor(), round_number=number)
    ctx = service_context()
    name = f"{checked}" + (f"-round-{number}" if number else "") + f".{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":

        # Built within the request, not streamed: a streamed body kept the request's database
        # transaction open until the client closed the response (a leaked one blocked
        # PostgreSQL). Excel opens a UTF-8 file with a byte-order mark as UTF-8.
        body = "\ufeff" + "".join(
            csv_lines(export_rows(session, ctx, checked, round_number=number))
        )
        return Response(body, mimetype="text/csv; charset=utf-8", headers=disposition)
    # A workbook is a zip written at the end: it is built in a temporary file, then sent.
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    write_export(session, ctx, checked, Path(path), format="xlsx", round_number=number)
    response = send_file(path, as_attachment=True, download_name=name)
    response.call_on_close(lambda: os.unlink(path))
    return response
