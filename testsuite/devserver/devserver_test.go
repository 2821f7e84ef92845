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

func TestKillAndRestartKeepsTheStateAndThePorts(t *testing.T) {
	srv := devserver.Start(t)
	c := srv.Dial(t, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survives-a-crash", TaskQueue: "nobody-polls"}, "Anything")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	if err := srv.Restart(t); err == nil {
		t.Fatal("Restart of a running server: no error")
	}
	if err := srv.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err == nil {
		t.Fatal("the killed server still answers")
	}
	if err := srv.Restart(t); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	// The client dialled before the crash reconnects to the same address and finds the workflow.
	desc, err := c.DescribeWorkflowExecution(ctx, "survives-a-crash", "")
	if err != nil {
		t.Fatalf("describe after the restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(); got != run.GetRunID() {
		t.Fatalf("run after the restart = %s, want %s", got, run.GetRunID())
	}
	if got := desc.GetWorkflowExecutionInfo().GetStatus(); got != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status after the restart = %v, want running", got)
	}
}
