package chunker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func table(t testing.TB, seed byte) *Table {
	t.Helper()
	tb, err := NewTable(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func chunks(t testing.TB, data []byte, tb *Table, p Params) [][]byte {
	t.Helper()
	c := New(bytes.NewReader(data), tb, p)
	var out [][]byte
	var off int64
	for {
		ch, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Offset != off {
			t.Fatalf("chunk offset %d, want %d", ch.Offset, off)
		}
		off += int64(len(ch.Data))
		out = append(out, bytes.Clone(ch.Data))
	}
	return out
}

func TestChunksReassembleAndRespectBounds(t *testing.T) {
	data := randomData(40<<20, 1)
	got := chunks(t, data, table(t, 1), DefaultParams)
	if !bytes.Equal(bytes.Join(got, nil), data) {
		t.Fatal("chunks do not reassemble to the input")
	}
	total := 0
	for i, c := range got {
		if len(c) > DefaultParams.Max || (len(c) < DefaultParams.Min && i != len(got)-1) {
			t.Fatalf("chunk %d has %d bytes, outside [%d, %d]", i, len(c), DefaultParams.Min, DefaultParams.Max)
		}
		total += len(c)
	}
	avg := total / len(got)
	if avg < DefaultParams.Avg/2 || avg > DefaultParams.Avg*2 {
		t.Fatalf("average chunk %d bytes, far from %d", avg, DefaultParams.Avg)
	}
}

func TestInsertionMovesOnlyNearbyBoundaries(t *testing.T) {
	data := randomData(32<<20, 2)
	edited := append(append(bytes.Clone(data[:10<<20]), []byte("an insertion in the middle")...), data[10<<20:]...)
	tb := table(t, 2)
	seen := map[[32]byte]bool{}
	for _, c := range chunks(t, data, tb, DefaultParams) {
		seen[sha256.Sum256(c)] = true
	}
	after := chunks(t, edited, tb, DefaultParams)
	shared := 0
	for _, c := range after {
		if seen[sha256.Sum256(c)] {
			shared++
		}
	}
	if shared < len(after)-3 {
		t.Fatalf("only %d of %d chunks survive a small insertion", shared, len(after))
	}
}

func TestSeedChangesBoundaries(t *testing.T) {
	data := randomData(16<<20, 3)
	a := chunks(t, data, table(t, 1), DefaultParams)
	b := chunks(t, data, table(t, 2), DefaultParams)
	if len(a) == len(b) {
		same := true
		for i := range a {
			if len(a[i]) != len(b[i]) {
				same = false
			}
		}
		if same {
			t.Fatal("two seeds cut the same boundaries")
		}
	}
}

func TestSmallAndEmptyInputs(t *testing.T) {
	if got := chunks(t, nil, table(t, 1), DefaultParams); len(got) != 0 {
		t.Fatalf("empty input gave %d chunks", len(got))
	}
	small := randomData(1000, 4)
	got := chunks(t, small, table(t, 1), DefaultParams)
	if len(got) != 1 || !bytes.Equal(got[0], small) {
		t.Fatalf("small input gave %d chunks", len(got))
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestReadErrorIsReturned(t *testing.T) {
	c := New(&failingReader{n: 100}, table(t, 1), DefaultParams)
	var err error
	for err == nil {
		_, err = c.Next()
	}
	if err.Error() != "disk on fire" {
		t.Fatalf("error = %v", err)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{{Min: 10, Avg: 64, Max: 128}, {Min: 1024, Avg: 3000, Max: 8192}, {Min: 2048, Avg: 1024, Max: 8192}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func BenchmarkChunker(b *testing.B) {
	data := randomData(64<<20, 5)
	tb := table(b, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := New(bytes.NewReader(data), tb, DefaultParams)
		for {
			if _, err := c.Next(); err != nil {
				break
			}
		}
	}
}
