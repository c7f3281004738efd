"""Checks that run before any work starts: arguments, paths, devices and free space.

Each function raises a :class:`~dissim.errors.ConfigError` (a value out of range, an unknown
device string), :class:`~dissim.errors.DataError` (a path that is missing or of the wrong
kind) or :class:`~dissim.errors.ResourceError` (no CUDA, no write permission, no free space)
whose message is one line naming the culprit and the fix. The command line
(:mod:`dissim.cli`) calls them at the start of every command, and :mod:`~dissim.pipeline.persist`
before it writes or loads a model, so a mistake costs a second, not a training run.

>>> from dissim.pipeline import validate
>>> validate.device("gpu")                              # doctest: +SKIP
ConfigError: unknown device 'gpu' (--device); use cpu, cuda or cuda:N
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backend_bases import FigureCanvasBase

from dissim.data import DEFAULT_DATASET, FOLDER, manifest
from dissim.errors import ConfigError, DataError, ResourceError
from dissim.pipeline.experiment import dataset_of, fold_of


def at_least(value: int | None, low: int, option: str) -> None:
    """``value`` (None = unset) is an integer ``>= low``."""
    if value is not None and value < low:
        raise ConfigError(f"{option} must be an integer >= {low}; got {value}")


#: The largest seed: k-means and the fold splitters take it as scikit-learn's ``random_state``,
#: which (as numpy's legacy ``RandomState``) accepts 0 to 2**32 - 1; torch and numpy's
#: ``default_rng``, which take the networks' seeds, accept more.
MAX_SEED = 2**32 - 1


def seed(value: int | None, option: str = "--seed") -> None:
    """``value`` (None = unset) is a seed every random generator of the pipeline accepts:
    ``0 <= value <= MAX_SEED``."""
    at_least(value, 0, option)
    if value is not None and value > MAX_SEED:
        raise ConfigError(f"{option} must be at most {MAX_SEED} (2**32 - 1), the largest seed "
                          f"k-means and the fold splitters accept; got {value}")


def k_supported(ks: Sequence[int], train_labels: np.ndarray, classes: Sequence,
                fold: int | None = None, profile: str | None = None) -> None:
    """Refuse a k that a class cannot support: k prototypes per class need k training images
    of that class (Section 2.1). ``train_labels`` index ``classes``; ``fold`` and ``profile``
    (when there are folds and a profile) are named in the message, with the k values that fit.
    """
    if not ks:
        return
    counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=len(classes))
    smallest = int(np.argmin(counts))
    n = int(counts[smallest])
    if n >= max(ks):
        return
    fits = [k for k in ks if k <= n] or ([n] if n >= 1 else [])
    where = f" in fold {fold}" if fold is not None else ""
    scale = f" (profile {profile})" if profile is not None else ""
    hint = f"pass --k {','.join(map(str, fits))} or add images" if fits else "add images"
    raise ConfigError(f"class {str(classes[smallest])!r} has {n} training images{where} but "
                      f"k={max(ks)} prototypes per class were requested{scale}; {hint}")


def device(spec: str | None, option: str = "--device") -> None:
    """``spec`` names a torch device that exists here (None: the default, always fine)."""
    if spec is None:
        return
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"unknown device {spec!r} ({option}); use cpu, cuda or cuda:N"
                          ) from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ResourceError(f"{option} {spec}: CUDA is not available on this machine; "
                                "use --device cpu (or leave --device out)")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ResourceError(f"{option} {spec}: this machine has {n} CUDA device(s) "
                                f"(cuda:0-cuda:{n - 1}); pick one of them")
        return
    if dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ResourceError(f"{option} {spec}: Apple MPS is not available on this "
                                "machine; use --device cpu")
        return
    raise ConfigError(f"device {spec!r} ({option}) is not supported; use cpu, cuda or cuda:N")


def existing_folder(path: str | os.PathLike, what: str, fix: str) -> Path:
    """``path`` is an existing folder; ``what`` names it (``data folder``), ``fix`` says what
    to pass instead."""
    p = Path(path).expanduser()
    if p.is_file():
        raise DataError(f"{what} {p} is a file, not a folder; {fix}")
    if not p.is_dir():
        raise DataError(f"{what} {p} not found; {fix}")
    return p


def _probe_write(folder: Path, what: str, path: Path) -> None:
    """Create and remove a file in ``folder`` (``os.access`` is always true for root)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".dissim-probe.", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        reason = err.strerror or err.__class__.__name__
        raise ResourceError(f"cannot write {what} {path}: {reason} in {folder}; choose a "
                            "folder you can write to") from None


def _nearest_existing(p: Path) -> Path:
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def writable_folder(path: str | os.PathLike, what: str, option: str) -> Path:
    """``path`` is a folder that exists or can be created, and can be written to.

    ``what`` names it in the message (``results store``), ``option`` is the flag (``--results``).
    """
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise DataError(f"{what} {p} ({option}) is a file, not a folder; pass a folder")
    base = _nearest_existing(p.absolute())
    if not base.is_dir():
        raise DataError(f"{what} {p} ({option}) cannot be created: {base} is a file; pass a "
                        "folder")
    _probe_write(base, what, p)
    return p


def output_file(path: str | os.PathLike, what: str, option: str,
                need_bytes: int = 0) -> Path:
    """``path`` can be written as a new file: not a folder, in an existing writable folder,
    with ``need_bytes`` free (when the size can be estimated)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise DataError(f"{what} {p} ({option}) is a folder; name a file, e.g. {p / 'model.zip'}")
    parent = p.absolute().parent
    if not parent.exists():
        raise DataError(f"folder {parent} of {what} {p} ({option}) not found; create it first "
                        "or name a file in an existing folder")
    if not parent.is_dir():
        raise DataError(f"{what} {p} ({option}): {parent} is a file, not a folder")
    _probe_write(parent, what, p)
    free_space(parent, need_bytes, f"{what} {p}")
    return p


def new_folder(path: str | os.PathLike, what: str, option: str) -> Path:
    """``path`` is a folder to be written whole: absent or empty, in an existing folder one can
    write to (it is written beside, then renamed: :func:`dissim.atomic.atomic_dir`)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise DataError(f"{what} {p} ({option}) is a file; name a new folder")
    if p.is_dir() and any(p.iterdir()):
        raise DataError(f"{what} {p} ({option}) exists and is not empty; name a new folder")
    parent = p.absolute().parent
    if not parent.is_dir():
        raise DataError(f"folder {parent} of {what} {p} ({option}) not found; create it first")
    _probe_write(parent, what, p)
    return p


#: The file names a model file may have: ``dissim fit`` writes a zip archive.
MODEL_SUFFIXES = (".dissim", ".zip")


def figure_file(path: str | os.PathLike, what: str, option: str, fmt: str = "png") -> Path:
    """``path`` names a figure written as ``fmt``: its extension is ``.<fmt>`` (not one that
    matplotlib cannot write, nor another format), and :func:`output_file` can write it.

    Checked before any training: ``--plot cm.txt`` would otherwise hold PNG bytes, written
    after the whole evaluation (book: What can go wrong).
    """
    p = Path(path).expanduser()
    ext = p.suffix.lower().lstrip(".")
    if not p.is_dir() and ext != fmt:
        if not ext:
            why = "has no extension"
        elif ext not in FigureCanvasBase.get_supported_filetypes():
            why = f"ends in .{ext}, a format matplotlib cannot write"
        else:
            why = f"ends in .{ext}, but it is written as {fmt.upper()}"
        raise ConfigError(f"{what} {p} ({option}) {why}; name a .{fmt} file, e.g. "
                          f"{p.with_suffix('.' + fmt).name}")
    return output_file(p, what, option)


def model_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` names a new model file: ``*.dissim`` or ``*.zip`` (a zip archive), writable."""
    p = Path(path).expanduser()
    if not p.is_dir() and p.suffix.lower() not in MODEL_SUFFIXES:
        raise ConfigError(f"model file {p} ({option}) ends in {p.suffix or 'no extension'}, "
                          f"but it is a zip archive; name it {p.stem or p.name}.dissim (or "
                          f"*.zip)")
    return output_file(p, "model file", option)


def free_space(folder: str | os.PathLike, need_bytes: int, what: str) -> None:
    """At least ``need_bytes`` (plus 1 %) are free on ``folder``'s file system."""
    if need_bytes <= 0:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself reports a full disk
    if free < need_bytes * 1.01:
        raise ResourceError(
            f"not enough free space for {what}: needs ~{_size(need_bytes)}, "
            f"{_size(free)} free on {folder}; free some space or write somewhere else")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def no_such_option(value, option: str, why: str) -> None:
    """Refuse an option that is given but would be ignored (``why`` says what to do)."""
    if value is not None:
        raise ConfigError(f"{option} {value} would be ignored: {why}")


# -- per command: called first by each command of the command line ---------------------------
def dataset_and_root(dataset: str | None, root: str | None) -> None:
    """A known data set name; ``--root`` exactly where the data set reads a folder."""
    name = dataset or DEFAULT_DATASET
    if name == FOLDER:
        if root is None:
            raise DataError("data set 'folder' needs --root DIR, a folder of class folders")
        existing_folder(root, "data folder", "pass an existing folder of class folders")
    elif manifest(name).get("embedded"):
        if root is not None:
            raise ConfigError(f"--root {root} would be ignored: data set {name!r} is embedded; "
                              "add --dataset folder to use it as a folder of class folders")
    elif root is not None and not Path(root).expanduser().is_dir():
        raise DataError(f"data folder {Path(root).expanduser()} for {name!r} not found; "
                        f"download it with `dissim data fetch {name}` or pass --root")


def results_store(path: str, option: str = "--results") -> None:
    """The results store is a folder (or can become one) that can be written: checked only
    where an entry is to be written, so a read-only store serves what it holds."""
    writable_folder(path, "results store", option)


def store_folder(path: str, option: str = "--results") -> None:
    """An existing results store is a folder (a missing one is empty); it need not be
    writable until an entry must be written (:func:`results_store`)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise DataError(f"results store {p} ({option}) is a file, not a folder; pass a folder")


#: Seconds to wait for a Dask scheduler's port to answer before refusing its address.
SCHEDULER_TIMEOUT = 3.0


def scheduler(address: str | None, option: str = "--scheduler",
              timeout: float = SCHEDULER_TIMEOUT) -> None:
    """``address`` is a Dask scheduler address (``tcp://HOST:PORT``, or another protocol Dask
    knows) and, for TCP and TLS, its port answers within ``timeout`` seconds (book: Scale):
    a wrong address is one line in seconds, not an internal error after Dask's 30 s."""
    if not address:
        return
    fix = (f"start a scheduler with `dask scheduler` and pass the address it prints, e.g. "
           f"tcp://127.0.0.1:8786, or leave {option} out to run on a local cluster")
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import backends

    try:
        scheme, location = parse_address(str(address))
        host, port = (parse_host_port(location, default_port=8786) if scheme in ("tcp", "tls")
                      else (None, None))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"Dask scheduler address {address!r} ({option}) is malformed "
                          f"({err}); {fix}") from None
    if scheme not in backends:
        raise ConfigError(f"Dask scheduler address {address!r} ({option}) has the unknown "
                          f"protocol {scheme!r} (Dask knows {', '.join(backends)}); {fix}")
    if host is None:
        return
    if not host or any(c.isspace() for c in host) or not 0 < port < 65536:
        raise ConfigError(f"Dask scheduler address {address!r} ({option}) is malformed "
                          f"(host {host!r}, port {port}); {fix}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (
            err.strerror or type(err).__name__)
        raise ResourceError(f"cannot reach the Dask scheduler at {address} ({option}): "
                            f"{reason} within {timeout:g} s; {fix}") from None


def run_args(a) -> None:
    """``dissim run``."""
    seed(a.seed)
    at_least(a.fold, 0, "--fold")
    at_least(a.k, 1, "--k")
    dataset_and_root(a.dataset, a.root)
    device(a.device)
    store_folder(a.results)  # writable: checked once the member is known to be missing


def results_ls_args(a) -> None:
    """``dissim results ls``: an existing store must be a folder (a missing one is empty)."""
    store_folder(a.results)


def results_export_args(a) -> None:
    """``dissim results export``: seed, store, inputs and an output that is not a file."""
    seed(a.seed)
    results_ls_args(a)
    out = Path(a.out).expanduser()
    if out.exists() and not out.is_dir():
        raise DataError(f"snapshot folder {out} (--out) is a file, not a folder; pass a folder")


def results_import_args(a) -> None:
    """``dissim results import``: the snapshot is a folder, the store is not a file (it must be
    writable only when an entry is missing from it: the command checks that)."""
    existing_folder(a.snapshot, "snapshot", "pass a folder written by dissim results export")
    results_ls_args(a)


def _model_args(a) -> None:
    seed(a.seed)
    for k in a.k or ():
        at_least(k, 1, "--k")
    device(a.device)


def fit_args(a) -> None:
    """``dissim fit``: the folder, the model options and ``--out``, before any training."""
    existing_folder(a.folder, "image folder", "pass a folder with one sub-folder per class")
    _model_args(a)
    model_file(a.out, "--out")


def predict_args(a) -> None:
    """``dissim predict``."""
    device(a.device)
    p = Path(a.model).expanduser()
    if p.is_dir():
        raise DataError(f"model file {p} is a folder; pass the file written by `dissim fit`")
    if not p.is_file():
        raise DataError(f"model file {p} not found; write one with `dissim fit`")


def evaluate_args(a) -> None:
    """``dissim evaluate``."""
    if (a.folder is None) == (a.dataset is None):
        raise DataError("give an image folder or --dataset NAME (one of them)")
    if a.folder is not None:
        existing_folder(a.folder, "image folder", "pass a folder with one sub-folder per class")
    else:
        dataset_and_root(a.dataset, None)
    at_least(a.folds, 2, "--folds")
    at_least(a.max_folds, 1, "--max-folds")
    at_least(a.max_per_class, 0, "--max-per-class")
    at_least(a.min_images, 0, "--min-images")
    _model_args(a)
    if a.plot is not None:
        figure_file(a.plot, "plot", "--plot")
    if getattr(a, "report", None) is not None:
        new_folder(a.report, "report folder", "--report")


def grid_args(a) -> None:
    """``dissim grid`` (the lists are parsed by the grid itself)."""
    for s in a.seeds or ():
        seed(s, "--seeds")
    if a.executor == "local":  # on Dask, --root names a folder on the workers
        dataset_and_root(a.dataset, a.root)
    else:
        scheduler(*dask_scheduler(a.scheduler))
    device(a.device)
    store_folder(a.results)  # writable: checked once members are known to be missing


def dask_scheduler(address: str | None) -> tuple[str | None, str]:
    """The scheduler address a Dask grid connects to and where it comes from: ``--scheduler``,
    else Dask's configuration (``DASK_SCHEDULER_ADDRESS``), else None (a local cluster)."""
    if address:
        return address, "--scheduler"
    import dask

    return dask.config.get("scheduler-address", None), "DASK_SCHEDULER_ADDRESS"


def book_args(a) -> None:
    """``dissim book run``: data sets, folder, seed and store, before any kernel starts."""
    seed(a.seed)
    for name in a.dataset or []:
        if name != FOLDER:
            manifest(name)  # an unknown name: one line listing how to see the known ones
        elif a.root is None:
            raise DataError("data set 'folder' needs --root DIR, a folder of class folders")
    if a.root is not None:
        existing_folder(a.root, "data folder", "pass --root an existing folder")
    results_store(a.results)


def member_data(member, root: str | None) -> None:
    """Read ``member``'s data set and make its folds before the results store is touched:
    an unreadable image, a bad layout, a class too small for the folds or a fold that does
    not exist stops here, and so does a k a class of the fold cannot support."""
    train_index, _ = fold_of(member, root)
    ds = dataset_of(member, root)
    k_supported((member.k,), ds.labels[train_index], ds.classes, member.fold,
                member.profile.name)
