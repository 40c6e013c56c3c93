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
    label, kind, help_text = schema.get("title", name), _kind(schema), _help(schema)
    if kind == "boolean":
        return st.checkbox(label, value=bool(value), key=key, help=help_text)
    if kind == "integer":
        return st.number_input(label, value=value, step=1, key=key, help=help_text, placeholder="required")
    if kind == "number":
        return st.number_input(
            label,
            value=None if value is None else float(value),
            step=0.05,
            format="%.3f",
            key=key,
            help=help_text,
            placeholder="required",
        )
    if kind == "choice":
        options = schema.get("enum", [])
        return st.selectbox(
            label, options, index=options.index(value) if value in options else None, key=key, help=help_text
        )
    if kind == "string":
        long = schema.get("maxLength", 10_000) > 200
        widget = st.text_area if long else st.text_input
        return widget(label, value=value or "", key=key, help=help_text)
    if kind == "lines":
        text = st.text_area(
            label, value="\n".join(value or []), key=key, help=f"One item per line. {help_text}"
        )
        return [line.strip() for line in text.splitlines() if line.strip()]
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
            st.error(errors["input"])
        return {"__whole__": value}
    schema = spec.input_model.model_json_schema()
    values: dict[str, Any] = {}
    fields = schema.get("properties", {})
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
            values[name] = render_field(name, field_schema, default, f"{key}_{spec.name}_{name}")
            if name in errors:
                st.error(f"{field_schema.get('title', name)} {errors[name]}.", icon=":material/error:")
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
