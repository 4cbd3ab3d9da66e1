#!/usr/bin/python3
# Debian's python3 with threading workers: four threads take jobs from a queue.Queue,
# hash them (hashlib releases the GIL for large inputs) and put the digests back; main
# prints a fingerprint of each step's results in order (run-scenario.sh checkpoints it
# while the workers run).
import hashlib
import queue
import sys
import threading
import time

with open("starts.log", "a") as log:
    print("started", file=log)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
jobs, results = queue.Queue(), queue.Queue()


def work():
    while True:
        job = jobs.get()
        if job is None:
            return
        step, part = job
        data = (b"%d:%d:" % (step, part)) * 20000
        results.put((step, part, hashlib.sha256(data).hexdigest()))


workers = [threading.Thread(target=work, name=f"worker-{i}") for i in range(4)]
for w in workers:
    w.start()
for step in range(1, steps + 1):
    for part in range(8):
        jobs.put((step, part))
    got = sorted(results.get() for _ in range(8))
    digest = hashlib.sha256("".join(d for _, _, d in got).encode()).hexdigest()
    print(f"step {step} {digest[:16]}", flush=True)
    time.sleep(0.02)
for _ in workers:
    jobs.put(None)
for w in workers:
    w.join()
print(f"done: {len(workers)} workers joined", flush=True)
