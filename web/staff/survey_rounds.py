"""A survey's rounds (analysts and admins): open one now or plan it, schedule recurring ones,
close a round, make invitation links, and follow the invitations' progress.

The engine (surveys.rounds, through surveys.staff) holds every rule: one open round at a time,
times in order, cron expressions, the flags' ranges. Times are typed in the county's time
(a form's datetime-local, or a bare date: a round closing "on" a day stays open all of it).
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from minyi.services.validation import check_local_moment
from surveys import staff as staff_surveys
from surveys.rounds import DEFAULT_OPEN_DAYS, DEFAULT_REMIND_HOURS
from surveys.schedule import PRESETS, next_opening
from web.database import read_session, service_context
from web.staff.common import bp
from web.staff.survey_forms import number_of
from web.staff.surveys import Outcome, attempt_change, survey_manager

# Invitation progress is shown for this many of the latest rounds.
PROGRESS_ROUNDS = 12
DONE = {
    "opened": ("本轮调查已开始。", "The round is open."),
    "planned": ("已计划这一轮，届时由后台任务开始。", "Planned: the worker opens it on time."),
    "closed": ("这一轮已结束。", "The round is closed."),
    "scheduled": (
        "已设置定期调查；后台任务会按时开始每一轮。",
        "Recurring rounds are set; the worker opens each on time.",
    ),
    "unscheduled": ("定期调查已停止。", "Recurring rounds are stopped."),
}


def _rounds_page(slug: str, *, error=None, typed=None, status: int = 200, links=None):
    actor = survey_manager()
    session = read_session()
    ctx = service_context()
    bench = staff_surveys.workbench(session, slug, actor=actor)
    found = staff_surveys.survey_rounds(session, slug, actor=actor)
    progress = {
        round_.id: staff_surveys.round_progress(session, slug, round_.id, actor=actor)
        for round_ in found[:PROGRESS_ROUNDS]
        if round_.number is not None and (round_.invite_subscribers or round_.invitation_only)
    }
    schedule = staff_surveys.survey_schedule(session, slug, actor=actor)
    upcoming = next_opening(schedule.cron, ctx.timezone, ctx.now()) if schedule else None
    return (
        render_template(
            "staff/surveys/rounds.html",
            bench=bench,
            rounds=found,
            progress=progress,
            schedule=schedule,
            upcoming=upcoming,
            presets=PRESETS,
            revision=staff_surveys.rounds_revision(session, slug),
            now=ctx.now(),
            defaults={"open_days": DEFAULT_OPEN_DAYS, "remind_hours": DEFAULT_REMIND_HOURS},
            typed=typed or {},
            error=error,
            done=DONE.get(request.args.get("done", "")),
            links=links,
        ),
        status,
    )


@bp.get("/surveys/<slug>/rounds")
def survey_rounds(slug: str):
    return _rounds_page(slug)


def _after(slug: str, outcome: Outcome, done: str):
    if outcome.error is not None:
        return _rounds_page(
            slug, error=outcome.error, typed=request.form.to_dict(), status=outcome.status
        )
    return redirect(url_for("staff.survey_rounds", slug=slug, done=done))


def _flags() -> dict:
    form = request.form
    return {
        "invitation_only": form.get("invitation_only") == "1",
        "invite_subscribers": form.get("invite_subscribers") == "1",
        "remind_hours_before": number_of(form.get("remind_hours", "")),
    }


def _moment(name: str, *, field_zh: str, field_en: str, end_of_day: bool):
    return check_local_moment(
        request.form.get(name),
        service_context().timezone,
        end_of_day=end_of_day,
        field_zh=field_zh,
        field_en=field_en,
    )


@bp.post("/surveys/<slug>/rounds/open")
def open_survey_round(slug: str):
    actor = survey_manager()
    ctx = service_context()

    def change(session):
        opens = _moment("opens_at", field_zh="开始时间", field_en="opens", end_of_day=False)
        closes = _moment("closes_at", field_zh="结束时间", field_en="closes", end_of_day=True)
        return staff_surveys.open_round(
            session,
            ctx,
            slug,
            revision=request.form.get("_rev"),
            actor=actor,
            opens_at=opens,
            closes_at=closes,
            **_flags(),
        )

    outcome = attempt_change(change)
    planned = outcome.result is not None and outcome.result.number is None
    return _after(slug, outcome, "planned" if planned else "opened")


@bp.post("/surveys/<slug>/rounds/schedule")
def schedule_survey_rounds(slug: str):
    actor = survey_manager()
    kind = request.form.get("kind", "")
    cron = request.form.get("cron", "").strip() if kind == "cron" else None
    outcome = attempt_change(
        lambda session: staff_surveys.schedule_rounds(
            session,
            service_context(),
            slug,
            revision=request.form.get("_rev"),
            actor=actor,
            kind=kind,
            cron=cron,
            open_days=number_of(request.form.get("open_days", "")),
            **_flags(),
        )
    )
    return _after(slug, outcome, "scheduled")


@bp.post("/surveys/<slug>/rounds/unschedule")
def unschedule_survey_rounds(slug: str):
    actor = survey_manager()
    outcome = attempt_change(
        lambda session: staff_surveys.stop_schedule(
            session, service_context(), slug, revision=request.form.get("_rev"), actor=actor
        )
    )
    return _after(slug, outcome, "unscheduled")


@bp.post("/surveys/<slug>/rounds/<int:round_id>/close")
def close_survey_round(slug: str, round_id: int):
    actor = survey_manager()
    outcome = attempt_change(
        lambda session: staff_surveys.close_round(
            session,
            service_context(),
            slug,
            round_id,
            revision=request.form.get("_rev"),
            actor=actor,
        )
    )
    return _after(slug, outcome, "closed")


@bp.post("/surveys/<slug>/rounds/<int:round_id>/links")
def survey_round_links(slug: str, round_id: int):
    """Single-use invitation links, shown on this page once (only their hashes are kept)."""
    actor = survey_manager()
    typed = request.form.get("count", "")
    outcome = attempt_change(
        lambda session: staff_surveys.invitation_links(
            session, service_context(), slug, round_id, number_of(typed), actor=actor
        )
    )
    if outcome.error is not None:
        return _after(slug, outcome, "")
    return _rounds_page(slug, links=(round_id, outcome.result))
