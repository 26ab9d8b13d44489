"""The package version, in a leaf module that any layer may import (``move.__version__``).

Keep in step with ``version`` in pyproject.toml.
"""

__version__ = "0.1.0"
