"""The 256-byte header at the start of every smh segment (docs/layout.md),
and the checks an attach runs on it, as include/smh/detail/layout.hpp does."""
import struct
import time

from ._errors import Error, errc

MAGIC = b"SMHSEG\x00\x01"
LAYOUT_VERSION = 1
HEADER_SIZE = 256
STATE_CREATING = 0x43524541
STATE_READY = 0x59444552
ENDIAN_MARKER = 0x01020304
MAX_ELEMENT_ALIGN = 4096
CACHE_LINE = 64
# Field offsets (docs/layout.md).
STATE = 12
CHECKSUM = 72
OWNER_PID = 88
OWNER_START_TIME = 96
OWNER_TOKEN = 104
WAIT_SEQUENCE = 112
WAITERS = 116
# docs/layout.md, field by field, in this machine's byte order ("=": standard sizes).
HEADER = struct.Struct("=8sHHIII7Q2qQQ16s128s")
assert HEADER.size == HEADER_SIZE
# state, checksum, owner fields, wait words (wait_sequence, waiters)
_MUTABLE = ((12, 16), (72, 80), (88, 120))
_MAX_MAPPABLE = 2**63 - 1  # PTRDIFF_MAX


def fnv1a_64(data):
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def checksum(header):
    immutable = bytearray(header)
    for begin, end in _MUTABLE:
        immutable[begin:end] = bytes(end - begin)
    return fnv1a_64(immutable)


def data_offset_for(align):
    unit = max(CACHE_LINE, align)
    return (HEADER_SIZE + unit - 1) // unit * unit


def segment_bytes(offset, element_size, count):
    """The whole segment's size, or None when it cannot be mapped."""
    if element_size == 0 or count > (_MAX_MAPPABLE - offset) // element_size:
        return None
    return offset + count * element_size


def make_header(element, count, owner, creator=None):
    """The header of a new, ready segment of `count` elements of `element`
    (anything with type_name, size and align), owned by `owner` (pid, start
    time, token; (0, 0, 0): no owner) and created by process `creator`
    (default: the owner's pid)."""
    encoded = element.type_name.encode()
    pid, start_time, token = owner
    creator = pid if creator is None else creator
    fields = [MAGIC, LAYOUT_VERSION, HEADER_SIZE, STATE_READY, ENDIAN_MARKER, 0,
              data_offset_for(element.align), element.size, element.align, count,
              fnv1a_64(encoded), time.time_ns(), 0, creator, pid, start_time, token,
              bytes(16), encoded[:127]]
    header = bytearray(HEADER.pack(*fields))
    struct.pack_into("=Q", header, CHECKSUM, checksum(header))
    return bytes(header)


def parse(raw):
    (magic, version, header_size, state, endian, flags, data_offset, element_size,
     element_align, element_count, type_hash, created_at_ns, check, creator_pid,
     owner_pid, owner_start_time, owner_token, _reserved, type_name) = HEADER.unpack(raw)
    return {
        "magic": magic, "layout_version": version, "header_size": header_size, "state": state,
        "endian_marker": endian, "flags": flags, "data_offset": data_offset,
        "element_size": element_size, "element_align": element_align,
        "element_count": element_count, "type_hash": type_hash, "created_at_ns": created_at_ns,
        "checksum": check, "creator_pid": creator_pid, "owner_pid": owner_pid,
        "owner_start_time": owner_start_time, "owner_token": owner_token,
        "type_name_bytes": type_name.split(b"\x00", 1)[0],
        "type_name_terminated": b"\x00" in type_name,
        "type_name": type_name.split(b"\x00", 1)[0].decode("utf-8", "replace"),
        "_raw": raw,
    }


def check_integrity(h, operation, name):
    def corrupt(why):
        return Error(errc.corrupt_segment, operation, name, why)

    if h["magic"] != MAGIC:
        raise corrupt("not an smh segment: wrong magic bytes")
    if h["endian_marker"] != ENDIAN_MARKER:
        raise corrupt("written with another byte order")
    if h["layout_version"] != LAYOUT_VERSION:
        raise corrupt(f"layout version {h['layout_version']}, this library reads version 1")
    if h["header_size"] != HEADER_SIZE:
        raise corrupt(f"header size {h['header_size']}, expected {HEADER_SIZE}")
    if h["checksum"] != checksum(h["_raw"]):
        raise corrupt("header checksum does not match its contents")


def check(h, size, operation, name):
    """Whether the parsed header `h` (a private copy) is intact and fits the
    segment's `size` bytes; the element type is checked by the caller."""
    def corrupt(why):
        return Error(errc.corrupt_segment, operation, name, why)

    if h["state"] != STATE_READY:
        state = h["state"]
        raise corrupt("its creator never finished it" if state == STATE_CREATING
                      else f"its header is not marked ready (state {state})")
    check_integrity(h, operation, name)
    if not h["type_name_terminated"]:
        raise corrupt("type name is not terminated")
    if len(h["type_name_bytes"]) < 127 and fnv1a_64(h["type_name_bytes"]) != h["type_hash"]:
        raise corrupt("type hash does not match the type name")
    align = h["element_align"]
    if (h["element_size"] == 0 or align == 0 or align & (align - 1) or align > MAX_ELEMENT_ALIGN
            or h["element_size"] % align):
        raise corrupt(f"element size {h['element_size']} and alignment {align} are impossible")
    if h["data_offset"] != data_offset_for(align):
        raise corrupt(f"elements start at offset {h['data_offset']}, "
                      f"expected {data_offset_for(align)}")
    if h["element_count"] == 0:
        raise corrupt("it holds zero elements")
    needed = segment_bytes(h["data_offset"], h["element_size"], h["element_count"])
    if needed is None or needed > size:
        raise corrupt(f"header claims {h['element_count']} elements of {h['element_size']} "
                      f"bytes but the segment has {size} bytes")
