#!/usr/bin/env python3
"""Copies python-distro's release files and its own expected results into shared/src/os/testcases/python-distro/.

    python3 shared/scripts/python-distro-cases.py PATH_TO_PYTHON_DISTRO_CHECKOUT

Reads tests/test_distro.py with the ast module: every test of TestOSRelease (the os-release of
tests/resources/distros/<dir>) and of TestDistroRelease (one <name>-release file), with the
desired_outcome dict python-distro asserts, and of TestOverall the release file it finds with the
desired_info it asserts for that file. Writes expected.json (those outcomes, untouched, with the
file each one reads) and copies each file read. Nothing here is hvmap's own output.
"""
import ast
import json
import os
import shutil
import subprocess
import sys

src = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, '..', 'src', 'os', 'testcases', 'python-distro')
commit = subprocess.run(['git', '-C', src, 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()
tree = ast.parse(open(os.path.join(src, 'tests', 'test_distro.py')).read())
distros = os.path.join(src, 'tests', 'resources', 'distros')


def outcome_of(fn, name='desired_outcome'):
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == name:
            return ast.literal_eval(node.value)
    return None


def call_args(fn, method='_test_outcome'):
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == method:
            return [ast.literal_eval(a) for a in node.args if not isinstance(a, ast.Name)]
    return []


cases = []
for cls in tree.body:
    if not isinstance(cls, ast.ClassDef) or cls.name not in ('TestOSRelease', 'TestDistroRelease', 'TestOverall'):
        continue
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith('test_'):
            continue
        if cls.name == 'TestOverall':
            # The release file each system's search finds, with what python-distro reads from it.
            info, args = outcome_of(fn, 'desired_info'), call_args(fn, '_test_release_file_info')
            folder = fn.name.split('_')[1]
            if info is None or not args or not os.path.exists(os.path.join(distros, folder, 'etc', args[0])):
                continue
            rel = f'etc/{args[0]}'
            target = os.path.join(out, folder, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.realpath(os.path.join(distros, folder, rel)), target)
            cases.append({'test': f'{cls.name}.{fn.name}', 'file': f'{folder}/{rel}', 'expected': info})
            continue
        outcome = outcome_of(fn)
        if outcome is None:
            continue
        if cls.name == 'TestOSRelease':
            folder = fn.name.split('_')[1]
            # python-distro reads etc/os-release, else usr/lib/os-release.
            rel = next((p for p in ('etc/os-release', 'usr/lib/os-release')
                        if os.path.exists(os.path.join(distros, folder, p))), None)
        else:
            args = call_args(fn)[1:] + ['', '', '', 'release']
            name, version, file_id, suffix = args[0], args[1], args[2] or args[0], args[3] or 'release'
            folder = name + version
            rel = f'etc/{file_id}-{suffix}'
        if rel is None or not os.path.exists(os.path.join(distros, folder, rel)):
            continue
        target = os.path.join(out, folder, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.realpath(os.path.join(distros, folder, rel)), target)
        cases.append({'test': f'{cls.name}.{fn.name}', 'file': f'{folder}/{rel}', 'expected': outcome})

with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump({'source': 'https://github.com/python-distro/distro', 'commit': commit,
               'from': 'tests/test_distro.py: desired_outcome of TestOSRelease and TestDistroRelease, desired_info of TestOverall (the release file found); files from tests/resources/distros/',
               'cases': cases}, f, indent=2)
    f.write('\n')
print(f'{len(cases)} cases from python-distro {commit} written to {out}')
