# The module tests/admin/conftest.py registers itself as in sys.modules, for the admin test files to
# import its helpers by name (tests/ is not a package). mypy cannot see a runtime alias: this stub
# tells it the alias is that conftest, so the helpers keep their own (checked) types.
from tests.admin.conftest import *  # noqa: F403
