"""The instructor's grading pipeline around nbgrader.

- ``python -m lstm_ref.grading.release_to_book``: the student notebooks, generated from
  ``solutions/`` by nbgrader, written into the book.
- ``python -m lstm_ref.grading grade <chapter id>`` (``make grade A=<chapter id>``): checks
  and sanitises every submission in ``submitted/<student>/<chapter id>/``
  (:mod:`.intake`, :mod:`.sanitize`), flags code that reaches for the grader for a
  person to review (:mod:`.tamper`), autogrades one student per nbgrader process
  (:mod:`.worker`), writes feedback without hidden tests (:mod:`.feedback`), ``grades.csv``
  and a report naming every submission that could not be graded and why (:mod:`.pipeline`).
- ``python -m lstm_ref.grading.measure <chapter id> --n 10``: seconds per submission.

Importing this package imports neither nbgrader nor the notebooks' dependencies.
"""
