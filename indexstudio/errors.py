"""Errors a user can act on.  The CLI prints their message on one line, without a traceback."""


class IndexStudioError(Exception):
    """Base class: bad input or an environment problem, explained in the message."""


class InputError(IndexStudioError):
    """The user's text, book, audio or option cannot be used."""


class EngineError(IndexStudioError):
    """An engine cannot be loaded or cannot do what was asked."""
