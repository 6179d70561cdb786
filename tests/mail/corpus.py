"""Real-world messages that nobody here wrote, found on this machine.

- CPython's own email test data (``test/test_email/data/msg_*.txt``), shipped
  with the Python installation (not by Debian's python3.11 without
  ``libpython3.11-testsuite``; pyenv and python.org builds have it).
- Twisted's ``twisted/mail/test/rfc822.message`` when Twisted is installed.
- GNU Mailman 3's ``.eml`` test fixtures, shipped inside its wheel. Mailman's
  dependencies are heavy, so install only its files, beside the repository:
  ``pip install --no-deps --target var/mail-corpus mailman==3.3.10``
  (or anywhere named by ``OKWALLET_MAIL_CORPUS``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _package_dir(name: str, extra_paths: list[Path]) -> Path | None:
    for base in extra_paths:
        candidate = base / name
        if (candidate / "__init__.py").exists():
            return candidate
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def cpython_email_data() -> Path | None:
    candidates = []
    spec = importlib.util.find_spec("test")
    if spec and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))))
    candidates.append(Path(sysconfig.get_paths()["stdlib"]) / "test")
    candidates.append(
        Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "test"
    )
    for base in candidates:
        data = base / "test_email" / "data"
        if data.is_dir():
            return data
    return None


def corpus_files() -> dict[str, list[Path]]:
    """Source name -> message files."""
    extra = [REPO / "var" / "mail-corpus"]
    if os.environ.get("OKWALLET_MAIL_CORPUS"):
        extra.insert(0, Path(os.environ["OKWALLET_MAIL_CORPUS"]))
    found: dict[str, list[Path]] = {}
    data = cpython_email_data()
    if data:
        found["cpython"] = sorted(data.glob("msg_*.txt"))
    twisted = _package_dir("twisted", extra)
    if twisted:
        found["twisted"] = sorted((twisted / "mail" / "test").glob("*.message"))
    mailman = _package_dir("mailman", extra)
    if mailman:
        found["mailman"] = sorted(mailman.rglob("*.eml"))
    return {k: v for k, v in found.items() if v}
