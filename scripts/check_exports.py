#!/usr/bin/env python3
"""check_exports.py MAP SRC_DIR: every function libckpt defines with
CKPT_EXPORT or visibility("default") (an interposed function) is exported by the version script MAP,
and MAP exports nothing libckpt does not define (the public ckpt_* API
aside). A wrapper missing from the map is silently never called: the
application binds to glibc's function instead."""
import pathlib
import re
import sys


def main():
    map_path, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    text = map_path.read_text()
    glob = text.split('global:')[1].split('local:')[0]
    glob = re.sub(r'/\*.*?\*/', '', glob, flags=re.S)
    exported = {n for n in re.findall(r'([A-Za-z0-9_]+)\s*;', glob)}
    defined = set()
    visible = r'__attribute__\(\(visibility\("default"\)\)\)'
    for f in src.rglob('*.cpp'):
        text = f.read_text()
        # Symbols given their exported name with an asm label.
        for m in re.finditer(r'__asm__\("([A-Za-z_][A-Za-z0-9_]*)"\)\s*' + visible, text):
            defined.add(m.group(1))
        # CKPT_EXPORT, or the attribute it stands for, then attributes, then the declarator.
        text = re.sub(r'^' + visible, 'CKPT_EXPORT', text, flags=re.M)
        text = re.sub(r'__attribute__\(\((?:[^()]|\([^()]*\))*\)\)', ' ', text)
        for m in re.finditer(r'^CKPT_EXPORT\s+[^(;]*?[\s*]([A-Za-z_][A-Za-z0-9_]*)\s*\(', text, re.M):
            defined.add(m.group(1))
    api = {n for n in defined if n.startswith('ckpt_')}
    missing = sorted(defined - api - exported)
    extra = sorted(n for n in exported - defined if not n.startswith('ckpt_'))
    for n in missing:
        print(f'{map_path}: {n} is interposed (CKPT_EXPORT) but not exported')
    for n in extra:
        print(f'{map_path}: {n} is exported but libckpt does not define it')
    return 1 if missing or extra else 0


if __name__ == '__main__':
    sys.exit(main())
