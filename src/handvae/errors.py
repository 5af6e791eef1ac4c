"""Errors meant for the user: one clear line, exit code 2, no traceback."""


class UserError(Exception):
    """Bad input from the user (a file, a value, a flag). The message names it and what was expected."""
