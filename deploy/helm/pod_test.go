package helm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// external is what objects kept outside the chart hold (an existing ConfigMap or Secret): name to
// key to value.
type external map[string]map[string]string

// workerConfig loads and validates the worker's configuration as the worker would in the pod the
// release runs: the files its container mounts (the ConfigMap's lifeboat.yaml, each Secret's
// keys) are written under a temporary root, its environment is resolved from the rendered Secret
// or from ext, and absolute paths under the mounts are moved under that root. It fails the test
// with every problem config.Load and Validate report, as `lifeboat-worker --check` would, and
// returns the configuration and environment.
func workerConfig(t *testing.T, rel release, ext external) (config.Config, map[string]string) {
	t.Helper()
	dep := get[appsv1.Deployment](t, rel, fullname)
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the worker alone", len(pod.Containers))
	}
	c := pod.Containers[0]
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
	for _, v := range pod.Volumes {
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

	cfg, err := config.Load(cfgPath, config.MapEnv(env))
	if err != nil {
		t.Fatalf("lifeboat.yaml as the pod has it: %v\n%s", err, b)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("lifeboat.yaml as the pod has it is invalid:\n%v\n%s", err, b)
	}
	if !cfg.Identity.Configured() {
		t.Fatalf("lifeboat.yaml has no identity section: the worker would not start\n%s", b)
	}
	if _, _, err := cfg.ClientOptions(config.MapEnv(env)); err != nil {
		t.Fatalf("the Temporal connection from the pod's configuration and environment: %v", err)
	}
	return cfg, env
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
