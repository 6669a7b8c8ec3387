"""Vectors -> nearest corpus rows (FAISS, cosine). No text encoder here: rows arrive as vectors.

options.IndexOptions says how to build; choice picks and tunes the FAISS index; build builds one in
RAM and loads any index folder; ondisk / ondisk_read build and read one past RAM; members and
sharded build and search several together; shards reads a folder of encoded vector shards; store
is the VectorIndex type; folder is the folder format all of them share.
"""


def __getattr__(name: str):
    """Submodules load on first use: `textgan.<package>.<module>` works after `import textgan` alone."""
    from textgan.common.lazy import submodule

    return submodule(__name__, __path__, name)
