"""nbgrader configuration: the course directory is the repository root.

The standard commands work from the root: ``nbgrader generate_assignment ch01_rnn``,
``nbgrader autograde ch01_rnn``, ``nbgrader generate_feedback ch01_rnn``, ``nbgrader export``
and the formgrader. ``make grade A=ch01_rnn`` wraps them with the checks that keep one
broken or hostile submission from costing anyone else their grade.
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook is a SQLite file beside this one, outside git (.gitignore).
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.CourseDirectory.assignment_id = ""
c.CourseDirectory.course_id = "lstm"
