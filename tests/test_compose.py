"""docker-compose.yml is checked without Docker: it parses, every FDXP service runs a command
the CLI really has, dependencies and healthchecks line up, and settings are real ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import build_parser
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def fdxp_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == "fdxp:latest"
    }


def test_the_expected_services_are_there(compose: dict[str, Any]) -> None:
    assert {
        "kafka",
        "postgres",
        "gateway",
        "relay",
        "tax-sim",
        "tax-connector",
        "treasury-sim",
        "treasury-connector",
        "customs-sim",
        "customs-connector",
    } <= set(compose["services"])
    kafka = compose["services"]["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert not any(name.startswith("zookeeper") for name in compose["services"])


def test_every_fdxp_command_exists_in_the_cli(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["fdxp"]' in dockerfile
    services = fdxp_services(compose)
    assert len(services) >= 5
    parser = build_parser()
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the list form of command"
        try:
            args = parser.parse_args(command)
        except SystemExit:
            pytest.fail(f"service {name}: `fdxp {' '.join(command)}` is not a valid command")
        assert callable(args.func), name


def test_dependencies_and_healthchecks_line_up(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    for name in ("kafka", "postgres", "gateway"):
        assert "healthcheck" in services[name], name


def test_environment_names_are_real_settings(compose: dict[str, Any]) -> None:
    known = {f"FDXP_{field.upper()}" for field in Settings.model_fields}
    for name, service in fdxp_services(compose).items():
        for variable in service.get("environment") or {}:
            if variable.startswith("FDXP_"):
                assert variable in known, f"{name}: {variable} is not a setting"


def test_no_secret_is_written_in_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for match in re.finditer(r"(FDXP_ADMIN_KEY|POSTGRES_PASSWORD):\s*(\S+)", text):
        assert match.group(2).startswith("${"), f"{match.group(1)} must come from the environment"
