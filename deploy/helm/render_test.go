package helm

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	v2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	sigsyaml "sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

const (
	chartDir    = "lifeboat"
	releaseName = "dr"
	namespace   = "recovery"
	kubeVersion = "v1.27.0"
)

// release is a rendered chart: its manifests decoded, the NOTES, and the values it was given.
type release struct {
	objects []object
	notes   string
}

// object is one rendered manifest, decoded strictly into its API type.
type object struct {
	source string // the template it came from
	kind   string
	name   string
	obj    any
}

// loadChart reads the chart as helm install reads a chart directory, .helmignore applied.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// render renders the chart with vals (user-supplied values, as from -f and --set) as
// `helm install --dry-run=client --kube-version 1.27` does: Chart.yaml's kubeVersion checked, the values checked against values.schema.json, the templates rendered, NOTES.txt
// set apart, the manifests sorted in install order. Every manifest is then decoded strictly.
func render(t *testing.T, vals map[string]any) (release, error) {
	t.Helper()
	ch := loadChart(t)
	// The oldest Kubernetes the chart supports, as helm install --kube-version would set it.
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	if c := ch.Metadata.KubeVersion; c != "" && !v2util.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return release{}, fmt.Errorf("chart requires kubeVersion %s, incompatible with %s", c, caps.KubeVersion.String())
	}
	// helm install copies the values it is given before it renders.
	vals, err = roundTrip(vals)
	if err != nil {
		return release{}, err
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return release{}, err
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return release{}, err
	}
	var rel release
	for name, content := range files {
		if path.Base(name) == "NOTES.txt" {
			if name == path.Join(ch.Name(), "templates", "NOTES.txt") {
				rel.notes = content
			}
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return release{}, err
	}
	if len(hooks) > 0 {
		t.Errorf("the chart has %d hooks; it has none by design", len(hooks))
	}
	for _, m := range manifests {
		o, err := decodeStrict(m.Content)
		if err != nil {
			t.Errorf("%s: %v\n%s", m.Name, err, m.Content)
			continue
		}
		o.source = m.Name
		rel.objects = append(rel.objects, o)
	}
	return rel, nil
}

// roundTrip makes vals plain YAML data, as values read from a file are.
func roundTrip(vals map[string]any) (map[string]any, error) {
	b, err := sigsyaml.Marshal(vals)
	if err != nil {
		return nil, err
	}
	v, err := common.ReadValues(b)
	return v, err
}

// mustRender renders vals and fails the test on an error.
func mustRender(t *testing.T, vals map[string]any) release {
	t.Helper()
	rel, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return rel
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict decodes Kubernetes YAML into registered types and fails on unknown or duplicate fields,
// as the API server's strict field validation (kubectl --validate=strict) does.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})

// decodeStrict decodes one manifest. The Kubernetes and Prometheus Operator kinds decode into
// their Go API types; KEDA's kinds into the types of keda_test.go.
func decodeStrict(manifest string) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := sigsyaml.Unmarshal([]byte(manifest), &head); err != nil {
		return object{}, err
	}
	o := object{kind: head.Kind, name: head.Metadata.Name}
	if strings.HasPrefix(head.APIVersion, "keda.sh/") {
		v, err := decodeKEDA(head.APIVersion, head.Kind, []byte(manifest))
		o.obj = v
		return o, err
	}
	obj, gvk, err := strict.Decode([]byte(manifest), nil, nil)
	if err != nil {
		return o, err
	}
	if gvk.GroupVersion().String() != head.APIVersion {
		return o, fmt.Errorf("decoded as %s, not %s", gvk, head.APIVersion)
	}
	o.obj = obj
	return o, nil
}

// get returns the one object of kind K named name ("" for the only one of its kind).
func get[K any](t *testing.T, rel release, name string) *K {
	t.Helper()
	var found []*K
	for _, o := range rel.objects {
		if k, ok := o.obj.(*K); ok && (name == "" || o.name == name) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		var zero K
		t.Fatalf("%d objects of type %T named %q; rendered: %s", len(found), zero, name, rel.kinds())
	}
	return found[0]
}

// count is the number of rendered objects of kind K.
func count[K any](rel release) int {
	n := 0
	for _, o := range rel.objects {
		if _, ok := o.obj.(*K); ok {
			n++
		}
	}
	return n
}

func (r release) kinds() string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.kind+"/"+o.name)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// fullname is the name the chart gives the release's objects.
const fullname = releaseName + "-lifeboat"

// pretty is v as indented JSON, for failure messages.
func pretty(v any) string {
	var b bytes.Buffer
	enc := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Pretty: true})
	if o, ok := v.(runtime.Object); ok && enc.Encode(o, &b) == nil {
		return b.String()
	}
	if p, ok := v.(*int64); ok && p != nil {
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("%+v", v)
}
