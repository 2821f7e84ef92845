package helm

import (
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

// helm lint passes without a warning, with the chart's values and with every option on: Chart.yaml,
// the values against the schema, templates that render to valid YAML, no deprecated API.
func TestHelmLint(t *testing.T) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range map[string]map[string]any{"default values": nil, "every option": everyOption(t)} {
		vals, err := roundTrip(vals)
		if err != nil {
			t.Fatal(err)
		}
		result := lint.RunAll(chartDir, vals, namespace, lint.WithKubeVersion(kv))
		for _, m := range result.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint, %s: %v", name, m)
			} else {
				t.Logf("helm lint, %s: %v", name, m)
			}
		}
	}
}
