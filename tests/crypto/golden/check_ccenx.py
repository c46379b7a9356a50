#!/usr/bin/env python3
"""Independent reader of CCENX v1, written from docs/ccenx-format.md only.

Decrypts the golden vector with the inputs listed in README.md (using the
Python 'cryptography' package, not libsodium) and checks every header field,
subkey, commitment, MAC and chunk against the spec. Exit status 0 on
success. Usage: check_ccenx.py path/to/v1_golden.ccenx
"""
import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY = bytes(range(0x00, 0x20))
KEY_ID = 0x0102030405060708
DATA_KEY = bytes(range(0x40, 0x60))
FILE_ID = bytes(range(0xA0, 0xB0))
WRAP_NONCE = bytes(range(0xB0, 0xBC))
CONTENT_TYPE = 1
CHUNK_SIZE = 16
PLAINTEXT = b"CCENX golden vector: no call audio here, just text."
CHUNK_LENGTHS = [16, 4, 16, 15]

HEADER_SIZE = 159
TAG = 16


def subkey(label: bytes) -> bytes:
    return hmac.new(DATA_KEY, label + b"\x01", hashlib.sha256).digest()


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit("FAIL: " + what)


def main() -> None:
    data = open(sys.argv[1], "rb").read()
    h = data[:HEADER_SIZE]

    check(h[0:5] == b"CCENX", "magic")
    check(h[5] == 1, "version")
    check(h[6] == CONTENT_TYPE, "content type")
    check(struct.unpack(">I", h[7:11])[0] == CHUNK_SIZE, "chunk size")
    check(struct.unpack(">Q", h[11:19])[0] == KEY_ID, "key id")
    check(h[19:35] == FILE_ID, "file id")
    check(h[35:47] == WRAP_NONCE, "wrap nonce")

    data_key = AESGCM(MASTER_KEY).decrypt(WRAP_NONCE, h[47:95], h[0:47])
    check(data_key == DATA_KEY, "unwrapped data key")

    commitment = hmac.new(subkey(b"CCENX v1 commit"), h[0:95], hashlib.sha256).digest()
    check(hmac.compare_digest(commitment, h[95:127]), "key commitment")
    header_mac = hmac.new(subkey(b"CCENX v1 header"), h[0:127], hashlib.sha256).digest()
    check(hmac.compare_digest(header_mac, h[127:159]), "header MAC")

    gcm = AESGCM(subkey(b"CCENX v1 chunk"))
    at, index, out, lengths, final = HEADER_SIZE, 0, b"", [], False
    while at < len(data):
        check(not final, "nothing after the final chunk")
        length, flags = struct.unpack(">IB", data[at:at + 5])
        check(flags in (0, 1) and length <= CHUNK_SIZE, "chunk %d framing" % index)
        final = flags == 1
        nonce = struct.pack(">Q", index) + b"\x00\x00\x00" + bytes([flags])
        ad = header_mac + struct.pack(">QIB", index, length, flags)
        body = data[at + 5:at + 5 + length + TAG]
        out += gcm.decrypt(nonce, body, ad)
        lengths.append(length)
        at += 5 + length + TAG
        index += 1

    check(final, "file ends with a final chunk")
    check(lengths == CHUNK_LENGTHS, "chunk lengths %r" % lengths)
    check(out == PLAINTEXT, "plaintext")
    print("OK: %d bytes, %d chunks, plaintext matches" % (len(data), index))


if __name__ == "__main__":
    main()
