"""The `textgan` commands, one module per area; `cli.py` registers every click command found here.

Each is a thin click wrapper over the workflow and library functions. Heavy imports (torch,
faiss) happen inside each command so `--help` stays fast. Every user-fixable problem is an
`InputError`: one line on stderr, exit code 2 (see `cli.main`). Nothing but `cli.py` imports
these modules (imports flow cli -> commands -> workflow -> core).
"""


def __getattr__(name: str):
    """Submodules load on first use: `textgan.<package>.<module>` works after `import textgan` alone."""
    from textgan.common.lazy import submodule

    return submodule(__name__, __path__, name)
