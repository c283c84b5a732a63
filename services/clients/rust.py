"""A Rust crate from an OpenAPI document: ``types.rs`` (serde structs and enums) and
``client.rs`` (one blocking function per operation, over ureq).

No maintained OpenAPI-to-Rust generator can be installed from the registries this project
reaches, so this one is ours and deliberately small: it covers what this service's documents
use (objects, arrays, string enums, nullable ``anyOf``, ``$ref``, JSON and form bodies) and
maps anything else to ``serde_json::Value``. The crate builds offline against the Rust crates
Debian packages, through a source replacement in ``.cargo/config.toml``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

DEBIAN_REGISTRY = "/usr/share/cargo/registry"
RUST_KEYWORDS = frozenset(
    "as break const continue crate else enum extern false fn for if impl in let loop match mod "
    "move mut pub ref return self Self static struct super trait true type unsafe use where "
    "while async await dyn abstract become box do final macro override priv typeof unsized "
    "virtual yield try".split()
)
_NOT_RAW = frozenset({"self", "Self", "super", "crate"})  # cannot be raw identifiers
VALUE = "serde_json::Value"


def _rust_str(text: str) -> str:
    # A JSON string literal is a valid Rust string literal for everything JSON escapes.
    return json.dumps(text)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("services.clients", "templates/rust"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        autoescape=False,  # noqa: S701 - Rust source, not HTML
    )
    env.filters["rust_str"] = _rust_str
    return env


def _words(text: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def type_name(text: str) -> str:
    """A Rust type name (PascalCase) for a schema name."""
    name = "".join(w[:1].upper() + w[1:] for w in _words(text)) or "Unnamed"
    return f"T{name}" if name[0].isdigit() else name


def snake(text: str) -> str:
    """A Rust function or field name (snake_case)."""
    name = "_".join(w.lower() for w in _words(text)) or "unnamed"
    return f"n_{name}" if name[0].isdigit() else name


def field_name(wire: str) -> str:
    """A field name for a JSON key: raw identifiers for keywords."""
    name = wire if re.fullmatch(r"[a-z_][a-z0-9_]*", wire) else snake(wire)
    if name in _NOT_RAW:
        return f"{name}_"
    return f"r#{name}" if name in RUST_KEYWORDS else name


class _Generator:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: dict[str, dict] = doc.get("components", {}).get("schemas", {})
        self.names = {name: type_name(name) for name in self.schemas}
        if len(set(self.names.values())) != len(self.names):
            taken: set[str] = set()
            for name in self.schemas:
                rust, n = self.names[name], 2
                while rust in taken:
                    rust, n = f"{self.names[name]}{n}", n + 1
                self.names[name] = rust
                taken.add(rust)

    def ref(self, ref: str) -> str:
        return self.names[ref.rsplit("/", 1)[1]]

    def rust_type(self, schema: dict | bool | None) -> str:
        """The Rust type of a (sub)schema; anything unusual is a JSON value."""
        if not isinstance(schema, dict) or not schema:
            return VALUE
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            rest = [o for o in options if o.get("type") != "null"]
            inner = self.rust_type(rest[0]) if len(rest) == 1 else VALUE
            return f"Option<{inner}>" if len(rest) < len(options) else inner
        kind = schema.get("type")
        if isinstance(kind, list):
            rest = [k for k in kind if k != "null"]
            inner = self.rust_type({**schema, "type": rest[0]}) if len(rest) == 1 else VALUE
            return f"Option<{inner}>" if len(rest) < len(kind) else inner
        if kind == "string":
            return "String"
        if kind == "integer":
            return "i64"
        if kind == "number":
            return "f64"
        if kind == "boolean":
            return "bool"
        if kind == "array":
            return f"Vec<{self.rust_type(schema.get('items'))}>"
        if kind == "object" and not schema.get("properties"):
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"std::collections::BTreeMap<String, {self.rust_type(extra)}>"
            return "serde_json::Map<String, serde_json::Value>"
        return VALUE

    def item(self, name: str, schema: dict) -> dict:
        rust = self.names[name]
        doc = (schema.get("description") or schema.get("title") or "").splitlines()
        doc = doc[0] if doc else ""
        if schema.get("type") == "string" and schema.get("enum"):
            variants, seen = [], set()
            for value in schema["enum"]:
                variant = type_name(str(value))
                while variant in seen:
                    variant += "_"
                seen.add(variant)
                variants.append({"name": variant, "value": str(value)})
            return {"kind": "enum", "name": rust, "doc": doc, "variants": variants}
        if schema.get("type") != "object" or not schema.get("properties"):
            return {"kind": "alias", "name": rust, "doc": doc, "target": self.rust_type(schema)}
        required = set(schema.get("required", []))
        fields, used = [], set()
        for wire, sub in schema["properties"].items():
            kind = self.rust_type(sub)
            optional = wire not in required or kind.startswith("Option<")
            if optional and not kind.startswith("Option<"):
                kind = f"Option<{kind}>"
            name = field_name(wire)
            while name in used:
                name += "_"
            used.add(name)
            text = (sub.get("description") or "") if isinstance(sub, dict) else ""
            fields.append(
                {
                    "name": name,
                    "wire": wire,
                    "type": kind,
                    "optional": optional,
                    "doc": text.splitlines()[0] if text else "",
                }
            )
        return {
            "kind": "struct",
            "name": rust,
            "doc": doc,
            "fields": fields,
            "extra": schema.get("additionalProperties") not in (None, False),
            "defaultable": all(f["optional"] for f in fields),
        }

    def operations(self) -> list[dict]:
        out, used = [], set()
        for path, item in self.doc.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method == "parameters" or not isinstance(op, dict):
                    continue
                params = [*shared, *op.get("parameters", [])]
                path_params = [p for p in params if p.get("in") == "path"]
                names = {p["name"]: snake(p["name"]) for p in path_params}
                body = form = None
                content = op.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    body = self.rust_type(content["application/json"].get("schema"))
                elif {"multipart/form-data", "application/x-www-form-urlencoded"} & set(content):
                    form = True
                fn = snake(op.get("operationId") or f"{method}_{path}")
                while fn in used:
                    fn += "_"
                used.add(fn)
                out.append(
                    {
                        "id": op.get("operationId", fn),
                        "fn": fn,
                        "method": method.upper(),
                        "path": path,
                        "path_format": re.sub(r"\{[^}]+\}", "{}", path),
                        "path_params": [{"name": names[p["name"]]} for p in path_params],
                        "query": any(p.get("in") == "query" for p in params),
                        "body": body,
                        "form": form,
                        "returns": self._returns(op),
                        "summary": (op.get("summary") or fn).splitlines()[0],
                    }
                )
        return out

    def _returns(self, op: dict) -> str:
        for code in ("200", "201"):
            answer = op.get("responses", {}).get(code)
            if answer:
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                return self.rust_type(schema) if schema else VALUE
        return VALUE


def generate(
    doc: dict[str, Any], out_dir: Path, *, crate: str, registry: str = DEBIAN_REGISTRY
) -> Path:
    """Write the crate for ``doc`` into ``out_dir``; returns it."""
    gen = _Generator(doc)
    env = _environment()
    info = doc.get("info", {})
    version = str(info.get("version", "0"))
    semver = (
        version
        if re.fullmatch(r"\d+\.\d+\.\d+", version)
        else f"0.{re.sub(r'[^0-9]', '', version) or 0}.0"
    )
    context = {
        "crate": crate,
        "title": info.get("title", crate),
        "version": semver,
        "registry": registry,
        "types": [gen.item(name, schema) for name, schema in gen.schemas.items()],
        "operations": gen.operations(),
    }
    out_dir = Path(out_dir)
    (out_dir / "src").mkdir(parents=True, exist_ok=True)
    (out_dir / ".cargo").mkdir(exist_ok=True)
    files = {
        "Cargo.toml": "Cargo.toml.j2",
        ".cargo/config.toml": "config.toml.j2",
        "src/lib.rs": "lib.rs.j2",
        "src/types.rs": "types.rs.j2",
        "src/client.rs": "client.rs.j2",
    }
    for target, template in files.items():
        text = env.get_template(template).render(**context)
        (out_dir / target).write_text(re.sub(r"\n{3,}", "\n\n", text))
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m services.clients.rust OPENAPI_JSON OUT_DIR CRATE_NAME``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(
            "usage: python -m services.clients.rust OPENAPI_JSON OUT_DIR CRATE_NAME",
            file=sys.stderr,
        )
        return 2
    doc = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    crate = re.sub(r"[^a-z0-9_]", "_", args[2].lower())
    print(generate(doc, Path(args[1]), crate=crate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
