package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/worker"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Keys returns the encryption keyring, or nil when no keys are configured. Errors name the key.
func (c Config) Keys() (*codec.Keyring, error) {
	e := c.Encryption
	if len(e.Keys) == 0 {
		if e.ActiveKey != "" {
			return nil, fmt.Errorf("encryption.active_key: %q is set but encryption.keys is empty", e.ActiveKey)
		}
		return nil, nil
	}
	var keys []codec.Key
	var errs []error
	for i, k := range e.Keys {
		field := fmt.Sprintf("encryption.keys[%d]", i)
		var raw string
		switch {
		case k.Secret != "" && k.File != "":
			errs = append(errs, fmt.Errorf("%s: set secret or file, not both", field))
			continue
		case k.Secret != "":
			raw = k.Secret
		case k.File != "":
			b, err := os.ReadFile(k.File)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", field, err))
				continue
			}
			raw = string(b)
		default:
			errs = append(errs, fmt.Errorf("%s (%s): set secret (such as ${LIFEBOAT_KEY}) or file", field, k.ID))
			continue
		}
		secret, err := codec.ParseKey(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", field, k.ID, err))
			continue
		}
		keys = append(keys, codec.Key{ID: k.ID, Secret: secret})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	active := e.ActiveKey
	if active == "" {
		return nil, errors.New("encryption.active_key: required when there is more than one key")
	}
	kr, err := codec.NewKeyring(active, keys)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	return kr, nil
}

// ClientOptions are the Temporal client options shared by the worker and the CLI: connection from
// this configuration overlaid with Temporal's TEMPORAL_* environment variables, and the data converter
// that encrypts payloads when keys are configured. Encrypted reports whether it does.
func (c Config) ClientOptions(env Env) (opts client.Options, encrypted bool, err error) {
	t := c.Temporal
	profile := envconfig.ClientConfigProfile{Address: t.Address, Namespace: t.Namespace, APIKey: t.APIKey}
	if t.TLS.Enabled || t.TLS.CAFile != "" || t.TLS.CertFile != "" || t.TLS.ServerName != "" {
		profile.TLS = &envconfig.ClientConfigTLS{
			ServerCACertPath: t.TLS.CAFile,
			ClientCertPath:   t.TLS.CertFile,
			ClientKeyPath:    t.TLS.KeyFile,
			ServerName:       t.TLS.ServerName,
		}
	}
	if err := profile.ApplyEnvVars(envLookup(env)); err != nil {
		return opts, false, fmt.Errorf("temporal environment: %w", err)
	}
	opts, err = profile.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return opts, false, fmt.Errorf("temporal connection: %w", err)
	}
	keys, err := c.Keys()
	if err != nil {
		return opts, false, err
	}
	// Failure messages are redacted of every configured secret's value, and stay readable so that
	// the Web UI says what failed; stack traces are encrypted with the payloads.
	fo := codec.FailureOptions{}
	if len(c.Secrets) > 0 {
		fo.Redactor = secrets.Static(c.Secrets)
	}
	if keys != nil {
		opts.DataConverter = codec.New(keys).DataConverter()
		fo.DataConverter = opts.DataConverter
		fo.EncodeStackTraces = c.Encryption.EncodeFailures
		fo.EncryptMessages = c.Encryption.EncodeFailures && c.Encryption.EncryptFailureMessages
	}
	opts.FailureConverter = codec.NewFailureConverter(fo)
	return opts, keys != nil, nil
}

// envLookup adapts Env to envconfig's lookup, which also lists variables to find TEMPORAL_GRPC_META_*.
type envLookup Env

func (e envLookup) LookupEnv(key string) (string, bool) { return e(key) }

func (e envLookup) Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := e(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// Options are the Temporal worker's options: the configured limits, the shutdown grace, and
// heartbeats of long steps sent every workflows.HeartbeatEvery (rather than every 0.8 × the
// heartbeat timeout), which keeps `lifeboat` and the Web UI current.
func (w Worker) Options() worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize:      w.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: w.MaxConcurrentLocalActivities,
		WorkerStopTimeout:                       w.ShutdownTimeout.D(),
		MaxHeartbeatThrottleInterval:            workflows.HeartbeatEvery,
	}
}
