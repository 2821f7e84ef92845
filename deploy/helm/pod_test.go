package helm

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// workerBin is lifeboat-worker, built from this checkout for the test run.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lifeboat-chart-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "lifeboat-worker")
	// The repository's own module, so that the worker is built as make build builds it.
	build := exec.Command("go", "build", "-o", workerBin, "./worker")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build lifeboat-worker: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// pod is what the worker's container sees: its configuration file as mounted, parsed, and its
// environment.
type pod struct {
	raw  string
	file map[string]any
	env  map[string]string
}

// setting is the worker's effective setting: the environment variable when the pod sets it (it
// overrides the file), the file's value at path otherwise.
func (p pod) setting(path, envName string) string {
	if v, ok := p.env[envName]; ok && envName != "" {
		return v
	}
	return p.fileValue(path)
}

// fileValue is the configuration file's value at a dotted path, as YAML would print it.
func (p pod) fileValue(path string) string {
	var v any = p.file
	for k := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// randomKey is an encryption key as lifeboat key generate prints one: 32 bytes in base64.
func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// external is what objects kept outside the chart hold (an existing ConfigMap or Secret): name to
// key to value.
type external map[string]map[string]string

// workerConfig checks the worker's configuration as the worker would in the pod the release runs:
// the files its container mounts (the ConfigMap's lifeboat.yaml, each Secret's keys) are written
// under a temporary root, its environment is resolved from the rendered Secret or from ext, and
// absolute paths under the mounts are moved under that root. Then `lifeboat-worker --check` runs
// with that file and that environment alone, and the test fails with every problem it reports;
// the TLS files the environment names must hold a certificate and key. It returns what the pod sees.
func workerConfig(t *testing.T, rel release, ext external) pod {
	t.Helper()
	dep := get[appsv1.Deployment](t, rel, fullname)
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want the worker alone", len(spec.Containers))
	}
	c := spec.Containers[0]
	root := t.TempDir()

	data := func(kind, name string) map[string]string {
		for _, o := range rel.objects {
			switch v := o.obj.(type) {
			case *corev1.ConfigMap:
				if kind == "ConfigMap" && v.Name == name {
					return v.Data
				}
			case *corev1.Secret:
				if kind == "Secret" && v.Name == name {
					d := map[string]string{}
					for k, b := range v.Data {
						d[k] = string(b)
					}
					for k, s := range v.StringData {
						d[k] = s
					}
					return d
				}
			}
		}
		if d, ok := ext[name]; ok {
			return d
		}
		t.Fatalf("the pod needs %s %q, which is neither rendered nor given", kind, name)
		return nil
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.MountPath)
		v, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("volumeMount %s names no volume", m.Name)
		}
		var files map[string]string
		switch {
		case v.ConfigMap != nil:
			files = data("ConfigMap", v.ConfigMap.Name)
		case v.Secret != nil:
			files = data("Secret", v.Secret.SecretName)
		}
		dst := filepath.Join(root, m.MountPath)
		if m.SubPath != "" {
			content, ok := files[m.SubPath]
			if !ok {
				t.Fatalf("volumeMount %s: no key %s in volume %s", m.MountPath, m.SubPath, m.Name)
			}
			writeFile(t, dst, content)
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		for k, content := range files {
			writeFile(t, filepath.Join(dst, k), content)
		}
	}
	// Longest first: a path under a mount is moved with its own mount.
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, m := range mounts {
		pairs = append(pairs, m, filepath.Join(root, m))
	}
	rooted := strings.NewReplacer(pairs...)

	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = rooted.Replace(e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := data("Secret", ref.Name)[ref.Key]
			if !ok && (ref.Optional == nil || !*ref.Optional) {
				t.Errorf("env %s: Secret %s has no key %s: the pod would not start", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			env[e.Name] = data("ConfigMap", ref.Name)[ref.Key]
		default:
			env[e.Name] = "from-the-downward-api"
		}
	}
	cfgPath := env["LIFEBOAT_CONFIG"]
	if cfgPath == "" {
		t.Fatal("LIFEBOAT_CONFIG is not set: the lifeboat CLI in the container would not find the configuration")
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatalf("the configuration the image runs with is not mounted: %v", err)
	}
	writeFile(t, cfgPath, rooted.Replace(string(b)))

	var stdout, stderr bytes.Buffer
	check := exec.Command(workerBin, "--check", "--config", cfgPath)
	check.Env = []string{}
	for k, v := range env {
		check.Env = append(check.Env, k+"="+v)
	}
	check.Stdout, check.Stderr = &stdout, &stderr
	if err := check.Run(); err != nil || !strings.Contains(stdout.String(), "configuration is valid") {
		t.Fatalf("lifeboat-worker --check with the pod's configuration and environment: %v\n%s%s\nlifeboat.yaml:\n%s", err, stdout.String(), stderr.String(), b)
	}
	// The worker reads the TLS files of its environment only when it connects.
	if cert, key := env["TEMPORAL_TLS_CLIENT_CERT_PATH"], env["TEMPORAL_TLS_CLIENT_KEY_PATH"]; cert != "" || key != "" {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			t.Errorf("the client certificate the pod's environment names: %v", err)
		}
	}
	if ca := env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil || !x509.NewCertPool().AppendCertsFromPEM(pem) {
			t.Errorf("the CA bundle the pod's environment names: no certificate (%v)", err)
		}
	}
	p := pod{raw: string(b), env: env}
	if err := sigsyaml.Unmarshal([]byte(rooted.Replace(string(b))), &p.file); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
