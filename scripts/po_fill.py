"""Fill translations into a .po file from a JSON object on stdin: {"msgid": "msgstr", ...}.

For plural entries give a list: {"msgid": ["singular", "plural"]} (Chinese uses one form).
"""

import json
import sys

import polib

path = sys.argv[1]
po = polib.pofile(path)
table = json.load(sys.stdin)
filled = 0
for entry in po:
    if entry.msgid in table:
        value = table[entry.msgid]
        if entry.msgid_plural:
            forms = value if isinstance(value, list) else [value]
            entry.msgstr_plural = {0: forms[0]}
        else:
            entry.msgstr = value
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        filled += 1
po.save(path)
print(f"filled {filled}")
