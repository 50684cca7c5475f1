"""Let pytest rewrite the assertions of the shared graph helpers, as it does the tests'."""

import pytest

pytest.register_assert_rewrite("graph_helpers")
