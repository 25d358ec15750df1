"""A MetaImage header longer than the reader looks at is refused with the limit it really has."""

from __future__ import annotations

import pytest

from bundle.errors import ElastographyInputError
from bundle.io import metaimage


def test_header_limit_is_64_mib_and_the_message_says_so(tmp_path, monkeypatch):
    assert metaimage._MAX_HEADER_BYTES == 64 << 20
    path = tmp_path / "long.mha"
    line = b"Comment = " + b"x" * 1013 + b"\n"  # 1 KiB
    path.write_bytes(line * ((64 << 10) + 1))  # over 64 MiB of header lines, no ElementDataFile
    with pytest.raises(ElastographyInputError, match="no ElementDataFile line within the first 64 MiB"):
        metaimage.read_metaimage(path)
    monkeypatch.setattr(metaimage, "_MAX_HEADER_BYTES", 1 << 20)  # the message follows the limit
    with pytest.raises(ElastographyInputError, match="within the first 1 MiB"):
        metaimage.read_metaimage(path)


def test_short_header_without_data_file_names_no_limit(tmp_path):
    path = tmp_path / "short.mha"
    path.write_bytes(b"NDims = 2\nDimSize = 4 4\n")
    with pytest.raises(ElastographyInputError, match=r"no ElementDataFile line$"):
        metaimage.read_metaimage(path)
