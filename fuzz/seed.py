#!/usr/bin/env python3
"""Fills fuzz/corpus/<target>/ with seeds cut from the workspace's real-peer fixtures.

Each target reads its own input layout (see fuzz_targets/*.rs); this script writes seeds in that
layout: recorded chunk streams after the handshake, C0+C1 from ffmpeg and rtmpdump, AMF0
payloads, message bodies prefixed by their type id, the sample FLVs after their header, single
audio/video tag bodies, and the configuration records and parameter sets inside them.
Existing corpus files are kept; seeds are named by content, so running it twice adds nothing.
"""

import hashlib
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
HANDSHAKE_BYTES = 1 + 1536 + 1536


def put(target, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    (folder / name).write_bytes(data)


def flv_tags(data):
    """(tag type, body) of every tag of an FLV file."""
    offset = struct.unpack(">I", data[5:9])[0] + 4
    while offset + 11 <= len(data):
        kind = data[offset] & 0x1F
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        body = data[offset + 11 : offset + 11 + size]
        yield kind, body
        offset += 11 + size + 4


def chunk_messages(stream):
    """Message bodies (type id, body) of a recorded chunk stream, chunk size tracked."""
    chunk_size, offset, states, partial = 128, 0, {}, {}
    while offset < len(stream):
        first = stream[offset]
        fmt, csid = first >> 6, first & 0x3F
        offset += 1
        if csid == 0:
            csid, offset = stream[offset] + 64, offset + 1
        elif csid == 1:
            csid, offset = stream[offset] + stream[offset + 1] * 256 + 64, offset + 2
        state = states.setdefault(csid, {"length": 0, "type": 0, "ts": 0})
        if fmt <= 2:
            ts = int.from_bytes(stream[offset : offset + 3], "big")
            offset += 3
        if fmt <= 1:
            state["length"] = int.from_bytes(stream[offset : offset + 3], "big")
            state["type"] = stream[offset + 3]
            offset += 4
        if fmt == 0:
            offset += 4
        if fmt <= 2:
            state["ts"] = ts
        if state["ts"] == 0xFFFFFF:
            offset += 4
        buffer = partial.setdefault(csid, bytearray())
        take = min(chunk_size, state["length"] - len(buffer))
        buffer += stream[offset : offset + take]
        offset += take
        if len(buffer) == state["length"]:
            body = bytes(buffer)
            partial[csid] = bytearray()
            if state["type"] == 1 and len(body) >= 4:
                chunk_size = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF
            yield state["type"], body


def hls_steps(data, limit=160):
    """The first tags of an FLV file as hls_segmenter steps: operation (0 audio, 1 video,
    2 data), signed 16-bit timestamp step, 16-bit length, body."""
    out, previous = bytearray(), 0
    offset = struct.unpack(">I", data[5:9])[0] + 4
    for index, (kind, body) in enumerate(flv_tags(data)):
        start = offset
        offset += 11 + len(body) + 4
        if index >= limit or kind not in (8, 9, 18) or len(body) > 0xFFFF:
            continue
        timestamp = int.from_bytes(data[start + 4 : start + 7], "big") | data[start + 7] << 24
        step = max(-0x8000, min(0x7FFF, timestamp - previous))
        previous += step
        out += bytes([{8: 0, 9: 1, 18: 2}[kind]]) + struct.pack(">hH", step, len(body)) + body
    return bytes(out)


def main():
    fixtures = ROOT / "crates"
    for path in (fixtures / "rtmp-handshake" / "tests" / "fixtures").glob("*.bin"):
        data = path.read_bytes()
        put("handshake", bytes([1]) + data)
        put("handshake", bytes([255]) + data)
    for path in (fixtures / "rtmp-amf0" / "tests" / "fixtures").glob("*.amf0"):
        put("amf0_decode", path.read_bytes())
    # AMF3, written from the specification: references to an earlier object and string, a
    # traits reference, a vector of int, a dictionary. Each also goes behind AMF0's AVM+ switch.
    for amf3 in [
        bytes.fromhex("0907010a0b01076b657906056869010a020602"),
        bytes.fromhex("0905010a1301036104010a010402"),
        bytes.fromhex("0d0501fffffffb00000007"),
        bytes.fromhex("1103010603610401"),
    ]:
        put("amf3_decode", amf3)
        put("amf0_decode", b"\x11" + amf3)
    for path in (fixtures / "rtmp-chunk" / "tests" / "fixtures").glob("*.bin"):
        stream = path.read_bytes()[HANDSHAKE_BYTES:]
        # Mode 0: chunk size 128 at the start, as on the wire; keep the seeds small.
        put("chunk_decode", bytes([0]) + stream[:16384])
        seen = set()
        for type_id, body in chunk_messages(stream):
            if type_id in (8, 9) and type_id in seen:
                continue
            seen.add(type_id)
            put("message_decode", bytes([type_id]) + body)
    for path in (fixtures / "rtmp-flv" / "tests" / "media").glob("*.flv"):
        data = path.read_bytes()
        put("flv_reader", data[9:][:32768])
        media = 0
        for kind, body in flv_tags(data):
            if kind in (8, 9) and media < 40:
                put("media_tags", body)
                media += 1
            if kind == 18:
                put("amf0_decode", body)
                put("message_decode", bytes([18]) + body)
            # Sequence starts: the record after the legacy (5 or 2 bytes) or enhanced
            # (5 bytes: header and FourCC) header.
            if kind == 9 and len(body) > 5:
                enhanced = body[0] & 0x80
                packet = body[0] & 0x0F if enhanced else body[1]
                if packet == 0:
                    put("codec_config", body[5:])
            if kind == 8 and len(body) > 2 and body[0] >> 4 == 10 and body[1] == 0:
                put("codec_config", body[2:])
        put("hls_segmenter", hls_steps(data))
    print(f"seeded {sum(1 for _ in CORPUS.glob('*/*'))} files under {CORPUS}")


if __name__ == "__main__":
    main()
