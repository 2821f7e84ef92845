package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-dr/lifeboat/testsuite/miniotest"
)

// BenchmarkRestoreVsRestic restores the ~1.2 GiB mixed dataset (1 GiB in 16 large files, half log
// text and half random, plus 20,000 small files) with Debian's restic and with the lifeboat CLI
// built from this tree, each from its own repository, on three backends: local disk, MinIO (S3)
// and fake-gcs-server (GCS). Each tool first backs the dataset up once; then the restores
// alternate, restic then lifeboat, LIFEBOAT_BENCH_ROUNDS times (default 5), each into a fresh
// folder that is compared file by file with the dataset (a wrong restore fails the benchmark).
// The folders are removed when the backend's rounds are over (about 2.4 GiB per round), and the
// next backend's restores wait until the file system has settled from that (settleTime). Every
// command is followed by sync(2); nothing else (no cache dropping) happens between them. It prints, per backend and tool, the median wall time and
// the median and highest peak RSS (from wait4's rusage), and lifeboat's ratios to restic. The
// figures are not assertions.
//
// Both tools run with their defaults: restic with --no-cache (lifeboat keeps no cache) and its
// default connections (2 local, 5 for S3 and GCS). restic 0.14 cannot be given a GCS endpoint,
// so both tools reach fake-gcs-server through an HTTPS front in this process (see tlsFront):
// restic as a CONNECT proxy (HTTPS_PROXY, --cacert), lifeboat as its https endpoint.
func BenchmarkRestoreVsRestic(b *testing.B) {
	resticBin := lookRestic(b)
	scratch := scratchDir(b)
	lifeboatBin := buildLifeboat(b, scratch)
	ds := prepareDataset(b, mixedDataset, scratch)
	rounds := 5
	if v := os.Getenv("LIFEBOAT_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("LIFEBOAT_BENCH_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	backends := []string{"local", "minio", "gcs"}
	if v := os.Getenv("LIFEBOAT_BENCH_BACKENDS"); v != "" {
		backends = strings.Split(v, ",")
	}
	var results []restoreResult
	var removed time.Time // when the last restores were deleted
	for b.Loop() {
		results = results[:0]
		for _, name := range backends {
			run := mkdirTemp(b, scratch, name+"-")
			tools := restoreTools(b, name, run, resticBin, lifeboatBin)
			results = append(results, benchRestores(b, ds, run, name, tools, rounds, removed))
			if !keep() {
				if err := os.RemoveAll(run); err != nil {
					b.Fatal(err)
				}
				syscall.Sync()
				removed = time.Now()
			}
		}
	}
	printRestoreComparison(ds, rounds, results)
	for _, r := range results {
		b.ReportMetric(r.median(0).Seconds()/r.median(1).Seconds(), r.backend+"-restore-x")
		b.ReportMetric(float64(r.maxRSS(1))/float64(r.maxRSS(0)), r.backend+"-peak-rss-x")
	}
}

// restoreTools returns restic and lifeboat set up for a backend, restic first. Servers started
// here stop when the benchmark ends.
func restoreTools(b *testing.B, backend, run, resticBin, lifeboatBin string) []*tool {
	b.Helper()
	restic := resticTool(resticBin, filepath.Join(run, "restic-repo"))
	lifeboat := lifeboatTool(lifeboatBin, filepath.Join(run, "lifeboat-repo"))
	switch backend {
	case "local":
	case "minio":
		srv := miniotest.Start(b)
		srv.CreateBucket(b, "bench")
		creds := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_REGION=" + srv.Region}
		restic.env = append([]string{"RESTIC_REPOSITORY=s3:" + srv.Endpoint + "/bench/restic", "RESTIC_PASSWORD=bench"}, creds...)
		lifeboat.env = append([]string{"LIFEBOAT_REPO=s3://bench/lifeboat?endpoint=" + srv.Endpoint + "&path_style=true&region=" + srv.Region,
			"LIFEBOAT_REPO_PASSWORD=bench"}, creds...)
	case "gcs":
		front := startTLSFront(b, startFakeGCS(b), run)
		restic.env = []string{"RESTIC_REPOSITORY=gs:bench:/restic", "RESTIC_PASSWORD=bench",
			"HTTPS_PROXY=" + front.proxyURL, "GOOGLE_ACCESS_TOKEN=bench", "GOOGLE_PROJECT_ID=bench"}
		restic = withArgsFirst(restic, "--cacert", front.caFile)
		lifeboat.env = []string{"LIFEBOAT_REPO=gs://bench/lifeboat?endpoint=" + front.endpoint + "&anonymous=true",
			"LIFEBOAT_REPO_PASSWORD=bench", "SSL_CERT_FILE=" + front.caFile}
	default:
		b.Fatalf("unknown backend %q: want local, minio or gcs", backend)
	}
	return []*tool{restic, lifeboat}
}

// withArgsFirst returns t with args before every command's own (global flags).
func withArgsFirst(t *tool, args ...string) *tool {
	c := *t
	c.init = append(append([]string(nil), args...), t.init...)
	c.backup = func(ds string) []string { return append(append([]string(nil), args...), t.backup(ds)...) }
	c.restore = func(target string) []string { return append(append([]string(nil), args...), t.restore(target)...) }
	return &c
}

// restoreResult holds one backend's measures: per tool (restic, lifeboat) one per round.
type restoreResult struct {
	backend string
	runs    [2][]measure
	backup  [2]measure
}

func (r restoreResult) median(t int) time.Duration {
	walls := make([]time.Duration, len(r.runs[t]))
	for i, m := range r.runs[t] {
		walls[i] = m.wall
	}
	slices.Sort(walls)
	return walls[len(walls)/2]
}

func (r restoreResult) medianRSS(t int) int64 {
	rss := make([]int64, len(r.runs[t]))
	for i, m := range r.runs[t] {
		rss[i] = m.maxRSS
	}
	slices.Sort(rss)
	return rss[len(rss)/2]
}

func (r restoreResult) maxRSS(t int) int64 {
	var m int64
	for _, x := range r.runs[t] {
		m = max(m, x.maxRSS)
	}
	return m
}

// settleTime is how long after deleting files this benchmark waits before it measures restores
// again. ext4 without a journal (as on this project's build machines) does not give an inode freed
// in the last minute — five more while its inode table block is dirty, as it is while files are
// being created — to a new file: it walks past every one of them, for every file it creates. After
// the previous backend's 200,000 restored files are deleted, that walk doubles the kernel time of
// the next restores, whichever tool makes them, and adds the same seconds to both.
// LIFEBOAT_BENCH_SETTLE overrides it ("0s": no wait).
func settleTime(b *testing.B) time.Duration {
	v := os.Getenv("LIFEBOAT_BENCH_SETTLE")
	if v == "" {
		return 6*time.Minute + 10*time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		b.Fatalf("LIFEBOAT_BENCH_SETTLE=%q: want a duration such as 6m", v)
	}
	return d
}

// benchRestores backs the dataset up with each tool, then alternates their restores, once the
// file system has settled from the deletions made at removed (settleTime).
func benchRestores(b *testing.B, ds *dataset, run, backend string, tools []*tool, rounds int, removed time.Time) restoreResult {
	b.Helper()
	res := restoreResult{backend: backend}
	for i, t := range tools {
		runTool(b, t, t.init...)
		res.backup[i] = runTool(b, t, t.backup(ds.dir)...)
	}
	if wait := time.Until(removed.Add(settleTime(b))); !removed.IsZero() && wait > 0 {
		fmt.Printf("%s: waiting %s for the file system to settle after the previous restores were deleted\n", backend, wait.Round(time.Second))
		time.Sleep(wait)
	}
	// The restores stay until the backend's rounds are over: deleting 20,000 files makes the
	// file system here slow to create files for a minute or more (ext4 without a journal skips
	// recently freed inodes one by one; the freed page cache must be faulted in again), which
	// would weigh on whichever restore came next.
	var targets []string
	defer func() {
		if !keep() {
			for _, target := range targets {
				_ = os.RemoveAll(target)
			}
		}
	}()
	for round := range rounds {
		for i, t := range tools {
			target := filepath.Join(run, fmt.Sprintf("%s-restore-%d", t.name, round))
			targets = append(targets, target)
			m := runTool(b, t, t.restore(target)...)
			verifyRestore(b, ds, t, target)
			res.runs[i] = append(res.runs[i], m)
			note := ""
			if self := selfPeakRSS(); m.maxRSS <= self {
				// A child started with vfork reports at least its parent's high-water mark.
				note = fmt.Sprintf(" (no more than this benchmark's own %.1f MiB: not the tool's)", float64(self)/1024)
			}
			fmt.Printf("%s round %d: %s restore %.2fs (CPU %.2fs), peak RSS %.1f MiB%s\n", backend, round+1, t.name, m.wall.Seconds(), m.cpu.Seconds(), float64(m.maxRSS)/1024, note)
		}
	}
	return res
}

// printRestoreComparison writes the table of medians and ratios.
func printRestoreComparison(ds *dataset, rounds int, results []restoreResult) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "\nrestore of %s in %d files; %d rounds per backend, restic then lifeboat in each; medians\n", sizeHuman(ds.bytes), ds.files, rounds)
	fmt.Fprintln(w, "backend\trestic time\tlifeboat time\trestic/lifeboat\ttarget\t\trestic RSS (MiB)\tlifeboat RSS (MiB)\tlifeboat/restic RSS\ttarget\t\t")
	for _, r := range results {
		speed := r.median(0).Seconds() / r.median(1).Seconds()
		rss := float64(r.maxRSS(1)) / float64(r.maxRSS(0))
		fmt.Fprintf(w, "%s\t%.2fs\t%.2fs\t%.2f×\t%s\t%.0f (max %.0f)\t%.0f (max %.0f)\t%.2f×\t%s\t\n", r.backend,
			r.median(0).Seconds(), r.median(1).Seconds(), speed, verdict(speed, 2, true),
			float64(r.medianRSS(0))/1024, float64(r.maxRSS(0))/1024, float64(r.medianRSS(1))/1024, float64(r.maxRSS(1))/1024,
			rss, verdict(rss, 1, false))
	}
	fmt.Fprintln(w, "RSS ratio: the highest peak of each tool. The backups that filled the repositories, not compared here:")
	for _, r := range results {
		fmt.Fprintf(w, "  %s: restic %.1fs, lifeboat %.1fs\n", r.backend, r.backup[0].wall.Seconds(), r.backup[1].wall.Seconds())
	}
}

// selfPeakRSS is this process's peak resident set in KiB (VmHWM), or 0 when unknown.
func selfPeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
