package cluster_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/temporalserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/cluster"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

// TestMutualTLS connects Lifeboat to a cluster whose frontend requires client certificates, as a
// self-hosted cluster with mTLS (or Temporal Cloud with certificates) does: the worker takes TLS
// from the configuration file, the CLI from the standard TEMPORAL_TLS_* environment, and the
// temporal CLI from its flags. A client with a certificate the cluster's CA did not sign, or with
// none, is refused with an error that says so.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "cluster CA")
	server := ca.issue(t, dir, "frontend", "temporal.test", true)
	client := ca.issue(t, dir, "lifeboat", "lifeboat-worker", false)
	stranger := newCA(t, "some other CA").issue(t, dir, "stranger", "lifeboat-worker", false)
	caFile := filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", ca.cert.Raw)

	c := cluster.Start(t, cluster.WithTLS(temporalserver.TLS{CertFile: server.cert, KeyFile: server.key, CAFile: caFile,
		ServerName: "temporal.test", RequireClientCert: true}))
	base := `temporal:
  address: ${TEMPORAL_ADDRESS}
%s
identity: trust-client
log:
  format: text
probes:
  allowed_hosts: [127.0.0.1]
  checks:
    - {name: frontend, kind: tcp, address: %q}
assets: []
`
	tlsSection := fmt.Sprintf("  tls: {ca_file: %q, cert_file: %q, key_file: %q, server_name: temporal.test}", caFile, client.cert, client.key)
	withTLS, plain := filepath.Join(dir, "tls.yaml"), filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(withTLS, []byte(fmt.Sprintf(base, tlsSection, c.Address())), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, []byte(fmt.Sprintf(base, "", c.Address())), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "TEMPORAL_ADDRESS=" + c.Address()
	// The worker: TLS from the configuration file.
	cluster.StartWorker(t, "lifeboat-worker (mTLS)", filepath.Join(binDir, "lifeboat-worker"), withTLS, addr)

	lifeboat := func(config string, env ...string) (string, int) {
		cmd := exec.Command(filepath.Join(binDir, "lifeboat"), "--config", config, "probe", "run", "--check", "frontend", "--wait")
		cmd.Env = append(os.Environ(), append([]string{addr}, env...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run()
		return out.String(), cmd.ProcessState.ExitCode()
	}
	// The CLI: TLS from Temporal's standard environment variables alone.
	env := func(cert string) []string {
		return []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + caFile, "TEMPORAL_TLS_SERVER_NAME=temporal.test",
			"TEMPORAL_TLS_CLIENT_CERT_PATH=" + cert + ".pem", "TEMPORAL_TLS_CLIENT_KEY_PATH=" + cert + ".key"}
	}
	if out, code := lifeboat(plain, env(strings.TrimSuffix(client.cert, ".pem"))...); code != 0 {
		t.Fatalf("lifeboat probe run with TEMPORAL_TLS_*: exit %d\n%s", code, out)
	}
	// A certificate from another CA, and none at all: refused, and the CLI says it could not connect.
	for name, env := range map[string][]string{
		"a stranger's certificate": env(strings.TrimSuffix(stranger.cert, ".pem")),
		"no certificate":           {"TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + caFile, "TEMPORAL_TLS_SERVER_NAME=temporal.test"},
	} {
		out, code := lifeboat(plain, env...)
		if code != 4 || !strings.Contains(out, c.Address()) {
			t.Errorf("with %s: exit %d, want 4 (Temporal unreachable) and a refusal that names the server\n%s", name, code, out)
		}
		t.Logf("with %s, lifeboat says: %s", name, strings.TrimSpace(out))
	}
	// The temporal CLI with its TLS flags sees the probe the worker ran.
	out, err := exec.Command(repo.Bin(t, "temporal"), "workflow", "list", "--address", c.Address(),
		"--tls-ca-path", caFile, "--tls-cert-path", client.cert, "--tls-key-path", client.key, "--tls-server-name", "temporal.test",
		"--query", "WorkflowType = 'HealthProbe'").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Completed") {
		t.Fatalf("temporal workflow list over mTLS: %v\n%s", err, out)
	}
}

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key}
}

type issued struct{ cert, key string }

// issue writes a certificate for name signed by the CA, and its key, as dir/file.pem and
// dir/file.key. A server certificate is also valid for 127.0.0.1 and serves as the client
// certificate of the cluster's own services.
func (c *ca) issue(t *testing.T, dir, file, name string, server bool) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := issued{cert: filepath.Join(dir, file+".pem"), key: filepath.Join(dir, file+".key")}
	writePEM(t, out.cert, "CERTIFICATE", der)
	writePEM(t, out.key, "EC PRIVATE KEY", keyDER)
	return out
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
