"""Errors the zoo raises: each names what went wrong and what to run to fix it."""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every zoo error."""


class UnknownEntryError(ZooError):
    """The name is not a zoo entry."""


class MissingPackageError(ZooError):
    """A weight package, a file inside it, or a module a builder needs is not installed."""


class CorruptPackageError(ZooError):
    """A weight package's file is there but is not the file the entry was made for."""


class CacheNotWritableError(ZooError):
    """The cache folder cannot be created or written to."""
