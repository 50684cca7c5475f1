"""The instructor's grading pipeline around nbgrader.

- ``python -m lstm_ref.grading.release_to_book``: the student notebooks, generated from
  ``solutions/`` by nbgrader, written into the book.
- ``python -m lstm_ref.grading grade <chapter id>`` (``make grade A=<chapter id>``): checks
  and repairs every submission in ``submitted/<student>/<chapter id>/`` (:mod:`.intake`,
  :mod:`.sanitize`), flags code that reaches for the grader (:mod:`.tamper`), runs each
  student's notebook in a bubblewrap sandbox (:mod:`.sandbox`, :mod:`.runner`, against the
  sanitised ``lstm_ref`` of :mod:`.refcopy`) while the source notebook's test cells run in
  trusted worker processes, calling the student's functions through proxies
  (:mod:`.verdict`, :mod:`.remote`, :mod:`.wire`; several students at once, :mod:`.worker`),
  records the scores in nbgrader's gradebook and writes feedback without hidden tests
  (:mod:`.record`, :mod:`.feedback`), flags near-copies (:mod:`.similarity`), and writes
  ``grades.csv`` and a report naming every submission that could not be graded and why
  (:mod:`.pipeline`).
- ``python -m lstm_ref.grading.measure <chapter id> --n 40 --workers 1 2``: the time to grade
  a class, per number of workers.

Importing this package imports neither nbgrader nor the notebooks' dependencies.
"""
