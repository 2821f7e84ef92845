package helm

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/strvals"
)

// docsFile documents the chart.
const docsFile = "../../docs/kubernetes.md"

// valuesBlock is a ```yaml block of the docs whose first line names it: "# NAME-values.yaml".
var valuesBlock = regexp.MustCompile("(?s)```yaml\n# ([a-z-]+-values\\.yaml)\n(.*?)```")

// The values files and helm commands of docs/kubernetes.md render: each values file alone, and each
// helm install or upgrade with the files and --set values it names. Those that configure the worker
// give a configuration it accepts, with the Secret the page says to create.
func TestDocumentedValuesRender(t *testing.T) {
	b, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	files := map[string]map[string]any{}
	for _, m := range valuesBlock.FindAllStringSubmatch(doc, -1) {
		files[m[1]] = values(t, m[2])
		t.Run(m[1], func(t *testing.T) {
			rel := mustRender(t, files[m[1]])
			if secret, ok := documentedSecrets[m[1]]; ok {
				workerConfig(t, rel, external{"lifeboat-secrets": secret})
			}
		})
	}
	if len(files) < 5 {
		t.Fatalf("found %d values files in %s: the extraction is broken", len(files), docsFile)
	}
	commands := 0
	for line := range strings.Lines(doc) {
		args := strings.Fields(line)
		if len(args) < 4 || args[0] != "helm" || (args[1] != "install" && args[1] != "upgrade") {
			continue
		}
		commands++
		vals := map[string]any{}
		for i := 2; i < len(args)-1; i++ {
			switch args[i] {
			case "-f", "--values":
				f, ok := files[args[i+1]]
				if !ok {
					t.Fatalf("%s: %s names %s, which the page does not show", docsFile, strings.TrimSpace(line), args[i+1])
				}
				vals = mergeValues(vals, f)
			case "--set":
				if err := strvals.ParseInto(args[i+1], vals); err != nil {
					t.Fatalf("%s: %v", strings.TrimSpace(line), err)
				}
			}
		}
		if chart := args[3]; args[1] == "install" && chart != "deploy/helm/lifeboat" {
			t.Errorf("%s installs %s, not the chart", strings.TrimSpace(line), chart)
		}
		mustRender(t, vals)
	}
	if commands == 0 {
		t.Fatalf("no helm install command in %s", docsFile)
	}
}

// documentedSecrets are the keys of the Secret that the page's values files expect.
var documentedSecrets = map[string]map[string]string{
	"dr-values.yaml": {"encryption-k1": randomKey(), "LIFEBOAT_CODEC_TOKEN": "token"},
	"secrets-values.yaml": {"encryption-k1": randomKey(), "LIFEBOAT_CODEC_TOKEN": "token", "ORDERS_DSN": "postgres://orders@db/orders",
		"repo-pass": "correct horse battery staple"},
}

// mergeValues merges src into dst as several -f files are: later maps merge into earlier ones.
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if m, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeValues(d, m)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}
