package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/etcdtest"
	"github.com/s2lite/s2lite/partition"
)

func freePortT(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// call sends a request with the root token and returns status, the node
// that served it and the body.
func call(t *testing.T, method, url, basin, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if basin != "" {
		req.Header.Set("S2-Basin", basin)
	}
	resp, err := authClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("S2lite-Served-By"), string(b)
}

// TestBinaryClusterBucketOpensAlone: basins written by a two-node cluster
// (forwarded between the nodes) are served by a single node on the same
// directory, with no migration, next to a basin the single node wrote
// before; a backup of the partitioned bucket copies every partition and
// verifies, and a damaged partition is named by verify.
func TestBinaryClusterBucketOpensAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and etcd")
	}
	root := t.TempDir()

	// A single node first: a basin in the root.
	single, base, _, _ := startServer(t, "--local-root", root)
	if st, _, body := call(t, "POST", base+"/v1/basins", "", `{"basin":"single-node-basin"}`); st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	_ = single.Process.Signal(syscall.SIGTERM)
	if err := waitExit(single, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	// Then a cluster of two.
	etcd := etcdtest.Start(t)
	var nodes []string
	var procs []interface{ Signal(os.Signal) error }
	for i := 1; i <= 2; i++ {
		port := freePortT(t)
		cmd, url, _, _ := startServer(t, "--local-root", root, "--port", fmt.Sprint(port), "--cluster-etcd", etcd,
			"--advertise-url", fmt.Sprintf("http://127.0.0.1:%d", port), "--node-id", fmt.Sprintf("n%d", i),
			"--cluster-partitions", "4", "--cluster-lease-ttl", "3s")
		nodes = append(nodes, url)
		procs = append(procs, cmd.Process)
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		defer func() { _ = waitExit(cmd, 20*time.Second) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			resp, err := http.Get(n + "/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became ready", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	served := map[string]bool{}
	var basins []string
	for i := range 8 {
		b := fmt.Sprintf("cluster-basin-%d", i)
		basins = append(basins, b)
		entry := nodes[i%2]
		if st, _, body := call(t, "POST", entry+"/v1/basins", "", `{"basin":"`+b+`"}`); st != 201 {
			t.Fatalf("create %s: %d %s", b, st, body)
		}
		if st, _, body := call(t, "POST", entry+"/v1/streams", b, `{"stream":"s"}`); st != 201 {
			t.Fatalf("create stream in %s: %d %s", b, st, body)
		}
		st, by, body := call(t, "POST", nodes[(i+1)%2]+"/v1/streams/s/records", b, `{"records":[{"body":"`+b+`"}]}`)
		if st != 200 {
			t.Fatalf("append to %s: %d %s", b, st, body)
		}
		served[by] = true
	}
	if !served["n1"] || !served["n2"] {
		t.Fatalf("appends were all served by one node (%v): nothing was forwarded", served)
	}
	// The root basin is served through either node.
	if st, _, body := call(t, "GET", nodes[1]+"/v1/basins/single-node-basin", "", ""); st != 200 {
		t.Fatalf("root basin through the cluster: %d %s", st, body)
	}
	for _, p := range procs {
		_ = p.Signal(syscall.SIGTERM)
	}
	// (the deferred waits run at the end; wait for the exits now)
	time.Sleep(200 * time.Millisecond)
	for _, n := range nodes {
		for time.Now().Before(deadline.Add(30 * time.Second)) {
			if _, err := http.Get(n + "/health"); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	store, err := os.ReadFile(filepath.Join(root, partition.LayoutKey))
	if err != nil || !strings.Contains(string(store), `"partitions":4`) {
		t.Fatalf("layout record: %q %v", store, err)
	}
	checkAll := func(dir string) {
		t.Helper()
		alone, base, _, _ := startServer(t, "--local-root", dir)
		defer func() {
			_ = alone.Process.Signal(syscall.SIGTERM)
			if err := waitExit(alone, 15*time.Second); err != nil {
				t.Error(err)
			}
		}()
		st, _, body := call(t, "GET", base+"/v1/basins", "", "")
		var page struct{ Basins []struct{ Name string } }
		if err := json.Unmarshal([]byte(body), &page); st != 200 || err != nil || len(page.Basins) != len(basins)+1 {
			t.Fatalf("single node on %s lists %d %s", dir, st, body)
		}
		for _, b := range basins {
			st, _, body := call(t, "GET", base+"/v1/streams/s/records?seq_num=0", b, "")
			if st != 200 || !strings.Contains(body, `"body":"`+b+`"`) {
				t.Fatalf("read %s alone on %s: %d %s", b, dir, st, body)
			}
		}
		// A name a partition holds cannot be created again in the root.
		if st, _, body := call(t, "POST", base+"/v1/basins", "", `{"basin":"`+basins[3]+`"}`); st != 409 {
			t.Fatalf("re-create %s alone: %d %s", basins[3], st, body)
		}
	}
	checkAll(root)

	dst := t.TempDir()
	if code, stderr := runBinary(t, "backup", "--local-root", root, "--to", dst); code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	if code, stderr := runBinary(t, "verify", "--local-root", dst); code != 0 {
		t.Fatalf("verify of the backup: %d %s", code, stderr)
	}
	checkAll(dst)

	// Damage one partition of the backup (its manifests gone, its tables
	// and WAL left): verify names it instead of skipping it.
	var victim string
	for p := range 4 {
		dir := filepath.Join(dst, "p", fmt.Sprint(p))
		if _, err := os.Stat(filepath.Join(dir, "manifest")); err == nil {
			victim = dir
			break
		}
	}
	if victim == "" {
		t.Fatal("no partition in the backup")
	}
	if err := os.RemoveAll(filepath.Join(victim, "manifest")); err != nil {
		t.Fatal(err)
	}
	code, stderr := runBinary(t, "verify", "--local-root", dst)
	rel, _ := filepath.Rel(dst, victim)
	if code == 0 || !strings.Contains(stderr, rel) {
		t.Fatalf("verify of a backup whose %s lost its manifests: exit %d, stderr does not name it:\n%s", rel, code, stderr)
	}
}
