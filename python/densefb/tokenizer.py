"""BERT WordPiece tokenization identical to Hugging Face ``tokenizers`` (BertTokenizerFast).

``Tokenizer`` wraps the compiled ``densefb._core.WordPieceTokenizer``; it gives the same
``input_ids``, ``attention_mask`` and ``token_type_ids`` as ``transformers.AutoTokenizer`` for
BERT-family models (MiniLM, BGE, BERT, ...), without torch or transformers::

    tok = densefb.Tokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    batch = tok.tokenize(["a query", "another one"], max_length=256)
    batch["input_ids"]        # int64 (2, longest), right-padded with tok.pad_token_id
    tok.tokenize(queries, pairs=docs, max_length=512)   # cross-encoder input, longest_first
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from densefb._core import WordPieceTokenizer as _CoreTokenizer

__all__ = ["Tokenizer"]

PathLike = Union[str, "os.PathLike[str]"]


def _has_tokenizer_files(path: Path) -> bool:
    return (path / "tokenizer.json").is_file() or (path / "vocab.txt").is_file()


def _tokenizer_dir(model_dir: Path) -> Path:
    """The folder holding the tokenizer files of a model folder: the folder itself, or the
    Transformer module folder named in a sentence-transformers ``modules.json``."""
    if _has_tokenizer_files(model_dir):
        return model_dir
    modules = model_dir / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            sub = model_dir / str(entry.get("path", ""))
            if entry.get("type", "").endswith("Transformer") and _has_tokenizer_files(sub):
                return sub
    return model_dir


class Tokenizer:
    """A BERT WordPiece tokenizer with Hugging Face's exact ids.

    Loads ``tokenizer.json`` when present (normalizer, pre-tokenizer, WordPiece model, added
    tokens and post-processor as ``tokenizers`` reads them), else ``vocab.txt`` +
    ``tokenizer_config.json`` as transformers' ``BertTokenizer`` builds them. Tokenizers that
    cannot be reproduced exactly (BPE, Unigram, other normalizers) raise ``NotImplementedError``.

    Truncation: ``max_length=None`` truncates to :attr:`model_max_length` (when known);
    ``truncation=False`` disables it. The length counts the special tokens.
    Methods are thread-safe and release the GIL for batch work.
    """

    def __init__(self, core: _CoreTokenizer, path: Optional[Path] = None):
        if not isinstance(core, _CoreTokenizer):
            raise TypeError("use Tokenizer.from_pretrained(name_or_path) to create a Tokenizer")
        self._core = core
        self.path = path

    # ---- construction ----

    @classmethod
    def from_pretrained(cls, name_or_path: PathLike) -> "Tokenizer":
        """The tokenizer of a model given by folder or Hugging Face name (offline).

        A folder is loaded directly (it needs ``tokenizer.json`` or ``vocab.txt``); a name such as
        ``"sentence-transformers/all-MiniLM-L6-v2"`` is resolved by
        :func:`densefb.models.resolve_model` (installed model packages, then the Hugging Face
        cache). FileNotFoundError if nothing is found.
        """
        path = Path(os.fspath(name_or_path))
        if not path.is_dir():
            from densefb.models import resolve_model

            path = resolve_model(name_or_path)
        directory = _tokenizer_dir(path)
        return cls(_CoreTokenizer.from_directory(str(directory)), directory)

    @classmethod
    def from_tokenizer_json(cls, path: PathLike,
                            tokenizer_config: Optional[PathLike] = None) -> "Tokenizer":
        """Loads a ``tokenizer.json`` file (optionally with its ``tokenizer_config.json``)."""
        config = None if tokenizer_config is None else os.fspath(tokenizer_config)
        return cls(_CoreTokenizer.from_tokenizer_json(os.fspath(path), config),
                   Path(os.fspath(path)).parent)

    # ---- encoding ----

    def _max_length(self, max_length: Optional[int], truncation: bool) -> int:
        if not truncation:
            return 0
        if max_length is None:
            return self._core.model_max_length or 0
        if max_length <= 0:
            raise ValueError(f"max_length = {max_length} must be positive (or None)")
        return int(max_length)

    def tokenize(self, texts: Union[str, Sequence[str]], max_length: Optional[int] = None,
                 pairs: Optional[Sequence[str]] = None, *, truncation: bool = True,
                 add_special_tokens: bool = True, pad_to_multiple_of: Optional[int] = None,
                 num_threads: int = 1) -> Dict[str, np.ndarray]:
        """Encodes a batch into padded int64 arrays.

        Returns ``{"input_ids", "attention_mask", "token_type_ids"}``, each of shape
        ``(len(texts), longest)``; rows are right-padded with :attr:`pad_token_id` (mask 0, type 0).
        With ``pairs`` (same length as ``texts``), row i encodes ``[CLS] texts[i] [SEP] pairs[i]
        [SEP]`` with token type ids 0 then 1, truncated longest-first as Hugging Face does.
        A single str is a batch of one. ``num_threads``: 0 uses all cores.
        """
        if isinstance(texts, str):
            texts = [texts]
            if isinstance(pairs, str):
                pairs = [pairs]
        elif isinstance(pairs, str):
            raise TypeError("pairs must be a list of str when texts is a list")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
        ids, mask, types = self._core.encode_batch(
            texts, pairs, self._max_length(max_length, truncation), add_special_tokens,
            pad_to_multiple_of or 0, num_threads)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    __call__ = tokenize

    def encode(self, text: str, pair: Optional[str] = None, *, max_length: Optional[int] = None,
               truncation: bool = True, add_special_tokens: bool = True) -> List[int]:
        """Token ids of one text (or of the pair ``text``, ``pair``), special tokens included."""
        n = self._max_length(max_length, truncation)
        if pair is None:
            return self._core.encode(text, n, add_special_tokens)
        return self._core.encode_pair(text, pair, n, add_special_tokens)[0]

    def tokens(self, text: str) -> List[str]:
        """The WordPiece tokens of a text, without special tokens (transformers' tokenize())."""
        return self._core.tokenize(text)

    def normalize(self, text: str) -> str:
        """The text after BertNormalizer (cleaning, CJK spacing, accents, lowercase)."""
        return self._core.normalize(text)

    def pre_tokenize(self, text: str) -> List[str]:
        """The normalized words of a text, as WordPiece receives them."""
        return self._core.pre_tokenize(text)

    # ---- vocabulary ----

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]]) -> Union[str, List[str]]:
        """Token string(s) of id(s); IndexError for an id outside the vocabulary."""
        if isinstance(ids, (int, np.integer)):
            return self._core.id_to_token(int(ids))
        return [self._core.id_to_token(int(i)) for i in np.asarray(ids).ravel()]

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str]]) -> Union[int, List[int]]:
        """Id(s) of token(s); unknown tokens give :attr:`unk_token_id` (like transformers)."""
        unk = self._core.unk_token_id
        if isinstance(tokens, str):
            found = self._core.token_to_id(tokens)
            return unk if found is None else found
        out = []
        for t in tokens:
            found = self._core.token_to_id(t)
            out.append(unk if found is None else found)
        return out

    @property
    def vocab_size(self) -> int:
        """Size of the WordPiece vocabulary."""
        return self._core.vocab_size

    def __len__(self) -> int:
        """Number of ids, added tokens included."""
        return self._core.num_ids

    @property
    def model_max_length(self) -> Optional[int]:
        """The model's maximum sequence length (tokenizer_config.json), or None if unknown."""
        return self._core.model_max_length

    @property
    def cls_token_id(self) -> int:
        return self._core.cls_token_id

    @property
    def sep_token_id(self) -> int:
        return self._core.sep_token_id

    @property
    def pad_token_id(self) -> Optional[int]:
        """Id of the pad token (None if the vocabulary has none; padding then uses 0)."""
        return self._core.pad_token_id

    @property
    def mask_token_id(self) -> Optional[int]:
        return self._core.mask_token_id

    @property
    def unk_token_id(self) -> int:
        return self._core.unk_token_id

    @property
    def do_lower_case(self) -> bool:
        return self._core.do_lower_case

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """Special tokens added around one sequence (2 for BERT) or a pair (3)."""
        return self._core.num_special_tokens(pair)

    def __repr__(self) -> str:
        where = f" path={str(self.path)!r}" if self.path is not None else ""
        return (f"<densefb.Tokenizer vocab_size={self.vocab_size} "
                f"lowercase={self.do_lower_case} model_max_length={self.model_max_length}{where}>")
