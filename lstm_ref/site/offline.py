"""Sphinx extension: keep every page of the site free of remote script URLs.

Jupyter Book always loads sphinx-thebe, which writes into every page an inline script naming
thebe's CDN bundle (``https://unpkg.com/thebe@...``) and loads ``sphinx-thebe.js``. The course
does not use thebe (``launch_buttons: thebe: false``; code runs on Binder or a JupyterHub),
so this extension drops both from each page, and the built site holds no CDN address at all.
Listed in ``_config.yml`` under ``sphinx: extra_extensions``.
"""


def _is_thebe(js):
    name = str(getattr(js, "filename", "") or "")
    body = str(getattr(js, "attributes", {}).get("body", ""))
    return name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        # In place: the builder restores its list before the next page.
        scripts[:] = [js for js in scripts if not _is_thebe(js)]


def setup(app):
    # Late priority: after sphinx-thebe, myst-nb and the theme have added their scripts.
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
