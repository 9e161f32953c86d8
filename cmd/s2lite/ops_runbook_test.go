package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestOperationsRunbook runs docs/operations.md's runbook with the real
// binary: a server with restore points, an online backup while it runs,
// verify, the restore points, a point-in-time restore and its verify.
func TestOperationsRunbook(t *testing.T) {
	bin := binary(t)
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- ops-runbook:start -->")
	block, _, ok2 := strings.Cut(rest, "<!-- ops-runbook:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/operations.md has no runbook markers")
	}
	block = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(block), "```sh"), "```")
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if !strings.HasPrefix(lines[0], "DATA=") {
		t.Fatalf("the runbook's first line is %q", lines[0])
	}
	dir := t.TempDir()
	lines[0] = "DATA=" + filepath.Join(dir, "data") + " BACKUP=" + filepath.Join(dir, "backup") + " RESTORED=" + filepath.Join(dir, "restored")
	script := strings.Join(lines, "\n")
	// The test's server: loopback, a free port, restore points every
	// second so the restore has one within the test's time.
	script = strings.Replace(script, `s2lite serve --local-root "$DATA" --checkpoint-interval 1h --checkpoint-retention 24h &`,
		`s2lite serve --host 127.0.0.1 --port 0 --local-root "$DATA" --checkpoint-interval 1s --checkpoint-retention 24h >"$DATA.out" 2>&1 &
SERVER=$!; trap 'kill $SERVER' EXIT
until grep -q "export S2_ACCOUNT_ENDPOINT" "$DATA.out" 2>/dev/null; do sleep 0.05; done
export S2_ACCOUNT_ENDPOINT=$(sed -n 's/^export S2_ACCOUNT_ENDPOINT=//p' "$DATA.out") S2_BASIN_ENDPOINT=$(sed -n 's/^export S2_ACCOUNT_ENDPOINT=//p' "$DATA.out")
export S2_ACCESS_TOKEN=$(sed -n 's/^export S2_ACCESS_TOKEN="\(.*\)"$/\1/p' "$DATA.out")
s2lite create-basin ops-basin && s2lite create-stream s2://ops-basin/events
seq 1 500 | s2lite append s2://ops-basin/events
sleep 2.5
seq 501 600 | s2lite append s2://ops-basin/events
sleep 1.1`, 1)
	if !strings.Contains(script, "--checkpoint-interval 1s") {
		t.Fatal("the runbook's serve line changed; update the test")
	}
	if err := os.Symlink(bin, filepath.Join(dir, "s2lite")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "S2LITE_INIT_FILE=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the runbook did not finish\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	if err != nil {
		t.Fatalf("runbook: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	o := out.String()
	for _, want := range []string{"backup of local directory", "verified: local directory", "state:           consistent",
		"auto-", "restore of local directory", "last sequence:"} {
		if !strings.Contains(o, want) {
			t.Fatalf("runbook output lacks %q:\n%s\nstderr:\n%s", want, o, errb.String())
		}
	}

	// The restored copy serves the records written before the restore
	// point, to the root token the original server printed: tokens are
	// restored with everything else.
	printed, err := os.ReadFile(filepath.Join(dir, "data.out"))
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`(?m)^export S2_ACCESS_TOKEN="(.+)"$`).FindSubmatch(printed)
	if token == nil {
		t.Fatalf("the server printed no root token:\n%s", printed)
	}
	_, base, _, _ := startServerEnv(t, []string{"S2LITE_ROOT_TOKEN="}, "--local-root", filepath.Join(dir, "restored"))
	req, _ := http.NewRequest("GET", base+"/v1/streams/events/records/tail", nil)
	req.Header.Set("s2-basin", "ops-basin")
	req.Header.Set("Authorization", "Bearer "+string(token[1]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `"seq_num":600`) {
		t.Fatalf("the restored database's tail: %d %s", resp.StatusCode, body.String())
	}
}
