package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every lifeboat command shown in the README and docs/ names a command that exists, with flags it
// has and values they take: the docs cannot drift from the command tree.
func TestDocumentedCommandsParse(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md", "../examples/plans/README.md")
	found := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range documentedCommands(string(b)) {
			found++
			a := &app{env: func(string) (string, bool) { return "", false }}
			root := a.rootCommand()
			cmd, rest, err := root.Find(c.args)
			if err != nil || cmd == root {
				t.Errorf("%s:%d: %q: no such command (%v)", f, c.line, c.text, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s:%d: %q: %v", f, c.line, c.text, err)
				continue
			}
			if cmd.Args != nil && !hasPlaceholder(rest) {
				if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
					t.Errorf("%s:%d: %q: %v", f, c.line, c.text, err)
				}
			}
		}
	}
	if found < 30 {
		t.Fatalf("found only %d documented commands: the extraction is broken", found)
	}
}

type documentedCommand struct {
	text string
	line int
	args []string
}

var commandStart = regexp.MustCompile(`^\s*(?:\$ )?(?:bin/)?lifeboat\s+(.*)$`)

// documentedCommands are the lifeboat command lines in fenced code blocks: continuation lines
// joined, comments and shell redirections dropped.
func documentedCommands(doc string) []documentedCommand {
	var out []documentedCommand
	lines := strings.Split(doc, "\n")
	inBlock := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		m := commandStart.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		start := i
		text := m[1]
		for strings.HasSuffix(strings.TrimSpace(text), `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(strings.TrimSpace(text), `\`) + " " + strings.TrimSpace(lines[i])
		}
		args := shellWords(text)
		if len(args) == 0 {
			continue
		}
		out = append(out, documentedCommand{text: strings.TrimSpace(text), line: start + 1, args: args})
	}
	return out
}

// shellWords splits a command line as a shell would, for what the docs use: quotes, comments
// (# after a space), and an end at a pipe, redirection or another command.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord, c == '|', c == '>', c == '&', c == ';':
			if inWord {
				words = append(words, cur.String())
			}
			return words
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// hasPlaceholder reports whether a documented command uses placeholders (FILE..., SNAPSHOT) where
// real arguments go, so that only its flags can be checked.
func hasPlaceholder(args []string) bool {
	for _, a := range args {
		if a != "" && strings.ToUpper(a) == a && strings.ToLower(a) != a {
			return true
		}
	}
	return false
}
