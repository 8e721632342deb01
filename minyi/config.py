"""Settings read by every process: built-in defaults < config.toml < MINYI_* environment."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from minyi.errors import ConfigInvalid

DEFAULT_CONFIG_PATH = "config.toml"
ENV_PREFIX = "MINYI_"
# MINYI_* variables that are read by name rather than being settings: the config file's path
# and the NLP tooling's folders (nlp/ reads them itself); MINYI_TEST_* belong to the test suite.
ENV_NOT_SETTINGS = frozenset({"MINYI_CONFIG", "MINYI_NLP_DATA", "MINYI_NLP_CACHE"})
ENV_TEST_PREFIX = "MINYI_TEST_"
# tickets.number is String(32) in minyi/models.py (a test keeps the two equal); a number is
# PREFIX-YYYYMMDD-NNNN, so the prefix gets what the date and serial leave.
TICKET_NUMBER_LENGTH = 32
MAX_NUMBER_PREFIX_CHARS = TICKET_NUMBER_LENGTH - len("-YYYYMMDD-NNNN")
OFFICIAL_BOT_API = "https://api.telegram.org"
# Telegram's rule for the secret_token of setWebhook.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _refusal(zh: str, en: str, *keys: str) -> PydanticCustomError:
    """A validation error in both languages; `keys` name the fields a section check is about."""
    return PydanticCustomError("minyi_config", "{en}", {"zh": zh, "en": en, "keys": keys})


def parse_database_url(text: str) -> URL:
    """The SQLAlchemy URL in `text` with a known dialect and driver, or ConfigInvalid."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", text)
        raise ConfigInvalid(
            f"数据库地址无效 {shown!r}：{exc}", f"invalid database URL {shown!r}: {exc}"
        ) from None
    shown = url.render_as_string(hide_password=True)
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ConfigInvalid(
            f"数据库地址 {shown!r} 的类型或驱动 {url.drivername!r} 未知"
            "（例如 sqlite:///var/minyi.db、postgresql+psycopg://…）",
            f"database URL {shown!r} names an unknown kind or driver {url.drivername!r}"
            " (e.g. sqlite:///var/minyi.db, postgresql+psycopg://…)",
        ) from None
    except ImportError as exc:
        raise ConfigInvalid(
            f"数据库 {shown} 的驱动未安装：{exc}",
            f"the driver for database {shown} is not installed: {exc}",
        ) from None
    return url


class _Section(BaseModel):
    """A [section] of the file: a key that is not declared here is a typo, never ignored."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/minyi.db"
    echo: bool = False
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    # FULL: a complaint the site has accepted survives a power cut (NORMAL may lose the last
    # commits in WAL mode; it never corrupts the file).
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"

    @field_validator("url")
    @classmethod
    def _usable_url(cls, value: str) -> str:
        try:
            parse_database_url(value)
        except ConfigInvalid as refused:
            raise _refusal(refused.message_zh, refused.message_en) from None
        return value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _pragma_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


def _http_url(value: str, *keys: str) -> str:
    if not re.match(r"https?://[^/\s]+", value):
        raise _refusal(
            f"须为 http:// 或 https:// 开头的地址，而不是 {value!r}",
            f"must be an http:// or https:// address, not {value!r}",
            *keys,
        )
    return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    # No default: a missing key makes `serve` generate a per-process one and warn.
    secret_key: str | None = None
    public_base_url: str = "http://127.0.0.1:5000"
    # Shown in the page header: the county's own name, Chinese then English.
    site_name: str = "示范县民意平台 / Minyi demo county"
    # Rate-limit storage shared by several web workers (default: each worker's memory).
    redis_url: str | None = None
    # Where citizens' photos are kept (re-encoded, metadata stripped); relative to the cwd.
    upload_dir: str = "var/uploads"
    max_upload_bytes: int = Field(5 * 1024 * 1024, ge=10_000, le=50 * 1024 * 1024)

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _redis(value)


def _redis(value: str | None) -> str | None:
    if value is not None and not re.match(r"(rediss?|unix)://", value):
        raise _refusal(
            f"须以 redis://、rediss:// 或 unix:// 开头，而不是 {value!r}",
            f"must start with redis://, rediss:// or unix://, not {value!r}",
        )
    return value


class BotSettings(_Section):
    token: str | None = None
    api_base_url: str = OFFICIAL_BOT_API
    redis_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # Where the webhook server listens (behind the county's reverse proxy).
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    # Outbox sending: overall messages per second (Telegram allows about 30) and per chat.
    send_rate_per_s: float = Field(25, gt=0, le=30)
    # Updates handled at once (polling): more wait their turn at Telegram, so a handler is
    # not slowed down by a hundred others interleaved with it on the event loop. With a
    # busy loop more at once only lengthens each (bench/bot.py on the loopback: 4 at once
    # ~870 updates/s and a handler p99 ~12 ms, 6 ~930 and ~16 ms, 16 ~1,150 and ~26 ms);
    # with Telegram's round trip the limit caps the throughput at about the limit / the
    # round trip (6 at 50 ms a call: 100 updates/s), above what a county's citizens send.
    max_concurrent_updates: int = Field(6, ge=1, le=1000)
    # Complaints classified and stored in a child process (bot/worker.py), beside the event
    # loop instead of in its threads; false on a one-core machine, where it gains nothing.
    filing_process: bool = True

    @field_validator("api_base_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _redis(value)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token(cls, value: str | None) -> str | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value):
            raise _refusal(
                "只能由 1-256 个字母、数字、_ 和 - 组成（Telegram 的规定）",
                "must be 1-256 letters, digits, _ or - (Telegram's rule)",
            )
        return value

    @model_validator(mode="after")
    def _webhook_pair(self) -> BotSettings:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            raise _refusal(
                "webhook_url 与 webhook_secret 须同时设置或同时不设",
                "webhook_url and webhook_secret go together: set both or neither",
                "webhook_url",
                "webhook_secret",
            )
        if self.webhook_url is not None:
            _http_url(self.webhook_url, "webhook_url")
            # Telegram's own servers only call https:// webhooks; a self-hosted Bot API server
            # (--local) may call plain http on the county's network.
            official = self.api_base_url.rstrip("/") == OFFICIAL_BOT_API
            if official and not self.webhook_url.startswith("https://"):
                raise _refusal(
                    f"webhook_url 须为 https:// 地址（Telegram 只调用 HTTPS），而不是 "
                    f"{self.webhook_url!r}",
                    f"webhook_url must be https:// (Telegram only calls HTTPS webhooks), "
                    f"not {self.webhook_url!r}",
                    "webhook_url",
                )
        return self


class TicketSettings(_Section):
    max_text_chars: int = Field(5000, ge=10)
    min_text_chars: int = Field(5, ge=1)
    sla_working_days: int = Field(15, ge=1, le=90)
    response_window_working_days: int = Field(1, ge=1, le=30)
    max_extension_working_days: int = Field(15, ge=1, le=90)
    number_prefix: str = "MY"
    # Complaints one citizen identity may file per local day, on every channel together.
    daily_limit_per_citizen: int = Field(5, ge=1, le=1000)
    # Working days to answer a question (咨询, as nlp reads it); unset: sla_working_days.
    question_sla_working_days: int | None = Field(None, ge=1, le=90)

    @field_validator("number_prefix")
    @classmethod
    def _short_plain_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]+", value) or len(value) > MAX_NUMBER_PREFIX_CHARS:
            raise _refusal(
                f"须为 1-{MAX_NUMBER_PREFIX_CHARS} 个字母或数字"
                f"（工单号 前缀-YYYYMMDD-NNNN 最长 {TICKET_NUMBER_LENGTH} 个字符），"
                f"而不是 {value!r}",
                f"must be 1-{MAX_NUMBER_PREFIX_CHARS} ASCII letters or digits "
                f"(ticket numbers PREFIX-YYYYMMDD-NNNN hold at most {TICKET_NUMBER_LENGTH} "
                f"characters), not {value!r}",
            )
        return value

    @model_validator(mode="after")
    def _consistent_limits(self) -> TicketSettings:
        if self.min_text_chars > self.max_text_chars:
            raise _refusal(
                f"min_text_chars（{self.min_text_chars}）不能大于 max_text_chars"
                f"（{self.max_text_chars}）",
                f"min_text_chars ({self.min_text_chars}) exceeds max_text_chars "
                f"({self.max_text_chars})",
                "min_text_chars",
                "max_text_chars",
            )
        if self.response_window_working_days > self.sla_working_days:
            raise _refusal(
                f"response_window_working_days（{self.response_window_working_days}）"
                f"不能大于 sla_working_days（{self.sla_working_days}）",
                f"response_window_working_days ({self.response_window_working_days}) exceeds "
                f"sla_working_days ({self.sla_working_days}): the first response would be due "
                "after the ticket",
                "response_window_working_days",
                "sla_working_days",
            )
        question_days = self.question_sla_working_days
        if question_days is not None and self.response_window_working_days > question_days:
            raise _refusal(
                f"response_window_working_days（{self.response_window_working_days}）"
                f"不能大于 question_sla_working_days（{question_days}）",
                f"response_window_working_days ({self.response_window_working_days}) exceeds "
                f"question_sla_working_days ({question_days})",
                "response_window_working_days",
                "question_sla_working_days",
            )
        return self


class RatingSettings(_Section):
    max_comment_chars: int = Field(2000, ge=10)
    bad_review_max_score: int = Field(2, ge=1, le=4)
    # Local rules give 1-5 working days to verify, rectify and report back a 差评.
    follow_up_working_days: int = Field(5, ge=1, le=5)


class NlpSettings(_Section):
    enabled: bool = True
    # Topic probability from which a complaint is routed without a person looking at it.
    # Unset: the threshold shipped with the model, chosen by cross-validation (docs/nlp.md).
    review_threshold: float | None = Field(None, ge=0.0, le=1.0)
    # Request-type probability from which a text is filed as praise (表扬), not a complaint.
    praise_threshold: float = Field(0.8, ge=0.0, le=1.0)
    # Where `minyi nlp retrain` keeps model versions; the web, bot and worker serve the
    # active one (checked every few seconds), the shipped models when there is none.
    model_dir: str = Field("var/nlp", min_length=1)
    # Routing corrections a department needs before texts like them are routed to it by what
    # staff taught (nlp.department); below that its keywords decide.
    min_corrections_per_department: int = Field(20, ge=1)
    # First-level topic -> department code; a list means "choose among these by keywords".
    # Its keys (topics) and those of department_keywords (department codes) are data.
    topic_departments: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "城乡建设": ["zjj", "zrzyj", "cgj", "gjj", "slj", "nyncj", "gaj"],
            "环境保护": ["sthjj", "cgj", "slj"],
            "交通运输": ["jtysj"],
            "教育文体": ["jyj"],
            "劳动和社会保障": ["rsj", "ybj", "mzj", "gjj", "gaj"],
            "商贸旅游": ["scjgj", "swj"],
            "卫生计生": ["wjj", "ybj"],
        }
    )
    # Keywords that pick one department among a topic's candidates; with no hit, the first
    # candidate handles it. The seven board topics are coarser than a county's departments.
    department_keywords: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "ybj": ["医保", "医疗保险", "报销", "医保卡", "异地就医", "慢特病"],
            "rsj": ["社保", "养老保险", "工资", "欠薪", "失业", "就业", "劳动", "仲裁", "退休"],
            "mzj": ["低保", "救助", "养老院", "残疾", "婚姻登记", "殡葬", "特困", "高龄"],
            "gjj": ["公积金"],
            "gaj": ["户口", "户籍", "落户", "身份证", "迁户"],
            "zrzyj": ["土地", "宅基地", "征地", "不动产", "房产证", "林地", "规划许可"],
            "cgj": ["占道", "城管", "摊贩", "违建", "违章建筑", "垃圾", "渣土", "广告牌"],
            "slj": ["河道", "水库", "防汛", "灌溉", "水渠", "堤坝"],
            "nyncj": ["农业", "种植", "养殖", "化肥", "农药", "种子", "农机", "耕地"],
            "swj": ["纳税", "发票", "个税", "退税", "税务", "社保费缴纳"],
        }
    )

    @model_validator(mode="after")
    def _keywords_reach_a_topic(self) -> NlpSettings:
        routed = {code for codes in self.topic_departments.values() for code in codes}
        # Keywords only choose among a topic's candidates: a code no topic lists is a typo.
        # (Only when the county wrote keywords: its own topics may leave the defaults unused.)
        stray = sorted(set(self.department_keywords) - routed)
        if stray and "department_keywords" in self.model_fields_set:
            listed = ", ".join(stray)
            raise _refusal(
                f"department_keywords 中的部门 {listed} 不在任何 topic_departments 列表里",
                f"department_keywords names {listed}, which no topic_departments list has",
                "department_keywords",
                "topic_departments",
            )
        for code, words in self.department_keywords.items():
            # "" occurs in every text: that department would win every tie-break.
            if any(not word.strip() for word in words):
                raise _refusal(
                    f"department_keywords.{code} 含空关键词",
                    f"department_keywords.{code} has an empty keyword",
                    "department_keywords",
                )
        return self


class IndicatorSettings(_Section):
    min_denominator: int = Field(30, ge=1)
    weight_response: float = Field(30, ge=0)
    weight_resolution: float = Field(35, ge=0)
    weight_satisfaction: float = Field(35, ge=0)
    # When the officers' weekly digest of the week before is made (county-local time).
    digest_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    digest_time: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _some_weight(self) -> IndicatorSettings:
        if self.weight_response + self.weight_resolution + self.weight_satisfaction <= 0:
            raise _refusal(
                "weight_response、weight_resolution、weight_satisfaction 不能全为 0",
                "weight_response, weight_resolution and weight_satisfaction cannot all be 0",
                "weight_response",
                "weight_resolution",
                "weight_satisfaction",
            )
        return self


class CalendarSettings(_Section):
    timezone: str = "Asia/Shanghai"
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _holiday_or_workday(self) -> CalendarSettings:
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            days = ", ".join(day.isoformat() for day in both)
            raise _refusal(
                f"{days} 同时列在 extra_holidays 和 extra_workdays 中",
                f"{days} is listed in both extra_holidays and extra_workdays",
                "extra_holidays",
                "extra_workdays",
            )
        return self


# The parsed config file for the load_settings call in progress (empty: no file).
_file_data: ContextVar[dict[str, Any]] = ContextVar("minyi_config_file", default={})


class Settings(BaseSettings):
    """Everything configurable; see config.example.toml. Build it with load_settings()."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)
    ratings: RatingSettings = Field(default_factory=RatingSettings)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    indicators: IndicatorSettings = Field(default_factory=IndicatorSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        file_data = _file_data.get()
        if file_data:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=file_data))
        return tuple(sources)


def _config_path(path: str | os.PathLike[str] | None) -> Path | None:
    """The file to read: `path`, else $MINYI_CONFIG, else ./config.toml when it exists."""
    if path is not None:
        if not Path(path).is_file():
            raise ConfigInvalid(f"找不到配置文件 {path}", f"config file {path} not found")
        return Path(path)
    # An empty value is how a shell unsets a variable for one command: treat it as unset.
    named = os.environ.get("MINYI_CONFIG")
    if named:
        if not Path(named).is_file():
            raise ConfigInvalid(
                f"找不到 MINYI_CONFIG 指定的配置文件 {named}",
                f"config file {named} (named by MINYI_CONFIG) not found",
            )
        return Path(named)
    default = Path(DEFAULT_CONFIG_PATH)
    return default if default.is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(
            f"配置文件 {path} 不是有效的 TOML：{exc}",
            f"config file {path} is not valid TOML: {exc}",
        ) from None
    except OSError as exc:
        raise ConfigInvalid(
            f"无法读取配置文件 {path}：{exc.strerror}", f"cannot read config file {path}: {exc}"
        ) from None


def _section_model(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    annotation = model.model_fields[key].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _suggestion(key: str, model: type[BaseModel]) -> str | None:
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.75)
    return close[0] if close else None


class _Problem(NamedTuple):
    """One refused key: its name, where it came from (zh, en) and what is wrong (zh, en)."""

    key: str
    source: tuple[str, str] | None
    zh: str
    en: str

    def text_zh(self) -> str:
        where = f"（{self.source[0]}）" if self.source else ""
        return f"{self.key}{where}：{self.zh}"

    def text_en(self) -> str:
        where = f" ({self.source[1]})" if self.source else ""
        return f"{self.key}{where}: {self.en}"


def _unknown_in_file(
    data: dict[str, Any], path: Path, model: type[BaseModel] = Settings, parents: str = ""
) -> Iterator[_Problem]:
    for key, value in data.items():
        dotted = f"{parents}{key}"
        if key not in model.model_fields:
            close = _suggestion(key, model)
            yield _Problem(
                dotted,
                (str(path), str(path)),
                "未知配置项" + (f"，是否应为 {parents}{close}？" if close else ""),
                "unknown setting" + (f"; did you mean {parents}{close}?" if close else ""),
            )
            continue
        section = _section_model(model, key)
        if section is not None and isinstance(value, dict):
            yield from _unknown_in_file(value, path, section, f"{dotted}.")


def _env_settings() -> dict[str, tuple[str, ...]]:
    """Every MINYI_* variable meant as a setting, with the key path it names (lower case)."""
    found = {}
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper.startswith(ENV_TEST_PREFIX):
            continue
        if upper not in ENV_NOT_SETTINGS:
            found[name] = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
    return found


def _first_unknown(parts: tuple[str, ...]) -> tuple[int, str | None] | None:
    """Where `parts` leaves the declared settings (depth, closest name there), or None."""
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        if part not in model.model_fields:
            return depth, _missing_delimiter(part, model) or _suggestion(part, model)
        section = _section_model(model, part)
        if section is None:
            # A value: only a free-form dict (topic -> departments) has keys below it.
            if (
                depth + 1 < len(parts)
                and get_origin(model.model_fields[part].annotation) is not dict
            ):
                return depth + 1, None
            return None
        model = section
    return None


def _missing_delimiter(part: str, model: type[BaseModel]) -> str | None:
    """`database__url` for `database_url`: one underscore where the delimiter needs two."""
    for key in model.model_fields:
        section = _section_model(model, key)
        rest = part.removeprefix(f"{key}_")
        if section is not None and rest != part and rest in section.model_fields:
            return f"{key}__{rest}"
    return None


def _unknown_in_env(variables: dict[str, tuple[str, ...]]) -> Iterator[_Problem]:
    # pydantic-settings silently drops a variable that names no field: each one is walked here.
    for name, parts in sorted(variables.items()):
        unknown = _first_unknown(parts)
        if unknown is None:
            continue
        depth, close = unknown
        hint = ENV_PREFIX + "__".join((*parts[:depth], close)).upper() if close else None
        yield _Problem(
            name,
            ("环境变量", "environment variable"),
            "不对应任何配置项" + (f"，是否应为 {hint}？" if hint else ""),
            "maps to no setting" + (f"; did you mean {hint}?" if hint else ""),
        )


class _Origins(NamedTuple):
    """What load_settings read: the MINYI_* variables (with their key paths) and the file."""

    variables: dict[str, tuple[str, ...]]
    file_path: Path | None
    file_data: dict[str, Any]


def _sources(loc: tuple[str, ...], origins: _Origins) -> list[tuple[str, str]]:
    """Where the value at `loc` came from; the environment wins over the file, as in loading."""
    for name, parts in origins.variables.items():
        if loc[: len(parts)] == parts:
            return [(f"环境变量 {name}", f"environment variable {name}")]
    found = [
        (f"环境变量 {name}", f"environment variable {name}")
        for name, parts in sorted(origins.variables.items())
        if parts[: len(loc)] == loc  # a variable setting one key inside `loc`
    ]
    node: Any = origins.file_data
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None:
        found.append((str(origins.file_path), str(origins.file_path)))
    return found


def _validation_problems(error: ValidationError, origins: _Origins) -> list[_Problem]:
    problems = []
    for err in error.errors():
        loc = tuple(str(part) for part in err["loc"])
        keys = err.get("ctx", {}).get("keys") or ()
        sources: list[tuple[str, str]] = []
        for key_loc in [(*loc, key) for key in keys] or [loc]:
            sources += [s for s in _sources(key_loc, origins) if s not in sources]
        source = ("、".join(s[0] for s in sources), ", ".join(s[1] for s in sources))
        name = ".".join(loc) + ("." + "/".join(keys) if keys else "")
        if err["type"] == "minyi_config":
            zh, en = err["ctx"]["zh"], err["ctx"]["en"]
        elif err["type"] == "extra_forbidden":
            zh, en = "未知配置项", "unknown setting"
        else:
            zh = en = err["msg"]
        problems.append(_Problem(name, source if sources else None, zh, en))
    return problems


def _refuse(problems: list[_Problem]) -> ConfigInvalid:
    return ConfigInvalid(
        "配置有误：" + "；".join(problem.text_zh() for problem in problems),
        "invalid configuration: " + "; ".join(problem.text_en() for problem in problems),
    )


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (or MINYI_CONFIG, or ./config.toml) and the environment."""
    file_path = _config_path(path)
    file_data = _read_file(file_path) if file_path is not None else {}
    variables = _env_settings()
    unknown = list(_unknown_in_file(file_data, file_path)) if file_path else []
    unknown += _unknown_in_env(variables)
    if unknown:
        raise _refuse(unknown)
    token = _file_data.set(file_data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise _refuse(
            _validation_problems(exc, _Origins(variables, file_path, file_data))
        ) from None
    finally:
        _file_data.reset(token)
