package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Small hand-written SVG charts: line charts (optionally log-scaled) and
// grouped bar charts, a few KiB each.

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f"}

type svgDoc struct {
	b    strings.Builder
	w, h float64
}

func newSVG(w, h float64) *svgDoc {
	d := &svgDoc{w: w, h: h}
	fmt.Fprintf(&d.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&d.b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	return d
}

func (d *svgDoc) text(x, y float64, anchor, s string, extra ...string) {
	fmt.Fprintf(&d.b, `<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`+"\n", x, y, anchor, strings.Join(extra, " "), html.EscapeString(s))
}

func (d *svgDoc) line(x1, y1, x2, y2 float64, style string) {
	fmt.Fprintf(&d.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`+"\n", x1, y1, x2, y2, style)
}

func (d *svgDoc) save(path string) error {
	d.b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(d.b.String()), 0o644)
}

// scale maps data values to pixels, linearly or logarithmically.
type scale struct {
	lo, hi float64 // data
	p0, p1 float64 // pixels
	log    bool
}

func (s scale) at(v float64) float64 {
	if s.log {
		v, lo, hi := math.Log10(math.Max(v, 1e-9)), math.Log10(s.lo), math.Log10(s.hi)
		return s.p0 + (v-lo)/(hi-lo)*(s.p1-s.p0)
	}
	return s.p0 + (v-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

func (s scale) ticks() []float64 {
	var out []float64
	if s.log {
		for e := math.Floor(math.Log10(s.lo)); e <= math.Ceil(math.Log10(s.hi)); e++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, e)
				if v >= s.lo*0.999 && v <= s.hi*1.001 {
					out = append(out, v)
				}
			}
		}
		return out
	}
	step := niceStep((s.hi - s.lo) / 5)
	for v := math.Ceil(s.lo/step) * step; v <= s.hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%gk", v/1000)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	}
	return fmt.Sprintf("%g", v)
}

// logRange widens [lo, hi] to whole decades-ish for a log axis.
func logRange(lo, hi float64) (float64, float64) {
	if lo <= 0 {
		lo = hi / 100
	}
	if hi <= lo {
		hi = lo * 10
	}
	return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
}

type lineSeries struct {
	name   string
	xs, ys []float64
	dash   bool
	color  int // index into palette
}

// lineChart draws a panel at (x0, y0) of size w x h.
func (d *svgDoc) lineChart(x0, y0, w, h float64, title, xlabel, ylabel string, logX, logY bool, ss []lineSeries) {
	left, right, top, bottom := x0+50, x0+w-10, y0+24, y0+h-40
	var xlo, xhi, ylo, yhi = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for i := range s.xs {
			if logY && s.ys[i] <= 0 {
				continue
			}
			xlo, xhi = math.Min(xlo, s.xs[i]), math.Max(xhi, s.xs[i])
			ylo, yhi = math.Min(ylo, s.ys[i]), math.Max(yhi, s.ys[i])
		}
	}
	if math.IsInf(xlo, 0) {
		d.text(x0+w/2, y0+h/2, "middle", title+": no data")
		return
	}
	if logX {
		xlo, xhi = logRange(xlo, xhi)
	} else if xlo == xhi {
		xlo, xhi = xlo-1, xhi+1
	}
	if logY {
		ylo, yhi = logRange(ylo, yhi)
	} else {
		ylo, yhi = 0, yhi*1.1
	}
	sx := scale{lo: xlo, hi: xhi, p0: left, p1: right, log: logX}
	sy := scale{lo: ylo, hi: yhi, p0: bottom, p1: top, log: logY}
	d.text(x0+w/2, y0+14, "middle", title, `font-weight="bold"`)
	for _, t := range sy.ticks() {
		y := sy.at(t)
		d.line(left, y, right, y, `stroke="#e5e5e5"`)
		d.text(left-4, y+4, "end", fmtTick(t))
	}
	for _, t := range sx.ticks() {
		x := sx.at(t)
		d.line(x, top, x, bottom, `stroke="#f0f0f0"`)
		d.text(x, bottom+14, "middle", fmtTick(t))
	}
	d.line(left, bottom, right, bottom, `stroke="black"`)
	d.line(left, top, left, bottom, `stroke="black"`)
	d.text((left+right)/2, bottom+30, "middle", xlabel)
	d.text(x0+12, (top+bottom)/2, "middle", ylabel, fmt.Sprintf(`transform="rotate(-90 %.1f %.1f)"`, x0+12, (top+bottom)/2))
	for i, s := range ss {
		color := palette[s.color%len(palette)]
		var pts []string
		for j := range s.xs {
			if logY && s.ys[j] <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx.at(s.xs[j]), sy.at(s.ys[j])))
		}
		dash := ""
		if s.dash {
			dash = ` stroke-dasharray="5,3"`
		}
		fmt.Fprintf(&d.b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&d.b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", xy[0], xy[1], color)
		}
		ly := top + 4 + float64(i)*14
		d.line(left+8, ly, left+26, ly, fmt.Sprintf(`stroke="%s" stroke-width="2"%s`, color, dash))
		d.text(left+30, ly+4, "start", s.name)
	}
}

type barSeries struct {
	name string
	vals []float64
}

// barChart draws grouped bars with value labels.
func (d *svgDoc) barChart(x0, y0, w, h float64, title, ylabel string, groups []string, ss []barSeries) {
	left, right, top, bottom := x0+50, x0+w-10, y0+24+float64(len(ss))*14, y0+h-46
	yhi := 0.0
	for _, s := range ss {
		for _, v := range s.vals {
			yhi = math.Max(yhi, v)
		}
	}
	if yhi == 0 {
		yhi = 1
	}
	sy := scale{lo: 0, hi: yhi * 1.12, p0: bottom, p1: top}
	d.text(x0+w/2, y0+14, "middle", title, `font-weight="bold"`)
	for _, t := range sy.ticks() {
		y := sy.at(t)
		d.line(left, y, right, y, `stroke="#e5e5e5"`)
		d.text(left-4, y+4, "end", fmtTick(t))
	}
	d.line(left, bottom, right, bottom, `stroke="black"`)
	d.line(left, top, left, bottom, `stroke="black"`)
	d.text(x0+12, (top+bottom)/2, "middle", ylabel, fmt.Sprintf(`transform="rotate(-90 %.1f %.1f)"`, x0+12, (top+bottom)/2))
	gw := (right - left) / float64(len(groups))
	bw := gw * 0.8 / float64(len(ss))
	for g, name := range groups {
		gx := left + float64(g)*gw + gw*0.1
		for i, s := range ss {
			if g >= len(s.vals) {
				continue
			}
			v := s.vals[g]
			x := gx + float64(i)*bw
			y := sy.at(v)
			fmt.Fprintf(&d.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, bw-1, bottom-y, palette[i%len(palette)])
			d.text(x+bw/2, y-2, "middle", fmtTick(v), `font-size="9"`)
		}
		lines := strings.Split(name, "\n")
		for k, l := range lines {
			d.text(left+float64(g)*gw+gw/2, bottom+14+float64(k)*12, "middle", l)
		}
	}
	for i, s := range ss {
		ly := y0 + 26 + float64(i)*14
		fmt.Fprintf(&d.b, `<rect x="%.1f" y="%.1f" width="12" height="10" fill="%s"/>`+"\n", left+8, ly-8, palette[i%len(palette)])
		d.text(left+24, ly+1, "start", s.name)
	}
}

func writeServerPlots(dir string, r *ServerReport) error {
	if len(r.Latency) > 0 {
		d := newSVG(1080, 360)
		for i, size := range []int{100, 1024, 65536} {
			var ss []lineSeries
			for pi, path := range []string{"unary", "session"} {
				var xs, p50, p99, raw []float64
				for _, l := range r.Latency {
					if l.Path == path && l.RecordBytes == size && l.BatchRecords == 1 && l.Ack.N > 0 {
						xs = append(xs, l.Rate)
						p50 = append(p50, l.Ack.P50)
						p99 = append(p99, l.Ack.P99)
						raw = append(raw, l.RawPut.P50)
					}
				}
				ss = append(ss, lineSeries{name: path + " p50", xs: xs, ys: p50, color: pi}, lineSeries{name: path + " p99", xs: xs, ys: p99, dash: true, color: pi})
				if path == "session" {
					ss = append(ss, lineSeries{name: "raw PUT p50 (same size, paced)", xs: xs, ys: raw, color: 6})
				}
			}
			d.lineChart(float64(i)*360, 0, 360, 360, fmt.Sprintf("ack latency, %s records, batch 1", sizeName(size)), "rate (appends/s, log)", "ms (log)", true, true, ss)
		}
		if err := d.save(filepath.Join(dir, "latency-by-rate.svg")); err != nil {
			return err
		}
	}
	if len(r.Throughput) > 0 {
		d := newSVG(1000, 380)
		var groups []string
		var s2, r1, r4 []float64
		for _, t := range r.Throughput {
			if t.Streams == 1 && t.Path == "session" {
				groups = append(groups, fmt.Sprintf("%s x %d", sizeName(t.RecordBytes), t.BatchRecords))
				s2 = append(s2, t.MiBPerSec)
				r1 = append(r1, t.RawPut1MiBSec)
				r4 = append(r4, t.RawPut4MiBSec)
			}
		}
		d.barChart(0, 0, 560, 380, "one stream, pipelined S2S session", "MiB/s", groups,
			[]barSeries{{"s2lite (record bodies)", s2}, {"raw PUT, 1 client, same object size", r1}, {"raw PUT, 4 clients", r4}})
		groups, s2, r1 = nil, nil, nil
		for _, t := range r.Throughput {
			if t.RecordBytes == 1024 && t.BatchRecords == 100 {
				path := "unary h2c"
				if t.Path == "session" {
					path = "sessions"
				}
				groups = append(groups, streamsLabel(t.Streams)+"\n"+path)
				s2 = append(s2, t.MiBPerSec)
				r1 = append(r1, t.RawPut4MiBSec)
			}
		}
		d.barChart(560, 0, 440, 380, "1 KiB x 100 by number of streams", "MiB/s", groups,
			[]barSeries{{"s2lite", s2}, {"raw PUT, 4 clients", r1}})
		if err := d.save(filepath.Join(dir, "throughput-by-record-size.svg")); err != nil {
			return err
		}
	}
	if len(r.Throughput) > 0 {
		d := newSVG(1000, 640)
		var groups []string
		var puts, gets, bytes []float64
		for _, t := range r.Throughput {
			label := fmt.Sprintf("%s x %d\n%s %s", sizeName(t.RecordBytes), t.BatchRecords, streamsLabel(t.Streams), strings.TrimPrefix(t.Path, "unary-"))
			groups = append(groups, label)
			puts = append(puts, t.RequestsPerMiB["PUT"])
			gets = append(gets, t.RequestsPerMiB["GET"])
			bytes = append(bytes, t.PutBytesPerMiB)
		}
		d.barChart(0, 0, 1000, 340, "object-store requests per MiB appended (measured windows of the throughput runs)", "requests / MiB", groups,
			[]barSeries{{"PUT", puts}, {"GET", gets}})
		d.barChart(0, 340, 1000, 300, "bytes PUT per user byte (WAL + tables + manifests, same windows)", "bytes / byte", groups,
			[]barSeries{{"bytes PUT per user byte", bytes}})
		if err := d.save(filepath.Join(dir, "request-cost.svg")); err != nil {
			return err
		}
	}
	return nil
}

func streamsLabel(n int) string {
	switch {
	case n == 1:
		return "1 stream"
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk streams", n/1000)
	}
	return fmt.Sprintf("%d streams", n)
}
