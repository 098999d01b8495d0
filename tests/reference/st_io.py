"""A small, independent safetensors reader/writer (numpy only) for the reference tests.

Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, N bytes
of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
then the raw little-endian tensor bytes (offsets are relative to the end of the header).
BF16 has no numpy dtype: it is read as float32 (exact upcast) and written from float32 by
round-to-nearest-even, or from a torch.bfloat16 tensor bit for bit. Not the safetensors package.

    import st_io
    tensors = st_io.read("model.safetensors")             # {name: np.ndarray}
    tensors, meta = st_io.read("m.safetensors", with_metadata=True)
    st_io.write("out.safetensors", {"w": np.zeros((2, 3), np.float32)}, metadata={"step": "10"})
"""
import json
import os
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _bf16_to_f32(raw):
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _f32_to_bf16(x):
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = bits + (0x7FFF + ((bits >> 16) & 1))  # round to nearest even (NaN payloads aside)
    return (rounded >> 16).astype(np.uint16)


def read(path, with_metadata=False):
    """Returns {name: np.ndarray} (and the __metadata__ dict if with_metadata). Raises ValueError
    naming the file on any inconsistency (truncated, bad JSON, offsets out of range or overlapping)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: truncated (no header length)")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} beyond the end of the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out, spans = {}, []
    for name, info in header.items():
        dtype, shape = info["dtype"], [int(d) for d in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: tensor {name}: offsets [{begin}, {end}) out of range")
        count = int(np.prod(shape, dtype=np.int64))
        itemsize = 2 if dtype == "BF16" else _DTYPES[dtype].itemsize
        if count * itemsize != end - begin:
            raise ValueError(f"{path}: tensor {name}: {end - begin} bytes for shape {shape} {dtype}")
        spans.append((begin, end, name))
        raw = bytes(data[begin:end])
        if dtype == "BF16":
            arr = _bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[dtype]).copy()
        out[name] = arr.reshape(shape)
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ValueError(f"{path}: tensors {n0} and {n1} overlap")
    return (out, meta) if with_metadata else out


def write(path, tensors, metadata=None, bf16=()):
    """Writes {name: array-like} atomically. Names listed in `bf16` are stored as BF16 (from float32
    by round-to-nearest-even); torch.bfloat16 tensors are stored as BF16 bit for bit."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if hasattr(t, "detach"):  # a torch tensor
            t = t.detach().cpu().contiguous()
            if str(t.dtype) == "torch.bfloat16":
                import torch
                raw, dtype, shape = t.view(torch.int16).numpy().tobytes(), "BF16", list(t.shape)
                header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
                chunks.append(raw)
                offset += len(raw)
                continue
            t = t.numpy()
        a = np.asarray(t)
        if name in bf16:
            raw, dtype = _f32_to_bf16(a).astype("<u2").tobytes(), "BF16"
        else:
            # np.asarray(order="C"), not np.ascontiguousarray: the latter turns 0-d scalars into shape (1,)
            a = np.asarray(a, dtype=a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype, order="C")
            dtype = _NAMES.get(np.dtype(a.dtype.str.replace(">", "<")))
            if dtype is None:
                raise ValueError(f"{path}: tensor {name}: unsupported dtype {a.dtype}")
            raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
