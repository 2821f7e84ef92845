package searchattr

import (
	"context"
	"fmt"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Ensure registers each of keys in namespace unless it already exists. It returns the names it
// added. When a key exists with another type, or registration is refused (a worker without operator
// rights), the error says which keys are missing and the temporal CLI command that adds them.
func Ensure(ctx context.Context, c client.Client, namespace string, keys []temporal.SearchAttributeKey) ([]string, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes in namespace %q: %w", namespace, err)
	}
	existing := resp.GetCustomAttributes()
	missing := map[string]enumspb.IndexedValueType{}
	var conflicts []string
	for _, k := range keys {
		want := enumspb.IndexedValueType(k.GetValueType())
		have, ok := existing[k.GetName()]
		switch {
		case !ok:
			missing[k.GetName()] = want
		case have != want:
			conflicts = append(conflicts, fmt.Sprintf("%s is %s, want %s", k.GetName(), have, want))
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("search attributes in namespace %q have the wrong type: %s", namespace, strings.Join(conflicts, "; "))
	}
	if len(missing) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	if err != nil {
		return nil, fmt.Errorf("add search attributes %s to namespace %q: %w; register them once with: %s",
			strings.Join(names, ", "), namespace, err, Command(namespace, keys))
	}
	return names, nil
}

// Command is the temporal CLI command that registers keys in namespace.
func Command(namespace string, keys []temporal.SearchAttributeKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "temporal operator search-attribute create --namespace %s", namespace)
	for _, k := range keys {
		fmt.Fprintf(&b, " --name %s --type %s", k.GetName(), typeName(k))
	}
	return b.String()
}

// typeName spells the key's type as the temporal CLI does (Keyword, KeywordList, Datetime).
func typeName(k temporal.SearchAttributeKey) string {
	return enumspb.IndexedValueType(k.GetValueType()).String()
}
