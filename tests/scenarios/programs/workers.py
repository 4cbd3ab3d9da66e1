#!/usr/bin/python3
# Debian's python3 with threading workers: four threads take jobs from a queue.Queue (a
# condition variable and a lock each), hash them and add to per-worker and shared totals
# under a threading.Lock; the main thread hands out a batch per step, waits for it
# (Queue.join) and prints the totals. After the steps every worker is told to stop and joined.
import hashlib
import queue
import sys
import threading
import time

with open("starts.log", "a") as log:
    print("started", file=log)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
WORKERS = 4
jobs = queue.Queue()
lock = threading.Lock()
shared = {"total": 0, "jobs": 0}
mine = [0] * WORKERS


def work(n):
    while True:
        job = jobs.get()
        if job is None:
            jobs.task_done()
            return
        digest = int.from_bytes(hashlib.sha256(str(job).encode()).digest()[:6], "big")
        mine[n] += 1
        with lock:
            shared["total"] = (shared["total"] + digest) % 1000000007
            shared["jobs"] += 1
        jobs.task_done()


threads = [threading.Thread(target=work, args=(n,), name=f"worker-{n}") for n in range(WORKERS)]
for t in threads:
    t.start()
for step in range(1, steps + 1):
    for j in range(200):
        jobs.put(step * 1000 + j)
    jobs.join()
    print(f"step {step} jobs {shared['jobs']} total {shared['total']}", flush=True)
    time.sleep(0.02)
for _ in threads:
    jobs.put(None)
for t in threads:
    t.join()
print(f"done: {sum(mine)} jobs by {WORKERS} workers, all joined: "
      f"{not any(t.is_alive() for t in threads)}", flush=True)
sys.exit(5)
