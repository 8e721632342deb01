import pytest

from minyi.config import load_settings
from minyi.errors import ConfigInvalid


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
