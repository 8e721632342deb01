"""Settings read by every process: built-in defaults < config.toml < MINYI_* environment."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from minyi.errors import ConfigInvalid

DEFAULT_CONFIG_PATH = "config.toml"


class DatabaseSettings(BaseModel):
    url: str = "sqlite:///var/minyi.db"
    echo: bool = False
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    # No default: a missing key makes `serve` generate a per-process one and warn.
    secret_key: str | None = None
    public_base_url: str = "http://127.0.0.1:5000"
    # Shown in the page header: the county's own name, Chinese then English.
    site_name: str = "示范县民意平台 / Minyi demo county"


class BotSettings(BaseModel):
    token: str | None = None
    api_base_url: str = "https://api.telegram.org"
    redis_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None


class TicketSettings(BaseModel):
    max_text_chars: int = Field(5000, ge=10)
    min_text_chars: int = Field(5, ge=1)
    sla_working_days: int = Field(15, ge=1, le=90)
    response_window_working_days: int = Field(1, ge=1, le=30)
    max_extension_working_days: int = Field(15, ge=1, le=90)
    number_prefix: str = "MY"


class RatingSettings(BaseModel):
    max_comment_chars: int = Field(2000, ge=10)
    bad_review_max_score: int = Field(2, ge=1, le=4)
    # Local rules give 1-5 working days to verify, rectify and report back a 差评.
    follow_up_working_days: int = Field(5, ge=1, le=5)


class NlpSettings(BaseModel):
    enabled: bool = True
    review_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # First-level topic -> department code; a list means "choose among these by keywords".
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


class IndicatorSettings(BaseModel):
    min_denominator: int = Field(30, ge=1)
    weight_response: float = Field(30, ge=0)
    weight_resolution: float = Field(35, ge=0)
    weight_satisfaction: float = Field(35, ge=0)


class CalendarSettings(BaseModel):
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


class Settings(BaseSettings):
    """Everything configurable; see config.example.toml for each key."""

    model_config = SettingsConfigDict(
        env_prefix="MINYI_",
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
        toml_path = _config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


_override_path: Path | None = None


def _config_path() -> Path | None:
    path = _override_path or Path(os.environ.get("MINYI_CONFIG", DEFAULT_CONFIG_PATH))
    return path if path.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (or MINYI_CONFIG, or ./config.toml) and the environment."""
    global _override_path
    if path is not None and not Path(path).is_file():
        raise ConfigInvalid(f"找不到配置文件 {path}", f"config file {path} not found")
    _override_path = Path(path) if path is not None else None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigInvalid(
            f"配置有误：{problems}", f"invalid configuration: {problems}"
        ) from None
    except (OSError, ValueError) as exc:  # a TOML syntax error surfaces as ValueError
        raise ConfigInvalid(f"无法读取配置：{exc}", f"cannot read configuration: {exc}") from None
    finally:
        _override_path = None
