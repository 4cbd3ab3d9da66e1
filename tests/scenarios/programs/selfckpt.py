#!/usr/bin/python3
# selfckpt.py LIBCKPTAPI: Debian's python3 uses the application API through ctypes, as
# ckpt.h(3) shows: at step 20 it checkpoints itself and, once the image is durable, kills
# itself with SIGKILL; run-scenario.sh (kind self) restores the image, and the restored
# process comes back out of the same call, which then returns CKPT_RESTORED (1). Without
# checkpoint-run every call answers -ENOSYS (CKPT_ENOTACTIVE). What the calls returned is
# logged to ./api.log, which the driver compares with what is expected.
import ctypes
import errno
import os
import signal
import sys
import time

with open("starts.log", "a") as starts:
    print("started", file=starts)
api = ctypes.CDLL(sys.argv[1])
log = open("api.log", "w", buffering=1)
under_ckpt = "CKPT_IMAGE" in os.environ
total = 0
for step in range(1, 41):
    total = (total * 31 + step * step) % 1000000007
    print(f"step {step} total {total}", flush=True)
    if step == 20:
        rc = api.ckpt_checkpoint(None)
        restores = api.ckpt_restored(None)
        if not under_ckpt:
            print(f"not under ckpt: {rc} {restores}", file=log)
            if rc != -errno.ENOSYS or restores != -errno.ENOSYS:
                print("FAILED: without checkpoint-run the API must answer -ENOSYS", flush=True)
        elif rc == 0 and restores == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # the image is durable: restore it
        else:
            print(f"restored: ckpt_checkpoint {rc}, ckpt_restored {restores}", file=log)
            if rc != 1 or restores != 1:
                print(f"FAILED: ckpt_checkpoint {rc}, ckpt_restored {restores}", flush=True)
    time.sleep(0.02)
print("done", flush=True)
