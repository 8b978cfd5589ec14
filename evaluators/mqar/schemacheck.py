"""A small JSON Schema (draft 2020-12) checker for the tests: the keywords
docs/evaluators/*.schema.json use, nothing more. (The worker itself needs
no schema library; protocol.check_job does its checks by hand.)"""

import re

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}

_KNOWN = {"$schema", "$id", "$defs", "title", "description", "default", "format", "type", "const", "enum", "required",
          "properties", "additionalProperties", "propertyNames", "pattern", "minLength", "maxLength", "minimum",
          "maximum", "items", "minItems", "maxItems", "uniqueItems", "maxProperties", "$ref", "allOf", "oneOf",
          "if", "then", "not"}


def errors(schema, value, root=None, path="$"):
    """The list of violations of value against schema (empty: valid).
    Raises ValueError for a keyword this checker does not implement, so a
    schema cannot silently use one."""
    root = root if root is not None else schema
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path}: no value allowed"]
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"schemacheck does not implement {sorted(unknown)}")
    errs = []
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref: {ref}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        errs += errors(target, value, root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return errs + [f"{path}: expected {'/'.join(types)}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        errs.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{path}: longer than {schema['maxLength']}")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            errs.append(f"{path}: items not unique")
        if "items" in schema:
            for i, v in enumerate(value):
                errs += errors(schema["items"], v, root, f"{path}[{i}]")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{path}: missing {k!r}")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errs.append(f"{path}: more than {schema['maxProperties']} properties")
        props = schema.get("properties", {})
        for k, v in value.items():
            if "propertyNames" in schema:
                errs += errors(schema["propertyNames"], k, root, f"{path}.{k} (name)")
            if k in props:
                errs += errors(props[k], v, root, f"{path}.{k}")
            elif "additionalProperties" in schema:
                errs += errors(schema["additionalProperties"], v, root, f"{path}.{k}")
    for sub in schema.get("allOf", []):
        errs += errors(sub, value, root, path)
    if "oneOf" in schema:
        n = sum(1 for sub in schema["oneOf"] if not errors(sub, value, root, path))
        if n != 1:
            errs.append(f"{path}: matches {n} of oneOf, not exactly 1")
    if "if" in schema:
        branch = "then" if not errors(schema["if"], value, root, path) else "else"
        if branch in schema:
            errs += errors(schema[branch], value, root, path)
    if "not" in schema and not errors(schema["not"], value, root, path):
        errs.append(f"{path}: matches a schema it must not match")
    return errs
