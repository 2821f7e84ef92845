// Package repository is Lifeboat's backup engine: an encrypted, deduplicated, verifiable repository of
// snapshots stored in any storage.Backend. Files are split into content-defined chunks, each stored
// once under a keyed hash of its content, compressed with zstd, sealed with AES-256-GCM and packed
// into pack files; index files say where every blob lives, trees describe directories, and snapshot
// manifests name the root tree. docs/repository-format.md describes the format byte by byte.
package repository
