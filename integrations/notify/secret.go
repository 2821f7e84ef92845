package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

// SecretFunc returns a channel's credential: a webhook's signing key, a bot token, a password. It is
// called once per Notify, so a rotated secret is used from the next message on.
type SecretFunc func(ctx context.Context) ([]byte, error)

// StaticSecret returns a SecretFunc that always returns key.
func StaticSecret(key []byte) SecretFunc {
	return func(context.Context) ([]byte, error) { return key, nil }
}

// CheckSecret looks the secret name up once, to fail early: it reports a missing resolver, an error
// from resolve, or an empty value.
func CheckSecret(resolve func(context.Context, string) (string, error), name string) error {
	if resolve == nil {
		return fmt.Errorf("secret %q: no secrets to resolve it from", name)
	}
	v, err := resolve(context.Background(), name)
	if err != nil {
		return err
	}
	if v == "" {
		return fmt.Errorf("secret %q is empty", name)
	}
	return nil
}

// ResolvedSecret returns a SecretFunc that looks name up on every call, so that a rotated secret is
// picked up; a secret that is not found or empty is a permanent error.
func ResolvedSecret(resolve func(context.Context, string) (string, error), name string) SecretFunc {
	return func(ctx context.Context) ([]byte, error) {
		v, err := resolve(ctx, name)
		switch {
		case errors.Is(err, secrets.ErrNotFound):
			return nil, Permanent(err)
		case err != nil:
			return nil, err
		case v == "":
			return nil, Permanent(fmt.Errorf("secret %q is empty", name))
		}
		return []byte(v), nil
	}
}
