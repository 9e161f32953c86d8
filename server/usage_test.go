package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

type metricSet struct {
	Values []struct {
		Label *struct {
			Name   string   `json:"name"`
			Values []string `json:"values"`
		} `json:"label"`
		Accumulation *struct {
			Name, Unit, Interval string
			Values               [][2]float64
		} `json:"accumulation"`
		Gauge *struct {
			Name, Unit string
			Values     [][2]float64
		} `json:"gauge"`
	} `json:"values"`
}

func TestMetricsAPI(t *testing.T) {
	clk := &testClock{t: time.Now()}
	e := newEnv(t, envOptions{usage: true, usageNow: clk.now})
	e.call("POST", "/v1/basins", map[string]any{"basin": "usage-basin"}).expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams", map[string]any{"stream": "s", "config": map[string]any{"storage_class": "standard"}}, "s2-basin", "usage-basin").expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "hello"}, map[string]any{"body": "world!"}}}, "s2-basin", "usage-basin").expect(t, http.StatusOK)
	e.call("GET", "/v1/streams/s/records?seq_num=0", nil, "s2-basin", "usage-basin").expect(t, http.StatusOK)
	now := clk.now().Unix()
	rng := fmt.Sprintf("&start=%d&end=%d", now-3600, now)
	get := func(path string) metricSet {
		t.Helper()
		var out metricSet
		e.call("GET", path, nil).expect(t, http.StatusOK).decode(t, &out)
		return out
	}

	ab := get("/v1/metrics?set=active-basins" + rng)
	if len(ab.Values) != 1 || ab.Values[0].Label == nil || ab.Values[0].Label.Name != "active_basins" || fmt.Sprint(ab.Values[0].Label.Values) != "[usage-basin]" {
		t.Fatalf("active-basins: %+v", ab)
	}
	for _, iv := range []string{"", "&interval=minute", "&interval=hour", "&interval=day"} {
		ops := get("/v1/metrics?set=account-ops" + rng + iv)
		found := false
		for _, v := range ops.Values {
			if v.Accumulation == nil || v.Accumulation.Unit != "operations" {
				t.Fatalf("account-ops%s: %+v", iv, ops)
			}
			found = found || v.Accumulation.Name == "create-basin"
		}
		if !found {
			t.Fatalf("account-ops%s: no create-basin: %+v", iv, ops)
		}
	}
	// Record sizes: 8 + 5 and 8 + 6 metered bytes.
	const stored = 27
	st := get("/v1/metrics/usage-basin?set=storage" + rng)
	if g := st.Values[0].Gauge; g == nil || g.Unit != "bytes" || len(g.Values) == 0 || g.Values[len(g.Values)-1][1] != stored {
		t.Fatalf("basin storage: %+v", st)
	}
	st = get("/v1/metrics/usage-basin?set=storage&interval=hour" + rng)
	if g := st.Values[0].Gauge; g == nil || int64(g.Values[0][0])%3600 != 0 {
		t.Fatalf("basin storage per hour: %+v", st)
	}
	ap := get("/v1/metrics/usage-basin?set=append-ops" + rng)
	if len(ap.Values) != 2 || ap.Values[0].Accumulation.Name != "standard" || len(ap.Values[0].Accumulation.Values) != 1 || ap.Values[0].Accumulation.Values[0][1] != 1 || ap.Values[0].Accumulation.Interval != "minute" {
		t.Fatalf("append-ops: %+v", ap)
	}
	at := get("/v1/metrics/usage-basin?set=append-throughput&interval=day" + rng)
	if at.Values[0].Accumulation.Values[0][1] != stored || at.Values[0].Accumulation.Unit != "bytes" {
		t.Fatalf("append-throughput: %+v", at)
	}
	ro := get("/v1/metrics/usage-basin?set=read-ops" + rng)
	if len(ro.Values) != 2 || ro.Values[0].Accumulation.Name != "unary" || ro.Values[0].Accumulation.Values[0][1] != 1 {
		t.Fatalf("read-ops: %+v", ro)
	}
	rt := get("/v1/metrics/usage-basin?set=read-throughput" + rng)
	if rt.Values[0].Accumulation.Values[0][1] != stored {
		t.Fatalf("read-throughput: %+v", rt)
	}
	bo := get("/v1/metrics/usage-basin?set=basin-ops" + rng)
	if len(bo.Values) == 0 {
		t.Fatalf("basin-ops: %+v", bo)
	}
	ss := get("/v1/metrics/usage-basin/s?set=storage&interval=minute" + rng)
	if g := ss.Values[0].Gauge; g == nil || g.Values[len(g.Values)-1][1] != stored {
		t.Fatalf("stream storage: %+v", ss)
	}
	// A far-past range is empty, not an error.
	if got := get("/v1/metrics/usage-basin/s?set=storage&start=0&end=3600"); len(got.Values[0].Gauge.Values) != 0 {
		t.Fatalf("far past: %+v", got)
	}
	// Deleting the stream drops its storage to zero.
	e.call("DELETE", "/v1/streams/s", nil, "s2-basin", "usage-basin").expect(t, http.StatusAccepted)
	ss = get("/v1/metrics/usage-basin/s?set=storage" + rng)
	if g := ss.Values[0].Gauge; g.Values[len(g.Values)-1][1] != 0 {
		t.Fatalf("stream storage after delete: %+v", ss)
	}

	// Validation.
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/metrics?start=1&end=2", 400, "bad_query"},
		{"/v1/metrics?set=active-basins", 422, "invalid"},
		{fmt.Sprintf("/v1/metrics?set=active-basins&end=%d", now), 422, "invalid"},
		{fmt.Sprintf("/v1/metrics?set=active-basins&start=%d", now), 422, "invalid"},
		{fmt.Sprintf("/v1/metrics?set=active-basins&start=%d&end=%d", now, now-3600), 422, "invalid"},
		{fmt.Sprintf("/v1/metrics?set=active-basins&start=%d&end=%d", now-3600, now+600), 422, "invalid"},
		{fmt.Sprintf("/v1/metrics?set=active-basins&start=%d&end=%d", now-40*86400, now), 422, "invalid"},
		{"/v1/metrics/usage-basin?set=storage&interval=minute" + rng, 422, "invalid"},
		{"/v1/metrics/usage-basin?set=storage&interval=day" + rng, 422, "invalid"},
		{"/v1/metrics/usage-basin/s?set=storage&interval=hour" + rng, 422, "invalid"},
		{"/v1/metrics/usage-basin/s?set=storage&interval=day" + rng, 422, "invalid"},
		{"/v1/metrics/no-such-basin?set=storage" + rng, 404, "basin_not_found"},
		{"/v1/metrics/no-such-basin/s?set=storage" + rng, 404, "basin_not_found"},
	} {
		e.call("GET", c.path, nil).expectError(t, c.status, c.code)
	}
	// Edges that are allowed: exactly 30 days, end 60 s ahead.
	e.call("GET", fmt.Sprintf("/v1/metrics?set=active-basins&start=%d&end=%d", now-30*86400, now), nil).expect(t, http.StatusOK)
	e.call("GET", fmt.Sprintf("/v1/metrics?set=active-basins&start=%d&end=%d", now-60, now+60), nil).expect(t, http.StatusOK)
}

func TestMetricsAuthScope(t *testing.T) {
	e := newEnv(t, envOptions{auth: true, usage: true})
	for _, b := range []string{"tenant-a-basin", "tenant-b-basin"} {
		e.call("POST", "/v1/basins", map[string]any{"basin": b}).expect(t, http.StatusCreated)
		e.call("GET", "/v1/streams", nil, "s2-basin", b).expect(t, http.StatusOK) // activity
	}
	now := time.Now().Unix()
	rng := fmt.Sprintf("&start=%d&end=%d", now-3600, now)
	secret := e.issue(t, `{"id":"metrics-a","scope":{"basins":{"prefix":"tenant-a"},"streams":{"prefix":""},"ops":["account-metrics","basin-metrics","stream-metrics"]}}`)
	var out metricSet
	e.call("GET", "/v1/metrics?set=active-basins"+rng, nil, bearer(secret)...).expect(t, http.StatusOK).decode(t, &out)
	if fmt.Sprint(out.Values[0].Label.Values) != "[tenant-a-basin]" {
		t.Fatalf("active-basins through a scoped token: %+v", out)
	}
	e.call("GET", "/v1/metrics/tenant-a-basin?set=basin-ops"+rng, nil, bearer(secret)...).expect(t, http.StatusOK)
	e.call("GET", "/v1/metrics/tenant-b-basin?set=basin-ops"+rng, nil, bearer(secret)...).expectError(t, http.StatusForbidden, "permission_denied")
	e.call("GET", "/v1/metrics/tenant-b-basin/s?set=storage"+rng, nil, bearer(secret)...).expectError(t, http.StatusForbidden, "permission_denied")
	noOps := e.issue(t, `{"id":"no-metrics","scope":{"basins":{"prefix":""},"ops":["list-basins"]}}`)
	e.call("GET", "/v1/metrics?set=account-ops"+rng, nil, bearer(noOps)...).expectError(t, http.StatusForbidden, "permission_denied")
}

// TestStorageMetricSets: the object-store cost sets (s2lite extensions)
// through the API, attributed 3:1 to two basins that appended 3:1, and
// the per-basin Prometheus counters with perBasin.
func TestStorageMetricSets(t *testing.T) {
	e := newEnv(t, envOptions{usage: true, perBasin: true})
	ctx := t.Context()
	basins := []string{"cost-basin-a", "cost-basin-b"}
	for _, b := range basins {
		e.call("POST", "/v1/basins", map[string]any{"basin": b}).expect(t, http.StatusCreated)
		e.call("POST", "/v1/streams", map[string]any{"stream": "s"}, "s2-basin", b).expect(t, http.StatusCreated)
	}
	// Everything so far (creations, no appends) is unattributed.
	if err := e.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Metered sizes 300 and 100 (8 bytes of overhead per record).
	for i, b := range basins {
		body := strings.Repeat("x", []int{292, 92}[i])
		e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": body}}}, "s2-basin", b).expect(t, http.StatusOK)
	}
	if err := e.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	rng := fmt.Sprintf("&start=%d&end=%d", now-3600, now+30)
	get := func(path string) metricSet {
		t.Helper()
		var out metricSet
		e.call("GET", path, nil).expect(t, http.StatusOK).decode(t, &out)
		return out
	}
	sumOf := func(ms metricSet, class string) (n float64) {
		for _, v := range ms.Values {
			if v.Accumulation.Name == class {
				for _, p := range v.Accumulation.Values {
					n += p[1]
				}
			}
		}
		return n
	}
	for _, set := range []string{"storage-puts", "storage-gets", "storage-bytes-written", "storage-bytes-read"} {
		unit := "bytes"
		if set == "storage-puts" || set == "storage-gets" {
			unit = "operations"
		}
		for _, path := range []string{"/v1/metrics/cost-basin-a?set=" + set + rng, "/v1/metrics?set=" + set + rng, "/v1/metrics/cost-basin-a?set=" + set + "&interval=hour" + rng} {
			ms := get(path)
			if len(ms.Values) != 3 {
				t.Fatalf("%s: %d series: %+v", path, len(ms.Values), ms)
			}
			for i, class := range []string{"wal", "table", "other"} {
				if a := ms.Values[i].Accumulation; a == nil || a.Name != class || a.Unit != unit {
					t.Fatalf("%s: series %d: %+v", path, i, ms.Values[i])
				}
			}
		}
	}
	// The appends' WAL PUTs and bytes split 3:1 (largest remainder: each
	// share within one unit of exact).
	for _, set := range []string{"storage-puts", "storage-bytes-written"} {
		a := sumOf(get("/v1/metrics/cost-basin-a?set="+set+rng), "wal")
		b := sumOf(get("/v1/metrics/cost-basin-b?set="+set+rng), "wal")
		if a == 0 || a+b == 0 || a < 3*b-3 || a > 3*b+3 {
			t.Fatalf("%s wal: basin a %v, basin b %v: not 3:1", set, a, b)
		}
	}
	if u := sumOf(get("/v1/metrics?set=storage-puts"+rng), "wal"); u == 0 {
		t.Fatalf("no unattributed WAL PUTs for the basin creations")
	}
	// An unknown set is still 400; the cloud's sets still answer.
	e.call("GET", "/v1/metrics/cost-basin-a?set=storage-deletes"+rng, nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics?set=storage-deletes"+rng, nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics/cost-basin-a/s?set=storage-puts"+rng, nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics/cost-basin-a?set=append-throughput"+rng, nil).expect(t, http.StatusOK)

	prom := string(e.call("GET", "/metrics", nil).expect(t, http.StatusOK).body)
	for _, want := range []string{
		`s2lite_basin_storage_requests_total{basin="cost-basin-a",op="put"}`,
		`s2lite_basin_storage_requests_total{basin="cost-basin-b",op="get"}`,
		`s2lite_basin_storage_bytes_total{basin="cost-basin-a",direction="written"}`,
		`s2lite_basin_storage_bytes_total{basin="cost-basin-b",direction="read"}`,
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestPerBasinPrometheusOff: without perBasin, /metrics has no series
// labelled by basin, though the API's storage sets are there.
func TestPerBasinPrometheusOff(t *testing.T) {
	e := newEnv(t, envOptions{usage: true})
	e.call("POST", "/v1/basins", map[string]any{"basin": "cost-basin-c"}).expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams", map[string]any{"stream": "s"}, "s2-basin", "cost-basin-c").expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams/s/records", map[string]any{"records": []any{map[string]any{"body": "x"}}}, "s2-basin", "cost-basin-c").expect(t, http.StatusOK)
	if err := e.usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	var ms metricSet
	e.call("GET", fmt.Sprintf("/v1/metrics/cost-basin-c?set=storage-puts&start=%d&end=%d", now-3600, now+30), nil).expect(t, http.StatusOK).decode(t, &ms)
	if len(ms.Values) != 3 || len(ms.Values[0].Accumulation.Values) == 0 {
		t.Fatalf("storage-puts: %+v", ms)
	}
	if prom := string(e.call("GET", "/metrics", nil).expect(t, http.StatusOK).body); strings.Contains(prom, "s2lite_basin_storage") || strings.Contains(prom, "cost-basin-c") {
		t.Fatalf("/metrics has per-basin series without the flag")
	}
}
