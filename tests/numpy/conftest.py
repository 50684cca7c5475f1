"""Let pytest rewrite the assertions of the shared helpers, as it does those of the tests."""

import pytest

pytest.register_assert_rewrite("numpy_helpers")
