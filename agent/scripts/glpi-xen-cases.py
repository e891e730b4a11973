#!/usr/bin/env python3
"""Copies GLPI-Agent's own expected results for its Xen list captures into the xen driver's test cases.

    python3 agent/scripts/glpi-xen-cases.py PATH_TO_GLPI_AGENT_CHECKOUT

Reads t/tasks/inventory/virtualization/xen.t: %tests_xm_list (each capture's virtual machines as
GLPI-Agent parses them: NAME, STATUS, MEMORY, VCPU) and %tests_getUUID. Writes
agent/src/drivers/xen/testcases/glpi-expected.json with GLPI's values untouched (STATUS_* constants as
GLPI names them). Nothing in it is hvmap's output.
"""
import json
import os
import re
import subprocess
import sys

src = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, '..', 'src', 'drivers', 'xen', 'testcases', 'glpi-expected.json')
commit = subprocess.run(['git', '-C', src, 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()
text = open(os.path.join(src, 't', 'tasks', 'inventory', 'virtualization', 'xen.t')).read()

lists_block = text[text.index('my %tests_xm_list'):text.index('my %tests_getUUID')]
lists = {}
for m in re.finditer(r"\n    (\w+) => \[(.*?)\n    \]", lists_block, re.S):
    machines = []
    for entry in re.finditer(r"\{(.*?)\}", m.group(2), re.S):
        fields = dict(re.findall(r"(\w+)\s*=>\s*'?([^',\n]*)'?", entry.group(1)))
        machines.append({k: fields[k] for k in ('NAME', 'STATUS', 'MEMORY', 'VCPU') if k in fields})
    lists[m.group(1)] = machines

uuid_block = text[text.index('my %tests_getUUID'):]
uuids = dict(re.findall(r"'([^']+)'\s*=>\s*'([0-9a-f-]{36})'", uuid_block[:uuid_block.index(');')]))

with open(out, 'w') as f:
    json.dump({
        'source': 'https://github.com/glpi-project/glpi-agent',
        'commit': commit,
        'from': 't/tasks/inventory/virtualization/xen.t: %tests_xm_list and %tests_getUUID (resources/virtualization/xm/)',
        'lists': lists,
        'uuids': uuids,
    }, f, indent=2)
    f.write('\n')
print(f"{sum(len(v) for v in lists.values())} machines of {len(lists)} captures, {len(uuids)} UUIDs from glpi-agent {commit}")
