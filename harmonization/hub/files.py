"""Reading and writing weight files: the package's only safetensors / ``torch.load`` reader and atomic writer.

- :func:`load_state_dict`: safetensors directly, anything else with ``torch.load(weights_only=True)`` (never
  unpickles code); refuses non-regular files (FIFOs, devices, folders) and maps every failure of a damaged file to
  one :class:`~harmonization.errors.CheckpointFileError`.
- :func:`read_metadata` / :func:`update_metadata`: the string metadata of safetensors files (``arch``,
  ``resolution``, ``transfer``, ``strength``, ...), which the loader reads.
- :func:`save_safetensors` and :func:`replaced_atomically`: write through a temporary file beside the target and
  rename it into place, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from ..errors import CheckpointFileError

__all__ = ["check_regular_file", "is_safetensors", "load_state_dict", "read_metadata", "replaced_atomically",
           "save_safetensors", "update_metadata"]


def check_regular_file(path: str | os.PathLike[str], what: str = "Checkpoint file") -> Path:
    """``path`` as a :class:`Path` after checking that it names an existing regular file (symlinks followed).

    Raises:
        FileNotFoundError: nothing there.
        CheckpointFileError: a FIFO, device, socket or folder (reading those could block or make no sense).
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist. Check the path or use a registered name.") from None
    except OSError as exc:
        raise CheckpointFileError(f"{what} {path} cannot be read ({exc.strerror}).") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise CheckpointFileError(f"{what} {path} is {kind}; give a .safetensors or .pth weights file.")
    return path


def is_safetensors(path: str | os.PathLike[str]) -> bool:
    """By suffix, or by content: an 8-byte little-endian header length followed by a JSON object."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < path.stat().st_size


def _damaged(path: Path, exc: BaseException) -> CheckpointFileError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CheckpointFileError(f"{path.name} could not be read as a weights file ({type(exc).__name__}: {detail}). "
                               "The file may be truncated or not a checkpoint; download or export it again.")


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """String metadata of a safetensors checkpoint (``{}`` for other formats or none).

    Our training writes e.g. ``{"arch": "phnet", "resolution": "320", "transfer": "global", "strength": "0.6"}``.

    Raises:
        CheckpointFileError: a safetensors file whose header cannot be read.
    """
    path = check_regular_file(path)
    if not is_safetensors(path):
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return dict(handle.metadata() or {})
    except Exception as exc:  # safetensors raises SafetensorError, OSError, ...
        raise _damaged(path, exc) from exc


@contextlib.contextmanager
def replaced_atomically(target: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``target``: renamed onto ``target`` when the block succeeds, removed when it fails."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str],
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (contiguous CPU copies) as a safetensors file atomically, with string ``metadata``."""
    from safetensors.torch import save_file

    path = Path(path)
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with replaced_atomically(path) as temporary:
        save_file(cpu, str(temporary), metadata={str(k): str(v) for k, v in (metadata or {}).items()} or None)
    return path


def update_metadata(path: str | os.PathLike[str], updates: Mapping[str, str]) -> dict[str, str]:
    """Merge ``updates`` into a safetensors file's string metadata; tensors and dtypes are kept as they are.

    The file is rewritten through a temporary file beside it and replaced atomically.

    Returns:
        The new metadata.

    Raises:
        ValueError: ``path`` is not a safetensors file (other formats have no metadata).
    """
    path = check_regular_file(path)
    if not is_safetensors(path):
        raise ValueError(f"{path} is not a safetensors file; only those carry metadata. Convert it first "
                         "(harmonization.training.export_fp16).")
    metadata = read_metadata(path)
    tensors = load_state_dict(path)
    metadata.update({str(k): str(v) for k, v in updates.items()})
    save_safetensors(tensors, path, metadata)
    return metadata


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat dict of CPU tensors without executing pickled code.

    Safetensors files (by suffix or content) are read with ``safetensors.torch.load_file(device="cpu")``; anything
    else with ``torch.load(map_location="cpu", weights_only=True)``. A top-level wrapper dict holding
    ``"state_dict"`` or ``"model"`` (training checkpoints with epoch/optimizer) is unwrapped. Keys are not renamed
    (see :func:`harmonization.models.clean_state_dict` for ``module.`` prefixes).

    Args:
        path: the file.

    Returns:
        Mapping from key to tensor (any dtype, on CPU).

    Raises:
        FileNotFoundError: no such file.
        CheckpointFileError: not a regular file, a damaged or truncated file, pickled objects other than tensors and
            plain containers, or values that are not tensors after unwrapping.
    """
    path = check_regular_file(path)
    if is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:
            raise _damaged(path, exc) from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointFileError(
            f"Refusing to load {path.name}: it contains pickled objects other than tensors, which could run code. "
            "Only plain state dicts are accepted; re-save the tensors with torch.save(model.state_dict()) or as "
            f".safetensors. ({str(err).splitlines()[0] if str(err) else 'UnpicklingError'})"
        ) from err
    except Exception as exc:  # EOFError (empty file), RuntimeError (not a zip), IndexError (garbage), ...
        raise _damaged(path, exc) from exc
    if not isinstance(data, Mapping):
        raise CheckpointFileError(f"{path.name} holds a {type(data).__name__}, expected a dict of tensors "
                                  "(a state dict).")
    if not all(isinstance(value, torch.Tensor) for value in data.values()):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    bad = [f"{key} ({type(value).__name__})" for key, value in data.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise CheckpointFileError(
            f"{path.name} is not a flat state dict: {len(bad)} values are not tensors: {', '.join(bad[:8])}"
            + (" ..." if len(bad) > 8 else "")
        )
    return {str(key): value for key, value in data.items()}
