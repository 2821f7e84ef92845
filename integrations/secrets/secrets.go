package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// ErrNotFound is returned when no secret has the requested name.
var ErrNotFound = errors.New("secret not found")

// Resolver looks secrets up by name.
type Resolver interface {
	// Secret returns the value of the named secret, or an error wrapping ErrNotFound when the name is
	// unknown. Other errors (a file that cannot be read) are returned as they are.
	Secret(ctx context.Context, name string) (string, error)
}

// Static resolves secrets from values held in memory, as read from the worker's configuration. A value
// that starts with "file:" is read from that path at each lookup, so rotated files are picked up.
type Static map[string]string

var _ Resolver = Static(nil)

// Secret implements Resolver.
func (s Static) Secret(_ context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", fmt.Errorf("secret %q: %w (configured secrets: %s)", name, ErrNotFound, s.names())
	}
	if path, isFile := strings.CutPrefix(v, "file:"); isFile {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("secret %q: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return v, nil
}

func (s Static) names() string {
	if len(s) == 0 {
		return "none"
	}
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
