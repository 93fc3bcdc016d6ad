"""List settings from the environment: items separated by commas or spaces."""

from pathlib import Path

from agent.config import load_settings


def test_list_settings_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "ATR_OPERATOR_EMAILS": "root@example.org, ops@example.org",
        "ATR_OIDC_ISSUERS": "https://issuer.example https://other.example",
    }
    settings = load_settings(data_dir=tmp_path, env=env)
    assert settings.operator_emails == ["root@example.org", "ops@example.org"]
    assert settings.oidc_issuers == ["https://issuer.example", "https://other.example"]


def test_the_environment_wins_over_the_config_file_for_a_list(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('operator_emails = ["file@example.org"]\n')
    assert load_settings(data_dir=tmp_path, env={}).operator_emails == ["file@example.org"]
    env = {"ATR_OPERATOR_EMAILS": "env@example.org"}
    assert load_settings(data_dir=tmp_path, env=env).operator_emails == ["env@example.org"]
