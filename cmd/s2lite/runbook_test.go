package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runbook returns the shell lines of README.md's command-line runbook.
func runbook(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- runbook:start -->")
	block, _, ok2 := strings.Cut(rest, "<!-- runbook:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no runbook markers")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```sh")
	block = strings.TrimSuffix(block, "```")
	return block
}

// TestReadmeRunbook runs the README's list, export, import and verify
// steps, as typed, with the real binary against a real server.
func TestReadmeRunbook(t *testing.T) {
	bin := binary(t)
	_, base, _, _ := startServer(t)
	script := strings.ReplaceAll(runbook(t), "http://localhost:8080", base)
	script = strings.ReplaceAll(script, "token-printed-by-s2lite-serve", testRootToken)
	if !strings.Contains(script, base) {
		t.Fatal("the runbook does not set the endpoints")
	}

	dir := t.TempDir()
	// The runbook calls the binary by name, as a user would.
	if err := os.Symlink(bin, filepath.Join(dir, "s2lite")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"S2_ACCOUNT_ENDPOINT="+base, "S2_BASIN_ENDPOINT="+base, "S2_ACCESS_TOKEN="+testRootToken)
	sh := func(script, stdin string) (string, string, error) {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	// What the runbook expects to find: a basin with a stream of three
	// records, one of them with binary headers and body.
	setup := `s2lite create-basin my-basin
s2lite create-stream s2://my-basin/events
s2lite append s2://my-basin/events --format json-base64`
	in := `{"body":"aGVsbG8="}` + "\n" + `{"headers":[["AP8=","/w=="]],"body":"AAECAwQF/w=="}` + "\n" + `{"timestamp":1764873600000}` + "\n"
	if out, errs, err := sh(setup, in); err != nil {
		t.Fatalf("setup: %v\n%s%s", err, out, errs)
	}
	out, errs, err := sh(script, "")
	if err != nil {
		t.Fatalf("runbook: %v\nstdout:\n%s\nstderr:\n%s", err, out, errs)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^my-basin$`),
		regexp.MustCompile(`(?m)^s2://my-basin/events \S+Z$`),
		regexp.MustCompile(`(?m)^3 @ \d+\n(.|\n)*^3 @ \d+$`),
		regexp.MustCompile(`(?m)^identical$`),
	} {
		if !want.MatchString(out) {
			t.Fatalf("runbook output lacks %v:\n%s\nstderr:\n%s", want, out, errs)
		}
	}
	if !strings.Contains(errs, "✓ [APPENDED] 0..3 // tail: 3 @ ") || !strings.Contains(errs, "✓ Stream created") {
		t.Fatalf("runbook stderr:\n%s", errs)
	}
	exported, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil || strings.Count(string(exported), "\n") != 3 || !strings.Contains(string(exported), `"headers":[["AP8=","/w=="]]`) {
		t.Fatalf("events.jsonl: %q %v", exported, err)
	}
}
