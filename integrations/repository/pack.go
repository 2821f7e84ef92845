package repository

import (
	"encoding/binary"
	"fmt"
)

// A pack file is a sequence of sealed blobs followed by the sealed pack header and a trailer:
//
//	blob_0 || … || blob_n-1 || seal(header) || uint32le(len(seal(header))) || "LBP1"
//
// The header lists every blob's type, ID, offset, stored length, plaintext length and flags, in the
// binary entry encoding that index files share (see docs/repository-format.md).
const packMagic = "LBP1"

const packTrailerSize = 8

// PackedBlob says where a blob is stored.
type PackedBlob struct {
	Type BlobType
	ID   ID
	// Pack is the pack file holding it; Offset and Length locate the sealed bytes in it.
	Pack   ID
	Offset uint32
	Length uint32
	// RawLength is the plaintext length; Compressed says whether the sealed bytes are zstd.
	RawLength  uint32
	Compressed bool
}

const (
	flagCompressed = 1 << 0
	entrySizeMax   = 2 + 32 + 3*binary.MaxVarintLen32
)

func appendEntry(b []byte, e PackedBlob) []byte {
	flags := byte(0)
	if e.Compressed {
		flags |= flagCompressed
	}
	b = append(b, byte(e.Type), flags)
	b = append(b, e.ID[:]...)
	b = binary.AppendUvarint(b, uint64(e.Offset))
	b = binary.AppendUvarint(b, uint64(e.Length))
	return binary.AppendUvarint(b, uint64(e.RawLength))
}

// entryReader decodes what appendEntry wrote, rejecting anything malformed.
type entryReader struct {
	b   []byte
	err error
}

func (r *entryReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (r *entryReader) uvarint(what string, max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad %s", what)
		return 0
	}
	if v > max {
		r.fail("%s %d out of range", what, v)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("truncated %s", what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *entryReader) entry(pack ID) PackedBlob {
	hdr := r.bytes(2, "entry")
	id := r.bytes(32, "blob id")
	var e PackedBlob
	if r.err != nil {
		return e
	}
	e.Type, e.Pack = BlobType(hdr[0]), pack
	if e.Type != DataBlob && e.Type != TreeBlob {
		r.fail("unknown blob type %d", hdr[0])
	}
	if hdr[1]&^flagCompressed != 0 {
		r.fail("unknown blob flags %#x", hdr[1])
	}
	e.Compressed = hdr[1]&flagCompressed != 0
	copy(e.ID[:], id)
	e.Offset = uint32(r.uvarint("offset", 1<<32-1))
	e.Length = uint32(r.uvarint("length", 1<<32-1))
	e.RawLength = uint32(r.uvarint("raw length", 1<<32-1))
	if r.err == nil && e.Length < sealOverhead {
		r.fail("blob %s: stored length %d is shorter than its seal", e.ID.Short(), e.Length)
	}
	return e
}

// packBuilder accumulates sealed blobs for one pack file.
type packBuilder struct {
	id      ID
	buf     []byte
	entries []PackedBlob
	// pooled says that buf is one of the Saver's recycled pack buffers.
	pooled bool
}

// add seals body (a blob's plaintext, compressed or not) onto the pack and records its entry.
func (p *packBuilder) add(k *keys, t BlobType, id ID, body []byte, rawLen int, compressed bool) {
	start := len(p.buf)
	p.buf = k.seal(p.buf, body, blobAAD(t, id))
	p.entries = append(p.entries, PackedBlob{
		Type: t, ID: id, Pack: p.id, Offset: uint32(start), Length: uint32(len(p.buf) - start),
		RawLength: uint32(rawLen), Compressed: compressed,
	})
}

// finish appends the sealed header and trailer and returns the whole pack file.
func (p *packBuilder) finish(k *keys) []byte {
	hdr := binary.AppendUvarint(make([]byte, 0, 8+len(p.entries)*entrySizeMax), uint64(len(p.entries)))
	for _, e := range p.entries {
		hdr = appendEntry(hdr, e)
	}
	start := len(p.buf)
	p.buf = k.seal(p.buf, hdr, packHeaderAAD(p.id))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(p.buf)-start))
	return append(p.buf, packMagic...)
}

func packHeaderAAD(id ID) []byte { return fileAAD("pack header " + id.String()) }

// parsePack reads the header of a whole pack file and checks every entry lies inside the blob area.
func parsePack(k *keys, id ID, pack []byte) ([]PackedBlob, error) {
	return parsePackTail(k, id, int64(len(pack)), pack)
}

// packHeaderLen reads the sealed header's length from the trailer at the end of tail, the last
// bytes of a pack of size bytes, and checks that it fits.
func packHeaderLen(id ID, size int64, tail []byte) (int64, error) {
	if size < packTrailerSize || len(tail) < packTrailerSize {
		return 0, fmt.Errorf("%w: pack %s is %d bytes, too short for a trailer", ErrCorrupt, id.Short(), size)
	}
	trailer := tail[len(tail)-packTrailerSize:]
	if string(trailer[4:]) != packMagic {
		return 0, fmt.Errorf("%w: pack %s has no pack trailer (truncated?)", ErrCorrupt, id.Short())
	}
	hlen := int64(binary.LittleEndian.Uint32(trailer))
	if hlen < sealOverhead || size-packTrailerSize-hlen < 0 {
		return 0, fmt.Errorf("%w: pack %s: header length %d does not fit", ErrCorrupt, id.Short(), hlen)
	}
	return hlen, nil
}

// parsePackTail reads a pack's header from tail, the last bytes of the pack (size bytes in all),
// which must hold the sealed header and the trailer.
func parsePackTail(k *keys, id ID, size int64, tail []byte) ([]PackedBlob, error) {
	hlen, err := packHeaderLen(id, size, tail)
	if err != nil {
		return nil, err
	}
	if int64(len(tail)) < hlen+packTrailerSize {
		return nil, fmt.Errorf("pack %s: %d bytes read of the %d its header takes", id.Short(), len(tail), hlen+packTrailerSize)
	}
	blobEnd := size - packTrailerSize - hlen
	sealed := tail[int64(len(tail))-packTrailerSize-hlen : len(tail)-packTrailerSize]
	hdr, err := k.open(nil, sealed, packHeaderAAD(id))
	if err != nil {
		return nil, fmt.Errorf("pack %s header: %w", id.Short(), err)
	}
	entries, err := decodePackHeader(id, hdr, int(blobEnd))
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	return entries, nil
}

// decodePackHeader decodes a pack header's plaintext; blobEnd bounds where blobs may lie.
func decodePackHeader(id ID, hdr []byte, blobEnd int) ([]PackedBlob, error) {
	r := &entryReader{b: hdr}
	n := r.uvarint("entry count", uint64(len(hdr)/34))
	entries := make([]PackedBlob, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		e := r.entry(id)
		if r.err == nil && int64(e.Offset)+int64(e.Length) > int64(blobEnd) {
			r.fail("blob %s lies past the end of the blobs", e.ID.Short())
		}
		entries = append(entries, e)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes in header", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return entries, nil
}
