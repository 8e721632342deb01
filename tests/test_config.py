from pathlib import Path

import pytest

from minyi.config import TICKET_NUMBER_LENGTH, load_settings
from minyi.db import make_engine
from minyi.errors import ConfigInvalid
from minyi.models import Ticket


def test_defaults_without_file(settings):
    fresh = load_settings()
    assert fresh.database.url == "sqlite:///var/minyi.db"
    assert fresh.tickets.sla_working_days == 15
    assert fresh.bot.token is None and fresh.web.secret_key is None


def test_file_overrides_defaults_and_env_overrides_file(settings, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text(
        '[tickets]\nsla_working_days = 10\nmax_text_chars = 800\n[bot]\ntoken = "from-file"\n',
        encoding="utf-8",
    )
    from_file = load_settings(path)
    assert from_file.tickets.sla_working_days == 10
    assert from_file.bot.token == "from-file"
    monkeypatch.setenv("MINYI_TICKETS__SLA_WORKING_DAYS", "7")
    monkeypatch.setenv("MINYI_BOT__TOKEN", "from-env")
    both = load_settings(path)
    assert both.tickets.sla_working_days == 7
    assert both.tickets.max_text_chars == 800  # untouched keys keep the file's value
    assert both.bot.token == "from-env"


def test_minyi_config_variable_and_default_path(settings, tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text("[web]\nport = 8123\n", encoding="utf-8")
    assert load_settings().web.port == 8123  # ./config.toml
    other = tmp_path / "other.toml"
    other.write_text("[web]\nport = 8124\n", encoding="utf-8")
    monkeypatch.setenv("MINYI_CONFIG", str(other))
    assert load_settings().web.port == 8124


@pytest.mark.parametrize(
    "body, key",
    [
        ('[tickets]\nsla_working_days = "soon"\n', "tickets.sla_working_days"),
        ("[web]\nport = 70000\n", "web.port"),
        ("[unknown]\nx = 1\n", "unknown"),
        ('[calendar]\ntimezone = "Mars/Olympus"\n', "calendar.timezone"),
        ("[tickets\n", "TOML"),
    ],
)
def test_wrong_file_is_a_clear_error(settings, tmp_path, body, key):
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        load_settings(path)
    assert key in str(info.value) or key == "TOML"
    assert info.value.message_zh and info.value.message_en


def test_wrong_env_value_is_a_clear_error(settings, monkeypatch):
    monkeypatch.setenv("MINYI_WEB__PORT", "eighty")
    with pytest.raises(ConfigInvalid, match="web.port"):
        load_settings()


def test_missing_named_file(settings, tmp_path):
    with pytest.raises(ConfigInvalid, match="not found"):
        load_settings(tmp_path / "nope.toml")


REPO = Path(__file__).resolve().parent.parent


def refusal(body: str | None = None, tmp_path: Path | None = None, **env: str) -> ConfigInvalid:
    """The ConfigInvalid raised for `body` as the config file and `env` as MINYI_* variables."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        path = None
        if body is not None:
            path = tmp_path / "config.toml"
            path.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigInvalid) as info:
            load_settings(path)
    assert info.value.message_zh.startswith(("配置有误", "找不到"))
    return info.value


def test_example_file_loads_and_documents_the_defaults(settings):
    example = load_settings(REPO / "config.example.toml")
    assert example.model_dump() == load_settings().model_dump()
    assert example.database.sqlite_synchronous == "FULL"


@pytest.mark.parametrize(
    "body, key, hint",
    [
        ("[tickets]\nsla_workingdays = 3\n", "tickets.sla_workingdays", "sla_working_days"),
        ("[unknown]\nx = 1\n", "unknown", None),
        ("port = 5000\n", "port", None),
        ("[web]\nprot = 5000\n", "web.prot", "web.port"),
        (
            "[nlp.topic_department]\n'城乡建设' = ['zjj']\n",
            "nlp.topic_department",
            "topic_departments",
        ),
        ("[nlp.extra]\nx = 1\n", "nlp.extra", None),
        ("[database]\nsqlite_synchronus = 'FULL'\n", "database.sqlite_synchronus", "synchronous"),
    ],
)
def test_unknown_key_in_the_file_is_refused_with_its_full_name(
    settings, tmp_path, body, key, hint
):
    error = refusal(body, tmp_path)
    for message in (error.message_zh, error.message_en):
        assert key in message
        assert str(tmp_path / "config.toml") in message
        if hint:
            assert hint in message
    assert "unknown setting" in error.message_en


@pytest.mark.parametrize(
    "name, hint",
    [
        ("MINYI_TICKETS__SLA_WORKINGDAYS", "MINYI_TICKETS__SLA_WORKING_DAYS"),
        ("MINYI_DATABASE_URL", "MINYI_DATABASE__URL"),  # one underscore too few
        ("MINYI_TICKET__SLA_WORKING_DAYS", "MINYI_TICKETS"),
        ("MINYI_NLP__EXTRA", None),
        ("MINYI_WEB__PORT__NUMBER", None),  # below a plain value
        ("MINYI_SOMETHING", None),
    ],
)
def test_unknown_environment_variable_is_refused_by_name(settings, name, hint):
    error = refusal(**{name: "3"})
    for message in (error.message_zh, error.message_en):
        assert name in message
        if hint:
            assert hint in message
    assert "environment variable" in error.message_en and "环境变量" in error.message_zh


def test_unknown_key_inside_a_json_section_variable(settings):
    error = refusal(MINYI_TICKETS='{"sla_workingdays": 3}')
    assert "tickets.sla_workingdays" in error.message_en
    assert "MINYI_TICKETS" in error.message_en


def test_every_typo_is_listed_at_once(settings, tmp_path):
    error = refusal("[tickets]\nsla_workingdays = 3\n", tmp_path, MINYI_WEB__PROT="1")
    assert "tickets.sla_workingdays" in error.message_en and "MINYI_WEB__PROT" in error.message_en


def test_variables_that_are_not_settings_and_free_form_keys_are_accepted(
    settings, tmp_path, monkeypatch
):
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        "[nlp.topic_departments]\n'新话题' = ['cgj']\n[nlp.department_keywords]\ncgj = ['占道']\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MINYI_CONFIG", str(config))
    monkeypatch.setenv("MINYI_TEST_ANYTHING", "1")
    monkeypatch.setenv("MINYI_NLP_DATA", str(tmp_path))
    monkeypatch.setenv("MINYI_NLP_CACHE", str(tmp_path))
    loaded = load_settings()
    assert loaded.nlp.topic_departments == {"新话题": ["cgj"]}
    monkeypatch.setenv("MINYI_NLP__DEPARTMENT_KEYWORDS__cgj", '["摊贩"]')
    assert load_settings().nlp.department_keywords == {"cgj": ["摊贩"]}


def test_minyi_config_naming_a_missing_file_is_refused(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("MINYI_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigInvalid) as info:
        load_settings()
    assert "gone.toml" in info.value.message_en and "MINYI_CONFIG" in info.value.message_en
    assert "MINYI_CONFIG" in info.value.message_zh
    monkeypatch.setenv("MINYI_CONFIG", "")  # `MINYI_CONFIG= minyi ...` unsets it
    (tmp_path / "config.toml").write_text("[web]\nport = 8125\n", encoding="utf-8")
    assert load_settings().web.port == 8125


@pytest.mark.parametrize(
    "body, key, fragment",
    [
        (
            "[indicators]\nweight_response = 0\nweight_resolution = 0\nweight_satisfaction = 0\n",
            "indicators.weight_response/weight_resolution/weight_satisfaction",
            "cannot all be 0",
        ),
        ("[indicators]\nweight_response = -1\n", "indicators.weight_response", "greater than"),
        ("[tickets]\nnumber_prefix = 'MINYIDEMOCOUNTY2026'\n", "tickets.number_prefix", "1-18"),
        ("[tickets]\nnumber_prefix = 'MY-X'\n", "tickets.number_prefix", "letters or digits"),
        ("[tickets]\nnumber_prefix = ''\n", "tickets.number_prefix", "letters or digits"),
        ("[tickets]\nnumber_prefix = '民意'\n", "tickets.number_prefix", "ASCII"),
        (
            "[tickets]\nmin_text_chars = 200\nmax_text_chars = 100\n",
            "tickets.min_text_chars/max_text_chars",
            "min_text_chars (200) exceeds max_text_chars (100)",
        ),
        (
            "[tickets]\nresponse_window_working_days = 20\nsla_working_days = 10\n",
            "tickets.response_window_working_days/sla_working_days",
            "exceeds",
        ),
        (
            "[bot]\nwebhook_url = 'https://minyi.example.cn/hook'\n",
            "bot.webhook_url/webhook_secret",
            "both or neither",
        ),
        ("[bot]\nwebhook_secret = 'abc'\n", "bot.webhook_url/webhook_secret", "both or neither"),
        (
            "[bot]\nwebhook_url = 'http://minyi.example.cn/hook'\nwebhook_secret = 'abc'\n",
            "bot.webhook_url",
            "https://",
        ),
        (
            "[bot]\nwebhook_url = 'https://minyi.example.cn/hook'\nwebhook_secret = 'a b'\n",
            "bot.webhook_secret",
            "1-256 letters",
        ),
        ("[bot]\nredis_url = '127.0.0.1:6379'\n", "bot.redis_url", "redis://"),
        ("[bot]\napi_base_url = 'api.telegram.org'\n", "bot.api_base_url", "http://"),
        ("[web]\npublic_base_url = 'minyi.example.cn'\n", "web.public_base_url", "https://"),
        (
            "[calendar]\nextra_holidays = [2026-10-09, 2026-12-31]\n"
            "extra_workdays = [2026-10-10, 2026-10-09]\n",
            "calendar.extra_holidays/extra_workdays",
            "2026-10-09 is listed in both",
        ),
        (
            "[nlp.department_keywords]\nrsjj = ['社保']\n",
            "nlp.department_keywords/topic_departments",
            "names rsjj",
        ),
        ("[nlp.department_keywords]\nrsj = ['社保', '']\n", "nlp.department_keywords", "empty"),
        ("[database]\nsqlite_synchronous = 'SOMETIMES'\n", "database.sqlite_synchronous", "FULL"),
        ("[database]\nurl = 'nonsense://'\n", "database.url", "unknown kind or driver"),
        ("[database]\nurl = 'postgresql+nosuch://h/db'\n", "database.url", "'postgresql+nosuch'"),
        ("[database]\nurl = 'not a url'\n", "database.url", "invalid database URL"),
    ],
)
def test_contradicting_or_impossible_values_are_refused(settings, tmp_path, body, key, fragment):
    error = refusal(body, tmp_path)
    assert f"{key} ({tmp_path / 'config.toml'})" in error.message_en
    assert fragment in error.message_en
    assert key in error.message_zh


def test_a_check_across_keys_names_every_source_involved(settings, tmp_path, monkeypatch):
    body = "[bot]\nwebhook_url = 'https://minyi.example.cn/hook'\n"
    monkeypatch.setenv("MINYI_BOT__TOKEN", "123:abc")  # same section, not involved
    error = refusal(body, tmp_path)
    assert "MINYI_BOT__TOKEN" not in error.message_en
    error = refusal(
        "[indicators]\nweight_response = 0\nweight_resolution = 0\n",
        tmp_path,
        MINYI_INDICATORS__WEIGHT_SATISFACTION="0",
    )
    assert str(tmp_path / "config.toml") in error.message_en
    assert "environment variable MINYI_INDICATORS__WEIGHT_SATISFACTION" in error.message_en
    # Two halves of a pair from two sources make a whole.
    monkeypatch.setenv("MINYI_BOT__WEBHOOK_SECRET", "s3cret_token")
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    assert load_settings(path).bot.webhook_secret == "s3cret_token"


def test_a_wrong_value_names_the_source_it_came_from(settings, tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("[web]\nport = 70000\n", encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        load_settings(path)
    assert f"web.port ({path})" in info.value.message_en
    monkeypatch.setenv("MINYI_WEB__PORT", "eighty")  # the environment wins over the file
    with pytest.raises(ConfigInvalid) as info:
        load_settings(path)
    assert "web.port (environment variable MINYI_WEB__PORT)" in info.value.message_en
    assert "环境变量 MINYI_WEB__PORT" in info.value.message_zh


def test_database_url_password_never_shown(settings):
    for url in (
        "postgresql://minyi:hunter2@db:port/minyi",
        "postgresql+nosuch://minyi:hunter2@db/m",
    ):
        error = refusal(MINYI_DATABASE__URL=url)
        assert "MINYI_DATABASE__URL" in error.message_en
        assert "hunter2" not in error.message_zh + error.message_en


def test_accepted_edges(settings, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        "[tickets]\nnumber_prefix = 'ABCDEFGHIJKLMNOPQR'\n"
        "min_text_chars = 10\nmax_text_chars = 10\n"
        "[indicators]\nweight_response = 0\nweight_resolution = 0\nweight_satisfaction = 1\n"
        "[database]\nsqlite_synchronous = 'normal'\n"
        # A self-hosted Bot API server (--local) may call a plain http webhook.
        "[bot]\napi_base_url = 'http://10.0.0.5:8081'\nwebhook_url = 'http://10.0.0.6/hook'\n"
        "webhook_secret = 'Ab_9-x'\n",
        encoding="utf-8",
    )
    loaded = load_settings(path)
    assert loaded.database.sqlite_synchronous == "NORMAL"
    number = f"{loaded.tickets.number_prefix}-20261127-0042"
    assert len(number) == TICKET_NUMBER_LENGTH == Ticket.__table__.c.number.type.length


def test_sqlite_synchronous_from_the_environment(settings, monkeypatch):
    assert load_settings().database.sqlite_synchronous == "FULL"
    monkeypatch.setenv("MINYI_DATABASE__SQLITE_SYNCHRONOUS", "extra")
    assert load_settings().database.sqlite_synchronous == "EXTRA"


def test_make_engine_refuses_a_bad_url_or_an_impossible_folder(settings, tmp_path):
    with pytest.raises(ConfigInvalid, match="invalid database URL"):
        make_engine(settings, "not a url")
    with pytest.raises(ConfigInvalid, match="unknown kind or driver"):
        make_engine(settings, "nonsense://")
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        make_engine(settings, f"sqlite:///{blocker}/sub/minyi.db")
    assert f"{blocker} is a file, not a folder" in info.value.message_en
    assert f"{blocker} 是文件" in info.value.message_zh
