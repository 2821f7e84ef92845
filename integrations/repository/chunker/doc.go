// Package chunker splits streams into content-defined chunks with FastCDC (normalized chunking), so
// that an insertion or deletion moves only the chunk boundaries near it and unchanged data
// deduplicates. The rolling hash's gear table is derived from a secret seed: chunk sizes leak nothing
// about content to someone who does not hold the key.
package chunker
