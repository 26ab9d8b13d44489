"""Figures use Agg only when no matplotlib backend was chosen: a notebook keeps its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = (
    "import matplotlib\n"
    "{before}"
    "from move.plots import pyplot\n"
    "pyplot()\n"
    "print(matplotlib.get_backend().lower())\n"
)


@pytest.mark.parametrize(
    ("env", "before", "expected"),
    [
        ({}, "", "agg"),
        ({"MPLBACKEND": "svg"}, "", "svg"),
        ({}, "matplotlib.use('pdf')\nimport matplotlib.pyplot\n", "pdf"),
    ],
    ids=["nothing-chosen", "MPLBACKEND", "use-and-pyplot"],
)
def test_pyplot_keeps_a_chosen_backend(env, before, expected):
    base = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(before=before)],
        env={**base, **env}, capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip().splitlines()[-1] == expected
