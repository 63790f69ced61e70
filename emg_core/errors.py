"""Errors a user can cause. Everything here carries a message fit to show as is."""


class InputError(ValueError):
    """Input we refuse: the message says what was wrong and, where it helps, what to do."""


class C3DFormatError(InputError):
    """The bytes are not a C3D file we can read safely (refused before the parser sees them)."""


class ParserFailure(InputError):
    """The parser library crashed, hung or ran out of memory on a file that passed validation."""


class ParameterError(InputError):
    """An analysis parameter is out of range or inconsistent."""
