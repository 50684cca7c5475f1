"""Record, in every PNG figure the book's pages make, its smallest font and its colour use.

Listed in ``_config.yml`` under ``sphinx: extra_extensions``. When Sphinx loads it, it points
``MATPLOTLIBRC`` (unless already set) at ``lstm_ref/site/matplotlibrc``, which the Jupyter
kernels that execute the pages inherit. That file gives every figure of the site

- a colour-blind-safe colour cycle (Okabe and Ito's palette, :data:`PALETTE`, without its
  yellow, too pale on white) zipped with a line-style cycle, so the k-th line of an axes
  differs from the others in colour *and* dash pattern, even where a page sets only colours
  (matplotlib still takes the line style from the cycle then);
- ``figure.hooks`` set to :func:`record_font_sizes`: every figure made with pyplot then writes,
  into the PNG it is saved as, three text chunks: ``lstm_ref:min_font_pt`` (the smallest
  size, in points, of its visible non-empty texts: tick labels, labels, legends,
  annotations), ``lstm_ref:dpi``, and ``lstm_ref:colour_problems`` (:func:`colour_problems`:
  lines told apart by colour alone, colours outside the palette, rainbow colour maps; empty
  when there are none).

The browser tests of the site (``tests/site/test_browser.py``, ``tests/site/test_a11y.py``)
read them back and, with the width the image is displayed at, compute the smallest text size
a reader sees, and fail on any colour problem. The hook changes nothing in how a figure
looks. Importing this module does not import matplotlib.
"""

import math
import os
from pathlib import Path

MIN_FONT_KEY = "lstm_ref:min_font_pt"
DPI_KEY = "lstm_ref:dpi"
COLOUR_KEY = "lstm_ref:colour_problems"
MATPLOTLIBRC = Path(__file__).with_name("matplotlibrc")

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe & Ito's colour-blind-safe colours (blue, vermillion, bluish green, reddish purple,
orange, sky blue, black; their yellow is left out: too pale on white), in the order of the
site's colour cycle (``lstm_ref/site/matplotlibrc``). Greys are allowed besides them."""

RAINBOW_CMAPS = frozenset({
    "jet", "rainbow", "gist_rainbow", "hsv", "nipy_spectral", "gist_ncar", "brg", "turbo",
    "RdYlGn", "Spectral", "gist_stern", "prism", "flag",
})
"""Colour maps whose hues a reader with red-green colour blindness cannot order (or that
run red to green); sequential maps such as viridis, cividis, Greys or Blues are fine."""


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


def _safe_colour(rgba, tol=0.02):
    """True for a grey (r = g = b) or a colour of :data:`PALETTE` (alpha ignored)."""
    from matplotlib.colors import to_rgb

    r, g, b = rgba[:3]
    if max(r, g, b) - min(r, g, b) <= tol:
        return True
    return any(max(abs(u - v) for u, v in zip((r, g, b), to_rgb(c))) <= tol for c in PALETTE)


def _dashes(line):
    """A line's look apart from colour: its dash pattern (None when it draws no line), its
    marker (None when it has none) and its width, in steps of a factor 1.5 (a thin line
    beside one 1.5 times as wide is told apart without its colour)."""
    style = line.get_linestyle()
    pattern = getattr(line, "_unscaled_dash_pattern", (0, style))  # private, matplotlib >= 3.5
    dashes = None if style in ("None", "none", "", " ") else tuple(
        pattern[1] if isinstance(pattern[1], (tuple, list)) else ())
    marker = line.get_marker()
    marker = None if marker in (None, "None", "none", "", " ") else str(marker)
    width = round(math.log(max(float(line.get_linewidth()), 1e-3)) / math.log(1.5))
    return dashes, marker, width


def colour_problems(fig):
    """What in ``fig`` a colour-blind reader could not tell apart, as a list of strings.

    - two lines of one axes that differ in colour but have the same dash pattern, marker and
      width (told apart by colour alone);
    - a line, marker or filled area whose colour is neither grey nor in :data:`PALETTE`;
    - an image drawn with a colour map of :data:`RAINBOW_CMAPS`.
    """
    from matplotlib.colors import to_rgba

    out = []
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        where = f"axes {k + 1}"
        lines = [ln for ln in ax.get_lines() if ln.get_visible() and len(ln.get_xdata()) > 0]
        looks = {}
        for ln in lines:
            colour = to_rgba(ln.get_color())
            if not _safe_colour(colour):
                out.append(f"{where}: line {ln.get_label()!r} in {ln.get_color()!r}, not in the palette")
            looks.setdefault(_dashes(ln), {}).setdefault(colour[:3], ln.get_label())
        for colours in looks.values():
            if len(colours) > 1:
                names = ", ".join(repr(v) for v in colours.values())
                out.append(f"{where}: lines {names} differ by colour alone "
                           "(same dashes, marker and width)")
        for coll in ax.collections:
            if not coll.get_visible():
                continue
            if coll.get_array() is not None:  # coloured through a colour map
                name = coll.get_cmap().name.removesuffix("_r")
                if name in RAINBOW_CMAPS:
                    out.append(f"{where}: {type(coll).__name__} in the colour map {name!r}")
                continue
            for colour in list(coll.get_facecolors()) + list(coll.get_edgecolors()):
                if colour[3] > 0 and not _safe_colour(colour):
                    out.append(f"{where}: {type(coll).__name__} {coll.get_label()!r} in "
                               f"{tuple(round(float(c), 3) for c in colour[:3])}, not in the palette")
                    break
        for image in ax.get_images():
            name = image.get_cmap().name.removesuffix("_r")
            if name in RAINBOW_CMAPS:
                out.append(f"{where}: an image in the colour map {name!r}")
    return out


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
    """``figure.hooks`` entry: make ``fig``'s PNGs carry :data:`MIN_FONT_KEY`,
    :data:`DPI_KEY` and :data:`COLOUR_KEY`. IPython's inline backend and ``savefig`` both save through
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
                metadata[COLOUR_KEY] = "; ".join(colour_problems(fig))
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
