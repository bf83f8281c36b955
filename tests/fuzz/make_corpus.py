#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus: segments built from docs/layout.md alone
(so this also checks that the document is enough to write a valid segment),
valid ones and near misses. Run: python3 make_corpus.py DIR"""
import os
import struct
import sys

MAGIC = b"SMHSEG\x00\x01"
READY, CREATING = 0x59444552, 0x43524541


def fnv1a_64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def segment(type_name: str, size: int, align: int, count: int, state=READY,
            pid=1, payload=b"", wait_words=(0, 0)) -> bytes:
    offset = (256 + max(64, align) - 1) // max(64, align) * max(64, align)
    name = type_name.encode()

    def header(checksum: int, state_value: int, owner_pid: int, waits=(0, 0)) -> bytes:
        h = bytearray(256)
        struct.pack_into("<8sHHIII", h, 0, MAGIC, 1, 256, state_value, 0x01020304, 0)
        struct.pack_into("<QQQQQQQ", h, 24, offset, size, align, count, fnv1a_64(name), 0,
                         checksum)
        struct.pack_into("<qqQ", h, 80, pid, owner_pid, 0)
        struct.pack_into("<II", h, 112, *waits)  # wait_sequence, waiters
        h[128:128 + len(name)] = name
        return bytes(h)

    checksum = fnv1a_64(header(0, 0, 0))  # mutable fields zero, the wait words included
    body = payload.ljust(count * size, b"\x00")[: count * size]
    return header(checksum, state, pid, wait_words) + bytes(offset - 256) + body


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "int32-ready": segment("int32", 4, 4, 16, payload=bytes(range(64))),
        "pair-ready": segment("(anonymous)::Pair", 16, 8, 4),
        "int32-creating-dead-owner": segment("int32", 4, 4, 16, state=CREATING, pid=0x7FFFFFF0),
        "int32-truncated": segment("int32", 4, 4, 16)[:-4],
        "float32-ready": segment("float32", 4, 4, 8),
        "uint32-atomic-waited-on": segment("std::atomic<uint32>", 4, 4, 8,
                                           wait_words=(0x12345678, 3)),
        "header-only": segment("int32", 4, 4, 1)[:256],
        "empty": b"",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
