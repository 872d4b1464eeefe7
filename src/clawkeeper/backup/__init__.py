"""clawkeeper's backup engine: a deduplicated, encrypted, crash-safe snapshot repository.

Layers, bottom up (docs/backup.md describes the on-disk format):
  targets/      where repository objects live (a local folder; SFTP and S3 plug in here)
  crypto, keys  AEAD sealing, keyed blob ids, the master key and how it is unlocked
  chunker       content-defined chunks for ordinary files, page-aligned chunks for SQLite
  packs, index  blobs sealed into packs; the index says which pack holds which blob
  repository    opening a repository, reading and writing blobs and objects
  tree, snapshots  what a snapshot records about each file, and the snapshot object itself
  sources, sqlite_capture, create   what to back up for an OpenClaw agent, and taking a snapshot
  restore, verify, retention, forget, prune, diff   everything done with snapshots afterwards

Nothing here prints; long operations report through a `progress.ProgressCallback`.
"""
