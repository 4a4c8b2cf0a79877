"""Document loaders: turn one file's bytes into a titled, sectioned LoadedDocument.

``LoaderRegistry().load(item, max_bytes=...)`` picks the loader by extension, Content-Type or
magic bytes and raises ``LoaderError`` (message starting with the file name) on any failure.
"""

from __future__ import annotations

from awsomechat.ingest.loaders.docx import DocxLoader
from awsomechat.ingest.loaders.faq import FaqLoader
from awsomechat.ingest.loaders.html import HtmlLoader, extract_links
from awsomechat.ingest.loaders.markdown import MarkdownLoader
from awsomechat.ingest.loaders.pdf import PdfLoader
from awsomechat.ingest.loaders.registry import Loader, LoaderRegistry, detect_format, supported_extensions
from awsomechat.ingest.loaders.text import TextLoader

__all__ = [
    "DocxLoader",
    "FaqLoader",
    "HtmlLoader",
    "Loader",
    "LoaderRegistry",
    "MarkdownLoader",
    "PdfLoader",
    "TextLoader",
    "detect_format",
    "extract_links",
    "supported_extensions",
]
