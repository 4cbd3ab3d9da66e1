#!/usr/bin/python3
# Debian's python3 with what programs keep their scratch data in: a tempfile.TemporaryFile
# (an unnamed file, O_TMPFILE in the temporary directory) and a tempfile.SpooledTemporaryFile
# rolled over to disk, plus a memfd (os.memfd_create) mapped twice with mmap. Every step
# appends records to the temporary file, reads back from the middle and writes through one
# mapping of the memfd; the printed fingerprint covers everything read
# (run-scenario.sh checkpoints it in the middle, kills and restores it).
import hashlib
import mmap
import os
import sys
import tempfile
import time

with open("starts.log", "a") as log:
    print("started", file=log)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
scratch = tempfile.TemporaryFile(dir=".")
spool = tempfile.SpooledTemporaryFile(max_size=1024, dir=".")
spool.write(b"spooled " * 1000)  # past max_size: rolled over to an unnamed file
memfd = os.memfd_create("python-cache")
os.ftruncate(memfd, 65536)
view1 = mmap.mmap(memfd, 65536)
view2 = mmap.mmap(memfd, 65536)
digest = hashlib.sha256()
for step in range(1, steps + 1):
    scratch.seek(0, os.SEEK_END)
    scratch.write(b"record %06d %s\n" % (step, b"x" * (step % 50)))
    scratch.seek(scratch.tell() // 2)
    digest.update(scratch.read(64))
    view1[step * 1000 % 65536] = step % 256
    digest.update(view2[:4096])
    digest.update(os.pread(memfd, 16, step * 1000 % 65536))
    spool.seek(step * 13 % 8000)
    digest.update(spool.read(32))
    print(f"step {step} size {scratch.tell()} digest {digest.hexdigest()[:16]}", flush=True)
    time.sleep(0.02)
names = sorted(n for n in os.listdir(".") if n != "starts.log" and not n.endswith(".txt"))
print(f"done: {os.fstat(scratch.fileno()).st_nlink} links, files here {names}", flush=True)
