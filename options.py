"""Command-line options, one way for every script: overrides of a config dataclass whose defaults (one comment per
field) are the documentation.

    --key=value   or   --key value   set a field, converted to the field's type (else an error naming the key)
    --flag                           set a bool field true (--flag=false sets it false)
    --help                           print the config dataclasses, defaults and comments, and exit

Types: bool (true/false/1/0/yes/no), int, float, str, tuple of ints ("1,2,2,2"), and "X | None" fields (none -> None).
An unknown key stops the script with one line naming it and the valid keys. Used by train.py, sample.py, evaluate.py,
moclip.py, latent_ar_train.py, python -m synthetic and the lab/ tools.

    cfg = options.parse(sys.argv[1:], TrainConfig(), prog="train.py")
Test: python -m pytest -q tests/test_options.py
"""
import dataclasses
import inspect
import sys
import types


def read(argv: list[str], prog: str) -> dict:
    """argv -> {key: raw value string, or None for a bare --key}, in order; the next word is a key's value unless it
    starts with "--". Raises SystemExit (one line) for a word that is not an option."""
    raw, i = {}, 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or arg == "--":
            sys.exit(f"{prog}: unexpected argument {arg!r}; options are --key=value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            value = None
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                i, value = i + 1, argv[i + 1]
        raw[key], i = value, i + 1
    return raw


def convert(value: str | None, field: dataclasses.Field, default, prog: str):
    """The raw string of --<field.name> as the field's type; SystemExit naming the key when it does not parse."""
    kind = type(default) if default is not None else field.type
    if isinstance(kind, types.UnionType):                                 # "float | None": the other member
        kind = next(k for k in kind.__args__ if k is not type(None))
    try:
        if kind is bool:
            text = "true" if value is None else value.lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return text in ("true", "1", "yes")
        if value is None:
            sys.exit(f"{prog}: --{field.name} needs a value (--{field.name}=...)")
        if default is None and value.lower() == "none":
            return None
        if kind is tuple:
            return tuple(int(v) for v in value.strip("()").split(",") if v.strip())
        return kind(value)
    except ValueError:
        sys.exit(f"{prog}: --{field.name}={value!r} is not a valid {kind.__name__}")


def parse(argv: list[str], *configs, prog: str, preset=None, extra: tuple = (), hints: dict | None = None):
    """Fill the dataclass instances `configs` from argv and return them (one, or a tuple of several).

    Each key goes to the first config that has that field. preset(raw) -> {field: value}, when given, is applied
    first (a named preset chosen from the raw options, e.g. by --dataset); keys in `extra` are accepted and left to
    the caller (read() returns them). hints[key] is added to the unknown-option message of that key."""
    raw = read(argv, prog)
    if "help" in raw:
        print(f"python {prog} [--key=value ...]; the fields and their defaults:\n")
        for cfg in configs:
            print(inspect.getsource(type(cfg)))
        sys.exit(0)
    owner = {f.name: (cfg, f) for cfg in reversed(configs) for f in dataclasses.fields(cfg)}
    for key in raw:
        if key not in owner and key not in extra:
            hint = f" ({hints[key]})" if key in (hints or {}) else ""
            sys.exit(f"{prog}: unknown option --{key}{hint}; valid: {', '.join([*extra, *owner])}")
    for key, value in (preset(raw) if preset else {}).items():
        setattr(owner[key][0], key, value)
    for key, value in raw.items():
        if key in owner:
            cfg, field = owner[key]
            setattr(cfg, key, convert(value, field, getattr(cfg, key), prog))
    return configs[0] if len(configs) == 1 else configs


def check_choices(cfg, prog: str, **choices) -> None:
    """SystemExit with one line naming every field of `cfg` whose value is not among its choices."""
    bad = [f"--{k} must be one of {list(v)}, got {getattr(cfg, k)!r}" for k, v in choices.items()
           if getattr(cfg, k) not in v]
    if bad:
        sys.exit(f"{prog}: " + "; ".join(bad))
