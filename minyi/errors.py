"""The one domain error type: every refusal carries a Chinese message and an English one."""

from __future__ import annotations


class MinyiError(Exception):
    """A refused request: bad input, unknown object or an illegal move; nothing was written."""

    code = "invalid"

    def __init__(self, message_zh: str, message_en: str, **details: object) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.details = details

    def __str__(self) -> str:
        return f"{self.message_zh} ({self.message_en})"

    def __reduce__(self):
        # Pickled whole (both languages, the details): the bot's filing process raises these
        # in its caller's process (bot/worker.py).
        return (_rebuild, (type(self), self.message_zh, self.message_en, self.details))


def _rebuild(kind: type[MinyiError], message_zh: str, message_en: str, details: dict):
    return kind(message_zh, message_en, **details)


class ValidationFailed(MinyiError):
    code = "validation"


class NotFound(MinyiError):
    code = "not_found"


class IllegalTransition(MinyiError):
    code = "illegal_transition"


class LimitReached(MinyiError):
    """A citizen hit a configured quota (e.g. complaints per day): try again later."""

    code = "limit"


class PermissionDenied(MinyiError):
    code = "forbidden"


class ConfigInvalid(MinyiError):
    code = "config"
