package snappath

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{name: "empty is the whole snapshot", in: "", want: ""},
		{name: "dot is the whole snapshot", in: ".", want: ""},
		{name: "dot slash is the whole snapshot", in: "./", want: ""},
		{name: "plain", in: "etc/nginx", want: "etc/nginx"},
		{name: "trailing slash", in: "many/", want: "many"},
		{name: "repeated slashes and dots", in: "a//./b/.", want: "a/b"},
		{name: "leading dot slash", in: "./a", want: "a"},
		{name: "dots inside names are fine", in: "a/..b/c..", want: "a/..b/c.."},
		{name: "absolute", in: "/d", err: `snapshot path "/d" is absolute: give it relative to the snapshot root, as "d"`},
		{name: "absolute with trailing slash", in: "/many/", err: `as "many"`},
		{name: "root", in: "/", err: `snapshot path "/" is absolute: give it relative to the snapshot root, or "." for all of it`},
		{name: "parent", in: "..", err: `snapshot path ".." has a ".." element`},
		{name: "parent of parent", in: "../..", err: `has a ".." element`},
		{name: "parent inside", in: "a/../b", err: `snapshot path "a/../b" has a ".." element`},
		{name: "parent at the end", in: "a/..", err: `has a ".." element`},
		{name: "nul", in: "a\x00b", err: `contains a NUL byte`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Clean(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Clean(%q) = %q, %v; want an error containing %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Clean(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}
