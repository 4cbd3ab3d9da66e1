#!/usr/bin/python3
# Debian's python3 running an asyncio program: a UNIX server (asyncio.start_unix_server at
# ./aio.sock) that answers every line with a running count, a new client connecting by the
# path each step, one long-lived client connected from the start, and timers (call_later
# chains and asyncio.sleep); the loop's own self-pipe is a socket pair and its selector an
# epoll. run-scenario.sh checkpoints it in the middle, kills and restores it.
#
# A plain asyncio program, nothing in it knows about ckpt. CPython ties the running loop to
# the pid it was set in (asyncio.get_running_loop() compares it with os.getpid()): this
# works after a restore only because getpid() keeps giving the program the pid it started
# with (preload/shim_pid.c).
import asyncio
import os
import sys

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
PATH = "aio.sock"
served = 0
ticks = []


async def handle(reader, writer):
    global served
    while True:
        line = await reader.readline()
        if not line:
            break
        served += 1
        writer.write(b"pong %d " % served + line)
        await writer.drain()
    writer.close()


def tick(loop, n, done):
    ticks.append(n)
    if n < STEPS:
        loop.call_later(0.02, tick, loop, n + 1, done)
    else:
        done.set_result(n)


async def main():
    loop = asyncio.get_running_loop()
    if os.path.exists(PATH):
        os.unlink(PATH)
    server = await asyncio.start_unix_server(handle, path=PATH)
    ticked = loop.create_future()
    loop.call_later(0.02, tick, loop, 1, ticked)
    long_r, long_w = await asyncio.open_unix_connection(PATH)
    for i in range(1, STEPS + 1):
        r, w = await asyncio.open_unix_connection(PATH)
        w.write(b"ping %d\n" % i)
        await w.drain()
        answer = (await r.readline()).decode().strip()
        w.close()
        await w.wait_closed()
        long_w.write(b"long %d\n" % i)
        long_answer = (await long_r.readline()).decode().strip()
        print("step %d: %s | %s | ticks so far %s" % (i, answer, long_answer, len(ticks) >= i - 1),
              flush=True)
        # The driver checkpoints right after a step's line: the pause comes after it, so that
        # the checkpoint lands in it and not while the next client waits in the accept queue
        # (a connection there is dropped: docs/descriptors.md, tested by unixlisten-pending).
        await asyncio.sleep(0.05)
    long_w.close()
    await long_w.wait_closed()
    await ticked
    await asyncio.sleep(0.05)  # the server's handler sees the end of the long-lived client
    server.close()
    await server.wait_closed()
    os.unlink(PATH)
    print("served %d lines, %d ticks" % (served, len(ticks)), flush=True)


asyncio.run(main())
