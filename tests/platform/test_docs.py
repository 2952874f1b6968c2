"""The documentation matches the code: every setting is documented where users look for it."""

from __future__ import annotations

from twin.core.registry import settings_classes
from twin.platform.settings import PROJECT_ROOT, Settings


def _env_names() -> list[str]:
    """Every environment variable: the platform's settings and each installed pilot's."""
    names = [
        "DATABASE_URL" if name == "database_url" else f"TWIN_{name.upper()}" for name in Settings.model_fields
    ]
    for pilot_settings in settings_classes():
        prefix = str(pilot_settings.model_config.get("env_prefix", ""))
        names += [f"{prefix}{name}".upper() for name in pilot_settings.model_fields]
    return names


def test_every_setting_is_in_the_readme_and_the_env_example() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    missing_readme = [n for n in _env_names() if f"`{n}`" not in readme]
    missing_example = [n for n in _env_names() if n not in example]
    assert missing_readme == []
    assert missing_example == []


def test_ci_runs_the_readme_test_command() -> None:
    ci = (PROJECT_ROOT / ".ci/run").read_text(encoding="utf-8")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/test.sh" in readme
    assert "exec ./scripts/test.sh" in ci
