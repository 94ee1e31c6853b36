"""How every script fails: a problem with the user's input is one line on stderr and exit code 2,
never a traceback (and Ctrl-C is exit 130 after whatever the script saved in its own handlers)."""
import argparse
import sys


class UserError(Exception):
    """A problem with the user's input or environment (a missing file, a full disk): printed as one
    line, exit code 2, no traceback."""


def run_cli(main):
    """Run `main()` so that bad input gives one line on stderr and a non-zero exit."""
    try:
        sys.exit(main())
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


class HelpFormatter(argparse.HelpFormatter):
    """--help with every option's default, taken from the option itself (none for flags and for
    options whose default depends on others, which say so in their help)."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in help_text:
            help_text += " (default: %(default)s)"
        return help_text
