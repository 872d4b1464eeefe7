"""Command-line values of plain types converted without pydantic.

typer converts each parameter's value to its annotated type through a pydantic `TypeAdapter` that
it builds when the parameter is first processed, even for a parameter left at its default. The
first one imports pydantic and its schema machinery: ~0.1 s for every command, as much as a whole
`backup create` with nothing changed. `lighten` gives the parameters of plain types (`str`, `Path`,
`bool`, lists of them) a converter that does what typer's adapter does for the values they get
from a command line or a default (`None`, a `str`, a `Path`, a list of those), and hands any other
value to typer's own converter, built then. Other parameter types are left to typer.

This uses typer's private coercion layer (`typer._coercion`); when that is missing or changes
shape, `lighten` does nothing and typer converts every value itself, as it always did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path

    AVAILABLE = True
except ImportError:  # pragma: no cover - another typer release: typer converts everything
    AVAILABLE = False

_PLAIN = (str, Path, bool)


def _plain_annotation(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return len(args) == 1 and args[0] in _PLAIN
    return annotation in _PLAIN


if AVAILABLE:

    class PlainValues(RuntimeParam):
        """typer's conversion of `str`, `Path` and lists of them, for `str` and `Path` values;
        anything else goes to the converter typer would have built."""

        descriptor: Any

        def __init__(self, descriptor: Any) -> None:
            super().__init__(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
            object.__setattr__(self, "descriptor", descriptor)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation: Any = self.annotation
            try:
                if get_origin(annotation) is list:
                    item = get_args(annotation)[0]
                    if isinstance(value, list | tuple) and all(self._handles(v, item) for v in value):
                        return [self._convert(v, item, param, ctx) for v in value]
                elif self._handles(value, annotation):
                    return self._convert(value, annotation, param, ctx)
            except (AttributeError, TypeError):  # typer's private helpers changed shape
                pass
            typer_own = build_runtime_param(self.descriptor)
            return typer_own._coerce_value(value, param=param, ctx=ctx)

        def _handles(self, value: Any, annotation: Any) -> bool:
            if annotation is str:
                return type(value) is str
            if annotation is Path:
                return self.parameter_info.path_type is None and isinstance(value, str | Path)
            return False  # bool: None and bools never get here (typer handles them first)

        def _convert(self, value: Any, annotation: Any, param: Any, ctx: Any) -> Any:
            if annotation is str:
                return value
            # typer's path adapter: the same checks (exists, file_okay, ...), on a Path
            path = Path(value) if isinstance(value, str) else value
            return coerce_cli_path(path, self.parameter_info, path_type=Path, param=param, ctx=ctx)


def lighten(command: Any) -> None:
    """Give `command`'s plain parameters (its `--help` too, created when first asked for; and
    its subcommands', when it is a group already holding them) the converter above."""
    if not AVAILABLE:
        return
    try:
        _lighten_command(command)
    except (AttributeError, TypeError):  # another typer release: typer converts everything itself
        return


def _lighten_command(command: Any) -> None:
    for param in getattr(command, "params", ()):
        _lighten_param(param)
    original = getattr(command, "get_help_option", None)
    if original is not None and not getattr(original, "lightened", False):

        def get_help_option(ctx: Any) -> Any:
            option = original(ctx)
            if option is not None:
                _lighten_param(option)
            return option

        get_help_option.lightened = True  # type: ignore[attr-defined]
        setattr(command, "get_help_option", get_help_option)  # noqa: B010 - an instance's method
    for sub in (getattr(command, "commands", None) or {}).values():
        _lighten_command(sub)


def _lighten_param(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if (
        descriptor is None
        or getattr(param, "_runtime_param", True) is not None
        or getattr(descriptor, "file_annotation", None) is not None
        or getattr(descriptor.parameter_info, "parser", None) is not None
        or not _plain_annotation(descriptor.annotation)
    ):
        return
    param._runtime_param = PlainValues(descriptor)
