"""Dedup backends (``dedup.backend: auto | cpu | gpu``) and how one is chosen.

A backend supplies the steps of ``dedup`` that a GPU can take over, with results identical to the
CPU path's (so keep/cluster/survivor ids do not depend on the machine, and hashed work units cached by
one backend can be reused by the other):

* ``signatures(shingles, counts, hasher, words=None)`` -> uint32 ``(N, num_perm)`` MinHash signatures;
* ``components(n, edges)`` -> lowest-index component labels (the ``dedup_arrays(components=...)`` hook);
* optionally ``lsh(signatures, survivors, params)`` -> ``(edges, stats)`` or None: LSH banding and signature
  verification (the ``dedup_arrays(lsh=...)`` hook; ``gpu/lsh.py``, on by default on CUDA);
* when ``prepares_text`` is true, ``prepare(texts, hasher)`` -> ``(exact keys, shingles, counts)``: the
  text preparation itself (normalize, word hashes) on the device (``gpu/textprep.py``; on by default on
  CUDA, where CPU preparation was 70 % of the GPU path's time on an H100).

``CpuDedupBackend`` is the numpy path unchanged.  ``TorchDedupBackend`` runs the torch MinHash kernel
(``gpu/minhash.py``) and cuGraph/torch components (``gpu/components.py``) on any torch device: CUDA in
production, ``"cpu"`` in the tests that prove bit-identity.  With ``signature_engine="cudf"`` it uses
cuDF's MinHash instead (different hash family: never bit-identical, only when configured).

Selection (``select_dedup_backend``): ``cpu`` -> CPU; ``gpu`` -> torch on CUDA, or a RuntimeError naming
``dedup.backend`` when no CUDA device is visible; ``auto`` -> GPU when CUDA is visible, else CPU.  The
CUDA question is answered without importing torch when the machine has no NVIDIA device nodes, so the
default CPU path pays nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np

from llm_pipeline_assets.dedup.components import connected_components
from llm_pipeline_assets.dedup.minhash import MinHasher, minhash_signatures
from llm_pipeline_assets.gpu.kernels import nvidia_device_present

__all__ = ["BACKEND_CHOICES", "SIGNATURE_ENGINES", "CpuDedupBackend", "TorchDedupBackend", "select_dedup_backend",
           "backend_from_config", "detect_cuda", "nvidia_device_present"]

BACKEND_CHOICES = ("auto", "cpu", "gpu")
SIGNATURE_ENGINES = ("torch", "cudf")
CudaAnswer = Union[bool, Callable[[], bool], None]


class CpuDedupBackend:
    """The numpy path: ``minhash_signatures`` + the union-find (what ``DedupIndexBuilder`` does by default)."""

    prepares_text = False
    name = "cpu"
    device = "cpu"
    signature_engine = "numpy"
    components_engine = "union-find"
    #: signatures are cheap to ship back from worker processes, so workers compute them too
    signatures_in_workers = True

    def signatures(self, shingles: np.ndarray, counts: np.ndarray, hasher: MinHasher,
                   words: Optional[Sequence[Sequence[str]]] = None) -> np.ndarray:
        return minhash_signatures(shingles, counts, hasher.a, hasher.b, hasher.chunk_shingles)

    def components(self, n: int, edges: np.ndarray) -> np.ndarray:
        return connected_components(n, edges)

    def describe(self) -> Dict[str, str]:
        return {"backend": self.name, "device": self.device, "signatures": self.signature_engine,
                "components": self.components_engine}


class TorchDedupBackend:
    """MinHash and components with torch on ``device`` (cuGraph for components on CUDA when importable)."""

    signatures_in_workers = False

    def __init__(self, device: str = "cuda", memory_budget: Optional[int] = None, prefer_cugraph: bool = True,
                 signature_engine: str = "torch", text_on_device: Optional[bool] = None,
                 lsh_on_device: Optional[bool] = None, fused_minhash: Optional[bool] = None):
        from llm_pipeline_assets.gpu.minhash import DEFAULT_MEMORY_BUDGET

        if signature_engine not in SIGNATURE_ENGINES:
            raise ValueError(f"dedup.gpu_minhash must be one of {SIGNATURE_ENGINES}, got {signature_engine!r}")
        self.device = str(device)
        self.name = "gpu" if self.device.startswith("cuda") else f"torch-{self.device}"
        self.memory_budget = int(memory_budget or DEFAULT_MEMORY_BUDGET)
        self.prefer_cugraph = prefer_cugraph
        self.signature_engine = signature_engine
        self.components_engine = "not run yet"
        self._minhashers: dict = {}
        # text preparation on the device: default on CUDA (torch's CPU kernels are slower than the C string
        # methods of the CPU path); cuDF's MinHash needs the word lists, so never with it
        on_device = self.device.startswith("cuda") if text_on_device is None else bool(text_on_device)
        self.prepares_text = on_device and signature_engine == "torch"
        # LSH banding + verification on the device (gpu/lsh.py): default on CUDA, like the text
        self.device_lsh = self.device.startswith("cuda") if lsh_on_device is None else bool(lsh_on_device)
        self.fused_minhash = fused_minhash  # None: TorchMinHasher's default (fused on CUDA)

    def prepare(self, texts: Sequence[str], hasher: MinHasher):
        """``(exact keys, shingle hashes, shingles per doc)`` of ``texts``, prepared on the device."""
        from llm_pipeline_assets.gpu.textprep import prepare_texts

        return prepare_texts(texts, self.device, hasher.ngram)

    def prepare_bytes(self, data, lengths, hasher: MinHasher):
        """``prepare`` from ``gpu.textprep.host_bytes(texts)`` computed elsewhere (a worker process), in bounded
        device passes (``textprep.split_bytes``)."""
        from llm_pipeline_assets.gpu.textprep import prepare_bytes

        return _in_passes(lambda d, n: prepare_bytes(d, n, self.device, hasher.ngram), data, lengths)

    def prepare_signatures(self, data, lengths, hasher: MinHasher):
        """``(exact keys, shingles per doc, signatures)`` from ``host_bytes`` output: ``prepare_bytes`` then the
        MinHash, with the shingle hashes kept on the device in between (no copy to the host and back)."""
        from llm_pipeline_assets.gpu.textprep import prepare_bytes

        exact_keys, shingles, counts = prepare_bytes(data, lengths, self.device, hasher.ngram, shingles_on_device=True,
                                                     defer_keys=True)
        queued = self._minhasher(hasher).queue(shingles, counts)  # the device hashes while the host does the keys
        keys = exact_keys()
        return keys, counts, queued.cpu().numpy().astype(np.uint32)

    def host_half(self, texts):
        """``gpu.textprep.texts_host_bytes``: the host half of the text preparation (``str``s or an Arrow column),
        for a caller that runs it ahead, e.g. in ``shards.prefetch``'s thread while the device works."""
        from llm_pipeline_assets.gpu.textprep import texts_host_bytes

        return texts_host_bytes(texts)

    def sign_bytes(self, data, lengths, hasher: MinHasher):
        """``prepare_signatures`` of ``host_half`` output of any size, in bounded device passes
        (``textprep.split_bytes``): ``(exact keys, shingles per doc, signatures)``."""
        return _in_passes(lambda d, n: self.prepare_signatures(d, n, hasher), data, lengths)

    def sign_texts(self, texts, hasher: MinHasher):
        """``(exact keys, signatures)`` of ``texts``: what the pipeline's ``DedupIndexBuilder.hash_texts`` asks of a
        backend that prepares text, unless it verifies by Jaccard. ``texts``: ``str``s, or an Arrow string column
        (read from a shard: no Python string per document)."""
        keys, _, signatures = self.sign_bytes(*self.host_half(texts), hasher)
        return keys, signatures

    def _minhasher(self, hasher: MinHasher):
        from llm_pipeline_assets.gpu.minhash import TorchMinHasher

        key = (hasher.num_perm, hasher.seed, hasher.a.tobytes(), hasher.b.tobytes())
        if key not in self._minhashers:
            self._minhashers[key] = TorchMinHasher(hasher, self.device, self.memory_budget, self.fused_minhash)
        return self._minhashers[key]

    def signatures(self, shingles, counts: np.ndarray, hasher: MinHasher,
                   words: Optional[Sequence[Sequence[str]]] = None) -> np.ndarray:
        """``shingles``: uint64 numpy hashes, or (torch engine) their int64 bits as a tensor on the device."""
        if self.signature_engine == "cudf":
            from llm_pipeline_assets.gpu.minhash import cudf_word_signatures

            if words is None:
                raise ValueError("dedup.gpu_minhash 'cudf' hashes word lists: pass words=")
            return cudf_word_signatures(words, hasher)
        return self._minhasher(hasher).signatures(shingles, counts)

    def lsh(self, signatures: np.ndarray, surv: np.ndarray, params):
        """LSH banding + verification on the device (``gpu/lsh.py``), or None to leave it to the host."""
        from llm_pipeline_assets.gpu.lsh import lsh_edges_on

        if not self.device_lsh:
            return None
        budget = self.memory_budget
        if self.device.startswith("cuda"):  # the signatures of every survivor at once: a share of what is free
            import torch

            budget = max(budget, torch.cuda.mem_get_info(torch.device(self.device))[0] // 2)
        return lsh_edges_on(signatures, surv, params, self.device, budget)

    def components(self, n: int, edges: np.ndarray) -> np.ndarray:
        from llm_pipeline_assets.gpu.components import components_on

        labels, self.components_engine = components_on(n, edges, self.device, self.prefer_cugraph)
        return labels

    def describe(self) -> Dict[str, str]:
        info = {"backend": self.name, "device": self.device, "signatures": self.signature_engine,
                "components": self.components_engine, "text": "device" if self.prepares_text else "cpu",
                "lsh": "device" if self.device_lsh else "host",
                "minhash": ", ".join(sorted({m.engine for m in self._minhashers.values()})) or "not run yet"}
        if self.device.startswith("cuda"):
            import torch

            info["device_name"] = torch.cuda.get_device_name(torch.device(self.device))
        return info


def _in_passes(step, data, lengths):
    """``step(data, lengths)`` over ``textprep.split_bytes`` passes, its array results concatenated."""
    from llm_pipeline_assets.gpu.textprep import split_bytes

    parts = [step(d, n) for d, n in split_bytes(data, lengths)]
    return parts[0] if len(parts) == 1 else tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))


def detect_cuda(cuda_available: CudaAnswer = None) -> bool:
    """Is a CUDA device usable?  ``cuda_available`` may be the answer, a probe (e.g. the compute
    resource's ``lambda: compute.device_info().cuda``) or None (ask torch).  Neither the probe nor torch
    is consulted on a machine without NVIDIA device nodes."""
    if isinstance(cuda_available, bool):
        return cuda_available
    if not nvidia_device_present():
        return False
    if callable(cuda_available):
        return bool(cuda_available())
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def select_dedup_backend(requested: str = "auto", cuda_available: CudaAnswer = None, signature_engine: str = "torch",
                         device: str = "cuda", memory_budget: Optional[int] = None):
    """The backend for ``dedup.backend = requested`` (see the module docstring for the policy)."""
    if requested not in BACKEND_CHOICES:
        raise ValueError(f"dedup.backend must be one of {BACKEND_CHOICES}, got {requested!r}")
    if signature_engine not in SIGNATURE_ENGINES:
        raise ValueError(f"dedup.gpu_minhash must be one of {SIGNATURE_ENGINES}, got {signature_engine!r}")
    if requested == "cpu":
        return CpuDedupBackend()
    cuda = detect_cuda(cuda_available)
    if not cuda:
        if requested == "gpu":
            raise RuntimeError("dedup.backend is 'gpu' but no CUDA device is visible to this process; "
                               "set dedup.backend to 'auto' (GPU when present, else CPU) or 'cpu'")
        return CpuDedupBackend()
    if signature_engine == "cudf" and importlib.util.find_spec("cudf") is None:
        raise RuntimeError("dedup.gpu_minhash is 'cudf' but cudf is not installed; use 'torch' "
                           "(bit-identical to the CPU path) or install cudf-cu12")
    return TorchDedupBackend(device, memory_budget=memory_budget, signature_engine=signature_engine)


def backend_from_config(dedup_cfg, cuda_available: CudaAnswer = None):
    """``select_dedup_backend`` from a ``DedupConfig`` (``dedup.backend`` and ``dedup.gpu_minhash``)."""
    return select_dedup_backend(dedup_cfg.backend, cuda_available, dedup_cfg.gpu_minhash)
