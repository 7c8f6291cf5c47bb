"""Text front-end of IndexTTS 1.5 and 2 (normaliser, BPE tokenizer, segmenter, batching)."""
from indexstudio.text.indextts.frontend import IndexTextFrontend, load_text_frontend, space_cjk_upper
from indexstudio.text.indextts.normalizer import IndexTextNormalizer, read_glossary, replace_punctuation
from indexstudio.text.indextts.segments import infer_fast_buckets, pad_text_batch, split_at_pieces, split_segments

__all__ = [
    "IndexTextFrontend", "IndexTextNormalizer", "infer_fast_buckets", "load_text_frontend", "pad_text_batch",
    "read_glossary", "replace_punctuation", "space_cjk_upper", "split_at_pieces", "split_segments",
]
