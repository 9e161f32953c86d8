package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/partition"
	"github.com/s2lite/s2lite/server"
	"github.com/s2lite/s2lite/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testRoot = "gateway-test-root-token-0123456789"

// testUnit is a real unit: engine on memory, stream service, API server.
type testUnit struct {
	svc    *stream.Service
	srv    *server.Server
	tokens *authstore.Store
	unit   *Unit
}

func openTestUnit(t *testing.T, id int, authz func() server.Authority) *testUnit {
	t.Helper()
	ctx := context.Background()
	db, err := engine.Open(ctx, engine.Options{Store: objstore.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := stream.New(ctx, db, stream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := &testUnit{svc: svc}
	if id == partition.Root && authz != nil {
		if u.tokens, _, err = authstore.Open(ctx, db, authstore.Options{RootToken: testRoot}); err != nil {
			t.Fatal(err)
		}
	}
	var a server.Authority
	if authz != nil {
		a = authz()
	}
	u.srv = server.New(svc, server.Options{Auth: a})
	u.unit = &Unit{API: u.srv.Handler(), Tokens: u.tokens, Has: func(ctx context.Context, b string) (bool, error) {
		_, err := svc.GetBasinConfig(ctx, b)
		var se *stream.Error
		if errors.As(err, &se) && se.Code == stream.CodeBasinNotFound {
			return false, nil
		}
		return err == nil, err
	}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = u.srv.Shutdown(ctx)
		_ = svc.Close()
		_ = db.Close()
	})
	return u
}

// testDir is a Directory the test rewires at will.
type testDir struct {
	mu     sync.Mutex
	routes map[int]Route
}

func (d *testDir) Route(u int) (Route, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.routes[u]
	if !ok {
		return Route{}, errors.New("no owner")
	}
	return r, nil
}

func (d *testDir) set(u int, r Route) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.routes[u] = r
}

// testNode is a gateway on a loopback h2c listener.
type testNode struct {
	name string
	url  string
	dir  *testDir
	gw   *Gateway
}

func startNode(t *testing.T, name string, layout partition.Layout, key string) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, url: "http://" + ln.Addr().String(), dir: &testDir{routes: map[int]Route{}}}
	tr := NewTransport()
	n.gw = New(Options{Layout: layout, Directory: n.dir, Node: name, ClusterKey: key, Transport: tr,
		Logger: slog.New(slog.DiscardHandler)})
	hs := server.NewHTTPServer(n.gw, slog.New(slog.DiscardHandler), 0)
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		tr.CloseIdleConnections()
	})
	return n
}

// pair is two nodes of a two-partition layout: a owns the root and
// partition 0, b owns partition 1.
type pair struct {
	layout     partition.Layout
	a, b       *testNode
	units      map[int]*testUnit
	httpClient *http.Client
}

func newPair(t *testing.T, auth bool) *pair {
	t.Helper()
	p := &pair{layout: partition.Layout{Partitions: 2}, units: map[int]*testUnit{}}
	p.a = startNode(t, "a", p.layout, "k")
	p.b = startNode(t, "b", p.layout, "k")
	owner := map[int]*testNode{partition.Root: p.a, 0: p.a, 1: p.b}
	for _, u := range p.layout.Units() {
		var authz func() server.Authority
		if auth {
			authz = func() server.Authority { return owner[u].gw.Authority() }
		}
		p.units[u] = openTestUnit(t, u, authz)
		for _, n := range []*testNode{p.a, p.b} {
			if owner[u] == n {
				n.dir.set(u, Route{Local: p.units[u].unit})
			} else {
				n.dir.set(u, Route{Node: owner[u].name, URL: owner[u].url})
			}
		}
	}
	p.httpClient = &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(p.httpClient.CloseIdleConnections)
	return p
}

// basinHomedAt returns a basin name whose home is partition want.
func basinHomedAt(t *testing.T, l partition.Layout, want int, prefix string) string {
	for i := range 1000 {
		b := fmt.Sprintf("%s-%d", prefix, i)
		if partition.Home(b, l.Partitions) == want {
			return b
		}
	}
	t.Fatal("no basin name found")
	return ""
}

type answer struct {
	status   int
	servedBy string
	body     string
}

func (p *pair) do(t *testing.T, n *testNode, method, path, basin, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testRoot)
	if basin != "" {
		req.Header.Set("S2-Basin", basin)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := p.httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, servedBy: resp.Header.Get(HeaderServedBy), body: string(b)}
}

func TestForwardingCreateAppendReadList(t *testing.T) {
	p := newPair(t, false)
	onB := basinHomedAt(t, p.layout, 1, "basin-on-b")
	onA := basinHomedAt(t, p.layout, 0, "basin-on-a")

	// Created through a, the basin homed on b's partition is created by b.
	if a := p.do(t, p.a, "POST", "/v1/basins", "", `{"basin":"`+onB+`"}`); a.status != 201 || a.servedBy != "b" {
		t.Fatalf("create %s through a: %+v", onB, a)
	}
	if a := p.do(t, p.b, "POST", "/v1/basins", "", `{"basin":"`+onA+`"}`); a.status != 201 || a.servedBy != "a" {
		t.Fatalf("create %s through b: %+v", onA, a)
	}
	if _, err := p.units[1].svc.GetBasinConfig(context.Background(), onB); err != nil {
		t.Fatalf("%s is not in partition 1: %v", onB, err)
	}
	if a := p.do(t, p.a, "POST", "/v1/streams", onB, `{"stream":"s"}`); a.status != 201 || a.servedBy != "b" {
		t.Fatalf("create stream: %+v", a)
	}
	for i := range 3 {
		a := p.do(t, p.a, "POST", "/v1/streams/s/records", onB, fmt.Sprintf(`{"records":[{"body":"r%d"}]}`, i))
		if a.status != 200 || !strings.Contains(a.body, fmt.Sprintf(`"start":{"seq_num":%d`, i)) {
			t.Fatalf("append %d through a: %+v", i, a)
		}
	}
	a := p.do(t, p.a, "GET", "/v1/streams/s/records?seq_num=0", onB, "")
	if a.status != 200 || strings.Count(a.body, `"body"`) != 3 || !strings.Contains(a.body, `"r2"`) {
		t.Fatalf("read through a: %+v", a)
	}
	// Listing through either node sees both partitions, in name order,
	// and pages by name across them.
	for _, n := range []*testNode{p.a, p.b} {
		a := p.do(t, n, "GET", "/v1/basins", "", "")
		var page struct {
			Basins  []struct{ Name string }
			HasMore bool `json:"has_more"`
		}
		if err := json.Unmarshal([]byte(a.body), &page); err != nil || len(page.Basins) != 2 || page.HasMore {
			t.Fatalf("list through %s: %+v", n.name, a)
		}
		if page.Basins[0].Name > page.Basins[1].Name {
			t.Fatalf("list through %s not sorted: %+v", n.name, page)
		}
		a = p.do(t, n, "GET", "/v1/basins?limit=1", "", "")
		if err := json.Unmarshal([]byte(a.body), &page); err != nil || len(page.Basins) != 1 || !page.HasMore {
			t.Fatalf("first page through %s: %+v", n.name, a)
		}
		a = p.do(t, n, "GET", "/v1/basins?limit=1&start_after="+page.Basins[0].Name, "", "")
		if err := json.Unmarshal([]byte(a.body), &page); err != nil || len(page.Basins) != 1 || page.HasMore {
			t.Fatalf("second page through %s: %+v", n.name, a)
		}
	}
}

func TestSessionStreamsThroughForwarding(t *testing.T) {
	p := newPair(t, false)
	onB := basinHomedAt(t, p.layout, 1, "basin-sse")
	p.do(t, p.a, "POST", "/v1/basins", "", `{"basin":"`+onB+`"}`)
	p.do(t, p.a, "POST", "/v1/streams", onB, `{"stream":"s"}`)
	req, _ := http.NewRequest("GET", p.a.url+"/v1/streams/s/records?seq_num=0", nil)
	req.Header.Set("S2-Basin", onB)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := p.httpClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(HeaderServedBy) != "b" {
		t.Fatalf("SSE through a: %d served by %q", resp.StatusCode, resp.Header.Get(HeaderServedBy))
	}
	// A record appended after the session opened arrives through the
	// forwarding node while the session stays open: nothing is buffered
	// until the end.
	p.do(t, p.b, "POST", "/v1/streams/s/records", onB, `{"records":[{"body":"late"}]}`)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "late") {
			return
		}
	}
	t.Fatalf("the record never arrived through the forwarded session: %v", sc.Err())
}

func TestRootBasinsStayInRoot(t *testing.T) {
	p := newPair(t, false)
	// A basin created before the cluster existed lives in the root,
	// whatever its home partition says.
	legacy := basinHomedAt(t, p.layout, 1, "basin-legacy")
	if _, _, err := p.units[partition.Root].svc.CreateBasin(context.Background(), legacy, stream.BasinConfig{}, ""); err != nil {
		t.Fatal(err)
	}
	if a := p.do(t, p.b, "GET", "/v1/basins/"+legacy, "", ""); a.status != 200 || a.servedBy != "a" {
		t.Fatalf("get legacy basin through b: %+v", a)
	}
	// Creating the same name again anywhere is a conflict, not a second
	// basin in its home partition.
	if a := p.do(t, p.b, "POST", "/v1/basins", "", `{"basin":"`+legacy+`"}`); a.status != 409 {
		t.Fatalf("create of a root basin's name: %+v", a)
	}
	if has, _ := p.units[1].unit.Has(context.Background(), legacy); has {
		t.Fatal("a second basin of the same name was created in its home partition")
	}
	// An ensure (PUT) of a new name creates it at home.
	fresh := basinHomedAt(t, p.layout, 1, "basin-fresh")
	if a := p.do(t, p.a, "PUT", "/v1/basins/"+fresh, "", `{}`); a.status/100 != 2 || a.servedBy != "b" {
		t.Fatalf("ensure of a new basin: %+v", a)
	}
}

func TestPeerHeadersNeedTheClusterKey(t *testing.T) {
	p := newPair(t, false)
	onB := basinHomedAt(t, p.layout, 1, "basin-keyed")
	// Without the key, a client's unit header is ignored: the request is
	// routed normally (to b), not served by a's root.
	a := p.do(t, p.a, "POST", "/v1/basins", "", `{"basin":"`+onB+`"}`, HeaderUnit, "-1")
	if a.status != 201 || a.servedBy != "b" {
		t.Fatalf("create with a forged unit header: %+v", a)
	}
	if has, _ := p.units[partition.Root].unit.Has(context.Background(), onB); has {
		t.Fatal("a forged unit header put a basin in the root")
	}
	if a := p.do(t, p.a, "GET", "/internal/v1/units/1/basins/"+onB, "", ""); a.status != 403 {
		t.Fatalf("internal endpoint without the key: %+v", a)
	}
	// With the key, a request for a unit the node does not serve is
	// refused (503), never forwarded a second time.
	a = p.do(t, p.a, "GET", "/v1/basins/"+onB, "", "", HeaderUnit, "1", HeaderClusterKey, "k")
	if a.status != 503 || !strings.Contains(a.body, "unavailable") {
		t.Fatalf("forwarded request for a unit served elsewhere: %+v", a)
	}
}

func TestMovingUnitIsUnavailable(t *testing.T) {
	p := newPair(t, false)
	onB := basinHomedAt(t, p.layout, 1, "basin-moving")
	p.do(t, p.b, "POST", "/v1/basins", "", `{"basin":"`+onB+`"}`)
	// a's directory still says b, but b no longer serves partition 1.
	p.b.dir.set(1, Route{Node: "c", URL: "http://127.0.0.1:1"})
	a := p.do(t, p.a, "GET", "/v1/basins/"+onB, "", "")
	if a.status != 503 || !strings.Contains(a.body, `"unavailable"`) {
		t.Fatalf("request for a unit mid-move: %+v", a)
	}
	// A dead owner is a 503 too, not a hang or a 502.
	p.a.dir.set(1, Route{Node: "c", URL: "http://127.0.0.1:1"})
	p.a.gw.mu.Lock()
	clear(p.a.gw.located)
	p.a.gw.mu.Unlock()
	if a := p.do(t, p.a, "GET", "/v1/basins/"+onB, "", ""); a.status != 503 {
		t.Fatalf("request for a dead owner: %+v", a)
	}
}

func TestTokensAuthenticatedAtTheRootsOwner(t *testing.T) {
	p := newPair(t, true)
	onB := basinHomedAt(t, p.layout, 1, "basin-authed")
	// b serves partition 1 but not the root: it asks a for the token.
	if a := p.do(t, p.b, "POST", "/v1/basins", "", `{"basin":"`+onB+`"}`); a.status != 201 || a.servedBy != "b" {
		t.Fatalf("create with the root token through b: %+v", a)
	}
	a := p.do(t, p.b, "GET", "/v1/basins/"+onB, "", "", "Authorization", "Bearer not-a-token-0123456789")
	if a.status != 401 || !strings.Contains(a.body, "authn") {
		t.Fatalf("bad token through b: %+v", a)
	}
	// A limited token issued at the root's owner works on b within its
	// scope, and nowhere else.
	a = p.do(t, p.b, "POST", "/v1/access-tokens", "", `{"id":"reader","scope":{"basins":{"exact":"`+onB+`"},"op_groups":{"basin":{"read":true}}}}`)
	if a.status != 201 || a.servedBy != "a" {
		t.Fatalf("issue through b: %+v", a)
	}
	var issued struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(a.body), &issued); err != nil || issued.AccessToken == "" {
		t.Fatalf("issue answer: %+v", a)
	}
	bearer := "Bearer " + issued.AccessToken
	if a := p.do(t, p.b, "GET", "/v1/basins/"+onB, "", "", "Authorization", bearer); a.status != 200 {
		t.Fatalf("limited token, in scope, through b: %+v", a)
	}
	if a := p.do(t, p.b, "DELETE", "/v1/basins/"+onB, "", "", "Authorization", bearer); a.status != 403 {
		t.Fatalf("limited token, out of scope, through b: %+v", a)
	}
	// b has the token cached. A revocation at the root's owner is
	// announced (here: directly) and b forgets it at once.
	p.a.gw.Authority().OnRevoke(p.b.gw.Authority().Forget)
	if a := p.do(t, p.b, "DELETE", "/v1/access-tokens/reader", "", ""); a.status/100 != 2 || a.servedBy != "a" {
		t.Fatalf("revoke through b: %+v", a)
	}
	if a := p.do(t, p.b, "GET", "/v1/basins/"+onB, "", "", "Authorization", bearer); a.status != 401 {
		t.Fatalf("revoked token still accepted by b: %+v", a)
	}
}

func TestKnownTokensOutliveAnUnreachableRootOwner(t *testing.T) {
	p := newPair(t, true)
	onB := basinHomedAt(t, p.layout, 1, "basin-stale")
	if a := p.do(t, p.b, "POST", "/v1/basins", "", `{"basin":"`+onB+`"}`); a.status != 201 {
		t.Fatalf("create: %+v", a)
	}
	// The root's owner becomes unreachable from b, and b's cached answer
	// for the root token expires.
	p.b.dir.set(partition.Root, Route{Node: "a", URL: "http://127.0.0.1:1"})
	later := time.Now().Add(time.Minute)
	p.b.gw.now = func() time.Time { return later }
	if a := p.do(t, p.b, "GET", "/v1/basins/"+onB, "", ""); a.status != 200 {
		t.Fatalf("a known token while the root's owner is unreachable: %+v", a)
	}
	// A token b never saw cannot be checked: 503, not 401.
	a := p.do(t, p.b, "GET", "/v1/basins/"+onB, "", "", "Authorization", "Bearer never-seen-token-0123456789")
	if a.status != 503 {
		t.Fatalf("an unknown token while the root's owner is unreachable: %+v", a)
	}
	// Past the stale limit the known token is refused too.
	muchLater := time.Now().Add(principalStaleLimit + time.Minute)
	p.b.gw.now = func() time.Time { return muchLater }
	if a := p.do(t, p.b, "GET", "/v1/basins/"+onB, "", ""); a.status != 503 {
		t.Fatalf("a token known only past the stale limit: %+v", a)
	}
}
