"""Ultrasound strain elastography as a MONAI bundle: RF in, displacement and strain out.

Error policy (every module follows it):

- **Data and files** raise :class:`bundle.errors.ElastographyInputError` (a ``ValueError``) naming the file
  when there is one: a corrupt or unreadable file, missing metadata, RF with NaN/Inf or of the wrong shape,
  frames that do not match, a sidecar value that makes no sense. Command-line entry points turn it into one
  line and exit status 2.
- **Bad arguments** raise ``ValueError``, as MONAI does: a parameter out of range, an unknown option, or an
  array of the wrong shape handed over by the calling code (e.g. to a metric), unless it was read from a file.
- A PACS that cannot be reached raises :class:`bundle.errors.PacsError`.

Amplitude normalisation lives in :mod:`bundle.amplitude` (one function per statistic).
"""
