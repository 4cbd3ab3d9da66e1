#!/usr/bin/python3
# Debian's python3 builds a large dict from a seeded PRNG and prints a fingerprint of it at
# every step (run-scenario.sh checkpoints it in the middle, kills and restores it).
import random
import sys
import time

with open("starts.log", "a") as log:
    print("started", file=log)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
rng = random.Random(20261122)
table = {}
total = 0
for step in range(1, steps + 1):
    for _ in range(5000):
        key = rng.getrandbits(40)
        value = rng.random()
        table[key] = value
        total = (total * 31 + key) % 1000000007
    probe = table.get(key ^ 1, -1.0) + table[key]
    print(f"step {step} keys {len(table)} total {total} probe {probe:.9f}", flush=True)
    time.sleep(0.02)
print(f"done: {len(table)} keys, sum {sum(table.values()):.6f}", flush=True)
sys.exit(5)
