package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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

// Redactor hides secret values in text that leaves the worker, such as a command's output.
type Redactor interface {
	Redact(ctx context.Context, text string) string
}

var _ Redactor = Static(nil)

// minRedacted is the shortest value Redact hides: shorter ones would hide ordinary text and
// reveal little.
const minRedacted = 4

// Redact implements Redactor: every occurrence in text of a secret's value, and of the password
// in a secret that is a URL, becomes [redacted]. A secret whose file cannot be read is skipped.
func (s Static) Redact(ctx context.Context, text string) string {
	var values []string
	for name := range s {
		v, err := s.Secret(ctx, name)
		if err != nil {
			continue
		}
		values = append(values, v)
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				values = append(values, p)
			}
		}
	}
	// Longest first, so that a value containing another is hidden whole.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		if len(v) >= minRedacted {
			text = strings.ReplaceAll(text, v, "[redacted]")
		}
	}
	return text
}
