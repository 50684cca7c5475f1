"""Record, in every PNG figure the book's pages make, the smallest font size it uses.

Listed in ``_config.yml`` under ``sphinx: extra_extensions``. When Sphinx loads it, it points
``MATPLOTLIBRC`` (unless already set) at ``lstm_ref/site/matplotlibrc``, which the Jupyter
kernels that execute the pages inherit. That file sets matplotlib's ``figure.hooks`` to
:func:`record_font_sizes`: every figure made with pyplot then writes, into the PNG it is
saved as, two text chunks, ``lstm_ref:min_font_pt`` (the smallest size, in points, of its
visible non-empty texts: tick labels, labels, legends, annotations) and ``lstm_ref:dpi``.

The browser test of the site (``tests/site/test_browser.py``) reads them back and, with the
width the image is displayed at, computes the smallest text size a reader sees. Nothing here
changes how a figure looks. Importing this module does not import matplotlib.
"""

import os
from pathlib import Path

MIN_FONT_KEY = "lstm_ref:min_font_pt"
DPI_KEY = "lstm_ref:dpi"
MATPLOTLIBRC = Path(__file__).with_name("matplotlibrc")


def min_font_pt(fig):
    """The smallest font size (points) of the visible, non-empty texts of ``fig``, or
    ``None`` when it has none. Tick labels get their text when the figure is drawn, so the
    figure is laid out (without rendering) first."""
    from matplotlib.text import Text

    fig.draw_without_rendering()
    hidden = set()  # texts of axes that are not drawn: hidden axes, axis("off")
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                hidden.update(map(id, axis.get_ticklabels(which="both")))
                hidden.update((id(axis.label), id(axis.offsetText)))
        if not ax.get_visible():
            hidden.update(id(t) for t in ax.findobj(Text))
    sizes = [float(t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return min(sizes) if sizes else None


def _is_png(args, kwargs):
    fmt = kwargs.get("format")
    if fmt is None and args and isinstance(args[0], (str, os.PathLike)):
        fmt = Path(args[0]).suffix.lstrip(".")
    return str(fmt).lower() == "png"


def _savefig_dpi(fig):
    import matplotlib

    dpi = matplotlib.rcParams["savefig.dpi"]
    return fig.dpi if dpi == "figure" else dpi


def record_font_sizes(fig):
    """``figure.hooks`` entry: make ``fig``'s PNGs carry :data:`MIN_FONT_KEY` and
    :data:`DPI_KEY`. IPython's inline backend and ``savefig`` both save through
    ``fig.canvas.print_figure``."""
    canvas = fig.canvas
    original = canvas.print_figure

    def print_figure(*args, **kwargs):
        if _is_png(args, kwargs):
            smallest = min_font_pt(fig)
            if smallest is not None:
                metadata = dict(kwargs.get("metadata") or {})
                metadata[MIN_FONT_KEY] = f"{smallest:.3f}"
                dpi = kwargs.get("dpi")
                if dpi is None or dpi == "figure":
                    dpi = fig.dpi if dpi == "figure" else _savefig_dpi(fig)
                metadata[DPI_KEY] = f"{float(dpi):.3f}"
                kwargs["metadata"] = metadata
        return original(*args, **kwargs)

    canvas.print_figure = print_figure


def png_text_chunks(data):
    """The ``tEXt`` chunks of PNG bytes ``data``, as a dict (empty if not a PNG)."""
    import struct
    import zlib

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return {}
    out, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and b"\x00" in body:
            key, value = body.split(b"\x00", 1)
            out[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt" and b"\x00" in body:
            key, rest = body.split(b"\x00", 1)
            compressed, _method = rest[0], rest[1]
            _lang, _translated, text = rest[2:].split(b"\x00", 2)
            out[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode()
        elif kind == b"IEND":
            break
        pos += 12 + length
    return out


def setup(app):
    os.environ.setdefault("MATPLOTLIBRC", str(MATPLOTLIBRC))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
