"""Exception types of eostheory.

Every error caused by user input derives from :class:`EosInputError`, which is a
:class:`ValueError`; the CLI turns it into a one-line message and exit status 2.
"""

from __future__ import annotations

__all__ = ["CompilationError", "EosInputError"]


class EosInputError(ValueError):
    """Bad input from the user: the message says what was wrong and how to fix it."""


class CompilationError(EosInputError):
    """A symbolic expression could not be turned into compiled code."""
