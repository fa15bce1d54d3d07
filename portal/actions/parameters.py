"""Typed parameters that a library script declares, and the values callers fill in.

A caller of a library script (an operator, a schedule, a profile task) may set only what the script
declares: each parameter has a name, a type (text, number, bool, choice), a default, whether it is
required, a description, and how it reaches the script — as an environment variable of its own name,
or as a positional argument after the script's own arguments, in declared order. Nothing else of the
environment is the caller's to set: ``BASH_ENV``, ``LD_PRELOAD`` and friends would turn any library
script into code of the caller's choosing, run as root. Free arguments and environment variables stay
with holders of the inline-script permission (see ``specs.script_spec``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError

PARAMETER_TYPES = ("text", "number", "bool", "choice")
VIA = ("env", "argument")
MAX_PARAMETERS = 30
MAX_TEXT_CHARS = 4096
MAX_CHOICES = 100
MAX_DESCRIPTION_CHARS = 500
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DECLARATION_KEYS = {"name", "type", "default", "required", "description", "choices", "via"}

# Variables that change how a shell, an interpreter, the dynamic loader or a common tool behaves, on any
# platform (compared case-insensitively, as Windows does). A script may not declare a parameter of these
# names, and an ad-hoc environment may set them only with the inline-script permission.
RESERVED_NAMES = frozenset(name.upper() for name in (
    "PATH", "ENV", "BASH_ENV", "IFS", "CDPATH", "GLOBIGNORE", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "PS1",
    "PS2", "PS4", "HOME", "SHELL", "USER", "LOGNAME", "TMPDIR", "TEMP", "TMP", "BROWSER", "EDITOR", "VISUAL",
    "PAGER", "LESSOPEN", "LESSCLOSE", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF",
    "LANG", "LANGUAGE", "TZDIR", "MALLOC_CHECK_", "COMSPEC", "PATHEXT", "PSMODULEPATH", "SYSTEMROOT", "WINDIR",
    "PROGRAMFILES", "APPDATA", "LOCALAPPDATA", "USERPROFILE", "PERLLIB", "RUBYLIB", "CLASSPATH",
))
RESERVED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PERL5", "PERLIO", "RUBY", "NODE_", "NPM_", "BASH_FUNC_", "JAVA_",
                     "_JAVA_", "JDK_", "GIT_", "LC_", "SSL_", "OPENSSL_", "CURL_", "FLEETWATCH_")
# cmd.exe parses a batch script's command line and expands %VARIABLES% before running each line, so
# these in a value would run commands of their own.
BATCH_METACHARACTERS = set('&|<>^%!"\r\n')
# A value may name a custom field of the target device, its site or its company, resolved for each device when
# the action is delivered (portal.actions.references): in a text value anywhere, in any other type as the whole
# value.
REFERENCE = re.compile(r"\{\{\s*(device|site|company)\.custom\.([a-z][a-z0-9_]{0,49})\s*\}\}")


def is_reserved(name: str) -> bool:
    upper = name.upper()
    return upper in RESERVED_NAMES or upper.startswith(RESERVED_PREFIXES)


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any = None
    required: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()
    via: str = "env"

    def as_dict(self) -> dict[str, Any]:
        declared: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required,
                                    "via": self.via}
        if self.default is not None:
            declared["default"] = self.default
        if self.description:
            declared["description"] = self.description
        if self.choices:
            declared["choices"] = list(self.choices)
        return declared


def _invalid(message: str) -> ValidationError:
    return ValidationError({"parameters": message})


def _typed(parameter: Parameter, value: Any, *, language: str, where: str) -> Any:
    """``value`` checked against the parameter's type; raises with a message naming the parameter."""
    name = parameter.name
    if parameter.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise _invalid(f"{where}{name!r} must be a number, not {value!r:.40}.")
        return value
    if parameter.type == "bool":
        if not isinstance(value, bool):
            raise _invalid(f"{where}{name!r} must be true or false, not {value!r:.40}.")
        return value
    if not isinstance(value, str):
        raise _invalid(f"{where}{name!r} must be text, not {value!r:.40}.")
    if parameter.type == "choice" and value not in parameter.choices:
        raise _invalid(f"{where}{name!r} must be one of {', '.join(parameter.choices)}; {value!r:.40} is not.")
    if len(value) > MAX_TEXT_CHARS:
        raise _invalid(f"{where}{name!r} is longer than {MAX_TEXT_CHARS} characters.")
    if "\x00" in value:
        raise _invalid(f"{where}{name!r} may not contain a NUL character.")
    if language == "batch" and BATCH_METACHARACTERS & set(value):
        raise _invalid(f"{where}{name!r} may not contain any of & | < > ^ % ! \" or line breaks: cmd.exe would "
                       "run them as commands in a batch script.")
    if parameter.via == "argument" and value.startswith("-"):
        raise _invalid(f"{where}{name!r} may not start with '-' (the script would take it for an option).")
    return value


def declared_parameters(raw: Any, *, language: str) -> list[Parameter]:
    """Check a script's declarations (a JSON list) and return them; raises ValidationError naming the fault."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise _invalid("Declare parameters as a list of objects.")
    if len(raw) > MAX_PARAMETERS:
        raise _invalid(f"A script declares at most {MAX_PARAMETERS} parameters.")
    declared: list[Parameter] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        where = f"Parameter {index}: "
        if not isinstance(item, dict):
            raise _invalid(f"{where}declare it as an object with a name and a type.")
        unknown = set(map(str, item)) - DECLARATION_KEYS
        if unknown:
            raise _invalid(f"{where}unknown key(s) {', '.join(sorted(unknown))[:200]}; use "
                           f"{', '.join(sorted(DECLARATION_KEYS))}.")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise _invalid(f"{where}the name is letters, digits and '_' (not starting with a digit), up to 64.")
        if name.upper() in seen:
            raise _invalid(f"{where}{name!r} is declared twice (names differ by more than case).")
        seen.add(name.upper())
        kind = item.get("type")
        if kind not in PARAMETER_TYPES:
            raise _invalid(f"{where}the type of {name!r} is one of {', '.join(PARAMETER_TYPES)}.")
        via = item.get("via", "env")
        if via not in VIA:
            raise _invalid(f"{where}{name!r} is passed as 'env' (a variable of its name) or 'argument'.")
        if via == "env" and is_reserved(name):
            raise _invalid(f"{where}{name!r} is a variable that changes how shells, interpreters or the loader "
                           "behave; choose another name.")
        required = item.get("required", False)
        description = item.get("description", "")
        if not isinstance(required, bool):
            raise _invalid(f"{where}'required' of {name!r} is true or false.")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
            raise _invalid(f"{where}the description of {name!r} is text of at most {MAX_DESCRIPTION_CHARS} "
                           "characters.")
        choices = item.get("choices", [])
        if kind == "choice":
            if (not isinstance(choices, list) or not 1 <= len(choices) <= MAX_CHOICES
                    or not all(isinstance(c, str) and 0 < len(c) <= 200 for c in choices)):
                raise _invalid(f"{where}{name!r} needs 1–{MAX_CHOICES} choices, each a short text.")
        elif choices:
            raise _invalid(f"{where}only a choice parameter has choices.")
        parameter = Parameter(name=name, type=kind, required=required, description=description,
                              choices=tuple(choices), via=via)
        default = item.get("default")
        if default is not None:
            _typed(parameter, default, language=language, where=f"{where}the default of ")
        declared.append(replace(parameter, default=default))
    return declared


def as_text(value: Any) -> str:
    """How a value reaches the script: numbers as written, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class FilledParameters:
    """The checked values (for the record) and what the agent is given."""

    values: dict[str, Any]
    arguments: list[str]
    environment: dict[str, str]


def fill(declared: list[Parameter], given: Any, *, language: str) -> FilledParameters:
    """Check ``given`` (name → value) against the declarations; defaults fill what is not given."""
    if given in (None, ""):
        given = {}
    if not isinstance(given, dict):
        raise _invalid("Give parameter values as an object of name → value.")
    known = {parameter.name: parameter for parameter in declared}
    unknown = [str(name) for name in given if name not in known]
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise _invalid(f"This script declares no parameter {', '.join(map(repr, unknown))[:200]} "
                       f"(it declares: {names}).")
    values: dict[str, Any] = {}
    arguments: list[str] = []
    environment: dict[str, str] = {}
    for parameter in declared:
        value = given.get(parameter.name)
        if value is None or (value == "" and parameter.type != "text"):
            value = parameter.default
        if value is None:
            if parameter.required:
                raise _invalid(f"{parameter.name!r} is required.")
            if parameter.via == "argument":
                arguments.append("")  # keep the positions of the arguments after it
            continue
        if _is_reference(parameter, value):
            value = value.strip()  # typed once resolved, at delivery
        else:
            value = _typed(parameter, value, language=language, where="")
        values[parameter.name] = value
        if parameter.via == "argument":
            arguments.append(as_text(value))
        else:
            environment[parameter.name] = as_text(value)
    return FilledParameters(values=values, arguments=arguments, environment=environment)


def _is_reference(parameter: Parameter, value: Any) -> bool:
    """A value of a number, yes/no or choice parameter that is one custom-field reference (text values are
    checked as text, references and all)."""
    return parameter.type != "text" and isinstance(value, str) and REFERENCE.fullmatch(value.strip()) is not None


def holds_references(values: dict[str, Any]) -> bool:
    return any(isinstance(value, str) and REFERENCE.search(value) for value in values.values())


def resolve(declared: list[Parameter], values: dict[str, Any], *, language: str,
            lookup: Any) -> FilledParameters:
    """``values`` with every reference replaced by ``lookup(scope, name)`` (the text of that custom value), then
    checked again as ``fill`` checks them: a custom value a parameter cannot take fails here, naming both."""
    known = {parameter.name: parameter for parameter in declared}
    resolved: dict[str, Any] = {}
    for name, value in values.items():
        parameter = known.get(name)
        if parameter is None or not isinstance(value, str) or not REFERENCE.search(value):
            resolved[name] = value
            continue
        if _is_reference(parameter, value):
            text = lookup(*REFERENCE.fullmatch(value.strip()).groups())
            converted = from_text([parameter], {name: text})
            if name in converted:
                resolved[name] = converted[name]
            continue
        resolved[name] = REFERENCE.sub(lambda found: lookup(found.group(1), found.group(2)), value)
    if holds_references(resolved):
        raise _invalid("A custom value may not itself hold a {{…}} reference.")
    return fill(declared, resolved, language=language)


def from_text(declared: list[Parameter], texts: dict[str, str]) -> dict[str, Any]:
    """Values typed into a form as text, converted to each parameter's type (empty means "not given")."""
    known = {parameter.name: parameter for parameter in declared}
    values: dict[str, Any] = {}
    for name, text in texts.items():
        parameter = known.get(name)
        if parameter is None:
            values[name] = text  # ``fill`` names it as undeclared
            continue
        text = text.strip() if parameter.type != "text" else text
        if text == "":
            continue
        if _is_reference(parameter, text):
            values[name] = text  # resolved for each device at delivery
        elif parameter.type == "number":
            try:
                number = float(text)
            except ValueError:
                raise _invalid(f"{name!r} must be a number, not {text!r:.40}.") from None
            values[name] = int(number) if number.is_integer() and "." not in text and "e" not in text.lower() \
                else number
        elif parameter.type == "bool":
            lowered = text.lower()
            if lowered not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                raise _invalid(f"{name!r} must be true or false, not {text!r:.40}.")
            values[name] = lowered in {"true", "yes", "1", "on"}
        else:
            values[name] = text
    return values


def ad_hoc_environment(value: Any) -> dict[str, str]:
    """Free environment variables (inline-script permission): valid names, text values without NUL."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"environment": "Environment variables are an object of name → text."})
    checked: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not ENV_NAME_PATTERN.fullmatch(name):
            raise ValidationError({"environment": f"{str(name)[:40]!r} is not a valid variable name."})
        if not isinstance(text, str) or "\x00" in text or len(text) > MAX_TEXT_CHARS:
            raise ValidationError({"environment": f"The value of {name} must be text of at most {MAX_TEXT_CHARS} "
                                                  "characters, without NUL."})
        checked[name] = text
    return checked
