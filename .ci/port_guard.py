#!/usr/bin/env python3
"""Stand in for a chat someone runs on the default port while the tests run.

Listens on 127.0.0.1:12345 (the default port) until stdin closes, then
exits 1 if anything connected to it: no test may touch a port it did not
get from the system. Prints "guarding" once listening.
"""
import socket
import sys
import threading

PORT = 12345
hits = []


def accept(sock):
    while True:
        try:
            conn, peer = sock.accept()
        except OSError:
            return
        hits.append(peer)
        conn.close()


try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", PORT))
    s.listen(16)
except OSError as e:
    print(f"port guard: cannot listen on 127.0.0.1:{PORT} ({e}); not guarding", flush=True)
    sys.exit(0)
threading.Thread(target=accept, args=(s,), daemon=True).start()
print("guarding", flush=True)
sys.stdin.read()
if hits:
    print(f"port guard: a test connected to 127.0.0.1:{PORT}, the default port "
          f"({len(hits)} time(s)): tests must use ports from the system (port 0)",
          file=sys.stderr)
    sys.exit(1)
print(f"port guard: nothing connected to 127.0.0.1:{PORT} during the tests")
