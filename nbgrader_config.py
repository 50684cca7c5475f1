"""nbgrader configuration: the course directory is the repository root.

The standard commands work from the root (with the venv's ``bin`` on ``PATH``: nbgrader calls
``alembic``, and the notebooks import ``lstm_ref`` from the root):

    nbgrader generate_assignment ch01_rnn      # solutions/ch01_rnn -> release/ch01_rnn
    nbgrader generate_feedback ch01_rnn        # autograded/ -> feedback/
    nbgrader export                            # grades.csv
    nbgrader formgrader                        # manual grading of the written answers

Autograding is ``make grade A=ch01_rnn`` (``python -m lstm_ref.grading grade ch01_rnn``): each
student's code runs in a bubblewrap sandbox and the test cells, hidden tests included, run
outside it; the scores go into this gradebook, which the commands above use as usual. Plain
``nbgrader autograde`` would run a student's notebook, hidden tests included, in a kernel
with your rights: keep it for trusted code. See the book's "For instructors" page.
"""

import os
import sys

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

# --- where things are -------------------------------------------------------------------
c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "lstm"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook is a SQLite file beside this one, outside git (.gitignore).
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.CourseDirectory.assignment_id = ""

# --- generating the student version -----------------------------------------------------
# Stubs raise NotImplementedError (nbgrader's default code stub, spelled out).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# A released notebook links to the published book's pages, not to `forward.md` (a file the
# student does not have): nbgrader's own list, with lstm_ref's link rewrite before the last
# checksums. html.baseurl of _config.yml says where the book is published.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # so nbgrader can import lstm_ref without PYTHONPATH
from nbgrader.converters import GenerateAssignment as _GenerateAssignment  # noqa: E402

from lstm_ref.site.links import book_baseurl as _book_baseurl  # noqa: E402

_release = list(_GenerateAssignment.class_traits()["preprocessors"].default())
c.GenerateAssignment.preprocessors = (
    _release[:-2] + ["lstm_ref.grading.release_links.PublishedPageLinks"] + _release[-2:]
)
c.PublishedPageLinks.baseurl = _book_baseurl(ROOT) or ""

# --- autograding --------------------------------------------------------------------------
# `make grade` runs no kernel (lstm_ref.grading.sandbox and .verdict); these settings apply
# to plain `nbgrader autograde` / `validate` only.
# Every cell of a correct notebook runs in well under 30 s on a 2-core CPU; 60 s leaves room
# for a slow grading machine without letting an endless loop hold the class up for long.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# A test cell that a student deleted is put back (and run) instead of staying
# "needs manual grade" with no score.
c.OverwriteCells.add_missing_cells = True
# nbgrader scores a test cell 0 when it writes anything on stderr. Library warnings
# (numpy's RuntimeWarning, a DeprecationWarning, a UserWarning from the student's own code)
# are printed there as "file:line: SomethingWarning: message": ignore such outputs, so a
# warning never zeroes a correct answer. A failing test is an error output, not stderr, and
# is never hidden by this.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(^|\n)[^\n]*\b[A-Za-z]*Warning: "
# A student's print loop cannot flood the autograded notebook or the feedback.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 200

# --- what a page built from a student's notebook may contain --------------------------------
# Feedback pages and formgrader's views render students' Markdown and outputs: nbconvert's
# sanitiser (bleach) cleans that HTML (no script, no event handler, no javascript: link, no
# iframe). `make grade` also strips such content at intake (lstm_ref.grading.sanitize) and
# gives every feedback page a strict Content-Security-Policy (lstm_ref.grading.feedback).
c.HTMLExporter.sanitize_html = True

# --- feedback -----------------------------------------------------------------------------
# The feedback page must not show the hidden tests: lstm_ref's StripHiddenTests cuts the
# hidden regions out of the test cells and reduces their tracebacks (which quote the source
# lines around the failing one) to the error's message. `make grade` also scans every page.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "lstm_ref.grading.feedback.StripHiddenTests",
]
# Then every page it wrote is hardened as `make grade` hardens it: no script but the local
# MathJax (the site's offline copy, beside the page), a strict Content-Security-Policy, the
# test cells named by what they check, at most 2 MB.
from lstm_ref.grading.feedback import after_generate_feedback as _after_feedback  # noqa: E402


def _harden_feedback(**ids):
    _after_feedback(ROOT, **ids)


c.GenerateFeedback.post_convert_hook = _harden_feedback
