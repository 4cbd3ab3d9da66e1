#!/usr/bin/python3
# The client of the memcached scenario (run-scenario.sh server --client): talks memcached's
# text protocol on ./mc.sock. Usage: memcache-client.py ready|before|after|stop
#   ready   waits (up to 20 s) until memcached answers "version"
#   before  stores five keys and reads one back
#   after   reads the five keys (stored before the checkpoint), stores and reads a sixth,
#           and prints how many items memcached holds
#   stop    asks memcached to shut down (it runs with -A) and waits for its socket to close
import socket
import sys
import time

PATH = "mc.sock"


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(PATH)
    return s


def ask(s, request, end):
    s.sendall(request)
    data = b""
    while not data.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def ready():
    deadline = time.monotonic() + 20
    while True:
        try:
            with connect() as s:
                if ask(s, b"version\r\n", b"\r\n").startswith("VERSION"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("memcached does not answer on " + PATH)
        time.sleep(0.02)


def store(s, key, value):
    print("set %s: %s" % (key, ask(s, b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value),
                                      b"\r\n").strip()))


def get(s, key):
    print("get %s: %s" % (key, ask(s, b"get %s\r\n" % key, b"END\r\n").replace("\r\n", " ").strip()))


def main(phase):
    if phase == "ready":
        return ready()
    with connect() as s:
        if phase == "before":
            for k in range(1, 6):
                store(s, b"key%d" % k, b"value %d before the checkpoint" % (k * k))
            get(s, b"key3")
        elif phase == "after":
            for k in range(1, 6):
                get(s, b"key%d" % k)
            store(s, b"key6", b"stored after the restore")
            get(s, b"key6")
            stats = ask(s, b"stats\r\n", b"END\r\n")
            print([line for line in stats.split("\r\n") if " curr_items " in line][0])
        elif phase == "stop":
            s.sendall(b"shutdown\r\n")
            while s.recv(4096):
                pass
        else:
            sys.exit("usage: memcache-client.py ready|before|after|stop")


main(sys.argv[1] if len(sys.argv) > 1 else "")
