#!/usr/bin/env python3
"""Writes fuzz/corpus/model_file/*: tiny valid model files (their checksums need computing; the
table and study-config seeds beside them are hand-written). Run from anywhere:
    python3 fuzz/make_seeds.py
"""
import os

BASIS = 1469598103934665603  # itk::MicrostructureHashOffsetBasis (include/itkMicrostructureHash.h)


def fnv(data: bytes) -> str:
    h = BASIS
    for b in data:
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return format(h, "x")


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def model_file(header, sections, magic="ITKSMVQVAE", version=1, checksum=True) -> bytes:
    """The bytes itk::modelfile::Format writes."""
    text = "%s %d\n" % (magic, version)
    for k, v in header:
        text += "%s = %s\n" % (k, escape(v))
    for name, data in sections:
        text += "%s_bytes = %d\n%s_fnv1a64 = %s\n" % (name, len(data), name, fnv(data))
    raw = text.encode("latin-1")
    if checksum:
        raw += ("header_fnv1a64 = %s\n" % fnv(raw)).encode()
    raw += b"end_header\n"
    return raw + b"".join(d for _, d in sections)


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "model_file")
os.makedirs(here, exist_ok=True)
seeds = {
    "vqvae_small.model": model_file(
        [("input_channels", "1"), ("encoder_channels", "8,16"), ("codebook_size", "16"), ("commitment_cost", "0.25"),
         ("seed", "1"), ("note", "two\nlines \\ and a backslash")],
        [("weights", b"\x00\x01\x02PK\x03\x04weights")]),
    "checkpoint.model": model_file(
        [("training_steps", "12"), ("generator_state", "00ff10")],
        [("weights", b"w" * 40), ("optimizer", b"o" * 17)]),
    "no_header_checksum.model": model_file([("codebook_size", "8")], [("weights", b"abc")], checksum=False),
    "empty_sections.model": model_file([], [("weights", b""), ("optimizer", b"")]),
}
for name, data in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
print("wrote", len(seeds), "seeds to", here)
