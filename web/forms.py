"""The public forms: Flask-WTF supplies CSRF and parsing; the service layer checks the values.

Fields carry no WTForms validators on purpose: every rule (score range, text length, phone
format) lives once in minyi.services and its Chinese/English message is what the page shows.
"""

from __future__ import annotations

import re
import secrets

from flask import current_app, request
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from flask_wtf.file import FileField
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import ValidationError

from minyi.errors import ValidationFailed

SUBMISSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SubmissionForm(FlaskForm):
    """A form posted once: its hidden token becomes the row's source_ref (double submit)."""

    submission = HiddenField()

    def fresh(self) -> SubmissionForm:
        """Give a form about to be shown a token of its own."""
        self.submission.data = secrets.token_urlsafe(18)
        return self

    def source_ref(self) -> str:
        """The posted token as the stored source_ref; a form without one is refused."""
        return submission_source_ref(self.submission.data)


def submission_source_ref(token: object) -> str:
    """A submission token as the stored source_ref; a missing or malformed one is refused."""
    if not isinstance(token, str) or not SUBMISSION_TOKEN.fullmatch(token):
        raise ValidationFailed(
            "表单已失效，请刷新页面后重新提交",
            "this form has expired: reload the page and submit again",
        )
    return f"form:{token}"


class RatingForm(SubmissionForm):
    score = StringField()
    aspect = StringField()
    comment = TextAreaField()
    outlet = HiddenField()


class ComplaintForm(SubmissionForm):
    text = TextAreaField()
    photo = FileField()
    service = StringField()
    contact_phone = StringField()


class VerdictForm(FlaskForm):
    code = HiddenField()
    resolved = StringField()
    satisfaction = StringField()


def csrf_failed(form: FlaskForm) -> bool:
    """Whether the CSRF token is missing, forged or expired (nothing else is checked)."""
    return not form.validate()


def posted_csrf_failed(field: str | None = None) -> bool:
    """csrf_failed for the posted form without building a form object: the same Flask-WTF
    check (validate_csrf, the same settings), for a hot path that builds a form only to show
    it again. A FlaskForm's field list, its CSRF field and the fresh token it signs for
    rendering cost a rating POST more than the check itself. `field`: the token's field (and
    its session key, as Flask-WTF keeps them) when the form names it itself (its
    Meta.csrf_field_name), else the app's setting."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return False
    field = field or current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    try:
        validate_csrf(request.form.get(field), token_key=field)
    except ValidationError:
        return True
    return False
