"""nbgrader's release links to the published book, as the site's download does.

``nbgrader generate_assignment`` copies a source notebook's markdown as it is, so a released
notebook would link to ``forward.md``, a file the student does not have. This preprocessor,
added to ``GenerateAssignment``'s list in ``nbgrader_config.py``, rewrites those links with
:func:`lstm_ref.site.links.absolute_page_links` before the last checksums are computed.
"""

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from ..site.links import absolute_page_links


class PublishedPageLinks(Preprocessor):
    """Rewrite ``[text](page.md)`` links of markdown cells to the published book's pages."""

    enabled = Bool(True, help="nbconvert preprocessors are off unless enabled").tag(config=True)
    baseurl = Unicode("", help="html.baseurl of _config.yml; empty: leave links alone").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        chapter = (resources.get("nbgrader") or {}).get("assignment")
        if not self.baseurl or not chapter:
            return nb, resources
        rewritten = absolute_page_links(nb, chapter, self.baseurl)
        return nbformat.from_dict(rewritten), resources
