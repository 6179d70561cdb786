#!/usr/bin/env bash
# Refresh each app's zh-Hans catalogue from its code and compile it. Needs gettext (Debian package).
# Catalogues live in src/okwallet/<app>/locale/ so apps can be worked on independently.
# Usage: scripts/i18n.sh [app ...]   (default: every app that has templates or Python strings)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
apps=("$@")
if [ ${#apps[@]} -eq 0 ]; then
  for dir in "$root"/src/okwallet/*/; do apps+=("$(basename "$dir")"); done
fi
for app in "${apps[@]}"; do
  dir="$root/src/okwallet/$app"
  [ -f "$dir/apps.py" ] || continue
  grep -rqE "gettext|translate|_\(" "$dir" --include=*.py --include=*.html 2>/dev/null || continue
  mkdir -p "$dir/locale"
  (cd "$dir" && "$root/.venv/bin/django-admin" makemessages -l zh_Hans --no-obsolete >/dev/null 2>&1 || true)
  po="$dir/locale/zh_Hans/LC_MESSAGES/django.po"
  [ -f "$po" ] || continue
  "$root/.venv/bin/python" "$root/scripts/po_stats.py" "$po"
  (cd "$dir" && "$root/.venv/bin/django-admin" compilemessages -l zh_Hans >/dev/null)
done
