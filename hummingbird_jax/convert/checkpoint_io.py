"""Read PyTorch-side checkpoints into flat ``{name: np.ndarray}`` dicts, without PyTorch.

Formats met in the wild for VideoCrafter2 / Hummingbird:

* ``.safetensors`` files;
* PyTorch zip pickles (``torch.save``): Lightning ``{'state_dict': ...}`` ``.ckpt``, DeepSpeed
  ``{'module': {'_forward_module.' + k: ...}}``, plain state dicts, and whole pickled modules
  (the released ``*_merged_all.pt``).

Pickles are read with a restricted unpickler that never imports or runs code from the file: the
only callables it will invoke are tensor-rebuild functions and a few inert containers. Classes the
pickle names become inert placeholders, so whole pickled ``nn.Module`` trees can be walked for their
``_parameters`` / ``_buffers``. A pickle that tries to call anything else (``os.system``, ``eval``,
an arbitrary class constructor, ...) is refused with :class:`UnsafeCheckpointError`.

Files are untrusted input: no size a file claims (a safetensors header length, a zip member's size,
a pickle's counted string, a tensor's extent in its storage) is used to allocate or index before it
is checked against the bytes really there, and every failure of a reader (a truncated, corrupt or
mislabelled file) surfaces as one :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import json
import os
import pickle
import pickletools
import struct
import zipfile
import zlib
from typing import Any, Mapping

import ml_dtypes
import numpy as np
from safetensors import SafetensorError

from hummingbird_jax.errors import CheckpointError

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "load_torch_checkpoint",
    "save_safetensors",
    "read_safetensors_metadata",
    "save_lightning_ckpt",
]


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The checkpoint's pickle asks to run code that is not a tensor rebuild."""


# What the readers below raise on a corrupt, truncated or mislabelled file; mapped to CheckpointError.
_READ_FAILURES = (
    ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError, MemoryError, OverflowError,
    RecursionError, pickle.UnpicklingError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
    struct.error, SafetensorError, NotImplementedError, OSError,
)
# deflate cannot expand data more than about 1032:1; a zip member claiming more is lying.
_MAX_DEFLATE_RATIO = 1032


_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_TORCH_DTYPES = {
    "float64": np.float64, "double": np.float64,
    "float32": np.float32, "float": np.float32,
    "float16": np.float16, "half": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32,
    "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


class _StorageType:
    """Stands for ``torch.FloatStorage`` & co. inside a pickle."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


class _TorchDtype:
    """Stands for a ``torch.float32``-style dtype object."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_TORCH_DTYPES.get(name, np.float32))


class PickledObject:
    """An inert stand-in for any object of a class named in the pickle.

    Creating one runs no code from the checkpoint; ``__setstate__`` only stores the state so that the
    module tree (``_modules``, ``_parameters``, ``_buffers``) can be walked afterwards.
    """

    _qualname = "object"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        self.__dict__["_state"] = state

    @property
    def state(self):
        return self.__dict__.get("_state")

    def __repr__(self):
        return f"<pickled {self._qualname}>"


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    """numpy twin of ``torch._utils._rebuild_tensor_v2``."""
    size, stride, storage_offset = tuple(map(int, size)), tuple(map(int, stride)), int(storage_offset)
    if len(size) != len(stride) or min(size + stride + (storage_offset,)) < 0:
        raise ValueError(f"tensor of size {size}, stride {stride}, offset {storage_offset} is malformed")
    if not size:  # 0-d tensor (e.g. CLIP's logit_scale): keep it an ndarray so it is not dropped
        return np.array(storage[storage_offset])
    if 0 in size:
        return np.zeros(size, storage.dtype)
    extent = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if extent > len(storage):
        raise ValueError(f"tensor of size {size} needs {extent} elements but its storage has {len(storage)}")
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(s * itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, *_unused):
    return data


def _rebuild_from_type_v2(func, _new_type, args, _state):
    return func(*args)


def _reconstructor(cls, base, state):
    if isinstance(cls, type) and issubclass(cls, PickledObject):
        return cls.__new__(cls)
    if cls is collections.OrderedDict:
        return collections.OrderedDict()
    raise UnsafeCheckpointError(f"pickle asks to reconstruct {cls!r} from {base!r}")


# Callables a checkpoint pickle may invoke (REDUCE): tensor rebuilds and inert containers.
_SAFE_CALLABLES: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("torch", "Size"): lambda *a: tuple(*a),
    ("torch", "device"): lambda *a: ":".join(str(x) for x in a),
    ("_codecs", "encode"): lambda s, enc="latin1": s.encode(enc),
    ("numpy.core.multiarray", "scalar"): lambda dtype, data: np.frombuffer(data, dtype)[0],
    ("numpy._core.multiarray", "scalar"): lambda dtype, data: np.frombuffer(data, dtype)[0],
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile | None, prefix: str, source: str):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._source = source
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module, name):
        # Protocol-2 pickles (torch.save's default) spell Python 3 modules the Python 2 way.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _SAFE_CALLABLES:
            return _SAFE_CALLABLES[(module, name)]
        if module.startswith("torch") and name.endswith("Storage"):
            return _StorageType(_STORAGE_DTYPES.get(name, np.uint8))
        if module == "torch" and name in _TORCH_DTYPES:
            return _TorchDtype(name)
        # Any other global becomes an inert placeholder class: objects of it may be *created*
        # (NEWOBJ + BUILD, how modules are pickled) but calling it (REDUCE) is refused below.
        qualname = f"{module}.{name}"
        return type(name, (_Placeholder,), {"_qualname": qualname})

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage":
            raise UnsafeCheckpointError(f"{self._source}: unknown persistent id {kind!r}")
        dtype = storage_type.dtype if hasattr(storage_type, "dtype") else np.dtype(np.uint8)
        if key not in self._storages:
            if self._archive is None:
                raise UnsafeCheckpointError(f"{self._source}: storage outside a zip archive")
            raw = self._archive.read(f"{self._prefix}data/{key}")
            self._storages[key] = np.frombuffer(raw, dtype=dtype, count=numel).copy()
        return self._storages[key]


class _PlaceholderMeta(type):
    def __call__(cls, *args, **kwargs):
        raise UnsafeCheckpointError(
            f"checkpoint pickle tries to call {cls._qualname}{_short(args)}; only tensor rebuilds "
            "are allowed (refusing to execute code from the file)"
        )


class _Placeholder(PickledObject, metaclass=_PlaceholderMeta):
    pass


def _short(args) -> str:
    text = repr(args)
    return text if len(text) < 80 else text[:77] + "...)"


def _check_zip_sizes(archive: zipfile.ZipFile, path: str) -> None:
    """Refuse members whose claimed sizes the archive cannot hold, before anything is read."""
    length = os.path.getsize(path)
    for info in archive.infolist():
        claimed = info.file_size if info.compress_type == zipfile.ZIP_STORED else info.compress_size
        if info.compress_size > length or claimed > length or info.file_size > _MAX_DEFLATE_RATIO * max(
                info.compress_size, 1):
            raise ValueError(f"zip member {info.filename!r} claims {info.file_size} bytes; the file has {length}")


def _check_pickle_lengths(data: bytes) -> None:
    """Walk the pickle's opcodes without building anything: every counted string/bytes argument is
    read from the bytes really present, so a length that lies fails here instead of allocating."""
    for _ in pickletools.genops(io.BytesIO(data)):
        pass


def _load_zip_pickle(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        _check_zip_sizes(archive, path)
        pkl_names = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pkl_names:
            raise CheckpointError(f"{path}: zip archive without data.pkl, not a PyTorch checkpoint")
        name = pkl_names[0]
        prefix = name[: -len("data.pkl")]
        with archive.open(name) as fh:
            data = fh.read()
        _check_pickle_lengths(data)
        return _RestrictedUnpickler(io.BytesIO(data), archive, prefix, path).load()


def _module_tree_state_dict(obj: PickledObject, prefix: str, out: dict) -> None:
    state = obj.state if isinstance(obj.state, dict) else {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if isinstance(value, np.ndarray):
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PickledObject):
            _module_tree_state_dict(child, f"{prefix}{name}.", out)


def _flatten_tensors(tree: Any, prefix: str, out: dict) -> None:
    if isinstance(tree, np.ndarray):
        out[prefix.rstrip(".")] = tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            _flatten_tensors(value, f"{prefix}{key}.", out)


def _extract_state_dict(obj: Any, path: str) -> dict[str, np.ndarray]:
    if isinstance(obj, PickledObject):
        out: dict[str, np.ndarray] = {}
        _module_tree_state_dict(obj, "", out)
        return out
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state dict, a checkpoint dict or a module, got {type(obj)}")
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        return _extract_state_dict(obj["state_dict"], path)
    if "module" in obj and isinstance(obj["module"], (Mapping, PickledObject)):
        inner = _extract_state_dict(obj["module"], path)
        inner = {k.removeprefix("_forward_module."): v for k, v in inner.items()}
        return {k: v for k, v in inner.items() if not k.startswith("teacher_model.")}
    # {'model': <module>} (whole pickled modules) or {'model': state_dict} (InternVid's ViCLIP release)
    if "model" in obj and isinstance(obj["model"], (Mapping, PickledObject)):
        return _extract_state_dict(obj["model"], path)
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if isinstance(value, np.ndarray):
            out[str(key)] = value
        elif isinstance(value, PickledObject):
            _module_tree_state_dict(value, f"{key}.", out)
    if not out:
        raise CheckpointError(f"{path}: no tensors found (top-level keys: {sorted(map(str, obj))[:10]})")
    return out


def _check_safetensors_header(path: str) -> dict:
    """The JSON header, its claimed length checked against the file's before it is read."""
    length = os.path.getsize(path)
    with open(path, "rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        if length < 8 or header_len > length - 8:
            raise CheckpointError(f"{path}: not a complete .safetensors file (its header claims {header_len} "
                                  f"bytes, the file has {length})")
        header = json.loads(fh.read(header_len))
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: .safetensors header is not a JSON object")
    return header


def _load_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    out = {}
    header = _check_safetensors_header(path)
    has_bf16 = any(isinstance(v, dict) and v.get("dtype") == "BF16" for v in header.values())
    with safe_open(path, framework="flax" if has_bf16 else "numpy") as f:
        for key in f.keys():
            out[key] = np.asarray(f.get_tensor(key))
    return out


def load_torch_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Return every tensor of a PyTorch-side checkpoint as ``{name: np.ndarray}``.

    Wrappers are unwrapped (``state_dict``, DeepSpeed ``module`` with ``_forward_module.`` stripped
    and ``teacher_model.*`` dropped, whole pickled modules walked); names are otherwise kept as they
    are, so namespaces such as ``model.diffusion_model.`` are still there.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return _read_checkpoint(path)
    except CheckpointError as err:
        if path in str(err):
            raise
        raise type(err)(f"{path}: {err}") from None
    except _READ_FAILURES as err:
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}"
                              f"{': ' + detail if detail else ''})") from err


def _read_checkpoint(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if path.endswith(".safetensors"):
        return _load_safetensors(path)
    if magic[:2] == b"PK":
        return _extract_state_dict(_load_zip_pickle(path), path)
    if magic[:1] == b"\x80":
        raise CheckpointError(
            f"{path}: legacy (pre-1.6, non-zip) PyTorch pickle format is not supported; re-save it "
            "with a current torch.save or convert it to .safetensors"
        )
    raise CheckpointError(f"{path}: not a .safetensors file nor a PyTorch zip checkpoint")


def save_safetensors(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike,
                     metadata: Mapping[str, str] | None = None) -> None:
    """Write ``state_dict`` atomically as safetensors (readable by ``safetensors.torch.load_file``);
    ``metadata`` (strings) goes in the header's ``__metadata__``."""
    from safetensors.numpy import save_file

    path = os.fspath(path)
    tmp = path + ".tmp"
    save_file({k: np.require(v, requirements="C") for k, v in state_dict.items()}, tmp,
              metadata=dict(metadata) if metadata else None)
    os.replace(tmp, path)


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` strings of a .safetensors file (``{}`` when it has none)."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        _check_safetensors_header(path)
        with safe_open(path, framework="numpy") as f:
            return dict(f.metadata() or {})
    except CheckpointError:
        raise
    except _READ_FAILURES as err:
        raise CheckpointError(f"{path}: not a readable .safetensors file ({type(err).__name__}: {err})") from err


def save_lightning_ckpt(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write a Lightning-style ``{'state_dict': ...}`` ``.ckpt``; needs PyTorch (the ``torch`` extra)."""
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "writing .ckpt needs PyTorch (pip install 'hummingbird-jax[torch]'); "
            "or export to .safetensors instead"
        ) from err
    path = os.fspath(path)
    tensors = {}
    for key, value in state_dict.items():
        value = np.require(value, requirements="C")
        if value.dtype == ml_dtypes.bfloat16:
            tensors[key] = torch.from_numpy(value.view(np.uint16)).view(torch.bfloat16)
        else:
            tensors[key] = torch.from_numpy(value.copy())
    tmp = path + ".tmp"
    torch.save({"state_dict": tensors}, tmp)
    os.replace(tmp, path)
