"""Read an encoded file back with PyAV: duration, chapters, tags, decoded samples."""
from __future__ import annotations

import av
import numpy as np


def probe(path) -> dict:
    with av.open(str(path)) as c:
        chapters = [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]), ch["metadata"].get("title"))
                    for ch in c.chapters()]
        tags = dict(c.metadata)
        tags.update(c.streams.audio[0].metadata)
        return {"duration": c.duration / 1e6, "chapters": chapters, "tags": tags,
                "rate": c.streams.audio[0].rate}


def decode(path, rate: int) -> np.ndarray:
    """Mono float32 samples at `rate`."""
    out = []
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in c.decode(audio=0):
            for f in resampler.resample(frame):
                out.append(f.to_ndarray().reshape(-1))
        for f in resampler.resample(None):
            out.append(f.to_ndarray().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)
