#!/usr/bin/env python3
"""Runs `age -d` with a passphrase typed into its terminal prompt, the way a
person would (age reads passphrases only from a terminal).

usage: age_decrypt.py PASSPHRASE INPUT OUTPUT
"""
import os
import pty
import sys

passphrase, source, target = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age", "-d", "-o", target, source])
output = b""
sent = False
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    output += chunk
    if not sent and b"passphrase" in output.lower():
        os.write(fd, passphrase.encode() + b"\n")
        sent = True
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.stderr.write(output.decode(errors="replace"))
sys.exit(code)
