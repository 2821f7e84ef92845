package temporalserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lifeboat-dr/lifeboat/integrations/postgres/localpg"
)

// startTimeout bounds the wait for a started or restarted cluster to serve its namespace.
const startTimeout = 2 * time.Minute

// Retention is how long the namespace Start registers keeps closed workflows.
const Retention = 7 * 24 * time.Hour

// ClientOptions are the options to reach the cluster's namespace; with TLS on, cert and key (a
// client certificate signed by the cluster's CA) are presented, and may be empty without mTLS.
func (c *Cluster) ClientOptions(cert, key string) (client.Options, error) {
	opts := client.Options{HostPort: c.Address(), Namespace: c.cfg.Namespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	if t := c.cfg.TLS; t != nil {
		ca, err := os.ReadFile(t.CAFile)
		if err != nil {
			return opts, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return opts, fmt.Errorf("temporalserver: no certificate in %s", t.CAFile)
		}
		tc := &tls.Config{RootCAs: pool, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return opts, err
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		opts.ConnectionOptions.TLS = tc
	}
	return opts, nil
}

// waitServing waits until the frontend answers for the namespace, registering it when missing.
// With mTLS on it presents the frontend's own certificate, which the cluster's CA signed.
func (c *Cluster) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var cert, key string
	if t := c.cfg.TLS; t != nil && t.RequireClientCert {
		cert, key = t.CertFile, t.KeyFile
	}
	opts, err := c.ClientOptions(cert, key)
	if err != nil {
		return err
	}
	for {
		if exited := c.Exited(); exited != "" {
			return fmt.Errorf("temporalserver: %s", exited)
		}
		last := c.serving(ctx, opts)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporalserver: frontend %s did not serve namespace %q in %s: %w (logs in %s)", c.Address(), c.cfg.Namespace, startTimeout, last, c.cfg.Dir)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// serving returns nil once a workflow lookup in the namespace gets as far as the history service
// (and finds no such workflow).
func (c *Cluster) serving(ctx context.Context, opts client.Options) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nc, err := client.NewNamespaceClient(opts)
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Describe(dctx, c.cfg.Namespace); err != nil {
		var missing *serviceerror.NamespaceNotFound
		if !errors.As(err, &missing) {
			return err
		}
		err := nc.Register(dctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: c.cfg.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(Retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace %q: %w", c.cfg.Namespace, err)
		}
		return errors.New("namespace just registered")
	}
	cl, err := client.DialContext(dctx, opts)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.DescribeWorkflowExecution(dctx, "lifeboat-cluster-ready-check", "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil
	}
	if err == nil {
		return nil
	}
	return err
}

// databaseExists asks PostgreSQL whether database name exists.
func databaseExists(ctx context.Context, pg Postgres, name string) (bool, error) {
	dsn := localpg.DSN(pg.Host, pg.Port, "postgres")
	if pg.User != "postgres" || pg.Password != "" {
		dsn = fmt.Sprintf("postgres://%s:%s@%s:%d/postgres?sslmode=disable", pg.User, pg.Password, pg.Host, pg.Port)
	}
	var exists bool
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, fmt.Errorf("temporalserver: connect to PostgreSQL at %s:%d: %w", pg.Host, pg.Port, err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, fmt.Errorf("temporalserver: look for database %q: %w", name, err)
	}
	return exists, nil
}
