package bench

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// tlsFront puts HTTPS in front of fake-gcs-server, for clients that cannot be pointed at a
// plain-HTTP endpoint. restic 0.14's Google Cloud Storage backend always talks to
// https://storage.googleapis.com (its client ignores STORAGE_EMULATOR_HOST), but it honours
// HTTPS_PROXY and --cacert: the front is also a CONNECT proxy that, instead of tunnelling to
// Google, answers the TLS handshake itself with a certificate for storage.googleapis.com signed
// by a CA made for the run, and forwards the requests to fake-gcs-server. Lifeboat reaches the
// same front directly as its https endpoint, trusting the CA through SSL_CERT_FILE, so that both
// tools pay for TLS and the extra hop alike.
type tlsFront struct {
	caFile   string // the CA certificate, PEM
	proxyURL string // http://127.0.0.1:port: the CONNECT proxy, for HTTPS_PROXY
	endpoint string // https://127.0.0.1:port: the front as an endpoint
}

// startTLSFront starts a front for the server at backendURL, writing its CA into dir; it stops
// when the benchmark ends.
func startTLSFront(b *testing.B, backendURL, dir string) *tlsFront {
	b.Helper()
	target, err := url.Parse(backendURL)
	if err != nil {
		b.Fatal(err)
	}
	caPEM, cert, err := makeCertificates()
	if err != nil {
		b.Fatalf("tls front: %v", err)
	}
	f := &tlsFront{caFile: filepath.Join(dir, "front-ca.pem")}
	if err := os.WriteFile(f.caFile, caPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}

	forward := httputil.NewSingleHostReverseProxy(target)
	forward.Transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true, ReadBufferSize: 256 << 10}
	// 256 KiB copies rather than 32 KiB: the front's CPU is taken from both tools alike.
	forward.BufferPool = copyBuffers{free: make(chan []byte, 32)}
	director := forward.Director
	forward.Director = func(r *http.Request) {
		director(r)
		r.Host = target.Host // fake-gcs-server tells XML-API reads apart by the host they name
	}
	inner := &http.Server{Handler: forward, ReadHeaderTimeout: time.Minute}

	direct, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f.endpoint = "https://" + direct.Addr().String()
	go func() { _ = inner.Serve(tls.NewListener(direct, tlsConfig)) }()

	tunnels := newConnListener(direct.Addr())
	go func() { _ = inner.Serve(tunnels) }()
	outer := &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
			conn.Close()
			return
		}
		tunnels.push(tls.Server(bufferedConn{conn, buf.Reader}, tlsConfig))
	})}
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f.proxyURL = "http://" + proxy.Addr().String()
	go func() { _ = outer.Serve(proxy) }()
	b.Cleanup(func() {
		outer.Close()
		inner.Close()
		tunnels.Close()
	})
	return f
}

// makeCertificates makes a CA and a server certificate it signs, for storage.googleapis.com and
// 127.0.0.1.
func makeCertificates() (caPEM []byte, server tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, server, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lifeboat bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, server, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, server, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, server, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "storage.googleapis.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames:    []string{"storage.googleapis.com", "*.storage.googleapis.com"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, server, err
	}
	server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), server, nil
}

// copyBuffers lends the reverse proxy 256 KiB buffers, keeping a few for reuse.
type copyBuffers struct{ free chan []byte }

func (c copyBuffers) Get() []byte {
	select {
	case b := <-c.free:
		return b
	default:
		return make([]byte, 256<<10)
	}
}

func (c copyBuffers) Put(b []byte) {
	select {
	case c.free <- b:
	default:
	}
}

// bufferedConn is a hijacked connection with what its reader had buffered already.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener hands connections pushed to it to an http.Server.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("listener closed")
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
