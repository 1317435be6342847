"""Where the API's URL and key come from: arguments, then CRONHOOK_URL / CRONHOOK_KEY, then a
profile in the profiles file ($CRONHOOK_CONFIG, else ~/.config/cronhook/profiles).

The file is INI, one section per profile, written with mode 0600 as the AWS CLI and ssh keep
credentials:

    [default]
    url = http://127.0.0.1:8000
    key = chk_...
"""

from __future__ import annotations

import configparser
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cronhook_client.errors import ConfigError

DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Profile:
    """An API to talk to: its base URL and the key sent as `Authorization: Bearer`."""

    url: str
    key: str
    name: str = DEFAULT_PROFILE
    source: str = "arguments"  # where it came from, for messages


def profiles_path(env: Mapping[str, str] | None = None) -> Path:
    """The profiles file: $CRONHOOK_CONFIG, else $XDG_CONFIG_HOME/cronhook/profiles."""
    env = os.environ if env is None else env
    if env.get("CRONHOOK_CONFIG"):
        return Path(env["CRONHOOK_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "cronhook" / "profiles"


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(), source=str(path))
    except FileNotFoundError:
        pass
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"cannot read the profiles file {path}: {exc}") from None
    return parser


def too_open(path: Path) -> bool:
    """True when others than the owner may read the profiles file (it holds keys)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def resolve(
    url: str | None = None,
    key: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """The URL and key to use, each from the first of: argument, environment, profile."""
    env = os.environ if env is None else env
    name = profile or env.get("CRONHOOK_PROFILE") or DEFAULT_PROFILE
    path = profiles_path(env)
    saved: Mapping[str, str] = {}
    parser = _read(path)
    if parser.has_section(name):
        saved = parser[name]
    elif profile:
        raise ConfigError(f"no profile {name!r} in {path}: run `cronhook login --profile {name}`")
    found_url = url or env.get("CRONHOOK_URL") or saved.get("url")
    found_key = key or env.get("CRONHOOK_KEY") or saved.get("key")
    if not found_url or not found_key:
        missing = "URL" if not found_url else "key"
        raise ConfigError(
            f"no API {missing}: run `cronhook login`, or set CRONHOOK_URL and CRONHOOK_KEY"
        )
    source = "profile " + name if saved else "environment"
    if url or key:
        source = "arguments"
    return Profile(url=found_url.rstrip("/"), key=found_key, name=name, source=source)


def save(profile: Profile, env: Mapping[str, str] | None = None) -> Path:
    """Write the profile into the profiles file (created 0600, kept 0600); returns the path."""
    path = profiles_path(env)
    parser = _read(path)
    if not parser.has_section(profile.name):
        parser.add_section(profile.name)
    parser[profile.name]["url"] = profile.url
    parser[profile.name]["key"] = profile.key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        parser.write(out)
    os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file that was already there
    os.replace(tmp, path)
    return path
