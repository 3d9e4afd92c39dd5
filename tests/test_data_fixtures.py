"""Shared builders for the data tests: two tokenizer styles, image processors, fixture files from real photos."""

from __future__ import annotations

import base64
import functools
import io
import json
from pathlib import Path

import skimage
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import BitImageProcessor, CLIPImageProcessor, PreTrainedTokenizerFast

PHOTOS = Path(skimage.__file__).parent / "data"
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA2_CHAT = (
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token }}[INST] {{ m['content'] }} [/INST]"
    "{% else %} {{ m['content'] }} {{ eos_token }}{% endif %}{% endfor %}"
)
CORPUS = [
    "##Instruction: Describe the image. ##Question: what is the cat doing? ##Answer: The cat is sitting.",
    "a cat with stripes sits on a mat; an astronaut in a suit; a cup of coffee on a saucer",
    "what color is the shape? blue red green yellow circle rectangle triangle yes no",
    "Write a short caption. What is in the picture? Answer the question in one word. [INST] [/INST]",
] * 20


@functools.cache
def tokenizer(style: str) -> PreTrainedTokenizerFast:
    """'gpt2': byte-level BPE, no BOS added, EOS <|endoftext|>, no pad token.
    'llama': metaspace BPE that adds <s>, EOS </s>, pad <pad>, with a Llama-2 chat template (EOS in the turn).
    The gpt2 style carries ChatML, whose turns end with <|im_end|> rather than EOS."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] if style == "gpt2" else ["<s>", "</s>", "<pad>"]
    tok = Tokenizer(models.BPE(unk_token=None if style == "gpt2" else "<unk>"))
    if style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        specials.append("<unk>")
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, initial_alphabet=alphabet)
    tok.train_from_iterator(CORPUS, trainer)
    if style == "gpt2":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                       chat_template=CHATML)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", chat_template=LLAMA2_CHAT)


def clip_processor(size: int = 32) -> CLIPImageProcessor:
    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def bit_processor(size: int = 28) -> BitImageProcessor:
    return BitImageProcessor(size={"shortest_edge": size + 4}, crop_size={"height": size, "width": size},
                             image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


def photo(name: str = "chelsea.png", side: int = 96) -> Image.Image:
    image = Image.open(PHOTOS / name).convert("RGB")
    image.thumbnail((side, side))
    return image


def encoded(image: Image.Image, format: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=format)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def m3it_row(name: str = "chelsea.png", outputs: str = "A cat sits on a mat.", **overrides: object) -> dict:
    row = {"instruction": "Write a short caption.", "inputs": "", "outputs": outputs,
           "image_base64_str": [b64(encoded(photo(name)))]}
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def good_m3it(path: Path) -> Path:
    return write_jsonl(path, [m3it_row(n) for n in ("chelsea.png", "astronaut.png", "coffee.png")])
