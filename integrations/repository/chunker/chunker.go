package chunker

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Params bound chunk sizes. Avg must be a power of two.
type Params struct {
	Min, Avg, Max int
}

// DefaultParams are the sizes Lifeboat repositories use: 512 KiB, 1 MiB, 4 MiB.
var DefaultParams = Params{Min: 512 << 10, Avg: 1 << 20, Max: 4 << 20}

// Validate reports parameters the chunker cannot use.
func (p Params) Validate() error {
	switch {
	case p.Min < 64 || p.Avg <= p.Min || p.Max <= p.Avg:
		return fmt.Errorf("chunker: want 64 <= min < avg < max, got %d, %d, %d", p.Min, p.Avg, p.Max)
	case bits.OnesCount(uint(p.Avg)) != 1:
		return fmt.Errorf("chunker: avg %d is not a power of two", p.Avg)
	case p.Max > 64<<20:
		return fmt.Errorf("chunker: max %d is over 64 MiB", p.Max)
	}
	return nil
}

// Table is a gear table: 256 pseudo-random words derived from a seed.
type Table [256]uint64

// NewTable derives the gear table from a 32-byte seed (AES-256 in counter mode over zeros).
func NewTable(seed []byte) (*Table, error) {
	if len(seed) != 32 {
		return nil, errors.New("chunker: seed must be 32 bytes")
	}
	block, err := aes.NewCipher(seed)
	if err != nil {
		return nil, err
	}
	var buf [256 * 8]byte
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(buf[:], buf[:])
	var t Table
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return &t, nil
}

// Chunker reads a stream and returns its chunks in order.
type Chunker struct {
	r      io.Reader
	table  *Table
	p      Params
	maskS  uint64 // harder to match: used below the average size
	maskL  uint64 // easier to match: used above it
	buf    []byte
	start  int // first unread byte in buf
	end    int // end of valid data in buf
	eof    bool
	err    error
	offset int64
}

// New returns a chunker over r. Its buffer, allocated on first read, holds two maximum-size chunks.
func New(r io.Reader, table *Table, p Params) *Chunker {
	bitsAvg := bits.TrailingZeros(uint(p.Avg))
	return &Chunker{
		r: r, table: table, p: p,
		maskS: spreadMask(bitsAvg + 2),
		maskL: spreadMask(bitsAvg - 2),
	}
}

// spreadMask returns a mask with n bits set, spread over the high half of the word as FastCDC
// recommends, so that matches depend on a window of recent bytes rather than the last few.
func spreadMask(n int) uint64 {
	var m uint64
	for i := 0; i < n; i++ {
		m |= 1 << (63 - 2*i%64)
	}
	if n > 32 {
		// More bits than fit spread out: fill from the top.
		m = ^uint64(0) << (64 - n)
	}
	return m
}

// Reset makes the chunker read a new stream, keeping its buffer.
func (c *Chunker) Reset(r io.Reader) {
	c.r, c.start, c.end, c.eof, c.err, c.offset = r, 0, 0, false, nil, 0
}

const readSize = 1 << 20

// Chunk is one piece of the stream. Data is valid only until the next call to Next.
type Chunk struct {
	Offset int64
	Data   []byte
}

// Next returns the next chunk, or io.EOF after the last one.
func (c *Chunker) Next() (Chunk, error) {
	if err := c.fill(); err != nil {
		return Chunk{}, err
	}
	n := c.end - c.start
	if n == 0 {
		return Chunk{}, io.EOF
	}
	size := c.cut(c.buf[c.start:c.end])
	ch := Chunk{Offset: c.offset, Data: c.buf[c.start : c.start+size]}
	c.start += size
	c.offset += int64(size)
	return ch, nil
}

// fill makes sure at least Max bytes (or the rest of the stream) are buffered.
func (c *Chunker) fill() error {
	if c.end-c.start >= c.p.Max || c.eof {
		if c.eof && c.err != nil && c.end == c.start {
			return c.err
		}
		return nil
	}
	if c.buf == nil {
		c.buf = make([]byte, 2*c.p.Max) // allocated on first use: small files never need it
	}
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	for c.end < len(c.buf) && !c.eof {
		// Read at most 1 MiB at a time: a long read(2) holds on to the goroutine's processor until
		// the runtime notices, idling a core the compressors could use.
		n, err := c.r.Read(c.buf[c.end:min(len(c.buf), c.end+readSize)])
		c.end += n
		if err == io.EOF {
			c.eof = true
		} else if err != nil {
			c.eof, c.err = true, err
			return err
		}
	}
	return nil
}

// cut returns the length of the next chunk of data (FastCDC with normalized chunking).
func (c *Chunker) cut(data []byte) int {
	n := len(data)
	if n <= c.p.Min {
		return n
	}
	if n > c.p.Max {
		n = c.p.Max
	}
	normal := c.p.Avg
	if n < normal {
		normal = n
	}
	t := c.table
	var fp uint64
	i := c.p.Min
	for ; i < normal; i++ {
		fp = (fp << 1) + t[data[i]]
		if fp&c.maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		fp = (fp << 1) + t[data[i]]
		if fp&c.maskL == 0 {
			return i + 1
		}
	}
	return n
}
