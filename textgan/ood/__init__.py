def __getattr__(name: str):
    """Submodules load on first use: `textgan.<package>.<module>` works after `import textgan` alone."""
    from textgan.common.lazy import submodule

    return submodule(__name__, __path__, name)
