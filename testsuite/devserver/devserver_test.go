package devserver_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
	"github.com/lifeboat-dr/lifeboat/testsuite/repo"
)

func TestStartRegistersNamespaceAndSearchAttributes(t *testing.T) {
	srv := devserver.Start(t, devserver.WithSearchAttributes(map[string]string{
		"LifeboatKind": "Keyword",
		"LifeboatStep": "Int",
	}))
	c := srv.Dial(t, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}

	nss, err := c.WorkflowService().ListNamespaces(ctx, &workflowservice.ListNamespacesRequest{})
	if err != nil {
		t.Fatalf("ListNamespaces: %v", err)
	}
	var names []string
	for _, ns := range nss.GetNamespaces() {
		names = append(names, ns.GetNamespaceInfo().GetName())
	}
	if !slices.Contains(names, srv.Namespace) {
		t.Errorf("namespaces = %v, want %q among them", names, srv.Namespace)
	}

	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	want := map[string]enums.IndexedValueType{
		"LifeboatKind": enums.INDEXED_VALUE_TYPE_KEYWORD,
		"LifeboatStep": enums.INDEXED_VALUE_TYPE_INT,
	}
	for name, typ := range want {
		if got := sas.GetCustomAttributes()[name]; got != typ {
			t.Errorf("search attribute %s = %v, want %v", name, got, typ)
		}
	}
}

func TestStartWithUIServesTheWebUI(t *testing.T) {
	port := repo.FreePort(t)
	srv := devserver.Start(t, devserver.WithUI(port))
	if srv.UIPort != port {
		t.Fatalf("UIPort = %d, want %d", srv.UIPort, port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: %v", url, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
