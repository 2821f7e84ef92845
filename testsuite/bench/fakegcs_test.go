package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// The restore benchmark runs fake-gcs-server in a process of its own, this test binary started
// again with fakeGCSEnv set to a port: in the benchmark's process, the repositories it keeps in
// memory would count in the peak RSS of every command the benchmark starts (a child started with
// vfork inherits its parent's high-water mark in wait4's ru_maxrss), and its work would share the
// process with the measuring.
const fakeGCSEnv = "LIFEBOAT_BENCH_FAKE_GCS_PORT"

func init() {
	if port := os.Getenv(fakeGCSEnv); port != "" {
		os.Exit(serveFakeGCS(port))
	}
}

// serveFakeGCS serves an in-memory fake-gcs-server with a bucket "bench" on 127.0.0.1:port until
// it is signalled.
func serveFakeGCS(port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	host := "127.0.0.1:" + port
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(p),
		ExternalURL: "http://" + host, // resumable uploads continue here
		PublicHost:  host,             // XML-API reads (GET /bucket/object) name this host
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "bench"})
	fmt.Println("serving on", host)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	srv.Stop()
	return 0
}

// startFakeGCS starts fake-gcs-server with a bucket "bench" in its own process and returns its
// URL; it stops when the benchmark ends.
func startFakeGCS(b *testing.B) string {
	b.Helper()
	port := repo.FreePort(b)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fakeGCSEnv+"="+strconv.Itoa(port))
	proc := repo.StartProcess(b, "fake-gcs-server", cmd, syscall.SIGTERM)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := repo.WaitTCP(ctx, addr); err != nil {
		b.Fatalf("fake-gcs-server: %v\n%s", err, proc.Tail())
	}
	return "http://" + addr
}
