#!/usr/bin/env python3
"""Parks N reads on a causal token the server never reaches and holds them.

    park.py HOST:PORT N

Writes one increment to learn this region's token, raises its sequence far
ahead, opens N connections each sending one GET with ?after= that token
(timeout 60 s, the maximum), waits until the server reports N parked, prints
"parked N" and holds the connections until it is killed.
"""
import http.client
import json
import socket
import sys
import time


def main():
    addr, n = sys.argv[1], int(sys.argv[2])
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/v1/counter/park:token/incr", body='{"by":1}',
              headers={"Content-Type": "application/json"})
    token = json.loads(c.getresponse().read())["token"]
    own = token.split(",")[0]  # a single region: its own incarnation
    ahead = own.rsplit(":", 1)[0] + ":999999999"
    request = ("GET /v1/counter/park:token?timeout_ms=60000&after=%s "
               "HTTP/1.1\r\nHost: x\r\n\r\n" % ahead).encode()
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(request)
        socks.append(s)
    deadline = time.time() + 30
    while time.time() < deadline:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
        if "deltakv_http_parked_requests %d\n" % n in body:
            print("parked", n, flush=True)
            break
        time.sleep(0.1)
    else:
        print("not all parked", file=sys.stderr)
        sys.exit(1)
    while True:  # hold the connections until killed
        time.sleep(3600)


if __name__ == "__main__":
    main()
