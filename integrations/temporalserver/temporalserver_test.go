package temporalserver

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestConfigGivesEveryServiceItsOwnPorts renders the server's configuration and reads it back:
// every service has its own gRPC and membership ports, the frontend an HTTP port, and with TLS on
// the cluster's own clients present the frontend's certificate.
func TestConfigGivesEveryServiceItsOwnPorts(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	next := 40000
	c := &Cluster{cfg: Config{Dir: dir, FrontendPort: 39999, FreePort: func() (int, error) { next++; return next, nil },
		Postgres:      Postgres{Host: "127.0.0.1", Port: 5432, User: "postgres"},
		TLS:           &TLS{CertFile: "/pki/frontend.pem", KeyFile: "/pki/frontend.key", CAFile: "/pki/ca.pem", ServerName: "temporal.test", RequireClientCert: true},
		DynamicConfig: map[string]any{"limit.maxIDLength": 255, "frontend.enableUpdateWorkflowExecution": true}}}
	c.cfg.defaults()
	if err := c.assignPorts(); err != nil {
		t.Fatal(err)
	}
	if err := c.writeConfig(); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Persistence struct {
			NumHistoryShards int `yaml:"numHistoryShards"`
		}
		Global struct {
			TLS struct {
				Frontend struct {
					Server struct {
						RequireClientAuth bool     `yaml:"requireClientAuth"`
						ClientCAFiles     []string `yaml:"clientCaFiles"`
					}
				}
				SystemWorker struct {
					CertFile string `yaml:"certFile"`
					Client   struct {
						ServerName string `yaml:"serverName"`
					}
				} `yaml:"systemWorker"`
			}
		}
		Services map[string]struct {
			RPC struct {
				GRPCPort       int `yaml:"grpcPort"`
				MembershipPort int `yaml:"membershipPort"`
				HTTPPort       int `yaml:"httpPort"`
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "config", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatalf("cluster.yaml does not parse: %v\n%s", err, b)
	}
	if got.Persistence.NumHistoryShards != 4 {
		t.Errorf("%d history shards, want the default 4", got.Persistence.NumHistoryShards)
	}
	seen := map[int]string{}
	for _, s := range Services {
		rpc := got.Services[s].RPC
		ports := []int{rpc.GRPCPort, rpc.MembershipPort}
		if s == "frontend" {
			if rpc.GRPCPort != 39999 || rpc.HTTPPort == 0 {
				t.Errorf("frontend ports %+v", rpc)
			}
			ports = append(ports, rpc.HTTPPort)
		}
		for _, p := range ports {
			if p == 0 || seen[p] != "" {
				t.Errorf("%s: port %d missing or also used by %s", s, p, seen[p])
			}
			seen[p] = s
		}
	}
	tls := got.Global.TLS
	if !tls.Frontend.Server.RequireClientAuth || len(tls.Frontend.Server.ClientCAFiles) != 1 ||
		tls.SystemWorker.CertFile != "/pki/frontend.pem" || tls.SystemWorker.Client.ServerName != "temporal.test" {
		t.Errorf("TLS section %+v", tls)
	}
	dc, err := os.ReadFile(filepath.Join(dir, "config", "dynamicconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string][]struct{ Value any }
	if err := yaml.Unmarshal(dc, &values); err != nil || values["limit.maxIDLength"][0].Value != 255 || values["frontend.enableUpdateWorkflowExecution"][0].Value != true {
		t.Errorf("dynamic config %v (%v):\n%s", values, err, dc)
	}
}

// TestTakenPortIsNamed: without a source of free ports, the services take the ports after the
// frontend's, and one that is taken fails the start with a message that says which.
func TestTakenPortIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	// The first port after the frontend's is the taken one.
	c := &Cluster{cfg: Config{IP: "127.0.0.1", FrontendPort: taken - 1}}
	err = c.assignPorts()
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(taken)+" on 127.0.0.1") {
		t.Fatalf("assignPorts with port %d taken: %v", taken, err)
	}
}
