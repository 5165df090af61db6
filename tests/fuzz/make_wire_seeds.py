#!/usr/bin/env python3
"""Writes the seed frames of the wire_fuzz target (tests/fuzz/corpus/wire_fuzz).

Well-formed frames of every kind, and the hostile shapes the decoder must
refuse without allocating for them: compressed payloads declaring 64 MiB,
64 MiB of zeros in a few KiB, zstd frames without a content size or
followed by a second frame, MessagePack arrays claiming millions of
elements, nesting and maps. Needs the zstd command. Run from anywhere:
    tests/fuzz/make_wire_seeds.py
"""
import os
import struct
import subprocess

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                   "wire_fuzz")


def b(data):  # MessagePack bin
    if len(data) < 256:
        return b"\xc4" + bytes([len(data)]) + data
    if len(data) < 65536:
        return b"\xc5" + struct.pack(">H", len(data)) + data
    return b"\xc6" + struct.pack(">I", len(data)) + data


def u(v):  # MessagePack unsigned integer
    if v < 128:
        return bytes([v])
    return b"\xcf" + struct.pack(">Q", v)


def arr(items):
    n = len(items)
    head = bytes([0x90 | n]) if n < 16 else b"\xdd" + struct.pack(">I", n)
    return head + b"".join(items)


def payload(region=b"us-east", first=0, last=0, log_start=0, cursor=b"",
            entries=(), applied=(), replica=0, transfer=0, window=0):
    flat = []
    for key, typ, blob in entries:
        flat += [b(key), u(typ), b(blob)]
    ap = []
    for r, rep, s in applied:
        ap += [b(r), u(rep), u(s)]
    return arr([b(region), u(first), u(last), u(log_start), b(cursor),
                arr(flat), arr(ap), u(replica), u(transfer), u(window)])


def fragment(total, offset, data, h=0):
    return struct.pack(">QQQ", total, offset, h) + data


def frame(kind, body, compressed=False, raw_size=None):
    if not compressed:
        return bytes([0xD7, 2, kind, 0]) + body
    return (bytes([0xD7, 2, kind, 1]) +
            struct.pack(">I", raw_size if raw_size is not None else 0) + body)


def zstd(data, content_size=True):
    args = ["zstd", "-q", "-c", "-1"]
    if not content_size:
        args.append("--no-content-size")
    else:
        args.append(f"--stream-size={len(data)}")
    return subprocess.run(args, input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def compressed(kind, raw, declared=None, content_size=True, extra=b""):
    z = zstd(raw, content_size) + extra
    return frame(kind, z, True, len(raw) if declared is None else declared)


def main():
    os.makedirs(OUT, exist_ok=True)
    counter = b"\x01\x01" + b"\x00" * 20  # a CRDT codec-like blob
    deltas = payload(first=5, last=9,
                     entries=[(b"k1", 1, counter), (b"set", 3, b"\x01\x03" * 8),
                              (b"l", 4, b"\x01\x04" * 4)],
                     replica=0x1234567890ABCDEF)
    big = payload(first=1, last=40,
                  entries=[(b"key%d" % i, 2, b"v" * 40) for i in range(40)])
    huge = 64 << 20
    seeds = {
        "deltas": frame(1, deltas),
        "heartbeat": frame(2, payload(last=42, log_start=3,
                                      applied=[(b"us-east", 0x11, 42),
                                               (b"eu-west", 0x22, 7)])),
        "catchup-request": frame(3, payload(region=b"eu-west", first=10)),
        "catchup-reply": frame(4, deltas),
        "need-snapshot": frame(5, payload(log_start=100)),
        "snapshot-request": frame(6, payload(region=b"eu-west", first=1,
                                             last=99, cursor=b"Kk1",
                                             transfer=7, window=4)),
        "snapshot-reply": frame(7, payload(first=1, last=99, cursor=b"Kset",
                                           entries=[(b"k1", 1, counter)],
                                           transfer=7, window=1)),
        "snapshot-fragment": frame(7, payload(
            first=1, last=99, cursor=b"F\x00\x00\x00\x00\x00\x00\x00\x10big",
            entries=[(b"big", 3 | 0x80, fragment(64, 0, b"\x01" * 16))],
            transfer=7, window=2)),
        "snapshot-fragment-bad": frame(7, payload(
            first=1, last=99,
            entries=[(b"big", 3 | 0x80, fragment(8, 4, b"\x01" * 16))],
            transfer=7, window=2)),
        "ack": frame(8, payload(region=b"eu-west",
                                applied=[(b"us-east", 0x11, 9)])),
        "state-offer": frame(9, payload(region=b"eu-west", replica=0x22)),
        "compressed": compressed(1, big),
        # Within the 1 MiB allowance: a legit, very compressible frame.
        "compressed-900k": compressed(
            7, payload(last=1, entries=[(b"r", 2, b"a" * (900 << 10))])),
        # Declares 64 MiB; holds a few bytes.
        "bomb-declared": compressed(1, big, declared=huge),
        # Really holds 64 MiB of zeros.
        "bomb-zeros": compressed(1, b"\x00" * huge),
        # 4 MiB of one byte inside a valid frame: beyond 64:1.
        "bomb-ratio": compressed(
            7, payload(last=1, entries=[(b"r", 2, b"a" * (4 << 20))])),
        "unknown-size": compressed(1, big, content_size=False),
        "unknown-size-huge": compressed(1, big, declared=huge,
                                        content_size=False),
        "two-zstd-frames": compressed(1, big, extra=zstd(big)),
        # MessagePack arrays claiming what the bytes do not hold.
        "claim-entries": frame(1, b"\x9a" + b(b"r1") + b"\x01\x01\x00" +
                               b(b"") + b"\xdd\x00\x2f\xff\xff"),
        "claim-max": frame(1, b"\xdd\xff\xff\xff\xff"),
        "claim-top": frame(1, b"\xdd\x00\x2f\xff\xff" + b(b"r1")),
        "nested": frame(1, b"\x9a" + b(b"r1") + b"\x01\x01\x00" + b(b"") +
                        b"\x91\x91\x90\x90\x00"),
        "map": frame(1, b"\x9a" + b(b"r1") + b"\x01\x01\x00\x80\x90\x90\x00"),
    }
    for name, data in seeds.items():
        assert len(data) <= 65536, (name, len(data))
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
