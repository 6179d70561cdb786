"""Print how many entries of a .po file are untranslated or fuzzy (and list them)."""

import sys

import polib

po = polib.pofile(sys.argv[1])
missing = [e for e in po if not e.translated() and not e.obsolete]
print(f"{sys.argv[1]}: {len(po)} entries, {len(missing)} untranslated or fuzzy")
for entry in missing[:200]:
    print("  -", entry.msgid[:100])
