package searchattr

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Ensure registers each of keys in namespace unless it already exists, and waits until the
// namespace accepts the ones it added in queries (see AwaitUsable). It returns the names it added. When a key exists with another type, or registration is refused (a worker without operator
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
	var text []string
	for _, n := range names {
		if t := missing[n]; t == enumspb.INDEXED_VALUE_TYPE_KEYWORD || t == enumspb.INDEXED_VALUE_TYPE_TEXT {
			text = append(text, n)
		}
	}
	if err := AwaitUsable(ctx, c, namespace, text, usableWithin); err != nil {
		return names, err
	}
	return names, nil
}

// usableWithin bounds the wait for added search attributes: a cluster's frontends refresh what they
// know of a namespace every 10 seconds by default.
const usableWithin = 90 * time.Second

// AwaitUsable waits until a visibility query naming every attribute in names (Keyword or Text
// attributes) is accepted in namespace. On a cluster with SQL visibility, attributes just added are unknown to a frontend
// until it refreshes its namespace cache, and starting a workflow that sets them fails until then.
func AwaitUsable(ctx context.Context, c client.Client, namespace string, names []string, within time.Duration) error {
	var terms []string
	for _, n := range names {
		terms = append(terms, n+" = ''")
	}
	if len(terms) == 0 {
		return nil
	}
	query := strings.Join(terms, " AND ")
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		_, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes %s were added to namespace %q but queries still refuse them after %s: %w",
				strings.Join(names, ", "), namespace, within, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
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
