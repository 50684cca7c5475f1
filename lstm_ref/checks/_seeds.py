"""Seeds derived from a per-course secret.

The notebooks, their hidden tests and ``lstm_ref`` are public, so anyone can compute the
inputs a hidden test draws from its public seed. With a secret, the grader draws them from
``derive(seed)`` instead: a keyed hash (HMAC-SHA256) of the public seed, which nobody
without the secret can predict. Every check draws its inputs through
:func:`lstm_ref.checks._common.rng_for`, which calls :func:`derive`.

The secret is read, in this order, from the ``COURSE_SECRET`` environment variable, from the
file named by ``COURSE_SECRET_FILE``, or from ``.course_secret`` at the root of the
repository (git-ignored). Without one, ``derive(seed)`` is ``seed``: students running the
visible checks get the public seeds, and so does a grader without a secret. The grading
sandbox never sees the secret: only the trusted grading process reads it.
"""

import hashlib
import hmac
import os
from pathlib import Path

SECRET_ENV = "COURSE_SECRET"
SECRET_FILE_ENV = "COURSE_SECRET_FILE"
SECRET_FILE = ".course_secret"


def _secret():
    value = os.environ.get(SECRET_ENV)
    if value:
        return value.encode("utf-8")
    candidates = []
    if os.environ.get(SECRET_FILE_ENV):
        candidates.append(Path(os.environ[SECRET_FILE_ENV]))
    candidates.append(Path(__file__).resolve().parents[2] / SECRET_FILE)
    for path in candidates:
        try:
            data = path.read_bytes().strip()
        except OSError:
            continue
        if data:
            return data
    return None


def derive(seed):
    """The seed a check really uses for the public ``seed``.

    Args:
        seed: the public seed written in the notebook (an int; anything else, such as None,
            is returned unchanged).

    Returns:
        ``seed`` itself without a course secret; with one, a 63-bit integer computed as
        HMAC-SHA256(secret, str(seed)).
    """
    if type(seed) is not int:
        return seed
    secret = _secret()
    if secret is None:
        return seed
    digest = hmac.new(secret, str(seed).encode("ascii"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1
