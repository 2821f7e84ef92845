package bench

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// datasetSpec describes a generated dataset. The same spec always gives the same bytes, so figures
// from different runs and machines compare.
type datasetSpec struct {
	name      string // folder under $LIFEBOAT_BENCH_DATA; bump its version when the generator changes
	large     int    // large files of each kind: log text, random
	largeSize int64
	dirs      int // leaf folders of small files, ten to a parent folder
	perDir    int
	smallMin  int // small file sizes, uniform in [smallMin, smallMax]
	smallMax  int
}

// mixedDataset is about 1 GiB of large files, half log text and half random, plus 20,000 small
// files of 1–16 KiB, half text and half random.
var mixedDataset = datasetSpec{
	name: "mixed-v1", large: 8, largeSize: 64 << 20,
	dirs: 100, perDir: 200, smallMin: 1 << 10, smallMax: 16 << 10,
}

// manyFilesDataset is 100,000 files of 1–4 KiB, half text and half random, in 500 folders.
var manyFilesDataset = datasetSpec{
	name: "files100k-v1", dirs: 500, perDir: 200, smallMin: 1 << 10, smallMax: 4 << 10,
}

func (s datasetSpec) String() string {
	small := fmt.Sprintf("%d files of %s–%s in %d folders, half text, half random",
		s.dirs*s.perDir, sizeHuman(int64(s.smallMin)), sizeHuman(int64(s.smallMax)), s.dirs)
	if s.large == 0 {
		return small
	}
	return fmt.Sprintf("%d × %s log text + %d × %s random; %s",
		s.large, sizeHuman(s.largeSize), s.large, sizeHuman(s.largeSize), small)
}

// fileSum is what a tree comparison looks at: kind, size and a CRC-32C of the content.
type fileSum struct {
	dir  bool
	size int64
	crc  uint32
}

// manifest maps slash-separated paths relative to a tree's root to their sums.
type manifest map[string]fileSum

// dataset is a generated tree on disk and its manifest.
type dataset struct {
	dir   string // absolute, symlinks resolved (restic records the real path)
	sums  manifest
	bytes int64
	files int
}

// prepareDataset returns the dataset for spec. With LIFEBOAT_BENCH_DATA set, it lives in
// $LIFEBOAT_BENCH_DATA/<spec.name> and is generated only when the marker file
// $LIFEBOAT_BENCH_DATA/<spec.name>.complete is missing; otherwise it is generated under scratch.
func prepareDataset(b *testing.B, spec datasetSpec, scratch string) *dataset {
	b.Helper()
	parent, cached := os.LookupEnv("LIFEBOAT_BENCH_DATA")
	if !cached || parent == "" {
		parent, cached = scratch, false
	}
	dir := filepath.Join(parent, spec.name)
	marker := dir + ".complete"
	reused := false
	if _, err := os.Stat(marker); cached && err == nil {
		reused = true
	} else {
		if err := os.RemoveAll(dir); err != nil {
			b.Fatalf("dataset: remove partial %s: %v", dir, err)
		}
		start := time.Now()
		if err := generate(spec, dir); err != nil {
			b.Fatalf("dataset: %v", err)
		}
		if cached {
			if err := os.WriteFile(marker, []byte(spec.String()+"\n"), 0o644); err != nil {
				b.Fatalf("dataset: %v", err)
			}
		}
		fmt.Printf("generated %s in %s\n", spec.name, time.Since(start).Round(time.Millisecond))
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		b.Fatalf("dataset: %v", err)
	}
	sums, err := sumTree(dir)
	if err != nil {
		b.Fatalf("dataset: %v", err)
	}
	d := &dataset{dir: dir, sums: sums}
	for _, s := range sums {
		if !s.dir {
			d.files++
			d.bytes += s.size
		}
	}
	how := "generated"
	if reused {
		how = "reused"
	}
	fmt.Printf("dataset %s (%s): %s in %d files at %s\n  %s\n", spec.name, how, sizeHuman(d.bytes), d.files, dir, spec)
	return d
}

// genJob is one file to write.
type genJob struct {
	path string
	text bool
	size int64
	seed uint64
}

// generate writes spec's files under dir, on every CPU. Every file has its own seed, so the
// order in which the workers take them does not change the bytes.
func generate(spec datasetSpec, dir string) error {
	var jobs []genJob
	seed := uint64(0x1feb0a7)
	for i := range spec.large {
		jobs = append(jobs,
			genJob{filepath.Join(dir, "large", fmt.Sprintf("app-%02d.log", i)), true, spec.largeSize, seed + uint64(i)},
			genJob{filepath.Join(dir, "large", fmt.Sprintf("blob-%02d.bin", i)), false, spec.largeSize, seed + 1000 + uint64(i)})
	}
	sizes := rand.New(rand.NewPCG(seed, 1))
	for d := range spec.dirs {
		folder := filepath.Join(dir, "small", fmt.Sprintf("g%02d", d/10), fmt.Sprintf("d%03d", d))
		for f := range spec.perDir {
			n := d*spec.perDir + f
			name := fmt.Sprintf("f%03d.bin", f)
			if f%2 == 0 {
				name = fmt.Sprintf("f%03d.txt", f)
			}
			size := spec.smallMin + sizes.IntN(spec.smallMax-spec.smallMin+1)
			jobs = append(jobs, genJob{filepath.Join(folder, name), f%2 == 0, int64(size), seed + 1_000_000 + uint64(n)})
		}
	}
	for _, j := range jobs {
		if err := os.MkdirAll(filepath.Dir(j.path), 0o755); err != nil {
			return err
		}
	}

	work := make(chan genJob)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range work {
				if err := writeFile(j); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func writeFile(j genJob) error {
	var src io.Reader
	if j.text {
		src = newLogText(j.seed)
	} else {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], j.seed)
		src = rand.NewChaCha8(key)
	}
	f, err := os.Create(j.path)
	if err != nil {
		return err
	}
	const chunk = 1 << 20
	_, err = io.CopyBuffer(onlyWriter{f}, io.LimitReader(src, j.size), make([]byte, min(j.size, chunk)))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", j.path, err)
	}
	return nil
}

// onlyWriter hides *os.File's ReadFrom, so that io.CopyBuffer uses the buffer it is given.
type onlyWriter struct{ io.Writer }

// logText is an endless application log: timestamps a few milliseconds apart, levels, components,
// messages from 1,000 templates of made-up words (a third of them followed by free text), and
// key=value fields with ids, paths, status codes and latencies. zstd shrinks it 4.6× at level 1
// and 5.7× at level 3; lines do not repeat.
type logText struct {
	r        *rand.Rand
	words    *rand.Zipf
	messages *rand.Zipf
	now      time.Time
	buf      []byte // generated but not yet read
}

// vocabulary is 4,096 pronounceable made-up words, the same in every run.
var vocabulary = func() []string {
	r := rand.New(rand.NewPCG(7, 7))
	onsets := []string{"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "pl", "ch", "sh", "gr", "br", ""}
	vowels := []string{"a", "e", "i", "o", "u", "ea", "io", "ou", "y"}
	codas := []string{"", "", "", "n", "r", "s", "t", "l", "nd", "ck", "ng", "rt", "x"}
	words := make([]string, 4096)
	for i := range words {
		var w []byte
		for range 1 + r.IntN(3) {
			w = append(w, onsets[r.IntN(len(onsets))]...)
			w = append(w, vowels[r.IntN(len(vowels))]...)
			w = append(w, codas[r.IntN(len(codas))]...)
		}
		words[i] = string(w)
	}
	return words
}()

// logMessages are 1,000 message templates of 3–10 vocabulary words, as a program's log calls
// would have.
var logMessages = func() []string {
	r := rand.New(rand.NewPCG(8, 8))
	msgs := make([]string, 1000)
	for i := range msgs {
		var m []byte
		for j := range 3 + r.IntN(8) {
			if j > 0 {
				m = append(m, ' ')
			}
			m = append(m, vocabulary[r.IntN(len(vocabulary))]...)
		}
		msgs[i] = string(m)
	}
	return msgs
}()

var (
	logLevels     = []string{"INFO ", "INFO ", "INFO ", "INFO ", "DEBUG", "DEBUG", "WARN ", "ERROR"}
	logComponents = []string{"api.orders", "api.users", "db.pool", "cache", "scheduler", "auth", "billing", "mailer", "search.index", "storage.s3", "worker.queue", "http.server"}
	logMethods    = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	logStatuses   = []int64{200, 200, 200, 200, 201, 204, 301, 400, 404, 409, 500, 503}
)

func newLogText(seed uint64) *logText {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &logText{
		r:        r,
		words:    rand.NewZipf(r, 1.3, 2, uint64(len(vocabulary)-1)),
		messages: rand.NewZipf(r, 1.1, 4, uint64(len(logMessages)-1)),
		now:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed%1_000_000) * time.Second),
	}
}

func (g *logText) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) {
		g.buf = g.appendLine(g.buf)
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

func (g *logText) appendLine(b []byte) []byte {
	r := g.r
	g.now = g.now.Add(time.Duration(r.IntN(40_000)) * time.Microsecond)
	b = g.now.AppendFormat(b, "2006-01-02T15:04:05.000Z ")
	b = append(b, logLevels[r.IntN(len(logLevels))]...)
	b = append(b, " ["...)
	b = append(b, logComponents[r.IntN(len(logComponents))]...)
	b = append(b, "] "...)
	b = append(b, logMessages[g.messages.Uint64()]...)
	if r.IntN(3) == 0 { // free text, such as an error's detail
		b = append(b, ':')
		for range 1 + r.IntN(4) {
			b = append(b, ' ')
			b = append(b, vocabulary[g.words.Uint64()]...)
		}
	}
	switch r.IntN(3) {
	case 0: // a request
		b = append(b, " method="...)
		b = append(b, logMethods[r.IntN(len(logMethods))]...)
		b = append(b, " path=/v1/"...)
		b = append(b, vocabulary[g.words.Uint64()]...)
		b = append(b, '/')
		b = appendInt(b, r.Int64N(1+r.Int64N(20_000)))
		b = append(b, " status="...)
		b = appendInt(b, logStatuses[r.IntN(len(logStatuses))])
		b = append(b, " latency_ms="...)
		b = appendInt(b, r.Int64N(1+r.Int64N(2_000)))
	case 1: // a job, one of a few thousand that come back
		job := uint64(r.IntN(1 + r.IntN(5_000)))
		b = append(b, " job="...)
		b = appendHex(b, job*0x9e3779b97f4a7c15, 12)
		b = append(b, " attempt="...)
		b = appendInt(b, 1+r.Int64N(1+r.Int64N(5)))
		b = append(b, " rows="...)
		b = appendInt(b, r.Int64N(1+r.Int64N(100_000)))
	default: // a user action, in the user's session
		user := uint64(r.IntN(1 + r.IntN(20_000)))
		b = append(b, " user=u-"...)
		b = appendInt(b, int64(user))
		b = append(b, " session="...)
		b = appendHex(b, user*0xbf58476d1ce4e5b9, 8)
	}
	return append(b, '\n')
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendHex appends the low digits hex digits of v, zero-padded.
func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[(v>>(4*i))&0xf])
	}
	return b
}

// sumTree walks root and sums every file and folder below it (root itself excluded).
// Anything else, such as a symlink, is an error: the datasets hold none.
func sumTree(root string) (manifest, error) {
	m := manifest{}
	table := crc32.MakeTable(crc32.Castagnoli)
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			m[rel] = fileSum{dir: true}
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file or folder (%s)", path, d.Type())
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := crc32.New(table)
		n, err := io.CopyBuffer(h, f, buf)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		m[rel] = fileSum{size: n, crc: h.Sum32()}
		return nil
	})
	return m, err
}

// diff lists how got differs from want, at most limit lines.
func (want manifest) diff(got manifest, limit int) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < limit {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			add("missing: %s", p)
		case g.dir != w.dir:
			add("%s: folder %v, want %v", p, g.dir, w.dir)
		case g.size != w.size:
			add("%s: %d bytes, want %d", p, g.size, w.size)
		case g.crc != w.crc:
			add("%s: content differs (crc32c %08x, want %08x)", p, g.crc, w.crc)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			add("unexpected: %s", p)
		}
	}
	return out
}

// sizeHuman formats n bytes in binary units.
func sizeHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
