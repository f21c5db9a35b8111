"""docker-compose.yml against the code: every variable given to a service is a setting that
service reads (names derived from its settings class, not listed here), each service has its own
database, and every health check asks /readyz.

pydantic-settings ignores unknown variables, so a misspelt name in the compose file would silently
leave the default in place; these tests are what catches it."""

import importlib
import itertools
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from sqlalchemy.engine import make_url

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
SERVICE_MODULE = re.compile(r"^services\.(\w+)$")

# Every package under services/ with a settings module is a deployable service.
CODE_SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/settings.py"))


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{module.__name__} should define one ServiceSettings subclass"
    return classes[0]


def env_names(settings: type[ServiceSettings]) -> dict[str, str]:
    """Environment variable name -> field name, as pydantic-settings resolves them: a field's
    validation alias when it has one (ignoring the prefix), otherwise env_prefix + field name."""
    prefix = settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            choices: list[object] = [prefix + field_name]
        elif isinstance(alias, AliasChoices):
            choices = list(alias.choices)
        else:
            choices = [alias]
        for choice in choices:
            assert isinstance(choice, str), f"{field_name}: alias {choice!r} is not an env name"
            names[choice.upper()] = field_name
    return names


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def command_words(definition: dict) -> list[str]:
    command = definition.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def compose_services() -> dict[str, tuple[str, dict]]:
    """Code service name -> (compose service name, definition), matched by `-m services.<name>`."""
    found: dict[str, tuple[str, dict]] = {}
    for compose_name, definition in load_compose()["services"].items():
        words = command_words(definition)
        for flag, module in itertools.pairwise(words):
            match = SERVICE_MODULE.match(module)
            if flag == "-m" and match:
                service = match.group(1)
                assert service not in found, f"services.{service} is run by two compose services"
                found[service] = (compose_name, definition)
    return found


def environment(definition: dict) -> dict[str, object]:
    env = definition.get("environment") or {}
    if isinstance(env, dict):
        return dict(env)
    pairs = (item.split("=", 1) for item in env)
    return {pair[0]: (pair[1] if len(pair) == 2 else None) for pair in pairs}


def service_env(service: str) -> dict[str, object]:
    _, definition = compose_services()[service]
    assert "env_file" not in definition, "env_file hides variables from this check: use environment"
    return environment(definition)


def setting(service: str, field_name: str) -> str:
    """The value compose gives a field, or the field's default."""
    names = env_names(settings_class(service))
    for name, value in service_env(service).items():
        if names.get(name.upper()) == field_name:
            return str(value)
    return str(settings_class(service).model_fields[field_name].default)


def test_compose_runs_every_service_in_the_code() -> None:
    assert CODE_SERVICES, "no services/*/settings.py found"
    assert sorted(compose_services()) == CODE_SERVICES


@pytest.mark.parametrize("service", CODE_SERVICES)
def test_every_variable_is_a_setting_the_service_reads(service: str) -> None:
    known = env_names(settings_class(service))
    unknown = sorted(name for name in service_env(service) if name.upper() not in known)
    assert not unknown, (
        f"{service} ignores {unknown}: it reads only {sorted(known)} "
        f"(from {settings_class(service).__qualname__})"
    )


@pytest.mark.parametrize("service", CODE_SERVICES)
def test_every_value_is_valid_and_reaches_its_setting(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_class(service)
    known = env_names(settings)
    env = service_env(service)
    for name, value in env.items():
        # Unquoted YAML scalars (true, 8001) are not strings; compose may rewrite them.
        assert isinstance(value, str), f"{service}: quote the value of {name} ({value!r})"
    for name in known:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    loaded = settings()

    assert loaded.model_fields_set == {known[n.upper()] for n in env if n.upper() in known}


@pytest.mark.parametrize("service", CODE_SERVICES)
def test_database_url_points_at_the_services_own_database(service: str) -> None:
    url = make_url(setting(service, "database_url"))
    init_sql = INIT_SQL.read_text()

    assert url.drivername == "postgresql+asyncpg"
    assert url.database == service
    assert url.host in load_compose()["services"], f"{url.host} is not a compose service"
    assert re.search(rf"CREATE DATABASE {service} OWNER {url.username};", init_sql)
    assert re.search(rf"CREATE ROLE {url.username} LOGIN PASSWORD '{url.password}';", init_sql)


def test_databases_are_not_shared() -> None:
    databases = [make_url(setting(s, "database_url")).database for s in CODE_SERVICES]
    assert len(set(databases)) == len(databases)


@pytest.mark.parametrize("service", CODE_SERVICES)
def test_kafka_is_a_compose_service(service: str) -> None:
    servers = setting(service, "kafka_bootstrap_servers").split(",")
    hosts = {urlsplit(f"//{server.strip()}").hostname for server in servers}
    assert hosts <= set(load_compose()["services"])


@pytest.mark.parametrize("service", CODE_SERVICES)
def test_healthcheck_calls_readyz_on_the_services_port(service: str) -> None:
    _, definition = compose_services()[service]
    test = definition["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else test
    urls = re.findall(r"https?://[^\s'\"]+", command)

    assert "urllib" in command, "slim images have no curl: use python's urllib"
    assert len(urls) == 1, command
    assert urlsplit(urls[0]).path == "/readyz"
    assert urlsplit(urls[0]).port == int(setting(service, "port"))


@pytest.mark.parametrize("service", CODE_SERVICES)
def test_port_is_published_and_dependencies_must_be_healthy(service: str) -> None:
    _, definition = compose_services()[service]
    port = setting(service, "port")
    compose = load_compose()["services"]

    assert setting(service, "host") == "0.0.0.0"
    assert any(str(mapping).endswith(f":{port}") for mapping in definition.get("ports", []))
    depends_on = definition["depends_on"]
    assert {"kafka", "postgres"} <= set(depends_on)
    for dependency, condition in depends_on.items():
        assert condition == {"condition": "service_healthy"}, dependency
        assert "healthcheck" in compose[dependency], f"{dependency} has no health check"
