"""Draw a workflow's input form from its pydantic model's JSON schema.

Text, whole numbers, numbers, booleans, choices and lists of text get their own widgets; a
field the form cannot draw (objects, mixed lists) gets a JSON box. The bounds are shown in
the field's help, and checked by the package when the form is submitted, so a wrong value
gets its message in words next to the field instead of being silently clamped.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from orchestrator.errors import InputError
from orchestrator.validation import parse_json
from orchestrator.workflows import WorkflowSpec

JSON_HINT = "JSON"


class FieldParseError(ValueError):
    """A JSON field that does not parse; its message goes next to the field."""


def _kind(schema: dict[str, Any]) -> str:
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    field = options[0] if len(options) == 1 else {}
    kind = field.get("type")
    if "enum" in field:
        return "choice"
    if kind == "array" and field.get("items", {}).get("type") == "string":
        return "lines"
    return kind if kind in ("string", "integer", "number", "boolean") else "json"


ACRONYMS = {"url": "URL", "uri": "URI", "id": "ID", "api": "API", "llm": "LLM", "json": "JSON", "sql": "SQL"}
UNITS = {"s": "(s)", "ms": "(ms)", "min": "(min)", "h": "(h)", "pct": "(%)"}


def field_label(name: str, schema: dict[str, Any]) -> str:
    """A field's label: its own title, or words from its name ("delay_ms" -> "Delay (ms)", "fan_out"
    -> "Fan out") where the title is only pydantic's from the name ("Delay Ms")."""
    title = schema.get("title")
    if title and title != name.replace("_", " ").title():
        return str(title)
    words = [ACRONYMS.get(w, w) for w in name.split("_") if w]
    if len(words) > 1 and words[-1] in UNITS:
        words[-1] = UNITS[words[-1]]
    text = " ".join(words) or name
    return text[:1].upper() + text[1:]


def model_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The defaults a model makes with a factory (`Field(default_factory=...)`), as JSON values: its
    JSON schema has no `default` for them, so the form would show them blank."""
    return {
        name: to_jsonable_python(info.get_default(call_default_factory=True))
        for name, info in model.model_fields.items()
        if info.default_factory is not None
    }


def _help(schema: dict[str, Any]) -> str:
    bounds = []
    for key, word in (
        ("minimum", "at least"),
        ("maximum", "at most"),
        ("minLength", "at least"),
        ("maxLength", "at most"),
    ):
        if key in schema:
            unit = " characters" if "Length" in key else ""
            bounds.append(f"{word} {schema[key]}{unit}")
    text = schema.get("description", "")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def render_field(name: str, schema: dict[str, Any], value: Any, key: str) -> Any:
    """One widget for one field; returns its value (JSON fields: the parsed value or FieldParseError)."""
    label, kind, help_text = field_label(name, schema), _kind(schema), _help(schema)
    placeholder = "optional" if schema.get("x-optional") else "required"
    if kind == "boolean":
        return st.checkbox(label, value=bool(value), key=key, help=help_text)
    if kind == "integer":
        return st.number_input(label, value=value, step=1, key=key, help=help_text, placeholder=placeholder)
    if kind == "number":
        return st.number_input(
            label,
            value=None if value is None else float(value),
            step=0.05,
            format="%.3f",
            key=key,
            help=help_text,
            placeholder=placeholder,
        )
    if kind == "choice":
        options = schema.get("enum", [])
        return st.selectbox(
            label, options, index=options.index(value) if value in options else None, key=key, help=help_text
        )
    if kind == "string":
        long = schema.get("maxLength", 0) > 200  # no bound: one line (a URL, a name)
        widget = st.text_area if long else st.text_input
        return widget(label, value=value or "", key=key, help=help_text)
    if kind == "lines":
        default = schema.get("default")
        blank = f"Left blank: {', '.join(map(str, default)) or 'none'}. " if isinstance(default, list) else ""
        text = st.text_area(
            label, value="\n".join(value or []), key=key, help=f"One item per line. {blank}{help_text}"
        )
        # A blank list is left out, so the model's default applies (not [] that does nothing).
        return [line.strip() for line in text.splitlines() if line.strip()] or None
    raw = st.text_area(
        f"{label} ({JSON_HINT})",
        value=json.dumps(value, indent=1) if value is not None else "",
        key=key,
        help=help_text,
    )
    if not raw.strip():
        return None
    try:
        return parse_json(raw, "JSON")
    except InputError as exc:  # "JSON is not valid JSON (...)": keep what follows the name
        return FieldParseError(str(exc).removeprefix("JSON ").rstrip("."))


def render_input_form(
    spec: WorkflowSpec, start: dict[str, Any], errors: dict[str, str], key: str
) -> dict[str, Any]:
    """Widgets for every input field, filled from `start` or the defaults, with `errors` beside them.

    A workflow without an input model gets one JSON box for the whole input.
    """
    if spec.input_model is None:
        value = render_field(
            "input", {"title": "Input", "description": "A JSON object."}, start or {}, f"{key}_json"
        )
        if "input" in errors:
            st.error(errors["input"], icon=":material/error:")
        return {"__whole__": value}
    schema = spec.input_model.model_json_schema()
    for name, default in model_defaults(spec.input_model).items():
        if name in schema.get("properties", {}):
            schema["properties"][name] = {**schema["properties"][name], "default": default}
    return render_schema_form(schema, start, errors, f"{key}_{spec.name}")


def field_messages(fields: dict[str, Any], errors: dict[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """Each error as a sentence under its top-level field (a nested path such as `labels.quarter`
    goes under `labels`), and the errors that belong to no field (a model validator's message)."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for path, message in errors.items():
        name, _, rest = path.partition(".")
        if name in fields:
            title = field_label(name, fields[name])
            by_field.setdefault(name, []).append(f"{title}{' ' + rest if rest else ''} {message}.")
        else:
            text = message if path in ("input", "") else f"{path} {message}"
            general.append(text + ("" if text.endswith(".") else "."))
    return by_field, general


def render_schema_form(
    schema: dict[str, Any], start: dict[str, Any], errors: dict[str, str], key: str
) -> dict[str, Any]:
    """Widgets for the fields of a JSON schema (`key_<field>`), with every error shown at once:
    beside its field, and those of no field above the form."""
    values: dict[str, Any] = {}
    fields = schema.get("properties", {})
    by_field, general = field_messages(fields, errors)
    for message in general:
        st.error(message, icon=":material/error:")
    # Text boxes take the whole width; numbers, switches and choices share rows of three.
    wide = [name for name, field in fields.items() if _kind(field) in ("string", "lines", "json")]
    small = [name for name in fields if name not in wide]
    places = {name: st.container() for name in wide}
    for row_start in range(0, len(small), 3):
        columns = st.columns(3)
        places.update(zip(small[row_start : row_start + 3], columns, strict=False))
    for name, field_schema in fields.items():
        with places[name]:
            default = start.get(name, field_schema.get("default"))
            optional = name not in schema.get("required", []) and field_schema.get("default", 0) is None
            shown = {**field_schema, "x-optional": True} if optional else field_schema
            values[name] = render_field(name, shown, default, f"{key}_{name}")
            for message in by_field.get(name, []):
                st.error(message, icon=":material/error:")
    return values


def collect_input(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The input to submit, and the fields whose JSON did not parse. Empty fields are left out."""
    if "__whole__" in values:
        whole = values["__whole__"]
        if isinstance(whole, FieldParseError):
            return {}, {"input": str(whole)}
        return (whole if whole is not None else {}), {}
    parse_errors = {name: str(v) for name, v in values.items() if isinstance(v, FieldParseError)}
    data = {name: v for name, v in values.items() if v is not None and v != "" and name not in parse_errors}
    return data, parse_errors
